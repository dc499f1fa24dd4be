"""onlinehmr_pipeline: the launch file's node graph, composed in one process.

``launch``/``launch_ros``/``ros2cli`` are not on PyPI, so this console script
starts the same nodes as ``launch/pipeline.launch.py`` (camera_source, mask,
hmr, slam, fusion) in one process with the same parameter file. The nodes
still talk over real rclpy topics, so ``ros2 topic echo``, RViz or a
recorder in another process see everything.

Executors (``--executor``): ``per-node`` (default) spins each node on its own
``SingleThreadedExecutor`` in its own thread; ``multi`` puts them all on one
``MultiThreadedExecutor`` as rclpy's composition examples do. Measured here
on Megamind.avi (80 frames, lockstep; `run_graph(..., executor=...)`): 14.0 fps
per-node vs 1.4 fps multi. While one node's mutually exclusive callback group
is busy, the MultiThreadedExecutor's wait loop keeps waking up in Python and
holds the interpreter lock, starving the nodes that compute; per-node
executors wait in C.

    onlinehmr_pipeline --input VIDEO [--params-file config/pipeline.yaml]
                       [--record out.mcap] [--rate-mode lockstep] [--ros-args ...]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import rclpy
import threading

from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter

from onlinehmr_ros.ros.env import ensure_ament_prefix_path
from onlinehmr_ros.core.common.threads import limit_blas_threads
from onlinehmr_ros.ros.qos import replay_parameters
from onlinehmr_ros.ros.run import is_user_error
from onlinehmr_ros.ros.signals import stop_request

#: node name -> (executable in setup.py / the launch file, module, class)
NODES = {
    'camera_source': ('camera_source', 'onlinehmr_ros.nodes.camera_source', 'CameraSourceNode'),
    'mask': ('mask_node', 'onlinehmr_ros.nodes.mask_node', 'MaskNode'),
    'hmr': ('hmr_node', 'onlinehmr_ros.nodes.hmr_node', 'HmrNode'),
    'slam': ('slam_node', 'onlinehmr_ros.nodes.slam_node', 'SlamNode'),
    'fusion': ('fusion_node', 'onlinehmr_ros.nodes.fusion_node', 'FusionNode'),
    'hri': ('hri_node', 'onlinehmr_ros.nodes.hri_node', 'HriNode'),
}
#: nodes started only when asked for (launch argument hri:=true, onlinehmr_pipeline --hri)
OPTIONAL_NODES = ('hri',)

#: what `--record` stores by default: every output of the graph
#: (not /human/debug_image: rendering it costs the hmr node time; `onlinehmr render-bag` redraws it from the bag)
OUTPUT_TOPICS = ['/camera/image_raw', '/camera/camera_info', '/human/soft_mask', '/human/camera_humans',
                 '/human/body_model', '/slam/camera_pose', '/slam/camera_pose_state', '/slam/path', '/slam/map',
                 '/slam/scale', '/human/world_mesh', '/human/world_humans', '/tf', '/tf_static', '/diagnostics']

#: recorder options of a bag a user can keep (images JPEG, masks PNG mono8, zstd chunks, people without their
#: meshes: render-bag poses them from their parameters)
DEMO_RECORD_OPTIONS = ('--compress-images', 'jpeg', '--zstd', '--meshes-as-parameters')


def default_params_file() -> str:
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    try:
        return str(pathlib.Path(get_package_share_directory('onlinehmr_ros')) / 'config' / 'pipeline.yaml')
    except PackageNotFoundError as exc:
        raise SystemExit('onlinehmr_pipeline: error: onlinehmr_ros is not installed where ament can find it '
                         '(run `make setup`, or source your colcon workspace)') from exc


@dataclass
class GraphRun:
    """What a composed run produced (for the demo and the benchmark)."""

    nodes: dict
    wall_s: float
    frames_in: int
    frames_out: int
    recorder_counts: dict = field(default_factory=dict)


def _node_class(name: str):
    import importlib
    _, module, cls = NODES[name]
    return getattr(importlib.import_module(module), cls)


class _Spinner:
    """Spins nodes: one SingleThreadedExecutor thread per node, or one MultiThreadedExecutor."""

    def __init__(self, context, kind: str, threads: int):
        if kind not in ('per-node', 'multi'):
            raise ValueError(f"executor must be 'per-node' or 'multi', got {kind!r}")
        self._context = context
        self._kind = kind
        self._executors = []
        self._threads = []
        if kind == 'multi':
            self._multi = MultiThreadedExecutor(num_threads=threads, context=context)
            self._executors.append(self._multi)
            self._threads.append(threading.Thread(target=self._spin, args=(self._multi,), daemon=True))
            self._threads[-1].start()

    def _spin(self, executor) -> None:
        try:
            executor.spin()
        except ExternalShutdownException:
            pass

    def add(self, node) -> None:
        if self._kind == 'multi':
            self._multi.add_node(node)
            return
        ex = SingleThreadedExecutor(context=self._context)
        ex.add_node(node)
        self._executors.append(ex)
        self._threads.append(threading.Thread(target=self._spin, args=(ex,), name=node.get_name(), daemon=True))
        self._threads[-1].start()

    def shutdown(self) -> None:
        for ex in self._executors:
            ex.shutdown(timeout_sec=5.0)
        for t in self._threads:
            t.join(timeout=5.0)


class GraphStartError(RuntimeError):
    """The graph's publishers did not reach their subscribers in time (discovery failed)."""


