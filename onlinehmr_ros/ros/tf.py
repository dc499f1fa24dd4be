"""TF for the nodes: a small broadcaster that takes a node and owns one publisher, and a listener.

Uses tf2_ros's TransformBroadcaster / StaticTransformBroadcaster where a ROS
distro provides them; otherwise (PyPI-only path) publishes
tf2_msgs/msg/TFMessage on /tf (and on /tf_static with transient-local
durability, as tf2_ros does), which interoperates with the distro's TF because
the message definition, hence its type hash, is the same.
"""
from __future__ import annotations

import time
from typing import Iterable

import numpy as np
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

try:  # a ROS distro
    from tf2_ros import StaticTransformBroadcaster as _Tf2Static
    from tf2_ros import TransformBroadcaster as _Tf2Dynamic
except ImportError:  # PyPI-only: tf2_msgs built by the set-up
    _Tf2Static = _Tf2Dynamic = None

from tf2_msgs.msg import TFMessage

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.tf_tree import (CameraTfPlan, TfFrames, TransformBuffer, TransformLookupError,
                                               plan_camera_tf, world_to_odom_correction)
from onlinehmr_ros.ros.convert import matrix_to_transform_msg, stamp_to_ns, transform_to_matrix

#: QoS that tf2_ros uses for /tf and /tf_static.
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
TF_STATIC_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: tf2_ros's static listener: every latched /tf_static message (one per broadcaster) on joining.
TF_STATIC_LISTENER_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                    history=HistoryPolicy.KEEP_LAST, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class TfBroadcaster:
    """Broadcast transforms on /tf (or /tf_static when ``static=True``).

    Stamps are taken from the transforms as given: copy them from the source
    data (the image stamp), never ``now()``.
    """

    def __init__(self, node: Node, static: bool = False):
        self.static = static
        self._static_transforms: dict[str, TransformStamped] = {}
        if _Tf2Dynamic is not None:
            self._impl = _Tf2Static(node) if static else _Tf2Dynamic(node)
            self._pub = None
        else:
            self._impl = None
            self._pub = node.create_publisher(TFMessage, '/tf_static' if static else '/tf',
                                              TF_STATIC_QOS if static else TF_QOS)

    @property
    def uses_tf2_ros(self) -> bool:
        return self._impl is not None

    def send(self, transforms: TransformStamped | Iterable[TransformStamped]) -> None:
        if isinstance(transforms, TransformStamped):
            transforms = [transforms]
        transforms = list(transforms)
        if not transforms:
            return
        if self._impl is not None:
            self._impl.sendTransform(transforms)
            return
        if self.static:
            # Like tf2_ros: the latched message holds every static transform sent so far.
            for t in transforms:
                self._static_transforms[t.child_frame_id] = t
            transforms = list(self._static_transforms.values())
        self._pub.publish(TFMessage(transforms=transforms))


class TfListener:
    """Keeps what *other* nodes broadcast on /tf and /tf_static in a core ``TransformBuffer``.

    The same buffer on every route (a ROS distro's /tf carries the same messages). Messages from
    this node's own publishers are left out (recognised by publisher gid), so
    ``buffer.ancestors(frame)`` says whether the robot, or another localiser, gives a frame a
    parent, whatever this node publishes itself.

    Args:
        node: owns the two subscriptions (tf2_ros's QoS: /tf reliable keep-last 100, /tf_static
            transient-local, so a late start still gets the URDF).
        cache_s: history kept per dynamic transform (s).
        on_update: called after each message from another node (e.g. to retry a lookup that
            waited for odometry).
    """

    def __init__(self, node: Node, cache_s: float = 10.0, on_update=None):
        self.buffer = TransformBuffer(int(cache_s * 1e9))
        self._node = node
        self._on_update = on_update
        self._started = time.monotonic()
        self._own: set[bytes] = set()
        self._others: set[bytes] = set()
        self.bad_transforms = 0
        node.create_subscription(TFMessage, '/tf', lambda m, info: self._on(m, info, False), TF_QOS)
        node.create_subscription(TFMessage, '/tf_static', lambda m, info: self._on(m, info, True),
                                 TF_STATIC_LISTENER_QOS)

    @property
    def listened_s(self) -> float:
        """Seconds since the subscriptions were made."""
        return time.monotonic() - self._started

    def _is_own(self, gid: bytes) -> bool:
        if gid in self._own or gid in self._others:
            return gid in self._own
        name, ns = self._node.get_name(), self._node.get_namespace()
        for topic in ('/tf', '/tf_static'):
            self._own |= {bytes(e.endpoint_gid)[:len(gid)] for e in self._node.get_publishers_info_by_topic(topic)
                          if e.node_name == name and e.node_namespace == ns}
        if gid not in self._own:
            self._others.add(gid)
        return gid in self._own

    def _on(self, msg: TFMessage, info, static: bool) -> None:
        gid = info.get('publisher_gid')
        if gid and self._is_own(bytes(gid['data'])):
            return
        for t in msg.transforms:
            try:
                self.buffer.add(t.header.frame_id, t.child_frame_id, stamp_to_ns(t.header.stamp),
                                transform_to_matrix(t.transform), static)
            except InputError as exc:          # someone else's bad transform: count it, keep going
                self.bad_transforms += 1
                self._node.get_logger().warning(f'ignoring a transform on {"/tf_static" if static else "/tf"}: '
                                                f'{exc}', throttle_duration_sec=10.0)
        if self._on_update is not None:
            self._on_update()


