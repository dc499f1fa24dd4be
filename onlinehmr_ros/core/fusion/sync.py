"""Joining streams by image stamp, causally and with bounded memory (any node, any stage).

Every output of the pipeline carries the stamp of the image it was computed from,
so results of one image meet by equal stamps. :class:`StampPairer` pairs two
streams (fusion: people and camera poses); :class:`ImageJoin` joins an image with its
soft mask and its people (the SLAM step).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

A = TypeVar('A')
B = TypeVar('B')


@dataclass
class PairerStats:
    paired: int = 0
    dropped_left: int = 0    # left items whose partner never came within max_wait_ns
    dropped_right: int = 0   # right items nobody asked for
    clock_restarts: int = 0  # times the stamps of both streams jumped back (a bag loop): see StampPairer


class StampPairer(Generic[A, B]):
    """Pair items of two streams that carry the same stamp, causally and with bounded memory.

    A left item waits for its right partner until the newest stamp seen on
    either stream is more than ``max_wait_ns`` ahead of it; then it is dropped
    and counted. Each queue keeps at most ``max_queue`` items (the oldest go
    first, counted). Nothing blocks: every call returns at once.

    The clock of the streams may restart (a bag played in a loop): a stream whose stamp falls more
    than ``restart_back_ns`` (default ``max_wait_ns``: an item that old would be dropped anyway) below
    its own newest one has restarted. While only one stream has, its items wait by its own new
    stamps (bounded by ``max_queue``); once every stream has, the newest stamp is the new timeline's,
    the items left over from the old one are dropped (counted as above) and ``stats.clock_restarts``
    counts it: pairing goes on. (Without this, every item after a loop would be older than the old
    newest stamp and dropped at once, for ever.)
    """

    def __init__(self, max_wait_ns: int, max_queue: int = 64, restart_back_ns: int | None = None):
        if max_wait_ns < 0 or max_queue < 1:
            raise ValueError('max_wait_ns must be >= 0 and max_queue >= 1')
        self.max_wait_ns = int(max_wait_ns)
        self.max_queue = int(max_queue)
        self.restart_back_ns = max(int(restart_back_ns if restart_back_ns is not None else self.max_wait_ns), 1)
        self._left: OrderedDict[int, A] = OrderedDict()
        self._right: OrderedDict[int, B] = OrderedDict()
        self._newest = None
        self._latest: dict[bool, int] = {}          # newest stamp of each stream (is_left -> ns), on its timeline
        self._jumped: set[bool] = set()              # streams already on a new timeline (restart in progress)
        self._expired_left: list[tuple[int, A]] = []
        self.stats = PairerStats()

    def add_left(self, stamp_ns: int, item: A) -> list[tuple[int, A, B]]:
        return self._add(stamp_ns, item, self._left, is_left=True)

    def add_right(self, stamp_ns: int, item: B) -> list[tuple[int, A, B]]:
        return self._add(stamp_ns, item, self._right, is_left=False)

    def _add(self, stamp_ns: int, item, queue: OrderedDict, is_left: bool) -> list:
        stamp_ns = int(stamp_ns)
        prev = self._latest.get(is_left)
        if prev is not None and stamp_ns < prev - self.restart_back_ns:    # this stream's clock went back
            self._latest[is_left] = stamp_ns
            self._jumped.add(is_left)
            if self._jumped >= set(self._latest):                          # every stream is on the new timeline
                self._jumped.clear()
                self.stats.clock_restarts += 1
                self._newest = max(self._latest.values())
                self._drop_after(self._newest)
        else:
            self._latest[is_left] = stamp_ns if prev is None else max(prev, stamp_ns)
            self._newest = stamp_ns if self._newest is None else max(self._newest, stamp_ns)
        queue[stamp_ns] = item
        out = []
        if stamp_ns in self._left and stamp_ns in self._right:
            out.append((stamp_ns, self._left.pop(stamp_ns), self._right.pop(stamp_ns)))
            self.stats.paired += 1
        self._expire()
        return out

    def _expire(self) -> None:
        # while a restart is under way, time is the new timeline's (the old one's items wait for max_queue)
        newest = max(self._latest[k] for k in self._jumped) if self._jumped else self._newest
        horizon = newest - self.max_wait_ns
        for queue, counter in ((self._left, 'dropped_left'), (self._right, 'dropped_right')):
            for s in [s for s in queue if s < horizon]:
                item = queue.pop(s)
                if queue is self._left:
                    self._expired_left.append((s, item))
                setattr(self.stats, counter, getattr(self.stats, counter) + 1)
            while len(queue) > self.max_queue:
                s, item = queue.popitem(last=False)
                if queue is self._left:
                    self._expired_left.append((s, item))
                setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        del self._expired_left[:-self.max_queue]

    def _drop_after(self, stamp_ns: int) -> None:
        """Drop (and count) the queued items stamped after ``stamp_ns``: left over from an ended timeline."""
        for queue, counter in ((self._left, 'dropped_left'), (self._right, 'dropped_right')):
            for s in [s for s in queue if s > stamp_ns]:
                item = queue.pop(s)
                if queue is self._left:
                    self._expired_left.append((s, item))
                setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def pop_expired_left(self) -> list[tuple[int, A]]:
        """Left items dropped (partner never came) since the last call, oldest first, at most max_queue."""
        out, self._expired_left = self._expired_left, []
        return out

    @property
    def pending(self) -> tuple[int, int]:
        """(left, right) items waiting."""
        return len(self._left), len(self._right)


I = TypeVar('I')
M = TypeVar('M')
H = TypeVar('H')


class ImageJoin(Generic[I, M, H]):
    """Joins each image with its soft mask and its people (same stamp): what the SLAM step of an image needs.

    Inputs arrive on three streams in any order; :meth:`add_image`, :meth:`add_mask` and
    :meth:`add_humans` return the ``(stamp_ns, image, mask, humans)`` joins that became complete,
    in stamp order within a call. Stages:

    1. with ``use_mask``, an image waits for its mask (:class:`StampPairer`); an image whose mask
       does not come within ``max_wait_ns`` is dropped (counted in ``images_without_mask``);
       without, the mask is None;
    2. with ``use_humans``, the (image, mask) pair then waits for the people of that image; when
       they do not come within ``max_wait_ns`` it goes on without them (``humans`` None, counted in
       ``images_without_humans``), since the step must not stall on a missing scale ruler;
       without, ``humans`` is None.

    Causal, non-blocking, memory bounded by ``max_queue`` items per queue.
    """

    def __init__(self, max_wait_ns: int, max_queue: int = 32, use_mask: bool = True, use_humans: bool = True):
        self.use_mask = use_mask
        self.use_humans = use_humans
        self._masks: StampPairer[I, M] = StampPairer(max_wait_ns, max_queue)
        self._humans: StampPairer[tuple, H] = StampPairer(max_wait_ns, max_queue)
        self.images_without_humans = 0

    @property
    def images_without_mask(self) -> int:
        """Images dropped because their mask never came."""
        return self._masks.stats.dropped_left

    def add_image(self, stamp_ns: int, image: I) -> list[tuple[int, I, M | None, H | None]]:
        if not self.use_mask:
            return self._with_mask(stamp_ns, image, None)
        return self._masked(self._masks.add_left(stamp_ns, image))

    def add_mask(self, stamp_ns: int, mask: M) -> list[tuple[int, I, M | None, H | None]]:
        if not self.use_mask:
            return []
        return self._masked(self._masks.add_right(stamp_ns, mask))

    def add_humans(self, stamp_ns: int, humans: H) -> list[tuple[int, I, M | None, H | None]]:
        if not self.use_humans:
            return []
        return self._complete(self._humans.add_right(stamp_ns, humans))

    def _masked(self, pairs) -> list:
        out = []
        for stamp, image, mask in pairs:
            out += self._with_mask(stamp, image, mask)
        return out

    def _with_mask(self, stamp_ns: int, image: I, mask: M | None) -> list:
        if not self.use_humans:
            return [(int(stamp_ns), image, mask, None)]
        return self._complete(self._humans.add_left(stamp_ns, (image, mask)))

    def _complete(self, pairs) -> list:
        out = []
        for stamp, (image, mask) in self._humans.pop_expired_left():   # people never came: go on without
            self.images_without_humans += 1
            out.append((stamp, image, mask, None))
        for stamp, (image, mask), humans in pairs:
            out.append((stamp, image, mask, humans))
        return out
