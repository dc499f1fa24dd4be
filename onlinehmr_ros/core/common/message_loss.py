"""Counting messages a subscriber never saw, from the publishers' sequence numbers (ROS-free).

DDS numbers each publisher's samples 1, 2, 3, ...; rclpy hands the number to a subscription
callback that takes the message info. A jump from ``n`` to ``n + k`` means ``k - 1`` messages
were lost on the way: overwritten in a keep-last queue of the publisher or the subscriber while
the callback was busy, or dropped by a best-effort transport. Counting starts at the first
message received from each publisher (what was sent before this subscriber joined is not its
loss); a publisher that restarts (numbers going backwards) starts over.
"""
from __future__ import annotations

from typing import Hashable


class SequenceGaps:
    """Received and lost messages of one subscription.

    Attributes:
        received: messages taken.
        lost: messages skipped in the sequence numbers.
        unnumbered: messages without a sequence number (a middleware that does not provide one:
            losses cannot be counted for those).
    """

    def __init__(self):
        self.received = 0
        self.lost = 0
        self.unnumbered = 0
        self._last: dict[Hashable, int] = {}

    def observe(self, publisher: Hashable, sequence: int | None) -> int:
        """Record one message; returns how many were lost just before it."""
        self.received += 1
        if sequence is None:
            self.unnumbered += 1
            return 0
        last = self._last.get(publisher)
        self._last[publisher] = sequence
        if last is None or sequence <= last:
            return 0
        gap = sequence - last - 1
        self.lost += gap
        return gap
