"""The numpy Marker encoder must produce the bytes rclpy produces (outside padding)."""
import numpy as np
import pytest

rclpy_serialization = pytest.importorskip('rclpy.serialization')
from builtin_interfaces.msg import Duration  # noqa: E402
from geometry_msgs.msg import Point  # noqa: E402
from std_msgs.msg import ColorRGBA  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray, UVCoordinate  # noqa: E402

from onlinehmr_ros.ros import marker_cdr  # noqa: E402


def _random_marker_data(rng, n_points, with_colors, with_uv=False):
    words = ['', 'a', 'world', 'human_7', 'çà', 'x' * 13]
    return marker_cdr.MarkerData(
        frame_id=str(rng.choice(words)), stamp_sec=int(rng.integers(-2**31, 2**31)),
        stamp_nanosec=int(rng.integers(0, 10**9)), ns=str(rng.choice(words)),
        id=int(rng.integers(-1000, 1000)), type=int(rng.integers(0, 13)), action=int(rng.integers(0, 4)),
        position=rng.normal(size=3), orientation_xyzw=rng.normal(size=4), scale=rng.normal(size=3),
        color_rgba=rng.random(4).astype(np.float32), lifetime_sec=int(rng.integers(0, 100)),
        lifetime_nanosec=int(rng.integers(0, 10**9)), frame_locked=bool(rng.integers(0, 2)),
        points=rng.normal(size=(n_points, 3)),
        colors=rng.random((n_points if with_colors else 0, 4)).astype(np.float32),
        texture_resource=str(rng.choice(words)),
        uv_coordinates=rng.random((int(rng.integers(1, 5)) if with_uv else 0, 2)).astype(np.float32),
        text=str(rng.choice(words)), mesh_resource=str(rng.choice(words)),
        mesh_use_embedded_materials=bool(rng.integers(0, 2)))


def _to_msg(d: marker_cdr.MarkerData) -> Marker:
    m = Marker()
    m.header.frame_id = d.frame_id
    m.header.stamp.sec, m.header.stamp.nanosec = d.stamp_sec, d.stamp_nanosec
    m.ns, m.id, m.type, m.action = d.ns, d.id, d.type, d.action
    m.pose.position.x, m.pose.position.y, m.pose.position.z = map(float, d.position)
    o = m.pose.orientation
    o.x, o.y, o.z, o.w = map(float, d.orientation_xyzw)
    m.scale.x, m.scale.y, m.scale.z = map(float, d.scale)
    m.color = ColorRGBA(r=float(d.color_rgba[0]), g=float(d.color_rgba[1]),
                        b=float(d.color_rgba[2]), a=float(d.color_rgba[3]))
    m.lifetime = Duration(sec=d.lifetime_sec, nanosec=d.lifetime_nanosec)
    m.frame_locked = d.frame_locked
    m.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in d.points]
    m.colors = [ColorRGBA(r=float(c[0]), g=float(c[1]), b=float(c[2]), a=float(c[3])) for c in d.colors]
    m.texture_resource = d.texture_resource
    m.uv_coordinates = [UVCoordinate(u=float(u), v=float(v)) for u, v in d.uv_coordinates]
    m.text, m.mesh_resource = d.text, d.mesh_resource
    m.mesh_use_embedded_materials = d.mesh_use_embedded_materials
    return m


def _assert_same_bytes(ours: bytes, padding: np.ndarray, theirs: bytes):
    assert len(ours) == len(theirs), f'length {len(ours)} != rclpy {len(theirs)}'
    a = np.frombuffer(ours, np.uint8)
    b = np.frombuffer(theirs, np.uint8)
    differ = np.flatnonzero((a != b) & ~padding)
    assert differ.size == 0, f'{differ.size} non-padding bytes differ, first at {differ[:5]}'
    assert not np.any(a[padding]), 'our padding bytes must be zero'


@pytest.mark.parametrize('n_points', [0, 1, 2, 3, 7, 300])
@pytest.mark.parametrize('with_colors', [False, True])
def test_marker_bytes_equal_rclpy(n_points, with_colors):
    rng = np.random.default_rng(1000 * n_points + with_colors)
    for _ in range(5):
        d = _random_marker_data(rng, n_points, with_colors, with_uv=bool(rng.integers(0, 2)))
        ours, padding = marker_cdr.encode_marker(d, return_padding_mask=True)
        theirs = rclpy_serialization.serialize_message(_to_msg(d))
        _assert_same_bytes(ours, padding, theirs)
        back = rclpy_serialization.deserialize_message(ours, Marker)
        assert back == _to_msg(d)


def test_marker_array_bytes_equal_rclpy():
    rng = np.random.default_rng(7)
    for n in [0, 1, 3]:
        datas = [_random_marker_data(rng, int(rng.integers(0, 50)), bool(rng.integers(0, 2))) for _ in range(n)]
        ours, padding = marker_cdr.encode_marker_array(datas, return_padding_mask=True)
        theirs = rclpy_serialization.serialize_message(MarkerArray(markers=[_to_msg(d) for d in datas]))
        _assert_same_bytes(ours, padding, theirs)


def test_decoder_round_trip_rclpy_bytes():
    rng = np.random.default_rng(3)
    datas = [_random_marker_data(rng, 41, True, with_uv=True), _random_marker_data(rng, 9, False)]
    theirs = rclpy_serialization.serialize_message(MarkerArray(markers=[_to_msg(d) for d in datas]))
    decoded = marker_cdr.decode_marker_array(theirs)
    assert len(decoded) == 2
    for d, e in zip(datas, decoded):
        np.testing.assert_array_equal(e.points, d.points)
        np.testing.assert_array_equal(e.colors, d.colors)
        np.testing.assert_array_equal(e.uv_coordinates, d.uv_coordinates)
        np.testing.assert_array_equal(e.orientation_xyzw, d.orientation_xyzw)
        np.testing.assert_array_equal(e.color_rgba, d.color_rgba)
        assert (e.frame_id, e.ns, e.id, e.type, e.action, e.text, e.mesh_resource, e.frame_locked) == \
               (d.frame_id, d.ns, d.id, d.type, d.action, d.text, d.mesh_resource, d.frame_locked)
        assert (e.stamp_sec, e.stamp_nanosec, e.lifetime_sec, e.lifetime_nanosec) == \
               (d.stamp_sec, d.stamp_nanosec, d.lifetime_sec, d.lifetime_nanosec)
    single = marker_cdr.decode_marker(marker_cdr.encode_marker(datas[0]))
    np.testing.assert_array_equal(single.points, datas[0].points)


def test_bad_inputs_raise():
    with pytest.raises(marker_cdr.MarkerCdrError, match='points'):
        marker_cdr.encode_marker(marker_cdr.MarkerData(points=np.zeros((4, 2))))
    with pytest.raises(marker_cdr.MarkerCdrError, match='colors'):
        marker_cdr.encode_marker(marker_cdr.MarkerData(points=np.zeros((4, 3)), colors=np.zeros((3, 4))))
    with pytest.raises(marker_cdr.MarkerCdrError, match='encapsulation'):
        marker_cdr.decode_marker(b'\x00\x00\x00\x00')
    good = marker_cdr.encode_marker(marker_cdr.MarkerData(points=np.zeros((6, 3))))
    with pytest.raises(marker_cdr.MarkerCdrError, match='truncated'):
        marker_cdr.decode_marker(good[:60])
