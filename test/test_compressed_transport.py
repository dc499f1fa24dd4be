"""The compressed image transport: codec round trips with image_transport's format strings, and the
camera_source -> image-reading node path over <image topic>/compressed."""
import pathlib
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from onlinehmr_ros.ros import convert  # noqa: E402
from helpers.spin import spin_until  # noqa: E402

PHOTO = pathlib.Path('/usr/share/doc/opencv-doc/examples/data/messi5.jpg')   # a colour photo


def _photo_rgb() -> np.ndarray:
    import cv2
    assert PHOTO.is_file(), 'install the Debian package opencv-doc (make setup does)'
    return cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'mono8'])
@pytest.mark.parametrize('codec', ['jpeg', 'png'])
def test_round_trip_keeps_the_picture_and_its_channel_order(encoding, codec):
    rgb = _photo_rgb()
    arr = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], 'mono8': rgb[:, :, 1]}[encoding]
    msg = convert.compress_image(arr, encoding, codec, jpeg_quality=90, stamp_ns=42, frame_id='cam')
    # image_transport's compressed publisher writes exactly these format strings
    target = {'jpeg': 'mono8' if encoding == 'mono8' else 'bgr8', 'png': '' if encoding == 'mono8' else 'bgr8'}[codec]
    assert msg.format == f'{encoding}; {codec} compressed {target}'
    assert convert.stamp_to_ns(msg.header.stamp) == 42 and msg.header.frame_id == 'cam'
    back = convert.compressed_to_rgb(msg)
    expected = rgb if encoding != 'mono8' else np.repeat(rgb[:, :, 1:2], 3, axis=2)
    if codec == 'png':
        np.testing.assert_array_equal(back, expected)                    # lossless
    else:
        assert _psnr(back, expected) > 30                                # and the channels not swapped:
        assert _psnr(back, expected[:, :, ::-1]) < _psnr(back, expected) - 3 or encoding == 'mono8'
        assert len(msg.data) < arr.nbytes / (3 if encoding == 'mono8' else 8)   # at quality 90


def test_decodes_what_other_publishers_send():
    import cv2
    red_rgb = np.zeros((16, 16, 3), np.uint8)
    red_rgb[..., 0] = 255
    ok, png_bgr = cv2.imencode('.png', red_rgb[:, :, ::-1])
    # an old compressed_image_transport (format "png", no encoding): the codec holds BGR
    old = CompressedImage(format='png')
    old.data = png_bgr.tobytes()
    np.testing.assert_array_equal(convert.compressed_to_rgb(old), red_rgb)
    # an rgb8 stream whose codec holds RGB (format without "compressed bgr")
    ok, png_rgb = cv2.imencode('.png', red_rgb)
    rgb_held = CompressedImage(format='rgb8; png compressed rgb8')
    rgb_held.data = png_rgb.tobytes()
    np.testing.assert_array_equal(convert.compressed_to_rgb(rgb_held), red_rgb)
    broken = CompressedImage(format='rgb8; jpeg compressed bgr8')
    broken.data = b'not a jpeg'
    with pytest.raises(convert.ConversionError, match='does not decode'):
        convert.compressed_to_rgb(broken)
    with pytest.raises(convert.ConversionError, match="cannot compress encoding '32FC1'"):
        convert.compress_image(np.zeros((4, 4), np.float32), '32FC1')
    with pytest.raises(convert.ConversionError, match="unknown compression codec 'tiff'"):
        convert.compress_image(red_rgb, 'rgb8', 'tiff')


def test_camera_source_to_mask_node_over_the_compressed_topic(rclpy_context, tiny_video):
    """camera_source transport:=compressed -> /camera/image_raw/compressed -> mask with
    image_transport:=compressed: every frame masked, stamps kept, nothing on the raw topic."""
    from onlinehmr_ros.nodes.camera_source import CameraSourceNode
    from onlinehmr_ros.nodes.mask_node import MaskNode
    mask = MaskNode(context=rclpy_context, parameter_overrides=[Parameter('image_transport', value='compressed')])
    probe = rclpy.create_node('probe', context=rclpy_context)
    compressed, raw, masks = [], [], []
    probe.create_subscription(CompressedImage, '/camera/image_raw/compressed', compressed.append,
                              qos_profile_sensor_data)
    probe.create_subscription(Image, '/camera/image_raw', raw.append, qos_profile_sensor_data)
    probe.create_subscription(Image, '/human/soft_mask', masks.append, qos_profile_sensor_data)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(mask)
    ex.add_node(probe)
    spin_until(ex, lambda: False, 1.0)              # discovery
    source = CameraSourceNode(context=rclpy_context, parameter_overrides=[
        Parameter(k, value=v) for k, v in {'input': str(tiny_video), 'rate_mode': 'fixed', 'rate_hz': 20.0,
                                           'stamp_source': 'source', 'transport': 'compressed'}.items()])
    ex.add_node(source)
    spin_until(ex, lambda: source.finished and len(masks) >= 12, 60.0)
    spin_until(ex, lambda: False, 0.3)
    ex.shutdown()
    assert len(compressed) == 12 and not raw
    assert all(m.format == 'rgb8; jpeg compressed bgr8' for m in compressed)
    assert [convert.stamp_to_ns(m.header.stamp) for m in masks] == list(np.arange(12) * 100_000_000)
    m = convert.image_to_array(masks[0])
    assert m.shape == (48, 64) and masks[0].encoding == '32FC1'
    # the decoded frame keeps the video's colours (frame 0: blue bar on the left)
    left = convert.compressed_to_rgb(compressed[0])[:, :6].reshape(-1, 3).mean(axis=0)
    assert left[2] > 180 and left[0] < 60
    for n in (source, mask, probe):
        n.destroy_node()
