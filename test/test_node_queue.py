"""What a lockstep replay sets (ros.qos.replay_parameters) keeps every image: the hmr node keeps only the newest
image by default (issue 15) and every image with a lockstep depth; fusion waits for a pose that comes more than 3 s
(stamp time) late.

Five images are published while the node is not spinning (a stage that fell behind a live camera);
then it spins: with ``image_queue_depth`` 1 it computes the newest image only and counts the four it
skipped as lost on /diagnostics; with 5 (what a lockstep replay sets) it computes all five in order.
"""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from onlinehmr_ros.msg import HumanMeshArray  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402
from onlinehmr_ros.ros.qos import LOCKSTEP_IMAGE_QUEUE_DEPTH, replay_parameters  # noqa: E402
from helpers.hmr_rig import diagnostic_value, hmr_rig  # noqa: E402
from helpers.spin import spin_until  # noqa: E402

S = 1_000_000_000


def _lost(diags):
    v = diagnostic_value(diags, 'lost /camera/image_raw')
    return None if v is None else int(v)


@pytest.mark.parametrize('depth', [None, LOCKSTEP_IMAGE_QUEUE_DEPTH])
def test_hmr_takes_the_newest_image_unless_a_lockstep_depth_keeps_them_all(rclpy_context, depth):
    from onlinehmr_ros.nodes.hmr_node import HmrNode
    overrides = [] if depth is None else [Parameter('image_queue_depth', value=depth)]
    node, probe, out, diags, pub, ex = hmr_rig(rclpy_context, HmrNode(context=rclpy_context,
                                                                     parameter_overrides=overrides))
    try:
        spin_until(ex, lambda: pub.get_subscription_count() > 0, 10)
        img = np.zeros((48, 64, 3), np.uint8)
        pub.publish(convert.array_to_image(img, 'rgb8', 100 * S, 'cam'))   # one image first: the node is warm
        spin_until(ex, lambda: len(out) == 1, 30)
        stamps = [101 * S + k * S // 10 for k in range(5)]
        for st in stamps:                                                   # the node does not spin meanwhile
            pub.publish(convert.array_to_image(img, 'rgb8', st, 'cam'))
        time.sleep(0.5)                                                     # all five reach its reader
        spin_until(ex, lambda: False, 3.0)
        got = [convert.stamp_to_ns(m.header.stamp) for m in out[1:]]
        spin_until(ex, lambda: _lost(diags) is not None and (_lost(diags) > 0 or depth), 5)
        lost = _lost(diags)
    finally:
        ex.shutdown()
        node.destroy_node()
        probe.destroy_node()
    if depth is None:
        assert got == stamps[-1:] and lost == 4, (got, lost)
    else:
        assert got == stamps and lost == 0, (got, lost)


@pytest.mark.parametrize('rate_mode', ['recorded', 'lockstep'])
def test_a_lockstep_replay_waits_for_a_pose_slower_than_the_live_wait(rclpy_context, rate_mode):
    """A lockstep replay stamps its images when it publishes them, so a stage slowed down by load makes the next
    image's stamp come later than the live wait (3 s) after the last: image 1's people reach fusion, then image 2's
    (5 s later), then image 1's pose. Live (recorded), image 1's people are dropped (nothing waits that long for a
    camera); with the replay's parameters both images reach the world."""
    from onlinehmr_ros.core.common.datatypes import CameraPose, HumansFrame, HumanState
    from onlinehmr_ros.msg import CameraPoseState
    from onlinehmr_ros.nodes.fusion_node import FusionNode
    overrides = [Parameter(k, value=v) for k, v in replay_parameters(rate_mode).get('fusion', {}).items()]
    node = FusionNode(context=rclpy_context, parameter_overrides=overrides)
    probe = rclpy.create_node('probe', context=rclpy_context)
    out = []
    probe.create_subscription(HumanMeshArray, '/human/world_humans', out.append, 50)
    hum_pub = probe.create_publisher(HumanMeshArray, '/human/camera_humans', 10)
    pose_pub = probe.create_publisher(CameraPoseState, '/slam/camera_pose_state', 10)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(probe)
    f32 = np.float32
    joints = (np.zeros((24, 3)) + [0.0, 0.0, 3.0]).astype(f32)
    person = HumanState(1, 'open', np.zeros(10, f32), np.zeros(3, f32), np.zeros(69, f32), np.zeros(3, f32), joints,
                        np.ones(24, f32), np.zeros((0, 3), f32), joints[:17].copy())
    first, second = 100 * S, 105 * S
    try:
        spin_until(ex, lambda: hum_pub.get_subscription_count() > 0 and pose_pub.get_subscription_count() > 0, 10)
        for pub, msg in ((hum_pub, convert.humans_to_msg(HumansFrame(first, 'cam', (person,)), [np.eye(4)[3]])),
                         (hum_pub, convert.humans_to_msg(HumansFrame(second, 'cam', (person,)), [np.eye(4)[3]])),
                         (pose_pub, convert.camera_pose_to_state_msg(CameraPose(first, np.array([1.0, 0, 0, 0]),
                                                                                np.zeros(3)), 'world', 'cam')),
                         (pose_pub, convert.camera_pose_to_state_msg(CameraPose(second, np.array([1.0, 0, 0, 0]),
                                                                                np.zeros(3)), 'world', 'cam'))):
            pub.publish(msg)
            spin_until(ex, lambda: False, 0.1)
        spin_until(ex, lambda: len(out) >= 2, 5)
    finally:
        ex.shutdown()
        node.destroy_node()
        probe.destroy_node()
    got = [convert.stamp_to_ns(m.header.stamp) for m in out]
    assert got == ([second] if rate_mode == 'recorded' else [first, second]), got



def test_staged_hmr_node_publishes_every_image_in_order_with_its_frame_id(megamind_frames, rclpy_context):
    """With ``staged`` (perception and estimation in two threads) the node's callback only queues the image; the
    estimation thread publishes each image's people, in order, stamped and framed as its image."""
    from onlinehmr_ros.nodes.hmr_node import HmrNode
    node, probe, out, diags, pub, ex = hmr_rig(rclpy_context, HmrNode(context=rclpy_context, parameter_overrides=[
        Parameter('staged', value=True), Parameter('max_people', value=1),
        Parameter('image_queue_depth', value=10)]))    # more than the images sent: none dropped, whatever the load
    frames = megamind_frames(8)
    try:
        spin_until(ex, lambda: pub.get_subscription_count() > 0, 10)
        for i, f in enumerate(frames):             # about the camera's rate
            pub.publish(convert.array_to_image(f.image_rgb, 'rgb8', f.stamp_ns + 100 * S, f'cam_{i % 2}'))
            spin_until(ex, lambda: False, 0.05)
        spin_until(ex, lambda: len(out) == len(frames), 60)
        spin_until(ex, lambda: diagnostic_value(diags, 'images_dropped_by_stages') is not None, 5)
    finally:
        ex.shutdown()
        node.destroy_node()
        probe.destroy_node()
    assert [convert.stamp_to_ns(m.header.stamp) for m in out] == [f.stamp_ns + 100 * S for f in frames]
    assert [m.header.frame_id for m in out] == [f'cam_{i % 2}' for i in range(len(frames))]
    assert sum(len(m.humans) == 1 for m in out) >= len(frames) - 3     # the woman, once her track is confirmed
    assert diagnostic_value(diags, 'images_dropped_by_stages') == '0'
