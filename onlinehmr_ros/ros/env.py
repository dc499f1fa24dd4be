"""Process environment for entry points on the PyPI-only path."""
from __future__ import annotations

import os
import pathlib
import sys


def ensure_ament_prefix_path() -> None:
    """Add the interpreter's prefix to AMENT_PREFIX_PATH when it holds an ament index.

    With ROS 2 from PyPI wheels, activating the virtual environment does not set
    AMENT_PREFIX_PATH, and ament_index_python (get_package_share_directory,
    used for this package's share/ files and message definitions) then raises.
    In a sourced colcon workspace the prefix is already listed and nothing changes.
    Called first thing by every entry point's ``main()``.
    """
    prefix = sys.prefix
    if not (pathlib.Path(prefix) / 'share' / 'ament_index').is_dir():
        return
    parts = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    if prefix not in parts:
        os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join(parts + [prefix])
