"""Message <-> numpy conversions round-trip without a running graph."""
import numpy as np
import pytest

pytest.importorskip('rclpy')
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, CameraPose, HumansFrame, HumanState  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402


@pytest.mark.parametrize('encoding,channels', [('rgb8', 3), ('bgr8', 3), ('mono8', 1), ('rgba8', 4),
                                               ('bgra8', 4)])
def test_image_round_trip_and_rgb(encoding, channels):
    rng = np.random.default_rng(0)
    shape = (5, 7, channels) if channels > 1 else (5, 7)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    msg = convert.array_to_image(a, encoding, stamp_ns=3_000_000_123, frame_id='cam')
    assert convert.stamp_to_ns(msg.header.stamp) == 3_000_000_123 and msg.header.frame_id == 'cam'
    np.testing.assert_array_equal(convert.image_to_array(msg), a)
    rgb = convert.image_to_rgb(msg)
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8
    expected = {'rgb8': a, 'bgr8': a[..., ::-1], 'mono8': np.repeat(a[..., None], 3, 2),
                'rgba8': a[..., :3], 'bgra8': a[..., 2::-1]}[encoding]
    np.testing.assert_array_equal(rgb, expected)


def test_image_with_row_padding_and_bad_encodings():
    a = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = convert.array_to_image(a, 'rgb8')
    msg.step = 12
    msg.data = np.concatenate([np.pad(a.reshape(2, 9), ((0, 0), (0, 3)))]).tobytes()
    np.testing.assert_array_equal(convert.image_to_rgb(msg), a)
    msg.encoding = '16UC1'
    with pytest.raises(convert.ConversionError, match="'16UC1' is not supported"):
        convert.image_to_rgb(msg)
    msg.encoding = 'rgb8'
    msg.data = msg.data[:10]
    with pytest.raises(convert.ConversionError, match='too short'):
        convert.image_to_rgb(msg)
    with pytest.raises(convert.ConversionError, match='dtype'):
        convert.array_to_image(a.astype(np.float32), 'rgb8')


def test_float_mask_image_round_trip():
    m = np.random.default_rng(1).random((4, 6)).astype(np.float32)
    msg = convert.array_to_image(m, '32FC1')
    np.testing.assert_array_equal(convert.image_to_array(msg), m)


def test_camera_info_round_trip_and_uncalibrated():
    intr = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]]), 640, 480)
    msg = convert.intrinsics_to_camera_info(intr, 5, 'cam')
    back = convert.camera_info_to_intrinsics(msg)
    np.testing.assert_array_equal(back.K, intr.K)
    assert (back.width_px, back.height_px) == (640, 480)
    msg.k = [0.0] * 9
    with pytest.raises(convert.ConversionError, match='uncalibrated'):
        convert.camera_info_to_intrinsics(msg)


def _human(rng, tid, n_vertices=50):
    return HumanState(track_id=tid, model='open', betas=rng.normal(size=10).astype(np.float32),
                      global_orient=rng.normal(size=3).astype(np.float32),
                      body_pose=rng.normal(size=69).astype(np.float32), transl=rng.normal(size=3).astype(np.float32),
                      joints=rng.normal(size=(24, 3)).astype(np.float32),
                      joint_confidence=rng.random(24).astype(np.float32),
                      vertices=rng.normal(size=(n_vertices, 3)).astype(np.float32),
                      keypoints_coco=rng.normal(size=(17, 3)).astype(np.float32), confidence=0.75)


def test_humans_round_trip():
    rng = np.random.default_rng(2)
    frame = HumansFrame(stamp_ns=12_345_678_901, frame_id='world', humans=(_human(rng, 3), _human(rng, 8)))
    quats = [np.array([0, 0, 0, 1.0]), np.array([0, 0, 1.0, 0])]
    msg = convert.humans_to_msg(frame, quats)
    assert msg.humans[1].track_id == 8 and msg.humans[0].model == 'open'
    np.testing.assert_array_equal(msg.humans[0].root_position, frame.humans[0].joints[0])
    np.testing.assert_array_equal(msg.humans[1].root_orientation, quats[1])
    back = convert.msg_to_humans(msg)
    assert back.stamp_ns == frame.stamp_ns and back.frame_id == 'world'
    for a, b in zip(frame.humans, back.humans):
        for name in ('betas', 'global_orient', 'body_pose', 'transl', 'joints', 'joint_confidence', 'vertices',
                     'keypoints_coco'):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    no_mesh = convert.humans_to_msg(frame, quats, send_vertices=False)
    assert len(no_mesh.humans[0].vertices) == 0
    assert convert.msg_to_humans(no_mesh).humans[0].vertices.shape == (0, 3)


