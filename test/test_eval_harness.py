"""The harness on fake runs made from the ground truth with known perturbations."""
import math

import numpy as np
import pytest

from eval_fakes import record_from_truth
from onlinehmr_ros.core.common.geometry import look_at_T_world_cam, make_transform, rotmat_from_axis_angle
from onlinehmr_ros.eval.synthetic.sequence import PersonTrack, SyntheticSequence
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.eval.evaluation import evaluate_record
from onlinehmr_ros.eval.runs import RunRecord, RunRecordError

N, FPS = 120, 30.0
# a standing body, COCO-17 in a body frame (x right, y forward, z up), metres
COCO_BODY = np.array([
    [0, .08, 1.62], [-.03, .07, 1.66], [.03, .07, 1.66], [-.07, 0, 1.64], [.07, 0, 1.64], [-.19, 0, 1.42],
    [.19, 0, 1.42], [-.24, 0, 1.12], [.24, 0, 1.12], [-.26, .05, .85], [.26, .05, .85], [-.1, 0, .92],
    [.1, 0, .92], [-.1, .02, .5], [.1, .02, .5], [-.1, 0, .08], [.1, 0, .08]])


def _person(rng, x0, y, vx):
    t = np.arange(N) / FPS
    root = np.stack([x0 + vx * t, np.full(N, y), 0.03 * np.sin(2 * np.pi * 1.7 * t)], axis=1)
    wobble = 0.04 * np.sin(2 * np.pi * 1.1 * t + rng.uniform(0, 6))[:, None, None] * np.array([1.0, 0.5, 0.0])
    coco = COCO_BODY[None] + root[:, None] + wobble * (COCO_BODY[None, :, 2:] / 1.6)
    joints = np.concatenate([coco, coco[:, :7] + np.array([0, 0.05, -0.1])], axis=1)       # 24 "joints"
    return PersonTrack(
        betas=np.zeros(10, np.float32), global_orient_world=np.zeros((N, 3), np.float32),
        body_pose=np.zeros((N, 69), np.float32), transl_world=root.astype(np.float32),
        joints_world=joints.astype(np.float32), keypoints_coco_world=coco.astype(np.float32),
        joints_visible=np.ones((N, 24), bool), keypoints_coco_visible=np.ones((N, 17), bool),
        mask_area_px=np.full(N, 5000), action=np.zeros(N, np.int8))


@pytest.fixture(scope='module')
def seq():
    rng = np.random.default_rng(0)
    eye = np.stack([np.linspace(-1.0, 1.0, N), np.full(N, -4.0), np.full(N, 1.4)], axis=1)
    T = look_at_T_world_cam(eye, np.tile([0.0, 0.0, 1.0], (N, 1)))
    people = (_person(rng, -1.5, -0.3, 0.3), _person(rng, 1.2, 0.6, 0.2))     # apart: no crossing in 2D
    return SyntheticSequence(name='fake', seed=0, fps=FPS, intrinsics=CameraIntrinsics.from_fov(640, 480, 65.0),
                             T_world_cam=T, people=people, masks=np.zeros((1, 1, 1), np.uint8),
                             camera_kind='handheld', body_model='open')


def test_exact_run_has_zero_errors_and_perfect_tracking(seq, tmp_path):
    yaw = make_transform(rotmat_from_axis_angle(np.array([0, 0, 0.6])), np.array([2.0, -1.0, 0.0]))
    rec = record_from_truth(seq, world_from_est=yaw)
    rec = RunRecord.load(rec.save(tmp_path / 'r.npz'))                         # through the file format
    r = evaluate_record(seq, rec)
    cam = r['camera']
    assert cam['orientation_jump_max_deg'] < 1e-4 and cam['gravity_error_max_deg'] < 1e-4
    assert cam['ate_m'] < 1e-4 and cam['ate_s_m'] < 1e-4 and abs(cam['sim3_scale'] - 1) < 1e-6
    assert r['tracking']['idf1'] == 1.0 and r['tracking']['coverage'] == 100.0
    for kind in ('own', 'gt_camera', 'baseline'):
        row = r['rows'][kind]
        assert row['pa_mpjpe'] < 0.1 and row['mpjpe'] < 0.1, kind
        assert row['w_mpjpe100'] < 0.1 and row['wa_mpjpe100'] < 0.1 and row['rte'] < 0.01, kind
        assert abs(row['depth_ratio'] - 1) < 1e-4 and abs(row['lag_frames']) < 0.05, kind
        assert abs(row['jitter'] - row['jitter_gt']) < 1e-3 * row['jitter_gt'], kind
        assert row['coverage'] == 100.0
    assert r['fps'] == pytest.approx(20.0)


