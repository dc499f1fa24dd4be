"""Pose refinement and local bundle adjustment (numpy / scipy), ROS-free.

Convention: camera poses are ``T_cam_world`` (4x4, maps world points into the
optical frame); residuals are reprojection errors in pixels multiplied by the
square root of each observation's weight (``1 - C_soft`` of its feature).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix

from onlinehmr_ros.core.common.geometry import (make_transform, project_points, projection_jacobian,
                                                rotmat_from_axis_angle, skew_matrix)

#: depth guard of the solvers' projections (see geometry.guarded_depth), metres / SLAM units
MIN_DEPTH = 1e-6


def reprojection_errors(K: np.ndarray, T_cam_world: np.ndarray, points_world: np.ndarray,
                        uv_px: np.ndarray) -> np.ndarray:
    """(N,) pixel distances between projected ``points_world`` (N, 3) and ``uv_px`` (N, 2); inf behind the camera."""
    uv, z = project_points(K, points_world @ T_cam_world[:3, :3].T + T_cam_world[:3, 3])
    err = np.linalg.norm(uv - uv_px, axis=1)
    return np.where(z > 1e-9, err, np.inf)


def refine_pose(K: np.ndarray, T_cam_world: np.ndarray, points_world: np.ndarray, uv_px: np.ndarray,
                weights: np.ndarray, huber_px: float = 2.0, iterations: int = 6) -> np.ndarray:
    """Weighted, Huber-robust Gauss-Newton refinement of one camera pose (points fixed).

    Args:
        K: (3, 3) intrinsics. T_cam_world: (4, 4) initial pose.
        points_world: (N, 3). uv_px: (N, 2) observations. weights: (N,) in [0, 1].
    Returns:
        (4, 4) refined ``T_cam_world``.
    """
    R = T_cam_world[:3, :3].copy()
    t = T_cam_world[:3, 3].copy()
    for _ in range(iterations):
        p = points_world @ R.T + t
        uv, _ = project_points(K, p, MIN_DEPTH)
        r = uv - uv_px                                                      # (N, 2)
        e = np.linalg.norm(r, axis=1)
        hub = np.where(e <= huber_px, 1.0, huber_px / np.maximum(e, 1e-12))
        w = weights * hub
        Jp = projection_jacobian(K, p, MIN_DEPTH)
        J = np.concatenate([Jp @ -skew_matrix(p), Jp], axis=2).reshape(-1, 6)   # (2N, 6)
        w2 = np.repeat(w, 2)
        H = (J * w2[:, None]).T @ J
        g = (J * w2[:, None]).T @ r.reshape(-1)
        try:
            delta = -np.linalg.solve(H + 1e-6 * np.eye(6), g)
        except np.linalg.LinAlgError:
            break
        R_d = rotmat_from_axis_angle(delta[:3])
        R = R_d @ R
        t = R_d @ t + delta[3:]
        if np.linalg.norm(delta) < 1e-8:
            break
    return make_transform(R, t)


@dataclass(frozen=True)
class BundleAdjustmentResult:
    """Output of :func:`local_bundle_adjustment`.

    T_cam_world: (F, 4, 4) refined poses (fixed ones unchanged).
    points_world: (P, 3) refined points.
    errors_px: (O,) final reprojection error per observation.
    cost_before, cost_after: robust cost (0.5 * sum rho(r^2)).
    n_evaluations: residual evaluations.
    """

    T_cam_world: np.ndarray
    points_world: np.ndarray
    errors_px: np.ndarray
    cost_before: float
    cost_after: float
    n_evaluations: int


BA_SOLVERS = ('schur_lm', 'scipy')


def local_bundle_adjustment(K: np.ndarray, T_cam_world: np.ndarray, fixed: np.ndarray, points_world: np.ndarray,
                            obs_cam: np.ndarray, obs_point: np.ndarray, obs_uv_px: np.ndarray,
                            obs_weight: np.ndarray, huber_px: float = 2.0,
                            max_evaluations: int = 10, solver: str = 'schur_lm') -> BundleAdjustmentResult:
    """Weighted, Huber-robust local bundle adjustment.

    Cameras are parametrised by a left perturbation ``(omega, v)`` of their
    initial pose (``R = exp(omega) R0``, ``t = exp(omega) t0 + v``), points by
    their coordinates; the Jacobian is analytic (checked against finite
    differences in the tests).

    Solvers:
        * ``'schur_lm'`` (default): Levenberg-Marquardt with iteratively
          reweighted Huber weights, solving the normal equations by the Schur
          complement on the cameras (3x3 point blocks inverted in batch); a few
          milliseconds per iteration for a 5-keyframe window.
        * ``'scipy'``: ``scipy.optimize.least_squares`` (trf, lsmr, sparse
          Jacobian); converges far more slowly on BA problems (kept for the
          comparison in ``bench/bench_slam.py``).

    Args:
        K: (3, 3). T_cam_world: (F, 4, 4) window poses. fixed: (F,) bool, poses held fixed
            (at least one, which with the points' observations in two fixed views pins the gauge).
        points_world: (P, 3). obs_cam: (O,) camera index, obs_point: (O,) point index,
        obs_uv_px: (O, 2), obs_weight: (O,) in [0, 1].
        huber_px: Huber threshold (pixels). max_evaluations: residual evaluation budget.
    """
    F = T_cam_world.shape[0]
    P = points_world.shape[0]
    O = len(obs_cam)
    free = np.flatnonzero(~fixed)
    cam_slot = -np.ones(F, int)
    cam_slot[free] = np.arange(len(free))
    nc = 6 * len(free)
    R0 = T_cam_world[:, :3, :3]
    t0 = T_cam_world[:, :3, 3]
    # cameras are parametrised by a left perturbation (omega, v): R = exp(omega) R0, t = exp(omega) t0 + v
    x0 = np.concatenate([np.zeros(nc), points_world.ravel()])
    sw = np.sqrt(np.clip(obs_weight, 0.0, 1.0))
    slot = cam_slot[obs_cam]
    has_cam = slot >= 0

    def unpack(x):
        d = np.zeros((F, 6))
        d[free] = x[:nc].reshape(-1, 6)
        R_d = rotmat_from_axis_angle(d[:, :3])
        R = R_d @ R0
        tt = np.einsum('fij,fj->fi', R_d, t0) + d[:, 3:]
        return R, tt, x[nc:].reshape(P, 3), d

    def project(x):
        R, tt, X, d = unpack(x)
        return R, np.einsum('nij,nj->ni', R[obs_cam], X[obs_point]) + tt[obs_cam], d

    def residuals(x):
        _, p, _ = project(x)
        uv, _ = project_points(K, p, MIN_DEPTH)
        return ((uv - obs_uv_px) * sw[:, None]).ravel()

    def blocks(x):
        """Weighted Jacobian blocks of every observation: camera (O, 2, 6) and point (O, 2, 3)."""
        R, p, d = project(x)
        Jp = projection_jacobian(K, p, MIN_DEPTH) * sw[:, None, None]
        # d p / d omega = -[p - v]_x J_l(omega) (left Jacobian of SO(3)); d p / d v = I
        om = d[:, :3]
        th = np.linalg.norm(om, axis=1)
        Wx = skew_matrix(om)
        with np.errstate(divide='ignore', invalid='ignore'):
            a = np.where(th > 1e-8, (1 - np.cos(th)) / th ** 2, 0.5)
            b = np.where(th > 1e-8, (th - np.sin(th)) / th ** 3, 1.0 / 6.0)
        Jl = np.eye(3) + a[:, None, None] * Wx + b[:, None, None] * Wx @ Wx                 # (F, 3, 3)
        q = p - d[obs_cam, 3:]
        J_cam = np.concatenate([-Jp @ skew_matrix(q) @ Jl[obs_cam], Jp], axis=2)            # (O, 2, 6)
        return J_cam, Jp @ R[obs_cam]

    # sparsity pattern (fixed order, reused for the data of the analytic Jacobian)
    obs_rows = (np.arange(O)[:, None] * 2 + np.arange(2)[None, :])                   # (O, 2)
    cam_r = np.broadcast_to(obs_rows[has_cam][:, :, None], (int(has_cam.sum()), 2, 6)).ravel()
    cam_c = np.broadcast_to((6 * slot[has_cam])[:, None, None] + np.arange(6)[None, None, :],
                            (int(has_cam.sum()), 2, 6)).ravel()
    pt_r = np.broadcast_to(obs_rows[:, :, None], (O, 2, 3)).ravel()
    pt_c = np.broadcast_to((nc + 3 * obs_point)[:, None, None] + np.arange(3)[None, None, :], (O, 2, 3)).ravel()
    rows = np.concatenate([cam_r, pt_r])
    cols = np.concatenate([cam_c, pt_c])

    def jacobian(x):
        J_cam, J_pt = blocks(x)
        data = np.concatenate([J_cam[has_cam].ravel(), J_pt.ravel()])
        return coo_matrix((data, (rows, cols)), shape=(2 * O, len(x0))).tocsr()

    if solver == 'scipy':
        res = least_squares(residuals, x0, jac=jacobian, method='trf', loss='huber', f_scale=huber_px,
                            max_nfev=max_evaluations, x_scale=1.0, tr_solver='lsmr', verbose=0)
        x_opt, n_eval = res.x, int(res.nfev)
    elif solver == 'schur_lm':
        x_opt, n_eval = _schur_lm(residuals, blocks, x0, P, O, has_cam, slot, obs_point, len(free), huber_px,
                                  max_evaluations)
    else:
        raise ValueError(f'unknown BA solver {solver!r}; use one of {BA_SOLVERS}')
    R, tt, X, _ = unpack(x_opt)
    T_out = T_cam_world.copy()
    T_out[:, :3, :3] = R
    T_out[:, :3, 3] = tt
    r = residuals(x_opt).reshape(O, 2) / np.maximum(sw, 1e-9)[:, None]
    cost0 = float(0.5 * np.sum(_huber(residuals(x0) ** 2, huber_px)))
    cost1 = float(0.5 * np.sum(_huber(residuals(x_opt) ** 2, huber_px)))
    return BundleAdjustmentResult(T_out, X, np.linalg.norm(r, axis=1), cost0, cost1, n_eval)


def _schur_lm(residuals, blocks, x0, P, O, has_cam, slot, obs_point, nfree, huber_px, max_evaluations):
    """Levenberg-Marquardt on the BA problem with the Schur complement (IRLS Huber weights)."""
    x = x0.copy()
    r = residuals(x)
    cost = float(0.5 * np.sum(_huber(r ** 2, huber_px)))
    lam = 1e-3
    n_eval = 1
    while n_eval < max_evaluations:
        Jc, Jx = blocks(x)                                                          # (O, 2, 6), (O, 2, 3)
        rr = r.reshape(O, 2)
        e = np.linalg.norm(rr, axis=1)
        hw = np.where(e <= huber_px, 1.0, huber_px / np.maximum(e, 1e-12))        # IRLS Huber weights
        JcT = np.swapaxes(Jc, 1, 2) * hw[:, None, None]
        JxT = np.swapaxes(Jx, 1, 2) * hw[:, None, None]
        V = _sum_by(obs_point, JxT @ Jx, P)
        gp = _sum_by(obs_point, np.einsum('oij,oj->oi', JxT, rr), P)
        hc = has_cam
        if nfree:
            U = _sum_by(slot[hc], JcT[hc] @ Jc[hc], nfree)
            gc = _sum_by(slot[hc], np.einsum('oij,oj->oi', JcT[hc], rr[hc]), nfree)
            Wd = _sum_by(slot[hc] * P + obs_point[hc], JcT[hc] @ Jx[hc], nfree * P)         # (nfree*P, 6, 3)
            Wd = Wd.reshape(nfree, P, 6, 3).transpose(0, 2, 1, 3)
        while True:
            Vd = V + lam * (V * np.eye(3)) + 1e-9 * np.eye(3)
            Vinv = np.linalg.inv(Vd)
            if nfree:
                Ud = U + lam * (U * np.eye(6)) + 1e-9 * np.eye(6)
                Wm = Wd.reshape(6 * nfree, P, 3)
                WVi = np.einsum('cpi,pij->cpj', Wm, Vinv)                              # (6Fc, P, 3)
                S = np.zeros((6 * nfree, 6 * nfree))
                for k in range(nfree):
                    S[6 * k:6 * k + 6, 6 * k:6 * k + 6] = Ud[k]
                S -= WVi.reshape(6 * nfree, -1) @ Wm.reshape(6 * nfree, -1).T
                rhs = -gc.reshape(-1) + WVi.reshape(6 * nfree, -1) @ gp.reshape(-1)
                try:
                    dc = np.linalg.solve(S, rhs)
                except np.linalg.LinAlgError:
                    dc = np.zeros(6 * nfree)
                dp = -np.einsum('pij,pj->pi', Vinv, gp + np.einsum('cpi,c->pi', Wm, dc))
            else:
                dc = np.zeros(0)
                dp = -np.einsum('pij,pj->pi', Vinv, gp)
            x_new = x + np.concatenate([dc, dp.reshape(-1)])
            r_new = residuals(x_new)
            n_eval += 1
            cost_new = float(0.5 * np.sum(_huber(r_new ** 2, huber_px)))
            if cost_new < cost:
                x, r, cost = x_new, r_new, cost_new
                lam = max(lam / 3.0, 1e-7)
                break
            lam *= 4.0
            if n_eval >= max_evaluations or lam > 1e8:
                return x, n_eval
        if n_eval >= max_evaluations:
            break
    return x, n_eval


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum ``values`` (M, ...) into ``n`` bins by ``index`` (M,) (a fast ``np.add.at``)."""
    flat = values.reshape(len(index), -1)
    out = np.empty((n, flat.shape[1]))
    for c in range(flat.shape[1]):
        out[:, c] = np.bincount(index, weights=flat[:, c], minlength=n)
    return out.reshape((n,) + values.shape[1:])


def _huber(r2: np.ndarray, delta: float) -> np.ndarray:
    """scipy's 'huber' rho(r^2) scaled by f_scale^2 (as least_squares reports cost)."""
    z = r2 / delta ** 2
    return np.where(z <= 1, z, 2 * np.sqrt(z) - 1) * delta ** 2
