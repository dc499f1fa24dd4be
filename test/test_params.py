"""Parameters that do what they say (issue 17, item 7), on the real nodes in-process.

A live parameter changes what the running stage uses; a read-only one is refused with rclpy's
"read-only" reason and its description says why; ranges and choices are enforced at start-up and
at run time; an optional setting without a value is "not set", never 0.0 or ''.
"""
import pytest

rclpy = pytest.importorskip('rclpy')
from rcl_interfaces.msg import ParameterType  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException, ParameterUninitializedException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402


def _set(node, name, value):
    return node.set_parameters([Parameter(name, value=value)])[0]


def test_mask_threshold_and_soft_mask_change_the_running_stage(rclpy_context):
    from onlinehmr_ros.nodes.mask_node import MaskNode
    node = MaskNode(context=rclpy_context)
    try:
        assert node.stage.segmentation.threshold == 0.5
        assert _set(node, 'segmentation.threshold', 0.7).successful
        assert node.stage.segmentation.threshold == 0.7              # the object the stage reads per image
        assert _set(node, 'soft_mask.sigma_px', 3.0).successful and node.stage.soft_mask.sigma_px == 3.0
        out_of_range = _set(node, 'segmentation.threshold', 2.0)
        assert not out_of_range.successful and 'out of range' in out_of_range.reason
        assert node.stage.segmentation.threshold == 0.7
        read_only = _set(node, 'soft_mask.mode', 'hard')
        assert not read_only.successful and 'read-only' in read_only.reason
        desc = node.describe_parameters(['soft_mask.mode', 'segmentation.threshold'])
        assert 'Read-only: ' in desc[0].description and desc[0].read_only
        assert 'Can be changed at run time' in desc[1].description
        assert desc[1].floating_point_range[0].to_value == pytest.approx(0.99)
    finally:
        node.destroy_node()


def test_out_of_range_start_up_value_is_refused(rclpy_context):
    from onlinehmr_ros.nodes.mask_node import MaskNode
    with pytest.raises(InvalidParameterValueException, match='out of range'):
        MaskNode(context=rclpy_context, parameter_overrides=[Parameter('soft_mask.kernel_size_px', value=0)])


def test_fusion_marker_options_are_live_and_frames_follow_the_namespace(rclpy_context):
    from onlinehmr_ros.nodes.fusion_node import FusionNode
    node = FusionNode(context=rclpy_context, namespace='cam2')
    try:
        assert node.config.world_frame == 'cam2/world' and node.person_prefix == 'cam2/human_'
        with pytest.raises(ParameterUninitializedException):             # "not set", not '' for None
            node.get_parameter('world_frame')
        assert _set(node, 'marker_lifetime_s', 2.0).successful and node.params['marker_lifetime_s'] == 2.0
        assert _set(node, 'tf.joints', True).successful and node.params['tf.joints'] is True
        assert not _set(node, 'world_frame', 'map').successful
        assert not _set(node, 'markers.max_triangles', 500).successful
    finally:
        node.destroy_node()


def test_slam_smoothing_is_live_and_validated_by_the_core(rclpy_context):
    from onlinehmr_ros.nodes.slam_node import SlamNode
    node = SlamNode(context=rclpy_context)
    try:
        assert _set(node, 'ema.alpha', 0.8).successful
        assert node.branch.ema.config.alpha == 0.8 and node.branch.config.ema.alpha == 0.8
        bad = _set(node, 'ema.alpha', 0.0)                  # EmaConfig: alpha in (0, 1]
        assert not bad.successful and 'alpha' in bad.reason and node.branch.ema.config.alpha == 0.8
        assert not _set(node, 'ema.buffer_size', 9).successful                       # read-only
        # an optional core setting (ScaleConfig.camera_height_m = None) is declared without a value
        param = node.describe_parameters(['scale.camera_height_m'])[0]
        assert param.type == ParameterType.PARAMETER_DOUBLE and 'Not set by default' in param.description
        with pytest.raises(ParameterUninitializedException):
            node.get_parameter('scale.camera_height_m')
        assert node.branch.config.scale.camera_height_m is None
        assert not _set(node, 'tf.mode', 'sometimes').successful
    finally:
        node.destroy_node()


def test_choices_are_enforced_on_live_string_parameters(rclpy_context, tiny_video):
    from onlinehmr_ros.nodes.camera_source import CameraSourceNode
    node = CameraSourceNode(context=rclpy_context, parameter_overrides=[Parameter('input', value=str(tiny_video))])
    try:
        bad = _set(node, 'encoding', 'yuv422')
        assert not bad.successful and 'rgb8' in bad.reason
        assert _set(node, 'encoding', 'bgr8').successful and node.params['encoding'] == 'bgr8'
        assert _set(node, 'lockstep_depth', 4).successful and node.lockstep.depth == 4
        assert node.intrinsics_param is None
    finally:
        node.destroy_node()
    with pytest.raises(ValueError, match='intrinsics'):
        CameraSourceNode(context=rclpy_context, parameter_overrides=[
            Parameter('input', value=str(tiny_video)), Parameter('intrinsics', value=[500.0, 500.0])])
