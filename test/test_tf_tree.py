"""core.common.tf_tree: the transform buffer against hand-built ground truth, and the REP-105 decision."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import make_transform
from onlinehmr_ros.core.common.tf_tree import (TfFrames, TransformBuffer, TransformLookupError, namespaced_frame,
                                               plan_camera_tf, world_to_odom_correction)

S = 1_000_000_000  # ns per second


def yaw(deg: float) -> np.ndarray:
    return Rotation.from_euler('z', deg, degrees=True).as_matrix()


def random_T(rng) -> np.ndarray:
    return make_transform(Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3))


# a robot driving along x at 1 m/s while turning at 90 deg/s: odom -> base_link sampled at 0 s and 1 s
def base_at(t_s: float) -> np.ndarray:
    return make_transform(yaw(90.0 * t_s), np.array([1.0 * t_s, 0.0, 0.0]))


# base_link -> camera_link -> camera_optical_frame (URDF: static)
T_BASE_LINK_CAM = make_transform(np.eye(3), np.array([0.2, 0.0, 0.5]))
T_CAM_OPT = make_transform(Rotation.from_euler('xyz', [-90, 0, -90], degrees=True).as_matrix(), np.zeros(3))


def robot_buffer(**kw) -> TransformBuffer:
    buf = TransformBuffer(**kw)
    buf.add('base_link', 'camera_link', 0, T_BASE_LINK_CAM, static=True)
    buf.add('camera_link', 'camera_optical_frame', 0, T_CAM_OPT, static=True)
    for t in (0.0, 1.0):
        buf.add('odom', 'base_link', int(t * S), base_at(t))
    return buf


def test_lookup_interpolates_dynamic_edges_and_composes_static_ones():
    buf = robot_buffer()
    # at 0.5 s the exact pose of a constant-velocity, constant-yaw-rate motion is half way
    # (translation linear, rotation 45 deg about z): what tf2 returns too
    expected = make_transform(yaw(45.0), np.array([0.5, 0.0, 0.0])) @ T_BASE_LINK_CAM @ T_CAM_OPT
    np.testing.assert_allclose(buf.lookup('odom', 'camera_optical_frame', S // 2), expected, atol=1e-12)
    # the inverse direction and a sample time exactly
    np.testing.assert_allclose(buf.lookup('camera_optical_frame', 'odom', S) @ (base_at(1.0) @ T_BASE_LINK_CAM
                                                                               @ T_CAM_OPT), np.eye(4), atol=1e-12)
    assert buf.ancestors('camera_optical_frame') == ['camera_link', 'base_link', 'odom']
    assert buf.parent('odom') is None and buf.latest_stamp_ns('base_link') == S


def test_lookup_between_branches_goes_through_the_common_ancestor():
    rng = np.random.default_rng(0)
    buf = robot_buffer()
    T_base_lidar = random_T(rng)
    buf.add('base_link', 'lidar', 0, T_base_lidar, static=True)
    p_lidar = np.array([1.0, 2.0, 3.0, 1.0])
    T_opt_lidar = buf.lookup('camera_optical_frame', 'lidar', S // 4)
    # the same point through the world: odom <- base <- lidar, then back down to the camera
    p_odom = base_at(0.25) @ T_base_lidar @ p_lidar
    np.testing.assert_allclose(T_opt_lidar @ p_lidar,
                               np.linalg.inv(base_at(0.25) @ T_BASE_LINK_CAM @ T_CAM_OPT) @ p_odom, atol=1e-12)


def test_lookup_never_extrapolates_and_names_what_is_missing():
    buf = robot_buffer()
    with pytest.raises(TransformLookupError, match='not at'):
        buf.lookup('odom', 'camera_optical_frame', 2 * S)        # newer than the odometry
    with pytest.raises(TransformLookupError, match='no TF path'):
        buf.lookup('map', 'camera_optical_frame', 0)
    buf.add('map', 'odom', 0, np.eye(4), static=True)
    np.testing.assert_allclose(buf.lookup('map', 'base_link', S), base_at(1.0), atol=1e-12)


def test_parent_changes_and_cache_bound():
    buf = TransformBuffer(cache_ns=2 * S)
    buf.add('/base_link', '/camera_optical_frame', 0, np.eye(4), static=True)     # leading slashes as in ROS 1
    assert buf.ancestors('camera_optical_frame') == ['base_link']
    buf.add('mount', 'camera_optical_frame', S, np.eye(4))                # a new parent replaces the old one
    assert buf.parent('camera_optical_frame') == 'mount'
    for k in range(10):
        buf.add('odom', 'base_link', k * S, base_at(k))
    with pytest.raises(TransformLookupError):
        buf.lookup('odom', 'base_link', 5 * S)                           # older than 2 s before the newest
    np.testing.assert_allclose(buf.lookup('odom', 'base_link', 8 * S), base_at(8), atol=1e-12)
    with pytest.raises(InputError):
        buf.add('a', 'a', 0, np.eye(4))
    with pytest.raises(InputError):
        buf.add('a', 'b', 0, np.full((4, 4), np.nan))


FRAMES = TfFrames(world_frame='map', odom_frame='odom', mode='auto', detect_s=1.0)


def test_plan_hand_held_camera_publishes_world_to_camera_after_listening():
    listening = plan_camera_tf(FRAMES, 'camera_optical_frame', [], listened_s=0.2)
    assert listening.kind == 'none' and not listening.problem
    plan = plan_camera_tf(FRAMES, 'camera_optical_frame', [], listened_s=1.5)
    assert (plan.kind, plan.parent, plan.child, plan.problem) == ('world_to_camera', 'map', 'camera_optical_frame',
                                                                  False)
    forced = plan_camera_tf(TfFrames(mode='world_to_camera'), 'cam', [], listened_s=0.0)
    assert (forced.kind, forced.parent, forced.child) == ('world_to_camera', 'world', 'cam')


def test_plan_on_a_robot_corrects_odom_and_never_reparents_the_camera():
    chain = ['camera_link', 'base_link', 'odom']
    plan = plan_camera_tf(FRAMES, 'camera_optical_frame', chain, listened_s=0.0)    # robot TF known at once
    assert (plan.kind, plan.parent, plan.child, plan.problem) == ('world_to_odom', 'map', 'odom', False)
    # someone else (AMCL, a robot's own SLAM) already localises the camera in map: publish nothing
    taken = plan_camera_tf(FRAMES, 'camera_optical_frame', chain + ['map'], listened_s=5.0)
    assert taken.kind == 'none' and taken.problem and 'already localised' in taken.reason
    # odometry frame not on the chain (e.g. a fixed arm): say which frames there are
    arm = plan_camera_tf(FRAMES, 'camera_optical_frame', ['tool0', 'base_link'], listened_s=5.0)
    assert arm.kind == 'none' and arm.problem and 'base_link' in arm.reason
    # world_to_camera forced on a robot-owned frame is flagged (two parents)
    forced = plan_camera_tf(TfFrames(world_frame='map', mode='world_to_camera'), 'camera_optical_frame', chain, 9)
    assert forced.kind == 'world_to_camera' and forced.problem
    waiting = plan_camera_tf(TfFrames(world_frame='map', mode='world_to_odom'), 'camera_optical_frame', [], 9)
    assert waiting.kind == 'none' and not waiting.problem
    assert plan_camera_tf(TfFrames(mode='none'), 'cam', chain, 9).kind == 'none'
    with pytest.raises(InputError):
        TfFrames(mode='sometimes')
    with pytest.raises(InputError):
        TfFrames(world_frame='odom', odom_frame='odom')


def test_published_correction_makes_map_to_camera_equal_the_estimate():
    """REP-105 end to end: robot odometry drifts; the SLAM estimate is the truth; after the node
    publishes map -> odom, a TF client's map -> camera lookup returns the estimate."""
    robot = robot_buffer()
    stamp = int(0.7 * S)
    T_odom_opt = robot.lookup('odom', 'camera_optical_frame', stamp)
    T_drift = make_transform(yaw(7.0), np.array([0.3, -0.2, 0.0]))         # odometry error
    T_map_opt_estimate = T_drift @ T_odom_opt                                 # the SLAM estimate (= truth here)
    T_map_odom = world_to_odom_correction(T_map_opt_estimate, T_odom_opt)
    np.testing.assert_allclose(T_map_odom, T_drift, atol=1e-12)               # it recovers the drift
    client = robot_buffer()
    client.add('map', 'odom', stamp, T_map_odom, static=True)
    np.testing.assert_allclose(client.lookup('map', 'camera_optical_frame', stamp), T_map_opt_estimate, atol=1e-12)


