"""TF helper (PyPI fallback publishes tf2_msgs/TFMessage) and the MCAP recorder."""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from onlinehmr_ros.msg import HumanMesh, HumanMeshArray  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402
from onlinehmr_ros.ros.recording import BagRecorder, RecordingError  # noqa: E402
from onlinehmr_ros.ros.tf import TF_STATIC_QOS, TfBroadcaster  # noqa: E402


def _spin_until(ex, cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.02)


def _tf(child, x, sec):
    t = TransformStamped(child_frame_id=child)
    t.header.frame_id = 'world'
    t.header.stamp.sec = sec
    t.transform.translation.x = x
    t.transform.rotation.w = 1.0
    return t


def test_tf_broadcaster_dynamic_and_static(rclpy_context):
    node = rclpy.create_node('tf_pub', context=rclpy_context)
    listener = rclpy.create_node('tf_sub', context=rclpy_context)
    dyn = TfBroadcaster(node)
    stat = TfBroadcaster(node, static=True)
    stat.send(_tf('a', 1.0, 1))
    stat.send(_tf('b', 2.0, 1))
    got_dyn, got_static = [], []
    listener.create_subscription(TFMessage, '/tf', got_dyn.append, 10)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(listener)
    # a late subscriber to /tf_static still gets the latched transforms, all of them in one message
    listener.create_subscription(TFMessage, '/tf_static', got_static.append, TF_STATIC_QOS)
    _spin_until(ex, lambda: got_static)
    dyn.send([_tf('human_1/pelvis', 3.0, 7)])
    _spin_until(ex, lambda: got_dyn)
    ex.shutdown()
    assert got_dyn and got_dyn[0].transforms[0].child_frame_id == 'human_1/pelvis'
    assert got_dyn[0].transforms[0].header.stamp.sec == 7  # stamp as given, not now()
    assert sorted(t.child_frame_id for t in got_static[-1].transforms) == ['a', 'b']


def test_recorder_writes_mcap_that_reads_back(rclpy_context, tmp_path):
    from rclpy.serialization import deserialize_message
    from rosbags.highlevel import AnyReader
    node = rclpy.create_node('rec', context=rclpy_context)
    pubs = rclpy.create_node('pubs', context=rclpy_context)
    img_pub = pubs.create_publisher(Image, 'image_raw', qos_profile_sensor_data)  # best effort
    hum_pub = pubs.create_publisher(HumanMeshArray, 'humans', 10)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(pubs)
    bag = tmp_path / 'out_bag'
    rec = BagRecorder(node, ['image_raw', '/humans', '/never'], str(bag), poll_period_s=0.05)
    _spin_until(ex, lambda: not [t for t in rec.missing_topics if t != '/never'])
    time.sleep(0.3)
    _spin_until(ex, lambda: False, 0.3)
    for i in range(3):
        img_pub.publish(convert.array_to_image(np.full((4, 5, 3), i, np.uint8), 'rgb8', stamp_ns=i))
        h = HumanMesh(track_id=i, model='open')
        h.joints = np.full(72, i, np.float32)
        hum_pub.publish(HumanMeshArray(humans=[h]))
        _spin_until(ex, lambda: False, 0.1)
    _spin_until(ex, lambda: rec.counts['/humans'] >= 3 and rec.counts['/image_raw'] >= 3)
    rec.close()
    ex.shutdown()
    assert rec.missing_topics == ['/never']
    with AnyReader([bag]) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        assert types == {'/image_raw': 'sensor_msgs/msg/Image', '/humans': 'onlinehmr_ros/msg/HumanMeshArray'}
        humans = [deserialize_message(raw, HumanMeshArray) for c, _, raw in reader.messages()
                  if c.topic == '/humans']
        images = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages() if c.topic == '/image_raw']
    assert [m.humans[0].track_id for m in humans] == [0, 1, 2]
    np.testing.assert_array_equal(humans[2].humans[0].joints, np.full(72, 2, np.float32))
    assert [int(m.data[0]) for m in images] == [0, 1, 2]
    with pytest.raises(RecordingError, match='already exists'):
        BagRecorder(node, ['/humans'], str(bag))


