"""The one implementation of each piece of geometry used by onlinehmr_ros.

Conventions (named in identifiers, see STYLE.md):
    * ``T_a_b``: 4x4 homogeneous transform that maps coordinates in frame ``b``
      to frame ``a`` (``p_a = T_a_b @ p_b``). ``R_a_b``/``t_a_b`` are its parts.
    * Quaternions are unit quaternions; ``quat_wxyz`` is scalar-first (the
      OnlineHMR paper, roma, PyTorch3D), ``quat_xyzw`` is scalar-last (ROS
      geometry_msgs, scipy's default).
    * ``K`` is the 3x3 pinhole intrinsics matrix in pixels.
    * Camera frames are optical frames (REP-103: x right, y down, z forward).
    * Every function accepts any leading batch dimensions ``...`` unless its
      docstring says otherwise, and keeps the dtype of its input (float32 or
      float64).

Rotations go through ``scipy.spatial.transform.Rotation`` (a well-kept
library) rather than hand-written formulas.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


class GeometryError(ValueError):
    """Raised on geometrically invalid input (wrong shapes, degenerate data)."""


def _check_last(x: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.shape[x.ndim - len(shape):] != shape:
        raise GeometryError(f'{name} must have trailing shape {shape}, got {x.shape}')
    return x


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    dt = np.result_type(*arrays)
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


# ----------------------------------------------------------------------------
# Quaternions and rotation conversions
# ----------------------------------------------------------------------------
def quat_xyzw_to_wxyz(quat_xyzw: np.ndarray) -> np.ndarray:
    """(..., 4) scalar-last -> (..., 4) scalar-first."""
    q = _check_last(quat_xyzw, (4,), 'quat_xyzw')
    return q[..., [3, 0, 1, 2]]


def quat_wxyz_to_xyzw(quat_wxyz: np.ndarray) -> np.ndarray:
    """(..., 4) scalar-first -> (..., 4) scalar-last."""
    q = _check_last(quat_wxyz, (4,), 'quat_wxyz')
    return q[..., [1, 2, 3, 0]]


def _apply_rotation(fn, x: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
    lead = x.shape[: x.ndim - len(in_shape)]
    dt = _float_dtype(x)
    flat = x.reshape((-1,) + in_shape).astype(np.float64)
    out = fn(flat) if flat.shape[0] else np.zeros((0,) + out_shape)
    return np.asarray(out).reshape(lead + out_shape).astype(dt)


def rotmat_from_quat_wxyz(quat_wxyz: np.ndarray) -> np.ndarray:
    """(..., 4) unit quaternion (w, x, y, z) -> (..., 3, 3) rotation matrix."""
    q = _check_last(quat_wxyz, (4,), 'quat_wxyz')
    return _apply_rotation(lambda f: Rotation.from_quat(f, scalar_first=True).as_matrix(), q, (4,), (3, 3))


def quat_wxyz_from_rotmat(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrix -> (..., 4) unit quaternion (w, x, y, z), w >= 0."""
    R = _check_last(R, (3, 3), 'R')
    q = _apply_rotation(lambda f: Rotation.from_matrix(f).as_quat(scalar_first=True, canonical=True), R, (3, 3), (4,))
    return q


