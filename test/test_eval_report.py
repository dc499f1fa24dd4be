"""Report tables and JSON: grouping, NaN-aware means, NaN as null."""
import json
import math

from onlinehmr_ros.eval.report import format_table, set_means, write_json


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


def _result(name, people, pa, idf1, scale):
    return {'sequence': name, 'seed': 1, 'people': people, 'variant': '',
            'camera': {'ate_m': 0.1, 'sim3_scale': scale},
            'tracking': {'idf1': idf1, 'id_switches': 2},
            'rows': {k: {'pa_mpjpe': pa} for k in ('own', 'gt_camera', 'baseline')}}


def test_set_means_separate_multi_person_and_json_has_null_for_nan(tmp_path):
    results = [_result('a', 1, 50.0, 1.0, math.nan), _result('b', 3, 70.0, 0.5, 1.2), _result('c', 2, 90.0, 0.7, 0.8)]
    m = set_means(results)['baseline_config']
    assert m['rows']['own']['pa_mpjpe'] == 70.0 and m['camera']['sim3_scale'] == 1.0   # NaN (static) left out
    assert m['tracking_multi_person']['idf1'] == 0.6 and m['multi_person_sequences'] == 2
    path = write_json(tmp_path / 'r.json', results, {'set': 'tune'})
    data = json.loads(path.read_text())
    assert data['sequences'][0]['camera']['sim3_scale'] is None and data['settings']['set'] == 'tune'
