"""Report tables and JSON: grouping, NaN-aware means, NaN as null."""
import json
import math

import pytest

from onlinehmr_ros.eval.report import format_table, set_means, target_status, write_json


def test_format_table_groups_variants():
    cols = (('pa_mpjpe', 'PA-MPJPE', '{:.1f}'), ('mpjpe', 'MPJPE', '{:.1f}'), ('fps', 'fps', '{:.1f}'))
    rows = [{'sequence': 's1', 'mpjpe': 10.0, 'pa_mpjpe': 5.0, 'fps': 20.0},
            {'sequence': 's2', 'mpjpe': 20.0, 'pa_mpjpe': float('nan'), 'fps': 30.0},
            {'sequence': 's1', 'variant': 'mask=none', 'mpjpe': 12.0, 'fps': 21.0}]
    lines = format_table(rows, cols).splitlines()
    assert lines[0].split()[:3] == ['sequence', 'PA-MPJPE', 'MPJPE']
    mean = next(line for line in lines if line.startswith('mean ') and '[' not in line).split()
    assert mean[1] == '5.0' and mean[2] == '15.0'                 # NaN-aware mean
    assert any(line.startswith('s1 [mask=none]') for line in lines)
    assert any(line.startswith('mean [mask=none]') for line in lines)
    assert next(line for line in lines if line.startswith('s2')).split()[1] == '-'


def _full(people, jump, scale, own_w, gt_w, idf1):
    rows = {k: {'pa_mpjpe': 40.0, 'w_mpjpe100': gt_w, 'wa_mpjpe100': 90.0, 'depth_ratio': 1.0, 'rte': 2.0,
                'accel': 7.0, 'jitter': 20.0, 'hf_share': 0.05} for k in ('gt_camera', 'baseline')}
    rows['own'] = {**rows['gt_camera'], 'w_mpjpe100': own_w}
    return {'sequence': 's', 'seed': 0, 'people': people, 'variant': '',
            'camera': {'orientation_jump_max_deg': jump, 'orientation_error_mean_deg': 1.0,
                       'gravity_error_mean_deg': 1.0, 'ate_pct': 1.0, 'sim3_scale': scale, 'ate_s_over_ate': 1.1},
            'tracking': {'idf1': idf1, 'id_switches_per_person_minute': 0.5, 'coverage': 96.0}, 'rows': rows}


def test_set_means_separate_multi_person_and_json_has_null_for_nan(tmp_path):
    results = [_full(1, 2.0, math.nan, 100.0, 80.0, 1.0), _full(3, 2.0, 1.2, 140.0, 100.0, 0.5),
               _full(2, 2.0, 0.8, 180.0, 120.0, 0.7)]
    m = set_means(results)['baseline_config']
    assert m['rows']['own']['w_mpjpe100'] == 140.0 and m['camera']['sim3_scale'] == 1.0   # NaN (static) left out
    assert m['tracking_multi_person']['idf1'] == pytest.approx(0.6) and m['multi_person_sequences'] == 2
    path = write_json(tmp_path / 'r.json', results, {'set': 'tune'})
    data = json.loads(path.read_text())
    assert data['sequences'][0]['camera']['sim3_scale'] is None and data['settings']['set'] == 'tune'


def test_targets_use_the_documented_aggregation():
    results = [_full(1, 2.0, 1.0, 150.0, 100.0, 0.2), _full(2, 5.0, 1.2, 250.0, 200.0, 0.95),
               _full(3, 1.0, math.nan, 200.0, 150.0, 0.87)]
    t = {x['metric']: x for x in target_status(results)}
    assert t['largest orientation jump, max over sequences (deg)']['value'] == 5.0
    assert t['largest orientation jump, max over sequences (deg)']['met'] is False
    scale = t['sequences with a tracked map whose Sim(3) scale is in 0.93-1.07 (%)']
    assert scale['value'] == 50.0 and scale['met'] is False                  # the static one does not count
    assert t['W-MPJPE100 own / gt_camera']['value'] == 200.0 / 150.0          # ratio of the means
    assert t['IDF1, 2-4 people']['value'] == pytest.approx(0.91) and t['IDF1, 2-4 people']['met'] is True   # 1-person left out
    assert t['PA-MPJPE, gt_camera (mm)']['met'] is True
