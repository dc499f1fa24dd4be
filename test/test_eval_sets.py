"""Named sequence sets: seeds kept apart, scenarios as promised, a cache that re-renders stale sequences."""
import dataclasses
import json

import pytest

import onlinehmr_ros.eval.sets as sets
from onlinehmr_ros.eval.synthetic import SequenceConfig


def test_report_and_tune_sets_are_apart_and_cover_the_scenarios():
    report, tune = sets.set_entries('report'), sets.set_entries('tune')
    assert len(report) >= 12 and len(tune) == len(report)
    for e in report:
        assert 7000 <= e.first_seed and e.first_seed + sets.SEED_STRIDE - 1 <= 7999
    for e in tune:
        assert 0 <= e.first_seed and e.first_seed + sets.SEED_STRIDE - 1 <= 999
    kinds = {e.scenario.camera_kind for e in report}
    assert kinds == {'handheld', 'robot', 'static'}
    multi = [e for e in report if e.config.num_people >= 2]
    assert len(multi) >= 8 and {e.config.num_people for e in multi} == {2, 3, 4}
    assert all(e.config.pillar or e.config.exit_reenter for e in multi)          # + the crossing of every pair
    assert all(240 <= e.config.num_frames <= 300 and e.config.people_depth_m == (3.0, 5.0) for e in report)
    assert len({e.name for e in report}) == len(report)
    with pytest.raises(sets.SetError):
        sets.set_entries('holdout')


def test_cache_renders_once_and_again_after_a_generator_change(tmp_path, monkeypatch, open_body_model):
    tiny = SequenceConfig(num_frames=5, width_px=64, height_px=48, num_people=1, camera_kind='static')
    entry = sets.SetEntry('tune', 0, sets.Scenario('static', 1), tiny, 0)
    monkeypatch.setattr(sets, 'set_entries', lambda name, count=None: [entry])
    body_model = open_body_model
    rendered = []
    a = sets.load_set('tune', tmp_path, body_model=body_model, on_render=rendered.append)
    b = sets.load_set('tune', tmp_path, body_model=body_model, on_render=rendered.append)
    assert rendered == [entry.name]                                 # the second call reads the cache
    assert a[0].num_frames == b[0].num_frames == 5 and b[0].video_path is not None
    meta = json.loads((tmp_path / 'tune' / entry.name / 'meta.json').read_text())
    assert meta['seed'] == 0 and meta['config']['generator_version'] == sets.GENERATOR_VERSION
    # a copy rendered by an older generator is stale: rendered again
    meta['config']['generator_version'] = sets.GENERATOR_VERSION - 1
    (tmp_path / 'tune' / entry.name / 'meta.json').write_text(json.dumps(meta))
    sets.load_set('tune', tmp_path, body_model=body_model, on_render=rendered.append)
    assert rendered == [entry.name] * 2
    meta = json.loads((tmp_path / 'tune' / entry.name / 'meta.json').read_text())
    assert meta['config']['generator_version'] == sets.GENERATOR_VERSION
    # so is a copy of another scenario under the same name
    entry2 = dataclasses.replace(entry, config=dataclasses.replace(tiny, num_frames=6))
    monkeypatch.setattr(sets, 'set_entries', lambda name, count=None: [entry2])
    c = sets.load_set('tune', tmp_path, body_model=body_model, on_render=rendered.append)
    assert rendered == [entry.name] * 3 and c[0].num_frames == 6
