"""Human-mesh and camera-trajectory metrics, following the published protocols.

Every metric has one implementation here, used by the evaluation harness
(:mod:`onlinehmr_ros.eval.evaluation`), the benchmarks and the tests. All
alignments go through :func:`onlinehmr_ros.core.common.geometry.umeyama` (the
project's one Umeyama / Procrustes).

Protocols followed (the evaluation code released with each paper):

* **WHAM** (Shin et al., CVPR 2024, ``lib/eval/eval_utils.py``) and **GVHMR**
  (Shen et al., SIGGRAPH Asia 2024, ``hmr4d/utils/eval/eval_utils.py``, which
  states "follow WHAM"): MPJPE / PVE after subtracting the pelvis (the mean of
  the two hip joints, SMPL-24 joints 1 and 2), PA-MPJPE with a per-frame
  similarity Procrustes, Accel error (second difference x fps^2), W-MPJPE100
  and WA-MPJPE100 on consecutive 100-frame chunks, RTE in %, Jitter (third
  difference x fps^3, reported in units of 10 m/s^3), foot sliding.
* **TRAM** (Wang et al., ECCV 2024, ``scripts/emdb/run_eval.py``,
  ``lib/utils/eval_utils.py``, ``lib/camera/slam_utils.py``): ERVE (ego-centric
  root velocity error) and the camera metrics ATE (evo APE on the translation
  part after a Sim(3) Umeyama alignment, mean over frames) and ATE-S (the same
  with an SE(3) alignment, i.e. the metric scale is kept).
* **OnlineHMR** (``seeds/onlinehmr.md``): the frequency-domain jitter, the
  share of spectral energy above 10 Hz of an STFT with a Hann window. The paper
  does not give the window length; this module uses 32 frames (about 1.07 s at
  30 fps, 0.94 Hz bins) with 50 % overlap and a linear trend removed per
  window (:data:`HF_WINDOW_FRAMES`).

Conventions: positions in metres in, errors in the unit named by each function
(``mm``, ``m/s^2``, ``%``). Per-frame functions return a 1-D array of
per-frame values (the protocols average them over all frames of all
sequences); the caller takes the mean. Inputs may be float32 or float64; the
computation is float64.

GT-free smoothness metrics (usable on real video): :func:`acceleration`,
:func:`jitter`, :func:`high_frequency_share`, :func:`signal_lag`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sp_signal

from onlinehmr_ros.core.common.geometry import similarity_transform_points, umeyama

M_TO_MM = 1000.0
#: SMPL-24 hip joints whose mean is the pelvis used for alignment (WHAM / TRAM / GVHMR).
SMPL24_HIP_INDICES: tuple[int, int] = (1, 2)
#: COCO-17 hip keypoints (left, right) whose mean is the pelvis on the COCO skeleton.
COCO17_HIP_INDICES: tuple[int, int] = (11, 12)
#: COCO-17 ankle keypoints (left, right), the foot points of foot sliding on the COCO skeleton.
COCO17_ANKLE_INDICES: tuple[int, int] = (15, 16)
#: SMPL-24 ankle and foot joints (left ankle, right ankle, left foot, right foot).
SMPL24_FOOT_JOINT_INDICES: tuple[int, ...] = (7, 8, 10, 11)
#: SMPL (6890-vertex) foot vertices used by the WHAM / GVHMR foot-sliding metric.
SMPL_FOOT_VERTEX_INDICES: tuple[int, ...] = (3216, 3387, 6617, 6787)
#: Length of the chunks of W-MPJPE100 / WA-MPJPE100, frames.
WORLD_CHUNK_FRAMES = 100
#: Hann window length of the frequency-domain jitter, frames.
HF_WINDOW_FRAMES = 32
#: Cut-off of the frequency-domain jitter, Hz (natural motion lies below it).
HF_CUTOFF_HZ = 10.0
#: Ground-truth foot contact threshold of the foot-sliding metric, metres per frame.
FOOT_CONTACT_THRESHOLD_M = 0.01


class MetricsError(ValueError):
    """Raised when a metric gets inputs it cannot be computed from (shape, length, fps)."""


# ----------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------
def _points(x: np.ndarray, name: str, min_frames: int = 1) -> np.ndarray:
    """(F, N, 3) float64, finite."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise MetricsError(f'{name} must have shape (frames, points, 3), got {a.shape}')
    if a.shape[0] < min_frames:
        raise MetricsError(f'{name} needs at least {min_frames} frames, got {a.shape[0]}')
    if not np.all(np.isfinite(a)):
        raise MetricsError(f'{name} contains NaN or inf; drop invalid frames before computing metrics')
    return a


