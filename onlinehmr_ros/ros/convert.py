"""Stateless conversions between ROS messages and the core's numpy types.

In the spirit of cv_bridge: one module, explicit encodings, its own error
type, round-trip tests that need no running graph (test/test_convert.py).
"""
from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, Transform, TransformStamped
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, CameraPose, HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import (make_transform, quat_wxyz_from_rotmat, quat_wxyz_to_xyzw,
                                                quat_xyzw_to_wxyz, rotmat_from_quat_wxyz)
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.input_checks import intrinsics_from_calibration
from onlinehmr_ros.core.io import images
from onlinehmr_ros.msg import BodyModelInfo, CameraPoseState, HumanMesh, HumanMeshArray


class ConversionError(ValueError):
    """A message that cannot be converted (unsupported encoding, inconsistent sizes)."""


# ----------------------------------------------------------------------------
# Time
# ----------------------------------------------------------------------------
def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> Time:
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def make_header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)


# ----------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------
def image_to_array(msg: Image) -> np.ndarray:
    """Image message -> (H, W) or (H, W, C) array in the message's own channel order.

    Raises:
        ConversionError: unsupported encoding or too little data.
    """
    try:
        return images.decode_image(msg.data, msg.encoding, msg.width, msg.height, msg.step, bool(msg.is_bigendian))
    except images.ImageDecodeError as exc:
        raise ConversionError(str(exc)) from exc


def image_to_rgb(msg: Image) -> np.ndarray:
    """Colour or mono Image -> (H, W, 3) uint8 RGB, as the core's Frame expects.

    Raises:
        ConversionError: for encodings other than mono8, bgr8, rgb8, rgba8, bgra8.
    """
    try:
        return images.decode_rgb(msg.data, msg.encoding, msg.width, msg.height, msg.step, bool(msg.is_bigendian))
    except images.ImageDecodeError as exc:
        raise ConversionError(str(exc)) from exc


def array_to_image(array: np.ndarray, encoding: str, stamp_ns: int = 0, frame_id: str = '') -> Image:
    """(H, W[, C]) array -> Image message with the given encoding (no channel reordering)."""
    if encoding not in images.ENCODINGS:
        raise ConversionError(f"unsupported image encoding '{encoding}'")
    channels, dtype = images.ENCODINGS[encoding]
    a = np.asarray(array)
    expected = a.shape[:2] + ((channels,) if channels > 1 else ())
    if a.shape != expected or a.ndim not in (2, 3):
        raise ConversionError(f'array of shape {a.shape} does not fit encoding {encoding} ({channels} channels)')
    if a.dtype != dtype:
        raise ConversionError(f'array dtype {a.dtype} does not fit encoding {encoding} ({np.dtype(dtype)})')
    a = np.ascontiguousarray(a)
    msg = Image(header=make_header(stamp_ns, frame_id), height=a.shape[0], width=a.shape[1],
                encoding=encoding, is_bigendian=0, step=a.shape[1] * channels * a.itemsize)
    msg.data = a.tobytes()
    return msg


# ----------------------------------------------------------------------------
# Compressed images (sensor_msgs/CompressedImage, image_transport's "compressed" transport)
# ----------------------------------------------------------------------------
COMPRESSED_CODECS = images.COMPRESSED_CODECS


def compressed_topic(image_topic: str) -> str:
    """image_transport's name of the compressed stream of ``image_topic``: ``<image_topic>/compressed``."""
    return image_topic.rstrip('/') + '/compressed'


