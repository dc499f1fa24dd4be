"""Camera-branch metrics against hand-made trajectories with known errors, and against evo's RPE."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from onlinehmr_ros.core.common.geometry import look_at_T_world_cam, make_transform, rotmat_from_axis_angle
from onlinehmr_ros.eval.camera_metrics import (CameraMetricsError, best_fit_world_rotation, camera_branch_metrics,
                                               gravity_errors_deg, orientation_errors_after_best_rotation_deg,
                                               orientation_jumps_deg, position_jump, rotation_angle_deg)

N = 90


def _truth():
    """A hand-held-like path: 2 m sideways, looking at a point 4 m ahead (world z up)."""
    t = np.linspace(0.0, 1.0, N)
    eye = np.stack([2.0 * t, 0.1 * np.sin(6 * t), 1.5 + 0.02 * np.sin(20 * t)], axis=1)
    return look_at_T_world_cam(eye, np.tile([1.0, 4.0, 1.0], (N, 1)))


def _rz(deg):
    return rotmat_from_axis_angle(np.array([0.0, 0.0, np.radians(deg)]))


def _rx(deg):
    return rotmat_from_axis_angle(np.array([np.radians(deg), 0.0, 0.0]))


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_fixed_world_offset_is_no_error_and_a_swap_is_one_jump(dtype):
    Tg = _truth()
    A = _rz(70.0)                                      # the estimate's world is yawed by 70 degrees
    Re = (A.T @ Tg[:, :3, :3]).astype(dtype)
    assert orientation_jumps_deg(Re, Tg[:, :3, :3]).max() < 1e-3
    assert orientation_errors_after_best_rotation_deg(Re, Tg[:, :3, :3]).max() < 1e-3
    assert gravity_errors_deg(Re, Tg[:, :3, :3]).max() < 1e-3      # yaw keeps gravity
    np.testing.assert_allclose(best_fit_world_rotation(Re, Tg[:, :3, :3]), A, atol=1e-5)
    # from frame 40 on, the estimate's world is tilted by 25 degrees more about x (a re-initialisation)
    Re2 = Re.astype(np.float64).copy()
    Re2[40:] = _rx(-25.0) @ Re2[40:]
    jumps = orientation_jumps_deg(Re2, Tg[:, :3, :3])
    assert jumps.argmax() + 1 == 40 and abs(jumps.max() - 25.0) < 1e-3
    assert np.delete(jumps, 39).max() < 1e-3                            # one jump only
    # the Frobenius-optimal single rotation lies between the two parts, phi from the 50-frame part with
    # tan(phi) = 40 sin(25 deg) / (50 + 40 cos(25 deg)) (maximise tr(A^T (50 A_2 + 40 A_1)) about the common axis)
    phi = np.degrees(np.arctan2(40 * np.sin(np.radians(25.0)), 50 + 40 * np.cos(np.radians(25.0))))
    err = orientation_errors_after_best_rotation_deg(Re2, Tg[:, :3, :3])
    np.testing.assert_allclose(err[40:], phi, atol=1e-3)
    np.testing.assert_allclose(err[:40], 25.0 - phi, atol=1e-3)
    # the tilted part's up axis is 25 degrees off
    grav = gravity_errors_deg(Re2, Tg[:, :3, :3])
    np.testing.assert_allclose(grav[:40], 0.0, atol=1e-3)
    np.testing.assert_allclose(grav[40:], 25.0, atol=1e-3)


def test_gravity_tilt_is_the_gravity_error_and_best_rotation_removes_it():
    Tg = _truth()
    Re = _rx(7.0) @ Tg[:, :3, :3]                      # world tilted by 7 degrees, consistently
    np.testing.assert_allclose(gravity_errors_deg(Re, Tg[:, :3, :3]), 7.0, atol=1e-6)
    assert orientation_errors_after_best_rotation_deg(Re, Tg[:, :3, :3]).max() < 1e-6


def test_jumps_equal_evo_rpe_rotation_at_one_frame():
    from evo.core import metrics as evo_metrics
    from evo.core.trajectory import PoseTrajectory3D

    rng = np.random.default_rng(3)
    Tg = _truth()
    noise = Rotation.from_rotvec(rng.normal(scale=0.03, size=(N, 3))).as_matrix()
    Te = Tg.copy()
    Te[:, :3, :3] = _rz(30.0) @ Tg[:, :3, :3] @ noise
    stamps = np.arange(N, dtype=float)
    ref = PoseTrajectory3D(poses_se3=list(Tg), timestamps=stamps)
    est = PoseTrajectory3D(poses_se3=list(Te), timestamps=stamps)
    rpe = evo_metrics.RPE(evo_metrics.PoseRelation.rotation_angle_deg, delta=1, delta_unit=evo_metrics.Unit.frames,
                          all_pairs=False)
    rpe.process_data((ref, est))
    np.testing.assert_allclose(orientation_jumps_deg(Te[:, :3, :3], Tg[:, :3, :3]), rpe.error, atol=1e-6)


def test_branch_metrics_scale_ate_and_static_camera():
    Tg = _truth()
    G = make_transform(_rz(40.0), np.array([3.0, -1.0, 0.2]))      # estimate's world -> true world
    Te = np.linalg.inv(G)[None] @ Tg
    Te[:, :3, 3] *= 0.5                                  # metric scale half the truth
    tracking = np.ones(N, bool)
    tracking[:10] = False                                # the first frames are not tracked
    m = camera_branch_metrics(Te, tracking, Tg)
    assert abs(m.sim3_scale - 2.0) < 1e-9 and m.ate_m < 1e-9  # Sim(3) forgives the scale ...
    assert m.ate_s_m > 0.1 and m.ate_s_over_ate > 1e6          # ... SE(3) does not
    assert m.orientation_jump_max_deg < 1e-6 and m.gravity_error_max_deg < 1e-6
    np.testing.assert_allclose(m.tracked_fraction, 80 / 90)
    length = np.linalg.norm(np.diff(Tg[:, :3, 3], axis=0), axis=1).sum()
    np.testing.assert_allclose(m.path_length_m, length)
    np.testing.assert_allclose(m.ate_s_pct, 100 * m.ate_s_m / length)
    static = np.repeat(Tg[:1], N, axis=0)
    s = camera_branch_metrics(static, np.zeros(N, bool), static)
    assert math.isnan(s.sim3_scale) and math.isnan(s.ate_m) and math.isnan(s.ate_pct)
    assert s.orientation_error_max_deg < 1e-9 and len(s.notes) == 2


def test_a_one_frame_teleport_is_a_position_jump_the_ate_hardly_sees():
    """The estimate in another world at half the scale, exact except that frame 50 is 0.5 m (true units) off and
    comes back: the position jump is 0.5 m at frame 50 (the step into it; the step back is as large), the ATE
    (a mean over 90 frames) about 0.5 / 90. Untracked frames are not stepped over."""
    Tg = _truth()
    G = make_transform(_rz(40.0), np.array([3.0, -1.0, 0.2]))
    Te = np.linalg.inv(G)[None] @ Tg
    Te[:, :3, 3] *= 0.5
    exact = camera_branch_metrics(Te, np.ones(N, bool), Tg)
    assert exact.position_jump_max_m < 1e-9
    off = np.array([0.0, 0.3, 0.4])                               # 0.5 m in the true world
    Te[50, :3, 3] += 0.5 * np.linalg.inv(G)[:3, :3] @ off
    m = camera_branch_metrics(Te, np.ones(N, bool), Tg)
    assert abs(m.position_jump_max_m - 0.5) < 0.02 and m.position_jump_frame in (50, 51), m
    assert m.ate_m < 0.02 and m.orientation_jump_max_deg < 1e-6
    tracking = np.ones(N, bool)
    tracking[50] = False                                          # the teleport frame untracked: no step to it
    jump, frame = position_jump(Te[:, :3, 3], Tg[:, :3, 3], tracking)
    assert jump < 1e-6, (jump, frame)


def test_rotation_angle_and_bad_inputs():
    np.testing.assert_allclose(rotation_angle_deg(np.stack([_rz(179.0), _rz(1e-4), np.eye(3)])), [179.0, 1e-4, 0.0],
                               atol=1e-7)
    with pytest.raises(CameraMetricsError):
        orientation_jumps_deg(np.eye(3)[None], np.eye(3)[None])
    with pytest.raises(CameraMetricsError):
        gravity_errors_deg(np.zeros((3, 3, 3)), np.zeros((4, 3, 3)))
    with pytest.raises(CameraMetricsError):
        camera_branch_metrics(np.tile(np.eye(4), (5, 1, 1)), np.ones(4, bool), np.tile(np.eye(4), (5, 1, 1)))