def _pair(pred: np.ndarray, gt: np.ndarray, name: str, min_frames: int = 1) -> tuple[np.ndarray, np.ndarray]:
    p = _points(pred, f'pred_{name}', min_frames)
    g = _points(gt, f'gt_{name}', min_frames)
    if p.shape != g.shape:
        raise MetricsError(f'pred_{name} {p.shape} and gt_{name} {g.shape} must have the same shape')
    return p, g


def _trajectory(x: np.ndarray, name: str, min_frames: int = 1) -> np.ndarray:
    """(F, 3) float64, finite."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[-1] != 3:
        raise MetricsError(f'{name} must have shape (frames, 3), got {a.shape}')
    if a.shape[0] < min_frames:
        raise MetricsError(f'{name} needs at least {min_frames} frames, got {a.shape[0]}')
    if not np.all(np.isfinite(a)):
        raise MetricsError(f'{name} contains NaN or inf; drop invalid frames before computing metrics')
    return a


def _check_fps(fps: float) -> float:
    if not (np.isfinite(fps) and fps > 0):
        raise MetricsError(f'fps must be a positive number, got {fps}')
    return float(fps)


def _joint_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(F, N, 3) x2 -> (F,) mean Euclidean distance per frame."""
    return np.linalg.norm(a - b, axis=-1).mean(axis=-1)


def pelvis(joints: np.ndarray, pelvis_indices: tuple[int, ...] = SMPL24_HIP_INDICES) -> np.ndarray:
    """(F, J, 3) joints -> (F, 1, 3) pelvis (mean of ``pelvis_indices``)."""
    j = _points(joints, 'joints')
    if max(pelvis_indices) >= j.shape[1]:
        raise MetricsError(f'pelvis_indices {pelvis_indices} out of range for {j.shape[1]} joints')
    return j[:, list(pelvis_indices)].mean(axis=1, keepdims=True)


# ----------------------------------------------------------------------------
# Camera-space (local) accuracy
# ----------------------------------------------------------------------------
def mpjpe(pred_joints: np.ndarray, gt_joints: np.ndarray,
          pelvis_indices: tuple[int, ...] = SMPL24_HIP_INDICES) -> np.ndarray:
    """Mean per-joint position error after pelvis alignment (WHAM / GVHMR).

    Both skeletons are translated so that their pelvis (mean of the hip joints)
    is at the origin; no rotation or scale is removed.

    Args:
        pred_joints, gt_joints: (F, J, 3) metres, same frame (usually camera).
        pelvis_indices: joints averaged into the pelvis (SMPL-24 hips by default; COCO-17: (11, 12)).
    Returns:
        (F,) per-frame error, mm.
    """
    return mpjpe_per_joint(pred_joints, gt_joints, pelvis_indices).mean(axis=-1)


def mpjpe_per_joint(pred_joints: np.ndarray, gt_joints: np.ndarray,
                    pelvis_indices: tuple[int, ...] = SMPL24_HIP_INDICES) -> np.ndarray:
    """(F, J) per-joint errors of :func:`mpjpe` (pelvis-aligned), mm."""
    p, g = _pair(pred_joints, gt_joints, 'joints')
    return np.linalg.norm((p - pelvis(p, pelvis_indices)) - (g - pelvis(g, pelvis_indices)), axis=-1) * M_TO_MM


def pa_mpjpe(pred_joints: np.ndarray, gt_joints: np.ndarray) -> np.ndarray:
    """Procrustes-aligned MPJPE: a similarity transform (scale, rotation,
    translation) fitted per frame from prediction to ground truth (WHAM / GVHMR).

    Args:
        pred_joints, gt_joints: (F, J, 3) metres, J >= 3.
    Returns:
        (F,) per-frame error, mm.
    """
    return pa_mpjpe_per_joint(pred_joints, gt_joints).mean(axis=-1)


def pa_mpjpe_per_joint(pred_joints: np.ndarray, gt_joints: np.ndarray) -> np.ndarray:
    """(F, J) per-joint errors of :func:`pa_mpjpe` (per-frame similarity Procrustes), mm."""
    p, g = _pair(pred_joints, gt_joints, 'joints')
    s, R, t = umeyama(p, g, with_scale=True)
    return np.linalg.norm(similarity_transform_points(s, R, t, p) - g, axis=-1) * M_TO_MM


