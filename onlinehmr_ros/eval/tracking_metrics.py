"""Multi-person tracking metrics: CLEAR-MOT (MOTA, ID switches, fragmentations) and IDF1, via py-motmetrics.

Per frame, every output person (a track) is compared with every ground-truth
person by a **normalised 2D keypoint distance**: the mean, over the ground
truth's visible COCO-17 keypoints, of the pixel distance between the output's
keypoints (projected with the camera intrinsics) and the truth's, divided by
the truth's height in the image (vertical extent of its 17 projected
keypoints, at least :data:`MIN_HEIGHT_PX`). A pair further apart than
:data:`MATCH_THRESHOLD` (half a body height) cannot match. 2D is used rather
than 3D so that a depth error (the human branch's business) does not count as a
lost person.

**Visible** ground truth: at least :data:`VISIBLE_MIN_KEYPOINTS` of the 17
COCO keypoints are inside the image and not hidden by another person or the
scene. Only visible person-frames are objects of CLEAR-MOT / IDF1. A person
who is partly in view but not visible is *don't care* (MOTChallenge's rule):
an output matched to it (Hungarian over all people with a keypoint in the
image) is removed from that frame instead of counting as a false positive.

Metrics (py-motmetrics, which implements Bernardin & Stiefelhagen 2008 and
Ristani et al. 2016): ``idf1``, ``id_switches`` (``num_switches``),
``fragmentations``, ``mota``, ``coverage`` = visible person-frames with a
matched output (matches and switches: motmetrics' ``num_detections``) /
visible person-frames (recall, %), ``id_switches_per_person_minute`` =
switches / visible person-time in minutes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

#: a ground-truth person-frame is visible with at least this many of the 17 COCO keypoints visible
VISIBLE_MIN_KEYPOINTS = 9
#: largest normalised 2D keypoint distance (fraction of the person's image height) of a match
MATCH_THRESHOLD = 0.5
#: floor of the person's image height in the normalisation, pixels
MIN_HEIGHT_PX = 20.0


class TrackingMetricsError(ValueError):
    """Inputs of inconsistent shape."""


def normalised_keypoint_distance(pred_uv: np.ndarray, gt_uv: np.ndarray, gt_weight: np.ndarray) -> np.ndarray:
    """Distance matrix between outputs and ground-truth people of one frame.

    Args:
        pred_uv: (H, K, 2) projected output keypoints, pixels (NaN rows: behind the camera).
        gt_uv: (G, K, 2) projected ground-truth keypoints, pixels (all K, also hidden ones).
        gt_weight: (G, K) bool, the keypoints compared (visible, or in the image for don't-care people).
    Returns:
        (H, G) mean pixel distance over the weighted keypoints / ground-truth height (inf where undefined).
    """
    p = np.asarray(pred_uv, np.float64)
    g = np.asarray(gt_uv, np.float64)
    w = np.asarray(gt_weight, bool)
    if p.ndim != 3 or g.ndim != 3 or p.shape[1:] != g.shape[1:] or w.shape != g.shape[:2]:
        raise TrackingMetricsError(f'need (H, K, 2), (G, K, 2), (G, K); got {p.shape}, {g.shape}, {w.shape}')
    height = np.maximum(np.ptp(g[..., 1], axis=1), MIN_HEIGHT_PX)                 # (G,)
    d = np.linalg.norm(p[:, None] - g[None], axis=-1)                               # (H, G, K)
    with np.errstate(invalid='ignore'):
        num = np.where(w[None], d, 0.0).sum(-1)
    cnt = w.sum(-1)[None].astype(np.float64)
    out = np.where(cnt > 0, num / np.maximum(cnt, 1) / height[None], np.inf)
    return np.where(np.isfinite(out), out, np.inf)


@dataclass
class FrameInput:
    """One frame for :func:`evaluate_tracking`.

    Attributes:
        gt_ids: (G,) person indices with at least one keypoint in the image.
        gt_visible: (G,) bool, visible (objects of the metrics); the others are don't care.
        hyp_ids: (H,) output track ids.
        distance: (H, G) normalised distances (:func:`normalised_keypoint_distance`).
    """
    gt_ids: np.ndarray
    gt_visible: np.ndarray
    hyp_ids: np.ndarray
    distance: np.ndarray


@dataclass(frozen=True)
class TrackingResult:
    idf1: float
    id_switches: int
    id_switches_per_person_minute: float
    fragmentations: int
    mota: float
    coverage: float                     # % of visible person-frames matched
    visible_person_frames: int
    false_positives: int
    # frame -> {person index: hypothesis id} for the visible, matched person-frames
    matches: dict = field(default_factory=dict)


def evaluate_tracking(frames: list[FrameInput], fps: float, threshold: float = MATCH_THRESHOLD
                      ) -> TrackingResult:
    """CLEAR-MOT and IDF1 over a sequence (module docstring).

    Args:
        frames: one :class:`FrameInput` per frame, in order.
        fps: frame rate (for switches per person-minute).
        threshold: largest normalised distance of a match.
    """
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=False)
    visible_total = 0
    for i, fr in enumerate(frames):
        gt_ids = np.asarray(fr.gt_ids, int)
        vis = np.asarray(fr.gt_visible, bool)
        hyp = np.asarray(fr.hyp_ids, int)
        d = np.asarray(fr.distance, np.float64).reshape(len(hyp), len(gt_ids))
        keep_h = np.ones(len(hyp), bool)
        if len(hyp) and len(gt_ids) and not vis.all():
            cost = np.where(d <= threshold, d, 1e6)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < 1e6 and not vis[c]:
                    keep_h[r] = False            # matched to a don't-care person: neither TP nor FP
        dv = d[keep_h][:, vis]
        dist = np.where(dv <= threshold, dv, np.nan).T     # motmetrics: (objects, hypotheses)
        acc.update(gt_ids[vis].tolist(), hyp[keep_h].tolist(), dist, frameid=i)
        visible_total += int(vis.sum())
    mh = mm.metrics.create()
    names = ['idf1', 'num_switches', 'num_fragmentations', 'mota', 'num_detections', 'num_objects',
             'num_false_positives']
    summary = mh.compute(acc, metrics=names, name='seq').iloc[0]
    ev = acc.mot_events
    matches: dict[int, dict[int, int]] = {}
    if len(ev):
        hits = ev[ev['Type'].isin(['MATCH', 'SWITCH'])]
        for (frame, _), row in hits.iterrows():
            matches.setdefault(int(frame), {})[int(row['OId'])] = int(row['HId'])
    minutes = visible_total / fps / 60.0
    switches = int(summary['num_switches'])
    return TrackingResult(
        idf1=float(summary['idf1']) if visible_total else math.nan, id_switches=switches,
        id_switches_per_person_minute=switches / minutes if minutes > 0 else math.nan,
        fragmentations=int(summary['num_fragmentations']),
        mota=float(summary['mota']) if visible_total else math.nan,
        coverage=100.0 * float(summary['num_detections']) / visible_total if visible_total else math.nan,
        visible_person_frames=visible_total, false_positives=int(summary['num_false_positives']),
        matches=matches)