def rotmat_from_axis_angle(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle (rad) -> (..., 3, 3) rotation matrix."""
    a = _check_last(axis_angle, (3,), 'axis_angle')
    return _apply_rotation(lambda f: Rotation.from_rotvec(f).as_matrix(), a, (3,), (3, 3))


def axis_angle_from_rotmat(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrix -> (..., 3) axis-angle (rad), angle in [0, pi]."""
    R = _check_last(R, (3, 3), 'R')
    return _apply_rotation(lambda f: Rotation.from_matrix(f).as_rotvec(), R, (3, 3), (3,))


def rotmat_aligning_vectors(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Smallest rotation R with ``R @ source/|source| == target/|target|``.

    Args:
        source: (..., 3) non-zero vectors.
        target: (..., 3) non-zero vectors (broadcast against ``source``).

    Returns:
        (..., 3, 3) rotation matrices. For opposite vectors the rotation is by
        pi about an axis perpendicular to ``source``.

    Raises:
        GeometryError: a zero-length vector.
    """
    a = _check_last(source, (3,), 'source')
    b = _check_last(target, (3,), 'target')
    a, b = np.broadcast_arrays(a, b)
    dt = _float_dtype(a, b)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    if np.any(na == 0) or np.any(nb == 0):
        raise GeometryError('rotmat_aligning_vectors needs non-zero vectors')
    a = a.astype(np.float64) / na
    b = b.astype(np.float64) / nb
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1, keepdims=True)
    c = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(s, c)
    # Antiparallel (or parallel) vectors: any axis perpendicular to a.
    helper = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    perp = np.cross(a, helper)
    perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
    safe = s > 1e-12
    unit_axis = np.where(safe, axis / np.where(safe, s, 1.0), perp)
    return rotmat_from_axis_angle(unit_axis * angle).astype(dt)


def quat_hemisphere_align(quat: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Flip the sign of ``quat`` where its inner product with ``reference`` is negative.

    q and -q are the same rotation; blending (LERP) needs both on one hemisphere.
    Works for either component order as long as both arguments use the same one.
    """
    q = _check_last(quat, (4,), 'quat')
    r = _check_last(reference, (4,), 'reference')
    sign = np.where(np.sum(q * r, axis=-1, keepdims=True) < 0, -1.0, 1.0).astype(_float_dtype(q))
    return q * sign


def slerp_rotmat(R_from: np.ndarray, R_to: np.ndarray, fraction: float) -> np.ndarray:
    """(..., 3, 3) rotations ``fraction`` of the way from ``R_from`` to ``R_to`` along the shortest arc
    (``R_from exp(fraction log(R_from^T R_to))``, element-wise over the leading axes)."""
    A = _check_last(np.asarray(R_from, np.float64), (3, 3), 'R_from')
    B = _check_last(np.asarray(R_to, np.float64), (3, 3), 'R_to')
    d = axis_angle_from_rotmat(np.swapaxes(A, -1, -2) @ B)
    return A @ rotmat_from_axis_angle(float(fraction) * d)


def skew_matrix(v: np.ndarray) -> np.ndarray:
    """(..., 3) vectors -> (..., 3, 3) cross-product matrices ``[v]_x`` (``[v]_x @ w = v x w``)."""
    v = _check_last(v, (3,), 'v')
    S = np.zeros(v.shape[:-1] + (3, 3), dtype=_float_dtype(v))
    S[..., 0, 1], S[..., 0, 2] = -v[..., 2], v[..., 1]
    S[..., 1, 0], S[..., 1, 2] = v[..., 2], -v[..., 0]
    S[..., 2, 0], S[..., 2, 1] = -v[..., 1], v[..., 0]
    return S


def so3_right_jacobian(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) right Jacobian ``J_r`` of the exponential map.

    ``R(theta + d) ~= R(theta) exp([J_r(theta) d]_x)`` to first order:
    ``J_r = I - (1 - cos t) / t^2 [theta]_x + (t - sin t) / t^3 [theta]_x^2`` with ``t = |theta|``
    (Taylor series below 1e-4 rad).
    """
    a = _check_last(axis_angle, (3,), 'axis_angle')
    t = np.linalg.norm(a, axis=-1)[..., None, None]
    small = t < 1e-4
    ts = np.where(small, 1.0, t)
    c1 = np.where(small, 0.5 - t ** 2 / 24.0, (1.0 - np.cos(ts)) / ts ** 2)
    c2 = np.where(small, 1.0 / 6.0 - t ** 2 / 120.0, (ts - np.sin(ts)) / ts ** 3)
    S = skew_matrix(a)
    return (np.eye(3) - c1 * S + c2 * (S @ S)).astype(_float_dtype(a))


# ----------------------------------------------------------------------------
# Rigid / similarity transforms
# ----------------------------------------------------------------------------
def make_transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation, (..., 3) translation -> (..., 4, 4) homogeneous transform."""
    R = _check_last(R, (3, 3), 'R')
    t = _check_last(t, (3,), 't')
    lead = np.broadcast_shapes(R.shape[:-2], t.shape[:-1])
    T = np.zeros(lead + (4, 4), dtype=_float_dtype(R, t))
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def invert_transform(T_a_b: np.ndarray) -> np.ndarray:
    """(..., 4, 4) rigid transform T_a_b -> T_b_a (uses R^T, not a general inverse)."""
    T = _check_last(T_a_b, (4, 4), 'T_a_b')
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    R_inv = np.swapaxes(R, -1, -2)
    return make_transform(R_inv, -np.einsum('...ij,...j->...i', R_inv, t))


def interpolate_transform(T_a_b0: np.ndarray, T_a_b1: np.ndarray, fraction: float) -> np.ndarray:
    """Rigid transform a fraction of the way from ``T_a_b0`` to ``T_a_b1`` (as tf2 interpolates).

    The translation is interpolated linearly, the rotation along the shortest arc (SLERP).

    Args:
        T_a_b0, T_a_b1: (4, 4) rigid transforms.
        fraction: 0 gives ``T_a_b0``, 1 gives ``T_a_b1``.
    Returns:
        (4, 4) transform, float64.
    """
    from scipy.spatial.transform import Slerp
    T0 = _check_last(T_a_b0, (4, 4), 'T_a_b0').astype(np.float64)
    T1 = _check_last(T_a_b1, (4, 4), 'T_a_b1').astype(np.float64)
    f = float(fraction)
    R = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([T0[:3, :3], T1[:3, :3]])))([f]).as_matrix()[0]
    return make_transform(R, (1.0 - f) * T0[:3, 3] + f * T1[:3, 3])


