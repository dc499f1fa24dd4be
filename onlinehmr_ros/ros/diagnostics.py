"""Publishing /diagnostics (diagnostic_msgs/DiagnosticArray) from a node."""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
                          DiagnosticStatus.STALE)


class Diagnostics:
    """One DiagnosticStatus named ``<namespace>/<node>: <name>``, published on /diagnostics.

    The name carries the node's namespace (``cam1/slam: slam``; ``slam: slam`` in the root namespace)
    so that two pipelines in one domain publish distinct statuses on the one /diagnostics topic.
    """

    def __init__(self, node: Node, name: str, hardware_id: str = 'onlinehmr_ros'):
        self._node = node
        self._name = f"{node.get_fully_qualified_name().lstrip('/')}: {name}"
        self._hardware_id = hardware_id
        self._pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)

    def publish(self, level: bytes | int, message: str, values: dict[str, object] | None = None) -> None:
        status = DiagnosticStatus(level=bytes([level]) if isinstance(level, int) else level, name=self._name,
                                  message=message, hardware_id=self._hardware_id)
        status.values = [KeyValue(key=str(k), value=f'{v:.3f}' if isinstance(v, float) else str(v))
                         for k, v in (values or {}).items()]
        arr = DiagnosticArray(status=[status])
        arr.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(arr)
