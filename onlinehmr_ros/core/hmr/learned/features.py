"""Landmark-token input features from the perception backend's output (numpy).

The same function serves training (simulated observations, any leading
dims) and streaming (one :class:`~onlinehmr_ros.core.hmr.perception.observation.PersonObservation`).

Per landmark (8 values): ``(u - box_cx) / (box_size / 2)``, ``(v - box_cy) /
(box_size / 2)`` (the box frame), ``(u - cx) / fx``, ``(v - cy) / fy``
(normalised camera coordinates), the 3D landmark ``x, y, z`` in metres
(hip-centred, camera-aligned axes, as mediapipe's world landmarks) and the
visibility. ``box_size`` is the long side of the box in pixels.

Per box (4 values): box centre in normalised camera coordinates ``bx, by``,
``log(box_size / fx)`` and ``log(width / height)``. The SMPL head turns its
camera output into a translation with the first three
(:class:`~onlinehmr_ros.core.hmr.learned.model.SMPLHead`).

Landmarks that are not finite get zero features and zero visibility.
"""
from __future__ import annotations

import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.common.errors import InputError

MIN_BOX_SIZE_PX = 4.0


def landmark_features(landmarks_px: np.ndarray, visibility: np.ndarray, landmarks_3d_m: np.ndarray,
                      bbox_px: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs for the landmark-token encoder.

    Args:
        landmarks_px: (..., 33, 2) image landmarks, pixels.
        visibility: (..., 33) in [0, 1].
        landmarks_3d_m: (..., 33, 3) hip-centred 3D landmarks, metres.
        bbox_px: (..., 4) box x0, y0, x1, y1, pixels.
        K: (3, 3) or (..., 3, 3) intrinsics.
    Returns:
        landmarks (..., 33, 8) float32 and box (..., 4) float32 features.
    Raises:
        InputError: wrong shapes or a non-finite / degenerate box.
    """
    lm = np.asarray(landmarks_px, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    l3 = np.asarray(landmarks_3d_m, dtype=np.float64)
    box = np.asarray(bbox_px, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    if lm.shape[-1] != 2 or vis.shape != lm.shape[:-1] or l3.shape != lm.shape[:-1] + (3,) \
            or box.shape != lm.shape[:-2] + (4,) or K.shape[-2:] != (3, 3):
        raise InputError(f'landmark_features: need landmarks_px (..., L, 2), visibility (..., L), landmarks_3d_m '
                         f'(..., L, 3), bbox_px (..., 4), K (3, 3); got {lm.shape}, {vis.shape}, {l3.shape}, '
                         f'{box.shape}, {K.shape}')
    if not np.all(np.isfinite(box)):
        raise InputError('landmark_features: bbox_px is not finite (no landmark was found); '
                         'skip this observation instead of passing it to the learned HMR')
    fx, fy = K[..., 0, 0], K[..., 1, 1]
    cx, cy = K[..., 0, 2], K[..., 1, 2]
    w = box[..., 2] - box[..., 0]
    h = box[..., 3] - box[..., 1]
    size = np.maximum(np.maximum(w, h), MIN_BOX_SIZE_PX)
    bcx = 0.5 * (box[..., 0] + box[..., 2])
    bcy = 0.5 * (box[..., 1] + box[..., 3])
    box_feat = np.stack([(bcx - cx) / fx, (bcy - cy) / fy, np.log(size / fx),
                         np.log(np.maximum(w, 1.0) / np.maximum(h, 1.0))], axis=-1)
    ok = np.all(np.isfinite(lm), axis=-1) & np.all(np.isfinite(l3), axis=-1) & np.isfinite(vis)
    half = 0.5 * size[..., None]
    feat = np.stack([
        (lm[..., 0] - bcx[..., None]) / half, (lm[..., 1] - bcy[..., None]) / half,
        (lm[..., 0] - cx[..., None]) / fx[..., None], (lm[..., 1] - cy[..., None]) / fy[..., None],
        l3[..., 0], l3[..., 1], l3[..., 2], np.clip(vis, 0.0, 1.0)], axis=-1)
    feat = np.where(ok[..., None], feat, 0.0)
    return feat.astype(np.float32), box_feat.astype(np.float32)


def observation_features(observation, intrinsics: CameraIntrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(33, 8) and (4,) features of one ``PersonObservation`` (see :func:`landmark_features`)."""
    return landmark_features(observation.landmarks_px, observation.visibility, observation.landmarks_3d_m,
                             observation.bbox_px, intrinsics.K)
