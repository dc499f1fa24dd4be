"""mediapipe 0.10.21 plumbing and its single-person legacy solution (ROS-free).

mediapipe 0.10.21 is the newest wheel that still ships the BlazePose models
(ENVIRONMENT.md); nothing is downloaded. The pipeline's default perception
(:mod:`~onlinehmr_ros.core.hmr.perception.follow`) runs those models through
graphs of its own (:mod:`~onlinehmr_ros.core.hmr.perception.blazepose`). This
module keeps the import helpers and :class:`MediapipeLegacyPoseBackend`: one
person through the legacy ``mp.solutions.pose`` solution in tracking mode
(``model_complexity=1``: the lite and heavy models are not in the wheel and
would try to download), with the segmentation mask; the training tools use it.

3D landmarks are mediapipe's "world" landmarks: metres, origin between the hips, axes
aligned with the image (x right, y down, z away from the camera).
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.observation import (PerceptionError, PersonObservation, PoseBackend,
                                                           bbox_from_landmarks)


def _import_mediapipe():
    try:
        import mediapipe as mp  # noqa: PLC0415 (heavy optional import, done lazily)
    except ImportError as exc:
        raise PerceptionError('the mediapipe backend needs `pip install mediapipe==0.10.21` (the newest version '
                              'whose wheel still ships the pose models)') from exc
    return mp


def _shipped_model(relative: str) -> bytes:
    mp = _import_mediapipe()
    path = pathlib.Path(mp.__file__).parent / relative
    if not path.is_file():
        raise PerceptionError(f'{path} is missing: mediapipe {getattr(mp, "__version__", "?")} does not ship it; '
                              'install mediapipe==0.10.21')
    return path.read_bytes()


@dataclass(frozen=True)
class MediapipePoseConfig:
    """Settings of :class:`MediapipeLegacyPoseBackend`.

    Attributes:
        num_poses: people per frame; the legacy solution sees one.
        min_detection_confidence: person-detector score threshold in [0, 1].
        min_tracking_confidence: below this the tracking-mode model re-detects, in [0, 1].
        segmentation: compute the person mask.
        tracking_mode: use the model's own frame-to-frame ROI tracking (video mode);
            False runs detection on every frame independently.
    """

    num_poses: int = 1
    min_detection_confidence: float = 0.3
    min_tracking_confidence: float = 0.5
    segmentation: bool = True
    tracking_mode: bool = True

    def __post_init__(self):
        if self.num_poses < 1:
            raise InputError(f'num_poses must be >= 1, got {self.num_poses}')
        for name in ('min_detection_confidence', 'min_tracking_confidence'):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f'{name} must be in [0, 1], got {v}')


def _observation(lms, world_lms, mask: np.ndarray | None, width_px: int, height_px: int) -> PersonObservation:
    """Build a PersonObservation from mediapipe landmark lists (normalised image coordinates)."""
    uvz = np.array([[lm.x, lm.y] for lm in lms], dtype=np.float32)
    vis = np.array([lm.visibility if lm.visibility is not None else 0.0 for lm in lms], dtype=np.float32)
    px = uvz * np.array([width_px, height_px], dtype=np.float32)
    xyz = np.array([[lm.x, lm.y, lm.z] for lm in world_lms], dtype=np.float32)
    vis = np.clip(vis, 0.0, 1.0)
    box = bbox_from_landmarks(px, vis)
    return PersonObservation(landmarks_px=px, visibility=vis, landmarks_3d_m=xyz, mask=mask, bbox_px=box,
                             score=float(vis.mean()))


class MediapipeLegacyPoseBackend(PoseBackend):
    """One person per frame through mediapipe's legacy ``solutions.pose`` (about 22 ms/frame here)."""

    def __init__(self, config: MediapipePoseConfig = MediapipePoseConfig()):
        if config.num_poses != 1:
            raise InputError(f'the legacy mediapipe solution sees one person; got num_poses={config.num_poses} '
                             '(use perception.follow.FollowingPoseBackend for several)')
        self._config = config
        self._mp = _import_mediapipe()
        _shipped_model('modules/pose_landmark/pose_landmark_full.tflite')
        self._pose = None
        self.reset()

    def reset(self) -> None:
        self.close()
        c = self._config
        self._pose = self._mp.solutions.pose.Pose(
            static_image_mode=not c.tracking_mode, model_complexity=1, smooth_landmarks=False,
            enable_segmentation=c.segmentation, smooth_segmentation=False,
            min_detection_confidence=c.min_detection_confidence, min_tracking_confidence=c.min_tracking_confidence)

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def detect(self, frame: Frame) -> list[PersonObservation]:
        res = self._pose.process(frame.image_rgb)
        if res.pose_landmarks is None or res.pose_world_landmarks is None:
            return []
        mask = None
        if self._config.segmentation and res.segmentation_mask is not None:
            mask = np.asarray(res.segmentation_mask, dtype=np.float32)
        return [_observation(res.pose_landmarks.landmark, res.pose_world_landmarks.landmark, mask,
                             frame.width_px, frame.height_px)]
