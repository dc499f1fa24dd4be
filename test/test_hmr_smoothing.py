"""The causal alpha-beta smoother of body parameters: no lag at constant velocity, less noise, restarts."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, rotmat_from_axis_angle
from onlinehmr_ros.core.hmr.smoothing import ParameterSmoother, SmoothingConfig


def _track(n, rng, noise_t=0.0, noise_r=0.0):
    """A person walking at 1.2 m/s away from the camera while turning at 30 deg/s, knees swinging slowly."""
    t = np.arange(n) / 30.0
    transl = np.stack([0.3 + 0.0 * t, 0.1 + 0.0 * t, 3.0 + 1.2 * t], -1)
    orient = np.stack([np.full(n, np.pi), np.radians(30) * t, np.zeros(n)], -1)
    pose = np.zeros((n, 69))
    pose[:, 9] = 0.4 * t                                    # a joint turning at constant speed
    noisy = (orient + rng.normal(scale=noise_r, size=orient.shape), pose + rng.normal(scale=noise_r, size=pose.shape),
             transl + rng.normal(scale=noise_t, size=transl.shape))
    return (orient, pose, transl), noisy


def _rot_err(a, b):
    return np.linalg.norm(axis_angle_from_rotmat(np.swapaxes(rotmat_from_axis_angle(a), -1, -2)
                                                 @ rotmat_from_axis_angle(b)), axis=-1)


def test_constant_velocity_is_followed_without_lag():
    n = 180
    (go, bp, tr), _ = _track(n, np.random.default_rng(0))
    sm = ParameterSmoother(SmoothingConfig(method='alpha_beta', orient_alpha=0.2, pose_alpha=0.2, lateral_alpha=0.2,
                                           depth_alpha=0.1))
    out = [sm.update(0, i, go[i], bp[i], tr[i]) for i in range(n)]
    # once the filter has learnt the velocity (it starts at rest) the output is on the true trajectory
    t_err = np.abs(np.array([o[2] for o in out])[120:] - tr[120:]).max()
    r_err = _rot_err(np.array([o[0] for o in out])[120:], go[120:]).max()
    j_err = _rot_err(np.array([o[1][9:12] for o in out])[120:], bp[120:, 9:12]).max()
    assert t_err < 0.01 and r_err < np.radians(0.5) and j_err < np.radians(0.5), (t_err, r_err, j_err)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_noise_is_reduced(dtype):
    n = 240
    rng = np.random.default_rng(1)
    (go, bp, tr), (ngo, nbp, ntr) = _track(n, rng, noise_t=0.05, noise_r=0.05)
    sm = ParameterSmoother(SmoothingConfig(method='alpha_beta', orient_alpha=0.3, pose_alpha=0.3, lateral_alpha=0.3,
                                           depth_alpha=0.15))
    out = [sm.update(0, i, ngo[i].astype(dtype), nbp[i].astype(dtype), ntr[i].astype(dtype)) for i in range(n)]
    s = slice(30, None)
    raw_t = np.linalg.norm(ntr[s] - tr[s], axis=-1).mean()
    raw_r = _rot_err(ngo[s], go[s]).mean()
    got_t = np.linalg.norm(np.array([o[2] for o in out])[s] - tr[s], axis=-1).mean()
    got_r = _rot_err(np.array([o[0] for o in out])[s], go[s]).mean()
    assert got_t < 0.6 * raw_t and got_r < 0.7 * raw_r, (got_t, raw_t, got_r, raw_r)


def test_jump_and_gap_restart_at_the_fit():
    sm = ParameterSmoother(SmoothingConfig(method='alpha_beta', depth_alpha=0.1, max_gap_frames=2))
    go, bp = np.array([np.pi, 0.0, 0.0]), np.zeros(69)
    for i in range(10):
        sm.update(0, i, go, bp, np.array([0.0, 0.0, 3.0]))
    _, _, t = sm.update(0, 10, go, bp, np.array([0.0, 0.0, 5.0]))     # 2 m jump: a re-placed fit, not noise
    np.testing.assert_allclose(t, [0.0, 0.0, 5.0])
    _, _, t = sm.update(0, 20, go, bp, np.array([0.0, 0.0, 4.0]))     # seen again after 9 frames
    np.testing.assert_allclose(t, [0.0, 0.0, 4.0])
    sm.forget([0])
    _, _, t = sm.update(0, 21, go, bp, np.array([0.0, 0.0, 4.3]))
    np.testing.assert_allclose(t, [0.0, 0.0, 4.3])


def test_tracks_are_independent():
    rng = np.random.default_rng(2)
    _, (go, bp, tr) = _track(40, rng, noise_t=0.05, noise_r=0.05)
    alone, mixed = ParameterSmoother(), ParameterSmoother()
    out_alone = [alone.update(0, i, go[i], bp[i], tr[i])[2] for i in range(40)]
    out_mixed = []
    for i in range(40):
        mixed.update(7, i, go[i] + 0.3, bp[i], tr[i] + 1.0)
        out_mixed.append(mixed.update(0, i, go[i], bp[i], tr[i])[2])
    np.testing.assert_allclose(out_mixed, out_alone)


def test_bad_gains_raise():
    with pytest.raises(InputError, match='depth_alpha'):
        SmoothingConfig(depth_alpha=0.0)
    with pytest.raises(InputError, match='pose_alpha'):
        SmoothingConfig(pose_alpha=1.5)
