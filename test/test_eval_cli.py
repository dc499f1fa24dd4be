"""`onlinehmr eval` end to end on a small rendered sequence: live run, saved runs, same figures."""
import json

import pytest

from onlinehmr_ros.eval.synthetic import SequenceConfig, generate_sequence


@pytest.mark.slow
def test_eval_from_saved_runs_reproduces_the_live_run(tmp_path, open_body_model, capsys):
    from onlinehmr_ros.cli import main
    seq = generate_sequence(SequenceConfig(num_frames=40, width_px=320, height_px=240, num_people=1,
                                           camera_kind='handheld', people_depth_m=(3.0, 5.0)), 5, open_body_model)
    folder = seq.save(tmp_path / 'seq')
    assert main(['eval', str(folder), '--max-people', '2', '--save-runs', str(tmp_path / 'runs'),
                 '--json', str(tmp_path / 'live.json')]) == 0
    live_out = capsys.readouterr().out
    assert main(['eval', str(folder), '--from-runs', str(tmp_path / 'runs'), '--json', str(tmp_path / 'again.json')]) == 0
    live = json.loads((tmp_path / 'live.json').read_text())
    again = json.loads((tmp_path / 'again.json').read_text())
    assert live['sequences'] == again['sequences'] and live['targets'] == again['targets']
    r = live['sequences'][0]
    assert r['sequence'] == seq.name and r['frames'] == 40 and r['people'] == 1
    assert live['settings']['max_people'] == 2
    for title in ('Camera branch', 'Human branch', 'Multi-person tracking', 'Per-joint', 'Targets of issues'):
        assert title in live_out
    # a record that does not belong to the sequence is refused with a one-line error
    (tmp_path / 'runs' / f'{seq.name}.npz').rename(tmp_path / 'runs' / 'other.npz')
    assert main(['eval', str(folder), '--from-runs', str(tmp_path / 'runs')]) == 1
    assert 'not found' in capsys.readouterr().err
