"""The TF tree seen from the pipeline, ROS-free: a small transform buffer and the REP-105 decision.

Two jobs, both without rclpy (``ros/tf.py`` feeds and publishes them):

* :class:`TransformBuffer` keeps the transforms other nodes broadcast (``/tf``, ``/tf_static``):
  each child frame's parent and a bounded, time-sorted history; :meth:`TransformBuffer.lookup`
  composes a chain at a given stamp, interpolating each dynamic edge between its two
  neighbouring samples (as tf2 does) and never extrapolating.
* :func:`plan_camera_tf` decides which transform the SLAM node publishes for the camera pose,
  following REP-105:

  - hand-held camera (nobody else gives the camera frame a parent): ``world -> camera``, the
    estimate itself;
  - on a robot whose URDF / odometry already own the camera frame
    (``odom -> base_link -> ... -> camera``): the correction ``map -> odom`` such that
    ``map -> odom -> ... -> camera`` equals the estimate (:func:`world_to_odom_correction`), as
    visual SLAM packages do; the camera never gets a second parent;
  - nothing, when the camera is already localised in the world frame by another node, or the
    odometry frame is not among the camera's ancestors (with the reason).

Frames follow the naming in identifiers of ``geometry.py``: ``T_a_b`` maps frame ``b`` to ``a``.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.datatypes import CameraPose
from onlinehmr_ros.core.common.geometry import interpolate_transform, invert_transform, quat_wxyz_from_rotmat

TF_MODES = ('auto', 'world_to_camera', 'world_to_odom', 'none')


class TransformLookupError(LookupError):
    """A transform cannot be computed (unknown frame, frames not connected, stamp out of the buffer)."""


@dataclass
class _Edge:
    parent: str
    static: bool
    stamps_ns: list[int] = field(default_factory=list)
    transforms: list[np.ndarray] = field(default_factory=list)


class TransformBuffer:
    """Transforms between frames over time; each frame has at most one parent (a tree, as in TF).

    Args:
        cache_ns: how much history each dynamic edge keeps, counted back from its newest stamp.
    """

    def __init__(self, cache_ns: int = 10_000_000_000):
        if cache_ns <= 0:
            raise InputError(f'TransformBuffer cache_ns must be > 0, got {cache_ns}')
        self.cache_ns = int(cache_ns)
        self._edges: dict[str, _Edge] = {}

    def add(self, parent: str, child: str, stamp_ns: int, T_parent_child: np.ndarray, static: bool = False) -> None:
        """Store ``T_parent_child`` at ``stamp_ns``.

        A child that gets a different parent (or switches between static and dynamic) forgets its
        history: the newest message defines the tree, as in tf2.
        """
        parent, child = parent.lstrip('/'), child.lstrip('/')
        if not parent or not child or parent == child:
            raise InputError(f'bad transform {parent!r} -> {child!r}: frames must be distinct and non-empty')
        T = np.asarray(T_parent_child, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise InputError(f'transform {parent} -> {child} must be a finite 4x4 matrix, got shape {T.shape}')
        edge = self._edges.get(child)
        if edge is None or edge.parent != parent or edge.static != static:
            edge = self._edges[child] = _Edge(parent, static)
        if static:
            edge.stamps_ns, edge.transforms = [int(stamp_ns)], [T]
            return
        i = bisect.bisect_left(edge.stamps_ns, int(stamp_ns))
        if i < len(edge.stamps_ns) and edge.stamps_ns[i] == stamp_ns:
            edge.transforms[i] = T
        else:
            edge.stamps_ns.insert(i, int(stamp_ns))
            edge.transforms.insert(i, T)
        oldest = edge.stamps_ns[-1] - self.cache_ns
        k = bisect.bisect_left(edge.stamps_ns, oldest)
        if k:
            del edge.stamps_ns[:k], edge.transforms[:k]

    def parent(self, frame: str) -> str | None:
        edge = self._edges.get(frame.lstrip('/'))
        return None if edge is None else edge.parent

    def ancestors(self, frame: str) -> list[str]:
        """Parent, grandparent, ... up to the root of ``frame``'s tree ([] if it has no parent)."""
        out, f = [], frame.lstrip('/')
        while (p := self.parent(f)) is not None and p not in out and p != frame:
            out.append(p)
            f = p
        return out

    def latest_stamp_ns(self, child: str) -> int | None:
        """Newest stamp of the edge into ``child`` (None for static edges and unknown frames)."""
        edge = self._edges.get(child.lstrip('/'))
        return None if edge is None or edge.static else edge.stamps_ns[-1]

    def _edge_at(self, child: str, stamp_ns: int) -> np.ndarray:
        edge = self._edges[child]
        if edge.static:
            return edge.transforms[0]
        s = edge.stamps_ns
        if not s[0] <= stamp_ns <= s[-1]:
            raise TransformLookupError(
                f'{edge.parent} -> {child} is known from {s[0]} to {s[-1]} ns, not at {stamp_ns} ns')
        i = bisect.bisect_left(s, stamp_ns)
        if s[i] == stamp_ns:
            return edge.transforms[i]
        f = (stamp_ns - s[i - 1]) / (s[i] - s[i - 1])
        return interpolate_transform(edge.transforms[i - 1], edge.transforms[i], f)

    def _to_ancestor(self, frame: str, ancestor: str, stamp_ns: int) -> np.ndarray:
        T = np.eye(4)
        f = frame
        while f != ancestor:
            T = self._edge_at(f, stamp_ns) @ T
            f = self._edges[f].parent
        return T

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """``T_target_source`` at ``stamp_ns`` (maps ``source`` coordinates into ``target``).

        Raises:
            TransformLookupError: a frame is unknown, the two are not in one tree, or a dynamic
                edge on the way has no samples on both sides of ``stamp_ns``.
        """
        target, source = target.lstrip('/'), source.lstrip('/')
        if target == source:
            return np.eye(4)
        up_s = [source] + self.ancestors(source)
        up_t = [target] + self.ancestors(target)
        common = next((f for f in up_s if f in up_t), None)
        if common is None:
            known = sorted(set(self._edges) | {e.parent for e in self._edges.values()})
            raise TransformLookupError(f'no TF path from {source!r} to {target!r} (known frames: {known})')
        return invert_transform(self._to_ancestor(target, common, stamp_ns)) @ self._to_ancestor(
            source, common, stamp_ns)


