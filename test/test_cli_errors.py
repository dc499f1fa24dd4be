"""Bad input at the command line: one line saying what was wrong and what to do, exit code 1, no
traceback; a bug (an exception that is not one of the package's own types) keeps its traceback."""
import pathlib

import numpy as np
import pytest

from onlinehmr_ros import cli
from onlinehmr_ros.core.common.errors import InputError, is_project_error

MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'


def _one_line_error(capsys, argv, expect):
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    lines = [line for line in err.splitlines() if '%|' not in line]     # progress bars aside
    assert 'Traceback' not in err and len(lines) == 1, err
    assert lines[0].startswith(f'onlinehmr {argv[0]}: error: ') and expect in lines[0], err
    return err


@pytest.mark.parametrize('extra, expect', [
    (['--intrinsics', '0', '0', '0', '0'], 'must be positive pixels'),
    (['--intrinsics', '600', 'nan', '320', '240'], 'must be positive pixels'),
    (['--hfov', '200'], 'between 0 and 180 degrees'),
    (['--hfov', '0'], 'between 0 and 180 degrees'),
])
def test_nonsense_intrinsics_are_one_line(capsys, tmp_path, extra, expect):
    _one_line_error(capsys, ['run', MEGAMIND, '--out', str(tmp_path / 'o'), *extra], expect)
    assert not (tmp_path / 'o').exists()              # refused before any work


def test_output_that_is_a_file_or_unwritable(capsys, tmp_path):
    f = tmp_path / 'taken'
    f.write_text('x')
    _one_line_error(capsys, ['run', MEGAMIND, '--out', str(f)], 'is an existing file')
    assert f.read_text() == 'x'                        # nothing overwritten
    _one_line_error(capsys, ['run', MEGAMIND, '--out', str(f / 'sub')], 'cannot create the output folder')
    _one_line_error(capsys, ['render-bag', str(tmp_path / 'nobag'), '--out', str(tmp_path / 'r')], 'does not exist')


def test_missing_input_and_a_folder_without_images(capsys, tmp_path):
    _one_line_error(capsys, ['run', str(tmp_path / 'none.mp4'), '--out', str(tmp_path / 'o')], 'none.mp4')
    junk = tmp_path / 'junk'
    junk.mkdir()
    (junk / 'notes.txt').write_text('not an image')
    (junk / 'broken.png').write_bytes(b'\x89PNG garbage')
    err = _one_line_error(capsys, ['run', str(junk), '--out', str(tmp_path / 'o2')], str(junk))
    assert 'broken.png' in err                                                   # says which file failed


def test_no_overlay_is_not_announced(capsys, tmp_path, monkeypatch):
    """--no-overlay: the summary line does not claim an overlay video was written (and none is)."""
    assert cli.main(['run', MEGAMIND, '--out', str(tmp_path / 'o'), '--max-frames', '3', '--no-overlay']) == 0
    out = capsys.readouterr().out
    wrote = [line for line in out.splitlines() if line.startswith('wrote ')]
    assert wrote and 'overlay.mp4' not in wrote[0] and 'results.npz' in wrote[0]
    assert not (tmp_path / 'o' / 'overlay.mp4').exists()


def test_project_errors_are_told_from_bugs():
    from onlinehmr_ros.core.common.geometry import GeometryError
    from onlinehmr_ros.core.io.sources import SourceError
    assert is_project_error(InputError('x')) and is_project_error(GeometryError('x'))
    assert is_project_error(SourceError('x')) and is_project_error(cli.CliError('x'))
    assert not is_project_error(ValueError('x')) and not is_project_error(KeyError('x'))


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    def broken(args):
        return {}['missing']                           # a bug, not a user error
    monkeypatch.setattr(cli, 'cmd_render_bag', broken)
    parser_func = cli.build_parser
    monkeypatch.setattr(cli, 'build_parser', lambda: _with_func(parser_func(), 'render-bag', broken))
    with pytest.raises(KeyError):
        cli.main(['render-bag', str(tmp_path), '--out', str(tmp_path / 'r')])


def _with_func(parser, command, func):
    for action in parser._subparsers._group_actions:
        action.choices[command].set_defaults(func=func)
    return parser
