"""camera_source: publish images and CameraInfo from a video, image folder, webcam or rosbag2.

Publishes (names remappable):
    /camera/image_raw    sensor_msgs/Image (rgb8 or bgr8, parameter `encoding`); reliable, keep last 5
                         (serves sensor-data subscribers and reliable recorders alike)
    /camera/image_raw/compressed  sensor_msgs/CompressedImage instead, with `transport: compressed`
                         (JPEG or PNG, image_transport's format strings; the image-reading nodes
                         take it with their `image_transport: compressed`)
    /camera/camera_info  sensor_msgs/CameraInfo, same stamp and frame
    /clock       rosgraph_msgs/Clock, when `publish_clock` is true (replays with use_sim_time)
    /diagnostics frames published / skipped

Rates (`rate_mode`): `recorded` (the source's own timing), `fixed` (`rate_hz`), or
`lockstep`: the next image goes out once a message stamped like the last one
arrived on `lockstep_topic` (a HumanMeshArray, by default the world output of fusion), i.e.
as fast as the pipeline keeps up; after `lockstep_timeout_s` it goes out anyway.

A missing or unreadable input is an error and a non-zero exit; a frame that
cannot be decoded is skipped with a warning and counted in diagnostics.
"""
from __future__ import annotations

import sys
import time

from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from onlinehmr_ros.core.io.sources import IntrinsicsPolicy, LockstepGate, SourceError, open_source
from onlinehmr_ros.msg import HumanMeshArray
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.diagnostics import OK, WARN, Diagnostics
from onlinehmr_ros.ros.params import declare
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS
from onlinehmr_ros.ros.run import run_node


