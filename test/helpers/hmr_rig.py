"""An hmr node wired to a probe node for the node tests (rclpy needed)."""
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image

from onlinehmr_ros.msg import HumanMeshArray
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS


def hmr_rig(rclpy_context, node, depth: int = 50):
    """``node`` wired to a probe: (node, probe, camera_humans received, /diagnostics received, image publisher,
    executor spinning both); the probe keeps ``depth`` messages of each."""
    probe = rclpy.create_node('probe', context=rclpy_context)
    out, diags = [], []
    probe.create_subscription(HumanMeshArray, '/human/camera_humans', out.append, depth)
    probe.create_subscription(DiagnosticArray, '/diagnostics', diags.append, depth)
    pub = probe.create_publisher(Image, '/camera/image_raw', IMAGE_PUBLISHER_QOS)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(probe)
    return node, probe, out, diags, pub, ex


def diagnostic_value(diags, key: str, node: str = 'hmr'):
    """The latest value of ``key`` in ``node``'s /diagnostics status (None if not there yet)."""
    for d in reversed(diags):
        for s in d.status:
            if s.name.startswith(f'{node}:'):
                for kv in s.values:
                    if kv.key == key:
                        return kv.value
    return None
