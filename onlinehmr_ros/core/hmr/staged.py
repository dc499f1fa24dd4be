"""The camera-space HMR as two concurrent stages: perceive image t+1 while image t is estimated (ROS-free).

:meth:`CameraHMR.process <onlinehmr_ros.core.hmr.camera_hmr.CameraHMR.process>` is perception (mediapipe's
landmark model, ~21 ms per person here, C++ that releases the interpreter lock) followed by tracking and body
estimation (~15 ms, mostly Python and small numpy / torch calls). The two stages keep separate state
(:meth:`~onlinehmr_ros.core.hmr.camera_hmr.CameraHMR.perceive`), so :class:`StagedHMR` runs each in its own
thread: a new image is perceived while the previous one is estimated. Throughput rises towards one image per
``max(perception, estimation)`` instead of their sum; the latency of one image is unchanged, and the results
are those of ``process`` for every image that is not dropped.

Queues: images wait for perception in a keep-last-``depth`` queue and perceived images wait for estimation in
another; an image pushed out of either (the stages fall behind the camera) is dropped and counted
(:attr:`StagedHMR.dropped`). ``depth`` 1 takes the newest image (a live camera); a lockstep replay, whose
source waits for the results, uses more and drops nothing.

Errors: an exception in a stage is handed to ``on_error`` with the image's stamp; the stage goes on with
the next image.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMROutput


class _KeepLast:
    """A keep-last-``depth`` queue between two threads; pushing into a full one drops (and counts) the oldest."""

    def __init__(self, depth: int):
        self._items: deque = deque()
        self._depth = depth
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def push(self, item) -> None:
        with self._cond:
            if len(self._items) >= self._depth:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def pop(self):
        """The oldest item; None once closed."""
        with self._cond:
            while not self._items and not self.closed:
                self._cond.wait()
            return None if self.closed else self._items.popleft()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class StagedHMR:
    """Perception and estimation of a :class:`CameraHMR` in two threads (module docstring).

    Args:
        hmr: the stages' :class:`CameraHMR` (owned: closed by :meth:`close`).
        on_output: called from the estimation thread with each estimated frame, its result and the ``tag`` it was
            submitted with, in image order.
        on_error: called from the failing stage's thread with the image's stamp and the exception.
        depth: images kept waiting before each stage (>= 1).
    """

    def __init__(self, hmr: CameraHMR, on_output: Callable[[Frame, HMROutput, object], None],
                 on_error: Callable[[int, Exception], None], depth: int = 1):
        if depth < 1:
            raise InputError(f'depth must be >= 1, got {depth}')
        self.hmr = hmr
        self._on_output, self._on_error = on_output, on_error
        self._to_perceive, self._to_estimate = _KeepLast(depth), _KeepLast(depth)
        self._threads = [threading.Thread(target=self._perceive_loop, name='hmr-perception', daemon=True),
                         threading.Thread(target=self._estimate_loop, name='hmr-estimation', daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def dropped(self) -> int:
        """Images dropped so far because a stage was still busy with earlier ones."""
        return self._to_perceive.dropped + self._to_estimate.dropped

    def submit(self, frame: Frame, tag=None) -> None:
        """Queue an image (returns at once); ``tag`` (anything, e.g. the image's frame id) comes back with its result."""
        if self._to_perceive.closed:
            raise RuntimeError('StagedHMR is closed')
        self._to_perceive.push((frame, tag))

    def _perceive_loop(self) -> None:
        while (item := self._to_perceive.pop()) is not None:
            frame, tag = item
            try:
                self._to_estimate.push((frame, tag, self.hmr.perceive(frame)))
            except Exception as exc:       # noqa: BLE001 (reported, the stage goes on)
                self._on_error(frame.stamp_ns, exc)

    def _estimate_loop(self) -> None:
        while (item := self._to_estimate.pop()) is not None:
            frame, tag, perceived = item
            try:
                self._on_output(frame, self.hmr.estimate(frame, perceived), tag)
            except Exception as exc:       # noqa: BLE001 (the estimate or its consumer failed: reported)
                self._on_error(frame.stamp_ns, exc)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop both threads (images still queued are not processed) and close the HMR."""
        self._to_perceive.close()
        self._to_estimate.close()
        for t in self._threads:
            t.join(timeout_s)
        self.hmr.close()


__all__ = ['StagedHMR']