def wait_until_matched(nodes: list, recorded_topics: list[str], timeout_s: float) -> None:
    """Block until every publisher of ``nodes`` is matched with every subscription of ``nodes`` on its
    topic, plus one more (the recorder's, in its own process) on each of ``recorded_topics``.

    Raises:
        GraphStartError: after ``timeout_s``, naming the topics still short of subscribers.
    """
    recorded = {nodes[0].resolve_topic_name(t) for t in recorded_topics} if nodes else set()
    local: dict[str, int] = {}
    for n in nodes:
        for s in n.subscriptions:
            local[s.topic_name] = local.get(s.topic_name, 0) + 1
    publishers = [p for n in nodes for p in n.publishers]
    deadline = time.monotonic() + timeout_s
    while True:
        short = [f'{p.topic_name} ({p.get_subscription_count()} of {want})' for p in publishers
                 for want in [local.get(p.topic_name, 0) + (p.topic_name in recorded)]
                 if p.get_subscription_count() < want]
        if not short:
            return
        if time.monotonic() > deadline:
            raise GraphStartError(f'after {timeout_s:.0f} s these publishers still miss subscribers: '
                                  f'{", ".join(sorted(set(short)))} (is ROS discovery blocked?)')
        time.sleep(0.05)


def run_graph(ros_args: list[str], camera_overrides: dict | None = None, with_camera_source: bool = True,
              record_path: str | None = None, record_topics: list[str] | None = None, threads: int = 4,
              drain_s: float = 3.0, timeout_s: float | None = None, progress=None,
              executor: str = 'per-node', match_timeout_s: float = 60.0,
              optional: tuple[str, ...] = (), stop=None, record_options: tuple[str, ...] = (),
              on_started=None) -> GraphRun:
    """Start the composed graph, spin until the camera source ends (plus ``drain_s``), stop.

    The camera source starts paused and is started once every publisher reaches its subscribers
    (:func:`wait_until_matched`), the recorder's included, so no image or result is lost.

    Args:
        ros_args: arguments after ``--ros-args`` (e.g. ``['--params-file', path]``).
        camera_overrides: parameters of camera_source that take precedence over the file.
        progress: optional callable(frames_published) called about every 0.5 s.
        executor: 'per-node' (a SingleThreadedExecutor thread per node) or 'multi' (one
            MultiThreadedExecutor with ``threads`` threads); see the module docstring.
        match_timeout_s: how long discovery may take before :class:`GraphStartError`.
        optional: which of ``OPTIONAL_NODES`` to start too (e.g. ``('hri',)``).
        stop: the process's ``ros.signals.StopRequest`` (main(): SIGINT/SIGTERM end the run cleanly).
        record_options: options of the recorder (``python -m onlinehmr_ros.ros.recording -h``), e.g.
            ``('--compress-images', 'jpeg', '--zstd')`` for a bag a user can keep.
        on_started: optional callable(nodes: dict name -> node), called once the stream starts (benchmarks
            read the nodes' counters while the graph runs).
    """
    context = rclpy.context.Context()
    rclpy.init(args=['onlinehmr_pipeline', '--ros-args', *ros_args], context=context)
    limit_blas_threads()           # one BLAS thread for the process, as each node's own main does (core.common.threads)
    nodes = {}
    spinner = _Spinner(context, executor, threads)
    recorder = None
    try:
        # the camera source starts last, once the others subscribe, so that no frame is lost
        replay = replay_parameters((camera_overrides or {}).get('rate_mode', ''))   # lockstep loses nothing
        for name in NODES:
            if name != 'camera_source' and (name not in OPTIONAL_NODES or name in optional):
                extra = [Parameter(k, value=v) for k, v in replay.get(name, {}).items()]
                nodes[name] = _node_class(name)(context=context, parameter_overrides=extra)
        if record_path:   # in its own process: writing images must not hold this interpreter's lock
            recorder = subprocess.Popen([sys.executable, '-m', 'onlinehmr_ros.ros.recording', record_path,
                                         *(record_topics or OUTPUT_TOPICS), *record_options,
                                         '--ros-args', *ros_args],
                                        stdout=subprocess.PIPE, text=True)
            if recorder.stdout.readline().strip() != 'recording':
                raise RuntimeError(f'the recorder did not start (exit code {recorder.wait()})')
        for n in nodes.values():
            spinner.add(n)
        if with_camera_source:
            overrides = [Parameter(k, value=v) for k, v in (camera_overrides or {}).items()]
            nodes['camera_source'] = _node_class('camera_source')(start_paused=True, context=context,
                                                                  parameter_overrides=overrides)
            spinner.add(nodes['camera_source'])
        # no frame may be lost: the first image goes out once every publisher of the graph reaches its
        # subscribers (the other nodes', and the recorder's, which subscribes to a topic once it sees it)
        wait_until_matched(list(nodes.values()), (record_topics or OUTPUT_TOPICS) if recorder else [],
                           match_timeout_s)
        if with_camera_source:
            nodes['camera_source'].start()
        if on_started is not None:
            on_started(nodes)
        t0 = time.monotonic()
        last_progress = 0.0
        finished_at = None
        fusion = nodes.get('fusion')
        outputs, last_output_at = 0, t0
        while context.ok() and not (stop is not None and stop.requested):
            time.sleep(0.05)
            now = time.monotonic()
            if fusion is not None and fusion.published != outputs:
                outputs, last_output_at = fusion.published, now
            src = nodes.get('camera_source')
            if progress is not None and now - last_progress > 0.5 and src is not None:
                progress(src.published)
                last_progress = now
            if src is not None and src.finished and finished_at is None:
                finished_at = now
            if finished_at is not None and now - finished_at > drain_s:
                break
            if timeout_s is not None and now - t0 > timeout_s:
                break
        wall = last_output_at - t0    # first image out -> last world frame out (not the drain)
        src = nodes.get('camera_source')
        counts = {}
        if recorder is not None:
            recorder.send_signal(signal.SIGINT)
            counts = json.loads(recorder.communicate(timeout=60)[0].strip().splitlines()[-1])
            recorder = None
        return GraphRun(nodes, wall, src.published if src else 0, fusion.published if fusion else 0, counts)
    finally:
        if stop is not None:
            stop.ignore_further()
        if recorder is not None:
            recorder.kill()
        spinner.shutdown()
        for n in nodes.values():
            n.destroy_node()
        rclpy.try_shutdown(context=context)