@dataclass(frozen=True)
class TfFrames:
    """Frame parameters of the camera-pose TF.

    Attributes:
        world_frame: frame of the SLAM world and of every world-space output: 'world' for a
            hand-held camera, 'map' on a robot (REP-105).
        odom_frame: the robot's odometry frame (REP-105 'odom'): on a robot the correction
            world_frame -> odom_frame is published; it must be an ancestor of the camera frame.
        mode: 'auto' (world_to_odom when another node gives the camera frame a parent, else
            world_to_camera), 'world_to_camera', 'world_to_odom' or 'none' (publish no camera TF).
        detect_s: in 'auto', how long to listen to /tf and /tf_static before the first decision
            (seconds): until then nothing is published, so a robot's camera frame never gets a
            second parent while its transforms are still on the way.
    """

    world_frame: str = 'world'
    odom_frame: str = 'odom'
    mode: str = 'auto'
    detect_s: float = 1.0

    def __post_init__(self):
        if self.mode not in TF_MODES:
            raise InputError(f"TF mode must be one of {', '.join(TF_MODES)}, got {self.mode!r}")
        if not self.world_frame or not self.odom_frame or self.world_frame == self.odom_frame:
            raise InputError(f'world_frame ({self.world_frame!r}) and odom_frame ({self.odom_frame!r}) must be '
                             'distinct, non-empty frame names')
        if not self.detect_s >= 0.0:
            raise InputError(f'detect_s must be >= 0, got {self.detect_s}')


