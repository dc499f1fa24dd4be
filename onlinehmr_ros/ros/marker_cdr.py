"""Fast CDR (de)serialisation of visualization_msgs/Marker and MarkerArray with numpy.

rclpy builds one Python ``geometry_msgs/Point`` object per vertex: a body-mesh
TRIANGLE_LIST (SMPL: 41,328 points) costs ~22 ms to serialise and ~61 ms to
deserialise. This module writes and reads the same CDR bytes directly from and
into numpy arrays, so a publisher can call ``publisher.publish(encoded_bytes)``
and a subscriber created with ``raw=True`` can decode the bytes it receives.

Wire format (OMG XCDR1, little endian, as rmw_fastrtps writes ROS 2 messages):
a 4-byte encapsulation header ``00 01 00 00``; then every primitive aligned to
its own size (at most 8) counted from the end of the header; strings as a
uint32 length including the terminating NUL, the bytes, the NUL; sequences as
a uint32 element count then the elements.

Padding: rclpy/Fast-CDR leave alignment padding bytes uninitialised (their
value differs between processes), so byte-for-byte comparison is only
meaningful outside padding. This encoder writes zeros there and reports the
padding positions (``encode_*(..., return_padding_mask=True)``) so tests can
compare every other byte with ``rclpy.serialization.serialize_message``.

The field order is that of visualization_msgs/msg/Marker in ROS 2 Jazzy and
Kilted (header, ns, id, type, action, pose, scale, color, lifetime,
frame_locked, points, colors, texture_resource, texture, uv_coordinates, text,
mesh_resource, mesh_file, mesh_use_embedded_materials).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

_ENCAPSULATION_CDR_LE = b'\x00\x01\x00\x00'
_HEADER_SIZE = 4


class MarkerCdrError(ValueError):
    """Bytes that are not a valid CDR Marker/MarkerArray, or invalid marker data."""


# Marker type and action constants (visualization_msgs/msg/Marker).
ARROW, CUBE, SPHERE, CYLINDER, LINE_STRIP, LINE_LIST, CUBE_LIST, SPHERE_LIST, POINTS, \
    TEXT_VIEW_FACING, MESH_RESOURCE, TRIANGLE_LIST, ARROW_STRIP = range(13)
ADD, MODIFY, DELETE, DELETEALL = 0, 0, 2, 3


@dataclass
class MarkerData:
    """A visualization_msgs/Marker as numpy arrays (the fields this project uses).

    ``texture`` and ``mesh_file`` are always encoded empty; everything else of
    the message is represented.
    """

    frame_id: str = ''
    stamp_sec: int = 0
    stamp_nanosec: int = 0
    ns: str = ''
    id: int = 0
    type: int = TRIANGLE_LIST
    action: int = ADD
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))          # (3,) metres
    orientation_xyzw: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))
    scale: np.ndarray = field(default_factory=lambda: np.ones(3))              # (3,)
    color_rgba: np.ndarray = field(default_factory=lambda: np.ones(4, np.float32))  # (4,) in [0, 1]
    lifetime_sec: int = 0
    lifetime_nanosec: int = 0
    frame_locked: bool = False
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))       # (N, 3) float64
    colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # (0|N, 4) float32
    texture_resource: str = ''
    uv_coordinates: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))  # (M, 2)
    text: str = ''
    mesh_resource: str = ''
    mesh_use_embedded_materials: bool = False


class _Writer:
    """Appends CDR primitives to a list of byte chunks, tracking the offset and padding."""

    def __init__(self, track_padding: bool):
        self.chunks: list[bytes] = [_ENCAPSULATION_CDR_LE]
        self.offset = 0                        # relative to the end of the header
        self.padding: list[tuple[int, int]] | None = [] if track_padding else None

    def align(self, n: int) -> None:
        pad = (-self.offset) % n
        if pad:
            if self.padding is not None:
                self.padding.append((_HEADER_SIZE + self.offset, pad))
            self.chunks.append(b'\x00' * pad)
            self.offset += pad

    def raw(self, data: bytes, alignment: int) -> None:
        self.align(alignment)
        self.chunks.append(data)
        self.offset += len(data)

    def pack(self, fmt: str, alignment: int, *values) -> None:
        self.raw(struct.pack('<' + fmt, *values), alignment)

    def string(self, s: str) -> None:
        data = s.encode('utf-8')
        self.pack('I', 4, len(data) + 1)
        self.chunks.append(data + b'\x00')
        self.offset += len(data) + 1

    def array(self, a: np.ndarray, dtype: str, alignment: int) -> None:
        """A sequence: uint32 count of rows, then the rows' packed values."""
        self.pack('I', 4, a.shape[0])
        if a.shape[0]:
            self.raw(np.ascontiguousarray(a, dtype=dtype).tobytes(), alignment)


