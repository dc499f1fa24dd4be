"""The mask stage: human segmentation ``C_h`` of an image, then the soft mask ``C_soft``.

The paper segments people with SAM2; on a CPU with nothing downloaded this
uses mediapipe 0.10.21's selfie-segmentation model, which ships inside the
wheel, segments every person in view (it is not per-instance) and costs about
5 ms per 640x480 frame here (landscape model). Its probability is thresholded
into the binary union ``C_h``; ``core.mask.soft_mask`` then applies the paper's
dilation, blur and normalisation. A heavier segmenter (SAM2) can implement
:class:`HumanSegmenter` later.
"""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig, compute_soft_mask

SEGMENTER_BACKENDS = ('selfie',)


class SegmentationError(RuntimeError):
    """The segmentation backend cannot be created (package missing, model missing)."""


@dataclass(frozen=True)
class SegmentationConfig:
    """Settings of the human segmentation ``C_h``.

    Attributes:
        backend: 'selfie' (mediapipe selfie segmentation, shipped in the wheel).
        model_selection: 0 = general (256x256 input), 1 = landscape (144x256, faster).
        threshold: probability above which a pixel belongs to a person.
    """

    backend: str = 'selfie'
    model_selection: int = 1
    threshold: float = 0.5

    def __post_init__(self):
        if self.backend not in SEGMENTER_BACKENDS:
            raise InputError(f'segmentation backend must be one of {SEGMENTER_BACKENDS}, got {self.backend!r}')
        if self.model_selection not in (0, 1):
            raise InputError(f'model_selection must be 0 or 1, got {self.model_selection}')
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f'threshold must be in (0, 1), got {self.threshold}')


class HumanSegmenter(abc.ABC):
    """Interface of a human segmenter: RGB frame -> (H, W) float32 person probability in [0, 1]."""

    @abc.abstractmethod
    def probability(self, frame: Frame) -> np.ndarray:
        ...

    def close(self) -> None:
        pass


class MediapipeSelfieSegmenter(HumanSegmenter):
    def __init__(self, config: SegmentationConfig):
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise SegmentationError('mediapipe is not installed: pip install mediapipe==0.10.21') from exc
        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=config.model_selection)

    def probability(self, frame: Frame) -> np.ndarray:
        mask = self._seg.process(frame.image_rgb).segmentation_mask
        return np.asarray(mask, dtype=np.float32)

    def close(self) -> None:
        self._seg.close()


def make_segmenter(config: SegmentationConfig) -> HumanSegmenter:
    return MediapipeSelfieSegmenter(config)


@dataclass(frozen=True)
class HumanMaskOutput:
    human_mask: np.ndarray           # (H, W) float32 {0, 1}: C_h, the union of people
    soft_mask: np.ndarray            # (H, W) float32 [0, 1]: C_soft (or hard / none variant)
    timings_ms: dict = field(default_factory=dict)


class HumanMaskStage:
    """``process(frame)`` -> C_h and C_soft; used by the mask node and the in-process pipeline."""

    def __init__(self, segmentation: SegmentationConfig = SegmentationConfig(),
                 soft_mask: SoftMaskConfig = SoftMaskConfig(), segmenter: HumanSegmenter | None = None):
        self.segmentation = segmentation
        self.soft_mask = soft_mask
        # 'none' needs no segmentation at all (the ablation's baseline)
        self._segmenter = None if soft_mask.mode == 'none' else (segmenter or make_segmenter(segmentation))

    def process(self, frame: Frame) -> HumanMaskOutput:
        t0 = time.perf_counter()
        if self._segmenter is None:
            c_h = np.zeros(frame.image_rgb.shape[:2], np.float32)
        else:
            c_h = self._segmenter.probability(frame) > self.segmentation.threshold
        t1 = time.perf_counter()
        soft = compute_soft_mask(c_h, self.soft_mask)          # a bool mask: dilated as uint8
        c_h = c_h.astype(np.float32)
        t2 = time.perf_counter()
        return HumanMaskOutput(c_h, soft, {'segmentation': 1e3 * (t1 - t0), 'soft_mask': 1e3 * (t2 - t1)})

    def close(self) -> None:
        if self._segmenter is not None:
            self._segmenter.close()