class CameraSourceNode(Node):
    """Publishes the input's images; ``start_paused=True`` holds the first image until :meth:`start`
    (the composed runner starts the stream once every subscriber is matched)."""

    def __init__(self, start_paused: bool = False, **kwargs):
        super().__init__('camera_source', **kwargs)
        self._paused = start_paused
        self.input = declare(self, 'input', '', 'Video file, image folder, rosbag2 (.mcap/.db3 or folder) or webcam '
                             'index.', read_only=True)
        self.bag_image_topic = declare(self, 'bag_image_topic', '', 'Image topic to read from a bag (empty: the '
                                       'only image topic).', read_only=True)
        self.rate_mode = declare(self, 'rate_mode', 'recorded', 'Publishing rate.', read_only=True,
                                 choices=('recorded', 'fixed', 'lockstep'))
        self.rate_hz = declare(self, 'rate_hz', 30.0, 'Rate for rate_mode=fixed (Hz); also the frame rate '
                               'assumed for image folders.', min_value=0.1, max_value=1000.0)
        self.lockstep_topic = declare(self, 'lockstep_topic', '/human/world_humans', 'HumanMeshArray topic that '
                                      'acknowledges a frame in rate_mode=lockstep.', read_only=True)
        self.lockstep_depth = declare(self, 'lockstep_depth', 2, 'Frames in flight in rate_mode=lockstep: the next '
                                      'image goes out while fewer than this many are unacknowledged (1: lowest '
                                      'latency; 2: the hmr node stays busy while an image travels, more fps).', min_value=1, max_value=16)
        self.lockstep_timeout_s = declare(self, 'lockstep_timeout_s', 2.0, 'Publish the next frame after this '
                                          'long without acknowledgement (s).', min_value=0.0, max_value=60.0)
        self.encoding = declare(self, 'encoding', 'rgb8', 'Encoding of the published images.',
                                choices=('rgb8', 'bgr8'))
        self.frame_id = declare(self, 'frame_id', 'camera_optical_frame', 'frame_id of images and CameraInfo '
                                '(an optical frame: x right, y down, z forward).')
        self.camera_info_yaml = declare(self, 'camera_info_yaml', '', 'ROS camera_info YAML with the intrinsics.',
                                        read_only=True)
        self.intrinsics_param = declare(self, 'intrinsics', [0.0], '[fx, fy, cx, cy] in pixels; used when no '
                                        'camera_info_yaml is given ([0.0]: unset).', read_only=True)
        self.hfov_deg = declare(self, 'hfov_deg', 60.0, 'Horizontal field of view used when no intrinsics are '
                                'given (degrees).', min_value=1.0, max_value=179.0)
        self.publish_clock = declare(self, 'publish_clock', False, 'Publish /clock from the frame stamps '
                                     '(for replays with use_sim_time).', read_only=True)
        self.stamp_source = declare(self, 'stamp_source', 'now', "Image stamps: 'now' = the time of publication "
                                    "(as a live camera driver stamps); 'source' = the source's own stamps (bag "
                                    'header stamps; index / fps for files).', choices=('now', 'source'))
        self.loop = declare(self, 'loop', False, 'Start again at the end of a file.')
        self.max_frames = declare(self, 'max_frames', 0, 'Stop after this many frames (0: all).',
                                  min_value=0, max_value=10**9)
        self.shutdown_at_end = declare(self, 'shutdown_at_end', True, 'Shut the process down when the input ends.')
        self.transport = declare(self, 'transport', 'raw', 'How images are published: raw (sensor_msgs/Image on '
                                 '/camera/image_raw) or compressed (sensor_msgs/CompressedImage on '
                                 '/camera/image_raw/compressed, as image_transport names it; for links between '
                                 'hosts).', read_only=True, choices=('raw', 'compressed'))
        self.codec = declare(self, 'compressed.format', 'jpeg', 'Codec of transport=compressed.', read_only=True,
                             choices=convert.COMPRESSED_CODECS)
        self.jpeg_quality = declare(self, 'compressed.jpeg_quality', 80, 'JPEG quality (1-100) of '
                                    'transport=compressed.', min_value=1, max_value=100)
        self.png_level = declare(self, 'compressed.png_level', 3, 'PNG compression level (0-9) of '
                                 'transport=compressed.', min_value=0, max_value=9)
        if not self.input:
            raise SourceError("parameter 'input' is empty: give a video, image folder, bag or webcam index")

        if self.transport == 'raw':
            self.image_pub = self.create_publisher(Image, '/camera/image_raw', IMAGE_PUBLISHER_QOS)
        else:
            self.image_pub = self.create_publisher(
                CompressedImage, convert.compressed_topic(self.resolve_topic_name('/camera/image_raw')),
                IMAGE_PUBLISHER_QOS)
        self.info_pub = self.create_publisher(CameraInfo, '/camera/camera_info', IMAGE_PUBLISHER_QOS)
        self.clock_pub = self.create_publisher(Clock, '/clock', 10) if self.publish_clock else None
        self.diagnostics = Diagnostics(self, 'camera source')
        self.lockstep = LockstepGate(self.lockstep_depth, self.lockstep_timeout_s)
        if self.rate_mode == 'lockstep':
            self.create_subscription(HumanMeshArray, self.lockstep_topic, self._on_ack, 10)
        self.published = 0
        self.finished = False
        self._open()
        # lockstep is driven by the acknowledgements (_on_ack); its timer only starts the stream and
        # handles timeouts, so it need not poll fast (a fast Python timer steals the interpreter from the nodes)
        period = {'recorded': 1.0 / self.source.fps, 'fixed': 1.0 / self.rate_hz, 'lockstep': 0.05}[self.rate_mode]
        self.timer = self.create_timer(period, self._tick)
        self.get_logger().info(f'publishing {self.input} ({getattr(self.source, "frame_count", 0)} frames, '
                               f'{self.source.fps:.1f} fps) as {self.encoding} ({self.transport}) on {self.image_pub.topic_name}, '
                               f'rate_mode={self.rate_mode}')

    def _open(self) -> None:
        self.source = open_source(self.input, fps=self.rate_hz, image_topic=self.bag_image_topic,
                                  on_warning=lambda m: self.get_logger().warning(m))
        self._frames = iter(self.source)
        fx = tuple(self.intrinsics_param) if len(self.intrinsics_param) == 4 else None
        self.intrinsics = IntrinsicsPolicy(self.camera_info_yaml, fx, self.hfov_deg)

    def _on_ack(self, msg: HumanMeshArray) -> None:
        self.lockstep.acknowledge(convert.stamp_to_ns(msg.header.stamp))
        self._tick()

    def _ready(self) -> bool:
        return self.rate_mode != 'lockstep' or self.lockstep.ready(time.monotonic())

    def _next(self):
        try:
            return next(self._frames)
        except StopIteration:
            if self.loop and self.published:
                self._open()
                return next(self._frames, None)
            return None

    def start(self) -> None:
        """Start publishing (after ``start_paused=True``)."""
        self._paused = False

    def _tick(self) -> None:
        if self.finished or self._paused or not self._ready():
            return
        if self.max_frames and self.published >= self.max_frames:
            return self._finish()
        f = self._next()
        if f is None:
            return self._finish()
        intrinsics = self.intrinsics.for_frame(f)
        stamp_ns = f.stamp_ns if self.stamp_source == 'source' else self.get_clock().now().nanoseconds
        image = f.image_rgb if self.encoding == 'rgb8' else f.image_rgb[:, :, ::-1]
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=convert.ns_to_stamp(stamp_ns)))
        if self.transport == 'raw':
            self.image_pub.publish(convert.array_to_image(image, self.encoding, stamp_ns, self.frame_id))
        else:
            self.image_pub.publish(convert.compress_image(image, self.encoding, self.codec, self.jpeg_quality,
                                                          self.png_level, stamp_ns, self.frame_id))
        self.info_pub.publish(convert.intrinsics_to_camera_info(intrinsics, stamp_ns, self.frame_id))
        if self.rate_mode == 'lockstep':
            self.lockstep.sent(stamp_ns, time.monotonic())
        self.published += 1
        if self.published % 30 == 1:
            self._report(OK, 'publishing')

    def _report(self, level, message: str) -> None:
        self.diagnostics.publish(level, message, {'frames_published': self.published,
                                                  'frames_skipped': self.source.skipped_frames})

    def _finish(self) -> None:
        self.finished = True
        self.timer.cancel()
        skipped = self.source.skipped_frames
        self._report(WARN if skipped else OK, f'input ended after {self.published} frames ({skipped} skipped)')
        self.get_logger().info(f'input ended: {self.published} frames published, {skipped} skipped')


def main(args=None) -> int:
    return run_node(CameraSourceNode, 'camera_source', args, done=lambda node: node.finished and node.shutdown_at_end)


if __name__ == '__main__':
    sys.exit(main())