def _check_marker(m: MarkerData) -> None:
    pts = np.asarray(m.points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise MarkerCdrError(f'points must be (N, 3), got {pts.shape}')
    cols = np.asarray(m.colors)
    if cols.ndim != 2 or cols.shape[1] != 4 or cols.shape[0] not in (0, pts.shape[0]):
        raise MarkerCdrError(f'colors must be empty or ({pts.shape[0]}, 4), got {cols.shape}')
    uv = np.asarray(m.uv_coordinates)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise MarkerCdrError(f'uv_coordinates must be (M, 2), got {uv.shape}')


def _write_marker(w: _Writer, m: MarkerData) -> None:
    _check_marker(m)
    # std_msgs/Header
    w.pack('iI', 4, int(m.stamp_sec), int(m.stamp_nanosec))
    w.string(m.frame_id)
    w.string(m.ns)
    w.pack('iii', 4, int(m.id), int(m.type), int(m.action))
    # geometry_msgs/Pose, Vector3 scale: float64
    w.pack('7d', 8, *np.asarray(m.position, np.float64).reshape(3),
           *np.asarray(m.orientation_xyzw, np.float64).reshape(4))
    w.pack('3d', 8, *np.asarray(m.scale, np.float64).reshape(3))
    w.pack('4f', 4, *np.asarray(m.color_rgba, np.float32).reshape(4))
    w.pack('iI', 4, int(m.lifetime_sec), int(m.lifetime_nanosec))
    w.pack('?', 1, bool(m.frame_locked))
    w.array(np.asarray(m.points), '<f8', 8)
    w.array(np.asarray(m.colors), '<f4', 4)
    w.string(m.texture_resource)
    # sensor_msgs/CompressedImage texture (empty): header, format, data[]
    w.pack('iI', 4, 0, 0)
    w.string('')
    w.string('')
    w.pack('I', 4, 0)
    w.array(np.asarray(m.uv_coordinates), '<f4', 4)
    w.string(m.text)
    w.string(m.mesh_resource)
    # visualization_msgs/MeshFile mesh_file (empty): filename, data[]
    w.string('')
    w.pack('I', 4, 0)
    w.pack('?', 1, bool(m.mesh_use_embedded_materials))


def _finish(w: _Writer, return_padding_mask: bool):
    data = b''.join(w.chunks)
    if not return_padding_mask:
        return data
    mask = np.zeros(len(data), dtype=bool)
    for start, n in w.padding:
        mask[start:start + n] = True
    return data, mask


def encode_marker(marker: MarkerData, return_padding_mask: bool = False):
    """Serialise one Marker to CDR bytes (what ``serialize_message`` returns).

    Returns:
        bytes, or (bytes, (len,) bool array marking padding bytes) if requested.
    Raises:
        MarkerCdrError: points/colors/uv arrays of the wrong shape.
    """
    w = _Writer(return_padding_mask)
    _write_marker(w, marker)
    return _finish(w, return_padding_mask)


def encode_marker_array(markers: list[MarkerData], return_padding_mask: bool = False):
    """Serialise a visualization_msgs/MarkerArray; see :func:`encode_marker`."""
    w = _Writer(return_padding_mask)
    w.pack('I', 4, len(markers))
    for m in markers:
        _write_marker(w, m)
    return _finish(w, return_padding_mask)


class _Reader:
    def __init__(self, data: bytes):
        if len(data) < _HEADER_SIZE or data[:2] != b'\x00\x01':
            raise MarkerCdrError('not little-endian CDR data (encapsulation header is not 00 01)')
        self.buf = memoryview(data)
        self.pos = _HEADER_SIZE

    def align(self, n: int) -> None:
        self.pos += (-(self.pos - _HEADER_SIZE)) % n

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.buf):
            raise MarkerCdrError(f'truncated CDR data: need {n} bytes at offset {self.pos}, have {len(self.buf)}')
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, alignment: int):
        self.align(alignment)
        return struct.unpack('<' + fmt, self.take(struct.calcsize('<' + fmt)))

    def string(self) -> str:
        (n,) = self.unpack('I', 4)
        if n == 0:
            return ''
        return bytes(self.take(n)[:-1]).decode('utf-8')

    def array(self, dtype: str, width: int, alignment: int) -> np.ndarray:
        (count,) = self.unpack('I', 4)
        if count == 0:
            return np.zeros((0, width), dtype=np.dtype(dtype))
        self.align(alignment)
        nbytes = count * width * np.dtype(dtype).itemsize
        return np.frombuffer(self.take(nbytes), dtype=dtype).reshape(count, width).copy()

    def skip_bytes_sequence(self) -> None:
        (n,) = self.unpack('I', 4)
        self.take(n)


def _read_marker(r: _Reader) -> MarkerData:
    m = MarkerData()
    m.stamp_sec, m.stamp_nanosec = r.unpack('iI', 4)
    m.frame_id = r.string()
    m.ns = r.string()
    m.id, m.type, m.action = r.unpack('iii', 4)
    pose = r.unpack('7d', 8)
    m.position = np.array(pose[:3])
    m.orientation_xyzw = np.array(pose[3:])
    m.scale = np.array(r.unpack('3d', 8))
    m.color_rgba = np.array(r.unpack('4f', 4), np.float32)
    m.lifetime_sec, m.lifetime_nanosec = r.unpack('iI', 4)
    (m.frame_locked,) = r.unpack('?', 1)
    m.points = r.array('<f8', 3, 8)
    m.colors = r.array('<f4', 4, 4)
    m.texture_resource = r.string()
    r.unpack('iI', 4)
    r.string()
    r.string()
    r.skip_bytes_sequence()
    m.uv_coordinates = r.array('<f4', 2, 4)
    m.text = r.string()
    m.mesh_resource = r.string()
    r.string()
    r.skip_bytes_sequence()
    (m.mesh_use_embedded_materials,) = r.unpack('?', 1)
    return m


def decode_marker(data: bytes) -> MarkerData:
    """Parse CDR bytes of one Marker (e.g. from a ``raw=True`` subscription).

    Raises:
        MarkerCdrError: not CDR little endian, or truncated.
    """
    return _read_marker(_Reader(data))


def decode_marker_array(data: bytes) -> list[MarkerData]:
    """Parse CDR bytes of a MarkerArray into a list of :class:`MarkerData`."""
    r = _Reader(data)
    (count,) = r.unpack('I', 4)
    return [_read_marker(r) for _ in range(count)]