def test_namespaced_frames_keep_two_pipelines_apart():
    assert namespaced_frame('world', '/') == 'world' and namespaced_frame('world', '') == 'world'
    assert namespaced_frame('world', '/cam1') == 'cam1/world'
    assert namespaced_frame('human_', '/robot/front/') == 'robot/front/human_'


def test_buffer_edges_found_by_mutation_testing():
    """Re-adding a stamp replaces it; the newest stamp is the last of many; bad configs are refused."""
    buf = TransformBuffer(cache_ns=100)
    for s, x in ((10, 1.0), (20, 2.0), (30, 3.0)):
        buf.add('odom', 'base', s, make_transform(np.eye(3), np.array([x, 0.0, 0.0])))
    buf.add('odom', 'base', 20, make_transform(np.eye(3), np.array([5.0, 0.0, 0.0])))   # same stamp: replaced
    assert buf.latest_stamp_ns('base') == 30
    assert buf.lookup('odom', 'base', 20)[0, 3] == pytest.approx(5.0)
    assert buf.lookup('odom', 'base', 25)[0, 3] == pytest.approx(4.0)               # between the last two
    with pytest.raises(TransformLookupError):
        buf.lookup('odom', 'base', 31)                                                # after the newest
    with pytest.raises(TransformLookupError):
        buf.lookup('odom', 'base', 9)                                                 # before the oldest
    assert TransformBuffer(cache_ns=1).cache_ns == 1
    with pytest.raises(InputError):
        TransformBuffer(cache_ns=0)
    assert TfFrames(detect_s=0.0).detect_s == 0.0
    with pytest.raises(InputError):
        TfFrames(detect_s=-0.1)


