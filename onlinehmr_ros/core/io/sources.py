"""Image sources for the camera_source node and the offline CLI (ROS-free).

A source yields :class:`SourceFrame` objects (RGB uint8 images with stamps)
from a video file, an image folder, a webcam, or a rosbag2 file (MCAP or
sqlite3, read with the pure-Python ``rosbags`` package). Intrinsics come from
a ROS camera_info YAML, explicit ``fx fy cx cy``, or a field of view.

Bad input: a missing or unreadable file raises :class:`SourceError` when the
source is opened; a frame that cannot be decoded is skipped, counted in
``skipped_frames`` and reported through the ``on_warning`` callback.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np
import yaml

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.io.images import ImageDecodeError, decode_rgb

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_SUFFIXES = ('.avi', '.mp4', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg')
BAG_SUFFIXES = ('.mcap', '.db3')


class SourceError(RuntimeError):
    """An image source that cannot be opened or read (missing file, no image topic, ...)."""


@dataclass(frozen=True)
class SourceFrame:
    image_rgb: np.ndarray            # (H, W, 3) uint8 RGB
    stamp_ns: int                    # source stamp: index / fps for files, header stamp for bags
    index: int                       # index of this frame among the frames delivered
    intrinsics: CameraIntrinsics | None = None  # from the bag's CameraInfo, when it has one


Warn = Callable[[str], None]


def _ignore(_: str) -> None:
    pass


class VideoFileSource:
    """Frames of a video file (anything OpenCV's FFmpeg backend decodes)."""

    def __init__(self, path: str, on_warning: Warn = _ignore):
        self.path = pathlib.Path(path)
        if not self.path.is_file():
            raise SourceError(f'video file not found: {self.path}')
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise SourceError(f'cannot open video {self.path} (not a video, or a codec OpenCV lacks)')
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 30.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.skipped_frames = 0
        self._warn = on_warning

    def __iter__(self) -> Iterator[SourceFrame]:
        delivered = 0
        position = 0
        failures_in_a_row = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                # A failed read before the announced end is a corrupt frame: skip it and go on.
                if position < self.frame_count and failures_in_a_row < 10:
                    self.skipped_frames += 1
                    failures_in_a_row += 1
                    self._warn(f'{self.path.name}: frame {position} could not be decoded, skipped')
                    position += 1
                    continue
                break
            failures_in_a_row = 0
            yield SourceFrame(np.ascontiguousarray(bgr[:, :, ::-1]), int(round(position * 1e9 / self.fps)),
                              delivered)
            delivered += 1
            position += 1
        self._cap.release()


class ImageFolderSource:
    """Images of a folder in name order, stamped ``index / fps``."""

    def __init__(self, path: str, fps: float = 30.0, on_warning: Warn = _ignore):
        self.path = pathlib.Path(path)
        if not self.path.is_dir():
            raise SourceError(f'image folder not found: {self.path}')
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {self.path}')
        if fps <= 0:
            raise SourceError(f'fps must be positive, got {fps}')
        self.fps = float(fps)
        self.frame_count = len(self.files)
        self.skipped_frames = 0
        self._warn = on_warning

    def __iter__(self) -> Iterator[SourceFrame]:
        delivered = 0
        for i, f in enumerate(self.files):
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                self.skipped_frames += 1
                self._warn(f'{f.name} could not be decoded, skipped')
                continue
            yield SourceFrame(np.ascontiguousarray(bgr[:, :, ::-1]), int(round(i * 1e9 / self.fps)), delivered)
            delivered += 1


class WebcamSource:
    """Frames of a V4L2 camera by index, stamped with the capture time (monotonic clock)."""

    def __init__(self, index: int, on_warning: Warn = _ignore):
        self._cap = cv2.VideoCapture(int(index))
        if not self._cap.isOpened():
            raise SourceError(f'cannot open webcam {index} (is /dev/video{index} present and free?)')
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frame_count = 0
        self.skipped_frames = 0
        self._warn = on_warning

    def __iter__(self) -> Iterator[SourceFrame]:
        import time
        delivered = 0
        while True:
            ok, bgr = self._cap.read()
            if not ok:
                self.skipped_frames += 1
                self._warn('webcam frame could not be read, skipped')
                if self.skipped_frames > 100:
                    raise SourceError('webcam stopped delivering frames')
                continue
            yield SourceFrame(np.ascontiguousarray(bgr[:, :, ::-1]), time.monotonic_ns(), delivered)
            delivered += 1


class BagSource:
    """sensor_msgs/Image (and CameraInfo) from a rosbag2 file or folder (MCAP or sqlite3).

    Args:
        path: a bag folder (with metadata.yaml) or a single .mcap / .db3 file.
        image_topic: topic to read; if empty, the only sensor_msgs/msg/Image topic of the bag.
    Raises:
        SourceError: missing bag, no image topic, or several image topics and none chosen.
    """

    def __init__(self, path: str, image_topic: str = '', on_warning: Warn = _ignore):
        from rosbags.highlevel import AnyReader
        self.path = pathlib.Path(path)
        if not self.path.exists():
            raise SourceError(f'bag not found: {self.path}')
        try:
            self._reader = AnyReader([self.path])
            self._reader.open()
        except Exception as exc:  # rosbags raises several unrelated types for unreadable bags
            raise SourceError(f'cannot read bag {self.path}: {exc}') from exc
        images = [c for c in self._reader.connections if c.msgtype == 'sensor_msgs/msg/Image']
        topics = sorted({c.topic for c in images})
        if image_topic:
            if image_topic not in topics:
                raise SourceError(f"bag {self.path} has no sensor_msgs/msg/Image topic '{image_topic}' "
                                  f'(image topics: {topics or "none"})')
            topic = image_topic
        elif len(topics) == 1:
            topic = topics[0]
        else:
            raise SourceError(f'bag {self.path} has ' + ('no sensor_msgs/msg/Image topic' if not topics else
                              f'several image topics {topics}: choose one with image_topic'))
        self.image_topic = topic
        self._image_conns = [c for c in images if c.topic == topic]
        info_topic = topic.rsplit('/', 1)[0] + '/camera_info'
        self._info_conns = [c for c in self._reader.connections
                            if c.msgtype == 'sensor_msgs/msg/CameraInfo' and c.topic == info_topic]
        self.frame_count = sum(c.msgcount for c in self._image_conns)
        duration_s = max(self._reader.duration * 1e-9, 1e-9)
        self.fps = self.frame_count / duration_s if self.frame_count > 1 else 30.0
        self.skipped_frames = 0
        self._warn = on_warning

    def __iter__(self) -> Iterator[SourceFrame]:
        intr = None
        delivered = 0
        for conn, _, raw in self._reader.messages(connections=self._image_conns + self._info_conns):
            msg = self._reader.deserialize(raw, conn.msgtype)
            if conn.msgtype == 'sensor_msgs/msg/CameraInfo':
                K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
                if K[0, 0] > 0:
                    intr = CameraIntrinsics(K, int(msg.width), int(msg.height))
                continue
            try:
                rgb = decode_rgb(msg.data, msg.encoding, msg.width, msg.height, msg.step, bool(msg.is_bigendian))
            except ImageDecodeError as exc:
                self.skipped_frames += 1
                self._warn(f'{exc}; skipped')
                continue
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
            yield SourceFrame(rgb, stamp, delivered, intr)
            delivered += 1
        self._reader.close()


def open_source(uri: str, fps: float = 30.0, image_topic: str = '', on_warning: Warn = _ignore):
    """Open a source from a string: a webcam index ('0'), a video, an image folder, or a bag.

    Raises:
        SourceError: nothing usable at ``uri``.
    """
    if uri.isdigit():
        return WebcamSource(int(uri), on_warning)
    p = pathlib.Path(uri)
    if not p.exists():
        raise SourceError(f'input not found: {uri} (give a video file, an image folder, a rosbag2 file '
                          'or folder, or a webcam index)')
    if p.is_dir():
        if (p / 'metadata.yaml').is_file():
            return BagSource(uri, image_topic, on_warning)
        return ImageFolderSource(uri, fps, on_warning)
    if p.suffix.lower() in BAG_SUFFIXES:
        return BagSource(uri, image_topic, on_warning)
    return VideoFileSource(uri, on_warning)


def load_camera_info_yaml(path: str) -> CameraIntrinsics:
    """Intrinsics from a ROS camera_info YAML (camera_calibration format).

    Expects ``image_width``, ``image_height`` and ``camera_matrix: {rows: 3, cols: 3, data: [9 values]}``.
    Raises:
        SourceError: missing file or fields.
    """
    p = pathlib.Path(path)
    if not p.is_file():
        raise SourceError(f'camera_info YAML not found: {p}')
    with open(p) as f:
        d = yaml.safe_load(f) or {}
    try:
        K = np.asarray(d['camera_matrix']['data'], dtype=np.float64).reshape(3, 3)
        return CameraIntrinsics(K, int(d['image_width']), int(d['image_height']))
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(f'{p} is not a ROS camera_info YAML (needs image_width, image_height, '
                          f'camera_matrix.data with 9 values): {exc}') from exc


def resolve_intrinsics(width_px: int, height_px: int, camera_info_yaml: str = '',
                       fx_fy_cx_cy: tuple[float, float, float, float] | None = None,
                       hfov_deg: float = 60.0) -> CameraIntrinsics:
    """Intrinsics for an image size, from (in order of precedence) a YAML, fx fy cx cy, or a field of view.

    Raises:
        SourceError: the YAML's image size differs from the images'.
    """
    if camera_info_yaml:
        intr = load_camera_info_yaml(camera_info_yaml)
        if (intr.width_px, intr.height_px) != (width_px, height_px):
            raise SourceError(f'{camera_info_yaml} is for {intr.width_px}x{intr.height_px} images but the '
                              f'input is {width_px}x{height_px}')
        return intr
    if fx_fy_cx_cy is not None:
        fx, fy, cx, cy = fx_fy_cx_cy
        return CameraIntrinsics(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), width_px, height_px)
    return CameraIntrinsics.from_fov(width_px, height_px, hfov_deg)