def yaw_aligning_cameras(T_world_cam_to: np.ndarray, T_other_cam_from: np.ndarray) -> np.ndarray:
    """The rotation about z plus translation that moves a camera pose onto another in a z-up world.

    Both frames are z-up (REP-103), so they differ by a heading and an offset only: the result
    ``T_world_other`` (4, 4) maps ``T_other_cam_from`` to the heading (the optical axis, z of the camera,
    projected on the ground) and position of ``T_world_cam_to``. The camera's tilt is left as it is in
    ``other``. A camera looking straight up or down has no heading: its image x axis is used instead.

    Args:
        T_world_cam_to: (4, 4) the pose to continue from (world frame).
        T_other_cam_from: (4, 4) the same camera's pose in the other z-up frame (same instant).
    """
    def heading(R):
        # the optical axis's heading; for a level camera the image x axis points 90 deg to its right
        for axis, offset in ((R[:, 2], 0.0), (R[:, 0], np.pi / 2)):
            if np.hypot(axis[0], axis[1]) > 1e-3:
                return float(np.arctan2(axis[1], axis[0])) + offset
        return 0.0

    Ta = _check_last(T_world_cam_to, (4, 4), 'T_world_cam_to').astype(np.float64)
    Tb = _check_last(T_other_cam_from, (4, 4), 'T_other_cam_from').astype(np.float64)
    yaw = heading(Ta[:3, :3]) - heading(Tb[:3, :3])
    c, s = np.cos(yaw), np.sin(yaw)
    Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return make_transform(Rz, Ta[:3, 3] - Rz @ Tb[:3, 3])