@dataclass(frozen=True)
class CameraTfPlan:
    """What to publish for one image's camera pose.

    Attributes:
        kind: 'world_to_camera' (parent world_frame, child the camera frame: the estimate),
            'world_to_odom' (parent world_frame, child odom_frame: the correction), or 'none'.
        parent, child: the frames of the published transform ('' for 'none').
        problem: True when the configuration keeps the camera pose out of TF (for diagnostics: a
            WARN), False when the plan is the intended one (including 'none' by choice or while
            still listening).
        reason: one line for logs and diagnostics.
    """

    kind: str
    parent: str
    child: str
    problem: bool
    reason: str


def plan_camera_tf(frames: TfFrames, camera_frame: str, camera_ancestors: list[str],
                   listened_s: float) -> CameraTfPlan:
    """Which transform represents the camera pose in TF (REP-105), given what others publish.

    Args:
        frames: the frame parameters.
        camera_frame: the image's frame_id.
        camera_ancestors: the camera frame's ancestors in the transforms *other* nodes publish
            (``TransformBuffer.ancestors`` of a buffer fed without this node's own output).
        listened_s: how long the caller has been receiving /tf and /tf_static.
    """
    camera_frame = camera_frame.lstrip('/')
    world, odom = frames.world_frame, frames.odom_frame
    if frames.mode == 'none':
        return CameraTfPlan('none', '', '', False, 'tf.mode is none: no camera transform is published')
    if camera_frame in (world, odom):
        return CameraTfPlan('none', '', '', True, f'the camera frame {camera_frame!r} is the world or odom frame; '
                            'give the images their own frame_id')
    owned = bool(camera_ancestors)
    if frames.mode == 'auto' and not owned and listened_s < frames.detect_s:
        return CameraTfPlan('none', '', '', False, f'listening to TF for {frames.detect_s:g} s before deciding')
    if frames.mode == 'world_to_camera' or (frames.mode == 'auto' and not owned):
        if owned:
            return CameraTfPlan('world_to_camera', world, camera_frame, True,
                                f'tf.mode world_to_camera, but {camera_ancestors[0]!r} is already the parent of '
                                f'{camera_frame!r}: the camera frame has two parents (use tf.mode auto)')
        return CameraTfPlan('world_to_camera', world, camera_frame, False,
                            f'nobody else gives {camera_frame!r} a parent (hand-held camera): {world} -> '
                            f'{camera_frame}')
    # on a robot: the camera frame belongs to the robot's tree
    if not owned:
        return CameraTfPlan('none', '', '', False, f'waiting for TF {odom} -> ... -> {camera_frame} (tf.mode '
                            'world_to_odom)')
    if world in camera_ancestors:
        return CameraTfPlan('none', '', '', True, f'{camera_frame!r} is already localised in {world!r} by another '
                            f'node ({" <- ".join([camera_frame] + camera_ancestors)}); not publishing a second '
                            'estimate')
    if odom not in camera_ancestors:
        return CameraTfPlan('none', '', '', True, f'odom_frame {odom!r} is not an ancestor of {camera_frame!r} '
                            f'({" <- ".join([camera_frame] + camera_ancestors)}): set odom_frame to the frame '
                            'the correction should move')
    return CameraTfPlan('world_to_odom', world, odom, False, f'{camera_frame!r} belongs to the robot '
                        f'({" <- ".join([camera_frame] + camera_ancestors)}): publishing the correction '
                        f'{world} -> {odom} (REP-105)')


def world_to_odom_correction(T_world_cam: np.ndarray, T_odom_cam: np.ndarray) -> np.ndarray:
    """``T_world_odom`` such that ``T_world_odom @ T_odom_cam == T_world_cam``.

    Args:
        T_world_cam: (4, 4) the SLAM estimate of the camera (metric).
        T_odom_cam: (4, 4) the camera in the odometry frame at the same stamp (robot TF).
    """
    return np.asarray(T_world_cam, dtype=np.float64) @ invert_transform(np.asarray(T_odom_cam, dtype=np.float64))


def namespaced_frame(frame: str, node_namespace: str) -> str:
    """Default frame names of a pipeline: ``frame`` in the root namespace, ``<ns>/frame`` in ``/<ns>``.

    Two pipelines in one ROS domain (two cameras, each in its own namespace) then broadcast
    disjoint TF trees (``cam1/world -> cam1/camera_optical_frame``, ``cam1/human_3/pelvis``, ...)
    unless frame names are given explicitly (e.g. a shared ``map`` on a robot).
    """
    ns = node_namespace.strip('/')
    return f'{ns}/{frame}' if ns else frame


