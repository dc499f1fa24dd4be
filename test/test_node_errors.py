"""A node's main(): the package's own errors and bad parameters end in one line and exit code 1;
any other exception (a bug) keeps its traceback."""
import pytest

pytest.importorskip('rclpy')
from onlinehmr_ros.core.common.errors import InputError  # noqa: E402
from onlinehmr_ros.ros.run import run_node  # noqa: E402


def _raises(exc):
    def make():
        raise exc
    return make


def test_user_error_is_one_line_and_exit_1(capsys):
    assert run_node(_raises(InputError('camera_info has NaN focal lengths; recalibrate')), 'mask', ['x']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['mask: error: camera_info has NaN focal lengths; recalibrate']


def test_a_bug_is_not_disguised_as_a_user_error():
    with pytest.raises(ValueError, match='math domain'):
        run_node(_raises(ValueError('math domain error')), 'mask', ['x'])
    with pytest.raises(KeyError):
        run_node(_raises(KeyError('frame')), 'mask', ['x'])