def transform_points(T_a_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Map points from frame b to frame a.

    Args:
        T_a_b: (..., 4, 4) transform.
        points_b: (..., N, 3) points in frame b.
    Returns:
        (..., N, 3) points in frame a.
    """
    T = _check_last(T_a_b, (4, 4), 'T_a_b')
    p = _check_last(points_b, (3,), 'points_b')
    return np.einsum('...ij,...nj->...ni', T[..., :3, :3], p) + T[..., None, :3, 3]


def similarity_transform_points(scale: np.ndarray | float, R: np.ndarray, t: np.ndarray,
                                points: np.ndarray) -> np.ndarray:
    """Apply ``x -> scale * R @ x + t`` to (..., N, 3) points (R: (..., 3, 3), t: (..., 3))."""
    s = np.asarray(scale)[..., None, None]
    return s * np.einsum('...ij,...nj->...ni', R, points) + np.asarray(t)[..., None, :]


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True,
            weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity (or rigid) transform between point sets (Umeyama 1991).

    Finds ``s, R, t`` minimising ``sum_n w_n |target_n - (s R source_n + t)|^2``.
    This is the single Procrustes/Umeyama implementation of the project (used by
    PA-MPJPE, W/WA-MPJPE, ATE, the SLAM scale and the tests).

    Args:
        source: (..., N, 3) points.
        target: (..., N, 3) points, same shape.
        with_scale: estimate the scale (Sim(3)); if False, s = 1 (SE(3)).
        weights: optional (..., N) non-negative weights.
    Returns:
        scale (...,), R (..., 3, 3) proper rotation (det +1), t (..., 3).
    Raises:
        GeometryError: shapes differ, fewer than 3 points, or zero total weight.
    """
    src = _check_last(source, (3,), 'source')
    dst = _check_last(target, (3,), 'target')
    if src.shape != dst.shape:
        raise GeometryError(f'source {src.shape} and target {dst.shape} must have the same shape')
    if src.shape[-2] < 3:
        raise GeometryError(f'umeyama needs at least 3 points, got {src.shape[-2]}')
    dt = _float_dtype(src, dst)
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    if weights is None:
        w = np.ones(src.shape[:-1])
    else:
        w = np.broadcast_to(np.asarray(weights, dtype=np.float64), src.shape[:-1])
    w_sum = w.sum(axis=-1, keepdims=True)
    if np.any(w_sum <= 0):
        raise GeometryError('umeyama weights sum to zero')
    w = w / w_sum
    mu_src = np.einsum('...n,...ni->...i', w, src)
    mu_dst = np.einsum('...n,...ni->...i', w, dst)
    src_c = src - mu_src[..., None, :]
    dst_c = dst - mu_dst[..., None, :]
    cov = np.einsum('...n,...ni,...nj->...ij', w, dst_c, src_c)
    U, D, Vt = np.linalg.svd(cov)
    S = np.ones(D.shape)
    S[..., 2] = np.where(np.linalg.det(U) * np.linalg.det(Vt) < 0, -1.0, 1.0)
    R = np.einsum('...ij,...j,...jk->...ik', U, S, Vt)
    if with_scale:
        var_src = np.einsum('...n,...ni,...ni->...', w, src_c, src_c)
        scale = np.einsum('...i,...i->...', D, S) / np.maximum(var_src, 1e-300)
    else:
        scale = np.ones(src.shape[:-2])
    t = mu_dst - scale[..., None] * np.einsum('...ij,...j->...i', R, mu_src)
    return scale.astype(dt), R.astype(dt), t.astype(dt)


def T_world_cam_metric(quat_wxyz: np.ndarray, t_world_cam: np.ndarray, scale: np.ndarray | float = 1.0
                       ) -> np.ndarray:
    """OnlineHMR's world transform ``M_w = R(q) M_c + s t`` as a matrix (the project's one).

    Args:
        quat_wxyz: (..., 4) camera-to-world rotation ``q``.
        t_world_cam: (..., 3) camera centre in SLAM units ``t``.
        scale: (...) metres per SLAM unit ``s``.
    Returns:
        (..., 4, 4) ``T_world_cam`` with the metric translation ``s t`` (float64).
    """
    t = np.asarray(scale, dtype=np.float64)[..., None] * np.asarray(t_world_cam, dtype=np.float64)
    return make_transform(rotmat_from_quat_wxyz(np.asarray(quat_wxyz, dtype=np.float64)), t)


def look_at_T_world_cam(eye_world: np.ndarray, target_world: np.ndarray,
                        up_world: np.ndarray = (0.0, 0.0, 1.0), roll_rad: np.ndarray | float = 0.0) -> np.ndarray:
    """Camera-to-world pose of an optical-frame camera at ``eye`` looking at ``target``.

    The optical frame (x right, y down, z forward) is built so that z points at
    the target and x is horizontal with respect to ``up_world`` (no roll), then
    rotated by ``roll_rad`` about the viewing axis (positive turns the image
    clockwise as seen by the camera).

    Args:
        eye_world: (..., 3) camera centre, metres.
        target_world: (..., 3) point looked at.
        up_world: (3,) world up direction (REP-103: +z).
        roll_rad: (...) roll about the optical axis.
    Returns:
        (..., 4, 4) ``T_world_cam``.
    Raises:
        GeometryError: eye and target coincide, or the view direction is parallel to ``up_world``.
    """
    eye = _check_last(eye_world, (3,), 'eye_world').astype(np.float64)
    target = _check_last(target_world, (3,), 'target_world').astype(np.float64)
    up = np.broadcast_to(np.asarray(up_world, dtype=np.float64), np.broadcast_shapes(eye.shape, target.shape))
    z = target - eye
    nz = np.linalg.norm(z, axis=-1, keepdims=True)
    if np.any(nz < 1e-12):
        raise GeometryError('look_at: eye and target coincide')
    z = z / nz
    x = np.cross(z, up)
    nx = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(nx < 1e-9):
        raise GeometryError('look_at: the view direction is parallel to up_world')
    x = x / nx
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=-1)
    roll = np.asarray(roll_rad, dtype=np.float64)
    if np.any(roll != 0):
        c, s = np.cos(roll), np.sin(roll)
        R_roll = np.zeros(roll.shape + (3, 3))
        R_roll[..., 0, 0], R_roll[..., 0, 1] = c, -s
        R_roll[..., 1, 0], R_roll[..., 1, 1] = s, c
        R_roll[..., 2, 2] = 1.0
        R = R @ R_roll
    return make_transform(R, np.broadcast_to(eye, R.shape[:-1]))


