"""What a node does with a bad message at its door: the decisions, ROS-free (issue 16, bad input).

Every check answers with a :class:`Verdict`: take the message or refuse it, and, when there is
something to report, an incident *kind* (a short key counted on /diagnostics through
:class:`~onlinehmr_ros.core.common.incidents.IncidentLog`) and a one-line *reason* (what was wrong,
what to do). Nothing here raises into a node's executor.

* :func:`check_image_size`: images with a side below ``MIN_IMAGE_SIDE_PX`` (width 1, height 0) are
  refused: no stage can work on them (features, detector, masks need some pixels).
* :func:`intrinsics_from_calibration`: a CameraInfo whose K has NaN/inf, a zero or negative focal
  length, or whose size is zero is refused (the node keeps its previous intrinsics or the
  field-of-view assumption).
* :class:`StampOrder`: per stream, a message with the stamp of the previous one (duplicate) or an
  older one (out of order) is refused: every stage is causal and stamp-joined, so a repeated or
  late image would repeat or reorder outputs. A jump back by more than ``restart_back_s``, or
  ``restart_after_late`` late messages in a row (a loop shorter than ``restart_back_s``), is a
  restart of the stream's clock (a bag played in a loop, a simulator reset): taken, reported, and
  the order starts again from it.
* :func:`check_soft_mask`: a soft mask that does not fit its image (size, NaN) is not used: the
  image goes on without it (nothing else of it is lost).
* :class:`ImageStreamCheck`: size, then stamp order, then a resolution change (taken, reported: a
  camera may change mode; the intrinsics then come from the field of view until a CameraInfo of
  the new size arrives, and the SLAM starts a new map).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.common.errors import InputError

#: smallest image side (pixels) any stage is given
MIN_IMAGE_SIDE_PX = 16
#: a stamp this far (seconds) before the stream's newest is a restart of its clock, not a late message
RESTART_BACK_S = 1.0


@dataclass(frozen=True)
class Verdict:
    """accept: take the message. kind: incident to count ('' for none). reason: the log line.
    restart: the stream's clock went back (the message starts a new timeline)."""

    accept: bool
    kind: str = ''
    reason: str = ''
    restart: bool = False


OK = Verdict(True)


def check_image_size(width: int, height: int, min_side_px: int = MIN_IMAGE_SIDE_PX) -> Verdict:
    """Refuse an image with a side below ``min_side_px`` (kind ``'image_too_small'``)."""
    if width < min_side_px or height < min_side_px:
        return Verdict(False, 'image_too_small', f'image of {width}x{height} px refused: every side must be at least '
                       f'{min_side_px} px; check the camera driver or the topic remapping')
    return OK


def intrinsics_from_calibration(K, width: int, height: int) -> CameraIntrinsics:
    """A CameraInfo's K (9 values, row-major) and size -> CameraIntrinsics.

    Raises:
        InputError: K not finite, a focal length <= 0 (an uncalibrated camera), or a zero size;
            the message says what to do.
    """
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(K)):
        raise InputError('CameraInfo.k has NaN or infinite values; fix the calibration (or give none: the '
                         'field-of-view parameter is used)')
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError('CameraInfo.k has no focal length (uncalibrated camera); give intrinsics or '
                         'set the field-of-view parameter instead')
    if int(width) <= 0 or int(height) <= 0:
        raise InputError(f'CameraInfo size is {int(width)}x{int(height)}; a calibration must give the image size')
    return CameraIntrinsics(K, int(width), int(height))


def check_soft_mask(mask: np.ndarray | None, width: int, height: int, decode_error: str = '') -> Verdict:
    """A decoded soft mask (None with ``decode_error`` when it did not decode) for a ``width`` x ``height`` image.

    Returns ``accept`` False with kind ``'mask_unusable'`` when it cannot be used (the image then goes on
    without a mask), OK otherwise.
    """
    if mask is None:
        why = decode_error or 'missing'
    elif mask.ndim != 2 or mask.shape != (height, width):
        why = f'is {mask.shape[1] if mask.ndim > 1 else "?"}x{mask.shape[0]} but the image is {width}x{height}'
    elif not np.all(np.isfinite(mask)):
        why = 'has NaN or infinite values'
    else:
        return OK
    return Verdict(False, 'mask_unusable', f'soft mask {why}: this image goes on without a mask (its people are '
                   'not masked out of the SLAM features)')


class StampOrder:
    """Stamp order of one stream (module docstring): duplicates and late messages refused, clock restarts taken.

    Args:
        name: the stream, for the reasons ('image', 'camera humans', ...).
        restart_back_s: a stamp more than this before the newest one is a restart of the clock.
        restart_after_late: this many late messages in a row are a restart too (the last one is taken).
    """

    def __init__(self, name: str = 'image', restart_back_s: float = RESTART_BACK_S, restart_after_late: int = 3):
        if restart_back_s <= 0 or restart_after_late < 1:
            raise InputError(f'need restart_back_s > 0 and restart_after_late >= 1, got {restart_back_s}, '
                             f'{restart_after_late}')
        self.name = name
        self.restart_back_ns = int(restart_back_s * 1e9)
        self.restart_after_late = int(restart_after_late)
        self.newest_ns: int | None = None
        self._late_run = 0

    def check(self, stamp_ns: int) -> Verdict:
        stamp_ns = int(stamp_ns)
        last = self.newest_ns
        if last is None or stamp_ns > last:
            self.newest_ns = stamp_ns
            self._late_run = 0
            return OK
        if stamp_ns == last:
            return Verdict(False, 'duplicate_stamp', f'{self.name} with the stamp of the previous one '
                           f'({stamp_ns} ns) refused: a repeated message would repeat the outputs; check for two '
                           'publishers on the topic, or a driver that does not stamp its images')
        back_s = (last - stamp_ns) * 1e-9
        self._late_run += 1
        if last - stamp_ns <= self.restart_back_ns and self._late_run < self.restart_after_late:
            return Verdict(False, 'out_of_order_stamp', f'{self.name} stamped {back_s:.3f} s before the newest '
                           'one refused (late or reordered; the stages are causal)')
        self.newest_ns = stamp_ns
        self._late_run = 0
        return Verdict(True, 'stamp_jump_back', f'{self.name} stamps jumped back by {back_s:.1f} s (a bag played '
                       'in a loop, a clock reset?): taken as a restart of the stream', restart=True)


class ImageStreamCheck:
    """The door of a node that reads camera images: size, stamp order, resolution changes (module docstring)."""

    def __init__(self, restart_back_s: float = RESTART_BACK_S, min_side_px: int = MIN_IMAGE_SIDE_PX):
        self.order = StampOrder('image', restart_back_s)
        self.min_side_px = min_side_px
        self.size: tuple[int, int] | None = None

    def check(self, stamp_ns: int | None, width: int, height: int) -> Verdict:
        """``stamp_ns`` None: the order was checked already (e.g. when the image arrived)."""
        v = check_image_size(width, height, self.min_side_px)
        if not v.accept:
            return v
        if stamp_ns is not None:
            v = self.order.check(stamp_ns)
            if not v.accept:
                return v
        old, self.size = self.size, (int(width), int(height))
        if old is not None and old != self.size and not v.kind:
            return Verdict(True, 'resolution_change', f'image size changed from {old[0]}x{old[1]} to {width}x{height} '
                           'px: taken (a camera mode change?); the intrinsics need a CameraInfo of the new size, else '
                           'the field of view is assumed')
        return v