class CameraPoseTf:
    """Puts a camera pose estimate into TF the REP-105 way; ``core.common.tf_tree`` decides what.

    Hand-held camera: ``world_frame -> camera frame``. When another node gives the camera frame a
    parent (a robot's URDF and odometry): the correction ``world_frame -> odom_frame``, computed
    from the odometry's ``odom_frame -> camera`` at the image's stamp; an image whose odometry has
    not arrived yet waits (the newest one only) until it does. See ``plan_camera_tf``.
    """

    def __init__(self, node: Node, frames: TfFrames):
        self.frames = frames
        self._node = node
        self._broadcaster = TfBroadcaster(node)
        self.listener = TfListener(node, on_update=self._flush)
        self.plan: CameraTfPlan | None = None
        self._pending: tuple[int, np.ndarray, str] | None = None
        self.corrections = 0

    def send(self, stamp_ns: int, T_world_cam: np.ndarray, camera_frame: str) -> None:
        """Publish what represents the metric ``T_world_cam`` of the image stamped ``stamp_ns``."""
        buf = self.listener.buffer
        plan = plan_camera_tf(self.frames, camera_frame, buf.ancestors(camera_frame), self.listener.listened_s)
        if self.plan is None or (plan.kind, plan.child, plan.problem) != (self.plan.kind, self.plan.child,
                                                                            self.plan.problem):
            # two call sites: rclpy refuses a second severity at one call site (ValueError), which killed
            # the slam node's thread when another node took the camera frame mid-run
            if plan.problem:
                self._node.get_logger().warning(f'camera TF: {plan.reason}')
            else:
                self._node.get_logger().info(f'camera TF: {plan.reason}')
        self.plan = plan
        if plan.kind == 'world_to_camera':
            self._broadcaster.send(matrix_to_transform_msg(stamp_ns, plan.parent, plan.child, T_world_cam))
        elif plan.kind == 'world_to_odom':
            self._pending = (stamp_ns, np.asarray(T_world_cam, np.float64), camera_frame)
            self._flush()

    def _flush(self) -> None:
        if self._pending is None or self.plan is None or self.plan.kind != 'world_to_odom':
            return
        stamp_ns, T_world_cam, camera_frame = self._pending
        try:
            T_odom_cam = self.listener.buffer.lookup(self.frames.odom_frame, camera_frame, stamp_ns)
        except TransformLookupError:
            return                              # the odometry of that stamp is not there yet
        T_world_odom = world_to_odom_correction(T_world_cam, T_odom_cam)
        self._broadcaster.send(matrix_to_transform_msg(stamp_ns, self.frames.world_frame, self.frames.odom_frame,
                                                       T_world_odom))
        self._pending = None
        self.corrections += 1

    def diagnostics_values(self) -> dict[str, object]:
        plan = self.plan
        return {'tf': 'undecided' if plan is None else (f'{plan.parent} -> {plan.child}' if plan.parent else 'none'),
                'tf_reason': '' if plan is None else plan.reason,
                'tf_corrections_published': self.corrections,
                'tf_correction_waiting_for_odometry': self._pending is not None}
