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


def test_the_recorded_commit_says_when_the_code_differs_from_it(tmp_path):
    """`onlinehmr eval --json` records the source commit read when the run starts; edited tracked files
    make it '<hash>+dirty' (the figures are then not those of the commit); outside git it is None."""
    import shutil
    import subprocess

    from onlinehmr_ros.cli import _source_commit
    if shutil.which('git') is None:
        pytest.skip('git is not installed')
    assert _source_commit(tmp_path) is None
    git = ['git', '-c', 'user.name=t', '-c', 'user.email=t@t.invalid']
    subprocess.run(['git', 'init', '-q'], cwd=tmp_path, check=True)
    (tmp_path / 'code.py').write_text('x = 1\n')
    subprocess.run(git + ['add', 'code.py'], cwd=tmp_path, check=True)
    subprocess.run(git + ['commit', '-q', '-m', 'one'], cwd=tmp_path, check=True)
    head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=tmp_path, capture_output=True,
                          text=True).stdout.strip()
    assert _source_commit(tmp_path) == head
    (tmp_path / 'notes.txt').write_text('untracked files do not change the code that runs\n')
    assert _source_commit(tmp_path) == head
    (tmp_path / 'code.py').write_text('x = 2\n')
    assert _source_commit(tmp_path) == head + '+dirty'
