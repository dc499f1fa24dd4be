"""The ``main()`` of every node: init, spin, clean shutdown, errors as one line and exit code 1.

Shutdown (SIGINT, SIGTERM, ``done``) always exits 0: rclpy's own signal handlers are not
installed; ``ros.signals`` turns the signals into a request the spin loop checks, so the node
(subscriptions first) is destroyed before the context is shut down (see there).
"""
from __future__ import annotations

import faulthandler
import sys
from typing import Callable

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from onlinehmr_ros.ros.env import ensure_ament_prefix_path
from onlinehmr_ros.ros.signals import stop_request

from onlinehmr_ros.core.common.errors import is_project_error  # noqa: E402
from onlinehmr_ros.core.common.threads import limit_blas_threads  # noqa: E402


def is_user_error(exc: BaseException) -> bool:
    """Errors reported as `<name>: error: <message>` with exit code 1 instead of a traceback:
    the package's own error types (``core.common.errors.is_project_error``) and rclpy's
    ParameterException (a value outside its descriptor's range or of the wrong type, from YAML,
    -p or launch). Everything else - a plain ValueError, KeyError, ... - is a bug and keeps its
    traceback."""
    return isinstance(exc, ParameterException) or is_project_error(exc)

#: longest wait for work before the spin loop looks at the stop request again (s)
SPIN_PERIOD_S = 0.1

#: a clean-up still running after this long (s) prints every thread's Python stack to stderr (the launch
#: log), before ros2 launch escalates to SIGTERM (5 s) and SIGKILL (15 s): once, under a load of ~8 on 2
#: cores, a mask node's clean-up outlasted both and the log did not say where it was
CLEANUP_STACK_DUMP_S = 4.0


def _dump_stacks_later(delay_s: float) -> None:
    """faulthandler's stack dump of every thread after ``delay_s`` unless cancelled, to the process's own stderr
    (file descriptor 2, also where a test captures sys.stderr); none where the process has no stderr."""
    if sys.__stderr__ is not None:
        try:
            faulthandler.dump_traceback_later(delay_s, exit=False, file=sys.__stderr__)
        except (ValueError, OSError):      # stderr without a file descriptor (io.UnsupportedOperation is an OSError)
            pass


def run_node(make_node: Callable[[], Node], name: str, args=None,
             done: Callable[[Node], bool] | None = None) -> int:
    """Create the node and spin it until SIGINT/SIGTERM, an external shutdown, or ``done(node)``.

    Args:
        make_node: builds the node (after rclpy.init).
        name: used in error messages.
        done: optional predicate checked between callbacks (e.g. the input has ended).
    Returns:
        the process exit code: 0, or 1 after a user error (bad parameter, missing file).
    """
    ensure_ament_prefix_path()
    stop = stop_request()
    stop.start_ros()
    node = executor = None
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        threads = limit_blas_threads()     # one BLAS thread per node process (core.common.threads)
        node = make_node()                 # a stop requested meanwhile ends the loop before it starts
        node.get_logger().debug(threads)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.requested and rclpy.ok() and not (done is not None and done(node)):
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f'{name}: error: {exc}', file=sys.stderr)
        return 1
    finally:
        stop.ignore_further()
        _dump_stacks_later(CLEANUP_STACK_DUMP_S)
        try:
            if executor is not None:
                executor.shutdown(timeout_sec=1.0)
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
        finally:
            faulthandler.cancel_dump_traceback_later()