def stage_report(run: GraphRun) -> list[tuple[str, float, float]]:
    """(stage, p50 ms, p95 ms) rows from the nodes' own timings."""
    rows = []
    for name in ('mask', 'hmr', 'slam'):
        n = run.nodes.get(name)
        for stage, values in (getattr(n, 'stage_ms', {}) or {}).items():
            if values:
                rows.append((f'{name}/{stage}', float(np.percentile(values, 50)), float(np.percentile(values, 95))))
    fusion = run.nodes.get('fusion')
    if fusion is not None and fusion.latency_ms:
        lat = np.asarray(fusion.latency_ms)
        rows.append(('end-to-end latency (image stamp -> world mesh)', float(np.percentile(lat, 50)),
                     float(np.percentile(lat, 95))))
    return rows


def main(argv: list[str] | None = None) -> int:
    ensure_ament_prefix_path()
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_args = []
    if '--ros-args' in argv:
        i = argv.index('--ros-args')
        argv, ros_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog='onlinehmr_pipeline', description=__doc__.split('\n\n')[1])
    ap.add_argument('--input', help='video, image folder, rosbag2 or webcam index for camera_source')
    ap.add_argument('--no-camera-source', action='store_true', help='do not start camera_source (use a real '
                    'camera driver publishing /camera/image_raw and /camera/camera_info)')
    ap.add_argument('--params-file', default=None, help='ROS parameter file (default: the installed '
                    'config/pipeline.yaml)')
    ap.add_argument('--rate-mode', choices=('recorded', 'fixed', 'lockstep'), help='camera_source rate_mode')
    ap.add_argument('--record', metavar='BAG', help='record the output topics to this MCAP rosbag2 folder')
    ap.add_argument('--record-compressed', action='store_true',
                    help='record images as JPEG and soft masks as PNG mono8 (CompressedImage on '
                         '<topic>/compressed) and people without their meshes (the parameters pose them), in '
                         'zstd-compressed chunks: a bag a user can keep')
    ap.add_argument('--executor', choices=('per-node', 'multi'), default='per-node',
                    help='per-node: a SingleThreadedExecutor thread per node (default); multi: one '
                    'MultiThreadedExecutor (see the module docstring)')
    ap.add_argument('--threads', type=int, default=4, help='threads of the MultiThreadedExecutor')
    ap.add_argument('--hri', action='store_true', help='also start the hri node: the people as REP-155 (ros4hri) '
                    'bodies under /humans/bodies')
    args = ap.parse_args(argv)
    if not args.no_camera_source and not args.input:
        ap.error('give --input (or --no-camera-source with a running camera driver)')
    params_file = args.params_file or default_params_file()
    overrides = {}
    if args.input:
        overrides['input'] = args.input
    if args.rate_mode:
        overrides['rate_mode'] = args.rate_mode
    stop = stop_request()
    stop.start_ros()
    try:
        run = run_graph(['--params-file', params_file, *ros_args], overrides, not args.no_camera_source,
                        args.record, threads=args.threads, drain_s=3.0, executor=args.executor,
                        optional=('hri',) if args.hri else (), stop=stop,
                        record_options=DEMO_RECORD_OPTIONS if args.record_compressed else ())
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except Exception as exc:            # GraphStartError is one of the package's own errors
        if not is_user_error(exc):
            raise
        print(f'onlinehmr_pipeline: error: {exc}', file=sys.stderr)
        return 1
    print(f'{run.frames_in} frames in, {run.frames_out} world frames out in {run.wall_s:.1f} s '
          f'({run.frames_out / max(run.wall_s, 1e-9):.1f} fps)')
    for stage, p50, p95 in stage_report(run):
        print(f'  {stage:<50} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
