"""Pose refinement and local bundle adjustment (numpy / scipy), ROS-free.

Convention: camera poses are ``T_cam_world`` (4x4, maps world points into the
optical frame); residuals are reprojection errors in pixels multiplied by the
square root of each observation's weight (``1 - C_soft`` of its feature).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

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


@dataclass(frozen=True)
class PoseRefinement:
    """Output of :func:`refine_pose`.

    T_cam_world: (4, 4) refined pose (the input pose, or the last good iterate, when ``fallback`` is set).
    iterations: Gauss-Newton steps taken.
    fallback: why the refinement stopped before converging ('' when it did not): the pose is not
        observable from the weighted points (fewer than 3, or a singular / non-finite system).
    """

    T_cam_world: np.ndarray
    iterations: int
    fallback: str = ''


#: normal equations whose smallest eigenvalue is below this share of the largest are treated as singular
SINGULAR_RATIO = 1e-12


def refine_pose(K: np.ndarray, T_cam_world: np.ndarray, points_world: np.ndarray, uv_px: np.ndarray,
                weights: np.ndarray, huber_px: float = 2.0, iterations: int = 6) -> PoseRefinement:
    """Weighted, Huber-robust Gauss-Newton refinement of one camera pose (points fixed).

    Args:
        K: (3, 3) intrinsics. T_cam_world: (4, 4) initial pose.
        points_world: (N, 3). uv_px: (N, 2) observations. weights: (N,) in [0, 1].
    Returns:
        :class:`PoseRefinement`; a pose that is not observable is returned unrefined with the reason
        in ``fallback`` (never a step taken from a singular system).
    """
    R = T_cam_world[:3, :3].copy()
    t = T_cam_world[:3, 3].copy()
    n_weighted = int(np.sum(np.asarray(weights) > 0))
    if n_weighted < 3:
        return PoseRefinement(make_transform(R, t), 0, f'pose not observable: {n_weighted} weighted points '
                              '(need 3); pose left unrefined')
    fallback = ''
    k = 0
    for k in range(1, iterations + 1):
        p = points_world @ R.T + t
        uv, _ = project_points(K, p, MIN_DEPTH)
        r = uv - uv_px                                                      # (N, 2)
        e = np.linalg.norm(r, axis=1)
        hub = np.where(e <= huber_px, 1.0, huber_px / np.maximum(e, 1e-12))
        w = weights * hub
        J = _pose_jacobian(K, p).reshape(-1, 6)                             # (2N, 6)
        w2 = np.repeat(w, 2)
        H = (J * w2[:, None]).T @ J
        g = (J * w2[:, None]).T @ r.reshape(-1)
        if not (np.isfinite(H).all() and np.isfinite(g).all()):
            fallback = f'non-finite normal equations at step {k} (points or observations not finite)'
            break
        ev = np.linalg.eigvalsh(H)
        if ev[-1] <= 0 or ev[0] < SINGULAR_RATIO * ev[-1]:
            fallback = (f'singular normal equations at step {k} (rank {int(np.sum(ev > SINGULAR_RATIO * ev[-1]))} '
                        f'of 6: degenerate point geometry)')
            break
        delta = -np.linalg.solve(H + 1e-6 * np.eye(6), g)
        R_d = rotmat_from_axis_angle(delta[:3])
        R = R_d @ R
        t = R_d @ t + delta[3:]
        if np.linalg.norm(delta) < 1e-8:
            break
    if fallback:
        fallback += '; pose kept from the last good step' if k > 1 else '; pose left unrefined'
    return PoseRefinement(make_transform(R, t), k - 1 if fallback else k, fallback)


def _pose_jacobian(K: np.ndarray, p_cam: np.ndarray) -> np.ndarray:
    """(N, 2, 6) Jacobian of the projections of the camera-frame points ``p_cam`` (N, 3) with respect to a
    left perturbation ``(omega, v)`` of the pose at zero (``R <- exp(omega) R``, ``t <- exp(omega) t + v``)."""
    Jp = projection_jacobian(K, p_cam, MIN_DEPTH)
    return np.concatenate([Jp @ -skew_matrix(p_cam), Jp], axis=2)


@dataclass(frozen=True)
class BundleAdjustmentResult:
    """Output of :func:`local_bundle_adjustment`.

    T_cam_world: (F, 4, 4) refined poses (fixed ones unchanged).
    points_world: (P, 3) refined points.
    errors_px: (O,) final reprojection error per observation.
    cost_before, cost_after: robust cost (0.5 * sum rho(r^2)).
    n_evaluations: residual evaluations.
    fallback: what the solver could not do ('' when nothing): free cameras with fewer than 3
        weighted observations (not observable: held at their initial poses), or a singular camera
        system (that step updated the points only).
    """

    T_cam_world: np.ndarray
    points_world: np.ndarray
    errors_px: np.ndarray
    cost_before: float
    cost_after: float
    n_evaluations: int
    fallback: str = ''


BA_SOLVERS = ('schur_lm', 'scipy')


def local_bundle_adjustment(K: np.ndarray, T_cam_world: np.ndarray, fixed: np.ndarray, points_world: np.ndarray,
                            obs_cam: np.ndarray, obs_point: np.ndarray, obs_uv_px: np.ndarray,
                            obs_weight: np.ndarray, huber_px: float = 2.0,
                            max_evaluations: int = 10, solver: str = 'schur_lm') -> BundleAdjustmentResult:
    """Weighted, Huber-robust local bundle adjustment.

    Cameras are parametrised by a left perturbation ``(omega, v)`` of their
    initial pose (``R = exp(omega) R0``, ``t = exp(omega) t0 + v``), points by
    their coordinates; the Jacobian is analytic (checked against central
    differences in test/test_slam_optim.py, as is :func:`refine_pose`'s).

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
    pb = _ba_problem(K, T_cam_world, fixed, points_world, obs_cam, obs_point, obs_uv_px, obs_weight)
    P, O, notes, residuals, blocks, jacobian, unpack, x0, sw = (pb.P, pb.O, pb.notes, pb.residuals, pb.blocks,
                                                                 pb.jacobian, pb.unpack, pb.x0, pb.sw)
    if solver == 'scipy':
        res = least_squares(residuals, x0, jac=jacobian, method='trf', loss='huber', f_scale=huber_px,
                            max_nfev=max_evaluations, x_scale=1.0, tr_solver='lsmr', verbose=0)
        x_opt, n_eval = res.x, int(res.nfev)
    elif solver == 'schur_lm':
        x_opt, n_eval = _schur_lm(residuals, blocks, x0, P, O, pb.has_cam, pb.slot, obs_point, len(pb.free),
                                  huber_px, max_evaluations, notes)
    else:
        raise ValueError(f'unknown BA solver {solver!r}; use one of {BA_SOLVERS}')
    R, tt, X, _ = unpack(x_opt)
    T_out = T_cam_world.copy()
    T_out[:, :3, :3] = R
    T_out[:, :3, 3] = tt
    r = residuals(x_opt).reshape(O, 2) / np.maximum(sw, 1e-9)[:, None]
    cost0 = float(0.5 * np.sum(_huber(residuals(x0) ** 2, huber_px)))
    cost1 = float(0.5 * np.sum(_huber(residuals(x_opt) ** 2, huber_px)))
    return BundleAdjustmentResult(T_out, X, np.linalg.norm(r, axis=1), cost0, cost1, n_eval, '; '.join(notes))


class _BAProblem(SimpleNamespace):
    """The bundle-adjustment problem of :func:`local_bundle_adjustment` (see :func:`_ba_problem`)."""


def _ba_problem(K, T_cam_world, fixed, points_world, obs_cam, obs_point, obs_uv_px, obs_weight) -> _BAProblem:
    """Parameters, weighted residuals and their analytic Jacobian of a BA window.

    Returns a namespace with ``x0`` (free cameras' perturbations, zeros, then the points),
    ``residuals(x)`` (2O,), ``blocks(x)`` (camera (O, 2, 6) and point (O, 2, 3) Jacobian blocks),
    ``jacobian(x)`` (sparse (2O, len(x0))), ``unpack(x)`` -> (R, t, X, d), and the bookkeeping
    (``free``, ``slot``, ``has_cam``, ``sw``, ``P``, ``O``, ``notes``: cameras held because not observable).
    """
    F = T_cam_world.shape[0]
    P = points_world.shape[0]
    O = len(obs_cam)
    notes = []
    support = np.bincount(obs_cam[np.asarray(obs_weight) > 0], minlength=F)
    unobservable = ~np.asarray(fixed, bool) & (support < 3)
    if unobservable.any():
        notes.append(f'free cameras {np.flatnonzero(unobservable).tolist()} have fewer than 3 weighted observations '
                     f'({support[unobservable].tolist()}): not observable, held at their initial poses')
        fixed = np.asarray(fixed, bool) | unobservable
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

    return _BAProblem(P=P, O=O, notes=notes, free=free, slot=slot, has_cam=has_cam, sw=sw, x0=x0, unpack=unpack,
                      residuals=residuals, blocks=blocks, jacobian=jacobian)


def _schur_lm(residuals, blocks, x0, P, O, has_cam, slot, obs_point, nfree, huber_px, max_evaluations, notes):
    """Levenberg-Marquardt on the BA problem with the Schur complement (IRLS Huber weights).

    A step whose camera system cannot be solved updates the points only; that is appended to ``notes``.
    """
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
                    dc = np.full(6 * nfree, np.nan)
                if not np.isfinite(dc).all():
                    notes.append(f'singular camera system at evaluation {n_eval}: that step updated the points only')
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