def compress_image(array: np.ndarray, encoding: str, codec: str = 'jpeg', jpeg_quality: int = 80,
                   png_level: int = 3, stamp_ns: int = 0, frame_id: str = '') -> CompressedImage:
    """(H, W[, 3]) uint8 array -> CompressedImage as image_transport's compressed publisher writes it
    (codec and format strings: :func:`onlinehmr_ros.core.io.images.encode_compressed`).

    Raises:
        ConversionError: an encoding other than mono8/rgb8/bgr8, a codec other than jpeg/png, or an
            array that does not fit the encoding.
    """
    try:
        fmt, data = images.encode_compressed(array, encoding, codec, jpeg_quality, png_level)
    except images.ImageDecodeError as exc:
        raise ConversionError(str(exc)) from exc
    msg = CompressedImage(header=make_header(stamp_ns, frame_id), format=fmt)
    msg.data = data
    return msg


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """CompressedImage (JPEG or PNG, image_transport's format strings) -> (H, W, 3) uint8 RGB.

    Raises:
        ConversionError: data that does not decode.
    """
    try:
        return images.decode_compressed_rgb(msg.data, msg.format)
    except images.ImageDecodeError as exc:
        raise ConversionError(str(exc)) from exc


# ----------------------------------------------------------------------------
# Camera info
# ----------------------------------------------------------------------------
def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """CameraInfo -> CameraIntrinsics (uses K; distortion is not modelled).

    Raises:
        ConversionError: K not finite, no focal length (an uncalibrated camera), or a zero size
            (``core.common.input_checks.intrinsics_from_calibration``).
    """
    try:
        return intrinsics_from_calibration(msg.k, msg.width, msg.height)
    except InputError as exc:
        raise ConversionError(str(exc)) from exc


def intrinsics_to_camera_info(intr: CameraIntrinsics, stamp_ns: int = 0, frame_id: str = '') -> CameraInfo:
    msg = CameraInfo(header=make_header(stamp_ns, frame_id), width=intr.width_px, height=intr.height_px,
                     distortion_model='plumb_bob')
    msg.k = intr.K.reshape(-1).tolist()
    msg.d = [0.0] * 5
    msg.r = np.eye(3).reshape(-1).tolist()
    P = np.zeros((3, 4))
    P[:, :3] = intr.K
    msg.p = P.reshape(-1).tolist()
    return msg


# ----------------------------------------------------------------------------
# Humans
# ----------------------------------------------------------------------------
def _flat32(a: np.ndarray) -> np.ndarray:
    """A fixed-size ``float32[N]`` field's value (the generated message keeps those as numpy arrays)."""
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(-1))


