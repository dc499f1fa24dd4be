"""Image sources: video, rosbag2 (MCAP and sqlite3) and intrinsics resolution."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.geometry import intrinsics_from_fov
from onlinehmr_ros.core.io import sources


def _write_bag(path, storage, n=5, with_info=True, topic='/cam/image_raw'):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_KILTED)
    Image = ts.types['sensor_msgs/msg/Image']
    Info = ts.types['sensor_msgs/msg/CameraInfo']
    Header = ts.types['std_msgs/msg/Header']
    Time = ts.types['builtin_interfaces/msg/Time']
    RoI = ts.types['sensor_msgs/msg/RegionOfInterest']
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c_img = w.add_connection(topic, Image.__msgtype__, typestore=ts)
        c_info = w.add_connection('/cam/camera_info', Info.__msgtype__, typestore=ts) if with_info else None
        for i in range(n):
            hdr = Header(stamp=Time(sec=100 + i, nanosec=5), frame_id='cam')
            img = np.zeros((6, 8, 3), np.uint8)
            img[..., 2] = 10 * i  # bgr8: red channel
            if c_info is not None:
                K = np.array([400.0, 0, 4, 0, 400, 3, 0, 0, 1])
                info = Info(header=hdr, height=6, width=8, distortion_model='plumb_bob', d=np.zeros(5), k=K,
                            r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0, binning_y=0,
                            roi=RoI(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
                w.write(c_info, (100 + i) * 10**9, ts.serialize_cdr(info, Info.__msgtype__))
            msg = Image(header=hdr, height=6, width=8, encoding='bgr8', is_bigendian=0, step=24, data=img.ravel())
            w.write(c_img, (100 + i) * 10**9 + 1, ts.serialize_cdr(msg, Image.__msgtype__))


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_bag_source(tmp_path, storage):
    bag = tmp_path / 'bag'
    _write_bag(bag, storage)
    src = sources.open_source(str(bag))
    assert src.image_topic == '/cam/image_raw' and src.frame_count == 5
    frames = list(src)
    assert [f.stamp_ns for f in frames] == [(100 + i) * 10**9 + 5 for i in range(5)]
    assert [int(f.image_rgb[0, 0, 0]) for f in frames] == [0, 10, 20, 30, 40]  # red first after bgr8->rgb
    assert frames[-1].intrinsics is not None and frames[-1].intrinsics.fx == 400.0


def test_bag_without_image_topic_is_a_clear_error(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_KILTED)
    bag = tmp_path / 'noimg'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection('/chatter', 'std_msgs/msg/String', typestore=ts)
        w.write(c, 1, ts.serialize_cdr(ts.types['std_msgs/msg/String'](data='hi'), 'std_msgs/msg/String'))
    with pytest.raises(sources.SourceError, match='no sensor_msgs/msg/Image topic'):
        sources.open_source(str(bag))
    _write_bag(tmp_path / 'img', 'mcap')
    with pytest.raises(sources.SourceError, match="no sensor_msgs/msg/Image topic '/other'"):
        sources.open_source(str(tmp_path / 'img'), image_topic='/other')


def test_video_source(tiny_video):
    src = sources.open_source(str(tiny_video))
    frames = list(src)
    assert len(frames) == 12 and src.fps == pytest.approx(10.0) and src.skipped_frames == 0
    assert frames[3].stamp_ns == 300_000_000 and frames[3].image_rgb.shape == (48, 64, 3)


def test_missing_inputs_raise():
    with pytest.raises(sources.SourceError, match='input not found'):
        sources.open_source('/no/such/file.mp4')
    with pytest.raises(sources.SourceError, match='camera_info YAML not found'):
        sources.load_camera_info_yaml('/no/such.yaml')


def test_resolve_intrinsics(tmp_path):
    y = tmp_path / 'cam.yaml'
    y.write_text('image_width: 8\nimage_height: 6\ncamera_matrix: {rows: 3, cols: 3, data: [5, 0, 4, 0, 6, 3, 0, 0, 1]}\n')
    assert sources.resolve_intrinsics(8, 6, str(y)).fy == 6.0
    with pytest.raises(sources.SourceError, match='is for 8x6 images'):
        sources.resolve_intrinsics(16, 12, str(y))
    assert sources.resolve_intrinsics(8, 6, fx_fy_cx_cy=(1, 2, 3, 4)).cy == 4
    np.testing.assert_allclose(sources.resolve_intrinsics(640, 480, hfov_deg=70).K, intrinsics_from_fov(640, 480, 70))
    y.write_text('foo: 1\n')
    with pytest.raises(sources.SourceError, match='not a ROS camera_info YAML'):
        sources.load_camera_info_yaml(str(y))


def test_intrinsics_policy_prefers_the_frames_own_then_yaml_then_values_then_fov(tmp_path):
    from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
    img = np.zeros((6, 8, 3), np.uint8)
    own = CameraIntrinsics(np.array([[9.0, 0, 4], [0, 9.0, 3], [0, 0, 1]]), 8, 6)
    policy = sources.IntrinsicsPolicy(fx_fy_cx_cy=(1, 2, 3, 4), hfov_deg=70)
    assert policy.for_frame(sources.SourceFrame(img, 0, 0)).fx == 1           # values before the fov
    assert policy.for_frame(sources.SourceFrame(img, 1, 1, own)) is own       # a bag's CameraInfo wins
    assert policy.for_frame(sources.SourceFrame(img, 2, 2)) is own            # and is kept for later frames
    big = np.zeros((12, 16, 3), np.uint8)                                     # a new size: resolved again
    assert policy.for_frame(sources.SourceFrame(big, 3, 3)).width_px == 16
    y = tmp_path / 'cam.yaml'
    y.write_text('image_width: 8\nimage_height: 6\ncamera_matrix: {rows: 3, cols: 3, data: [5, 0, 4, 0, 6, 3, 0, 0, 1]}\n')
    assert sources.IntrinsicsPolicy(str(y), (1, 2, 3, 4)).for_frame(sources.SourceFrame(img, 0, 0)).fy == 6.0
    fov = sources.IntrinsicsPolicy(hfov_deg=70).for_frame(sources.SourceFrame(img, 0, 0))
    np.testing.assert_allclose(fov.K, intrinsics_from_fov(8, 6, 70))


def test_lockstep_gate_keeps_depth_frames_in_flight_and_gives_up_after_the_timeout():
    gate = sources.LockstepGate(depth=2, timeout_s=1.0)
    assert gate.ready(0.0)
    gate.sent(100, 0.0)
    assert gate.ready(0.1)
    gate.sent(200, 0.1)
    assert not gate.ready(0.2)                     # two in flight
    gate.acknowledge(100)                          # the result of frame 100
    assert gate.ready(0.3) and gate.in_flight == 1
    gate.sent(300, 0.3)
    gate.acknowledge(300)                          # results come in stamp order: 200 is done too
    assert gate.in_flight == 0
    gate.sent(400, 1.0)
    gate.sent(500, 1.0)
    assert not gate.ready(1.5)
    assert gate.ready(2.1) and gate.timed_out == 2  # never acknowledged: given up, the stream goes on