# ----------------------------------------------------------------------------
# Pinhole camera
# ----------------------------------------------------------------------------
def intrinsics_from_fov(width_px: int, height_px: int, hfov_deg: float) -> np.ndarray:
    """Pinhole ``K`` (3x3, float64) for a horizontal field of view, principal point at the centre."""
    if not (0.0 < hfov_deg < 180.0):
        raise GeometryError(f'horizontal field of view must be in (0, 180) degrees, got {hfov_deg}')
    if width_px <= 0 or height_px <= 0:
        raise GeometryError(f'image size must be positive, got {width_px}x{height_px}')
    f = 0.5 * width_px / np.tan(0.5 * np.deg2rad(hfov_deg))
    return np.array([[f, 0.0, 0.5 * width_px], [0.0, f, 0.5 * height_px], [0.0, 0.0, 1.0]])


def _is_torch(x) -> bool:
    return type(x).__module__.startswith('torch')


def guarded_depth(z, min_depth_m: float):
    """Depths closer to zero than ``min_depth_m`` moved to ``+-min_depth_m`` (sign kept, +0 -> +).

    The depth solvers and losses divide by: finite everywhere, equal to ``z`` wherever
    ``|z| >= min_depth_m`` (numpy arrays or torch tensors).
    """
    if _is_torch(z):
        import torch
        return torch.where(z.abs() < min_depth_m, torch.where(z < 0, -min_depth_m, min_depth_m), z)
    return np.where(np.abs(z) < min_depth_m, np.where(z < 0, -min_depth_m, min_depth_m), z)


def project_points(K, points_cam, min_depth_m: float | None = None):
    """Project camera-frame points with a pinhole model (the project's one projection).

    Takes numpy arrays, or torch tensors for a differentiable projection (training losses).

    Args:
        K: (3, 3) or (..., 3, 3) intrinsics (pixels; the skew ``K[0, 1]`` is used).
        points_cam: (..., N, 3) points in the optical frame (metres).
        min_depth_m: None: points with depth <= 0 project to NaN (drawing, visibility). A
            positive number: depths are guarded with :func:`guarded_depth`, so every point
            projects to finite pixels (solvers, losses).
    Returns:
        uv_px: (..., N, 2) pixel coordinates, in the dtype of ``points_cam`` (float64 for ints).
        depth_m: (..., N) z coordinates (unguarded).
    """
    torch_in = _is_torch(points_cam)
    if not torch_in:
        K = _check_last(K, (3, 3), 'K')
        p = _check_last(points_cam, (3,), 'points_cam')
    else:
        p = points_cam
    z = p[..., 2]
    zd = z if min_depth_m is None else guarded_depth(z, min_depth_m)
    with np.errstate(divide='ignore', invalid='ignore'):
        x = p[..., 0] / zd
        y = p[..., 1] / zd
    u = K[..., 0, 0, None] * x + K[..., 0, 1, None] * y + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * y + K[..., 1, 2, None]
    if torch_in:
        import torch
        uv = torch.stack([u, v], dim=-1)
        if min_depth_m is None:
            uv = torch.where((z > 0)[..., None], uv, torch.full_like(uv, float('nan')))
        return uv, z
    uv = np.stack([u, v], axis=-1)
    if min_depth_m is None:
        uv = np.where((z > 0)[..., None], uv, np.nan)
    return uv.astype(_float_dtype(p)), z


