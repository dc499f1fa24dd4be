"""ros.qos.Subscriptions watches its inputs over real rclpy topics (in-process): a publisher that goes
silent is reported with its topic, and a new publisher after the silence (a restarted node, with a new
DDS identity) is a restart, while the same publisher coming back (a stalled node) is only a gap."""
import time

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import String  # noqa: E402


def _spin(ex, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.02)


def test_silence_gap_and_restart_of_a_publisher(rclpy_context):
    from onlinehmr_ros.ros.qos import Subscriptions
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    sub_node = rclpy.create_node('watcher', context=rclpy_context)
    first = rclpy.create_node('upstream', context=rclpy_context)
    pub = first.create_publisher(String, '/input', qos)
    subs = Subscriptions(sub_node, stale_after_s=0.5)
    subs.create(String, 'input', lambda m: None, qos)
    ex = SingleThreadedExecutor(context=rclpy_context)
    for n in (sub_node, first):
        ex.add_node(n)
    _spin(ex, 0.5)
    assert subs.health() == ('', {})                   # nothing heard yet: waiting, not stale
    for _ in range(3):
        pub.publish(String(data='x'))
        _spin(ex, 0.1)
    assert subs.health()[0] == ''
    _spin(ex, 1.0)                                      # upstream stalls
    message, values = subs.health()
    assert message.startswith('no /input for ') and values['restarts /input'] == 0
    pub.publish(String(data='back'))                    # the same publisher again: a gap, no restart
    _spin(ex, 0.2)
    message, values = subs.health()
    assert message == '' and values['gaps /input'] == 1 and values['restarts /input'] == 0
    ex.remove_node(first)
    first.destroy_node()                                # upstream dies
    _spin(ex, 1.0)
    second = rclpy.create_node('upstream', context=rclpy_context)   # ... and is started again
    ex.add_node(second)
    pub2 = second.create_publisher(String, '/input', qos)
    _spin(ex, 0.5)
    pub2.publish(String(data='new'))
    _spin(ex, 0.3)
    message, values = subs.health({'/input': 'state starts again'})
    assert values['restarts /input'] == 1 and values['gaps /input'] == 2
    assert message == '/input restarted 0 s ago (state starts again)', message
    ex.shutdown()
    sub_node.destroy_node()
    second.destroy_node()
