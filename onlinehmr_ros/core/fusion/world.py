"""World fusion: camera-space humans + camera pose -> world-space humans (OnlineHMR).

The paper's rigid transform, per person and frame:

    M_w = R(q) · M_c + s · t

with ``q`` the camera-to-world rotation and ``t`` the camera centre in SLAM
units (``CameraPose.quat_wxyz`` / ``t_world_cam``) and ``s`` the metric scale
(``CameraPose.scale``). The same map moves joints and keypoints. The body-model
parameters are re-expressed in the world frame so that posing the model with
them reproduces ``M_w``: ``global_orient_w = R(q) · R(global_orient_c)`` and
``transl_w = p_w - (p_c - transl_c)``, where ``p`` is the posed pelvis (the
root is not moved by the pose, so ``p_c - transl_c`` is the rest pelvis).

Each person's size: the camera-frame person is first scaled about the camera
centre by the pose's size factor ``k`` of their track
(``CameraPose.person_size``, measured by the SLAM branch against the metric
scale, :mod:`onlinehmr_ros.core.slam.scale`): ``M_w = R(q) (k M_c) + s t``.
Their image does not change; their depth and size do (a person ``k`` times the
HMR's body size stands ``k`` times farther). The parameters then pose the
fitted body with its pelvis at the scaled pelvis; joints, keypoints and
vertices are that body scaled by ``k`` about the pelvis (``HumanState.size_factor``).

:class:`WorldFusion` pairs the two streams by image stamp with
:class:`~onlinehmr_ros.core.fusion.sync.StampPairer`, causally, with bounded
memory (used by the fusion node; the in-process pipeline has both results of a
frame at hand).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraPose, HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import (axis_angle_from_rotmat, quat_wxyz_from_rotmat, quat_wxyz_to_xyzw,
                                                rotmat_from_axis_angle, transform_points)
from onlinehmr_ros.core.fusion.sync import PairerStats, StampPairer


class FusionError(ValueError):
    """Inputs that cannot be fused (different stamps, a pose without tracking)."""


def camera_to_world_points(points_c: np.ndarray, pose: CameraPose) -> np.ndarray:
    """``R(q) @ p + s * t`` for (N, 3) camera-frame points -> (N, 3) world points (metres), in their dtype."""
    p = np.asarray(points_c)
    return transform_points(pose.T_world_cam_m.astype(p.dtype), p)


def human_to_world(h: HumanState, pose: CameraPose) -> HumanState:
    """One camera-frame person -> the same person in the world frame, scaled by their size factor
    (``pose.person_size``; see module docstring)."""
    R = pose.T_world_cam_m[:3, :3]
    k = float(pose.person_size.get(h.track_id, 1.0))
    joints_w = camera_to_world_points(h.joints * np.float32(k), pose)
    rest_pelvis = h.joints[0].astype(np.float64) - h.transl
    go_w = axis_angle_from_rotmat(R @ rotmat_from_axis_angle(h.global_orient.astype(np.float64)))
    return replace(h,
                   joints=joints_w,
                   vertices=camera_to_world_points(h.vertices * np.float32(k), pose),
                   keypoints_coco=camera_to_world_points(h.keypoints_coco * np.float32(k), pose),
                   global_orient=go_w.astype(np.float32),
                   transl=(joints_w[0] - rest_pelvis).astype(np.float32),
                   size_factor=h.size_factor * k)


def humans_to_world(humans: HumansFrame, pose: CameraPose, world_frame_id: str = 'world') -> HumansFrame:
    """Apply ``M_w = R(q) M_c + s t`` to every person of a frame (whatever the pose's state: the
    caller decides which poses to use, see :class:`WorldFusion`).

    Raises:
        FusionError: the pose belongs to another image.
    """
    if humans.stamp_ns != pose.stamp_ns:
        raise FusionError(f'humans stamped {humans.stamp_ns} cannot be fused with a pose stamped {pose.stamp_ns}')
    return HumansFrame(stamp_ns=humans.stamp_ns, frame_id=world_frame_id,
                       humans=tuple(human_to_world(h, pose) for h in humans.humans),
                       ended_track_ids=humans.ended_track_ids)


def root_orientation_xyzw(h: HumanState) -> np.ndarray:
    """(4,) pelvis orientation (x, y, z, w) in the person's frame, from ``global_orient``."""
    return quat_wxyz_to_xyzw(quat_wxyz_from_rotmat(rotmat_from_axis_angle(h.global_orient.astype(np.float64))))


