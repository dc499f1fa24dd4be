"""camera_source on a video the test writes: frame count, stamps, encoding, CameraInfo; bad input."""
import subprocess
import sys

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402

from onlinehmr_ros.core.common.geometry import intrinsics_from_fov  # noqa: E402
from onlinehmr_ros.nodes.camera_source import CameraSourceNode  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402


def _run_source(context, params, expected, timeout_s=20.0):
    node = CameraSourceNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    sink = rclpy.create_node('sink', context=context)
    images, infos = [], []
    sink.create_subscription(Image, '/camera/image_raw', images.append, qos_profile_sensor_data)
    sink.create_subscription(CameraInfo, '/camera/camera_info', infos.append, qos_profile_sensor_data)
    ex = SingleThreadedExecutor(context=context)
    ex.add_node(node)
    ex.add_node(sink)
    import time
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end and not (node.finished and len(images) >= expected and len(infos) >= expected):
        ex.spin_once(timeout_sec=0.05)
    for _ in range(20):
        ex.spin_once(timeout_sec=0.01)
    ex.shutdown()
    return node, images, infos


def test_video_frames_stamps_and_camera_info(rclpy_context, tiny_video):
    node, images, infos = _run_source(rclpy_context, {
        'input': str(tiny_video), 'rate_mode': 'fixed', 'rate_hz': 100.0, 'stamp_source': 'source',
        'hfov_deg': 90.0, 'frame_id': 'cam_opt'}, expected=12)
    assert node.finished and node.published == 12
    assert len(images) == 12 and len(infos) == 12
    stamps = [convert.stamp_to_ns(m.header.stamp) for m in images]
    np.testing.assert_array_equal(stamps, np.arange(12) * 100_000_000)  # 10 fps video
    assert [convert.stamp_to_ns(m.header.stamp) for m in infos] == stamps
    img = convert.image_to_array(images[5])
    assert images[5].encoding == 'rgb8' and img.shape == (48, 64, 3) and images[5].header.frame_id == 'cam_opt'
    left = img[:, :8].reshape(-1, 3).mean(axis=0)
    assert left[2] > 200 and left[0] < 40, f'channel order wrong: left bar mean RGB {left}'
    assert abs(img[:, 16:].mean() - 100) < 8  # frame 5 has brightness ~100
    np.testing.assert_allclose(np.reshape(infos[0].k, (3, 3)), intrinsics_from_fov(64, 48, 90.0))
    assert (infos[0].width, infos[0].height) == (64, 48)


def test_bgr8_max_frames_and_explicit_intrinsics(rclpy_context, tiny_video):
    node, images, infos = _run_source(rclpy_context, {
        'input': str(tiny_video), 'rate_mode': 'fixed', 'rate_hz': 100.0, 'encoding': 'bgr8', 'max_frames': 4,
        'intrinsics': [50.0, 51.0, 30.0, 20.0]}, expected=4)
    assert node.published == 4 and len(images) == 4
    assert images[0].encoding == 'bgr8'
    left = convert.image_to_array(images[0])[:, :8].reshape(-1, 3).mean(axis=0)
    assert left[0] > 200, 'bgr8 must carry blue first'
    K = np.reshape(infos[0].k, (3, 3))
    assert (K[0, 0], K[1, 1], K[0, 2], K[1, 2]) == (50.0, 51.0, 30.0, 20.0)
    # stamp_source 'now': publication times, increasing, at the fixed rate (100 Hz) give or take scheduling
    stamps = np.array([convert.stamp_to_ns(m.header.stamp) for m in images])
    assert np.all(np.diff(stamps) > 0) and 5e6 < np.median(np.diff(stamps)) < 50e6


def test_image_folder_skips_corrupt_frames(rclpy_context, tmp_path):
    import cv2
    for i in range(4):
        cv2.imwrite(str(tmp_path / f'{i:03d}.png'), np.full((10, 12, 3), 40 * i, np.uint8))
    (tmp_path / '002.png').write_bytes(b'not a png')
    node, images, _ = _run_source(rclpy_context, {'input': str(tmp_path), 'rate_mode': 'fixed', 'rate_hz': 100.0,
                                                  'stamp_source': 'source'}, expected=3)
    assert node.published == 3 and node.source.skipped_frames == 1
    assert [convert.stamp_to_ns(m.header.stamp) for m in images] == [0, 10_000_000, 30_000_000]


@pytest.mark.parametrize('bad_input', ['/nonexistent/video.avi', ''])
def test_missing_input_is_an_error_and_nonzero_exit(bad_input):
    ros_args = ['--ros-args', '-p', f'input:={bad_input}'] if bad_input else []
    proc = subprocess.run([sys.executable, '-m', 'onlinehmr_ros.nodes.camera_source', *ros_args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert 'camera_source: error:' in proc.stderr
    assert ('not found' in proc.stderr) if bad_input else ("'input' is empty" in proc.stderr)