def test_humans_msg_with_inconsistent_sizes_is_rejected():
    rng = np.random.default_rng(3)
    msg = convert.humans_to_msg(HumansFrame(0, 'camera', (_human(rng, 1),)), [np.array([0, 0, 0, 1.0])])
    msg.humans[0].joint_confidence = msg.humans[0].joint_confidence[:5]
    with pytest.raises(convert.ConversionError, match='joint confidences'):
        convert.msg_to_humans(msg)
    msg.humans[0].joint_confidence = np.ones(24, np.float32)
    msg.humans[0].vertices = np.zeros(7, np.float32)
    with pytest.raises(convert.ConversionError, match='vertices'):
        convert.msg_to_humans(msg)


def test_camera_pose_is_metric_and_point_cloud_layout():
    pose = CameraPose(stamp_ns=7, quat_wxyz=np.array([np.cos(0.3), 0, 0, np.sin(0.3)]),
                      t_world_cam=np.array([1.0, 2.0, 3.0]), scale=2.0)
    ps, tf = convert.camera_pose_to_msgs(pose, 'world', 'cam')
    assert (ps.pose.position.x, ps.pose.position.y, ps.pose.position.z) == (2.0, 4.0, 6.0)
    assert ps.pose.orientation.w == pytest.approx(np.cos(0.3)) and ps.pose.orientation.z == pytest.approx(np.sin(0.3))
    assert tf.child_frame_id == 'cam' and tf.header.frame_id == 'world' and tf.header.stamp.nanosec == 7
    back = convert.pose_msg_to_camera_pose(ps)                 # what fusion reads: the same metric pose
    np.testing.assert_allclose(back.T_world_cam_m, pose.T_world_cam_m, atol=1e-12)
    assert back.stamp_ns == 7 and back.scale == 1.0
    pts = np.random.default_rng(4).normal(size=(9, 3)).astype(np.float32)
    cloud = convert.points_to_cloud(pts, 1, 'world', rgb=np.full((9, 3), (1, 2, 3), np.uint8))
    raw = np.frombuffer(bytes(cloud.data), np.float32).reshape(9, 4)
    np.testing.assert_array_equal(raw[:, :3], pts)
    assert raw[:, 3].view(np.uint32)[0] == (1 << 16) | (2 << 8) | 3
    assert cloud.point_step == 16 and cloud.width == 9
    # read back (what `onlinehmr render-bag` does with /slam/map), with and without colours
    np.testing.assert_array_equal(convert.cloud_to_points(cloud), pts)
    np.testing.assert_array_equal(convert.cloud_to_points(convert.points_to_cloud(pts, 1, 'world')), pts)


@pytest.mark.parametrize('state, tracking', [('tracking', True), ('rotation_only', False), ('held', False)])
def test_camera_pose_state_carries_the_state_and_the_metric_pose(state, tracking):
    from rclpy.serialization import deserialize_message, serialize_message
    from onlinehmr_ros.msg import CameraPoseState
    pose = CameraPose(stamp_ns=11, quat_wxyz=np.array([np.cos(0.2), np.sin(0.2), 0, 0]),
                      t_world_cam=np.array([0.5, -1.0, 0.25]), scale=3.0, tracking=tracking, status='x', state=state,
                      scale_converged=False, gravity_aligned=True)
    m = convert.camera_pose_to_state_msg(pose, 'world', 'cam', gravity_sigma_deg=0.7, segment=2)
    m = deserialize_message(serialize_message(m), CameraPoseState)
    assert m.tracking == tracking and m.child_frame_id == 'cam' and m.header.frame_id == 'world'
    assert m.tracking_state == {'held': m.STATE_HELD, 'rotation_only': m.STATE_ROTATION_ONLY,
                                'tracking': m.STATE_TRACKED}[state]
    np.testing.assert_allclose(m.position, [1.5, -3.0, 0.75])            # metric: s t
    assert m.scale == 3.0 and not m.scale_converged and m.gravity_aligned and m.segment == 2
    assert m.gravity_sigma_deg == pytest.approx(0.7) and m.pose_source == 'slam'
    back = convert.state_msg_to_camera_pose(m)                          # what fusion reads
    np.testing.assert_allclose(back.T_world_cam_m, pose.T_world_cam_m, atol=1e-12)
    assert (back.state, back.tracking, back.scale_converged, back.stamp_ns) == (state, tracking, False, 11)
    m.tracking_state = 7
    with pytest.raises(convert.ConversionError, match='tracking_state'):
        convert.state_msg_to_camera_pose(m)


def test_a_robot_tf_pose_fits_the_same_message():
    """Issue 17's pose_source 'tf': tracked, metric, gravity known; fusion reads it like a SLAM pose."""
    pose = CameraPose(stamp_ns=3, quat_wxyz=np.array([1.0, 0, 0, 0]), t_world_cam=np.array([1.0, 2.0, 0.5]),
                      source='tf')
    m = convert.camera_pose_to_state_msg(pose, 'map', 'cam')
    assert m.pose_source == 'tf' and m.tracking and m.scale_converged and m.scale == 1.0
    back = convert.state_msg_to_camera_pose(m)
    assert back.source == 'tf' and back.tracking
