"""Timing summaries: percentiles, constant-time check, JSON."""
import json

import numpy as np
import pytest

from onlinehmr_ros.eval.benchmark import BenchmarkError, format_timing_table, timing_summary, write_json


def test_percentiles_and_constant_time_ratio(tmp_path):
    rng = np.random.default_rng(0)
    timings = [{'total': 100.0, 'slam': 60.0, 'hmr': 40.0}] * 10                 # warm-up, ignored
    timings += [{'total': 10.0 + i * 0.01, 'slam': 6.0, 'hmr': 4.0 + rng.uniform()} for i in range(900)]
    s = timing_summary(timings, warmup_frames=10, window=300)
    assert [st.name for st in s.stages] == ['total', 'hmr', 'slam']
    total = s.stages[0]
    np.testing.assert_allclose(total.mean_ms, 10.0 + 0.01 * 449.5)
    np.testing.assert_allclose(total.p50_ms, 10.0 + 0.01 * 449.5)
    np.testing.assert_allclose(s.early_ms, 10.0 + 0.01 * 149.5)
    np.testing.assert_allclose(s.late_ms, 10.0 + 0.01 * 749.5)
    np.testing.assert_allclose(s.fps, 1000.0 / total.mean_ms)
    assert s.late_over_early > 1.3
    # peak RSS agrees with the kernel's own high-water mark of this process (VmHWM), in MiB
    vm_hwm_mib = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')) / 1024
    assert s.peak_rss_mb == pytest.approx(vm_hwm_mib, rel=0.05)
    assert s.stages[2].p95_ms == 6.0
    assert 'late/early' in format_timing_table(s)
    data = json.loads(write_json(tmp_path / 'b.json', s, {'commit': 'abc'}).read_text())
    assert data['commit'] == 'abc' and data['stages'][0]['name'] == 'total'


def test_sum_of_stages_without_total_and_short_runs():
    s = timing_summary([{'a': 1.0, 'b': 2.0}] * 20, warmup_frames=2, window=300)
    assert s.stages[0].mean_ms == 3.0 and s.window == 6 and s.late_over_early == 1.0
    with pytest.raises(BenchmarkError):
        timing_summary([{'total': 1.0}] * 5, warmup_frames=10)


def test_boundaries_found_by_mutation_testing():
    """warm-up + 3 frames is the shortest run summarised; zero times give inf fps and no ratio."""
    assert timing_summary([{'total': 2.0}] * 13, warmup_frames=10).stages[0].mean_ms == 2.0
    with pytest.raises(BenchmarkError):
        timing_summary([{'total': 2.0}] * 12, warmup_frames=10)
    assert timing_summary([{'total': 0.5}] * 6, warmup_frames=0).late_over_early == 1.0   # sub-millisecond
    zero = timing_summary([{'total': 0.0}] * 6, warmup_frames=0)
    assert zero.fps == float('inf') and np.isnan(zero.late_over_early)
