"""Counting what a node had to work around (fallbacks, rejected input), for /diagnostics (ROS-free).

The core never falls back silently: a function that substitutes something (an initial guess, an
unrefined pose, a dropped message) says so with a short *reason*. An :class:`IncidentLog` collects
those reasons by *kind*; a node records every one and, once per diagnostics report, asks
:meth:`IncidentLog.pending` for the kinds that happened since the last report (the report is then a
WARN naming them) and :meth:`IncidentLog.values` for the running counts (key/values of the status).
"""
from __future__ import annotations


class IncidentLog:
    """Running counts and the newest reason of each kind of incident."""

    def __init__(self, log_every_s: float = 10.0):
        self.log_every_s = log_every_s
        self.counts: dict[str, int] = {}
        self.last_reason: dict[str, str] = {}
        self._reported: dict[str, int] = {}
        self._logged_s: dict[str, float] = {}

    def record(self, kind: str, reason: str, now_s: float | None = None) -> bool:
        """One incident of ``kind`` (a short key, e.g. ``'orientation_fallback'``) because of ``reason``.

        Returns:
            whether to log it now: the first of its kind, or the first after ``log_every_s`` seconds
            of ``now_s`` (any monotonic clock; None: only the first is logged) since the last logged one
            of its kind. A burst of bad messages is one log line per kind, not one per message.
        """
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.last_reason[kind] = reason
        last = self._logged_s.get(kind)
        if last is None or (now_s is not None and now_s - last >= self.log_every_s):
            self._logged_s[kind] = now_s if now_s is not None else 0.0
            return True
        return False

    def total(self, kind: str | None = None) -> int:
        """Incidents of ``kind`` (all kinds when None) since the start."""
        return self.counts.get(kind, 0) if kind is not None else sum(self.counts.values())

    def pending(self) -> list[str]:
        """One line per kind that happened since the previous call: ``'<kind> x<n>: <newest reason>'``.

        Marks them reported: a second call without new incidents returns ``[]``.
        """
        out = []
        for kind, n in self.counts.items():
            new = n - self._reported.get(kind, 0)
            if new > 0:
                out.append(f'{kind} x{new}: {self.last_reason[kind]}')
                self._reported[kind] = n
        return out

    def values(self) -> dict[str, int]:
        """Running count of every kind seen (``{kind: count}``), for the diagnostics' key/values."""
        return dict(self.counts)
