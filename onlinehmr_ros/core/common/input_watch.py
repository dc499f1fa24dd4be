"""Liveness of a node's inputs: which stream went silent, for how long, and which one restarted (ROS-free).

A node of the graph keeps running when a node upstream dies, stalls or restarts; what it must do
is say so (issue 16, faults between nodes). :class:`InputWatch` is told of every message a node
receives (stream name, arrival time, publisher id) and answers:

* **stale**: streams heard before that have been silent longer than ``stale_after_s`` ("no
  /slam/camera_pose for 4 s"). A stream never heard is not stale: the node is still waiting for
  it, which its own status already says;
* **gaps**: silences longer than ``stale_after_s`` that ended (the stream came back), counted per
  stream, with the longest one;
* **restarts**: a message from a publisher never seen before while every publisher seen before
  had been silent longer than ``stale_after_s``: the publisher was replaced (a node restarted),
  so whatever state it carried (a SLAM's world frame, a tracker's ids) starts again. A second
  publisher joining a stream that is still alive is not a restart.

Times are seconds of any monotonic clock (the node passes ``time.monotonic()``: liveness is
about the wall clock, not the stamps, which a stalled publisher does not advance).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable


@dataclass
class StreamLiveness:
    """What is known of one input stream.

    Attributes:
        last_s: arrival time of the newest message (None: never heard).
        messages: messages seen.
        gaps: silences longer than the watch's ``stale_after_s`` that ended.
        longest_gap_s: the longest such silence.
        restarts: publishers replaced after a silence (see the module docstring).
        last_restart_s: arrival time of the first message of the newest replacement publisher.
    """
    last_s: float | None = None
    messages: int = 0
    gaps: int = 0
    longest_gap_s: float = 0.0
    restarts: int = 0
    last_restart_s: float | None = None
    publishers: dict[Hashable, float] = field(default_factory=dict)   # publisher -> its newest message


class InputWatch:
    """Per-stream liveness (see the module docstring).

    Args:
        stale_after_s: a stream silent for longer than this is stale (> 0).
        recent_s: how long after a restart :meth:`recent_restarts` still names it.
    Raises:
        ValueError: ``stale_after_s`` or ``recent_s`` not positive.
    """

    def __init__(self, stale_after_s: float = 3.0, recent_s: float = 30.0):
        if not stale_after_s > 0 or not recent_s > 0:
            raise ValueError(f'stale_after_s and recent_s must be > 0, got {stale_after_s}, {recent_s}')
        self.stale_after_s = float(stale_after_s)
        self.recent_s = float(recent_s)
        self.streams: dict[str, StreamLiveness] = {}

    def observe(self, stream: str, now_s: float, publisher: Hashable | None = None) -> None:
        """A message of ``stream`` arrived at ``now_s`` from ``publisher`` (None: unknown publisher)."""
        s = self.streams.setdefault(stream, StreamLiveness())
        if s.last_s is not None:
            gap = now_s - s.last_s
            if gap > self.stale_after_s:
                s.gaps += 1
                s.longest_gap_s = max(s.longest_gap_s, gap)
        if publisher is not None and publisher not in s.publishers and s.publishers and \
                all(now_s - t > self.stale_after_s for t in s.publishers.values()):
            s.restarts += 1
            s.last_restart_s = now_s
            s.publishers.clear()              # the replaced publishers are gone for good
        if publisher is not None:
            s.publishers[publisher] = now_s
        s.last_s = now_s
        s.messages += 1

    def silent_s(self, stream: str, now_s: float) -> float:
        """Seconds since ``stream``'s newest message (0 for a stream never heard)."""
        s = self.streams.get(stream)
        return 0.0 if s is None or s.last_s is None else max(0.0, now_s - s.last_s)

    def stale(self, now_s: float) -> list[tuple[str, float]]:
        """``(stream, silent seconds)`` of every stream heard before and silent longer than ``stale_after_s``."""
        return [(name, now_s - s.last_s) for name, s in self.streams.items()
                if s.last_s is not None and now_s - s.last_s > self.stale_after_s]

    def recent_restarts(self, now_s: float) -> list[tuple[str, float]]:
        """``(stream, seconds ago)`` of restarts within the last ``recent_s``."""
        return [(name, now_s - s.last_restart_s) for name, s in self.streams.items()
                if s.last_restart_s is not None and now_s - s.last_restart_s <= self.recent_s]

    def summary(self, now_s: float, restart_notes: dict[str, str] | None = None) -> str:
        """One line for a status message: 'no /a for 4 s; /b restarted 2 s ago' ('' when all is well).

        Args:
            restart_notes: stream -> what its restart means to this node, appended in parentheses
                ('/slam/camera_pose restarted 2 s ago (a new world frame)').
        """
        notes = restart_notes or {}
        parts = [f'no {name} for {age:.0f} s' for name, age in self.stale(now_s)]
        parts += [f'{name} restarted {ago:.0f} s ago' + (f' ({notes[name]})' if name in notes else '')
                  for name, ago in self.recent_restarts(now_s)]
        return '; '.join(parts)

    def values(self, now_s: float) -> dict[str, object]:
        """Diagnostics values per stream: ``silent_s``, ``gaps``, ``longest_gap_s``, ``restarts``."""
        out: dict[str, object] = {}
        for name, s in self.streams.items():
            out[f'silent_s {name}'] = round(self.silent_s(name, now_s), 1)
            out[f'gaps {name}'] = s.gaps
            out[f'longest_gap_s {name}'] = round(s.longest_gap_s, 1)
            out[f'restarts {name}'] = s.restarts
        return out
