"""Pose refinement and local bundle adjustment on small synthetic problems (fixed seeds)."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.geometry import intrinsics_from_fov, make_transform, rotmat_from_axis_angle
from onlinehmr_ros.core.slam.optim import local_bundle_adjustment, refine_pose, reprojection_errors

K = intrinsics_from_fov(640, 480, 65.0)


def _problem(seed=0, n_cams=5, n_pts=300, noise_px=0.5):
    rng = np.random.default_rng(seed)
    X = rng.uniform([-3, -2, 3], [3, 2, 8], (n_pts, 3))
    T = np.stack([make_transform(rotmat_from_axis_angle(rng.normal(0, 0.05, 3)), np.array([0.2 * k, 0.03 * k, 0.0]))
                  for k in range(n_cams)])
    cams, pts, uv = [], [], []
    for k in range(n_cams):
        p = X @ T[k, :3, :3].T + T[k, :3, 3]
        u = np.stack([K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2], K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2]], 1)
        cams.append(np.full(n_pts, k))
        pts.append(np.arange(n_pts))
        uv.append(u + rng.normal(0, noise_px, u.shape))
    return rng, X, T, np.concatenate(cams), np.concatenate(pts), np.concatenate(uv)


def test_refine_pose_recovers_perturbed_pose():
    rng, X, T, cams, pts, uv = _problem(noise_px=0.3)
    T_true = T[3]
    sel = cams == 3
    T0 = make_transform(rotmat_from_axis_angle(np.array([0.02, -0.01, 0.015])), np.zeros(3)) @ T_true
    T0[:3, 3] += [0.05, -0.03, 0.08]
    uv_bad = uv[sel].copy()
    uv_bad[:30] += rng.uniform(20, 40, (30, 2))                     # 10 % gross outliers
    T_est = refine_pose(K, T0, X, uv_bad, np.ones(len(X)), huber_px=2.0, iterations=10).T_cam_world
    assert np.abs(T_est[:3, 3] - T_true[:3, 3]).max() < 5e-3
    assert np.median(reprojection_errors(K, T_est, X[30:], uv[sel][30:])) < 0.5


@pytest.mark.parametrize('solver', ['schur_lm', 'scipy'])
def test_local_bundle_adjustment_reduces_error(solver):
    rng, X, T, cams, pts, uv = _problem()
    Tn = T.copy()
    for k in range(2, len(T)):
        Tn[k] = make_transform(rotmat_from_axis_angle(rng.normal(0, 0.01, 3)), np.zeros(3)) @ T[k]
        Tn[k, :3, 3] += rng.normal(0, 0.02, 3)
    Xn = X + rng.normal(0, 0.03, X.shape)
    fixed = np.array([True, True, False, False, False])
    res = local_bundle_adjustment(K, Tn, fixed, Xn, cams, pts, uv, np.ones(len(cams)), max_evaluations=10,
                                  solver=solver)
    assert res.cost_after < res.cost_before
    np.testing.assert_array_equal(res.T_cam_world[:2], Tn[:2])           # fixed cameras untouched
    if solver == 'schur_lm':
        # converges to the noise level (0.5 px per axis) and recovers the poses to millimetres
        assert np.median(res.errors_px) < 0.8
        assert np.abs(res.T_cam_world[2:, :3, 3] - T[2:, :3, 3]).max() < 5e-3


def test_bundle_adjustment_weights_downweight_bad_observations():
    rng, X, T, cams, pts, uv = _problem(seed=1)
    uv_bad = uv.copy()
    bad = (cams == 4) & (pts < 60)
    uv_bad[bad] += 15.0                                                   # a biased region (e.g. a person)
    Tn = T.copy()
    Tn[4, :3, 3] += 0.03
    fixed = np.array([True, True, False, False, False])
    w = np.where(bad, 0.0, 1.0)
    res_w = local_bundle_adjustment(K, Tn, fixed, X.copy(), cams, pts, uv_bad, w, max_evaluations=10)
    assert np.abs(res_w.T_cam_world[4, :3, 3] - T[4, :3, 3]).max() < 5e-3


def test_refine_pose_reports_an_unobservable_pose_and_leaves_it_unrefined():
    _, X, T, cams, pts, uv = _problem(noise_px=0.3)
    sel = cams == 3
    T0 = T[3].copy()
    T0[:3, 3] += [0.05, -0.03, 0.08]
    good = refine_pose(K, T0, X, uv[sel], np.ones(len(X)))
    assert good.fallback == '' and good.iterations >= 1
    w = np.zeros(len(X))
    w[:2] = 1.0                                                     # two weighted points: 6 DoF not observable
    two = refine_pose(K, T0, X, uv[sel], w)
    assert 'not observable: 2 weighted points' in two.fallback and two.iterations == 0
    np.testing.assert_array_equal(two.T_cam_world, T0)            # unrefined, not a step from a singular system
    uv_nan = uv[sel].copy()
    uv_nan[5] = np.nan                                              # a non-finite observation
    bad = refine_pose(K, T0, X, uv_nan, np.ones(len(X)))
    assert 'non-finite' in bad.fallback and 'unrefined' in bad.fallback
    np.testing.assert_array_equal(bad.T_cam_world, T0)


def test_bundle_adjustment_holds_and_reports_a_camera_without_weighted_observations():
    rng, X, T, cams, pts, uv = _problem(seed=2)
    Tn = T.copy()
    for k in (2, 3, 4):
        Tn[k, :3, 3] += rng.normal(0, 0.02, 3)
    fixed = np.array([True, True, False, False, False])
    w = np.where(cams == 3, 0.0, 1.0)                               # camera 3 sees nothing usable
    res = local_bundle_adjustment(K, Tn, fixed, X.copy(), cams, pts, uv, w, max_evaluations=10)
    assert 'free cameras [3]' in res.fallback and 'held at their initial poses' in res.fallback
    np.testing.assert_array_equal(res.T_cam_world[3], Tn[3])      # held, not moved by the damping alone
    assert res.cost_after < res.cost_before                         # the others are still refined
    assert np.abs(res.T_cam_world[[2, 4], :3, 3] - T[[2, 4], :3, 3]).max() < 5e-3
    full = local_bundle_adjustment(K, Tn, fixed, X.copy(), cams, pts, uv, np.ones(len(cams)), max_evaluations=10)
    assert full.fallback == ''


def _central_differences(f, x, h=1e-6):
    cols = []
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = h
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_bundle_adjustment_jacobian_matches_central_differences(seed):
    """The analytic BA Jacobian (left-perturbation cameras with the SO(3) left Jacobian, points) against central
    differences of the weighted residuals, at random non-zero camera perturbations and random points/weights."""
    from onlinehmr_ros.core.slam.optim import _ba_problem
    rng, X, T, cams, pts, uv = _problem(seed=seed, n_cams=4, n_pts=12)
    w = rng.uniform(0.2, 1.0, len(cams))
    pb = _ba_problem(K, T, np.array([True, False, False, False]), X, cams, pts, uv, w)
    x = pb.x0.copy()
    x[:18] = rng.normal(0, 0.3, 18)                                 # rotations of ~0.5 rad, metres of translation
    J = pb.jacobian(x).toarray()
    J_fd = _central_differences(pb.residuals, x)
    rel = np.abs(J - J_fd).max() / np.abs(J_fd).max()
    assert rel < 1e-4, rel                                          # measured ~2e-10
    assert np.abs(J[:, :18]).max() > 10.0                           # the camera columns are not empty


@pytest.mark.parametrize('seed', [0, 1])
def test_pose_refinement_jacobian_matches_central_differences(seed):
    """refine_pose's Jacobian (perturbation (omega, v) at zero: R <- exp(omega) R, t <- exp(omega) t + v)."""
    from onlinehmr_ros.core.common.geometry import project_points
    from onlinehmr_ros.core.slam.optim import _pose_jacobian
    rng, X, T, cams, pts, uv = _problem(seed=seed, n_pts=20)
    R, t = T[2, :3, :3], T[2, :3, 3]

    def proj(d):
        Rd = rotmat_from_axis_angle(d[:3])
        return project_points(K, X @ (Rd @ R).T + (Rd @ t + d[3:]))[0].ravel()

    J = _pose_jacobian(K, X @ R.T + t).reshape(-1, 6)
    J_fd = _central_differences(proj, np.zeros(6))
    assert np.abs(J - J_fd).max() / np.abs(J_fd).max() < 1e-4
