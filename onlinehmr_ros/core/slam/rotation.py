"""Rotation-only camera tracking (no parallax needed), ROS-free.

Before the monocular map can be initialised (a static or purely rotating
camera, or the first frames of a moving one) and while the map is lost, the
camera's *orientation* can still be followed: the bearings of the same static
scene points in two images are related by the camera rotation alone when the
translation is small against the scene depth (``b_ref = R_ref_cur b_cur``, the
infinite homography ``K R K^-1`` in pixels).

:class:`RotationTracker` matches each frame's masked features against a
reference frame, estimates ``R_ref_cur`` with a two-point RANSAC on the unit
bearings followed by a weighted least-squares fit (Wahba's problem, solved by
``scipy.spatial.transform.Rotation.align_vectors``), and chains the reference
forward when the overlap shrinks, so the error grows with the number of
reference changes rather than with the number of frames.

Translation seen as rotation: a camera moving sideways by ``d`` in front of a
scene at depth ``Z`` looks to this model like a rotation of about ``d / Z``
radians. Used only until the map (which models translation) takes over, and
for static cameras, whose rotation it measures exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.slam.features import FeatureExtractor, Features


@dataclass(frozen=True)
class RotationConfig:
    """Settings of the rotation-only tracker.

    Attributes:
        min_inliers: RANSAC inliers needed to accept a rotation.
        inlier_px: inlier threshold, pixels (converted to an angle with the focal length).
        ransac_iterations: two-point hypotheses per frame.
        rekey_inlier_ratio: the current frame becomes the reference when the inliers fall below this
            share of the inliers of the first frame tracked against the reference.
        rekey_angle_deg: ... or when the rotation from the reference exceeds this.
        seed: RANSAC seed.
    """

    min_inliers: int = 30
    inlier_px: float = 1.5
    ransac_iterations: int = 120
    rekey_inlier_ratio: float = 0.4
    rekey_angle_deg: float = 12.0
    seed: int = 0

    def __post_init__(self):
        if self.min_inliers < 3 or not self.inlier_px > 0 or self.ransac_iterations < 1:
            raise InputError('RotationConfig needs min_inliers >= 3, inlier_px > 0, ransac_iterations >= 1')


@dataclass(frozen=True)
class RotationResult:
    """One frame of rotation-only tracking.

    R_world_cam: (3, 3) camera-to-world rotation (world: whatever frame the reference was given in),
        None when the frame could not be tracked.
    n_matches, n_inliers: correspondences with the reference and RANSAC inliers.
    rekeyed: this frame became the new reference.
    """

    R_world_cam: np.ndarray | None
    n_matches: int
    n_inliers: int
    rekeyed: bool


def bearings(K: np.ndarray, uv_px: np.ndarray) -> np.ndarray:
    """(N, 2) pixels -> (N, 3) unit bearing vectors in the camera optical frame."""
    uv = np.asarray(uv_px, dtype=np.float64).reshape(-1, 2)
    rays = np.column_stack([(uv[:, 0] - K[0, 2]) / K[0, 0], (uv[:, 1] - K[1, 2]) / K[1, 1], np.ones(len(uv))])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def _triads(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, 3) x2 direction pairs -> (H, 3, 3) orthonormal frames with columns a, a x b, a x (a x b)."""
    c = np.cross(a, b)
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    d = np.cross(a, c)
    return np.stack([a, c, d], axis=2)