def pve(pred_vertices: np.ndarray, gt_vertices: np.ndarray, pred_joints: np.ndarray, gt_joints: np.ndarray,
        pelvis_indices: tuple[int, ...] = SMPL24_HIP_INDICES) -> np.ndarray:
    """Per-vertex error after subtracting each mesh's joint pelvis (WHAM / GVHMR).

    Args:
        pred_vertices, gt_vertices: (F, V, 3) metres, same topology.
        pred_joints, gt_joints: (F, J, 3) metres (give the pelvis).
    Returns:
        (F,) per-frame mean vertex error, mm.
    """
    pv, gv = _pair(pred_vertices, gt_vertices, 'vertices')
    pj, gj = _pair(pred_joints, gt_joints, 'joints')
    if pv.shape[0] != pj.shape[0]:
        raise MetricsError(f'vertices have {pv.shape[0]} frames but joints have {pj.shape[0]}')
    return _joint_error(pv - pelvis(pj, pelvis_indices), gv - pelvis(gj, pelvis_indices)) * M_TO_MM


def _second_difference(x: np.ndarray) -> np.ndarray:
    return x[:-2] - 2.0 * x[1:-1] + x[2:]


def accel_error(pred_joints: np.ndarray, gt_joints: np.ndarray, fps: float,
                valid: np.ndarray | None = None) -> np.ndarray:
    """Acceleration error (WHAM / GVHMR ``compute_error_accel``).

    The acceleration at frame i is ``(x[i-1] - 2 x[i] + x[i+1]) * fps^2``; the
    error is the mean over joints of the norm of the difference between the
    predicted and ground-truth accelerations. Pass pelvis-aligned joints for
    the camera-space protocol (as WHAM / GVHMR do).

    Args:
        pred_joints, gt_joints: (F, J, 3) metres, F >= 3.
        fps: frame rate, Hz.
        valid: optional (F,) bool; a triplet touching an invalid frame is dropped.
    Returns:
        (F', ) per-frame error, m/s^2 (F' = F - 2 without ``valid``).
    """
    p, g = _pair(pred_joints, gt_joints, 'joints', min_frames=3)
    fps = _check_fps(fps)
    err = np.linalg.norm(_second_difference(p) - _second_difference(g), axis=-1).mean(axis=-1) * fps ** 2
    if valid is None:
        return err
    v = np.asarray(valid, dtype=bool)
    if v.shape != (p.shape[0],):
        raise MetricsError(f'valid must have shape ({p.shape[0]},), got {v.shape}')
    keep = v[:-2] & v[1:-1] & v[2:]
    return err[keep]


# ----------------------------------------------------------------------------
# World-space (global) accuracy
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class WorldMpjpe:
    """Per-frame world-space joint errors on consecutive chunks, mm."""

    w_mpjpe: np.ndarray       # (F,) W-MPJPE: chunk aligned on its first two frames (Sim(3))
    wa_mpjpe: np.ndarray      # (F,) WA-MPJPE: chunk aligned on all its frames (Sim(3))


def world_mpjpe(pred_joints_world: np.ndarray, gt_joints_world: np.ndarray,
                chunk_frames: int = WORLD_CHUNK_FRAMES) -> WorldMpjpe:
    """W-MPJPE100 and WA-MPJPE100 (WHAM / GVHMR ``compute_global_metrics``).

    The sequence is cut into consecutive chunks of ``chunk_frames`` frames
    (starting at 0; the last chunk holds the remainder). In each chunk the
    prediction is mapped onto the ground truth by one Umeyama similarity
    transform fitted on the joints of the chunk's first two frames (W) or of
    all its frames (WA); the per-frame MPJPE (no pelvis alignment) follows.

    Args:
        pred_joints_world, gt_joints_world: (F, J, 3) metres in world frames.
        chunk_frames: chunk length (100 in the protocol).
    Returns:
        :class:`WorldMpjpe` with (F,) arrays, mm.
    """
    p, g = _pair(pred_joints_world, gt_joints_world, 'joints_world')
    if chunk_frames < 2:
        raise MetricsError(f'chunk_frames must be >= 2, got {chunk_frames}')
    if p.shape[1] < 2:
        raise MetricsError('world_mpjpe needs at least 2 joints per frame')
    w_err, wa_err = [], []
    for start in range(0, p.shape[0], chunk_frames):
        pc, gc = p[start:start + chunk_frames], g[start:start + chunk_frames]
        first = min(2, pc.shape[0])
        s, R, t = umeyama(pc[:first].reshape(-1, 3), gc[:first].reshape(-1, 3), with_scale=True)
        w_err.append(_joint_error(similarity_transform_points(s, R, t, pc), gc))
        s, R, t = umeyama(pc.reshape(-1, 3), gc.reshape(-1, 3), with_scale=True)
        wa_err.append(_joint_error(similarity_transform_points(s, R, t, pc), gc))
    return WorldMpjpe(w_mpjpe=np.concatenate(w_err) * M_TO_MM, wa_mpjpe=np.concatenate(wa_err) * M_TO_MM)


