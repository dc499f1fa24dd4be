"""Evaluation harness with a fake pipeline that returns perturbed ground truth."""
import math
from dataclasses import dataclass

import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, CameraPose, HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import (invert_transform, look_at_T_world_cam, quat_wxyz_from_rotmat,
                                                transform_points)
from onlinehmr_ros.eval import metrics
from onlinehmr_ros.eval.evaluation import EvaluationError, evaluate_sequence, format_table
from onlinehmr_ros.eval.synthetic.sequence import PersonTrack, SyntheticSequence

N = 150
FPS = 30.0


@dataclass(frozen=True)
class FakeOutput:
    camera_humans: HumansFrame
    world_humans: HumansFrame
    camera_pose: CameraPose
    timings_ms: dict


def _person(rng, start, velocity, visible_from=0):
    skeleton = rng.normal(scale=0.2, size=(24, 3)) + np.array([0, 0, 0.9])
    t = np.arange(N)[:, None] / FPS
    root = start + velocity * t + 0.02 * np.sin(2 * np.pi * 1.5 * t) * np.array([0, 0, 1])
    joints = skeleton[None] - skeleton[0] + root[:, None]
    vis = np.ones((N, 24), bool)
    vis[:visible_from] = False
    return PersonTrack(
        betas=np.zeros(10, np.float32), global_orient_world=np.zeros((N, 3), np.float32),
        body_pose=np.zeros((N, 69), np.float32), transl_world=root.astype(np.float32),
        joints_world=joints, keypoints_coco_world=joints[:, :17], joints_visible=vis,
        keypoints_coco_visible=vis[:, :17], mask_area_px=np.full(N, 1000), action=np.zeros(N, np.int8))


@pytest.fixture(scope='module')
def sequence():
    rng = np.random.default_rng(0)
    eye = np.stack([np.linspace(0, 2.0, N), np.full(N, -3.0), np.full(N, 1.5)], axis=1)
    T = look_at_T_world_cam(eye, np.tile([0.0, 2.0, 1.0], (N, 1)))
    people = (_person(rng, np.array([-1.5, 1.0, 0.9]), np.array([0.6, 0.0, 0.0])),
              # person 1 moves < 1 cm/frame: its feet count as in contact for foot sliding
              _person(rng, np.array([1.5, 3.0, 0.9]), np.array([-0.2, 0.05, 0.0]), visible_from=10))
    return SyntheticSequence(name='fake', seed=0, fps=FPS, intrinsics=CameraIntrinsics.from_fov(64, 48, 60.0),
                             T_world_cam=T, people=people, masks=np.zeros((N, 48, 64), np.uint8),
                             camera_kind='handheld', body_model='open')


def _state(track_id, joints):
    return HumanState(track_id=track_id, model='open', betas=np.zeros(10, np.float32),
                      global_orient=np.zeros(3, np.float32), body_pose=np.zeros(69, np.float32),
                      transl=joints[0].astype(np.float32), joints=joints.astype(np.float32),
                      joint_confidence=np.ones(24, np.float32), vertices=np.zeros((0, 3), np.float32),
                      keypoints_coco=joints[:17].astype(np.float32))


def _fake_run(seq, slam_scale=2.0, reported_scale=2.0, head_offset_m=0.24, world_offset=(0.1, 0.0, 0.0),
              ms=25.0):
    """Perturbed ground truth: person 0 -> track 7 (head moved, world shifted), person 1 -> track 3
    (exact), a spurious track 99 far away; camera in SLAM units scaled by 1/slam_scale."""
    T_cw = invert_transform(seq.T_world_cam)
    outs = []
    for i in range(seq.num_frames):
        stamp = seq.stamp_ns(i)
        cam, world = [], []
        for tid, person, head, woff in ((7, seq.people[0], head_offset_m, world_offset),
                                        (3, seq.people[1], 0, (0, 0, 0))):
            jw = person.joints_world[i].astype(np.float64)
            jc = transform_points(T_cw[i], jw)
            jc[15, 0] += head
            cam.append(_state(tid, jc))
            world.append(_state(tid, jw + np.asarray(woff)))
        cam.append(_state(99, np.full((24, 3), 10.0)))
        R = seq.T_world_cam[i, :3, :3]
        pose = CameraPose(stamp_ns=stamp, quat_wxyz=quat_wxyz_from_rotmat(R),
                          t_world_cam=seq.T_world_cam[i, :3, 3] / slam_scale, scale=reported_scale)
        outs.append(FakeOutput(HumansFrame(stamp, 'camera', tuple(cam)), HumansFrame(stamp, 'world', tuple(world)),
                               pose, {'total': ms, 'hmr': ms / 2}))
    return outs


