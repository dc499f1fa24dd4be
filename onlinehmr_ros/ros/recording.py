"""Record chosen topics to an MCAP rosbag2 file with the pure-Python ``rosbags`` package.

ros2 bag (rosbag2) is not on PyPI; this records the serialized bytes rclpy
receives (raw subscriptions: no deserialisation cost) into a rosbag2 MCAP file
that ``ros2 bag play``, RViz (via a replay) and Foxglove open.

Each topic's type is looked up in the ROS graph; the subscription copies the
publishers' reliability and durability, so best-effort (sensor-data) and
latched (transient-local) topics are recorded too. Custom types of this
package are registered from their installed ``.msg`` definitions.

A bag a user can keep (``compress_images``, ``zstd``): ``sensor_msgs/Image`` topics are
written as ``sensor_msgs/CompressedImage`` on ``<topic>/compressed``, the way image_transport's
compressed plugin names and formats them, so ``ros2 bag play`` and Foxglove read them:
colour/mono8 images with the chosen codec (JPEG by default), float soft masks (32FC1,
values in [0, 1]) as lossless PNG of mono8 = round(255 * value); other encodings (depth)
stay raw. ``zstd`` compresses the MCAP chunks (what ``ros2 bag record
--storage-preset-profile zstd_fast`` does); readers decompress them transparently.

Meshes as parameters (``meshes_as_parameters``): ``onlinehmr_ros/msg/HumanMeshArray`` topics are
written with every person's ``vertices`` emptied, all other fields as published. A mesh is the
body model posed with the person's parameters (``betas``, ``global_orient``, ``body_pose``,
``transl``, scaled by ``size_factor`` about the pelvis: ``msg/HumanMesh.msg``), so a reader that
has the model named on ``/human/body_model`` rebuilds it
(:func:`onlinehmr_ros.core.body.model.posed_vertices`; ``onlinehmr render-bag`` does). The mesh is
most of a camera_humans message (13,718 x 3 float32 = 165 kB per person for the open model); the
recorder deserialises and re-serialises these messages, in its own process, off the pipeline.
"""
from __future__ import annotations

import array
import importlib
import pathlib
import threading

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


class RecordingError(RuntimeError):
    """The bag cannot be written (path exists, unknown message type)."""


