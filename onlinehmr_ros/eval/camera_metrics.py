"""Camera-branch metrics against ground truth: orientation jumps, orientation and gravity errors, ATE.

Conventions: ``R_world_cam`` are camera-to-world rotations (optical frame), the
estimate in the pipeline's world and the truth in the generator's world (z up).
The two worlds differ by an unknown rigid motion, so every orientation metric
is built from the per-frame *world alignment*

    A_i = R_gt[i] R_est[i]^T          (estimated world -> true world, seen from frame i)

which is constant over time for a perfect estimate (any fixed world choice),
and whose changes are the estimate's orientation errors:

* **orientation jump** (deg): ``angle(A_i A_{i-1}^T)`` between consecutive
  frames; its maximum is the largest single-frame change of the orientation
  error. It equals the rotation error of the frame-to-frame relative camera
  motion (RPE, rotation part, delta = 1 frame). A SLAM (re)initialisation that
  swaps the world frame shows as one large jump.
* **orientation error after one best-fit rotation** (deg): the single rotation
  ``A`` minimising ``sum_i ||R_gt[i] - A R_est[i]||_F^2`` (the chordal mean of the
  ``A_i``), then ``angle(A^T A_i)`` per frame. ``A`` is found with the project's
  one Umeyama (:func:`~onlinehmr_ros.core.common.geometry.umeyama`, rigid, no scale)
  on the point pairs ``+-R_est[i] e_k -> +-R_gt[i] e_k`` (the +- copies put the
  centroids at the origin, so its translation is zero and its rotation is the
  Frobenius optimum).
* **gravity error** (deg): the angle between the estimated world's z axis,
  carried into the true world (``A_i e_z``), and the true up ``e_z``. Needs
  no alignment: a gravity-aligned estimate has 0 whatever its yaw.

ATE / ATE-S (TRAM, :func:`~onlinehmr_ros.eval.metrics.camera_ate`) use the
camera centres of the frames where SLAM reports tracking; the Sim(3) scale of
that alignment (estimate -> truth, 1 for a correct metric scale) is reported
per sequence.

* **position jump** (m): the largest single-frame change of the position error, ``|s R (c_i - c_{i-1}) -
  (g_i - g_{i-1})|`` over consecutive tracked frames with the ATE's Sim(3) ``(s, R)``: a camera that
  teleports for a frame and comes back shows here even when the ATE (a mean) barely moves (translation
  RPE, delta = 1 frame, maximum). With the orientation jump it is what "no jump" means for a robot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.eval import metrics
from onlinehmr_ros.core.common.geometry import umeyama

#: below this ground-truth camera path length (m) the Sim(3) scale and ATE in % are undefined (static camera)
MIN_PATH_FOR_SCALE_M = 0.2


class CameraMetricsError(ValueError):
    """Rotations or positions of the wrong shape, or too few frames."""


def _rotations(R: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(R, dtype=np.float64)
    if a.ndim != 3 or a.shape[1:] != (3, 3) or a.shape[0] < 1:
        raise CameraMetricsError(f'{name} must have shape (frames, 3, 3), got {a.shape}')
    if not np.all(np.isfinite(a)):
        raise CameraMetricsError(f'{name} contains NaN or inf')
    return a


def rotation_angle_deg(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (...) rotation angles in degrees (robust near 0 and 180)."""
    R = np.asarray(R, dtype=np.float64)
    cos = (np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0
    skew = np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    sin = np.linalg.norm(skew, axis=-1) / 2.0
    return np.degrees(np.arctan2(sin, cos))


def world_alignment(R_world_cam_est: np.ndarray, R_world_cam_gt: np.ndarray) -> np.ndarray:
    """(F, 3, 3) ``A_i = R_gt[i] R_est[i]^T``: estimated world -> true world per frame."""
    Re = _rotations(R_world_cam_est, 'R_world_cam_est')
    Rg = _rotations(R_world_cam_gt, 'R_world_cam_gt')
    if Re.shape != Rg.shape:
        raise CameraMetricsError(f'estimate {Re.shape} and truth {Rg.shape} must have the same shape')
    return Rg @ np.swapaxes(Re, -1, -2)


def orientation_jumps_deg(R_world_cam_est: np.ndarray, R_world_cam_gt: np.ndarray) -> np.ndarray:
    """(F-1,) change of the orientation error between consecutive frames, degrees (module docstring)."""
    A = world_alignment(R_world_cam_est, R_world_cam_gt)
    if A.shape[0] < 2:
        raise CameraMetricsError('orientation jumps need at least 2 frames')
    return rotation_angle_deg(A[1:] @ np.swapaxes(A[:-1], -1, -2))


def best_fit_world_rotation(R_world_cam_est: np.ndarray, R_world_cam_gt: np.ndarray) -> np.ndarray:
    """(3, 3) the one rotation ``A`` minimising ``sum_i |R_gt[i] - A R_est[i]|_F^2`` (module docstring)."""
    Re = _rotations(R_world_cam_est, 'R_world_cam_est')
    Rg = _rotations(R_world_cam_gt, 'R_world_cam_gt')
    src = np.swapaxes(Re, -1, -2).reshape(-1, 3)        # columns R e_k as points
    dst = np.swapaxes(Rg, -1, -2).reshape(-1, 3)
    _, A, _ = umeyama(np.concatenate([src, -src]), np.concatenate([dst, -dst]), with_scale=False)
    return A


def orientation_errors_after_best_rotation_deg(R_world_cam_est: np.ndarray, R_world_cam_gt: np.ndarray
                                               ) -> np.ndarray:
    """(F,) per-frame orientation error after the one best-fit world rotation, degrees."""
    A = best_fit_world_rotation(R_world_cam_est, R_world_cam_gt)
    return rotation_angle_deg(A.T @ world_alignment(R_world_cam_est, R_world_cam_gt))


def gravity_errors_deg(R_world_cam_est: np.ndarray, R_world_cam_gt: np.ndarray,
                       up_world: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """(F,) angle between the estimated world's up axis and the true up, degrees (both worlds z up)."""
    up = np.asarray(up_world, dtype=np.float64)
    est_up_in_truth = world_alignment(R_world_cam_est, R_world_cam_gt) @ up
    # atan2 of sine and cosine: accurate near 0 (arccos is not, e.g. for float32 input)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(est_up_in_truth, up), axis=-1), est_up_in_truth @ up))


def position_jump(c_est: np.ndarray, c_gt: np.ndarray, tracking: np.ndarray) -> tuple[float, int]:
    """Largest single-frame change of the position error (m) and the frame it lands on (module docstring):
    the estimate's steps between consecutive tracked frames, carried into the true world by the Sim(3) of the
    tracked centres, against the true steps. (nan, -1) without two consecutive tracked frames.

    Args:
        c_est, c_gt: (F, 3) camera centres, estimate and truth; tracking: (F,) bool.
    """
    c_est, c_gt = np.asarray(c_est, np.float64), np.asarray(c_gt, np.float64)
    trk = np.asarray(tracking, bool)
    pairs = np.flatnonzero(trk[1:] & trk[:-1]) + 1          # frames i with i-1 and i tracked
    if trk.sum() < 3 or not len(pairs):
        return math.nan, -1
    s, R, _ = umeyama(c_est[trk], c_gt[trk], with_scale=True)
    step_est = s * (c_est[pairs] - c_est[pairs - 1]) @ R.T
    err = np.linalg.norm(step_est - (c_gt[pairs] - c_gt[pairs - 1]), axis=1)
    k = int(np.argmax(err))
    return float(err[k]), int(pairs[k])


@dataclass(frozen=True)
class CameraBranchMetrics:
    """One sequence's camera-branch figures (NaN where undefined; ``notes`` says why)."""
    orientation_jump_max_deg: float
    orientation_jump_frame: int            # frame index at which the largest jump lands
    position_jump_max_m: float             # largest single-frame change of the position error (tracked frames, Sim(3))
    position_jump_frame: int               # frame index at which it lands (-1: undefined)
    orientation_error_mean_deg: float      # after one best-fit rotation
    orientation_error_max_deg: float
    gravity_error_mean_deg: float
    gravity_error_max_deg: float
    ate_m: float                           # Sim(3), tracked frames
    ate_s_m: float                         # SE(3), tracked frames
    ate_pct: float                         # ATE / ground-truth camera path length, %
    ate_s_pct: float
    sim3_scale: float                      # estimate -> truth (1 = correct metric scale)
    ate_s_over_ate: float
    tracked_fraction: float                # frames with a tracked pose
    path_length_m: float                   # ground-truth camera path
    notes: tuple[str, ...] = ()


def camera_branch_metrics(T_world_cam_est: np.ndarray, tracking: np.ndarray, T_world_cam_gt: np.ndarray
                          ) -> CameraBranchMetrics:
    """Camera-branch metrics of one sequence.

    Orientation and gravity metrics use every frame's published pose (the pose the world output was
    made with, tracked or held); ATE, ATE-S and the scale use the tracked frames only (TRAM).

    Args:
        T_world_cam_est: (F, 4, 4) estimated camera-to-world with metric translation (``R(q)``, ``s t``).
        tracking: (F,) bool, SLAM tracked the frame.
        T_world_cam_gt: (F, 4, 4) ground truth.
    """
    Te = np.asarray(T_world_cam_est, np.float64)
    Tg = np.asarray(T_world_cam_gt, np.float64)
    trk = np.asarray(tracking, bool)
    if Te.shape != Tg.shape or Te.ndim != 3 or Te.shape[1:] != (4, 4) or trk.shape != (Te.shape[0],):
        raise CameraMetricsError(f'need (F, 4, 4) poses and (F,) tracking of equal F, got {Te.shape}, {Tg.shape}, '
                                 f'{trk.shape}')
    notes = []
    jumps = orientation_jumps_deg(Te[:, :3, :3], Tg[:, :3, :3])
    rot = orientation_errors_after_best_rotation_deg(Te[:, :3, :3], Tg[:, :3, :3])
    grav = gravity_errors_deg(Te[:, :3, :3], Tg[:, :3, :3])
    length = metrics.path_length(Tg[:, :3, 3])
    nan = math.nan
    ate = ate_s = scale = pos_jump = nan
    pos_jump_frame = -1
    if trk.sum() >= 3:
        ate = metrics.camera_ate(Te[trk, :3, 3], Tg[trk, :3, 3], with_scale=True)
        ate_s = metrics.camera_ate(Te[trk, :3, 3], Tg[trk, :3, 3], with_scale=False).mean
        scale, ate = ate.scale, ate.mean
        pos_jump, pos_jump_frame = position_jump(Te[:, :3, 3], Tg[:, :3, 3], trk)
    else:
        notes.append(f'SLAM tracked {int(trk.sum())} frames; no ATE')
    if length < MIN_PATH_FOR_SCALE_M:
        notes.append(f'camera path {length:.2f} m < {MIN_PATH_FOR_SCALE_M} m (static): no scale, no ATE %')
        scale = nan
    pct = (lambda x: 100.0 * x / length) if length >= MIN_PATH_FOR_SCALE_M else (lambda x: nan)
    return CameraBranchMetrics(
        orientation_jump_max_deg=float(jumps.max()), orientation_jump_frame=int(np.argmax(jumps)) + 1,
        position_jump_max_m=float(pos_jump), position_jump_frame=int(pos_jump_frame),
        orientation_error_mean_deg=float(rot.mean()), orientation_error_max_deg=float(rot.max()),
        gravity_error_mean_deg=float(grav.mean()), gravity_error_max_deg=float(grav.max()),
        ate_m=float(ate), ate_s_m=float(ate_s), ate_pct=float(pct(ate)), ate_s_pct=float(pct(ate_s)),
        sim3_scale=float(scale), ate_s_over_ate=float(ate_s / ate) if ate > 0 else nan,
        tracked_fraction=float(trk.mean()), path_length_m=float(length), notes=tuple(notes))
