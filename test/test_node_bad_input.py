"""A burst of bad messages between good ones at the hmr node's door (in-process, rclpy).

Each bad message is refused or taken as core.common.input_checks decides, counted by kind on
/diagnostics, never raised into the executor; every good image still gives its output.
"""
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics  # noqa: E402
from onlinehmr_ros.msg import HumanMeshArray  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS  # noqa: E402
from helpers.spin import spin_until  # noqa: E402

S = 1_000_000_000


def _latest_status(diags, node, key):
    """The newest /diagnostics status of ``node`` that has the value ``key``: (status, {key: value}) or (None, {})."""
    for d in reversed(diags):
        for s in d.status:
            if s.name.startswith(node) and any(kv.key == key for kv in s.values):
                return s, {kv.key: kv.value for kv in s.values}
    return None, {}


def _raw(encoding, width, height, step, nbytes, stamp_ns):
    msg = Image(header=convert.make_header(stamp_ns, 'cam'), encoding=encoding, width=width, height=height, step=step)
    msg.data = bytes(nbytes)
    return msg


def _info(k, width=64, height=48):
    msg = convert.intrinsics_to_camera_info(CameraIntrinsics.from_fov(64, 48, 60.0), 0, 'cam')
    msg.k = [float(v) for v in k]
    msg.width, msg.height = width, height
    return msg


