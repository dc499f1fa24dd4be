"""Record chosen topics to an MCAP rosbag2 file with the pure-Python ``rosbags`` package.

ros2 bag (rosbag2) is not on PyPI; this records the serialized bytes rclpy
receives (raw subscriptions: no deserialisation cost) into a rosbag2 MCAP file
that ``ros2 bag play``, RViz (via a replay) and Foxglove open.

Each topic's type is looked up in the ROS graph; the subscription copies the
publishers' reliability and durability, so best-effort (sensor-data) and
latched (transient-local) topics are recorded too. Custom types of this
package are registered from their installed ``.msg`` definitions.
"""
from __future__ import annotations

import importlib
import pathlib
import threading

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


class RecordingError(RuntimeError):
    """The bag cannot be written (path exists, unknown message type)."""


def message_class(type_name: str):
    """'pkg/msg/Type' -> the generated Python class."""
    pkg, kind, name = type_name.split('/')
    return getattr(importlib.import_module(f'{pkg}.{kind}'), name)


def _typestore_with_package_types():
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    try:
        msg_dir = pathlib.Path(get_package_share_directory('onlinehmr_ros')) / 'msg'
    except PackageNotFoundError as exc:
        raise RecordingError('onlinehmr_ros interfaces are not installed (AMENT_PREFIX_PATH unset? run `make '
                             'setup` or source your colcon workspace)') from exc
    types = {}
    for f in sorted(msg_dir.glob('*.msg')):
        types.update(get_types_from_msg(f.read_text(), f'onlinehmr_ros/msg/{f.stem}'))
    store.register(types)
    return store


class BagRecorder:
    """Subscribe to ``topics`` on ``node`` and write every message to an MCAP bag at ``path``.

    Topics that do not exist yet are picked up when they appear (call
    :meth:`poll_new_topics` periodically, e.g. from a timer; the constructor
    creates one). Call :meth:`close` to finish the file.
    """

    def __init__(self, node: Node, topics: list[str], path: str, poll_period_s: float = 0.2):
        from rosbags.rosbag2 import StoragePlugin, Writer
        self._node = node
        self._path = pathlib.Path(path)
        if self._path.exists():
            raise RecordingError(f'bag output {self._path} already exists; choose a new path')
        self._typestore = _typestore_with_package_types()
        self._writer = Writer(self._path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._lock = threading.Lock()
        self._pending = [node.resolve_topic_name(t) for t in topics]  # fully qualified names
        self._connections = {}
        self._subscriptions = []
        self.counts: dict[str, int] = {t: 0 for t in self._pending}
        self._closed = False
        self.poll_new_topics()
        self._timer = node.create_timer(poll_period_s, self.poll_new_topics)

    def poll_new_topics(self) -> None:
        if self._closed or not self._pending:
            return
        graph = dict(self._node.get_topic_names_and_types())
        for topic in list(self._pending):
            if topic not in graph or not graph[topic]:
                continue
            type_name = graph[topic][0]
            infos = self._node.get_publishers_info_by_topic(topic)
            if not infos:
                continue
            best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
            latched = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                             reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)
            if type_name not in self._typestore.fielddefs:
                raise RecordingError(f"topic '{topic}' has type {type_name}, unknown to the recorder's typestore")
            with self._lock:
                conn = self._writer.add_connection(topic, type_name, typestore=self._typestore)
                self._connections[topic] = conn
            self._subscriptions.append(self._node.create_subscription(
                message_class(type_name), topic, lambda data, t=topic: self._write(t, data), qos, raw=True))
            self._pending.remove(topic)

    def _write(self, topic: str, data: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self._writer.write(self._connections[topic], self._node.get_clock().now().nanoseconds, data)
            self.counts[topic] += 1

    @property
    def missing_topics(self) -> list[str]:
        """Requested topics (fully qualified) that have not appeared in the graph."""
        return list(self._pending)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._timer.cancel()
            for s in self._subscriptions:
                self._node.destroy_subscription(s)
            self._writer.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m onlinehmr_ros.ros.recording BAG TOPIC [TOPIC ...]`: record until SIGINT/SIGTERM.

    Prints one line ``recording`` once started and, at the end, one JSON line with the
    number of messages written per topic. A separate process keeps the writing of large
    messages (images) away from the interpreter that runs the pipeline.
    """
    import argparse
    import json
    import signal
    import sys

    import rclpy

    from onlinehmr_ros.ros.env import ensure_ament_prefix_path

    ap = argparse.ArgumentParser(prog='python -m onlinehmr_ros.ros.recording', description=main.__doc__.split('\n')[0])
    ap.add_argument('bag', help='output rosbag2 folder (MCAP); must not exist')
    ap.add_argument('topics', nargs='+')
    args, ros_args = ap.parse_known_args(argv)
    ensure_ament_prefix_path()
    rclpy.init(args=['recording', *ros_args])
    node = rclpy.create_node('onlinehmr_recorder')
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        recorder = BagRecorder(node, args.topics, args.bag)
    except RecordingError as exc:
        print(f'recording: error: {exc}', file=sys.stderr)
        return 1
    print('recording', flush=True)
    try:
        while not stop and rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        recorder.close()
        print(json.dumps(recorder.counts), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
