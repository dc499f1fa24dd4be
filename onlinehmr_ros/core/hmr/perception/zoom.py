"""Finding small people: look again at higher resolution only where it pays (ROS-free).

SAT-HMR's observation (``seeds/sat-hmr.md``) is that resolution matters for
small people and hardly for large ones. The CPU landmarkers resize the whole
image to the detector's 224x224 input, so a pedestrian 85 px tall in a 768x576
frame shrinks to about 25 px and is never found (opencv-doc's ``vtest.avi``).

:class:`ZoomedPoseBackend` wraps a full-frame backend and adds two causal passes:

1. **Tiles** every ``tile_every_n_frames`` frames: overlapping square tiles
   (``tile_size_px``) each go through the detector at its own input size, i.e.
   about ``image_width / tile_size_px`` times more pixels per person.
2. **Crops** every frame: each *small* person found in the previous frame
   (box height below ``small_height_frac`` of the image) is looked at again in a
   square crop around their last box; large people are left to the full-frame
   pass, where resolution does not limit them.

Results of the three passes are merged by box non-maximum suppression. The
cost therefore grows with the number of small people (one landmarker call per
crop) plus the tile pass amortised over ``tile_every_n_frames`` frames.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.observation import (ImagePoseDetector, PersonObservation, PoseBackend,
                                                           box_iou, suppress_duplicates)


@dataclass(frozen=True)
class ZoomConfig:
    """Settings of :class:`ZoomedPoseBackend`.

    Attributes:
        tile_size_px: side of the square detection tiles, pixels (256: a person 85 px
            tall in vtest.avi reaches about 75 px at the detector's input).
        tile_overlap: overlap of neighbouring tiles as a fraction of the tile side, so
            that a person cut by one tile is whole in the next.
        tile_every_n_frames: run the tile pass on frames 0, n, 2n, ... of this backend.
            Larger n is cheaper but finds newcomers later.
        small_height_frac: people whose box is shorter than this fraction of the image
            height are followed by their own crop on the next frame.
        crop_scale: crop side as a multiple of the person's box height (room for motion).
        min_crop_px: smallest crop side, pixels.
        max_crops: most crops per frame (the largest-scoring small people first).
        nms_iou: box IoU above which two results are the same person.
        nms_containment: share of the smaller box inside the larger above which they are the
            same person (a tile that cuts a person reports a part of them).
        min_score: tile and crop results with a lower score (mean landmark visibility) are
            dropped (rejects clothes on the grass and similar false positives).
        keep_lost_frames: a small person the crop misses is looked for at their last box
            for this many more frames before being forgotten (detector flicker).
    """

    tile_size_px: int = 256
    tile_overlap: float = 0.3
    tile_every_n_frames: int = 10
    small_height_frac: float = 0.35
    crop_scale: float = 2.0
    min_crop_px: int = 160
    max_crops: int = 8
    nms_iou: float = 0.3
    nms_containment: float = 0.7
    min_score: float = 0.5
    keep_lost_frames: int = 3

    def __post_init__(self):
        if self.tile_size_px < 32 or not 0.0 <= self.tile_overlap < 0.9 or self.tile_every_n_frames < 1:
            raise InputError('ZoomConfig: need tile_size_px >= 32, 0 <= tile_overlap < 0.9, tile_every_n_frames >= 1; '
                             f'got {self.tile_size_px}, {self.tile_overlap}, {self.tile_every_n_frames}')
        if self.crop_scale < 1.0 or self.min_crop_px < 32 or self.max_crops < 0:
            raise InputError('ZoomConfig: need crop_scale >= 1, min_crop_px >= 32, max_crops >= 0')


def tile_origins(length_px: int, tile_px: int, overlap: float) -> list[int]:
    """Start offsets of overlapping tiles of ``tile_px`` covering ``[0, length_px)`` (last one flush)."""
    if tile_px >= length_px:
        return [0]
    step = max(1, int(round(tile_px * (1.0 - overlap))))
    starts = list(range(0, length_px - tile_px + 1, step))
    if starts[-1] != length_px - tile_px:
        starts.append(length_px - tile_px)
    return starts


def square_crop(box_px: np.ndarray, side_px: int, width_px: int, height_px: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) integer square crop of ``side_px`` centred on a box, shifted to lie inside the image."""
    side = int(min(side_px, width_px, height_px))
    cx = 0.5 * (box_px[0] + box_px[2])
    cy = 0.5 * (box_px[1] + box_px[3])
    x0 = int(np.clip(round(cx - side / 2), 0, width_px - side))
    y0 = int(np.clip(round(cy - side / 2), 0, height_px - side))
    return x0, y0, x0 + side, y0 + side


def to_frame_coordinates(person: PersonObservation, x0: int, y0: int, width_px: int,
                         height_px: int) -> PersonObservation:
    """Move an observation made in a crop whose top-left corner is (x0, y0) into frame pixels."""
    mask = None
    if person.mask is not None:
        mask = np.zeros((height_px, width_px), dtype=np.float32)
        h, w = person.mask.shape
        mask[y0:y0 + h, x0:x0 + w] = person.mask[:height_px - y0, :width_px - x0]
    offset = np.array([x0, y0], dtype=np.float32)
    return replace(person, landmarks_px=person.landmarks_px + offset, bbox_px=person.bbox_px + np.tile(offset, 2),
                   mask=mask)


class ZoomedPoseBackend(PoseBackend):
    """A full-frame backend plus zoomed tiles (every n frames) and per-person crops for small people.

    Args:
        full_frame: backend run on the whole frame every frame (large people).
        detector: stateless detector run on tiles and crops (e.g. a
            :class:`~onlinehmr_ros.core.hmr.perception.mediapipe.MediapipeTasksPoseBackend`).
        config: :class:`ZoomConfig`.
    """

    def __init__(self, full_frame: PoseBackend, detector: ImagePoseDetector, config: ZoomConfig = ZoomConfig()):
        self._full = full_frame
        self._detector = detector
        self._config = config
        self._count = 0
        # (box_px, score, frames missed) of the small people to look for by crop next frame
        self._small: list[tuple[np.ndarray, float, int]] = []
        self.last_stats: dict[str, int] = {}

    def reset(self) -> None:
        self._full.reset()
        self._count = 0
        self._small = []

    def close(self) -> None:
        self._full.close()
        if isinstance(self._detector, PoseBackend) and self._detector is not self._full:
            self._detector.close()

    def _detect_in(self, frame: Frame, x0: int, y0: int, x1: int, y1: int) -> list[PersonObservation]:
        found = self._detector.detect_image(frame.image_rgb[y0:y1, x0:x1])
        return [to_frame_coordinates(p, x0, y0, frame.width_px, frame.height_px) for p in found]

    def detect(self, frame: Frame) -> list[PersonObservation]:
        c = self._config
        W, H = frame.width_px, frame.height_px
        people = list(self._full.detect(frame))
        zoomed: list[PersonObservation] = []
        n_crops = n_tiles = 0
        missed: list[tuple[np.ndarray, float, int]] = []
        # Crops around last frame's small people: keep, per crop, the result that best overlaps the old box.
        for box, score, n_missed in self._small[:c.max_crops]:
            side = max(c.min_crop_px, int(c.crop_scale * (box[3] - box[1])))
            x0, y0, x1, y1 = square_crop(box, side, W, H)
            found = [p for p in self._detect_in(frame, x0, y0, x1, y1) if p.score >= c.min_score]
            n_crops += 1
            iou = box_iou(box[None], np.stack([p.bbox_px for p in found]))[0] if found else np.zeros(0)
            if iou.size and iou.max() > 0.0:
                zoomed.append(found[int(np.argmax(iou))])
            elif n_missed < c.keep_lost_frames:
                missed.append((box, score, n_missed + 1))
        if self._count % c.tile_every_n_frames == 0:
            for y0 in tile_origins(H, c.tile_size_px, c.tile_overlap):
                for x0 in tile_origins(W, c.tile_size_px, c.tile_overlap):
                    zoomed.extend(p for p in self._detect_in(frame, x0, y0, min(W, x0 + c.tile_size_px),
                                                             min(H, y0 + c.tile_size_px)) if p.score >= c.min_score)
                    n_tiles += 1
        self._count += 1
        people = suppress_duplicates(people + zoomed, c.nms_iou, c.nms_containment)
        small = [(p.bbox_px.copy(), p.score, 0) for p in people if p.box_height_px < c.small_height_frac * H]
        if missed and people:
            boxes = np.stack([p.bbox_px for p in people])
            missed = [m for m in missed if box_iou(m[0][None], boxes).max() <= c.nms_iou]
        self._small = sorted(small, key=lambda b: -b[1]) + missed
        self.last_stats = {'crops': n_crops, 'tiles': n_tiles, 'people': len(people)}
        return people
