"""Tables and JSON of evaluation results (the dicts of :func:`~onlinehmr_ros.eval.evaluation.evaluate_record`).

Every table lists one line per sequence and a mean line per group (NaN-aware
mean over sequences; :func:`format_table`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from onlinehmr_ros.eval.evaluation import COCO17_NAMES, ROW_KINDS

CAMERA_COLUMNS = (
    ('orientation_jump_max_deg', 'jump deg', '{:.1f}'), ('position_jump_max_m', 'jump m', '{:.3f}'),
    ('orientation_error_mean_deg', 'rot deg', '{:.1f}'),
    ('gravity_error_mean_deg', 'grav deg', '{:.1f}'), ('gravity_error_max_deg', 'grav max', '{:.1f}'),
    ('ate_m', 'ATE m', '{:.3f}'), ('ate_pct', 'ATE %', '{:.1f}'), ('ate_s_m', 'ATE-S m', '{:.3f}'),
    ('ate_s_pct', 'ATE-S %', '{:.1f}'), ('sim3_scale', 'scale', '{:.2f}'), ('ate_s_over_ate', 'S/ATE', '{:.2f}'),
    ('tracked_pct', 'tracked%', '{:.0f}'), ('path_length_m', 'path m', '{:.2f}'),
)
HUMAN_COLUMNS = (
    ('pa_mpjpe', 'PA-MPJPE', '{:.1f}'), ('mpjpe', 'MPJPE', '{:.1f}'), ('w_mpjpe100', 'W-MPJPE100', '{:.0f}'),
    ('wa_mpjpe100', 'WA-MPJPE100', '{:.0f}'), ('rte', 'RTE%', '{:.2f}'), ('accel', 'Accel', '{:.1f}'),
    ('jitter', 'Jitter', '{:.1f}'), ('jitter_gt', 'JitGT', '{:.1f}'), ('hf_share', 'HF%', '{:.2f}'),
    ('depth_ratio', 'depth', '{:.2f}'), ('lag_frames', 'lag fr', '{:.1f}'), ('conf_spearman', 'confRho', '{:.2f}'),
    ('coverage', 'cover%', '{:.0f}'),
)
TRACKING_COLUMNS = (
    ('idf1', 'IDF1', '{:.3f}'), ('id_switches', 'IDsw', '{:.0f}'),
    ('id_switches_per_person_minute', 'IDsw/p/min', '{:.2f}'), ('fragmentations', 'frag', '{:.0f}'),
    ('mota', 'MOTA', '{:.3f}'), ('coverage', 'cover%', '{:.1f}'), ('visible_person_frames', 'vis p-fr', '{:.0f}'),
    ('fps', 'fps', '{:.1f}'),
)


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """A plain-text table: one line per row, then a mean line per variant.

    Rows may carry ``'variant'`` (e.g. ``'mask=none'``; ablations are extra rows): rows are grouped
    by variant in order of first appearance, each group ends with its mean (NaN-aware). The label
    of a row is ``'sequence [variant]'``.
    """
    label_w = max([len(_row_label(r)) for r in rows] + [12])
    head = f'{"sequence":{label_w}s} ' + ' '.join(f'{h:>{max(len(h), 7)}s}' for _, h, _ in columns)
    lines = [head, '-' * len(head)]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get('variant', '')), []).append(r)
    for variant, group in groups.items():
        for r in group:
            lines.append(_line(_row_label(r), r, columns, label_w))
        mean = {}
        for key, _, _ in columns:
            vals = np.array([float(r.get(key, math.nan)) for r in group], dtype=np.float64)
            mean[key] = float(np.nanmean(vals)) if np.any(np.isfinite(vals)) else math.nan
        lines.append(_line('mean' + (f' [{variant}]' if variant else ''), mean, columns, label_w))
        lines.append('')
    return '\n'.join(lines).rstrip() + '\n'


def _row_label(r: dict) -> str:
    v = r.get('variant', '')
    return f'{r.get("sequence", "?")}' + (f' [{v}]' if v else '')


def _line(label: str, r: dict, columns, label_w: int) -> str:
    cells = []
    for key, header, fmt in columns:
        v = r.get(key, math.nan)
        text = '-' if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)
        cells.append(f'{text:>{max(len(header), 7)}s}')
    return f'{label:{label_w}s} ' + ' '.join(cells)


def _seq_label(r: dict) -> str:
    return f'{r["sequence"]} s{r["seed"]}'


def _variant(r: dict, suffix: str) -> str:
    v = r.get('variant', '')
    return f'{v} {suffix}'.strip() if v else suffix


def format_report(results: Sequence[dict]) -> str:
    """The camera, human, tracking, per-joint and breakdown tables as one text."""
    cam_rows = [{'sequence': _seq_label(r), 'variant': r.get('variant', ''), **r['camera'],
                 'tracked_pct': 100.0 * r['camera']['tracked_fraction']} for r in results]
    human_rows = [{'sequence': _seq_label(r), 'variant': _variant(r, kind), **r['rows'][kind]}
                  for kind in ROW_KINDS for r in results]
    trk_rows = [{'sequence': _seq_label(r), 'variant': _variant(r, '2-4 people' if r['people'] > 1 else '1 person'),
                 **r['tracking'], 'fps': r['fps']} for r in results]
    trk_rows.sort(key=lambda x: x['variant'])
    parts = ['Camera branch (orientation: all frames; ATE/scale: tracked frames)', format_table(cam_rows, CAMERA_COLUMNS),
             'Human branch, COCO-17 [own = own camera; gt_camera = same people placed with the true camera; '
             'baseline = mediapipe world landmarks placed per frame with the true camera]',
             format_table(human_rows, HUMAN_COLUMNS),
             'Multi-person tracking (visible = >= 9 of 17 keypoints visible; match: 2D keypoint distance '
             '<= 0.5 body height)', format_table(trk_rows, TRACKING_COLUMNS),
             'Per-joint PA-MPJPE, mm (mean over sequences)', _per_joint_table(results),
             'PA-MPJPE / MPJPE by cause, mm (mean over sequences that have the case)', _breakdown_table(results),
             'Targets of issues 12-14 (means over sequences unless stated)', format_targets(results)]
    return '\n'.join(parts)


def _within(lo: float, hi: float):
    return lambda v: lo <= v <= hi


#: (issue, what, value from the results of one variant, target text, test)
TARGETS = (
    ('12', 'largest orientation jump, max over sequences (deg)',
     lambda rs: max(r['camera']['orientation_jump_max_deg'] for r in rs), '<= 3', lambda v: v <= 3),
    ('12', 'orientation error after one rotation (deg)',
     lambda rs: _nanmean(r['camera']['orientation_error_mean_deg'] for r in rs), '<= 3', lambda v: v <= 3),
    ('12', 'gravity error (deg)', lambda rs: _nanmean(r['camera']['gravity_error_mean_deg'] for r in rs), '<= 3',
     lambda v: v <= 3),
    ('12', 'ATE (% of camera path, moving cameras)', lambda rs: _nanmean(r['camera']['ate_pct'] for r in rs), '<= 2',
     lambda v: v <= 2),
    ('12', 'sequences with a tracked map whose Sim(3) scale is in 0.93-1.07 (%)',
     lambda rs: _share(rs, lambda r: r['camera']['sim3_scale'], _within(0.93, 1.07)), '100', lambda v: v >= 100),
    ('12', 'ATE-S / ATE', lambda rs: _nanmean(r['camera']['ate_s_over_ate'] for r in rs), '<= 1.3', lambda v: v <= 1.3),
    ('12', 'W-MPJPE100 own / gt_camera', lambda rs: _ratio(rs, 'w_mpjpe100'), '<= 1.3', lambda v: v <= 1.3),
    ('12', 'WA-MPJPE100 own / gt_camera', lambda rs: _ratio(rs, 'wa_mpjpe100'), '<= 1.3', lambda v: v <= 1.3),
    ('13', 'PA-MPJPE, gt_camera (mm)', lambda rs: _row(rs, 'pa_mpjpe'), '<= 45', lambda v: v <= 45),
    ('13', 'sequences with pelvis depth est/truth in 0.97-1.03 (%)',
     lambda rs: _share(rs, lambda r: r['rows']['gt_camera']['depth_ratio'], _within(0.97, 1.03)), '100',
     lambda v: v >= 100),
    ('13', 'W-MPJPE100, gt_camera (mm)', lambda rs: _row(rs, 'w_mpjpe100'), '<= 200', lambda v: v <= 200),
    ('13', 'WA-MPJPE100, gt_camera (mm)', lambda rs: _row(rs, 'wa_mpjpe100'), '<= 100', lambda v: v <= 100),
    ('13', 'RTE, gt_camera (%)', lambda rs: _row(rs, 'rte'), '<= 2.5', lambda v: v <= 2.5),
    ('13', 'Accel, gt_camera (m/s^2)', lambda rs: _row(rs, 'accel'), '<= 8', lambda v: v <= 8),
    ('13', 'Jitter, gt_camera (10 m/s^3)', lambda rs: _row(rs, 'jitter'), '<= 25', lambda v: v <= 25),
    ('13', 'HF energy > 10 Hz, gt_camera (%)', lambda rs: _row(rs, 'hf_share'), '<= 0.1', lambda v: v <= 0.1),
    ('14', 'IDF1, 2-4 people', lambda rs: _multi(rs, 'idf1'), '>= 0.9', lambda v: v >= 0.9),
    ('14', 'ID switches per person-minute, 2-4 people', lambda rs: _multi(rs, 'id_switches_per_person_minute'),
     '<= 1', lambda v: v <= 1),
    ('14', 'coverage of visible person-frames, 2-4 people (%)', lambda rs: _multi(rs, 'coverage'), '>= 95',
     lambda v: v >= 95),
)


def _row(rs, key, kind='gt_camera'):
    return _nanmean(r['rows'][kind][key] for r in rs)


def _ratio(rs, key):
    return _row(rs, key, 'own') / _row(rs, key, 'gt_camera')


def _multi(rs, key):
    return _nanmean(r['tracking'][key] for r in rs if r['people'] > 1)


def _share(rs, value, ok):
    vals = [value(r) for r in rs]
    vals = [v for v in vals if v is not None and math.isfinite(v)]
    return 100.0 * sum(ok(v) for v in vals) / len(vals) if vals else math.nan


def target_status(results: Sequence[dict]) -> list[dict]:
    """Each target of :data:`TARGETS` per variant: value, target, met (None when not computable)."""
    out = []
    for v in dict.fromkeys(r.get('variant', '') for r in results):
        rs = [r for r in results if r.get('variant', '') == v]
        for issue, what, value, target, test in TARGETS:
            x = float(value(rs))
            out.append({'variant': v, 'issue': issue, 'metric': what, 'value': x, 'target': target,
                        'met': bool(test(x)) if math.isfinite(x) else None})
    return out


def format_targets(results: Sequence[dict]) -> str:
    lines = [f'{"issue":6s}{"metric":68s}{"target":>9s}{"value":>10s}  met']
    for t in target_status(results):
        met = '-' if t['met'] is None else ('yes' if t['met'] else 'no')
        label = t['metric'] + (f' [{t["variant"]}]' if t['variant'] else '')
        lines.append(f'{t["issue"]:6s}{label:68s}{t["target"]:>9s}{t["value"]:>10.2f}  {met}')
    return '\n'.join(lines) + '\n'


def _nanmean(values) -> float:
    v = np.asarray([x for x in values if x is not None], np.float64)
    return float(np.nanmean(v)) if np.any(np.isfinite(v)) else math.nan


def _groups(results: Sequence[dict]) -> list[tuple[str, str]]:
    variants = list(dict.fromkeys(r.get('variant', '') for r in results))
    return [(v, k) for v in variants for k in ROW_KINDS]


def _per_joint_table(results: Sequence[dict]) -> str:
    groups = _groups(results)
    heads = [_variant({'variant': v}, k) for v, k in groups]
    w = max(12, *(len(h) for h in heads))
    lines = [f'{"joint":16s}' + ''.join(f'{h:>{w + 1}s}' for h in heads)]
    for name in COCO17_NAMES:
        cells = [_nanmean(r['per_joint'][k][name] for r in results if r.get('variant', '') == v) for v, k in groups]
        lines.append(f'{name:16s}' + ''.join(f'{c:>{w + 1}.1f}' for c in cells))
    return '\n'.join(lines) + '\n'


def _breakdown_table(results: Sequence[dict]) -> str:
    groups = _groups(results)
    cats = sorted({c for r in results for k in ROW_KINDS for c in r['breakdown'][k]})
    heads = [_variant({'variant': v}, k) for v, k in groups]
    w = max(14, *(len(h) for h in heads))
    lines = [f'{"case":22s}' + ''.join(f'{h:>{w + 1}s}' for h in heads)]
    for c in cats:
        cells = []
        for v, k in groups:
            sel = [r['breakdown'][k][c] for r in results if r.get('variant', '') == v and c in r['breakdown'][k]]
            pa, mp = _nanmean(x['pa_mpjpe'] for x in sel), _nanmean(x['mpjpe'] for x in sel)
            cells.append(f'{pa:.1f} / {mp:.1f}' if sel else '-')
        lines.append(f'{c:22s}' + ''.join(f'{x:>{w + 1}s}' for x in cells))
    return '\n'.join(lines) + '\n'


def set_means(results: Sequence[dict]) -> dict:
    """Means over sequences: camera, tracking (all and 2-4 people) and each human row kind, per variant."""
    out = {}
    for v in dict.fromkeys(r.get('variant', '') for r in results):
        rs = [r for r in results if r.get('variant', '') == v]
        multi = [r for r in rs if r['people'] > 1]
        entry = {'camera': _mean_dicts([r['camera'] for r in rs]),
                 'tracking_all': _mean_dicts([r['tracking'] for r in rs]),
                 'tracking_multi_person': _mean_dicts([r['tracking'] for r in multi]),
                 'rows': {k: _mean_dicts([r['rows'][k] for r in rs]) for k in ROW_KINDS},
                 'sequences': len(rs), 'multi_person_sequences': len(multi)}
        out[v or 'baseline_config'] = entry
    return out


def _mean_dicts(ds: list[dict]) -> dict:
    keys = [k for k in (ds[0] if ds else {}) if isinstance(ds[0][k], (int, float))]
    return {k: _nanmean(d[k] for d in ds) for k in keys}


def write_json(path: str | Path, results: Sequence[dict], settings: dict) -> Path:
    """Write settings, per-sequence results and set means (NaN as null)."""
    def clean(x):
        if isinstance(x, float):
            return None if math.isnan(x) else x
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, (np.integer, np.floating)):
            return clean(x.item())
        return x
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(clean({'settings': settings, 'means': set_means(results),
                                     'targets': target_status(results), 'sequences': list(results)}), indent=1))
    return out
