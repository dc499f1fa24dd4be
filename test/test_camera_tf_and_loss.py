"""ros.tf.CameraPoseTf and ros.qos.Subscriptions over real rclpy topics (in-process).

REP-105 (issue 17, item 4): a robot broadcasts its URDF on /tf_static and odometry on /tf; the
camera-pose helper then publishes only ``map -> odom``, never a second parent of the camera, and a
TF client's ``map -> camera`` equals the estimate. A hand-held camera gets ``world -> camera``.
Item 8: a subscriber that falls behind counts the messages it lost.
"""
import time

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from std_msgs.msg import String  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from onlinehmr_ros.core.common.geometry import make_transform  # noqa: E402
from onlinehmr_ros.core.common.tf_tree import TfFrames, TransformBuffer  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402
from onlinehmr_ros.ros.tf import TF_QOS, TF_STATIC_QOS, CameraPoseTf  # noqa: E402

S = 1_000_000_000


def _spin(ex, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ex.spin_once(timeout_sec=0.02)


def base_at(t_s):
    return make_transform(Rotation.from_euler('z', 30.0 * t_s, degrees=True).as_matrix(), np.array([t_s, 0.0, 0.0]))


T_BASE_CAM = make_transform(Rotation.from_euler('xyz', [-90, 0, -90], degrees=True).as_matrix(),
                            np.array([0.1, 0.0, 0.8]))


def test_on_a_robot_only_the_map_to_odom_correction_is_published(rclpy_context):
    slam = rclpy.create_node('slam_under_test', context=rclpy_context)
    robot = rclpy.create_node('robot', context=rclpy_context)
    static_pub = robot.create_publisher(TFMessage, '/tf_static', TF_STATIC_QOS)
    tf_pub = robot.create_publisher(TFMessage, '/tf', TF_QOS)
    seen = TransformBuffer()              # a TF client: everything on /tf and /tf_static
    parents_of_camera = set()

    def client(msg, static):
        for t in msg.transforms:
            seen.add(t.header.frame_id, t.child_frame_id, convert.stamp_to_ns(t.header.stamp),
                     convert.transform_to_matrix(t.transform), static)
            if t.child_frame_id == 'camera_optical_frame':
                parents_of_camera.add(t.header.frame_id)
    probe = rclpy.create_node('tf_client', context=rclpy_context)
    probe.create_subscription(TFMessage, '/tf', lambda m: client(m, False), TF_QOS)
    probe.create_subscription(TFMessage, '/tf_static', lambda m: client(m, True), TF_STATIC_QOS)
    camera_tf = CameraPoseTf(slam, TfFrames(world_frame='map', odom_frame='odom', mode='auto', detect_s=0.5))
    ex = SingleThreadedExecutor(context=rclpy_context)
    for n in (slam, robot, probe):
        ex.add_node(n)
    static_pub.publish(TFMessage(transforms=[
        convert.matrix_to_transform_msg(0, 'base_link', 'camera_optical_frame', T_BASE_CAM)]))
    for k in range(4):                     # odometry at 0, 1, 2, 3 s
        tf_pub.publish(TFMessage(transforms=[convert.matrix_to_transform_msg(k * S, 'odom', 'base_link', base_at(k))]))
    _spin(ex, 1.0)
    # the SLAM estimate at 1.5 s: the odometry's pose, corrected by a drift the robot does not know about
    stamp = int(1.5 * S)
    T_drift = make_transform(Rotation.from_euler('z', 5.0, degrees=True).as_matrix(), np.array([0.4, -0.3, 0.0]))
    T_map_cam = T_drift @ seen.lookup('odom', 'camera_optical_frame', stamp)
    camera_tf.send(stamp, T_map_cam, 'camera_optical_frame')
    _spin(ex, 0.5)
    assert camera_tf.plan.kind == 'world_to_odom', camera_tf.plan.reason
    assert parents_of_camera == {'base_link'}, 'the camera frame got a second parent'
    np.testing.assert_allclose(seen.lookup('map', 'camera_optical_frame', stamp), T_map_cam, atol=1e-6)
    assert camera_tf.corrections == 1
    # an image newer than the odometry waits for it, then the correction goes out with its stamp
    camera_tf.send(4 * S, T_drift @ base_at(4) @ T_BASE_CAM, 'camera_optical_frame')
    _spin(ex, 0.3)
    assert camera_tf.diagnostics_values()['tf_correction_waiting_for_odometry'] is True
    tf_pub.publish(TFMessage(transforms=[convert.matrix_to_transform_msg(5 * S, 'odom', 'base_link', base_at(5))]))
    _spin(ex, 0.5)
    assert camera_tf.corrections == 2
    np.testing.assert_allclose(seen.lookup('map', 'odom', 4 * S)[:3, 3], T_drift[:3, 3], atol=1e-6)
    ex.shutdown()
    for n in (slam, robot, probe):
        n.destroy_node()


def test_hand_held_camera_gets_world_to_camera(rclpy_context):
    slam = rclpy.create_node('slam_hand_held', context=rclpy_context)
    got = []
    probe = rclpy.create_node('tf_client2', context=rclpy_context)
    probe.create_subscription(TFMessage, '/tf', got.append, TF_QOS)
    camera_tf = CameraPoseTf(slam, TfFrames(world_frame='world', mode='auto', detect_s=0.3))
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(slam)
    ex.add_node(probe)
    T = make_transform(np.eye(3), np.array([1.0, 2.0, 3.0]))
    camera_tf.send(1, T, 'cam')                 # still listening: nothing yet
    _spin(ex, 0.5)
    assert not got and camera_tf.plan.kind == 'none'
    camera_tf.send(2, T, 'cam')
    _spin(ex, 0.3)
    t = [t for m in got for t in m.transforms]
    assert [(x.header.frame_id, x.child_frame_id) for x in t] == [('world', 'cam')]
    np.testing.assert_allclose(convert.transform_to_matrix(t[0].transform), T, atol=1e-12)
    ex.shutdown()
    slam.destroy_node()
    probe.destroy_node()


def test_a_subscriber_that_falls_behind_counts_what_it_lost(rclpy_context):
    """Keep-last 2 and a busy callback: the publisher's 20 messages arrive as some, the rest counted."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from onlinehmr_ros.ros.qos import Subscriptions
    sub_node = rclpy.create_node('slow', context=rclpy_context)
    pub_node = rclpy.create_node('fast', context=rclpy_context)
    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    pub = pub_node.create_publisher(String, '/burst', qos)
    got = []
    subs = Subscriptions(sub_node)
    subs.create(String, '/burst', lambda m: (got.append(m.data), time.sleep(0.02)), qos)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(sub_node)
    ex.add_node(pub_node)
    _spin(ex, 0.5)
    pub.publish(String(data='first'))
    _spin(ex, 0.3)
    for k in range(20):
        pub.publish(String(data=str(k)))
    _spin(ex, 1.0)
    gaps = subs.gaps['/burst']
    assert gaps.received == len(got) and len(got) < 21
    assert gaps.lost == 21 - len(got), (got, gaps.lost)           # everything not received is counted
    assert subs.loss_values() == {'received /burst': len(got), 'lost /burst': 21 - len(got)}
    ex.shutdown()
    sub_node.destroy_node()
    pub_node.destroy_node()


def test_a_plan_that_turns_into_a_problem_is_logged_not_raised(rclpy_context, monkeypatch):
    """Soak finding (issue 16): the camera TF plan went from fine (logged as info) to a problem (a warning)
    when another node gave the camera frame a parent mid-run; one call site with two severities made rclpy
    raise ValueError in the slam node's callback, and its executor thread died."""
    from onlinehmr_ros.core.common.tf_tree import CameraTfPlan
    from onlinehmr_ros.ros import tf as ros_tf
    slam = rclpy.create_node('slam_plan_change', context=rclpy_context)
    camera_tf = CameraPoseTf(slam, TfFrames(world_frame='world', mode='auto', detect_s=0.0))
    plans = iter([CameraTfPlan('world_to_camera', 'world', 'cam', False, 'hand-held camera'),
                  CameraTfPlan('none', '', '', True, 'another node localises cam in world'),
                  CameraTfPlan('world_to_camera', 'world', 'cam', False, 'hand-held camera again')])
    monkeypatch.setattr(ros_tf, 'plan_camera_tf', lambda *args: next(plans))
    T = make_transform(np.eye(3), np.zeros(3))
    for stamp in (1, 2, 3):
        camera_tf.send(stamp, T, 'cam')
    assert camera_tf.plan.reason == 'hand-held camera again'
    slam.destroy_node()
