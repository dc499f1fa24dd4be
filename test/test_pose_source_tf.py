"""pose_source: tf (issue 17 item 5): the robot's own localisation instead of SLAM.

A robot drives and turns; its odometry (map -> base) arrives on /tf *after* each image, the camera
sits on the robot (base -> cam, static). The slam node (pose_source tf, SLAM not started) gives each
image its pose from TF, and fusion places the people with it: every world joint must equal the
ground-truth camera's placement of the camera-space joints, so world-frame errors with pose_source
tf are those with the ground-truth camera.
"""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from onlinehmr_ros.core.common.datatypes import HumansFrame, HumanState  # noqa: E402
from onlinehmr_ros.core.common.geometry import make_transform, transform_points  # noqa: E402
from onlinehmr_ros.msg import CameraPoseState, HumanMeshArray  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402
from onlinehmr_ros.ros.tf import TF_QOS, TF_STATIC_QOS  # noqa: E402

CAM_IN_BASE = make_transform(Rotation.from_euler('xyz', [-90, 0, -90], degrees=True).as_matrix(),
                             np.array([0.2, 0.0, 1.1]))


def _base_in_map(k):
    return make_transform(Rotation.from_euler('z', 4.0 * k, degrees=True).as_matrix(), np.array([0.05 * k, 0.02 * k, 0]))


def _tf(parent, child, stamp_ns, T):
    return convert.matrix_to_transform_msg(stamp_ns, parent, child, T)


def _person(rng, k):
    f32 = np.float32
    joints = (rng.normal(0, 0.3, (24, 3)) + [0.1 * np.sin(k), 0.0, 3.0]).astype(f32)
    return HumanState(7, 'open', np.zeros(10, f32), np.zeros(3, f32), np.zeros(69, f32), np.zeros(3, f32), joints,
                      np.ones(24, f32), np.zeros((0, 3), f32), joints[:17].copy())


def test_world_meshes_with_pose_source_tf_equal_the_true_cameras(rclpy_context):
    from onlinehmr_ros.nodes.fusion_node import FusionNode
    from onlinehmr_ros.nodes.slam_node import SlamNode
    params = [Parameter('world_frame', value='map')]
    slam = SlamNode(context=rclpy_context, parameter_overrides=params + [Parameter('pose_source', value='tf'),
                                                                          Parameter('tf_wait_s', value=5.0)])
    fusion = FusionNode(context=rclpy_context, parameter_overrides=params)
    robot = rclpy.create_node('robot', context=rclpy_context)
    img_pub = robot.create_publisher(Image, 'camera/image_raw', 10)
    hum_pub = robot.create_publisher(HumanMeshArray, 'human/camera_humans', 10)
    tf_pub = robot.create_publisher(TFMessage, '/tf', TF_QOS)
    static_pub = robot.create_publisher(TFMessage, '/tf_static', TF_STATIC_QOS)
    states, world = [], {}
    robot.create_subscription(CameraPoseState, 'slam/camera_pose_state', states.append, 100)
    robot.create_subscription(HumanMeshArray, 'human/world_humans', lambda m: world.__setitem__(
        convert.stamp_to_ns(m.header.stamp), m), 100)
    ex = SingleThreadedExecutor(context=rclpy_context)
    for n in (slam, fusion, robot):
        ex.add_node(n)

    def spin(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.02)

    assert slam.branch is None                       # SLAM is not started
    static_pub.publish(TFMessage(transforms=[_tf('base', 'cam', 0, CAM_IN_BASE)]))
    spin(0.5)
    rng = np.random.default_rng(4)
    truth = {}
    stamp0 = 10**9
    tf_pub.publish(TFMessage(transforms=[_tf('map', 'base', stamp0 - 10**8, _base_in_map(-1))]))
    for k in range(12):
        stamp = stamp0 + k * 10**8
        img = convert.array_to_image(np.zeros((24, 32, 3), np.uint8), 'rgb8', stamp, 'cam')
        person = _person(rng, k)
        img_pub.publish(img)
        hum_pub.publish(convert.humans_to_msg(HumansFrame(stamp, 'cam', (person,)), [np.array([0, 0, 0, 1.0])]))
        spin(0.05)
        # odometry arrives after the image (a moving robot's usual case)
        tf_pub.publish(TFMessage(transforms=[_tf('map', 'base', stamp, _base_in_map(k))]))
        truth[stamp] = transform_points(_base_in_map(k) @ CAM_IN_BASE, person.joints.astype(np.float64))
        spin(0.1)
    deadline = time.monotonic() + 10
    while len(world) < 12 and time.monotonic() < deadline:
        spin(0.1)
    ex.shutdown()
    for n in (slam, fusion, robot):
        n.destroy_node()

    assert len(states) == 12 and all(s.pose_source == 'tf' and s.tracking and s.scale_converged for s in states)
    assert sorted(world) == sorted(truth)
    for stamp, msg in world.items():
        assert msg.header.frame_id == 'map'
        joints = np.reshape(msg.humans[0].joints, (24, 3))
        np.testing.assert_allclose(joints, truth[stamp], atol=1e-4)      # the true camera's placement