def _seq32(a: np.ndarray) -> array.array:
    """An unbounded ``float32[]`` field's value: the generated message keeps those as ``array.array('f')`` and
    builds one from anything else element by element (3.2 ms for a 13,718-vertex mesh here, 0.03 ms this way)."""
    out = array.array('f')
    out.frombytes(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return out


def human_to_msg(h: HumanState, root_orientation_xyzw: np.ndarray, send_vertices: bool = True) -> HumanMesh:
    m = HumanMesh(track_id=int(h.track_id), model=h.model, confidence=float(h.confidence))
    m.root_position = _flat32(h.joints[0])
    m.root_orientation = _flat32(root_orientation_xyzw)
    m.joints = _seq32(h.joints)
    m.joint_confidence = _seq32(h.joint_confidence)
    m.keypoints_coco = _seq32(h.keypoints_coco)
    m.betas = _seq32(h.betas)
    m.global_orient = _flat32(h.global_orient)
    m.body_pose = _flat32(h.body_pose)
    m.transl = _flat32(h.transl)
    m.size_factor = float(h.size_factor)
    m.vertices = _seq32(h.vertices) if send_vertices else array.array('f')
    return m


def humans_to_msg(frame: HumansFrame, root_orientations_xyzw: list[np.ndarray],
                  send_vertices: bool = True) -> HumanMeshArray:
    """HumansFrame -> HumanMeshArray; ``root_orientations_xyzw[i]`` is person i's pelvis orientation."""
    if len(root_orientations_xyzw) != len(frame.humans):
        raise ConversionError('one root orientation per human is required')
    return HumanMeshArray(header=make_header(frame.stamp_ns, frame.frame_id),
                          humans=[human_to_msg(h, q, send_vertices)
                                  for h, q in zip(frame.humans, root_orientations_xyzw)],
                          ended_track_ids=[int(i) for i in frame.ended_track_ids])


def _reshape(values, width: int, what: str, track_id: int) -> np.ndarray:
    a = np.asarray(values, dtype=np.float32)
    if a.size % width:
        raise ConversionError(f'HumanMesh {track_id}: {what} has {a.size} values, not a multiple of {width}')
    return a.reshape(-1, width)


def msg_to_humans(msg: HumanMeshArray) -> HumansFrame:
    """HumanMeshArray -> HumansFrame (arrays reshaped; sizes checked)."""
    humans = []
    for m in msg.humans:
        tid = int(m.track_id)
        joints = _reshape(m.joints, 3, 'joints', tid)
        conf = np.asarray(m.joint_confidence, dtype=np.float32)
        if conf.shape[0] != joints.shape[0]:
            raise ConversionError(f'HumanMesh {tid}: {conf.shape[0]} joint confidences for {joints.shape[0]} joints')
        if not m.size_factor > 0:
            raise ConversionError(f'HumanMesh {tid}: size_factor {m.size_factor} (must be > 0; 1 = as fitted)')
        humans.append(HumanState(
            track_id=tid, model=m.model, betas=np.asarray(m.betas, np.float32),
            global_orient=np.asarray(m.global_orient, np.float32), body_pose=np.asarray(m.body_pose, np.float32),
            transl=np.asarray(m.transl, np.float32), joints=joints, joint_confidence=conf,
            vertices=_reshape(m.vertices, 3, 'vertices', tid),
            keypoints_coco=_reshape(m.keypoints_coco, 3, 'keypoints_coco', tid), confidence=float(m.confidence),
            size_factor=float(m.size_factor)))
    return HumansFrame(stamp_ns=stamp_to_ns(msg.header.stamp), frame_id=msg.header.frame_id, humans=tuple(humans),
                       ended_track_ids=tuple(int(i) for i in msg.ended_track_ids))


def body_model_info_msg(model: str, faces: np.ndarray, num_vertices: int, joint_names, joint_parents,
                        stamp_ns: int = 0) -> BodyModelInfo:
    msg = BodyModelInfo(header=make_header(stamp_ns, ''), model=model, num_vertices=int(num_vertices))
    msg.faces = np.ascontiguousarray(np.asarray(faces, dtype=np.uint32).reshape(-1))
    msg.joint_names = list(joint_names)
    msg.joint_parents = np.asarray(joint_parents, dtype=np.int32)
    return msg


# ----------------------------------------------------------------------------
# Poses and point clouds
# ----------------------------------------------------------------------------
def camera_pose_to_msgs(pose: CameraPose, world_frame: str, camera_frame: str
                        ) -> tuple[PoseStamped, TransformStamped]:
    """Metric camera pose -> (PoseStamped in the world frame, TF world -> camera).

    The position is the metric camera centre ``scale * t_world_cam``.
    """
    position = pose.T_world_cam_m[:3, 3]
    qx, qy, qz, qw = quat_wxyz_to_xyzw(np.asarray(pose.quat_wxyz, np.float64))
    header = make_header(pose.stamp_ns, world_frame)
    ps = PoseStamped(header=header)
    ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = map(float, position)
    ps.pose.orientation.x, ps.pose.orientation.y = float(qx), float(qy)
    ps.pose.orientation.z, ps.pose.orientation.w = float(qz), float(qw)
    tf = TransformStamped(header=header, child_frame_id=camera_frame)
    tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = map(float, position)
    tf.transform.rotation = ps.pose.orientation
    return ps, tf


def pose_msg_to_camera_pose(msg: PoseStamped) -> CameraPose:
    """Inverse of :func:`camera_pose_to_msgs`: a metric PoseStamped -> CameraPose with ``scale`` 1
    (the position already is ``s t``)."""
    p, o = msg.pose.position, msg.pose.orientation
    return CameraPose(stamp_ns=stamp_to_ns(msg.header.stamp),
                      quat_wxyz=quat_xyzw_to_wxyz(np.array([o.x, o.y, o.z, o.w], np.float64)),
                      t_world_cam=np.array([p.x, p.y, p.z], np.float64), scale=1.0)


#: CameraPose.state <-> CameraPoseState.tracking_state
_POSE_STATES = {'held': CameraPoseState.STATE_HELD, 'rotation_only': CameraPoseState.STATE_ROTATION_ONLY,
                'tracking': CameraPoseState.STATE_TRACKED}


def camera_pose_to_state_msg(pose: CameraPose, world_frame: str, camera_frame: str, gravity_sigma_deg: float = 0.0,
                             segment: int = 0) -> CameraPoseState:
    """Camera pose with its state -> CameraPoseState (position metric: ``scale * t_world_cam``).

    Raises:
        ConversionError: ``pose.state`` is not one of 'held', 'rotation_only', 'tracking'.
    """
    if pose.state not in _POSE_STATES:
        raise ConversionError(f'unknown pose state {pose.state!r}; expected one of {tuple(_POSE_STATES)}')
    m = CameraPoseState(header=make_header(pose.stamp_ns, world_frame), child_frame_id=camera_frame)
    m.position = [float(x) for x in pose.T_world_cam_m[:3, 3]]
    m.orientation_xyzw = [float(x) for x in quat_wxyz_to_xyzw(np.asarray(pose.quat_wxyz, np.float64))]
    m.tracking_state = _POSE_STATES[pose.state]
    m.tracking = bool(pose.tracking)
    m.pose_source = pose.source
    m.scale = float(pose.scale)
    m.scale_converged = bool(pose.scale_converged)
    m.gravity_aligned = bool(pose.gravity_aligned)
    m.gravity_sigma_deg = float(gravity_sigma_deg)
    m.segment = int(segment)
    m.status = pose.status
    m.size_track_ids = [int(t) for t in pose.person_size]
    m.size_factors = [float(k) for k in pose.person_size.values()]
    return m


def state_msg_to_camera_pose(msg: CameraPoseState) -> CameraPose:
    """Inverse of :func:`camera_pose_to_state_msg`: ``t_world_cam`` is the metric position and ``scale`` 1.

    Raises:
        ConversionError: an unknown tracking_state.
    """
    states = {v: k for k, v in _POSE_STATES.items()}
    if msg.tracking_state not in states:
        raise ConversionError(f'CameraPoseState.tracking_state {msg.tracking_state} is not one of '
                              f'{sorted(states)} (STATE_HELD, STATE_ROTATION_ONLY, STATE_TRACKED)')
    sizes = np.asarray(msg.size_factors, np.float64)
    if len(msg.size_track_ids) != sizes.size or not np.all(sizes > 0):
        raise ConversionError(f'CameraPoseState: {len(msg.size_track_ids)} size_track_ids for {sizes.size} '
                              'size_factors, which must all be > 0')
    return CameraPose(stamp_ns=stamp_to_ns(msg.header.stamp),
                      quat_wxyz=quat_xyzw_to_wxyz(np.asarray(msg.orientation_xyzw, np.float64)),
                      t_world_cam=np.asarray(msg.position, np.float64), scale=1.0,
                      tracking=msg.tracking_state == CameraPoseState.STATE_TRACKED, status=msg.status,
                      state=states[msg.tracking_state], scale_converged=bool(msg.scale_converged),
                      gravity_aligned=bool(msg.gravity_aligned), source=msg.pose_source or 'slam',
                      person_size={int(t): float(k) for t, k in zip(msg.size_track_ids, sizes)})


def transform_msg(stamp_ns: int, parent_frame: str, child_frame: str, translation: np.ndarray,
                  quat_xyzw: np.ndarray) -> TransformStamped:
    """One TF transform ``parent -> child`` (translation in metres, rotation x, y, z, w)."""
    t = TransformStamped(header=make_header(stamp_ns, parent_frame), child_frame_id=child_frame)
    t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = map(float, translation)
    r = t.transform.rotation
    r.x, r.y, r.z, r.w = map(float, quat_xyzw)
    return t


def transform_to_matrix(transform: Transform) -> np.ndarray:
    """geometry_msgs/Transform -> (4, 4) float64 ``T_parent_child`` (inverse of :func:`matrix_to_transform_msg`)."""
    r, t = transform.rotation, transform.translation
    R = rotmat_from_quat_wxyz(quat_xyzw_to_wxyz(np.array([r.x, r.y, r.z, r.w], np.float64)))
    return make_transform(R, np.array([t.x, t.y, t.z], np.float64))


def matrix_to_transform_msg(stamp_ns: int, parent_frame: str, child_frame: str,
                            T_parent_child: np.ndarray) -> TransformStamped:
    """(4, 4) rigid ``T_parent_child`` -> one TF transform ``parent -> child``."""
    T = np.asarray(T_parent_child, np.float64)
    return transform_msg(stamp_ns, parent_frame, child_frame, T[:3, 3],
                         quat_wxyz_to_xyzw(quat_wxyz_from_rotmat(T[:3, :3])))


def points_to_cloud(points_xyz: np.ndarray, stamp_ns: int, frame_id: str,
                    rgb: np.ndarray | None = None) -> PointCloud2:
    """(N, 3) points (+ optional (N, 3) uint8 colours) -> PointCloud2 (x, y, z float32 [, rgb])."""
    pts = np.asarray(points_xyz, dtype=np.float32).reshape(-1, 3)
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate('xyz')]
    if rgb is None:
        data = np.ascontiguousarray(pts)
        step = 12
    else:
        rgb = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
        if rgb.shape[0] != pts.shape[0]:
            raise ConversionError(f'{rgb.shape[0]} colours for {pts.shape[0]} points')
        packed = (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]
        data = np.empty((pts.shape[0], 4), dtype=np.float32)
        data[:, :3] = pts
        data[:, 3] = packed.view(np.float32)
        fields.append(PointField(name='rgb', offset=12, datatype=PointField.FLOAT32, count=1))
        step = 16
    msg = PointCloud2(header=make_header(stamp_ns, frame_id), height=1, width=pts.shape[0], fields=fields,
                      is_bigendian=False, point_step=step, row_step=step * pts.shape[0], is_dense=True)
    msg.data = data.tobytes()
    return msg