def human_tf_frames(humans: HumansFrame, joint_names: tuple[str, ...], all_joints: bool = False,
                    prefix: str = 'human_') -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The TF frames of a frame's people, children of ``humans.frame_id``.

    Per person ``<prefix><track_id>/<joint name>`` (``human_3/pelvis``) at the joint, for the pelvis (joint 0) only or for
    every joint: the pelvis frame carries the body's orientation (:func:`root_orientation_xyzw`),
    the other joints only their position (identity rotation).

    Returns:
        ``(child_frame_id, translation (3,) metres, quat_xyzw (4,))`` per frame.
    """
    out = []
    names = joint_names if all_joints else joint_names[:1]
    identity = np.array([0.0, 0.0, 0.0, 1.0])
    for h in humans.humans:
        q = root_orientation_xyzw(h)
        for j, name in enumerate(names):
            out.append((f'{prefix}{h.track_id}/{name}', np.asarray(h.joints[j], np.float64), q if j == 0 else identity))
    return out


#: what fusion does with people of an image whose camera pose is not a tracked (6-DoF) pose
UNTRACKED_POLICIES = ('use', 'rotation_only', 'drop')


@dataclass(frozen=True)
class FusionConfig:
    """Attributes:
        world_frame: frame_id of the world-space output.
        max_wait_ns: how long (in image-stamp time) camera-space humans wait for their camera pose.
        max_queue: bound of each pairing queue (items).
        untracked_policy: people of images whose pose is not tracked: 'use' (place them with the pose
            as it is: rotation-only poses before the map / while lost, held poses), 'rotation_only'
            (use rotation-only poses, drop held ones), 'drop' (only tracked poses). A static camera
            never initialises monocular SLAM: its poses are rotation-only, so 'drop' gives it no world
            output. Counted per state in ``WorldFusion.fused`` / ``WorldFusion.dropped``.
    """

    world_frame: str = 'world'
    max_wait_ns: int = 500_000_000
    max_queue: int = 64
    untracked_policy: str = 'use'

    def __post_init__(self):
        if self.untracked_policy not in UNTRACKED_POLICIES:
            raise FusionError(f'untracked_policy must be one of {UNTRACKED_POLICIES}, got {self.untracked_policy!r}')


@dataclass(frozen=True)
class FusionResult:
    world: HumansFrame                 # people of one image in the world frame
    pose: CameraPose                   # the camera pose used
    ended_tracks: tuple[int, ...]      # tracks the hmr stage ended (timeout) since the previous result


class WorldFusion:
    """Pairs camera-space humans with camera poses by stamp and moves them to the world frame.

    Causal and non-blocking: each call returns the results that became
    complete with it. Which poses are used is ``config.untracked_policy``;
    ``fused`` and ``dropped`` count images per pose state ('tracking',
    'rotation_only', 'held').
    """

    def __init__(self, config: FusionConfig = FusionConfig()):
        self.config = config
        self._pairer: StampPairer[HumansFrame, CameraPose] = StampPairer(config.max_wait_ns, config.max_queue)
        # ended tracks not reported yet (kept even if their image is dropped, so every end is reported once)
        self._ended: set[int] = set()
        self.fused: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    @property
    def stats(self) -> PairerStats:
        return self._pairer.stats

    @property
    def no_pose(self) -> int:
        """Images dropped because their pose was not tracked (policy)."""
        return sum(self.dropped.values())

    @property
    def untracked(self) -> int:
        """Images fused with a pose that was not tracked (rotation-only or held)."""
        return sum(n for k, n in self.fused.items() if k != 'tracking')

    def accepts(self, pose: CameraPose) -> bool:
        """Whether the policy places people with this pose."""
        p = self.config.untracked_policy
        return pose.tracking or p == 'use' or (p == 'rotation_only' and pose.state == 'rotation_only')

    def add_humans(self, humans: HumansFrame) -> list[FusionResult]:
        self._ended.update(humans.ended_track_ids)
        return self._finish(self._pairer.add_left(humans.stamp_ns, humans))

    def add_pose(self, pose: CameraPose) -> list[FusionResult]:
        return self._finish(self._pairer.add_right(pose.stamp_ns, pose))

    def _finish(self, pairs) -> list[FusionResult]:
        out = []
        for _, humans, pose in pairs:
            state = 'tracking' if pose.tracking else pose.state
            if not self.accepts(pose):
                self.dropped[state] = self.dropped.get(state, 0) + 1
                continue
            self.fused[state] = self.fused.get(state, 0) + 1
            world = humans_to_world(humans, pose, self.config.world_frame)
            ended = tuple(sorted(self._ended - {h.track_id for h in world.humans}))
            self._ended.clear()
            out.append(FusionResult(world, pose, ended))
        return out
