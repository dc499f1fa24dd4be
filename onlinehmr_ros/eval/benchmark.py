"""Timing statistics of a streaming run: per-stage percentiles, constant-time check, memory.

The pipeline reports ``timings_ms`` per frame (stage name -> milliseconds, and
usually ``'total'``). :func:`timing_summary` turns a run's list of those dicts
into per-stage p50 / p95 / mean, the frame rate, and an early-versus-late
comparison of the per-frame cost (OnlineHMR's fourth criterion: the cost of a
frame must not grow with the length of the stream). :func:`format_timing_table`
prints it; :func:`write_json` stores it so figures can be compared across
commits. Benchmarks print these figures; they are not pass/fail tests.
"""
from __future__ import annotations

import json
import math
import resource
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


class BenchmarkError(ValueError):
    """No timings, or settings that do not fit the run."""


@dataclass(frozen=True)
class StageStats:
    """Per-frame time of one stage, milliseconds."""
    name: str
    frames: int          # frames that reported this stage
    mean_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True)
class TimingSummary:
    """Summary of a run.

    Attributes:
        frames: frames in the run.
        warmup_frames: frames skipped at the start (model loading, caches filling).
        stages: per-stage statistics, ``'total'`` first.
        fps: 1000 / mean total time after the warm-up.
        early_ms, late_ms: mean total time of the first / last ``window`` frames after the warm-up.
        late_over_early: ``late_ms / early_ms`` (about 1 for a constant-time pipeline).
        window: frames averaged for ``early_ms`` / ``late_ms``.
        peak_rss_mb: peak resident memory of this process, MiB.
    """
    frames: int
    warmup_frames: int
    stages: tuple[StageStats, ...]
    fps: float
    early_ms: float
    late_ms: float
    late_over_early: float
    window: int
    peak_rss_mb: float


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (``getrusage``; KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024.0 * 1024.0) if sys.platform == 'darwin' else rss / 1024.0


def timing_summary(timings_ms: Sequence[Mapping[str, float]], warmup_frames: int = 10, window: int = 300,
                   total_key: str = 'total') -> TimingSummary:
    """Summarise per-frame stage timings.

    Args:
        timings_ms: one dict per frame (stage -> ms). A frame without ``total_key`` counts the sum of its
            stages as its total.
        warmup_frames: first frames left out of every statistic.
        window: frames averaged at the start and at the end for the constant-time check (shrunk to a
            third of the run when the run is shorter than three windows).
        total_key: name of the whole-frame time.
    Returns:
        :class:`TimingSummary`.
    Raises:
        BenchmarkError: fewer than ``warmup_frames + 3`` frames.
    """
    if len(timings_ms) < warmup_frames + 3:
        raise BenchmarkError(f'need at least warmup_frames + 3 = {warmup_frames + 3} frames of timings, '
                             f'got {len(timings_ms)}')
    run = timings_ms[warmup_frames:]
    totals = np.array([float(t[total_key]) if total_key in t else float(sum(t.values())) for t in run])
    names = [total_key] + sorted({k for t in run for k in t} - {total_key})
    stages = []
    for name in names:
        vals = totals if name == total_key else np.array([float(t[name]) for t in run if name in t])
        stages.append(StageStats(name=name, frames=int(vals.size), mean_ms=float(vals.mean()),
                                 p50_ms=float(np.percentile(vals, 50)), p95_ms=float(np.percentile(vals, 95)),
                                 max_ms=float(vals.max())))
    w = max(1, min(window, len(totals) // 3))
    early, late = float(totals[:w].mean()), float(totals[-w:].mean())
    mean = float(totals.mean())
    return TimingSummary(frames=len(timings_ms), warmup_frames=warmup_frames, stages=tuple(stages),
                         fps=1000.0 / mean if mean > 0 else math.inf, early_ms=early, late_ms=late,
                         late_over_early=late / early if early > 0 else math.nan, window=w,
                         peak_rss_mb=peak_rss_mb())


def format_timing_table(summary: TimingSummary) -> str:
    """Plain-text table of a :class:`TimingSummary`."""
    lines = [f'{"stage":24s} {"frames":>7s} {"mean ms":>8s} {"p50 ms":>8s} {"p95 ms":>8s} {"max ms":>8s}']
    for s in summary.stages:
        lines.append(f'{s.name:24s} {s.frames:7d} {s.mean_ms:8.2f} {s.p50_ms:8.2f} {s.p95_ms:8.2f} {s.max_ms:8.2f}')
    lines.append(f'fps {summary.fps:.1f} over {summary.frames - summary.warmup_frames} frames '
                 f'(after {summary.warmup_frames} warm-up); first {summary.window}: {summary.early_ms:.2f} ms, '
                 f'last {summary.window}: {summary.late_ms:.2f} ms, late/early {summary.late_over_early:.3f}; '
                 f'peak RSS {summary.peak_rss_mb:.0f} MiB')
    return '\n'.join(lines) + '\n'


def write_json(path: str | Path, summary: TimingSummary, extra: Mapping | None = None) -> Path:
    """Write a summary (and ``extra`` fields, e.g. the commit and the settings) as JSON."""
    payload = asdict(summary)
    if extra:
        payload.update(extra)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2))
    return out
