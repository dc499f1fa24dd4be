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
    """One camera-frame person -> the same person in the world frame (see module docstring)."""
    R = pose.T_world_cam_m[:3, :3]
    joints_w = camera_to_world_points(h.joints, pose)
    rest_pelvis = h.joints[0].astype(np.float64) - h.transl
    go_w = axis_angle_from_rotmat(R @ rotmat_from_axis_angle(h.global_orient.astype(np.float64)))
    return replace(h,
                   joints=joints_w,
                   vertices=camera_to_world_points(h.vertices, pose),
                   keypoints_coco=camera_to_world_points(h.keypoints_coco, pose),
                   global_orient=go_w.astype(np.float32),
                   transl=(joints_w[0] - rest_pelvis).astype(np.float32))


def humans_to_world(humans: HumansFrame, pose: CameraPose, world_frame_id: str = 'world') -> HumansFrame:
    """Apply ``M_w = R(q) M_c + s t`` to every person of a frame.

    Raises:
        FusionError: the pose belongs to another image, or SLAM had no pose for it.
    """
    if humans.stamp_ns != pose.stamp_ns:
        raise FusionError(f'humans stamped {humans.stamp_ns} cannot be fused with a pose stamped {pose.stamp_ns}')
    if not pose.tracking:
        raise FusionError(f'no camera pose for the image stamped {pose.stamp_ns} ({pose.status or "not tracking"})')
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


@dataclass(frozen=True)
class FusionConfig:
    """Attributes:
        world_frame: frame_id of the world-space output.
        max_wait_ns: how long (in image-stamp time) camera-space humans wait for their camera pose.
        max_queue: bound of each pairing queue (items).
        use_untracked_poses: fuse with poses that SLAM marks as not tracking (before
            initialisation: the start pose, i.e. a camera that has not moved; when
            lost: the last tracked pose) instead of dropping those images. Counted
            in ``WorldFusion.untracked``. A static camera never initialises
            monocular SLAM, so with False it would never produce world output.
    """

    world_frame: str = 'world'
    max_wait_ns: int = 500_000_000
    max_queue: int = 64
    use_untracked_poses: bool = True


@dataclass(frozen=True)
class FusionResult:
    world: HumansFrame                 # people of one image in the world frame
    pose: CameraPose                   # the camera pose used
    ended_tracks: tuple[int, ...]      # tracks the hmr stage ended (timeout) since the previous result


class WorldFusion:
    """Pairs camera-space humans with camera poses by stamp and moves them to the world frame.

    Causal and non-blocking: each call returns the results that became
    complete with it. Poses without tracking are used or dropped according to
    ``config.use_untracked_poses`` (counted in ``untracked`` / ``no_pose``).
    """

    def __init__(self, config: FusionConfig = FusionConfig()):
        self.config = config
        self._pairer: StampPairer[HumansFrame, CameraPose] = StampPairer(config.max_wait_ns, config.max_queue)
        # ended tracks not reported yet (kept even if their image is dropped, so every end is reported once)
        self._ended: set[int] = set()
        self.no_pose = 0        # images dropped because SLAM was not tracking
        self.untracked = 0      # images fused with an untracked (start or last) pose

    @property
    def stats(self) -> PairerStats:
        return self._pairer.stats

    def add_humans(self, humans: HumansFrame) -> list[FusionResult]:
        self._ended.update(humans.ended_track_ids)
        return self._finish(self._pairer.add_left(humans.stamp_ns, humans))

    def add_pose(self, pose: CameraPose) -> list[FusionResult]:
        return self._finish(self._pairer.add_right(pose.stamp_ns, pose))

    def _finish(self, pairs) -> list[FusionResult]:
        out = []
        for _, humans, pose in pairs:
            if not pose.tracking:
                if not self.config.use_untracked_poses:
                    self.no_pose += 1
                    continue
                self.untracked += 1
                pose = replace(pose, tracking=True)
            world = humans_to_world(humans, pose, self.config.world_frame)
            ended = tuple(sorted(self._ended - {h.track_id for h in world.humans}))
            self._ended.clear()
            out.append(FusionResult(world, pose, ended))
        return out
