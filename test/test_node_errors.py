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


def test_a_slow_clean_up_prints_where_it_is(capfd, monkeypatch):
    """A node whose clean-up hangs (ros2 launch then escalates to SIGKILL) leaves every thread's stack in its
    log, before launch's SIGTERM; a clean-up that ends in time prints nothing."""
    import time
    import rclpy
    from onlinehmr_ros.ros import run
    monkeypatch.setattr(run, 'CLEANUP_STACK_DUMP_S', 0.3)

    def node_with_clean_up(seconds):
        def make():
            node = rclpy.create_node('slow_to_close')
            destroy = node.destroy_node

            def slow_destroy():
                time.sleep(seconds)
                return destroy()
            node.destroy_node = slow_destroy
            return node
        return make
    assert run_node(node_with_clean_up(1.0), 'mask', ['x'], done=lambda node: True) == 0
    err = capfd.readouterr().err
    assert 'slow_destroy' in err and 'Thread' in err, err
    assert run_node(node_with_clean_up(0.0), 'mask', ['x'], done=lambda node: True) == 0
    time.sleep(0.5)
    assert 'slow_destroy' not in capfd.readouterr().err