#: where the slam node's camera pose comes from: this package's SLAM branch, or the robot's TF
POSE_SOURCES = ('slam', 'tf')


class TfCameraPoses:
    """The camera pose of each image from TF (``pose_source: tf``): a robot's own localisation
    instead of SLAM.

    For an image stamped ``t`` from optical frame ``C``, the pose is ``T_world_C(t)`` looked up in
    ``buffer`` (``world_frame`` -> ... -> ``C``, interpolated between the transforms around ``t``),
    metric and gravity-aligned by REP-103/105, so the CameraPose is tracked, scale 1, converged,
    source 'tf'. Odometry often arrives after the image: an image waits (FIFO, in stamp order)
    until the buffer covers its stamp; it is given up when an image ``wait_ns`` newer (stamp time)
    has arrived, or when more than ``max_pending`` wait. A given-up image gets the last pose
    'held' (tracking False, the reason in ``status``) so every image still has a pose and
    fusion's ``untracked_policy`` decides; before any pose, the held pose is the identity.

    Args:
        buffer: the node's TransformBuffer (filled from /tf and /tf_static).
        world_frame: the lookup's target frame ('map' on a robot, REP-105).
        wait_ns: how long (stamp time) an image may wait for its transform.
        max_pending: most images waiting at once.
    """

    def __init__(self, buffer: TransformBuffer, world_frame: str, wait_ns: int = 500_000_000, max_pending: int = 64):
        if wait_ns < 0 or max_pending < 1:
            raise InputError(f'need wait_ns >= 0 and max_pending >= 1, got {wait_ns}, {max_pending}')
        if not world_frame:
            raise InputError('TfCameraPoses needs a world frame name')
        self.buffer = buffer
        self.world_frame = world_frame
        self.wait_ns = int(wait_ns)
        self.max_pending = int(max_pending)
        self._pending: list[tuple[int, str, object]] = []
        self._last = None
        self.looked_up = 0
        self.given_up = 0
        self.last_problem = ''

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add_image(self, stamp_ns: int, camera_frame: str, item) -> list:
        """Queue an image (``item`` is handed back with its pose); returns the (item, CameraPose)
        pairs now decided, in stamp order (see :meth:`poll`)."""
        self._pending.append((int(stamp_ns), camera_frame.lstrip('/'), item))
        self._pending.sort(key=lambda p: p[0])
        return self.poll()

    def poll(self) -> list:
        """(item, CameraPose) of every waiting image whose transform is known now or whose wait is
        over, oldest first; call after each /tf update and each image."""
        out = []
        newest = self._pending[-1][0] if self._pending else 0
        while self._pending:
            stamp, frame, item = self._pending[0]
            try:
                T = self.buffer.lookup(self.world_frame, frame, stamp)
            except TransformLookupError as exc:
                if newest - stamp <= self.wait_ns and len(self._pending) <= self.max_pending:
                    break                                        # may still come: keep the order
                self.given_up += 1
                self.last_problem = str(exc)
                prev = self._last
                pose = CameraPose(stamp, prev.quat_wxyz if prev else np.array([1.0, 0.0, 0.0, 0.0]),
                                  prev.t_world_cam if prev else np.zeros(3), 1.0, tracking=False,
                                  status=f'no transform {self.world_frame} -> {frame} at this stamp ({exc})',
                                  state='held', scale_converged=prev is not None, gravity_aligned=True, source='tf')
            else:
                self.looked_up += 1
                pose = self._last = CameraPose(stamp, quat_wxyz_from_rotmat(T[:3, :3]), T[:3, 3].copy(), 1.0,
                                               tracking=True, status=f'from TF ({self.world_frame} -> {frame})',
                                               state='tracking', scale_converged=True, gravity_aligned=True,
                                               source='tf')
            self._pending.pop(0)
            out.append((item, pose))
        return out
