"""Focal length from the video itself (self-calibration), causal, ROS-free.

Without a calibration the pipeline assumes a field of view, and a wrong focal
length scales every depth. Two views of a static scene constrain it: their
fundamental matrix ``F`` (pixels, no intrinsics needed) becomes an essential
matrix ``E = K^T F K`` only for the right ``K``, and an essential matrix has two
equal singular values and a zero one. :class:`FocalEstimator` follows
Mendonça & Cipolla (CVPR 1999): for each pair of SLAM keyframes it fits ``F``
(RANSAC on the masked matches, then least squares on the inliers), scores a
grid of focal lengths (principal point at the current one, square pixels) by
``(s1 - s2) / s2`` of ``E``, and adds the logarithm of the pair's cost curve
to the sum over pairs; the estimate is the sum's minimum (parabolic
refinement on ``log f``). On the tune set's sequences it lands within 1-13 %
of the true focal length after 10-25 keyframe pairs. It is ``converged`` when
the last ``converged_pairs`` estimates agree within ``converged_rel_change``.

What limits it: pairs whose motion is a pure translation or a rotation about
the optical axis do not constrain ``f`` (flat cost curves, which count little
after normalisation); a planar scene makes ``F`` degenerate (RANSAC inliers on
one plane). The estimate is reported (diagnostics, the evaluation); the
intrinsics in use are not changed mid-stream (that would move every depth).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from onlinehmr_ros.core.common.errors import InputError


@dataclass(frozen=True)
class FocalConfig:
    """Settings of the focal-length estimate.

    Attributes:
        enabled: estimate at all (one fundamental matrix per new keyframe).
        min_ratio, max_ratio: the searched focal lengths, as multiples of the current one.
        grid_steps: focal lengths on that (logarithmic) grid.
        min_matches: matches a keyframe pair needs.
        ransac_px: RANSAC threshold of the fundamental matrix, pixels.
        min_curve_contrast: a pair whose cost curve varies less than this (max / min - 1) says nothing.
        converged_pairs, converged_rel_change: converged when the last ``converged_pairs`` estimates lie
            within ``converged_rel_change`` of the current one.
    """

    enabled: bool = True
    min_ratio: float = 0.4
    max_ratio: float = 2.5
    grid_steps: int = 81
    min_matches: int = 60
    ransac_px: float = 1.0
    min_curve_contrast: float = 0.5
    converged_pairs: int = 5
    converged_rel_change: float = 0.03

    def __post_init__(self):
        if not 0 < self.min_ratio < 1 < self.max_ratio or self.grid_steps < 5:
            raise InputError('FocalConfig needs 0 < min_ratio < 1 < max_ratio and grid_steps >= 5')


@dataclass(frozen=True)
class FocalState:
    """focal_px: the estimate (NaN before any usable pair); n_pairs: pairs used; converged: see FocalConfig;
    reference_px: the focal length in use (the grid is relative to it)."""

    focal_px: float
    n_pairs: int
    converged: bool
    reference_px: float


def essential_cost(F: np.ndarray, focal_px: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """(G,) ``(s1 - s2) / s2`` of ``E = K^T F K`` for each focal length (0 for a true essential matrix)."""
    f = np.asarray(focal_px, dtype=np.float64).reshape(-1)
    K = np.zeros((len(f), 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = cx, cy, 1.0
    E = np.swapaxes(K, 1, 2) @ F[None] @ K
    s = np.linalg.svd(E, compute_uv=False)
    return (s[:, 0] - s[:, 1]) / np.maximum(s[:, 1], 1e-12)


class FocalEstimator:
    """Causal focal length from keyframe pairs (module docstring): ``add_pair(...) -> FocalState``."""

    def __init__(self, config: FocalConfig = FocalConfig()):
        self.config = config
        self._ratios = np.geomspace(config.min_ratio, config.max_ratio, config.grid_steps)
        self._sum: np.ndarray | None = None
        self._reference: float | None = None
        self._history: list[float] = []
        self.n_pairs = 0

    def add_pair(self, points0_px: np.ndarray, points1_px: np.ndarray, K: np.ndarray) -> FocalState:
        """One pair of views of the static scene: matched pixels (N, 2) each, and the intrinsics in use."""
        cfg = self.config
        K = np.asarray(K, dtype=np.float64)
        f_ref = float(np.sqrt(K[0, 0] * K[1, 1]))
        if self._reference is None:
            self._reference = f_ref
        p0 = np.asarray(points0_px, dtype=np.float64).reshape(-1, 2)
        p1 = np.asarray(points1_px, dtype=np.float64).reshape(-1, 2)
        if len(p0) >= cfg.min_matches:
            F, inl = cv2.findFundamentalMat(p0, p1, cv2.FM_RANSAC, cfg.ransac_px, 0.999)
            if F is not None and F.shape == (3, 3) and inl is not None and inl.sum() >= cfg.min_matches:
                m = inl.ravel() > 0                   # least squares on the RANSAC inliers
                F_ls, _ = cv2.findFundamentalMat(p0[m], p1[m], cv2.FM_8POINT)
                if F_ls is not None and F_ls.shape == (3, 3):
                    F = F_ls
                cost = essential_cost(F, self._ratios * self._reference, K[0, 2], K[1, 2])
                lo = float(cost.min())
                if lo > 0 and cost.max() / lo - 1.0 >= cfg.min_curve_contrast:
                    curve = np.log(cost)
                    self._sum = curve if self._sum is None else self._sum + curve
                    self.n_pairs += 1
                    self._history.append(self._argmin())
        return self.state()

    def _argmin(self) -> float:
        c = self._sum
        k = int(np.argmin(c))
        x = np.log(self._ratios)
        if 0 < k < len(c) - 1:
            denom = c[k - 1] - 2 * c[k] + c[k + 1]
            shift = 0.5 * (c[k - 1] - c[k + 1]) / denom if denom > 0 else 0.0
            xk = x[k] + float(np.clip(shift, -1, 1)) * (x[1] - x[0])
        else:
            xk = x[k]
        return float(np.exp(xk) * self._reference)

    def state(self) -> FocalState:
        cfg = self.config
        if self._sum is None:
            return FocalState(float('nan'), 0, False, float(self._reference or np.nan))
        f = self._history[-1]
        recent = self._history[-cfg.converged_pairs:]
        converged = (len(recent) >= cfg.converged_pairs
                     and max(abs(r / f - 1.0) for r in recent) <= cfg.converged_rel_change)
        return FocalState(f, self.n_pairs, converged, float(self._reference))