def path_length(positions: np.ndarray) -> float:
    """Length of a polyline, (F, 3) metres -> metres."""
    x = _trajectory(positions, 'positions')
    return float(np.linalg.norm(np.diff(x, axis=0), axis=-1).sum())


def rte(pred_root_world: np.ndarray, gt_root_world: np.ndarray) -> np.ndarray:
    """Root translation error in % of the ground-truth path length (WHAM / GVHMR / TRAM).

    One rigid (SE(3), no scale) Umeyama alignment of the whole predicted root
    trajectory onto the ground truth; the per-frame root error is divided by
    the length of the ground-truth root path.

    Args:
        pred_root_world, gt_root_world: (F, 3) metres, F >= 3.
    Returns:
        (F,) per-frame error, % (mean = RTE).
    Raises:
        MetricsError: the ground-truth root does not move (path length 0).
    """
    p = _trajectory(pred_root_world, 'pred_root_world', min_frames=3)
    g = _trajectory(gt_root_world, 'gt_root_world', min_frames=3)
    if p.shape != g.shape:
        raise MetricsError(f'pred_root_world {p.shape} and gt_root_world {g.shape} must have the same shape')
    length = path_length(g)
    if length <= 0:
        raise MetricsError('RTE is undefined for a ground-truth root that does not move (path length 0)')
    s, R, t = umeyama(p, g, with_scale=False)
    aligned = similarity_transform_points(s, R, t, p)
    return np.linalg.norm(aligned - g, axis=-1) / length * 100.0


def erve(pred_orient_world: np.ndarray, pred_root_world: np.ndarray,
         gt_orient_world: np.ndarray, gt_root_world: np.ndarray) -> np.ndarray:
    """Ego-centric root velocity error (TRAM ``computer_erve``).

    The predicted per-frame root displacement is rotated by
    ``R_gt[i] R_pred[i]^T`` (which removes the difference of the global
    orientations, i.e. it compares velocities in each body's own frame) and
    compared with the ground-truth displacement.

    Args:
        pred_orient_world, gt_orient_world: (F, 3, 3) body-to-world rotations.
        pred_root_world, gt_root_world: (F, 3) root positions, metres.
    Returns:
        (F-1,) per-frame error, mm per frame.
    """
    p = _trajectory(pred_root_world, 'pred_root_world', min_frames=2)
    g = _trajectory(gt_root_world, 'gt_root_world', min_frames=2)
    Rp = np.asarray(pred_orient_world, dtype=np.float64)
    Rg = np.asarray(gt_orient_world, dtype=np.float64)
    if p.shape != g.shape or Rp.shape != (p.shape[0], 3, 3) or Rg.shape != Rp.shape:
        raise MetricsError(f'erve needs (F, 3, 3) orientations and (F, 3) roots of equal F, got '
                           f'{Rp.shape}, {p.shape}, {Rg.shape}, {g.shape}')
    R_align = Rg @ np.swapaxes(Rp, -1, -2)
    pred_vel = np.einsum('fij,fj->fi', R_align[:-1], np.diff(p, axis=0))
    return np.linalg.norm(pred_vel - np.diff(g, axis=0), axis=-1) * M_TO_MM


def foot_sliding(pred_feet_world: np.ndarray, gt_feet_world: np.ndarray,
                 contact_threshold_m: float = FOOT_CONTACT_THRESHOLD_M) -> np.ndarray:
    """Foot sliding (WHAM / GVHMR ``compute_foot_sliding``).

    A foot point is in contact between frames i and i+1 when its ground-truth
    displacement is below ``contact_threshold_m`` (1 cm per frame); the metric
    is the predicted displacement of the same point over those frame pairs.
    WHAM / GVHMR use SMPL vertices :data:`SMPL_FOOT_VERTEX_INDICES`; for other
    body models pass the ankle / foot joints (:data:`SMPL24_FOOT_JOINT_INDICES`).

    Args:
        pred_feet_world, gt_feet_world: (F, P, 3) foot points, metres.
    Returns:
        (C,) predicted displacement at each ground-truth contact, mm
        (empty when there is no contact).
    """
    p, g = _pair(pred_feet_world, gt_feet_world, 'feet_world', min_frames=2)
    contact = np.linalg.norm(np.diff(g, axis=0), axis=-1) < contact_threshold_m
    return np.linalg.norm(np.diff(p, axis=0), axis=-1)[contact] * M_TO_MM