def test_hmr_node_survives_a_burst_of_bad_input_and_counts_it(rclpy_context):
    from onlinehmr_ros.nodes.hmr_node import HmrNode
    node = HmrNode(context=rclpy_context)
    probe = rclpy.create_node('probe', context=rclpy_context)
    out, diags = [], []
    probe.create_subscription(HumanMeshArray, '/human/camera_humans', out.append, 50)
    probe.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 50)
    pub = probe.create_publisher(Image, '/camera/image_raw', IMAGE_PUBLISHER_QOS)
    info_pub = probe.create_publisher(CameraInfo, '/camera/camera_info', IMAGE_PUBLISHER_QOS)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(probe)
    spin_until(ex, lambda: pub.get_subscription_count() > 0 and info_pub.get_subscription_count() > 0, 10)

    good = np.zeros((48, 64, 3), np.uint8)
    calib = CameraIntrinsics.from_fov(64, 48, 70.0)
    info_pub.publish(convert.intrinsics_to_camera_info(calib, 0, 'cam'))
    spin_until(ex, lambda: node.camera.intrinsics is not None, 10)
    t = 100 * S
    good_stamps = []

    def send_good(stamp, img=good):
        pub.publish(convert.array_to_image(img, 'rgb8', stamp, 'cam'))
        good_stamps.append(stamp)
        spin_until(ex, lambda: len(out) == len(good_stamps), 20)

    send_good(t)
    bad = [
        _raw('16UC1', 64, 48, 128, 128 * 48, t + 1),                   # wrong encoding
        _raw('yuv422', 64, 48, 128, 128 * 48, t + 2),                  # unsupported encoding
        _raw('rgb8', 64, 48, 192, 100, t + 3),                         # data length mismatch
        convert.array_to_image(np.zeros((48, 1, 3), np.uint8), 'rgb8', t + 4, 'cam'),   # width 1
        _raw('rgb8', 64, 0, 192, 0, t + 5),                            # height 0
        convert.array_to_image(good, 'rgb8', t, 'cam'),                # duplicate stamp
        convert.array_to_image(good, 'rgb8', t - S // 10, 'cam'),      # out of order (late)
    ]
    for i, m in enumerate(bad):                  # one at a time: the subscription keeps the last 5 (qos.py)
        pub.publish(m)
        spin_until(ex, lambda: node.camera.rejected > i, 10)
    bad_info = [_info([np.nan] + list(calib.K.ravel()[1:])), _info([0.0] * 9),     # NaN / zero focal length
                _info(calib.K.ravel(), width=0)]                                  # zero size
    for i, m in enumerate(bad_info):
        info_pub.publish(m)
        spin_until(ex, lambda: node.camera.incidents.total('camera_info_invalid') > i, 10)
    np.testing.assert_array_equal(node.camera.intrinsics.K, calib.K)  # the good calibration was kept

    send_good(t + S // 30)                                              # good again
    send_good(t + 2 * S // 30, np.zeros((96, 128, 3), np.uint8))       # the camera changed resolution
    send_good(5 * S)                                                    # the bag looped: stamps jumped back
    send_good(5 * S + S // 30)
    assert [convert.stamp_to_ns(m.header.stamp) for m in out] == good_stamps    # every good image, in order
    assert node.camera.frames == len(good_stamps)

    spin_until(ex, lambda: _latest_status(diags, 'hmr', 'stamp_jump_back')[0] is not None, 5)
    status, v = _latest_status(diags, 'hmr', 'stamp_jump_back')
    ex.shutdown()
    node.destroy_node()
    probe.destroy_node()
    assert status is not None, 'no /diagnostics with the counters'
    assert v['rejected_images'] == str(len(bad))
    assert (v['image_undecodable'], v['image_too_small'], v['duplicate_stamp'], v['out_of_order_stamp'],
            v['camera_info_invalid'], v['resolution_change'], v['stamp_jump_back']) == \
        ('3', '2', '1', '1', '3', '1', '1')
    assert status.level == bytes([1])                                  # WARN, naming what happened
    assert 'stamp_jump_back' in status.message or 'resolution_change' in status.message \
        or any('stamp_jump_back' in s.message for d in diags for s in d.status)


def test_fusion_node_refuses_repeated_and_late_stamps_and_goes_on_after_a_bag_loop(rclpy_context):
    from onlinehmr_ros.core.common.datatypes import CameraPose, HumansFrame, HumanState
    from onlinehmr_ros.nodes.fusion_node import FusionNode
    node = FusionNode(context=rclpy_context)
    probe = rclpy.create_node('probe', context=rclpy_context)
    out, diags = [], []
    probe.create_subscription(HumanMeshArray, '/human/world_humans', out.append, 50)
    probe.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 50)
    from onlinehmr_ros.msg import CameraPoseState
    hum_pub = probe.create_publisher(HumanMeshArray, '/human/camera_humans', 10)
    pose_pub = probe.create_publisher(CameraPoseState, '/slam/camera_pose_state', 10)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(probe)
    spin_until(ex, lambda: hum_pub.get_subscription_count() > 0 and pose_pub.get_subscription_count() > 0, 10)
    f32 = np.float32
    joints = (np.zeros((24, 3)) + [0.0, 0.0, 3.0]).astype(f32)
    person = HumanState(1, 'open', np.zeros(10, f32), np.zeros(3, f32), np.zeros(69, f32), np.zeros(3, f32), joints,
                        np.ones(24, f32), np.zeros((0, 3), f32), joints[:17].copy())

    def humans(stamp):
        return convert.humans_to_msg(HumansFrame(stamp, 'cam', (person,)), [np.array([0, 0, 0, 1.0])])

    def pose(stamp):
        return convert.camera_pose_to_state_msg(CameraPose(stamp, np.array([1.0, 0, 0, 0]), np.zeros(3)), 'world',
                                                'cam')

    def send(msgs, expect_out):
        for pub, m in msgs:
            pub.publish(m)
            spin_until(ex, lambda: False, 0.05)
        spin_until(ex, lambda: len(out) >= expect_out, 10)

    good = []
    for k in range(4):                                                  # the first pass of a bag
        good.append(100 * S + k * S // 10)
        send([(hum_pub, humans(good[-1])), (pose_pub, pose(good[-1]))], len(good))
    last = good[-1]
    send([(hum_pub, humans(last)), (pose_pub, pose(last)),             # repeated
          (hum_pub, humans(last - S // 10))], len(good))                 # late
    for k in range(4):                                                  # the bag looped: 100 s back
        good.append(S + k * S // 10)
        send([(hum_pub, humans(good[-1])), (pose_pub, pose(good[-1]))], len(good))
    bad_stamp = good[-1] + S // 10                                      # people that do not convert:
    broken = humans(bad_stamp)
    broken.humans[0].joints = broken.humans[0].joints[:4]              # 4 values, not (J, 3)
    send([(hum_pub, broken), (pose_pub, pose(bad_stamp))], len(good))
    good.append(bad_stamp + S // 10)                                    # and the next image goes through
    send([(hum_pub, humans(good[-1])), (pose_pub, pose(good[-1]))], len(good))
    spin_until(ex, lambda: False, 0.3)
    assert [convert.stamp_to_ns(m.header.stamp) for m in out] == good  # each image once, the loop included

    spin_until(ex, lambda: _latest_status(diags, 'fusion', 'humans_invalid')[1].get('humans_invalid') == '1', 5)
    v = _latest_status(diags, 'fusion', 'humans_invalid')[1]
    assert v.get('humans_invalid') == '1', v
    ex.shutdown()
    node.destroy_node()
    probe.destroy_node()
    assert (v['humans_duplicate_stamp'], v['pose_duplicate_stamp'], v['humans_out_of_order_stamp'],
            v['humans_stamp_jump_back'], v['pose_stamp_jump_back'], v['clock_restarts']) == ('1',) * 6


def test_slam_node_checks_stamps_before_joining_and_goes_on_without_an_unusable_mask(rclpy_context):
    from rclpy.parameter import Parameter

    from onlinehmr_ros.msg import CameraPoseState
    from onlinehmr_ros.nodes.slam_node import SlamNode
    node = SlamNode(context=rclpy_context, parameter_overrides=[Parameter('wait_for_humans', value=False)])
    probe = rclpy.create_node('probe', context=rclpy_context)
    out, diags = [], []
    probe.create_subscription(CameraPoseState, '/slam/camera_pose_state', out.append, 50)
    probe.create_subscription(DiagnosticArray, '/diagnostics', diags.append, 50)
    img_pub = probe.create_publisher(Image, '/camera/image_raw', IMAGE_PUBLISHER_QOS)
    mask_pub = probe.create_publisher(Image, '/human/soft_mask', IMAGE_PUBLISHER_QOS)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(probe)
    spin_until(ex, lambda: img_pub.get_subscription_count() > 0 and mask_pub.get_subscription_count() > 0, 10)
    rng = np.random.default_rng(0)
    mask = np.zeros((48, 64), np.float32)

    def send(stamp, mask_array=mask, expect=None):
        img_pub.publish(convert.array_to_image(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), 'rgb8', stamp, 'cam'))
        mask_pub.publish(convert.array_to_image(mask_array, '32FC1', stamp, 'cam'))
        spin_until(ex, (lambda: len(out) >= expect) if expect else (lambda: False), 10 if expect else 0.5)

    good = [100 * S, 100 * S + S // 10]
    send(good[0], expect=1)
    send(good[1], np.zeros((24, 32), np.float32), expect=2)           # a mask of the wrong size: not used
    send(good[1])                                                       # a repeated image
    send(good[1] - S // 20)                                             # a late one
    good += [S, S + S // 10]                                            # the bag looped
    send(good[2], expect=3)
    send(good[3], expect=4)
    spin_until(ex, lambda: False, 0.3)
    assert [convert.stamp_to_ns(m.header.stamp) for m in out] == good

    spin_until(ex, lambda: bool(_latest_status(diags, 'slam', 'stamp_jump_back')[1]), 5)
    v = _latest_status(diags, 'slam', 'stamp_jump_back')[1]
    ex.shutdown()
    node.destroy_node()
    probe.destroy_node()
    assert (v['mask_unusable'], v['duplicate_stamp'], v['out_of_order_stamp'], v['stamp_jump_back'],
            v['rejected_images']) == ('1', '1', '1', '1', '2')
