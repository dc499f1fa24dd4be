"""The harness on fake runs made from the ground truth with known perturbations."""
import math

import numpy as np
import pytest

from onlinehmr_ros.core.common.geometry import (invert_transform, look_at_T_world_cam, make_transform, project_points,
                                         quat_wxyz_from_rotmat, rotmat_from_axis_angle, transform_points)
from onlinehmr_ros.eval.synthetic.sequence import PersonTrack, SyntheticSequence
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.eval.harness import COCO_FROM_MEDIAPIPE, evaluate_record
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


def _record(seq, world_from_est=np.eye(4), slam_scale=2.0, reported_scale=2.0, depth_scale=1.0, delay=0,
            swap_at=None, joint_noise=None, drift_deg_per_frame=0.0):
    """A run whose people are the ground truth (camera frame) perturbed as asked; camera exact up to
    ``world_from_est`` (estimate world -> true world), in SLAM units of 1/slam_scale m."""
    T_est = invert_transform(world_from_est)[None] @ seq.T_world_cam
    if drift_deg_per_frame:
        drift = rotmat_from_axis_angle(np.outer(np.arange(N) * np.radians(drift_deg_per_frame), [0, 0, 1.0]))
        T_est = make_transform(drift, np.zeros(3)) @ T_est
    T_cw = invert_transform(seq.T_world_cam)
    K = seq.intrinsics.K
    fields = {k: [] for k in ('frame', 'track', 'jc', 'jw', 'cc', 'cw', 'conf', 'df', 'px', 'vis', 'l3')}
    for i in range(N):
        src = max(0, i - delay)
        for b, p in enumerate(seq.people):
            cc = transform_points(T_cw[src], p.keypoints_coco_world[src].astype(float)) * depth_scale
            jc = transform_points(T_cw[src], p.joints_world[src].astype(float)) * depth_scale
            conf = np.ones(24)
            if joint_noise is not None:
                conf = joint_noise[0][b, i]
                jc = jc + joint_noise[1][b, i]
            tid = 10 + b if swap_at is None or i < swap_at else 11 - b
            fields['frame'].append(i)
            fields['track'].append(tid)
            fields['cc'].append(cc)
            fields['jc'].append(jc)
            fields['cw'].append(transform_points(T_est[i], cc))
            fields['jw'].append(transform_points(T_est[i], jc))
            fields['conf'].append(conf)
            # mediapipe: hip-centred metric landmarks (camera-aligned) and their pixels
            lm3 = np.repeat(cc[11:13].mean(0, keepdims=True), 33, axis=0)
            lm3[list(COCO_FROM_MEDIAPIPE)] = cc
            vis = np.zeros(33)
            vis[list(COCO_FROM_MEDIAPIPE)] = 1.0
            fields['df'].append(i)
            fields['px'].append(project_points(K, lm3)[0])
            fields['vis'].append(vis)
            fields['l3'].append(lm3 - cc[11:13].mean(0))
    a = {k: np.asarray(v) for k, v in fields.items()}
    return RunRecord(sequence=seq.name, quat_wxyz=quat_wxyz_from_rotmat(T_est[:, :3, :3]),
                     t_world_cam=T_est[:, :3, 3] / slam_scale, scale=np.full(N, reported_scale),
                     tracking=np.ones(N, bool), ms_total=np.full(N, 50.0), out_frame=a['frame'], out_track=a['track'],
                     joints_cam=a['jc'], joints_world=a['jw'], coco_cam=a['cc'], coco_world=a['cw'],
                     joint_confidence=a['conf'], det_frame=a['df'], det_landmarks_px=a['px'],
                     det_visibility=a['vis'], det_landmarks_3d_m=a['l3'])


def test_exact_run_has_zero_errors_and_perfect_tracking(seq, tmp_path):
    yaw = make_transform(rotmat_from_axis_angle(np.array([0, 0, 0.6])), np.array([2.0, -1.0, 0.0]))
    rec = _record(seq, world_from_est=yaw)
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
    r = evaluate_record(seq, _record(seq, reported_scale=1.0))
    assert abs(r['camera']['sim3_scale'] - 2.0) < 1e-6 and r['camera']['ate_s_m'] > 0.1
    # people 20 % too close: depth ratio 0.8, no error after Procrustes, MPJPE = 0.2 x joint-to-pelvis distance
    r = evaluate_record(seq, _record(seq, depth_scale=0.8))
    own = r['rows']['own']
    assert abs(own['depth_ratio'] - 0.8) < 1e-6 and own['pa_mpjpe'] < 0.1
    d = np.linalg.norm(COCO_BODY - COCO_BODY[11:13].mean(0), axis=1).mean() * 1000
    assert abs(own['mpjpe'] - 0.2 * d) < 0.05 * d
    # the baseline sees the same landmarks; its own root estimate puts them 20 % too close as well
    assert abs(r['rows']['baseline']['depth_ratio'] - 0.8) < 1e-3
    # outputs 3 frames late
    r = evaluate_record(seq, _record(seq, delay=3))
    assert abs(r['rows']['own']['lag_frames'] - 3.0) < 0.3
    # track ids swapped after half the sequence: IDF1 0.5, 2 switches, human metrics unaffected
    r = evaluate_record(seq, _record(seq, swap_at=N // 2))
    assert r['tracking']['idf1'] == pytest.approx(0.5) and r['tracking']['id_switches'] == 2
    assert r['rows']['own']['pa_mpjpe'] < 0.1 and r['rows']['own']['coverage'] == 100.0


def test_gt_camera_row_separates_a_drifting_camera(seq):
    r = evaluate_record(seq, _record(seq, drift_deg_per_frame=0.3))           # 36 degrees of yaw drift
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
    r = evaluate_record(seq, _record(seq, joint_noise=(conf, noise)))
    own = r['rows']['own']
    assert own['conf_spearman'] < -0.8
    assert own['conf_err_most_confident_third'] < 0.5 * own['conf_err_least_confident_third']
    assert math.isnan(r['rows']['baseline']['conf_spearman'])  # no per-joint confidence in the baseline


def test_record_must_fit_the_sequence(seq):
    rec = _record(seq)
    with pytest.raises(RunRecordError):
        evaluate_record(seq, RunRecord(**{**rec.__dict__, 'sequence': 'other'}))
