"""camera_source: publish images and CameraInfo from a video, image folder, webcam or rosbag2.

Publishes (relative names, remappable):
    camera/image_raw    sensor_msgs/Image (rgb8 or bgr8, parameter `encoding`); reliable, keep last 5
                        (serves sensor-data subscribers and reliable recorders alike)
    camera/image_raw/compressed  sensor_msgs/CompressedImage instead, with `transport: compressed`
                        (JPEG or PNG, image_transport's format strings; the image-reading nodes
                        take it with their `image_transport: compressed`)
    camera/camera_info  sensor_msgs/CameraInfo, same stamp and frame
    /clock       rosgraph_msgs/Clock, when `publish_clock` is true (replays with use_sim_time)
    /diagnostics frames published / skipped / not acknowledged in time

Rates (`rate_mode`): `recorded` (the source's own timing), `fixed` (`rate_hz`), or
`lockstep`: the next image goes out once a message stamped like the last one
arrived on `lockstep_topic` (a HumanMeshArray, by default the world output of fusion), i.e.
as fast as the pipeline keeps up; after `lockstep_timeout_s` it goes out anyway.

A missing or unreadable input is an error and a non-zero exit; a frame that
cannot be decoded is skipped with a warning and counted in diagnostics.
With `wait_for_nodes` and `wait_for_graph` the first image waits until those nodes subscribe and the
nodes downstream are connected (core.io.start_gate; the launch file sets both), so that a replay
through separately started processes loses no frame anywhere in the graph.
"""
from __future__ import annotations

import sys
import time

from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from onlinehmr_ros.core.common.tf_tree import namespaced_frame
from onlinehmr_ros.core.io.sources import IntrinsicsPolicy, LockstepGate, SourceError, open_source
from onlinehmr_ros.core.io.start_gate import ANY, GraphEdge, StartGate
from onlinehmr_ros.msg import HumanMeshArray
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.diagnostics import OK, WARN, Diagnostics
from onlinehmr_ros.ros.params import BUILT_AT_START, FRAMES_FIXED, NodeParameters
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS
from onlinehmr_ros.ros.run import run_node