def test_tf2_msgs_type_hash_matches_the_distro():
    """Our TFMessage (built from its one-line definition when no distro provides it) has the
    distro's type hash, so /tf interoperates. rosbags' Kilted typestore carries the distro's
    own definitions and computes RIHS01 independently of rosidl."""
    import json
    import pathlib

    from ament_index_python.packages import get_package_share_directory
    from rosbags.typesys import Stores, get_typestore
    share = pathlib.Path(get_package_share_directory('tf2_msgs'))
    built = json.loads((share / 'msg' / 'TFMessage.json').read_text())
    ours = {h['type_name']: h['hash_string'] for h in built['type_hashes']}['tf2_msgs/msg/TFMessage']
    assert ours == get_typestore(Stores.ROS2_KILTED).hash_rihs01('tf2_msgs/msg/TFMessage')


def test_compressed_recording_keeps_images_and_masks_readable(rclpy_context, tmp_path):
    """A bag a user can keep: colour images as JPEG and soft masks as lossless PNG mono8 on
    <topic>/compressed (image_transport's names), other encodings raw, zstd chunks."""
    import cv2
    from rosbags.highlevel import AnyReader
    from sensor_msgs.msg import CompressedImage
    node = rclpy.create_node('rec_c', context=rclpy_context)
    pubs = rclpy.create_node('pubs_c', context=rclpy_context)
    img_pub = pubs.create_publisher(Image, 'image_raw', qos_profile_sensor_data)
    mask_pub = pubs.create_publisher(Image, 'soft_mask', qos_profile_sensor_data)
    depth_pub = pubs.create_publisher(Image, 'depth', 10)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(pubs)
    bag = tmp_path / 'small_bag'
    rec = BagRecorder(node, ['image_raw', 'soft_mask', 'depth'], str(bag), poll_period_s=0.05,
                      compress_images='jpeg', jpeg_quality=90, zstd=True)
    _spin_until(ex, lambda: not rec.missing_topics)
    _spin_until(ex, lambda: False, 0.3)
    yy, xx = np.mgrid[0:48, 0:64]
    rgb = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)        # smooth: JPEG-friendly
    mask = np.clip((xx - 20) / 24.0, 0.0, 1.0).astype(np.float32)                     # a soft edge
    mask[0, 0], mask[0, 1] = 1.7, -0.2                                                 # out of range: clipped
    depth = (yy * 100 + xx).astype(np.uint16)
    img_pub.publish(convert.array_to_image(rgb, 'rgb8', stamp_ns=5))
    mask_pub.publish(convert.array_to_image(mask, '32FC1', stamp_ns=5))
    depth_msg = Image(encoding='16UC1', height=48, width=64, step=128)
    depth_msg.data = depth.tobytes()
    depth_pub.publish(depth_msg)
    _spin_until(ex, lambda: min(rec.counts.values()) >= 1)
    rec.close()
    ex.shutdown()
    assert rec.counts == {'/image_raw': 1, '/soft_mask': 1, '/depth': 1}
    with AnyReader([bag]) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        msgs = {c.topic: reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()}
    assert types == {'/image_raw/compressed': 'sensor_msgs/msg/CompressedImage',
                     '/soft_mask/compressed': 'sensor_msgs/msg/CompressedImage', '/depth': 'sensor_msgs/msg/Image'}
    img, m = msgs['/image_raw/compressed'], msgs['/soft_mask/compressed']
    assert img.format == 'rgb8; jpeg compressed bgr8' and m.format.startswith('mono8; png compressed')
    assert img.header.stamp.nanosec == 5 and m.header.stamp.nanosec == 5
    back = convert.compressed_to_rgb(CompressedImage(format=img.format, data=bytes(img.data)))
    assert np.abs(back.astype(int) - rgb).mean() < 3.0                                  # colours kept (RGB order)
    mono = cv2.imdecode(np.frombuffer(bytes(m.data), np.uint8), cv2.IMREAD_UNCHANGED)
    expect = np.rint(np.clip(mask, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(mono, expect)                                       # lossless to 1/255
    np.testing.assert_array_equal(np.frombuffer(bytes(msgs['/depth'].data), np.uint16).reshape(48, 64), depth)
    assert b'zstd' in next(bag.glob('*.mcap')).read_bytes()                           # compressed chunks


def test_unknown_codec_is_refused(rclpy_context, tmp_path):
    node = rclpy.create_node('rec_bad', context=rclpy_context)
    with pytest.raises(RecordingError, match="unknown image codec 'webp'"):
        BagRecorder(node, ['/x'], str(tmp_path / 'b'), compress_images='webp')
    assert not (tmp_path / 'b').exists()


@pytest.fixture(scope='module')
def hmr_frames(megamind_frames):
    """(open body model, [(Frame, HumansFrame)]): the HMR's camera people on the first frames of Megamind.avi."""
    from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig
    frames = megamind_frames(7)
    with CameraHMR(HMRConfig()) as hmr:
        return hmr.body_model, [(f, hmr.process(f).humans) for f in frames]


def test_meshes_as_parameters_render_like_recorded_meshes(rclpy_context, tmp_path, hmr_frames):
    """A bag recorded with meshes_as_parameters has no vertices on camera_humans (the rest as published), yet
    render-bag draws the same overlay as from the bag recorded with them: it poses the people from their
    parameters with the body model named on /human/body_model, size_factor included."""
    import cv2
    from dataclasses import replace
    from rclpy.serialization import deserialize_message
    from rosbags.highlevel import AnyReader
    from sensor_msgs.msg import CameraInfo

    from onlinehmr_ros.msg import BodyModelInfo
    from onlinehmr_ros.ros.bag_render import render_bag
    from onlinehmr_ros.ros.qos import LATCHED_QOS
    model, frames = hmr_frames
    # one person at 1.2 times their fitted size: the vertices scaled about the pelvis, as the fusion does
    f_scaled, humans = frames[-1]
    h = humans.humans[0]
    big = replace(h, size_factor=1.2, vertices=(h.joints[0] + 1.2 * (h.vertices - h.joints[0])).astype(np.float32))
    frames[-1] = (f_scaled, replace(humans, humans=(big, *humans.humans[1:])))
    assert sum(len(hf.humans) for _, hf in frames) >= 3

    node = rclpy.create_node('rec_p', context=rclpy_context)
    pubs = rclpy.create_node('pubs_p', context=rclpy_context)
    topics = ['/camera/image_raw', '/camera/camera_info', '/human/camera_humans', '/human/body_model']
    img_pub = pubs.create_publisher(Image, topics[0], 10)
    info_pub = pubs.create_publisher(CameraInfo, topics[1], 10)
    hum_pub = pubs.create_publisher(HumanMeshArray, topics[2], 10)
    model_pub = pubs.create_publisher(BodyModelInfo, topics[3], LATCHED_QOS)
    model_pub.publish(convert.body_model_info_msg(model.name, model.faces, model.num_vertices, model.joint_names,
                                                  model.joint_parents))
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    ex.add_node(pubs)
    with_meshes = BagRecorder(node, topics, str(tmp_path / 'meshes'), poll_period_s=0.05)
    as_params = BagRecorder(node, topics, str(tmp_path / 'params'), poll_period_s=0.05, meshes_as_parameters=True)
    _spin_until(ex, lambda: not with_meshes.missing_topics and not as_params.missing_topics)
    _spin_until(ex, lambda: False, 0.3)
    for frame, humans in frames:
        img_pub.publish(convert.array_to_image(frame.image_rgb, 'rgb8', stamp_ns=frame.stamp_ns))
        info_pub.publish(convert.intrinsics_to_camera_info(frame.intrinsics, frame.stamp_ns))
        hum_pub.publish(convert.humans_to_msg(humans, [np.array([0, 0, 0, 1.0])] * len(humans.humans)))
        _spin_until(ex, lambda: False, 0.05)
    n = len(frames)
    _spin_until(ex, lambda: all(r.counts['/human/camera_humans'] == n and r.counts['/camera/image_raw'] == n
                                for r in (with_meshes, as_params)), 10.0)
    with_meshes.close()
    as_params.close()
    ex.shutdown()
    assert as_params.counts == with_meshes.counts == {topics[0]: n, topics[1]: n, topics[2]: n, topics[3]: 1}

    def recorded(bag):
        with AnyReader([bag]) as reader:
            return [deserialize_message(raw, HumanMeshArray) for c, _, raw in reader.messages()
                    if c.topic == '/human/camera_humans']
    kept, dropped = recorded(tmp_path / 'meshes'), recorded(tmp_path / 'params')
    people = [(a, b) for ma, mb in zip(kept, dropped) for a, b in zip(ma.humans, mb.humans)]
    assert len(people) == sum(len(hf.humans) for _, hf in frames)
    for a, b in people:
        assert len(a.vertices) == 3 * model.num_vertices and len(b.vertices) == 0
        b.vertices = a.vertices
        assert a == b                                        # every other field as published
    # the same pictures from both bags, and they show the meshes
    counts = {}
    for name in ('meshes', 'params'):
        counts[name] = render_bag(str(tmp_path / name), str(tmp_path / f'render_{name}'))
    assert counts['params'] == counts['meshes'] and counts['params']['overlaid'] >= 3

    def video(name):
        cap, out = cv2.VideoCapture(str(tmp_path / f'render_{name}' / 'overlay.mp4')), []
        ok, img = cap.read()
        while ok:
            out.append(img.astype(np.int16))
            ok, img = cap.read()
        return np.array(out)
    a, b = video('meshes'), video('params')
    assert a.shape == b.shape and a.shape[0] == n
    assert np.abs(a - b).max() <= 2, f'the overlays differ by up to {np.abs(a - b).max()}'
    plain = np.array([f.image_rgb[:, :, ::-1] for f, _ in frames], np.int16)     # drawn meshes change the pictures
    assert np.abs(b[-1] - plain[-1]).mean() > 3 * np.abs(b[0] - plain[0]).mean() + 1.0, 'no mesh drawn'
    pa, pb = (cv2.imread(str(tmp_path / f'render_{name}' / 'overlay_frame.png')).astype(np.int16)
              for name in ('meshes', 'params'))
    assert np.abs(pa - pb).max() <= 2


@pytest.mark.parametrize('model, num_vertices, expect', [
    ('smpl', 6890, "body model 'smpl' cannot be shipped: pass the folder of your SMPL model files with "
                   '--body-model-path'),
    ('open', 6890, "the 'open' body model loaded from the package has 13718 vertices, the bag's "
                   '/human/body_model 6890'),
])
def test_render_bag_says_what_it_needs_to_pose_people_without_vertices(tmp_path, model, num_vertices, expect):
    """People recorded without vertices by SMPL (which the package cannot ship) need --body-model-path; a model
    that does not match the bag's vertex count is refused; the CLI reports either in one line."""
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer

    from onlinehmr_ros.cli import main
    from onlinehmr_ros.core.common.datatypes import HumansFrame, HumanState
    from onlinehmr_ros.ros.bag_render import BagRenderError, render_bag
    from onlinehmr_ros.ros.recording import _typestore_with_package_types
    z = np.zeros
    person = HumanState(1, model, z(10), z(3), z(69), np.array([0, 0, 3.0]), z((24, 3)), np.ones(24),
                        z((0, 3)), z((17, 3)))
    msgs = [('/camera/image_raw', 'sensor_msgs/msg/Image', convert.array_to_image(z((48, 64, 3), np.uint8), 'rgb8')),
            ('/human/camera_humans', 'onlinehmr_ros/msg/HumanMeshArray',
             convert.humans_to_msg(HumansFrame(0, 'camera', (person,)), [np.array([0, 0, 0, 1.0])])),
            ('/human/body_model', 'onlinehmr_ros/msg/BodyModelInfo',
             convert.body_model_info_msg(model, np.array([[0, 1, 2]]), num_vertices, [], []))]
    store = _typestore_with_package_types()
    bag = tmp_path / 'bag'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        for topic, type_name, msg in msgs:
            w.write(w.add_connection(topic, type_name, typestore=store), 1, serialize_message(msg))
    with pytest.raises(BagRenderError, match=expect):
        render_bag(str(bag), str(tmp_path / 'out'))
    assert main(['render-bag', str(bag), '--out', str(tmp_path / 'out')]) == 1
