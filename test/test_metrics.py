"""Metrics against hand-computed values and against evo's APE."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.geometry import rotmat_from_axis_angle
from onlinehmr_ros.eval import metrics
from onlinehmr_ros.eval.metrics import MetricsError


def _random_similarity(rng):
    R = rotmat_from_axis_angle(rng.normal(size=3))
    return float(rng.uniform(0.5, 2.0)), R, rng.normal(size=3)


def _apply(s, R, t, x):
    return s * x @ R.T + t


# ---------------------------------------------------------------- local metrics
def test_mpjpe_ignores_translation_and_counts_one_displaced_joint():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(5, 24, 3))
    assert np.allclose(metrics.mpjpe(gt + np.array([1.0, -2.0, 3.0]), gt), 0.0, atol=1e-9)
    pred = gt.copy()
    pred[:, 15] += np.array([0.0, 0.24, 0.0])  # the head, not a hip: pelvis unchanged
    np.testing.assert_allclose(metrics.mpjpe(pred, gt), 240.0 / 24, rtol=1e-12)


def test_mpjpe_pelvis_is_mean_of_hips():
    gt = np.zeros((1, 4, 3))
    gt[0, :, 0] = [0.0, -1.0, 1.0, 0.0]       # joints 1, 2 are the hips, pelvis at 0
    pred = gt.copy()
    pred[0, 1, 0] += 0.2                        # moves the pelvis by 0.1 along x
    # after re-centring: joint0 -0.1, joint1 +0.1, joint2 -0.1, joint3 -0.1 (x errors)
    np.testing.assert_allclose(metrics.mpjpe(pred, gt), [100.0], rtol=1e-12)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_pa_mpjpe_zero_for_similarity_and_hand_case(dtype):
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(3, 24, 3))
    s, R, t = _random_similarity(rng)
    pred = _apply(s, R, t, gt).astype(dtype)
    assert np.all(metrics.pa_mpjpe(pred, gt.astype(dtype)) < (1e-2 if dtype == np.float32 else 1e-8))
    # Stretch along x of a cross: best scale is 0.6, errors 0.2, 0.2, 0.4, 0.4 m -> 300 mm.
    gt_cross = np.array([[[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]]], dtype=dtype)
    pred_cross = gt_cross * np.array([2, 1, 1], dtype=dtype)
    np.testing.assert_allclose(metrics.pa_mpjpe(pred_cross, gt_cross), [300.0], rtol=1e-5)


def test_pve_uses_joint_pelvis():
    rng = np.random.default_rng(2)
    gj = rng.normal(size=(2, 24, 3))
    gv = rng.normal(size=(2, 50, 3))
    offset = np.array([0.5, 0.0, 0.0])
    assert np.allclose(metrics.pve(gv + offset, gv, gj + offset, gj), 0.0, atol=1e-9)
    np.testing.assert_allclose(metrics.pve(gv + 0.01, gv, gj, gj), 10.0 * np.sqrt(3), rtol=1e-12)


def test_accel_error_quadratic_drift_and_valid_mask():
    fps = 30.0
    f = np.arange(10, dtype=float)
    gt = np.random.default_rng(3).normal(size=(1, 24, 3)).repeat(10, axis=0) + f[:, None, None] * 0.05
    pred = gt.copy()
    pred[..., 2] += 0.001 * f[:, None] ** 2    # second difference 0.002 m/frame^2
    err = metrics.accel_error(pred, gt, fps)
    assert err.shape == (8,)
    np.testing.assert_allclose(err, 0.002 * fps ** 2, rtol=1e-9)
    valid = np.ones(10, dtype=bool)
    valid[4] = False                             # drops the triplets centred on 3, 4, 5
    assert metrics.accel_error(pred, gt, fps, valid=valid).shape == (5,)
    np.testing.assert_allclose(metrics.acceleration(pred[:, :1] * 0 + pred[:, :1], fps)[0],
                               np.linalg.norm([0, 0, 0.002]) * fps ** 2, rtol=1e-9)


def test_jitter_cubic():
    fps = 30.0
    f = np.arange(8, dtype=float)
    joints = np.zeros((8, 2, 3))
    joints[..., 0] = 0.001 * f[:, None] ** 3     # third difference 0.006 m
    np.testing.assert_allclose(metrics.jitter(joints, fps), 0.006 * fps ** 3 / 10.0, rtol=1e-9)
    assert metrics.jitter(joints[:, :, :] * 0 + 1.0, fps).max() == 0.0


# ---------------------------------------------------------------- world metrics
def test_world_mpjpe_chunks_and_alignment():
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(150, 24, 3))
    s, R, t = _random_similarity(rng)
    res = metrics.world_mpjpe(_apply(s, R, t, gt), gt)
    assert res.w_mpjpe.shape == (150,) and np.all(res.w_mpjpe < 1e-6) and np.all(res.wa_mpjpe < 1e-6)
    # Exact for frames 0, 1 of chunk 0, then a 0.1 m jump: W sees 100 mm on frames 2..99;
    # chunk 1 (frames 100..149) starts already shifted, so its first-two-frame fit removes it.
    pred = gt.copy()
    pred[2:] += np.array([0.1, 0.0, 0.0])
    res = metrics.world_mpjpe(pred, gt)
    np.testing.assert_allclose(res.w_mpjpe[:2], 0.0, atol=1e-6)
    np.testing.assert_allclose(res.w_mpjpe[2:100], 100.0, rtol=1e-9)
    np.testing.assert_allclose(res.w_mpjpe[100:], 0.0, atol=1e-6)
    np.testing.assert_allclose(res.wa_mpjpe[100:], 0.0, atol=1e-6)
    assert 0.0 < res.wa_mpjpe[:100].mean() < res.w_mpjpe[:100].mean()


def test_rte_hand_case_and_rigid_invariance():
    gt = np.zeros((4, 3))
    gt[:, 0] = [-1.5, -0.5, 0.5, 1.5]          # path length 3 m
    pred = gt.copy()
    pred[:, 2] = 0.1 * np.array([1, -1, -1, 1])  # zero-mean, uncorrelated with x: alignment cannot remove it
    np.testing.assert_allclose(metrics.rte(pred, gt), 0.1 / 3.0 * 100.0, rtol=1e-9)
    rng = np.random.default_rng(5)
    gt = np.cumsum(rng.normal(size=(50, 3)), axis=0)
    _, R, t = _random_similarity(rng)
    assert np.all(metrics.rte(_apply(1.0, R, t, gt), gt) < 1e-9)
    with pytest.raises(MetricsError):
        metrics.rte(gt * 0, gt * 0)


def test_erve_is_egocentric():
    f = np.arange(5, dtype=float)
    gt_root = np.stack([0.01 * f, 0 * f, 0 * f], axis=-1)              # 1 cm/frame along x
    gt_R = np.repeat(np.eye(3)[None], 5, axis=0)
    Rz = rotmat_from_axis_angle(np.array([0, 0, np.pi / 2]))
    pred_R = np.repeat(Rz[None], 5, axis=0)                             # turned by 90 deg
    pred_root = np.stack([0 * f, 0.01 * f, 0 * f], axis=-1)           # walking "forward" = +y
    np.testing.assert_allclose(metrics.erve(pred_R, pred_root, gt_R, gt_root), 0.0, atol=1e-12)
    np.testing.assert_allclose(metrics.erve(pred_R, 2 * pred_root, gt_R, gt_root), 10.0, rtol=1e-9)


def test_foot_sliding_counts_contacts_only():
    gt = np.zeros((4, 2, 3))
    gt[:, 1, 0] = [0.0, 0.1, 0.2, 0.3]          # second foot swings (no contact)
    pred = gt.copy()
    pred[:, 0, 1] = [0.0, 0.005, 0.010, 0.015]  # planted foot slides 5 mm per frame
    np.testing.assert_allclose(metrics.foot_sliding(pred, gt), [5.0, 5.0, 5.0], rtol=1e-9)


# ---------------------------------------------------------------- camera metrics vs evo
@pytest.mark.parametrize('with_scale', [True, False])
def test_camera_ate_matches_evo(with_scale):
    import evo.core.trajectory as evo_traj   # evo is a pinned dependency (requirements.txt): no skip
    import evo.main_ape as main_ape
    from evo.core.metrics import PoseRelation

    rng = np.random.default_rng(6)
    n = 60
    gt = np.cumsum(rng.normal(scale=0.05, size=(n, 3)), axis=0)
    s, R, t = _random_similarity(rng)
    pred = _apply(s, R, t, gt) + rng.normal(scale=0.02, size=gt.shape)
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    stamps = np.arange(n, dtype=float)
    ref = evo_traj.PoseTrajectory3D(positions_xyz=gt.copy(), orientations_quat_wxyz=quat.copy(), timestamps=stamps)
    est = evo_traj.PoseTrajectory3D(positions_xyz=pred.copy(), orientations_quat_wxyz=quat.copy(),
                                    timestamps=stamps)
    result = main_ape.ape(ref, est, pose_relation=PoseRelation.translation_part, align=True,
                          correct_scale=with_scale)
    ours = metrics.camera_ate(pred, gt, with_scale=with_scale)
    assert abs(ours.mean - result.stats['mean']) < 1e-6
    assert abs(ours.rmse - result.stats['rmse']) < 1e-6
    assert abs(ours.median - result.stats['median']) < 1e-6
    assert abs(ours.max - result.stats['max']) < 1e-6
    np.testing.assert_allclose(ours.errors, result.np_arrays['error_array'], atol=1e-6)
    if with_scale:
        assert ours.mean < 0.05
    else:
        assert ours.scale == 1.0


# ---------------------------------------------------------------- GT-free smoothness
def _sines(freqs_amps, n=300, fps=30.0):
    t = np.arange(n) / fps
    x = sum(a * np.sin(2 * np.pi * f * t) for f, a in freqs_amps)
    return np.stack([x, 0 * x, 0 * x], axis=-1)[:, None, :]


def test_high_frequency_share_of_sines():
    assert metrics.high_frequency_share(_sines([(2.0, 1.0)]), 30.0) < 0.01
    assert metrics.high_frequency_share(_sines([(13.0, 1.0)]), 30.0) > 0.99
    share = metrics.high_frequency_share(_sines([(2.5, 1.0), (13.0, 0.5)]), 30.0)
    np.testing.assert_allclose(share, 0.25 / 1.25, atol=0.02)
    # a linear walk (constant velocity) is not jitter
    walk = np.linspace(0, 3, 300)[:, None, None] * np.ones((1, 2, 3))
    assert metrics.high_frequency_share(walk, 30.0) < 1e-12
    with pytest.raises(MetricsError):
        metrics.high_frequency_share(_sines([(2.0, 1.0)]), 15.0)
    with pytest.raises(MetricsError):
        metrics.high_frequency_share(_sines([(2.0, 1.0)], n=20), 30.0)


def test_signal_lag_recovers_shift():
    rng = np.random.default_rng(7)
    kernel = np.hanning(15)
    raw = rng.normal(size=(400, 6))
    smooth = np.stack([np.convolve(raw[:, c], kernel, mode='same') for c in range(6)], axis=-1)
    ref, delayed = smooth[10:-10], smooth[7:-13]   # delayed(t) = ref(t - 3)
    np.testing.assert_allclose(metrics.signal_lag(ref, delayed, fps=30.0), 3 / 30.0, atol=0.2 / 30.0)
    np.testing.assert_allclose(metrics.signal_lag(delayed, ref, fps=30.0), -3 / 30.0, atol=0.2 / 30.0)


def test_bad_inputs_raise():
    with pytest.raises(MetricsError):
        metrics.mpjpe(np.zeros((2, 24, 3)), np.zeros((3, 24, 3)))
    with pytest.raises(MetricsError):
        metrics.pa_mpjpe(np.full((1, 24, 3), np.nan), np.zeros((1, 24, 3)))
    with pytest.raises(MetricsError):
        metrics.accel_error(np.zeros((2, 24, 3)), np.zeros((2, 24, 3)), 30.0)
    with pytest.raises(MetricsError):
        metrics.jitter(np.zeros((5, 24, 3)), 0.0)