def test_wrong_scale_depth_delay_and_swap(seq):
    r = evaluate_record(seq, record_from_truth(seq, reported_scale=1.0))
    assert abs(r['camera']['sim3_scale'] - 2.0) < 1e-6 and r['camera']['ate_s_m'] > 0.1
    # people 20 % too close: depth ratio 0.8, no error after Procrustes, MPJPE = 0.2 x joint-to-pelvis distance
    r = evaluate_record(seq, record_from_truth(seq, depth_scale=0.8))
    own = r['rows']['own']
    assert abs(own['depth_ratio'] - 0.8) < 1e-6 and own['pa_mpjpe'] < 0.1
    d = np.linalg.norm(COCO_BODY - COCO_BODY[11:13].mean(0), axis=1).mean() * 1000
    assert abs(own['mpjpe'] - 0.2 * d) < 0.05 * d
    # the baseline sees the same landmarks; its own root estimate puts them 20 % too close as well
    assert abs(r['rows']['baseline']['depth_ratio'] - 0.8) < 1e-3
    # outputs 3 frames late
    r = evaluate_record(seq, record_from_truth(seq, delay=3))
    assert abs(r['rows']['own']['lag_frames'] - 3.0) < 0.3
    # track ids swapped after half the sequence: IDF1 0.5, 2 switches, human metrics unaffected
    r = evaluate_record(seq, record_from_truth(seq, swap_at=N // 2))
    assert r['tracking']['idf1'] == pytest.approx(0.5) and r['tracking']['id_switches'] == 2
    assert r['rows']['own']['pa_mpjpe'] < 0.1 and r['rows']['own']['coverage'] == 100.0


def test_gt_camera_row_separates_a_drifting_camera(seq):
    r = evaluate_record(seq, record_from_truth(seq, drift_deg_per_frame=0.3))           # 36 degrees of yaw drift
    assert r['camera']['orientation_error_mean_deg'] > 5
    assert r['rows']['own']['w_mpjpe100'] > 50 * max(r['rows']['gt_camera']['w_mpjpe100'], 1.0)
    assert r['rows']['gt_camera']['w_mpjpe100'] < 0.1


def test_confidence_calibration(seq):
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.1, 1.0, size=(2, N, 24))
    direction = rng.normal(size=(2, N, 24, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    noise = direction * (0.1 * (1.0 - conf))[..., None]        # error grows as confidence falls
    noise[..., 1:3, :] = 0.0                                    # the hips stay (pelvis alignment)
    r = evaluate_record(seq, record_from_truth(seq, joint_noise=(conf, noise)))
    own = r['rows']['own']
    assert own['conf_spearman'] < -0.8
    assert own['conf_err_most_confident_third'] < 0.5 * own['conf_err_least_confident_third']
    assert math.isnan(r['rows']['baseline']['conf_spearman'])  # no per-joint confidence in the baseline


def test_record_must_fit_the_sequence(seq):
    rec = record_from_truth(seq)
    with pytest.raises(RunRecordError):
        evaluate_record(seq, RunRecord(**{**rec.__dict__, 'sequence': 'other'}))


def test_outputs_far_from_everybody_are_false_positives(seq):
    rec = record_from_truth(seq)
    far = RunRecord(**{**rec.__dict__, 'coco_cam': rec.coco_cam + [10.0, 0.0, 0.0]})   # 10 m to the side
    r = evaluate_record(seq, far)
    assert r['tracking']['coverage'] == 0.0 and r['tracking']['false_positives'] > 0
    assert math.isnan(r['rows']['own']['pa_mpjpe']) and r['rows']['own']['coverage'] == 0.0
