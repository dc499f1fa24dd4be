"""Branch 2 of OnlineHMR in one object: masked SLAM + gravity-aligned world + EMA + metric scale.

Usage (what the slam node does per image)::

    branch = SlamBranch(SlamBranchConfig())
    out = branch.process(frame, soft_mask, camera_humans)     # soft_mask: (H, W) C_soft or None
    out.pose              # types.CameraPose: quat_wxyz (camera->world), t_world_cam (SLAM units), scale s
    out.map_points_world  # (N, 3) map points in the world frame, SLAM units (x s for metres)
    out.diagnostics       # SlamDiagnostics: state, inliers, keyframes, ms, scale, gravity, ...

Fusion then computes ``M_w = R(q) M_c + s t`` (``out.pose``), i.e.
``out.pose.T_world_cam_m`` applied to camera-frame points in metres.

Order of operations per frame: SLAM pose in the SLAM world (first keyframe's
optical frame) -> world-from-SLAM rotation (level-camera guess, then the
gravity-aligned one, see :mod:`.ground`) -> EMA correction (reset whenever the
world frame is not continuous) -> ``CameraPose`` with the current scale.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraPose, Frame, HumansFrame
from onlinehmr_ros.core.common.geometry import invert_transform, quat_wxyz_from_rotmat, transform_points
from onlinehmr_ros.core.slam.ema import EmaConfig, EmaTrajectorySmoother
from onlinehmr_ros.core.slam.ground import (GravityAligner, GroundConfig, GroundPlane, fit_ground_plane,
                                            track_ground_offset)
from onlinehmr_ros.core.slam.odometry import INITIALISING, NOT_INITIALISED, MonocularSlam, SlamConfig
from onlinehmr_ros.core.slam.scale import MetricDepthModel, ScaleConfig, ScaleEstimator


@dataclass(frozen=True)
class SlamBranchConfig:
    """All settings of the SLAM branch (see each part's config for units and defaults)."""

    slam: SlamConfig = field(default_factory=SlamConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    ground: GroundConfig = field(default_factory=GroundConfig)


@dataclass(frozen=True)
class SlamDiagnostics:
    """Per-frame diagnostics of the SLAM branch (for /diagnostics and the benchmark)."""

    state: str                      # not_initialised | tracking | relocalised | lost | reinitialised
    status: str                     # human-readable line
    tracking: bool
    n_features: int
    n_matches: int
    n_inliers: int
    n_keyframes: int
    n_map_points: int
    keyframe_inserted: bool
    ba_ran: bool
    segment: int                    # increases when the map had to be re-initialised
    world_continuous: bool          # False on the first pose of a new segment
    gravity_aligned: bool           # ground found (z-up world); False: level-camera guess
    gravity_blending: bool          # a late gravity correction is being phased in
    scale: float                    # metres per SLAM unit
    scale_measured: bool
    scale_converged: bool
    scale_samples: int
    scale_source: str
    ms_features: float
    ms_slam: float                  # features + tracking + mapping (+ BA)
    ms_total: float                 # the whole branch step


@dataclass(frozen=True)
class SlamOutput:
    """Result of :meth:`SlamBranch.process` for one image."""

    pose: CameraPose
    map_points_world: np.ndarray    # (N, 3) world frame, SLAM units
    diagnostics: SlamDiagnostics
    ground: GroundPlane | None = None    # in the SLAM world (before the world rotation)
    pose_raw: CameraPose | None = None   # the same pose before the EMA correction (None when not tracking)

    @property
    def map_points_world_m(self) -> np.ndarray:
        """(N, 3) map points in metres."""
        return self.pose.scale * self.map_points_world


class SlamBranch:
    """Masked incremental SLAM with gravity alignment, EMA correction and metric scale."""

    def __init__(self, config: SlamBranchConfig = SlamBranchConfig(), depth_model: MetricDepthModel | None = None):
        self.config = config
        self.slam = MonocularSlam(config.slam)
        self.ema = EmaTrajectorySmoother(config.ema)
        self.scale = ScaleEstimator(config.scale, depth_model)
        self.aligner = GravityAligner(config.ground.blend_rate_deg)
        self.ground: GroundPlane | None = None
        self._rng = np.random.default_rng(config.ground.seed)
        self._published = False
        self._last_pose: CameraPose | None = None
        self._centres: deque[np.ndarray] = deque(maxlen=30)
        self._feet: deque[np.ndarray] = deque(maxlen=60)
        self._frames_since_search = 0
        self._segment = 0
        self._up_prior: np.ndarray | None = None

    def process(self, frame: Frame, soft_mask: np.ndarray | None = None,
                camera_humans: HumansFrame | None = None) -> SlamOutput:
        """Process one image (strictly causal; the returned pose is final).

        Args:
            frame: the image with its intrinsics.
            soft_mask: (H, W) float32 ``C_soft`` in [0, 1] (``core.mask.soft_mask``), or None.
            camera_humans: people of this image in the camera optical frame (metres), or None.
        """
        t0 = time.perf_counter()
        r = self.slam.process(frame, soft_mask)
        if r.segment != self._segment:
            # new map: its scale and the gravity estimate relative to it are unknown
            self._segment = r.segment
            self.scale.reset()
            self._feet.clear()
            self._centres.clear()
            # search the new map's ground again, expecting it near the current gravity estimate
            if self.ground is not None:
                self._up_prior = self.ground.normal
            self.ground = None
        T_slam_cam = r.T_world_cam
        T_cam_slam = None if T_slam_cam is None else invert_transform(T_slam_cam)
        pts_slam = self.slam.map_points_world
        if T_slam_cam is not None:
            self._centres.append(T_slam_cam[:3, 3].copy())
            self._maybe_find_ground(pts_slam)
        sc = self.scale.update(frame, T_cam_slam, pts_slam, self.ground, camera_humans, soft_mask)
        if T_slam_cam is not None and camera_humans is not None and sc.measured:
            self._remember_feet(camera_humans, T_slam_cam, sc.scale)
        if T_slam_cam is not None:
            if not r.world_continuous:
                self.ema.reset()
            self.aligner.step()
            T_world_cam = self.aligner.T_world_slam() @ T_slam_cam
            q_raw = quat_wxyz_from_rotmat(T_world_cam[:3, :3])
            t_s, q_s = self.ema.update(T_world_cam[:3, 3], q_raw)
            pose = CameraPose(frame.stamp_ns, q_s, t_s, sc.scale, True, r.status)
            pose_raw = CameraPose(frame.stamp_ns, q_raw, T_world_cam[:3, 3].copy(), sc.scale, True, r.status)
            self._published = True
            self._last_pose = pose
        else:
            held = self._last_pose
            q = held.quat_wxyz if held is not None else np.array([1.0, 0.0, 0.0, 0.0])
            t = held.t_world_cam if held is not None else np.zeros(3)
            pose = CameraPose(frame.stamp_ns, q, t, sc.scale, False, r.status)
            pose_raw = None
        pts_world = transform_points(self.aligner.T_world_slam(), pts_slam) if len(pts_slam) else pts_slam
        ms_total = (time.perf_counter() - t0) * 1e3
        diag = SlamDiagnostics(
            r.state, r.status, T_slam_cam is not None, r.n_features, r.n_matches, r.n_inliers, r.n_keyframes,
            r.n_map_points, r.keyframe_inserted, r.ba_ran, r.segment, r.world_continuous,
            self.aligner.gravity_known, self.aligner.blending, sc.scale, sc.measured, sc.converged, sc.n_samples,
            sc.source, r.ms_features, r.ms_total, ms_total)
        return SlamOutput(pose, pts_world, diag, self.ground, pose_raw)

    def _maybe_find_ground(self, pts_slam: np.ndarray) -> None:
        cfg = self.config.ground
        if self.ground is not None:
            # the offset follows the map's scale drift every frame
            self.ground = track_ground_offset(self.ground, pts_slam, self._centres[-1], cfg)
        self._frames_since_search += 1
        if self._frames_since_search < cfg.search_every and (self._published or self.ground is not None):
            return
        self._frames_since_search = 0
        feet = np.stack(self._feet) if self._feet else None
        if self.ground is None:
            plane = fit_ground_plane(pts_slam, np.stack(self._centres), cfg, feet, self._rng, up_prior=self._up_prior)
            if plane is not None:
                self.ground = plane
                self.aligner.set_ground(plane, any_pose_published=self._published)
            return
        # re-fit near the current normal: follows the SLAM's rotation drift, phased in without a jump
        plane = fit_ground_plane(pts_slam, np.stack(self._centres), cfg, feet, self._rng,
                                 up_prior=self.ground.normal, max_tilt_deg=cfg.refit_max_change_deg)
        if plane is None:
            return
        change = np.degrees(np.arccos(np.clip(plane.normal @ self.ground.normal, -1.0, 1.0)))
        self.ground = plane
        if change >= cfg.refit_min_change_deg:
            self.aligner.set_ground(plane, any_pose_published=True)

    def _remember_feet(self, humans: HumansFrame, T_slam_cam: np.ndarray, scale: float) -> None:
        cfg = self.config.scale
        for h in humans.humans:
            for j in cfg.foot_joints:
                if h.joint_confidence[j] >= cfg.min_joint_confidence:
                    self._feet.append(transform_points(T_slam_cam, (np.asarray(h.joints[j], float) / scale)[None])[0])

    @property
    def state(self) -> str:
        """Tracking state now (one of the tracker's state constants)."""
        return NOT_INITIALISED if self.slam.state == INITIALISING else self.slam.state
