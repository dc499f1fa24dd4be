"""Entry points of the node executables (console scripts; ``lib/onlinehmr_ros/`` for ``ros2 run`` and launch).

Each one installs the stop handlers (``ros.signals``) before importing its node's module, so
that Ctrl-C or SIGTERM at any moment, also while torch and mediapipe are still being imported,
ends the process with exit code 0; then it runs the module's ``main()``. Once ``main()`` has
shut ROS down cleanly, the process ends with ``os._exit``: the interpreter's own finalisation
of torch and mediapipe adds nothing but time (about 1 s per node here, 5-8 s with six nodes
stopping at once on the 2-core machine, longer than `ros2 launch` waits before SIGTERM). It sets
``OPENBLAS_NUM_THREADS=1`` unless given: the SLAM and fitting solvers make many small BLAS
calls that threads only slow down on a small CPU.
"""
from __future__ import annotations

import importlib
import os
import sys
from functools import partial

#: executable -> module whose main() it runs (the launch file and compose.NODES use the same names)
EXECUTABLES = {
    'camera_source': 'onlinehmr_ros.nodes.camera_source',
    'mask_node': 'onlinehmr_ros.nodes.mask_node',
    'hmr_node': 'onlinehmr_ros.nodes.hmr_node',
    'slam_node': 'onlinehmr_ros.nodes.slam_node',
    'fusion_node': 'onlinehmr_ros.nodes.fusion_node',
    'hri_node': 'onlinehmr_ros.nodes.hri_node',
    'onlinehmr_pipeline': 'onlinehmr_ros.nodes.compose',
}


def _run(executable: str) -> int:
    from onlinehmr_ros.ros.signals import stop_request
    stop_request()
    os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
    module = importlib.import_module(EXECUTABLES[executable])   # a signal meanwhile: exit 0 at once
    code = module.main()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code or 0)


# one entry point per executable (setup.py's console_scripts name them)
camera_source = partial(_run, 'camera_source')
mask_node = partial(_run, 'mask_node')
hmr_node = partial(_run, 'hmr_node')
slam_node = partial(_run, 'slam_node')
fusion_node = partial(_run, 'fusion_node')
hri_node = partial(_run, 'hri_node')
onlinehmr_pipeline = partial(_run, 'onlinehmr_pipeline')


if __name__ == '__main__':
    sys.exit(_run(sys.argv.pop(1)))
