"""Evaluate a pipeline's per-frame outputs on a synthetic sequence: one table row per run.

``evaluate_sequence(sequence, outputs)`` takes the ground truth of a
:class:`~onlinehmr_ros.eval.synthetic.SyntheticSequence` and the list of
per-frame pipeline outputs (anything with the fields of ``PipelineOutput``:
``camera_humans`` and ``world_humans`` (:class:`HumansFrame`),
``camera_pose`` (:class:`CameraPose`), ``timings_ms``) and returns a dict of
metrics (:mod:`onlinehmr_ros.eval.metrics`, WHAM / TRAM / GVHMR protocols):

=============  ==========================================================  ========
key            meaning                                                      unit
=============  ==========================================================  ========
pa_mpjpe       Procrustes-aligned MPJPE, camera frame                       mm
mpjpe          pelvis-aligned MPJPE, camera frame                           mm
pve            pelvis-aligned vertex error (only with ``body_model``)       mm
accel          acceleration error, camera frame, pelvis-aligned             m/s^2
w_mpjpe100     world MPJPE, 100-frame chunks aligned on their first 2       mm
wa_mpjpe100    world MPJPE, 100-frame chunks aligned on the whole chunk     mm
rte            root translation error / GT path length (rigid alignment)    %
erve           ego-centric root velocity error                              mm/frame
foot_sliding   predicted foot motion at GT contacts (ankle + foot joints)   mm
jitter         third difference of predicted world joints                   10 m/s^3
hf_share       spectral energy share above 10 Hz of predicted world joints  %
ate            camera ATE after Sim(3) alignment (mean)                     m
ate_s          camera ATE after SE(3) alignment, metric scale kept (mean)   m
fps            1000 / mean per-frame time                                   Hz
=============  ==========================================================  ========

Association: each predicted track (``HumanState.track_id``) is matched to at
most one ground-truth person and vice versa by the Hungarian algorithm on the
mean distance between their camera-frame joints over the frames where both
exist (pairs farther than ``max_match_distance_m`` stay unmatched). A matched
person's metrics use the frames where it is *evaluable* (at least
``min_visible_joints`` SMPL-24 joints visible in the image) and its track has
an output; per-frame values of all people are pooled before averaging, as
the protocols pool frames over sequences. ``coverage`` is the share of
evaluable person-frames that got a matched prediction.

A metric that cannot be computed (no matched person, a sequence shorter than
the STFT window, a person who never moves for RTE, no camera tracking) is NaN
and the reason is listed in ``notes``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from onlinehmr_ros.core.common.datatypes import CameraPose, HumansFrame
from onlinehmr_ros.core.common.geometry import invert_transform, rotmat_from_axis_angle, transform_points
from onlinehmr_ros.eval import metrics

#: columns of the table, in order: (key, header, format)
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ('pa_mpjpe', 'PA-MPJPE', '{:.1f}'), ('mpjpe', 'MPJPE', '{:.1f}'), ('w_mpjpe100', 'W-MPJPE100', '{:.1f}'),
    ('wa_mpjpe100', 'WA-MPJPE100', '{:.1f}'), ('rte', 'RTE%', '{:.2f}'), ('accel', 'Accel', '{:.2f}'),
    ('jitter', 'Jitter', '{:.2f}'), ('hf_share', 'HF%', '{:.2f}'), ('ate', 'ATE', '{:.3f}'),
    ('ate_s', 'ATE-S', '{:.3f}'), ('fps', 'fps', '{:.1f}'), ('coverage', 'cover%', '{:.0f}'),
)
METRIC_KEYS = ('pa_mpjpe', 'mpjpe', 'pve', 'accel', 'w_mpjpe100', 'wa_mpjpe100', 'rte', 'erve', 'foot_sliding',
               'jitter', 'hf_share', 'ate', 'ate_s', 'fps', 'ms_p50', 'ms_p95', 'coverage')


class EvaluationError(ValueError):
    """Outputs that do not fit the sequence (count, frames) or bad settings."""


class PipelineOutputLike(Protocol):
    """The fields of the pipeline's per-frame output that the evaluation reads."""
    camera_humans: HumansFrame
    world_humans: HumansFrame
    camera_pose: CameraPose
    timings_ms: dict


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of :func:`evaluate_sequence`.

    Attributes:
        min_visible_joints: a GT person-frame is evaluated when at least this many SMPL-24 joints are visible.
        max_match_distance_m: a track whose mean camera-frame joint distance to a person exceeds this is
            not matched to that person.
        min_overlap_frames: a track must share at least this many evaluable frames with a person to be matched.
        total_timing_key: key of ``timings_ms`` holding the whole per-frame time; when a frame lacks it the
            sum of its stage timings is used.
    """
    min_visible_joints: int = 8
    max_match_distance_m: float = 1.0
    min_overlap_frames: int = 5
    total_timing_key: str = 'total'


@dataclass(frozen=True)
class _Track:
    frames: np.ndarray          # (n,) frame indices
    joints_cam: np.ndarray      # (n, 24, 3)
    joints_world: np.ndarray    # (n, 24, 3) NaN where the world output lacked the track
    orient_world: np.ndarray    # (n, 3, 3)
    vertices_cam: list          # n arrays (V, 3) or empty


def _collect_tracks(outputs: Sequence[PipelineOutputLike]) -> dict[int, _Track]:
    cam: dict[int, dict[int, object]] = {}
    world: dict[int, dict[int, object]] = {}
    for i, out in enumerate(outputs):
        for h in out.camera_humans.humans:
            cam.setdefault(int(h.track_id), {})[i] = h
        for h in out.world_humans.humans:
            world.setdefault(int(h.track_id), {})[i] = h
    tracks = {}
    for tid, per_frame in cam.items():
        frames = np.array(sorted(per_frame))
        jc = np.stack([np.asarray(per_frame[i].joints, np.float64) for i in frames])
        jw = np.full_like(jc, np.nan)
        ow = np.full((len(frames), 3, 3), np.nan)
        for k, i in enumerate(frames):
            hw = world.get(tid, {}).get(int(i))
            if hw is not None:
                jw[k] = hw.joints
                ow[k] = rotmat_from_axis_angle(np.asarray(hw.global_orient, np.float64))
        verts = [np.asarray(per_frame[i].vertices, np.float64) for i in frames]
        tracks[tid] = _Track(frames, jc, jw, ow, verts)
    return tracks


def _frame_total_ms(out: PipelineOutputLike, key: str) -> float:
    t = out.timings_ms or {}
    if key in t:
        return float(t[key])
    return float(sum(t.values())) if t else math.nan


def _nanmean(x: list[np.ndarray]) -> float:
    x = [np.asarray(a, np.float64).ravel() for a in x if np.size(a)]
    return float(np.mean(np.concatenate(x))) if x else math.nan


def evaluate_sequence(sequence, outputs: Sequence[PipelineOutputLike], config: EvaluationConfig = EvaluationConfig(),
                      body_model=None) -> dict:
    """Compute the table row of one run of a pipeline over one sequence.

    Args:
        sequence: a :class:`~onlinehmr_ros.eval.synthetic.SyntheticSequence` (the ground truth).
        outputs: one pipeline output per frame, in frame order.
        config: association and validity settings.
        body_model: optional :class:`~onlinehmr_ros.core.body.model.BodyModel` matching the sequence's model;
            when given and the predicted vertices have the same count, PVE is computed.
    Returns:
        dict with ``sequence``, ``frames``, ``people``, ``matched`` ({track_id: person}), the metric keys of
        :data:`METRIC_KEYS` (floats, NaN when not computable) and ``notes`` (list of str).
    Raises:
        EvaluationError: the number of outputs differs from the number of frames.
    """
    n = sequence.num_frames
    if len(outputs) != n:
        raise EvaluationError(f'{len(outputs)} outputs for a sequence of {n} frames; give one output per frame')
    fps = float(sequence.fps)
    notes: list[str] = []
    T_cam_world = invert_transform(sequence.T_world_cam)
    gt_cam = [transform_points(T_cam_world, p.joints_world.astype(np.float64)) for p in sequence.people]
    evaluable = [p.joints_visible.sum(axis=1) >= config.min_visible_joints for p in sequence.people]
    tracks = _collect_tracks(outputs)

    # ---------------------------------------------------------------- association
    tids = sorted(tracks)
    P = len(sequence.people)
    big = 1e9
    cost = np.full((len(tids), P), big)
    for a, tid in enumerate(tids):
        tr = tracks[tid]
        for b in range(P):
            ok = evaluable[b][tr.frames]
            if ok.sum() < config.min_overlap_frames:
                continue
            d = np.linalg.norm(tr.joints_cam[ok] - gt_cam[b][tr.frames[ok]], axis=-1).mean()
            cost[a, b] = d if d <= config.max_match_distance_m else big
    matched: dict[int, int] = {}
    if tids and P:
        rows, cols = linear_sum_assignment(cost)
        matched = {tids[r]: int(c) for r, c in zip(rows, cols) if cost[r, c] < big}
    if not matched:
        notes.append('no predicted track matched a ground-truth person')

    # ---------------------------------------------------------------- human metrics
    per = {k: [] for k in ('pa_mpjpe', 'mpjpe', 'pve', 'accel', 'w_mpjpe100', 'wa_mpjpe100', 'rte', 'erve',
                           'foot_sliding', 'jitter')}
    hf_values, hf_weights = [], []
    evaluable_total = int(sum(e.sum() for e in evaluable))
    covered = 0
    for tid, b in matched.items():
        tr = tracks[tid]
        person = sequence.people[b]
        ok = evaluable[b][tr.frames]
        frames = tr.frames[ok]
        covered += len(frames)
        pc, gc = tr.joints_cam[ok], gt_cam[b][frames]
        per['mpjpe'].append(metrics.mpjpe(pc, gc))
        per['pa_mpjpe'].append(metrics.pa_mpjpe(pc, gc))
        if body_model is not None:
            pv = [tr.vertices_cam[k] for k in np.nonzero(ok)[0]]
            if all(v.shape == (body_model.num_vertices, 3) for v in pv):
                from onlinehmr_ros.eval.synthetic import person_vertices_world
                gv = transform_points(T_cam_world[frames],
                                      person_vertices_world(sequence, body_model, b, frames).astype(np.float64))
                per['pve'].append(metrics.pve(np.stack(pv), gv, pc, gc))
            else:
                notes.append(f'track {tid}: predicted vertices do not match the {body_model.name} topology; no PVE')
        # accel error on the frame range, dropping triplets that touch a missing frame
        if len(frames) >= 3:
            lo, hi = frames[0], frames[-1] + 1
            valid = np.zeros(hi - lo, bool)
            valid[frames - lo] = True
            full_p = np.zeros((hi - lo, 24, 3))
            full_g = np.zeros((hi - lo, 24, 3))
            full_p[frames - lo] = pc - metrics.pelvis(pc)
            full_g[frames - lo] = gc - metrics.pelvis(gc)
            per['accel'].append(metrics.accel_error(full_p, full_g, fps, valid=valid))
        # world metrics on the evaluable frames with a world output (WHAM/GVHMR: invalid frames skipped)
        has_world = np.all(np.isfinite(tr.joints_world[ok]), axis=(1, 2))
        wf = frames[has_world]
        pw = tr.joints_world[ok][has_world]
        gw = person.joints_world[wf].astype(np.float64)
        if len(wf) < 4:
            notes.append(f'person {b}: fewer than 4 frames with world output; no world metrics')
            continue
        wm = metrics.world_mpjpe(pw, gw)
        per['w_mpjpe100'].append(wm.w_mpjpe)
        per['wa_mpjpe100'].append(wm.wa_mpjpe)
        if metrics.path_length(gw[:, 0]) > 0.05:
            per['rte'].append(metrics.rte(pw[:, 0], gw[:, 0]))
        else:
            notes.append(f'person {b}: ground-truth root moves less than 5 cm; no RTE')
        go = rotmat_from_axis_angle(person.global_orient_world[wf].astype(np.float64))
        per['erve'].append(metrics.erve(tr.orient_world[ok][has_world], pw[:, 0], go, gw[:, 0]))
        feet = list(metrics.SMPL24_FOOT_JOINT_INDICES)
        per['foot_sliding'].append(metrics.foot_sliding(pw[:, feet], gw[:, feet]))
        per['jitter'].append(metrics.jitter(pw, fps))
        if len(wf) >= metrics.HF_WINDOW_FRAMES and fps > 2 * metrics.HF_CUTOFF_HZ:
            hf_values.append(metrics.high_frequency_share(pw, fps))
            hf_weights.append(len(wf))
        else:
            notes.append(f'person {b}: {len(wf)} world frames at {fps} fps; no HF share')
    row: dict = {'sequence': sequence.name, 'frames': n, 'people': P, 'matched': matched, 'notes': notes}
    for k, v in per.items():
        row[k] = _nanmean(v)
    row['hf_share'] = float(np.average(hf_values, weights=hf_weights)) * 100.0 if hf_values else math.nan
    row['coverage'] = 100.0 * covered / evaluable_total if evaluable_total else math.nan

    # ---------------------------------------------------------------- camera
    tracking = np.array([bool(o.camera_pose.tracking) for o in outputs])
    if tracking.sum() >= 3:
        pred_c = np.stack([o.camera_pose.T_world_cam_m[:3, 3] for o, t in zip(outputs, tracking) if t])
        gt_c = sequence.T_world_cam[tracking, :3, 3]
        if np.ptp(gt_c, axis=0).max() < 1e-6:
            notes.append('static camera: ATE is the spread of the predicted centres after alignment')
        row['ate'] = metrics.camera_ate(pred_c, gt_c, with_scale=True).mean
        row['ate_s'] = metrics.camera_ate(pred_c, gt_c, with_scale=False).mean
        row['tracking'] = 100.0 * tracking.mean()
    else:
        row['ate'] = row['ate_s'] = math.nan
        row['tracking'] = 100.0 * tracking.mean()
        notes.append('camera tracked in fewer than 3 frames; no ATE')

    # ---------------------------------------------------------------- speed
    ms = np.array([_frame_total_ms(o, config.total_timing_key) for o in outputs])
    ms = ms[np.isfinite(ms)]
    if ms.size:
        row['fps'] = 1000.0 / float(ms.mean()) if ms.mean() > 0 else math.inf
        row['ms_p50'] = float(np.percentile(ms, 50))
        row['ms_p95'] = float(np.percentile(ms, 95))
    else:
        row['fps'] = row['ms_p50'] = row['ms_p95'] = math.nan
        notes.append('no timings_ms in the outputs; no fps')
    return row


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]] = TABLE_COLUMNS) -> str:
    """A plain-text table: one line per row, then a mean line per variant.

    Rows may carry ``'variant'`` (e.g. ``'mask=none'``; ablations are extra rows): rows are grouped
    by variant in order of first appearance, each group ends with its mean (NaN-aware). The label
    of a row is ``'sequence [variant]'``.
    """
    label_w = max([len(_label(r)) for r in rows] + [12])
    head = f'{"sequence":{label_w}s} ' + ' '.join(f'{h:>{max(len(h), 7)}s}' for _, h, _ in columns)
    lines = [head, '-' * len(head)]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get('variant', '')), []).append(r)
    for variant, group in groups.items():
        for r in group:
            lines.append(_line(_label(r), r, columns, label_w))
        mean = {}
        for key, _, _ in columns:
            vals = np.array([float(r.get(key, math.nan)) for r in group], dtype=np.float64)
            mean[key] = float(np.nanmean(vals)) if np.any(np.isfinite(vals)) else math.nan
        lines.append(_line('mean' + (f' [{variant}]' if variant else ''), mean, columns, label_w))
        lines.append('')
    return '\n'.join(lines).rstrip() + '\n'


def _label(r: dict) -> str:
    v = r.get('variant', '')
    return f'{r.get("sequence", "?")}' + (f' [{v}]' if v else '')


def _line(label: str, r: dict, columns, label_w: int) -> str:
    cells = []
    for key, header, fmt in columns:
        v = r.get(key, math.nan)
        text = '-' if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)
        cells.append(f'{text:>{max(len(header), 7)}s}')
    return f'{label:{label_w}s} ' + ' '.join(cells)