def cloud_to_points(msg: PointCloud2) -> np.ndarray:
    """PointCloud2 with float32 x, y, z fields (any point_step, e.g. :func:`points_to_cloud`'s) -> (N, 3) float32.

    Raises:
        ConversionError: x, y or z is missing or not FLOAT32, or the data is too short.
    """
    offsets = {}
    for f in msg.fields:
        if f.name in ('x', 'y', 'z'):
            if f.datatype != PointField.FLOAT32:
                raise ConversionError(f"PointCloud2 field '{f.name}' is not FLOAT32 (datatype {f.datatype})")
            offsets[f.name] = f.offset
    if len(offsets) < 3:
        raise ConversionError(f'PointCloud2 lacks the fields {sorted({"x", "y", "z"} - set(offsets))}')
    n = msg.width * msg.height
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if raw.size < n * msg.point_step:
        raise ConversionError(f'PointCloud2 data too short: {raw.size} bytes for {n} points of {msg.point_step}')
    rows = raw[:n * msg.point_step].reshape(n, msg.point_step)
    dt = np.dtype(np.float32).newbyteorder('>' if msg.is_bigendian else '<')
    cols = [rows[:, offsets[c]:offsets[c] + 4].copy().view(dt)[:, 0] for c in 'xyz']
    return np.stack(cols, axis=1).astype(np.float32)
