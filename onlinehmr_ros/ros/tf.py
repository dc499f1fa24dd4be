"""A small TF broadcaster that takes a node and owns one publisher.

Uses tf2_ros's TransformBroadcaster / StaticTransformBroadcaster where a ROS
distro provides them; otherwise (PyPI-only path) publishes
tf2_msgs/msg/TFMessage on /tf (and on /tf_static with transient-local
durability, as tf2_ros does), which interoperates with the distro's TF because
the message definition, hence its type hash, is the same.
"""
from __future__ import annotations

from typing import Iterable

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

try:  # a ROS distro
    from tf2_ros import StaticTransformBroadcaster as _Tf2Static
    from tf2_ros import TransformBroadcaster as _Tf2Dynamic
except ImportError:  # PyPI-only: tf2_msgs built by the set-up
    _Tf2Static = _Tf2Dynamic = None

from tf2_msgs.msg import TFMessage

#: QoS that tf2_ros uses for /tf and /tf_static.
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
TF_STATIC_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)


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
