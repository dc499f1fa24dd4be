"""The whole in-process pipeline (mask, HMR, SLAM, fusion) on rendered sequences with exact ground truth:
the assertions a robot needs from the world frame (issue 12). The camera branch alone, with exact people,
is checked more tightly in test_slam_branch.py."""
import numpy as np
import pytest

from onlinehmr_ros.core.pipeline import Pipeline, PipelineConfig
from onlinehmr_ros.eval.camera_metrics import gravity_errors_deg, orientation_jumps_deg
from onlinehmr_ros.eval.metrics import camera_ate

pytestmark = pytest.mark.slow

#: camera and people move at walking pace here: 4-5 cm per frame at 30 fps; these bounds are what no
#: camera or person can do (2 m/s for the camera, 7.5 m/s for a person's pelvis)
MAX_CAMERA_STEP_M = 0.066
MAX_PELVIS_STEP_M = 0.25


def _run(seq):
    pipe = Pipeline(PipelineConfig())
    try:
        return [pipe.process(f) for f in seq.iter_frames()]
    finally:
        pipe.close()


@pytest.fixture(scope='module')
def handheld(slam_handheld):
    return slam_handheld, _run(slam_handheld)


@pytest.fixture(scope='module')
def static(slam_static):
    return slam_static, _run(slam_static)


def _people(outs, converged_only=False):
    """Per track: [(frame, world joints (24, 3))]."""
    tracks = {}
    for i, o in enumerate(outs):
        if converged_only and not o.camera_pose.scale_converged:
            continue
        for h in o.world_humans.humans:
            tracks.setdefault(h.track_id, []).append((i, h.joints.astype(np.float64)))
    return tracks


def _check_world(seq, outs, floor_tol_m):
    T = np.stack([o.camera_pose.T_world_cam_m for o in outs])
    jumps = orientation_jumps_deg(T[:, :3, :3], seq.T_world_cam[:, :3, :3])
    assert jumps.max() < 3.0, f'camera orientation jumped {jumps.max():.1f} deg at frame {jumps.argmax() + 1}'
    steps = np.linalg.norm(np.diff(T[:, :3, 3], axis=0), axis=1)
    assert steps.max() < MAX_CAMERA_STEP_M, f'camera moved {steps.max():.2f} m in one frame'
    grav = gravity_errors_deg(T[:, :3, :3], seq.T_world_cam[:, :3, :3])
    assert grav[20:].max() < 3.0, f'world z {grav[20:].max():.1f} deg off the true up'
    tracks = _people(outs)
    assert tracks, 'nobody in the world frame'
    for tid, seq_j in tracks.items():
        for (i0, a), (i1, b) in zip(seq_j[:-1], seq_j[1:]):
            if i1 == i0 + 1:
                assert np.linalg.norm(b[0] - a[0]) < MAX_PELVIS_STEP_M, f'person {tid} jumped at frame {i1}'
    tilt = [np.degrees(np.arccos((j[12, 2] - j[0, 2]) / np.linalg.norm(j[12] - j[0])))
            for v in tracks.values() for _, j in v]
    assert np.median(tilt) < 10.0, f'trunks {np.median(tilt):.1f} deg off vertical'
    feet = np.array([j[[10, 11], 2].min() for v in _people(outs, seq.camera_kind != 'static').values()
                     for _, j in v])
    floor = -seq.T_world_cam[0, 2, 3]               # the world origin is the first camera centre
    assert feet.std() < 0.1, f'feet heights spread {feet.std():.2f} m'
    assert np.median(feet) == pytest.approx(floor + 0.08, abs=floor_tol_m)   # ankles ~8 cm above the floor
    return T


def test_handheld_camera_world_frame(handheld):
    seq, outs = handheld
    T = _check_world(seq, outs, floor_tol_m=0.15)
    trk = np.array([o.camera_pose.tracking for o in outs])
    assert trk[30:].mean() > 0.9
    ate = camera_ate(T[trk, :3, 3], seq.T_world_cam[trk, :3, 3], with_scale=True)
    path = float(np.sum(np.linalg.norm(np.diff(seq.T_world_cam[trk, :3, 3], axis=0), axis=1)))
    assert ate.mean < 0.03 * path
    # the scale comes from this person as a ruler: the HMR's depth, i.e. the size the HMR gave them (issue 12's
    # range for every sequence; measured 1.04 here, 1.13 with the old 1.74 m stature prior for this 1.68 m
    # person; exact rulers give 1 +- 0.06, test_slam_branch.py)
    assert 0.93 < ate.scale < 1.07
    assert outs[-1].camera_pose.scale_converged and outs[-1].camera_pose.gravity_aligned


def test_static_camera_world_frame(static):
    seq, outs = static
    _check_world(seq, outs, floor_tol_m=0.2)
    assert all(o.camera_pose.state == 'rotation_only' for o in outs)
    assert all(len(o.world_humans.humans) == len(o.camera_humans.humans) for o in outs)   # fused (policy 'use')