# ----------------------------------------------------------------------------
# Camera trajectory
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrajectoryError:
    """Absolute trajectory error statistics (evo APE, translation part), metres."""

    mean: float               # the protocol's ATE (TRAM reports the mean)
    rmse: float
    median: float
    max: float
    scale: float              # scale of the fitted alignment (1 for SE(3))
    errors: np.ndarray        # (F,) per-frame translation error after alignment


def camera_ate(pred_positions: np.ndarray, gt_positions: np.ndarray, with_scale: bool = True) -> TrajectoryError:
    """Camera absolute trajectory error (TRAM ``eval_slam`` = evo APE, translation part).

    The predicted camera centres are aligned to the ground truth by one
    Umeyama transform over the whole sequence, Sim(3) for ATE
    (``with_scale=True``) or SE(3) for ATE-S (``with_scale=False``: a wrong
    metric scale is *not* forgiven); the errors are the distances between the
    aligned and ground-truth centres.

    Args:
        pred_positions, gt_positions: (F, 3) camera centres in the world
            (``T_world_cam[:3, 3]``), metres, F >= 3.
        with_scale: Sim(3) (ATE) or SE(3) (ATE-S) alignment.
    Returns:
        :class:`TrajectoryError`, metres.
    """
    p = _trajectory(pred_positions, 'pred_positions', min_frames=3)
    g = _trajectory(gt_positions, 'gt_positions', min_frames=3)
    if p.shape != g.shape:
        raise MetricsError(f'pred_positions {p.shape} and gt_positions {g.shape} must have the same shape')
    s, R, t = umeyama(p, g, with_scale=with_scale)
    err = np.linalg.norm(similarity_transform_points(s, R, t, p) - g, axis=-1)
    return TrajectoryError(mean=float(err.mean()), rmse=float(np.sqrt(np.mean(err ** 2))),
                           median=float(np.median(err)), max=float(err.max()), scale=float(s), errors=err)


# ----------------------------------------------------------------------------
# Smoothness without ground truth
# ----------------------------------------------------------------------------
def acceleration(joints: np.ndarray, fps: float) -> np.ndarray:
    """Mean joint acceleration magnitude (no ground truth), (F, J, 3) m -> (F-2,) m/s^2."""
    j = _points(joints, 'joints', min_frames=3)
    return np.linalg.norm(_second_difference(j), axis=-1).mean(axis=-1) * _check_fps(fps) ** 2


def jitter(joints: np.ndarray, fps: float) -> np.ndarray:
    """Jitter (GVHMR ``compute_jitter``): mean joint norm of the third difference x fps^3.

    Args:
        joints: (F, J, 3) metres (world joints in the GVHMR protocol), F >= 4.
        fps: frame rate, Hz.
    Returns:
        (F-3,) per-frame jitter in units of 10 m/s^3 (as published).
    """
    j = _points(joints, 'joints', min_frames=4)
    third = j[3:] - 3.0 * j[2:-1] + 3.0 * j[1:-2] - j[:-3]
    return np.linalg.norm(third, axis=-1).mean(axis=-1) * _check_fps(fps) ** 3 / 10.0