def test_perturbed_ground_truth_gives_predictable_metrics(sequence):
    row = evaluate_sequence(sequence, _fake_run(sequence))
    assert row['matched'] == {7: 0, 3: 1}                    # Hungarian on joint distance, spurious 99 left out
    # MPJPE: 10 mm on person 0's 150 frames (head 0.24 m / 24 joints), 0 on person 1's 140 evaluable frames
    np.testing.assert_allclose(row["mpjpe"], 10.0 * 150 / 290, rtol=1e-4)  # float32 outputs
    T_cw = invert_transform(sequence.T_world_cam)
    gt0 = transform_points(T_cw, sequence.people[0].joints_world)
    pred0 = gt0.copy()
    pred0[:, 15, 0] += 0.24
    np.testing.assert_allclose(row['pa_mpjpe'], metrics.pa_mpjpe(pred0, gt0).sum() / 290, rtol=1e-3)
    # a constant world offset is removed by every world alignment
    assert row['w_mpjpe100'] < 1e-3 and row['wa_mpjpe100'] < 1e-3 and row['rte'] < 1e-4  # float32 outputs
    assert row['accel'] < 1e-3 and row['erve'] < 1e-3
    # foot sliding is the predicted foot motion at GT contacts; only person 1 (slow) has contacts
    feet = sequence.people[1].joints_world[10:, list(metrics.SMPL24_FOOT_JOINT_INDICES)]
    np.testing.assert_allclose(row['foot_sliding'], metrics.foot_sliding(feet, feet).mean(), rtol=1e-4)
    gt_jitter = np.concatenate([metrics.jitter(sequence.people[0].joints_world, FPS),
                                metrics.jitter(sequence.people[1].joints_world[10:], FPS)]).mean()
    np.testing.assert_allclose(row['jitter'], gt_jitter, rtol=1e-5)
    assert 0.0 <= row['hf_share'] <= 100.0
    assert row['ate'] < 1e-6 and row['ate_s'] < 1e-6         # scale 2 in SLAM units, reported scale 2
    np.testing.assert_allclose([row['fps'], row['ms_p50'], row['ms_p95']], [40.0, 25.0, 25.0])
    np.testing.assert_allclose(row['coverage'], 100.0)
    assert math.isnan(row['pve'])


def test_world_errors_and_wrong_metric_scale(sequence):
    outs = _fake_run(sequence, reported_scale=1.0, head_offset_m=0.0)
    # person 0's world joints drift by 1 cm per frame along x
    drifted = []
    for i, o in enumerate(outs):
        hs = list(o.world_humans.humans)
        j = np.asarray(hs[0].joints, np.float64) + np.array([0.01 * i, 0.0, 0.0])
        hs[0] = _state(7, j)
        drifted.append(FakeOutput(o.camera_humans, HumansFrame(o.world_humans.stamp_ns, 'world', tuple(hs)),
                                  o.camera_pose, o.timings_ms))
    row = evaluate_sequence(sequence, drifted)
    assert row['mpjpe'] < 1e-3
    assert row['ate'] < 1e-6 and row['ate_s'] > 0.1          # Sim(3) forgives the wrong scale, SE(3) does not
    assert row['w_mpjpe100'] > row['wa_mpjpe100'] > 0 and row['rte'] > 0
    # person 0 drifts 1 cm/frame: its ERVE is 10 mm/frame, person 1's is 0
    np.testing.assert_allclose(row['erve'], 10.0 * 149 / (149 + 139), rtol=1e-4)


def test_unmatched_and_bad_inputs(sequence):
    outs = _fake_run(sequence)
    far = [FakeOutput(HumansFrame(o.camera_humans.stamp_ns, 'camera', (o.camera_humans.humans[2],)),
                      HumansFrame(o.world_humans.stamp_ns, 'world', ()), o.camera_pose, {}) for o in outs]
    row = evaluate_sequence(sequence, far)
    assert row['matched'] == {} and math.isnan(row['mpjpe']) and math.isnan(row['fps'])
    assert any('no predicted track' in n for n in row['notes'])
    with pytest.raises(EvaluationError):
        evaluate_sequence(sequence, outs[:-1])


def test_format_table_groups_variants():
    rows = [{'sequence': 's1', 'mpjpe': 10.0, 'pa_mpjpe': 5.0, 'fps': 20.0},
            {'sequence': 's2', 'mpjpe': 20.0, 'pa_mpjpe': float('nan'), 'fps': 30.0},
            {'sequence': 's1', 'variant': 'mask=none', 'mpjpe': 12.0, 'fps': 21.0}]
    text = format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ['sequence', 'PA-MPJPE', 'MPJPE']
    mean = next(l for l in lines if l.startswith('mean ') and '[' not in l).split()
    assert mean[1] == '5.0' and mean[2] == '15.0'            # NaN-aware mean
    assert any(l.startswith('s1 [mask=none]') for l in lines)
    assert any(l.startswith('mean [mask=none]') for l in lines)
    assert '-' in next(l for l in lines if l.startswith('s2')).split()[1]
