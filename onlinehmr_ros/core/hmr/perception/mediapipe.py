"""The CPU perception backends: mediapipe 0.10.21 pose landmarks and person masks (ROS-free).

Both implement :class:`~onlinehmr_ros.core.hmr.perception.observation.PoseBackend`. The CPU
default is mediapipe 0.10.21, whose wheel ships the BlazePose models (ENVIRONMENT.md);
nothing is downloaded:

* :class:`MediapipeLegacyPoseBackend`: one person through the legacy
  ``mp.solutions.pose`` solution in tracking mode (``model_complexity=1``: the
  lite and heavy models are not in the wheel and would try to download), with
  the segmentation mask.
* :class:`MediapipeTasksPoseBackend`: several people through the Tasks
  ``PoseLandmarker(num_poses=N)``. Its ``.task`` bundle is assembled from the two
  tflites inside the wheel (``modules/pose_detection/pose_detection.tflite`` and
  ``modules/pose_landmark/pose_landmark_full.tflite``) with mediapipe's own
  ``metadata_writers`` adding the input normalisation; see
  :func:`pose_task_bundle_bytes`. The bundle is built in memory at start-up
  (about 0.3 s); ``python -m onlinehmr_ros.core.hmr.perception --build-bundle DIR``
  writes it to a file for tools that want one.

3D landmarks are mediapipe's "world" landmarks: metres, origin between the hips, axes
aligned with the image (x right, y down, z away from the camera).
"""
from __future__ import annotations

import io
import os
import pathlib
from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.perception.observation import (ImagePoseDetector, PerceptionError, PersonObservation,
                                                           PoseBackend, bbox_from_landmarks, suppress_duplicates)

TASK_BUNDLE_FILENAME = 'pose_landmarker_full.task'


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


def pose_task_bundle_bytes() -> bytes:
    """A PoseLandmarker ``.task`` bundle (bytes) made from the models inside the mediapipe wheel.

    The legacy tflites carry no metadata; the Tasks API reads the input
    normalisation from it, so it is added with mediapipe's ``metadata_writers``:
    the detector takes [-1, 1] (mean 127.5, std 127.5), the landmark model [0, 1]
    (mean 0, std 255), as in the legacy graphs. The two files are zipped
    uncompressed and 4-byte aligned under the names the Tasks graph expects.
    """
    _import_mediapipe()
    from mediapipe.tasks.python.metadata.metadata_writers import (  # noqa: PLC0415
        metadata_writer, model_asset_bundle_utils)

    def with_norm(buf: bytes, mean: float, std: float, name: str) -> bytes:
        writer = metadata_writer.MetadataWriter.create(bytearray(buf))
        writer.add_general_info(name).add_image_input([mean], [std])
        return bytes(writer.populate()[0])

    detector = with_norm(_shipped_model('modules/pose_detection/pose_detection.tflite'), 127.5, 127.5,
                         'pose_detector')
    landmarks = with_norm(_shipped_model('modules/pose_landmark/pose_landmark_full.tflite'), 0.0, 255.0,
                          'pose_landmarks_detector')
    buf = io.BytesIO()
    with model_asset_bundle_utils.AlignZipFile(buf, mode='w', alignment=4) as zf:
        zf.writestr('pose_detector.tflite', detector)
        zf.writestr('pose_landmarks_detector.tflite', landmarks)
    return buf.getvalue()


