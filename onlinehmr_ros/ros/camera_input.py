"""Image + CameraInfo -> core Frame, the same way in every node that reads the camera.

Images come raw (sensor_msgs/Image on the image topic) or compressed (sensor_msgs/CompressedImage
on ``<image topic>/compressed``, image_transport's naming), chosen by each node's
``image_transport`` parameter (:func:`subscribe_camera_image`).
"""
from __future__ import annotations

import time

from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
from onlinehmr_ros.core.common.incidents import IncidentLog
from onlinehmr_ros.core.common.input_checks import ImageStreamCheck
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.params import NodeParameters
from onlinehmr_ros.ros.qos import IMAGE_SUBSCRIBER_QOS, Subscriptions

#: image_transport transports the nodes read
IMAGE_TRANSPORTS = ('raw', 'compressed')


class CameraInput:
    """Keeps the latest intrinsics of a camera and turns its images into core Frames.

    Without CameraInfo (or with an uncalibrated one) the intrinsics come from
    ``hfov_deg``, with one warning (``warned_fov``). Bad input is decided in
    :mod:`onlinehmr_ros.core.common.input_checks` and never raised into the executor: an image that
    does not decode, is too small, repeats the previous stamp or comes late is refused, a stamp jump
    back (bag loop) or a resolution change is taken; a CameraInfo with NaN / zero focal length or size is
    ignored (the previous intrinsics stay). Each is counted by kind in ``incidents`` (for
    /diagnostics) and logged once per kind per ``IncidentLog.log_every_s``; ``rejected`` counts the
    refused images.
    """

    def __init__(self, node: Node, hfov_deg: float):
        self._node = node
        self.hfov_deg = hfov_deg
        self.intrinsics: CameraIntrinsics | None = None
        self.rejected = 0
        self.frames = 0
        self.warned_fov = False
        self.incidents = IncidentLog()
        self.check = ImageStreamCheck()

    def report(self, kind: str, reason: str, error: bool = False) -> None:
        """Count an incident of ``kind`` and log it (once per kind per ``incidents.log_every_s``)."""
        if self.incidents.record(kind, reason, time.monotonic()):
            line = f'{reason} [{kind}: counted on /diagnostics, logged once per {self.incidents.log_every_s:g} s]'
            if error:     # (one call site per severity: rclpy refuses to change a call site's severity)
                self._node.get_logger().error(line)
            else:
                self._node.get_logger().warning(line)

    def on_info(self, msg: CameraInfo) -> None:
        try:
            self.intrinsics = convert.camera_info_to_intrinsics(msg)
        except convert.ConversionError as exc:
            kept = ('keeping the previous CameraInfo' if self.intrinsics is not None
                    else f'using hfov_deg={self.hfov_deg}')
            self.report('camera_info_invalid', f'{exc}; {kept}')

    def admit(self, stamp_ns: int) -> bool:
        """Check the stamp order of an image when it arrives (a node that joins images before decoding them);
        then call :meth:`frame` with ``check_order=False``."""
        v = self.check.order.check(stamp_ns)
        if v.kind:
            self.report(v.kind, v.reason)
        if not v.accept:
            self.rejected += 1
        return v.accept

    def frame(self, msg: Image | CompressedImage, check_order: bool = True) -> Frame | None:
        """The image as a Frame (RGB uint8, stamp, intrinsics, running index), or None if refused."""
        try:
            rgb = convert.compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else convert.image_to_rgb(msg)
        except convert.ConversionError as exc:
            self.rejected += 1
            self.report('image_undecodable', str(exc), error=True)
            return None
        h, w = rgb.shape[:2]
        stamp_ns = convert.stamp_to_ns(msg.header.stamp)
        v = self.check.check(stamp_ns if check_order else None, w, h)
        if v.kind:
            self.report(v.kind, v.reason)
        if not v.accept:
            self.rejected += 1
            return None
        intr = self.intrinsics
        if intr is None or (intr.width_px, intr.height_px) != (w, h):
            intr = CameraIntrinsics.from_fov(w, h, self.hfov_deg)
            if not self.warned_fov:
                self.warned_fov = True
                why = ('no CameraInfo received' if self.intrinsics is None else
                       f'CameraInfo is for {self.intrinsics.width_px}x{self.intrinsics.height_px}, images are {w}x{h}')
                self._node.get_logger().warning(
                    f'{why}: assuming a {self.hfov_deg:g} deg horizontal field of view (parameter hfov_deg). A wrong '
                    'focal length scales every depth: give the camera calibration (CameraInfo) if you can; the slam '
                    'node reports its own focal-length estimate in /diagnostics.')
        frame = Frame(rgb, stamp_ns, intr, self.frames)
        self.frames += 1
        return frame

    @property
    def source(self) -> str:
        return 'camera_info' if self.intrinsics is not None else f'hfov {self.hfov_deg} deg'


def subscribe_camera_image(params: NodeParameters, subs: Subscriptions, callback,
                           image_topic: str = 'camera/image_raw', qos: QoSProfile = IMAGE_SUBSCRIBER_QOS):
    """Declare the node's ``image_transport`` parameter and subscribe to the camera stream it names.

    ``raw``: sensor_msgs/Image on ``image_topic``; ``compressed``: sensor_msgs/CompressedImage on
    ``<image_topic>/compressed``, where ``image_topic`` is first resolved (remappings and namespace
    applied) as image_transport does, so remapping the image topic moves both. ``callback`` gets
    either message type; :meth:`CameraInput.frame` takes both. Reliable, with loss counting and
    QoS overrides (``ros.qos``); ``qos``: keep-last 5 by default (``ros.qos.reliable_keep_last`` for
    another queue depth).
    """
    transport = params.declare('image_transport', 'raw', 'How images arrive: raw (sensor_msgs/Image on the image '
                               'topic) or compressed (sensor_msgs/CompressedImage on <image topic>/compressed, e.g. '
                               'from camera_source transport:=compressed or image_transport republish).',
                               read_only='the subscription is made at start-up', choices=IMAGE_TRANSPORTS)
    if transport == 'raw':
        return subs.create(Image, image_topic, callback, qos, overridable=True)
    topic = convert.compressed_topic(subs.node.resolve_topic_name(image_topic))
    return subs.create(CompressedImage, topic, callback, qos, overridable=True)