def test_camera_poses_from_tf_wait_for_late_odometry_and_give_up_in_order():
    """pose_source tf: each image's pose is world -> camera at its stamp; images wait for late
    transforms (in stamp order) and get the last pose 'held' once a newer image is wait_ns ahead."""
    from onlinehmr_ros.core.common.geometry import rotmat_from_quat_wxyz
    from onlinehmr_ros.core.common.tf_tree import TfCameraPoses
    buf = TransformBuffer()
    cam_in_base = make_transform(Rotation.from_euler('xyz', [-90, 0, -90], degrees=True).as_matrix(),
                                 np.array([0.1, 0.0, 1.2]))                     # optical frame on a robot
    buf.add('base', 'cam', 0, cam_in_base, static=True)
    poses = TfCameraPoses(buf, 'map', wait_ns=100)

    def odom(stamp, x, yaw_deg):
        buf.add('map', 'base', stamp, make_transform(Rotation.from_euler('z', yaw_deg, degrees=True).as_matrix(),
                                                     np.array([x, 0.0, 0.0])))

    odom(0, 0.0, 0.0)
    assert poses.add_image(50, 'cam', 'a') == []                   # odometry not there yet: waits
    odom(100, 1.0, 90.0)
    (item, pose), = poses.poll()                                   # now covered: interpolated at 50
    assert item == 'a' and pose.tracking and pose.state == 'tracking' and pose.source == 'tf'
    assert pose.scale == 1.0 and pose.scale_converged and pose.gravity_aligned
    expect = make_transform(Rotation.from_euler('z', 45, degrees=True).as_matrix(), np.array([0.5, 0, 0])) @ cam_in_base
    np.testing.assert_allclose(pose.T_world_cam_m, expect, atol=1e-9)
    np.testing.assert_allclose(rotmat_from_quat_wxyz(pose.quat_wxyz), expect[:3, :3], atol=1e-9)
    # the camera of the image sits 1.2 m up, its optical z looking along the robot's heading
    assert pose.T_world_cam_m[2, 3] == pytest.approx(1.2)
    # two more images, no odometry for them: the first waits until an image 100 ns newer arrives
    assert poses.add_image(150, 'cam', 'b') == [] and poses.add_image(200, 'cam', 'c') == []
    out = poses.add_image(260, 'cam', 'd')
    assert [i for i, _ in out] == ['b'] and out[0][1].state == 'held' and not out[0][1].tracking
    np.testing.assert_allclose(out[0][1].T_world_cam_m, expect, atol=1e-9)     # the last pose, held
    odom(300, 2.0, 90.0)
    assert [(i, p.state) for i, p in poses.poll()] == [('c', 'tracking'), ('d', 'tracking')]
    assert (poses.looked_up, poses.given_up, poses.pending) == (3, 1, 0)
    # an unknown camera frame is given up once its wait is over, with the reason
    poses.add_image(400, 'elsewhere', 'e')
    (_, held), = poses.add_image(600, 'cam', 'f')[:1]
    assert held.state == 'held' and 'elsewhere' in held.status
    with pytest.raises(InputError):
        TfCameraPoses(buf, '', wait_ns=1)