def build_pose_task_bundle(out_dir: str | os.PathLike) -> pathlib.Path:
    """Write :func:`pose_task_bundle_bytes` to ``out_dir/pose_landmarker_full.task``; returns the path."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / TASK_BUNDLE_FILENAME
    path.write_bytes(pose_task_bundle_bytes())
    return path


@dataclass(frozen=True)
class MediapipePoseConfig:
    """Settings of the mediapipe backends.

    Attributes:
        num_poses: most people per frame (1 selects the legacy single-person solution
            in :func:`make_mediapipe_backend`).
        min_detection_confidence: person-detector score threshold in [0, 1]. The Tasks
            detector misses partly visible people at 0.5; lower values find them but
            report duplicates, removed by box NMS (``nms_iou``).
        min_presence_confidence: landmark-model presence threshold (Tasks), in [0, 1].
        min_tracking_confidence: below this the tracking-mode models re-detect, in [0, 1].
        segmentation: compute person masks.
        tracking_mode: use the models' own frame-to-frame ROI tracking (video mode);
            False runs detection on every frame independently.
        nms_iou: box IoU above which two reported people are one (Tasks).
        task_bundle_path: a ``.task`` file to load instead of assembling the bundle in memory.
    """

    num_poses: int = 1
    min_detection_confidence: float = 0.3
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    segmentation: bool = True
    tracking_mode: bool = True
    nms_iou: float = 0.4
    task_bundle_path: str | None = None

    def __post_init__(self):
        if self.num_poses < 1:
            raise InputError(f'num_poses must be >= 1, got {self.num_poses}')
        for name in ('min_detection_confidence', 'min_presence_confidence', 'min_tracking_confidence', 'nms_iou'):
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
                             '(use MediapipeTasksPoseBackend for several)')
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


class MediapipeTasksPoseBackend(PoseBackend, ImagePoseDetector):
    """Several people per frame through the Tasks ``PoseLandmarker(num_poses=N)`` (about 30-50 ms here).

    ``detect`` uses video mode (the landmarker tracks its ROIs between frames) when
    ``config.tracking_mode``; ``detect_image`` always runs a separate image-mode
    landmarker (stateless, for tiles and crops).
    """

    def __init__(self, config: MediapipePoseConfig = MediapipePoseConfig(num_poses=3)):
        self._config = config
        self._mp = _import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision  # noqa: PLC0415
        self._vision = vision
        if config.task_bundle_path is not None:
            if not pathlib.Path(config.task_bundle_path).is_file():
                raise PerceptionError(f'task bundle {config.task_bundle_path} not found; build it with '
                                      '`python -m onlinehmr_ros.core.hmr.perception --build-bundle DIR` or leave '
                                      'task_bundle_path unset to assemble it in memory')
            self._base = lambda: BaseOptions(model_asset_path=str(config.task_bundle_path))
        else:
            bundle = pose_task_bundle_bytes()
            self._base = lambda: BaseOptions(model_asset_buffer=bundle)
        self._video = None
        self._image = None
        self._last_ts_ms = -1
        self.reset()

    def _make(self, mode):
        c = self._config
        opts = self._vision.PoseLandmarkerOptions(
            base_options=self._base(), running_mode=mode, num_poses=c.num_poses,
            min_pose_detection_confidence=c.min_detection_confidence,
            min_pose_presence_confidence=c.min_presence_confidence,
            min_tracking_confidence=c.min_tracking_confidence, output_segmentation_masks=c.segmentation)
        return self._vision.PoseLandmarker.create_from_options(opts)

    def reset(self) -> None:
        if self._video is not None:
            self._video.close()
        mode = self._vision.RunningMode.VIDEO if self._config.tracking_mode else self._vision.RunningMode.IMAGE
        self._video = self._make(mode)
        self._last_ts_ms = -1

    def close(self) -> None:
        for lm in (self._video, self._image):
            if lm is not None:
                lm.close()
        self._video = self._image = None

    def _convert(self, res, width_px: int, height_px: int) -> list[PersonObservation]:
        people = []
        for i, lms in enumerate(res.pose_landmarks):
            mask = None
            if self._config.segmentation and res.segmentation_masks:
                mask = np.array(res.segmentation_masks[i].numpy_view(), dtype=np.float32)
                if mask.ndim == 3:
                    mask = mask[..., 0]
            people.append(_observation(lms, res.pose_world_landmarks[i], mask, width_px, height_px))
        return suppress_duplicates(people, self._config.nms_iou)

    def detect(self, frame: Frame) -> list[PersonObservation]:
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.image_rgb))
        if self._config.tracking_mode:
            # Video mode needs strictly increasing timestamps (ms); stamps from a
            # stream can repeat or be coarse, so keep them monotonic.
            ts = max(int(frame.stamp_ns // 1_000_000), self._last_ts_ms + 1)
            self._last_ts_ms = ts
            res = self._video.detect_for_video(image, ts)
        else:
            res = self._video.detect(image)
        return self._convert(res, frame.width_px, frame.height_px)

    def detect_image(self, image_rgb: np.ndarray) -> list[PersonObservation]:
        if self._image is None:
            self._image = self._make(self._vision.RunningMode.IMAGE)
        img = np.ascontiguousarray(image_rgb)
        res = self._image.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=img))
        return self._convert(res, img.shape[1], img.shape[0])


def make_mediapipe_backend(config: MediapipePoseConfig) -> PoseBackend:
    """The legacy solution for one person (faster, tracking mode), the Tasks landmarker for several."""
    if config.num_poses == 1:
        return MediapipeLegacyPoseBackend(config)
    return MediapipeTasksPoseBackend(config)