def estimate_rotation(b_ref: np.ndarray, b_cur: np.ndarray, weights: np.ndarray, threshold_rad: float,
                      iterations: int, rng: np.random.Generator) -> tuple[np.ndarray | None, np.ndarray]:
    """Robust ``R`` with ``b_ref ~ R b_cur`` from unit bearings.

    Args:
        b_ref, b_cur: (N, 3) matched unit bearings.
        weights: (N,) weights of the least-squares refinement (e.g. ``1 - C_soft``).
        threshold_rad: largest angle between ``b_ref`` and ``R b_cur`` of an inlier.
        iterations: two-point RANSAC hypotheses.
    Returns:
        (R (3, 3) or None, inlier mask (N,)).
    """
    n = len(b_ref)
    if n < 3:
        return None, np.zeros(n, bool)
    idx = rng.integers(0, n, (iterations, 2))
    idx = idx[idx[:, 0] != idx[:, 1]]
    Ta = _triads(b_ref[idx[:, 0]], b_ref[idx[:, 1]])
    Tb = _triads(b_cur[idx[:, 0]], b_cur[idx[:, 1]])
    R = Ta @ np.swapaxes(Tb, 1, 2)                                   # (H, 3, 3)
    cos_thr = np.cos(threshold_rad)
    pred = np.einsum('hij,nj->hni', R, b_cur)                        # (H, N, 3)
    inl = np.einsum('hni,ni->hn', pred, b_ref) > cos_thr
    best = int(np.argmax(inl.sum(axis=1)))
    mask = inl[best]
    if mask.sum() < 3:
        return None, mask
    R_best = R[best]
    for _ in range(2):
        rot, _ = Rotation.align_vectors(b_ref[mask], b_cur[mask], weights=weights[mask])
        R_best = rot.as_matrix()
        mask = np.sum((b_cur @ R_best.T) * b_ref, axis=1) > cos_thr
        if mask.sum() < 3:
            return None, mask
    return R_best, mask


class RotationTracker:
    """Follows the camera orientation against a chained reference frame (module docstring).

    Usage::

        rt = RotationTracker(extractor)               # the SLAM's feature extractor (matching)
        rt.reset(features, K, R_world_cam)            # reference: a frame with a known orientation
        r = rt.track(features, K)                     # each later frame -> RotationResult
    """

    def __init__(self, extractor: FeatureExtractor, config: RotationConfig = RotationConfig()):
        self.extractor = extractor
        self.config = config
        self._rng = np.random.default_rng(config.seed)
        self._ref: Features | None = None
        self._ref_bearings: np.ndarray | None = None
        self._R_world_ref: np.ndarray | None = None
        self._ref_inliers: int | None = None

    @property
    def has_reference(self) -> bool:
        return self._ref is not None

    def reset(self, features: Features, K: np.ndarray, R_world_cam: np.ndarray) -> None:
        """Make ``features`` (of a frame whose orientation is ``R_world_cam``) the reference."""
        self._ref = features
        self._ref_bearings = bearings(K, features.keypoints_px)
        self._R_world_ref = np.asarray(R_world_cam, dtype=np.float64).copy()
        self._ref_inliers: int | None = None

    def track(self, features: Features, K: np.ndarray) -> RotationResult:
        """Orientation of a new frame (None when it cannot be matched to the reference)."""
        if self._ref is None:
            raise InputError('RotationTracker.track called before reset(): give it a reference frame first')
        cfg = self.config
        qi, ti = self.extractor.match(features.descriptors, self._ref.descriptors)
        if len(qi) < cfg.min_inliers:
            return RotationResult(None, len(qi), 0, False)
        b_cur = bearings(K, features.keypoints_px[qi])
        b_ref = self._ref_bearings[ti]
        w = features.weights[qi] * self._ref.weights[ti]
        thr = cfg.inlier_px / float(K[0, 0])
        R_ref_cur, inl = estimate_rotation(b_ref, b_cur, w, thr, cfg.ransac_iterations, self._rng)
        n_in = int(inl.sum())
        if R_ref_cur is None or n_in < cfg.min_inliers:
            return RotationResult(None, len(qi), n_in, False)
        R_world_cur = self._R_world_ref @ R_ref_cur
        angle = np.degrees(np.linalg.norm(Rotation.from_matrix(R_ref_cur).as_rotvec()))
        if self._ref_inliers is None:
            self._ref_inliers = n_in
        rekey = n_in < cfg.rekey_inlier_ratio * self._ref_inliers or angle > cfg.rekey_angle_deg
        if rekey:
            self.reset(features, K, R_world_cur)
        return RotationResult(R_world_cur, len(qi), n_in, rekey)