def projection_jacobian(K: np.ndarray, points_cam: np.ndarray, min_depth_m: float) -> np.ndarray:
    """Derivative of :func:`project_points` (with ``min_depth_m``) with respect to the point.

    Args:
        K: (3, 3) intrinsics.
        points_cam: (..., 3) points in the optical frame.
        min_depth_m: depth guard, as in :func:`project_points` (the guarded depth is used in the
            formulas: a finite slope where the projection itself is clamped).
    Returns:
        (..., 2, 3) ``d(u, v) / d(x, y, z)``.
    """
    K = _check_last(K, (3, 3), 'K')
    p = _check_last(points_cam, (3,), 'points_cam')
    z = guarded_depth(p[..., 2], min_depth_m)
    fx, s, fy = K[0, 0], K[0, 1], K[1, 1]
    J = np.zeros(p.shape[:-1] + (2, 3), dtype=_float_dtype(p))
    J[..., 0, 0] = fx / z
    J[..., 0, 1] = s / z
    J[..., 0, 2] = -(fx * p[..., 0] + s * p[..., 1]) / z ** 2
    J[..., 1, 1] = fy / z
    J[..., 1, 2] = -fy * p[..., 1] / z ** 2
    return J


def backproject_pixels(K: np.ndarray, uv_px: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
    """Inverse of :func:`project_points`: (..., N, 2) pixels and (..., N) depths -> (..., N, 3)."""
    K = _check_last(K, (3, 3), 'K')
    uv = _check_last(uv_px, (2,), 'uv_px')
    fx, fy, cx, cy = K[..., 0, 0, None], K[..., 1, 1, None], K[..., 0, 2, None], K[..., 1, 2, None]
    y = (uv[..., 1] - cy) / fy
    x = (uv[..., 0] - cx - K[..., 0, 1, None] * y) / fx
    return np.stack([x * depth_m, y * depth_m, depth_m], axis=-1)


def translation_from_2d3d(K: np.ndarray, points_3d: np.ndarray, uv_px: np.ndarray,
                          weights: np.ndarray | None = None, iterations: int = 2) -> np.ndarray:
    """Camera-frame translation ``t`` that projects ``points_3d + t`` onto ``uv_px`` (rotation known).

    Solves the linear system ``u (Z + tz) = fx (X + tx) + s (Y + ty) + cx (Z + tz)`` (and the same
    for v) in weighted least squares, then re-weights each row by the inverse depth of the previous
    solution (``iterations`` times) so that the residual approaches the reprojection error in pixels.

    Args:
        K: (3, 3) intrinsics, pixels.
        points_3d: (N, 3) points already rotated into the camera frame, relative to the unknown origin, metres.
        uv_px: (N, 2) their pixels.
        weights: (N,) non-negative confidences (zero drops a point).
        iterations: inverse-depth re-weighting passes after the algebraic solution.
    Returns:
        (3,) translation, metres (float64).
    Raises:
        GeometryError: fewer than 2 points with positive weight, or a degenerate system.
    """
    K = _check_last(K, (3, 3), 'K').astype(np.float64)
    X = _check_last(points_3d, (3,), 'points_3d').astype(np.float64).reshape(-1, 3)
    uv = _check_last(uv_px, (2,), 'uv_px').astype(np.float64).reshape(-1, 2)
    if len(X) != len(uv):
        raise GeometryError(f'points_3d ({len(X)}) and uv_px ({len(uv)}) must have the same length')
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    ok = (w > 0) & np.all(np.isfinite(X), axis=1) & np.all(np.isfinite(uv), axis=1)
    if ok.sum() < 2:
        raise GeometryError(f'translation_from_2d3d needs >= 2 finite points with positive weight, got {ok.sum()}')
    X, uv, w = X[ok], uv[ok], w[ok]
    fx, s, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    n = len(X)
    # rows: A t = b
    A = np.zeros((2 * n, 3))
    b = np.zeros(2 * n)
    A[:n, 0] = fx
    A[:n, 1] = s
    A[:n, 2] = cx - uv[:, 0]
    b[:n] = uv[:, 0] * X[:, 2] - fx * X[:, 0] - s * X[:, 1] - cx * X[:, 2]
    A[n:, 1] = fy
    A[n:, 2] = cy - uv[:, 1]
    b[n:] = uv[:, 1] * X[:, 2] - fy * X[:, 1] - cy * X[:, 2]
    row_w = np.concatenate([w, w])
    t = None
    for _ in range(iterations + 1):
        sw = np.sqrt(row_w)
        t, *_ = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)
        depth = X[:, 2] + t[2]
        if np.any(depth <= 1e-6):
            break
        row_w = np.concatenate([w, w]) / np.concatenate([depth, depth]) ** 2
    if t is None or not np.all(np.isfinite(t)):
        raise GeometryError('translation_from_2d3d: degenerate system')
    return t
