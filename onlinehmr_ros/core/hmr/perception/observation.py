"""The perception contract: what a backend reports per person, and the box logic every backend shares.

A :class:`PoseBackend` turns one :class:`~onlinehmr_ros.core.common.datatypes.Frame` into a list of
:class:`PersonObservation` (one per person seen). The CPU default is
:class:`~onlinehmr_ros.core.hmr.perception.follow.FollowingPoseBackend` (BlazePose's detector and
landmark model, :mod:`~onlinehmr_ros.core.hmr.perception.blazepose`); heavier backends (a learned
ViT HMR model on a GPU) plug in behind the same interface.

Landmark order is BlazePose's 33
(:data:`~onlinehmr_ros.core.body.skeleton.MEDIAPIPE_LANDMARK_NAMES`). 3D landmarks are metric,
origin between the hips, axes aligned with the image (x right, y down, z away from the
camera), i.e. the camera's optical-frame orientation up to the backend's estimation error.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.body.skeleton import NUM_MEDIAPIPE_LANDMARKS
from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError


class PerceptionError(RuntimeError):
    """A perception backend could not be created or run (missing package, model file)."""


@dataclass(frozen=True)
class PersonObservation:
    """One person seen in one image by a perception backend.

    Attributes:
        landmarks_px: (33, 2) float32 image landmarks (u, v) in pixels of the frame;
            may lie outside the image (the model extrapolates hidden parts).
        visibility: (33,) float32 in [0, 1], the backend's belief that each landmark
            is visible (not occluded, inside the image).
        landmarks_3d_m: (33, 3) float32 metric 3D landmarks, origin between the hips,
            axes aligned with the camera optical frame (x right, y down, z forward).
        mask: (H, W) float32 in [0, 1] person mask over the whole frame, or None.
        bbox_px: (4,) float32 box (x0, y0, x1, y1) in pixels around the person.
        score: overall confidence in [0, 1].
        follow_id: id of the perception's region chain that produced this observation (the same
            id in consecutive frames while the backend follows one person without a break), or -1
            when the backend does not follow people (evidence of continuity for the tracker).
    """

    landmarks_px: np.ndarray
    visibility: np.ndarray
    landmarks_3d_m: np.ndarray
    mask: np.ndarray | None
    bbox_px: np.ndarray
    score: float
    follow_id: int = -1

    def __post_init__(self):
        lm = np.asarray(self.landmarks_px, dtype=np.float32)
        vis = np.asarray(self.visibility, dtype=np.float32)
        l3 = np.asarray(self.landmarks_3d_m, dtype=np.float32)
        box = np.asarray(self.bbox_px, dtype=np.float32)
        n = NUM_MEDIAPIPE_LANDMARKS
        if lm.shape != (n, 2) or vis.shape != (n,) or l3.shape != (n, 3):
            raise InputError(f'PersonObservation needs landmarks_px (33, 2), visibility (33,), landmarks_3d_m '
                             f'(33, 3); got {lm.shape}, {vis.shape}, {l3.shape}')
        if box.shape != (4,):
            raise InputError(f'bbox_px must be (4,) x0, y0, x1, y1; got {box.shape}')
        object.__setattr__(self, 'landmarks_px', lm)
        object.__setattr__(self, 'visibility', np.clip(np.nan_to_num(vis, nan=0.0), 0.0, 1.0))
        object.__setattr__(self, 'landmarks_3d_m', l3)
        object.__setattr__(self, 'bbox_px', box)
        if self.mask is not None:
            m = np.asarray(self.mask, dtype=np.float32)
            if m.ndim != 2:
                raise InputError(f'mask must be (H, W), got {m.shape}')
            object.__setattr__(self, 'mask', m)

    @property
    def box_height_px(self) -> float:
        return float(self.bbox_px[3] - self.bbox_px[1])


def bbox_from_landmarks(landmarks_px: np.ndarray, visibility: np.ndarray, min_visibility: float = 0.5,
                        pad_frac: float = 0.1) -> np.ndarray:
    """(4,) box x0, y0, x1, y1 around the visible landmarks (all finite ones if < 3 visible), padded.

    Args:
        landmarks_px: (33, 2) pixels.
        visibility: (33,) in [0, 1].
        min_visibility: landmarks at or above this count as visible.
        pad_frac: padding on each side as a fraction of the box height.
    """
    finite = np.all(np.isfinite(landmarks_px), axis=-1)
    sel = finite & (visibility >= min_visibility)
    if sel.sum() < 3:
        sel = finite
    if not sel.any():
        return np.full(4, np.nan, dtype=np.float32)
    pts = landmarks_px[sel]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pad = pad_frac * max(y1 - y0, x1 - x0)
    return np.array([x0 - pad, y0 - pad, x1 + pad, y1 + pad], dtype=np.float32)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of (A, 4) and (B, 4) boxes x0, y0, x1, y1 -> (A, B)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(iou)


def union_mask(people: list[PersonObservation], height_px: int, width_px: int) -> np.ndarray:
    """(H, W) float32 pixel-wise maximum of the people's masks (zeros where none)."""
    out = np.zeros((height_px, width_px), dtype=np.float32)
    for p in people:
        if p.mask is not None:
            np.maximum(out, p.mask, out=out)
    return out


class PoseBackend(abc.ABC):
    """Interface of every perception backend.

    A backend may keep state between calls (tracking-mode models); it must only
    use the frames it has been given (causal). ``reset()`` forgets that state.
    """

    @abc.abstractmethod
    def detect(self, frame: Frame) -> list[PersonObservation]:
        """People in ``frame`` (empty list when nobody is seen)."""

    def reset(self) -> None:
        """Forget any state carried between frames."""

    def close(self) -> None:
        """Release native resources."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
