"""The node graph as one process (composed) or as separate processes (`ros2 launch`): fps, latency, drops.

    python -m bench.bench_graph [--frames 150] [--modes lockstep recorded] [--video Megamind.avi]

Each row runs the whole graph on the video in its own ROS domain as a user would start it:
`onlinehmr_pipeline` (every node in one Python process, one interpreter lock) or `ros2 launch
onlinehmr_ros pipeline.launch.py` (one process per node: both cores), with camera_source in
`lockstep` (as fast as the graph keeps up, nothing dropped) or `recorded` (the camera's own rate,
24 fps for Megamind: a stage that cannot keep up drops images). This process listens to
/human/world_humans and measures

* fps: world outputs per second from the 10th to the last (start-up excluded);
* latency: arrival of a world output minus its image's stamp (camera_source stamps with the time of
  publication), p50 / p95;
* frames in / world outputs: what the graph dropped (recorded rate).

The rows run one after the other on a shared machine: compare rows of one run, not runs. Figures,
not a test. Needs the installed package (`make setup`) and, for the launch rows, ../shared/ros-wheels.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from onlinehmr_ros.ros.background_node import BackgroundNode

MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'
VENV_BIN = pathlib.Path(sys.executable).parent


class _Listener(BackgroundNode):
    """/human/world_humans arrivals (wall clock) and stamps, in one ROS domain."""

    def __init__(self, domain_id: int):
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from onlinehmr_ros.msg import HumanMeshArray
        super().__init__('bench_graph_listener', domain_id)
        self.arrivals: list[tuple[float, float]] = []           # (arrival s, stamp s), wall clock
        self.node.create_subscription(HumanMeshArray, '/human/world_humans', self._on_world,
                                      QoSProfile(depth=500, reliability=ReliabilityPolicy.RELIABLE))
        self.start()

    def _on_world(self, msg) -> None:
        self.arrivals.append((time.time(), msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec))


def _env(domain_id: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', PYTHONUNBUFFERED='1',
               AMENT_PREFIX_PATH=sys.prefix, PATH=f'{VENV_BIN}{os.pathsep}{os.environ.get("PATH", "")}')
    env.pop('PYTHONPATH', None)
    return env


def _command(graph: str, video: str, rate_mode: str, frames: int, params_file: str | None = None) -> list[str]:
    if graph == 'processes':
        return [str(VENV_BIN / 'ros2'), 'launch', 'onlinehmr_ros', 'pipeline.launch.py', f'input:={video}',
                f'rate_mode:={rate_mode}', f'max_frames:={frames}'] + ([f'params_file:={params_file}'] if
                                                                          params_file else [])
    return [str(VENV_BIN / 'onlinehmr_pipeline'), '--input', video, '--rate-mode', rate_mode] + (
        ['--params-file', params_file] if params_file else []) + ['--ros-args', '-p',
                                                                   f'camera_source:max_frames:={frames}']


def run_row(graph: str, video: str, rate_mode: str, frames: int, timeout_s: float,
            params_file: str | None = None) -> dict:
    """One run of the graph; the figures of the module docstring."""
    domain = random.Random(f'{os.getpid()}-{time.monotonic_ns()}').randint(102, 232)
    listener = _Listener(domain)
    log = pathlib.Path(f'/tmp/bench_graph_{graph}_{rate_mode}_{os.getpid()}.log')
    with open(log, 'w') as out:
        proc = subprocess.Popen(_command(graph, video, rate_mode, frames, params_file), env=_env(domain), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    text = ''
    while time.monotonic() < deadline:
        text = log.read_text(errors='replace')
        if f'input ended: {frames} frames published' in text or proc.poll() is not None:
            break
        time.sleep(0.5)
    time.sleep(5.0)                                       # the last images through the graph
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    listener.close()
    a = np.asarray(listener.arrivals).reshape(-1, 2)
    row = {'graph': graph, 'rate_mode': rate_mode, 'frames_in': frames, 'world_out': len(a), 'log': str(log)}
    if len(a) > 11:
        steady = a[10:]
        row['fps'] = (len(steady) - 1) / max(steady[-1, 0] - steady[0, 0], 1e-9)
        lat = (steady[:, 0] - steady[:, 1]) * 1e3
        row['latency_p50_ms'], row['latency_p95_ms'] = float(np.percentile(lat, 50)), float(np.percentile(lat, 95))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=150)
    ap.add_argument('--video', default=MEGAMIND)
    ap.add_argument('--modes', nargs='+', default=['lockstep', 'recorded'], choices=('lockstep', 'recorded'))
    ap.add_argument('--graphs', nargs='+', default=['composed', 'processes'], choices=('composed', 'processes'))
    ap.add_argument('--timeout', type=float, default=600.0)
    ap.add_argument('--params-file', help='ROS parameter file of every row (default: the installed one)')
    ap.add_argument('--hmr-image-depth', type=int, nargs='+', default=[0],
                    help="rows per queue depth of hmr's image subscription, its image_queue_depth parameter (0: "
                         "the file's; 1: keep only the newest image, the default since issue 15; 5: the other "
                         "nodes' and lockstep's)")
    ap.add_argument('--hmr-staged', nargs='+', default=['file'], choices=('file', 'on', 'off'),
                    help="rows per value of hmr's staged parameter (perception and estimation in two threads; "
                         "file: the parameter file's)")
    args = ap.parse_args(argv)
    if 'processes' in args.graphs and shutil.which('ros2', path=str(VENV_BIN)) is None:
        print('no ros2 in this venv (make setup with ../shared/ros-wheels): the processes rows are left out')
        args.graphs = [g for g in args.graphs if g != 'processes']
    print(f'{"graph":<10} {"rate_mode":<9} {"hmr q":>5} {"staged":>6} {"frames in":>9} {"world out":>9} {"fps":>6} '
          f'{"lat p50 ms":>10} {"lat p95 ms":>10}')
    for mode in args.modes:
        for graph in args.graphs:
            for depth in args.hmr_image_depth:
                for staged in args.hmr_staged:
                    hmr = {**({'image_queue_depth': depth} if depth else {}),
                           **({'staged': staged == 'on'} if staged != 'file' else {})}
                    params = _with_hmr_params(args.params_file, hmr) if hmr else args.params_file
                    r = run_row(graph, args.video, mode, args.frames, args.timeout, params)
                    print(f'{r["graph"]:<10} {r["rate_mode"]:<9} {depth or "file":>5} {staged:>6} {r["frames_in"]:>9} '
                          f'{r["world_out"]:>9} {r.get("fps", float("nan")):6.1f} '
                          f'{r.get("latency_p50_ms", float("nan")):10.0f} '
                          f'{r.get("latency_p95_ms", float("nan")):10.0f}', flush=True)
    return 0


def _with_hmr_params(params_file: str | None, hmr_params: dict) -> str:
    """A copy of the parameter file (default: the installed one) with these hmr parameters set."""
    import tempfile

    import yaml
    if params_file is None:                       # installed by make setup with the launch file
        params_file = os.path.join(sys.prefix, 'share', 'onlinehmr_ros', 'config', 'pipeline.yaml')
    with open(params_file) as f:
        params = yaml.safe_load(f)
    params.setdefault('/**/hmr', {}).setdefault('ros__parameters', {}).update(hmr_params)
    out = tempfile.NamedTemporaryFile('w', suffix='_hmr.yaml', delete=False)
    with out:
        yaml.safe_dump(params, out)
    return out.name


if __name__ == '__main__':
    raise SystemExit(main())