#: the type whose vertices ``meshes_as_parameters`` drops
HUMAN_MESH_ARRAY = 'onlinehmr_ros/msg/HumanMeshArray'


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

    def __init__(self, node: Node, topics: list[str], path: str, poll_period_s: float = 0.2,
                 compress_images: str = '', jpeg_quality: int = 85, zstd: bool = False,
                 meshes_as_parameters: bool = False):
        """``compress_images``: '' (record images as published), 'jpeg' or 'png' (the codec of
        colour images; masks are always PNG); ``zstd``: compress the MCAP chunks;
        ``meshes_as_parameters``: write HumanMeshArray topics without vertices (module docstring)."""
        from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

        from onlinehmr_ros.ros.convert import COMPRESSED_CODECS
        if compress_images and compress_images not in COMPRESSED_CODECS:
            raise RecordingError(f"unknown image codec '{compress_images}'; use one of {', '.join(COMPRESSED_CODECS)}")
        if not 1 <= int(jpeg_quality) <= 100:
            raise RecordingError(f'jpeg_quality must be in 1..100, got {jpeg_quality}')
        self._node = node
        self._path = pathlib.Path(path)
        if self._path.exists():
            raise RecordingError(f'bag output {self._path} already exists; choose a new path')
        self._codec = compress_images
        self._jpeg_quality = int(jpeg_quality)
        self._meshes_as_parameters = bool(meshes_as_parameters)
        self._typestore = _typestore_with_package_types()
        self._writer = Writer(self._path, version=9, storage_plugin=StoragePlugin.MCAP)
        if zstd:
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
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
            if self._codec and type_name == 'sensor_msgs/msg/Image':
                callback, raw = (lambda msg, t=topic: self._write_image(t, msg)), False
            elif self._meshes_as_parameters and type_name == HUMAN_MESH_ARRAY:
                with self._lock:
                    self._connections[topic] = self._writer.add_connection(topic, type_name,
                                                                           typestore=self._typestore)
                callback, raw = (lambda msg, t=topic: self._write_without_vertices(t, msg)), False
            else:
                with self._lock:
                    self._connections[topic] = self._writer.add_connection(topic, type_name,
                                                                           typestore=self._typestore)
                callback, raw = (lambda data, t=topic: self._write(t, t, data)), True
            self._subscriptions.append(self._node.create_subscription(
                message_class(type_name), topic, callback, qos, raw=raw))
            self._pending.remove(topic)

    def _write(self, topic: str, bag_topic: str, data: bytes) -> None:
        """Write serialized ``data`` to ``bag_topic``'s connection; count it under the requested ``topic``."""
        with self._lock:
            if self._closed:
                return
            self._writer.write(self._connections[bag_topic], self._node.get_clock().now().nanoseconds, data)
            self.counts[topic] += 1

    def _write_without_vertices(self, topic: str, msg) -> None:
        """A HumanMeshArray with every person's ``vertices`` emptied (the rest as published)."""
        from rclpy.serialization import serialize_message
        for person in msg.humans:
            person.vertices = array.array('f')
        self._write(topic, topic, serialize_message(msg))

    def _write_image(self, topic: str, msg) -> None:
        """An Image of ``topic`` -> CompressedImage on ``<topic>/compressed`` (8-bit and unit-float
        encodings; see the module docstring), or the Image unchanged for other encodings."""
        from rclpy.serialization import serialize_message

        from onlinehmr_ros.core.io.images import unit_float_to_mono8
        from onlinehmr_ros.ros import convert
        stamp_ns = convert.stamp_to_ns(msg.header.stamp)
        try:
            if msg.encoding in ('rgb8', 'bgr8', 'mono8'):
                out = convert.compress_image(convert.image_to_array(msg), msg.encoding, self._codec,
                                             self._jpeg_quality, stamp_ns=stamp_ns, frame_id=msg.header.frame_id)
            elif msg.encoding == '32FC1':
                out = convert.compress_image(unit_float_to_mono8(convert.image_to_array(msg)), 'mono8', 'png',
                                             stamp_ns=stamp_ns, frame_id=msg.header.frame_id)
            else:
                out = msg
        except convert.ConversionError as exc:   # a malformed image: recorded as published, reported
            self._node.get_logger().warning(f'{topic}: image not compressed, recorded raw ({exc})',
                                            throttle_duration_sec=5.0)
            out = msg
        bag_topic = convert.compressed_topic(topic) if out is not msg else topic
        with self._lock:
            if bag_topic not in self._connections:
                self._connections[bag_topic] = self._writer.add_connection(
                    bag_topic, 'sensor_msgs/msg/CompressedImage' if out is not msg else 'sensor_msgs/msg/Image',
                    typestore=self._typestore)
        self._write(topic, bag_topic, serialize_message(out))

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
    ap.add_argument('--compress-images', choices=('', 'jpeg', 'png'), default='',
                    help='write Image topics as CompressedImage on <topic>/compressed with this codec '
                         '(float masks: PNG of mono8)')
    ap.add_argument('--jpeg-quality', type=int, default=85)
    ap.add_argument('--zstd', action='store_true', help='zstd-compress the MCAP chunks')
    ap.add_argument('--meshes-as-parameters', action='store_true',
                    help='write HumanMeshArray topics without vertices (the body-model parameters pose them: '
                         'onlinehmr render-bag rebuilds the meshes)')
    args, ros_args = ap.parse_known_args(argv)
    ensure_ament_prefix_path()
    rclpy.init(args=['recording', *ros_args])
    node = rclpy.create_node('onlinehmr_recorder')
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        recorder = BagRecorder(node, args.topics, args.bag, compress_images=args.compress_images,
                               jpeg_quality=args.jpeg_quality, zstd=args.zstd,
                               meshes_as_parameters=args.meshes_as_parameters)
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
