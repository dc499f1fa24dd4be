"""Node behaviour on bad input and at start-up (no graph beyond the node under test)."""
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from onlinehmr_ros.ros import convert  # noqa: E402
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS  # noqa: E402
from helpers.hmr_rig import hmr_rig  # noqa: E402


@pytest.mark.parametrize('node', ['hmr_node', 'fusion_node'])
def test_missing_smpl_file_stops_with_the_body_model_message(node, tmp_path):
    proc = subprocess.run([sys.executable, '-m', f'onlinehmr_ros.nodes.{node}', '--ros-args',
                           '-p', 'body_model.type:=smpl', '-p', f'body_model.path:={tmp_path}'],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert 'SMPL' in proc.stderr and str(tmp_path) in proc.stderr and 'error' in proc.stderr


def _spin(ex, cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)


def test_hmr_node_waits_accepts_encodings_and_rejects_others(rclpy_context):
    from onlinehmr_ros.nodes.hmr_node import HmrNode
    node, probe, out, diags, pub, ex = hmr_rig(rclpy_context, HmrNode(context=rclpy_context))
    # started before any image: says it is waiting
    _spin(ex, lambda: any('waiting' in s.message for d in diags for s in d.status if 'hmr' in s.name))
    assert any('waiting for images' in s.message for d in diags for s in d.status)
    blank = np.zeros((48, 64, 3), np.uint8)
    for i, (enc, arr) in enumerate([('rgb8', blank), ('bgr8', blank), ('mono8', blank[..., 0]),
                                    ('rgba8', np.zeros((48, 64, 4), np.uint8))]):
        pub.publish(convert.array_to_image(arr, enc, stamp_ns=1000 + i, frame_id='cam'))
        _spin(ex, lambda: len(out) > i)
    assert [convert.stamp_to_ns(m.header.stamp) for m in out] == [1000, 1001, 1002, 1003]
    assert all(m.header.frame_id == 'cam' and len(m.humans) == 0 for m in out)   # nobody: empty, no error
    bad = convert.array_to_image(np.zeros((4, 4), np.float32), '32FC1', stamp_ns=2000)
    pub.publish(bad)
    _spin(ex, lambda: node.camera.rejected == 1, 10)
    assert node.camera.rejected == 1 and len(out) == 4
    ex.shutdown()
    node.destroy_node()


def test_mask_node_parameters_are_the_core_configs_fields(rclpy_context):
    from rclpy.parameter import Parameter

    from onlinehmr_ros.core.common.errors import InputError
    from onlinehmr_ros.nodes.mask_node import MaskNode
    node = MaskNode(context=rclpy_context, parameter_overrides=[
        Parameter('soft_mask.sigma_px', value=4.0), Parameter('segmentation.threshold', value=0.3)])
    assert node.stage.soft_mask.sigma_px == 4.0 and node.stage.segmentation.threshold == 0.3
    assert node.stage.soft_mask.kernel_size_px == 15                      # the core's default
    desc = node.describe_parameters(['soft_mask.kernel_size_px', 'segmentation.threshold'])
    assert 'structuring element' in desc[0].description and 'probability' in desc[1].description
    node.destroy_node()
    with pytest.raises(InputError, match='mode'):                          # the core checks the values
        MaskNode(context=rclpy_context, parameter_overrides=[Parameter('soft_mask.mode', value='blurry')])


def test_best_effort_camera_driver_needs_the_documented_qos_override(rclpy_context):
    """Images are reliable (lossless across processes); a sensor-data (best-effort) driver is
    incompatible until the subscription is switched with the parameter the node names."""
    from onlinehmr_ros.nodes.mask_node import MaskNode
    probe = rclpy.create_node('driver', context=rclpy_context)
    masks = []
    probe.create_subscription(Image, '/human/soft_mask', masks.append, IMAGE_PUBLISHER_QOS)
    pub = probe.create_publisher(Image, '/camera/image_raw', qos_profile_sensor_data)
    image = convert.array_to_image(np.zeros((48, 64, 3), np.uint8), 'rgb8', stamp_ns=5, frame_id='cam')
    for overrides, expected in (([], 0), ([Parameter('qos_overrides./camera/image_raw.subscription.reliability',
                                                     value='best_effort')], 1)):
        node = MaskNode(context=rclpy_context, parameter_overrides=overrides)
        ex = SingleThreadedExecutor(context=rclpy_context)
        ex.add_node(node)
        ex.add_node(probe)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and len(masks) < expected:
            pub.publish(image)
            _spin(ex, lambda: False, 0.2)
        _spin(ex, lambda: False, 0.5)
        assert (len(masks) > 0) == bool(expected), f'overrides {overrides}: {len(masks)} masks'
        ex.shutdown()
        node.destroy_node()


def test_hmr_node_states_the_learned_estimators_fallback_on_diagnostics(rclpy_context):
    """Megamind's close-up woman is out of the learned network's domain: estimator learned fits her instead,
    and /diagnostics says so (a WARN naming the incident, and the counts), the node deciding nothing itself."""
    import cv2

    from onlinehmr_ros.nodes.hmr_node import HmrNode
    cap = cv2.VideoCapture('/usr/share/doc/opencv-doc/examples/data/Megamind.avi')
    frames = []
    for _ in range(8):
        ok, bgr = cap.read()
        assert ok, 'Megamind.avi missing: install opencv-doc (make setup does)'
        frames.append(np.ascontiguousarray(bgr))
    node = HmrNode(context=rclpy_context, parameter_overrides=[Parameter('max_people', value=1),
                                                               Parameter('estimator', value='learned')])
    assert node.hmr.config.estimator == 'learned'
    node, probe, out, diags, pub, ex = hmr_rig(rclpy_context, node)
    for i, bgr in enumerate(frames):
        pub.publish(convert.array_to_image(bgr, 'bgr8', stamp_ns=(i + 1) * 41_666_667, frame_id='cam'))
        _spin(ex, lambda: len(out) > i)
    assert len(out) == len(frames) and len(out[-1].humans) == 1

    def hmr_statuses():
        return [(s, {kv.key: kv.value for kv in s.values}) for d in diags for s in d.status if 'hmr' in s.name]

    def counted():
        return [v for _, v in hmr_statuses() if int(v.get('learned_fallback_person_frames', 0)) >= 4]
    _spin(ex, lambda: bool(counted()), 5)
    assert counted(), f'no /diagnostics with the learned estimator counts: {hmr_statuses()[-1:]}'
    values = counted()[-1]
    assert values['estimator'] == 'learned' and values['learned_fallback_tracks'] == '1'
    assert values['learned_out_of_domain'] == '1'                 # one track went to fitting, once
    warned = [s for s, _ in hmr_statuses() if 'learned_out_of_domain' in s.message]
    assert warned and 'estimated by fitting' in warned[0].message
    assert warned[0].level == b'\x01'   # WARN
    ex.shutdown()
    node.destroy_node()