class CameraSourceNode(Node):
    """Publishes the input's images; ``start_paused=True`` holds the first image until :meth:`start`
    (the composed runner starts the stream once every subscriber is matched)."""

    def __init__(self, start_paused: bool = False, **kwargs):
        super().__init__('camera_source', **kwargs)
        self._paused = start_paused
        self.params = p = NodeParameters(self)
        opened = 'the input is opened once at start-up'
        publishers = 'the publishers are created at start-up'
        self.input = p.declare('input', '', 'Video file, image folder, rosbag2 (.mcap/.db3 or folder) or webcam '
                               'index.', read_only=opened)
        self.bag_image_topic = p.declare('bag_image_topic', '', 'Image topic to read from a bag (empty: the only '
                                         'image topic).', read_only=opened)
        self.rate_mode = p.declare('rate_mode', 'recorded', 'Publishing rate.', choices=('recorded', 'fixed',
                                   'lockstep'), read_only='the timer and the acknowledgement subscription are set up '
                                   'at start-up')
        self.rate_hz = p.declare('rate_hz', 30.0, 'Rate for rate_mode=fixed (Hz); also the frame rate assumed for '
                                 'image folders.', min_value=0.1, max_value=1000.0, on_change=self._new_rate)
        self.lockstep_topic = p.declare('lockstep_topic', 'human/world_humans', 'HumanMeshArray topic that '
                                        'acknowledges a frame in rate_mode=lockstep.', read_only=BUILT_AT_START)
        self.lockstep = LockstepGate(
            p.declare('lockstep_depth', 2, 'Frames in flight in rate_mode=lockstep: the next image goes out while '
                      'fewer than this many are unacknowledged (1: lowest latency; 2: the hmr node stays busy while '
                      'an image travels, more fps).', min_value=1, max_value=16,
                      on_change=lambda v: setattr(self.lockstep, 'depth', v)),
            p.declare('lockstep_timeout_s', 10.0, 'Publish the next frame after this long without acknowledgement '
                      '(s): only a lost result should reach it (several people on a busy 2-core machine take '
                      'seconds per image).', min_value=0.0, max_value=60.0, on_change=lambda v: setattr(self.lockstep, 'timeout_s', v)))
        self.wait_for_nodes = p.declare(
            'wait_for_nodes', None, "Before the first image, wait until these nodes (names in this node's "
            'namespace) subscribe to the image topic (and, in lockstep, the acknowledging topic has a publisher).',
            value_type=Parameter.Type.STRING_ARRAY, read_only=BUILT_AT_START) or []
        self.wait_for_graph = p.declare(
            'wait_for_graph', None, "Also wait for these connections between the nodes downstream, each "
            "'<topic>: <publisher> -> <subscriber>[, ...]' (names in this node's namespace; the launch file "
            "lists the pipeline's), so that no node misses the results of the first images.",
            value_type=Parameter.Type.STRING_ARRAY, read_only=BUILT_AT_START) or []
        self.settle_s = p.declare('wait_for_graph_settle_s', 1.0, 'Seconds between seeing every connection above '
                                  'and the first image (the nodes match each other meanwhile).', min_value=0.0,
                                  max_value=60.0, read_only=BUILT_AT_START)
        p.declare('encoding', 'rgb8', 'Encoding of the published images.', choices=('rgb8', 'bgr8'))
        frame_id = p.declare('frame_id', None, 'frame_id of images and CameraInfo (an optical frame: x right, y '
                             "down, z forward). Not set: 'camera_optical_frame', prefixed by the node's namespace.",
                             value_type=str, read_only=FRAMES_FIXED)
        self.frame_id = frame_id if frame_id is not None else namespaced_frame('camera_optical_frame',
                                                                               self.get_namespace())
        intrinsics_fixed = 'the intrinsics are resolved at start-up'
        self.camera_info_yaml = p.declare('camera_info_yaml', '', 'ROS camera_info YAML with the intrinsics.',
                                          read_only=intrinsics_fixed)
        self.intrinsics_param = p.declare('intrinsics', None, '[fx, fy, cx, cy] in pixels; used when no '
                                          'camera_info_yaml is given.', value_type=list, read_only=intrinsics_fixed,
                                          check=_four_values)
        self.hfov_deg = p.declare('hfov_deg', 60.0, 'Horizontal field of view used when no intrinsics are given '
                                  '(degrees).', min_value=1.0, max_value=179.0, read_only=intrinsics_fixed)
        self.publish_clock = p.declare('publish_clock', False, 'Publish /clock from the frame stamps (for replays '
                                       'with use_sim_time).', read_only=publishers)
        self.stamp_source = p.declare('stamp_source', 'now', "Image stamps: 'now' = the time of publication (as a "
                                      "live camera driver stamps); 'source' = the source's own stamps (bag header "
                                      'stamps; index / fps for files).', choices=('now', 'source'),
                                      read_only='stamps must not jump within a stream')
        p.declare('loop', False, 'Start again at the end of a file.')
        p.declare('max_frames', 0, 'Stop after this many frames (0: all).', min_value=0, max_value=10**9)
        p.declare('shutdown_at_end', True, 'Shut the process down when the input ends.')
        self.transport = p.declare('transport', 'raw', 'How images are published: raw (sensor_msgs/Image on '
                                   'camera/image_raw) or compressed (sensor_msgs/CompressedImage on '
                                   'camera/image_raw/compressed, as image_transport names it; for links between '
                                   'hosts).', read_only=publishers, choices=('raw', 'compressed'))
        self.codec = p.declare('compressed.format', 'jpeg', 'Codec of transport=compressed.',
                               read_only=publishers, choices=convert.COMPRESSED_CODECS)
        p.declare('compressed.jpeg_quality', 80, 'JPEG quality (1-100) of transport=compressed.', min_value=1,
                  max_value=100)
        p.declare('compressed.png_level', 3, 'PNG compression level (0-9) of transport=compressed.', min_value=0,
                  max_value=9)
        if not self.input:
            raise SourceError("parameter 'input' is empty: give a video, image folder, bag or webcam index")

        if self.transport == 'raw':
            self.image_pub = self.create_publisher(Image, 'camera/image_raw', IMAGE_PUBLISHER_QOS)
        else:
            self.image_pub = self.create_publisher(
                CompressedImage, convert.compressed_topic(self.resolve_topic_name('camera/image_raw')),
                IMAGE_PUBLISHER_QOS)
        self.info_pub = self.create_publisher(CameraInfo, 'camera/camera_info', IMAGE_PUBLISHER_QOS)
        self.clock_pub = self.create_publisher(Clock, '/clock', 10) if self.publish_clock else None
        self.diagnostics = Diagnostics(self, 'camera source')
        # the first image waits for its readers, the pipeline's own connections and (lockstep) its acknowledger
        edges = [GraphEdge.parse(e) for e in self.wait_for_graph]
        if self.wait_for_nodes:
            edges.insert(0, GraphEdge(self.image_pub.topic_name, self.get_name(), tuple(self.wait_for_nodes)))
        if self.rate_mode == 'lockstep':
            ack = self.create_subscription(HumanMeshArray, self.lockstep_topic, self._on_ack, 10)
            if edges:
                edges.append(GraphEdge(ack.topic_name, ANY, (self.get_name(),)))
        self.start_gate = StartGate(edges, self.settle_s)
        self._waiting_logged = 0.0
        self.published = 0
        self.finished = False
        self._open()
        # lockstep is driven by the acknowledgements (_on_ack); its timer only starts the stream and
        # handles timeouts, so it need not poll fast (a fast Python timer steals the interpreter from the nodes)
        self.timer = self.create_timer(self._period(), self._tick)
        self.get_logger().info(f'publishing {self.input} ({getattr(self.source, "frame_count", 0)} frames, '
                               f'{self.source.fps:.1f} fps) as {p["encoding"]} ({self.transport}) on '
                               f'{self.image_pub.topic_name}, rate_mode={self.rate_mode}')

    def _period(self) -> float:
        return {'recorded': 1.0 / self.source.fps, 'fixed': 1.0 / self.rate_hz, 'lockstep': 0.05}[self.rate_mode]

    def _new_rate(self, rate_hz: float) -> None:
        self.rate_hz = rate_hz
        if self.rate_mode == 'fixed' and not self.finished:
            self.timer.cancel()
            self.timer = self.create_timer(self._period(), self._tick)

    def _open(self) -> None:
        self.source = open_source(self.input, fps=self.rate_hz, image_topic=self.bag_image_topic,
                                  on_warning=lambda m: self.get_logger().warning(m))
        self._frames = iter(self.source)
        fx = tuple(self.intrinsics_param) if self.intrinsics_param is not None else None
        self.intrinsics = IntrinsicsPolicy(self.camera_info_yaml, fx, self.hfov_deg,
                                           on_warning=lambda m: self.get_logger().warning(m))

    def _on_ack(self, msg: HumanMeshArray) -> None:
        self.lockstep.acknowledge(convert.stamp_to_ns(msg.header.stamp))
        self._tick()

    def _endpoints(self, topic: str) -> tuple[set[str], set[str]]:
        """(publishing, subscribing) node names of ``topic`` in this namespace, as the ROS graph shows them."""
        name, ns = self.resolve_topic_name(topic), self.get_namespace()
        return ({e.node_name for e in self.get_publishers_info_by_topic(name) if e.node_namespace == ns},
                {e.node_name for e in self.get_subscriptions_info_by_topic(name) if e.node_namespace == ns})

    def _pipeline_there(self) -> bool:
        """The start gate (wait_for_nodes, wait_for_graph); says once, then every 10 s, what it waits for."""
        if self.published or not self.start_gate.edges:
            return True
        now = time.monotonic()
        waiting = self.start_gate.connected_at_s is None
        if self.start_gate.ready(now, self._endpoints):
            return True
        if waiting and self.start_gate.connected_at_s is not None:
            self.get_logger().info(f'the graph is connected: first image in {self.settle_s:g} s')
        elif waiting and now - self._waiting_logged >= 10.0:
            self._waiting_logged = now
            said = '; '.join(self.start_gate.missing)
            self.get_logger().info(f'the first image waits for {said}')
            self._report(OK, f'waiting for {said}')
        return False

    def _ready(self) -> bool:
        if not self._pipeline_there():
            return False
        return self.rate_mode != 'lockstep' or self.lockstep.ready(time.monotonic())

    def _next(self):
        try:
            return next(self._frames)
        except StopIteration:
            if self.params['loop'] and self.published:
                self._open()
                return next(self._frames, None)
            return None

    def start(self) -> None:
        """Start publishing (after ``start_paused=True``)."""
        self._paused = False

    def _tick(self) -> None:
        if self.finished or self._paused or not self._ready():
            return
        if self.params['max_frames'] and self.published >= self.params['max_frames']:
            return self._finish()
        f = self._next()
        if f is None:
            return self._finish()
        intrinsics = self.intrinsics.for_frame(f)
        stamp_ns = f.stamp_ns if self.stamp_source == 'source' else self.get_clock().now().nanoseconds
        encoding = self.params['encoding']
        image = f.image_rgb if encoding == 'rgb8' else f.image_rgb[:, :, ::-1]
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=convert.ns_to_stamp(stamp_ns)))
        if self.transport == 'raw':
            self.image_pub.publish(convert.array_to_image(image, encoding, stamp_ns, self.frame_id))
        else:
            self.image_pub.publish(convert.compress_image(image, encoding, self.codec,
                                                          self.params['compressed.jpeg_quality'],
                                                          self.params['compressed.png_level'], stamp_ns, self.frame_id))
        self.info_pub.publish(convert.intrinsics_to_camera_info(intrinsics, stamp_ns, self.frame_id))
        if self.rate_mode == 'lockstep':
            self.lockstep.sent(stamp_ns, time.monotonic())
        self.published += 1
        if self.published % 30 == 1:
            self._report(OK, 'publishing')

    def _report(self, level, message: str) -> None:
        self.diagnostics.publish(level, message, {'frames_published': self.published,
                                                  'frames_skipped': self.source.skipped_frames,
                                                  'frames_not_acknowledged_in_time': self.lockstep.timed_out})

    def _finish(self) -> None:
        self.finished = True
        self.timer.cancel()
        skipped = self.source.skipped_frames
        self._report(WARN if skipped else OK, f'input ended after {self.published} frames ({skipped} skipped)')
        self.get_logger().info(f'input ended: {self.published} frames published, {skipped} skipped')


def _four_values(intrinsics) -> None:
    if len(intrinsics) != 4 or min(intrinsics) <= 0:
        raise InputError(f'intrinsics must be [fx, fy, cx, cy] with positive values, got {list(intrinsics)}')


def main(args=None) -> int:
    return run_node(CameraSourceNode, 'camera_source', args,
                    done=lambda node: node.finished and node.params['shutdown_at_end'])


if __name__ == '__main__':
    sys.exit(main())
