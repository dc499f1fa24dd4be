"""The ``main()`` of every node: init, spin, clean shutdown, errors as one line and exit code 1."""
from __future__ import annotations

import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from onlinehmr_ros.ros.env import ensure_ament_prefix_path

#: start-up errors reported as `<name>: error: <message>` with exit code 1 (not a traceback)
from onlinehmr_ros.core.body.model import BodyModelError  # noqa: E402
from onlinehmr_ros.core.common.errors import InputError  # noqa: E402
from onlinehmr_ros.core.io.sources import SourceError  # noqa: E402

USER_ERRORS = (BodyModelError, SourceError, InputError, ValueError)


def run_node(make_node: Callable[[], Node], name: str, args=None,
             done: Callable[[Node], bool] | None = None) -> int:
    """Create the node and spin it until Ctrl-C, an external shutdown, or ``done(node)``.

    Args:
        make_node: builds the node (after rclpy.init).
        name: used in error messages.
        done: optional predicate checked between callbacks (e.g. the input has ended).
    Returns:
        the process exit code: 0, or 1 after a user error (bad parameter, missing file).
    """
    ensure_ament_prefix_path()
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        if done is None:
            rclpy.spin(node)
        else:
            while rclpy.ok() and not done(node):
                rclpy.spin_once(node, timeout_sec=0.1)
        return 0
    except USER_ERRORS as exc:
        print(f'{name}: error: {exc}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