class IntrinsicsPolicy:
    """The intrinsics of a source's frames, with one precedence for camera_source and ``onlinehmr run``.

    The frame's own (a bag's CameraInfo) first, then a camera_info YAML, then ``fx fy cx cy``, then
    a horizontal field of view (:func:`resolve_intrinsics`; ``on_warning`` is told once). What was
    resolved is kept while the image size stays; intrinsics that came with a frame are kept for the
    frames without.
    """

    def __init__(self, camera_info_yaml: str = '', fx_fy_cx_cy: tuple[float, float, float, float] | None = None,
                 hfov_deg: float = 60.0, on_warning: Callable[[str], None] | None = None):
        self.camera_info_yaml = camera_info_yaml
        self.fx_fy_cx_cy = fx_fy_cx_cy
        self.hfov_deg = hfov_deg
        self.on_warning = on_warning
        self.current: CameraIntrinsics | None = None
        self.guessed = False          # the intrinsics come from the hfov guess (warned once through on_warning)

    def for_frame(self, frame: SourceFrame) -> CameraIntrinsics:
        """Intrinsics for ``frame``.

        Raises:
            SourceError: the YAML's image size differs from the frame's.
        """
        h, w = frame.image_rgb.shape[:2]
        if frame.intrinsics is not None:
            self.current = frame.intrinsics
        elif self.current is None or (self.current.width_px, self.current.height_px) != (w, h):
            self.current = resolve_intrinsics(w, h, self.camera_info_yaml, self.fx_fy_cx_cy, self.hfov_deg)
            if not self.camera_info_yaml and self.fx_fy_cx_cy is None and not self.guessed:
                self.guessed = True
                if self.on_warning is not None:
                    self.on_warning(f'no camera calibration given: assuming a {self.hfov_deg:g} deg horizontal field '
                                    'of view. A wrong focal length scales every depth (people k times too far for a '
                                    'focal length k times too long): give a camera_info YAML or fx fy cx cy if you '
                                    'can; the SLAM branch reports its own focal-length estimate.')
        return self.current