def high_frequency_share(joints: np.ndarray, fps: float, cutoff_hz: float = HF_CUTOFF_HZ,
                         window_frames: int = HF_WINDOW_FRAMES) -> float:
    """OnlineHMR's frequency-domain jitter: share of spectral energy above ``cutoff_hz``.

    The motion ``y`` (F x 3J, each coordinate of each joint a channel) goes
    through an STFT with a Hann window of ``window_frames`` frames, hop
    ``window_frames // 2``, a linear trend removed per window (so that slow
    drift and the mean position do not count as motion energy) and no
    padding. The energy ``|S|^2`` is summed over channels and windows with
    one-sided weights (x2 for bins strictly between 0 and Nyquist), and the
    share is ``E(f > cutoff) / E(all f)`` in [0, 1]; a signal without
    motion energy beyond round-off (static, or constant velocity) has share 0.

    Args:
        joints: (F, J, 3) metres (or any (F, ..., 3) motion), F >= window_frames.
        fps: frame rate, Hz; must exceed ``2 * cutoff_hz`` (Nyquist).
        cutoff_hz: 10 Hz in the paper.
        window_frames: Hann window length, frames (32 by default).
    Returns:
        share in [0, 1].
    """
    y = np.asarray(joints, dtype=np.float64)
    if y.ndim < 2 or not np.all(np.isfinite(y)):
        raise MetricsError(f'joints must be a finite (frames, ...) array, got shape {y.shape}')
    fps = _check_fps(fps)
    if fps <= 2.0 * cutoff_hz:
        raise MetricsError(f'fps {fps} cannot resolve {cutoff_hz} Hz (Nyquist is fps/2); '
                           'use a frame rate above twice the cut-off')
    if window_frames < 4:
        raise MetricsError(f'window_frames must be >= 4, got {window_frames}')
    y = y.reshape(y.shape[0], -1)
    if y.shape[0] < window_frames:
        raise MetricsError(f'high_frequency_share needs at least window_frames={window_frames} frames, '
                           f'got {y.shape[0]}')
    freqs, _, Z = sp_signal.stft(y.T, fs=fps, window='hann', nperseg=window_frames,
                                 noverlap=window_frames // 2, detrend='linear', return_onesided=True,
                                 boundary=None, padded=False, axis=-1)
    # Z: (channels, freqs, windows)
    power = np.abs(Z) ** 2
    weight = np.full(freqs.shape, 2.0)
    weight[0] = 1.0
    if window_frames % 2 == 0:
        weight[-1] = 1.0
    energy = (power.sum(axis=(0, 2))) * weight
    total = float(energy.sum())
    # Energy at round-off level (e.g. a constant-velocity walk after detrending) is no motion.
    round_off = (1e-9 * max(1.0, float(np.abs(y).max()))) ** 2 * y.size
    if total <= round_off:
        return 0.0
    return float(energy[freqs > cutoff_hz].sum() / total)


def signal_lag(reference: np.ndarray, delayed: np.ndarray, fps: float, max_lag_s: float = 1.0) -> float:
    """Delay of ``delayed`` behind ``reference`` by cross-correlation, seconds.

    Both signals (F, ...) are flattened to channels, each channel's mean is
    removed, and the cross-correlation summed over channels is maximised over
    integer lags in ``[-max_lag_s, max_lag_s]``, then refined to sub-frame
    precision with a parabola through the peak and its neighbours. A positive
    value means ``delayed(t) ~ reference(t - lag)`` (e.g. a smoothing filter
    lagging behind its input).

    Args:
        reference, delayed: (F, ...) same shape, any unit.
        fps: frame rate, Hz.
        max_lag_s: largest lag searched, seconds.
    Returns:
        lag in seconds.
    """
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(delayed, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 1:
        raise MetricsError(f'reference {a.shape} and delayed {b.shape} must have the same (frames, ...) shape')
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise MetricsError('signal_lag inputs contain NaN or inf')
    fps = _check_fps(fps)
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    n = a.shape[0]
    max_lag = int(round(max_lag_s * fps))
    if max_lag < 1 or n < 2 * max_lag + 3:
        raise MetricsError(f'signal_lag needs more than 2 * max_lag + 2 = {2 * max_lag + 2} frames '
                           f'(max_lag_s={max_lag_s} at {fps} fps), got {n}')
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.empty(lags.shape)
    for k, lag in enumerate(lags):
        # mean of a[t - lag] * b[t] over the overlap, so long overlaps are not favoured
        if lag >= 0:
            corr[k] = np.mean(a[:n - lag] * b[lag:]) if lag < n else 0.0
        else:
            corr[k] = np.mean(a[-lag:] * b[:n + lag])
    if not np.any(corr > 0):
        raise MetricsError('signal_lag: the signals are not positively correlated at any lag within '
                           f'+-{max_lag_s} s; no delay can be measured')
    i = int(np.argmax(corr))
    frac = 0.0
    if 0 < i < len(lags) - 1:
        c_m, c_0, c_p = corr[i - 1], corr[i], corr[i + 1]
        denom = c_m - 2.0 * c_0 + c_p
        if denom < 0:
            frac = 0.5 * (c_m - c_p) / denom
    return float((lags[i] + frac) / fps)