class LockstepGate:
    """Flow control of a replay that runs as fast as the pipeline: at most ``depth`` frames in flight.

    A frame is in flight from :meth:`sent` until a result stamped at or after it is acknowledged
    (results come in stamp order), or until ``timeout_s`` passed without one (given up on, so a
    lost result cannot stop the stream).
    """

    def __init__(self, depth: int, timeout_s: float):
        if depth < 1 or timeout_s < 0:
            raise SourceError(f'lockstep needs depth >= 1 and timeout_s >= 0, got {depth}, {timeout_s}')
        self.depth = int(depth)
        self.timeout_s = float(timeout_s)
        self._in_flight: dict[int, float] = {}        # stamp -> time sent
        self.timed_out = 0

    def sent(self, stamp_ns: int, now_s: float) -> None:
        self._in_flight[int(stamp_ns)] = now_s

    def acknowledge(self, stamp_ns: int) -> None:
        """A result stamped ``stamp_ns`` arrived: every frame up to that stamp is done."""
        for s in [s for s in self._in_flight if s <= stamp_ns]:
            del self._in_flight[s]

    def ready(self, now_s: float) -> bool:
        """True when the next frame may go out."""
        for s in [s for s, t in self._in_flight.items() if now_s - t > self.timeout_s]:
            del self._in_flight[s]
            self.timed_out += 1
        return len(self._in_flight) < self.depth

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)
