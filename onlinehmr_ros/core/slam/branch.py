"""Branch 2 of OnlineHMR in one object: masked SLAM in one continuous, gravity-up, metric world frame.

Usage (what the slam node does per image)::

    branch = SlamBranch(SlamBranchConfig())
    out = branch.process(frame, soft_mask, camera_humans)     # soft_mask: (H, W) C_soft or None
    out.pose              # types.CameraPose: quat_wxyz (camera->world), t_world_cam, scale s, and its state
    out.map_points_world_m  # (N, 3) map points in the world frame, metres
    out.diagnostics       # SlamDiagnostics: state, inliers, keyframes, ms, scale, gravity, ...

Fusion then computes ``M_w = R(q) M_c + s t`` (``out.pose``), i.e.
``out.pose.T_world_cam_m`` applied to camera-frame points in metres.

Per frame (strictly causal, each pose final when returned):

1. the masked monocular SLAM (:mod:`.odometry`) tracks the frame in its
   current map, or says why not;
2. the pose is carried into the tracking frame ``O`` (:mod:`.world_frame`):
   a map pose through the map's anchor; otherwise the rotation-only tracker
   (:mod:`.rotation`) follows the orientation (before the first map, while
   lost, and for a static camera) and the position is held. A map is anchored
   at the pose the camera has when it starts; a new map after a loss gets the
   old map's metric scale (from the scene depth it saw last);
3. the metric scale (:mod:`.scale`) re-anchors the map about the current
   camera when it changes (the position never jumps);
4. gravity (:mod:`.gravity`: level-camera prior, vertical lines, the map's
   ground plane, upright people) turns ``O`` into the published z-up world
   ``W`` (:class:`.ground.GravityAligner`: at once before the first pose,
   phased in afterwards);
5. the EMA correction smooths the published pose (:mod:`.ema`).

A branch started with :meth:`SlamBranch.resume` (the state a previous SLAM left, :mod:`.resume`)
continues that SLAM's world: its first pose is the saved one (same origin and heading; the rotation
about z and offset are kept for every later pose and map point), its first map gets the saved
metric scene depth.

The published :class:`~onlinehmr_ros.core.common.datatypes.CameraPose` says
how far it can be trusted: ``state`` (``tracking``, ``rotation_only`` before a
map or while lost, ``held`` when even the rotation could not be measured),
``tracking`` (a 6-DoF map pose), ``scale_converged`` (positions are metric
only when True; before, they use a provisional scale) and
``gravity_aligned``.
"""
from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraPose, Frame, HumansFrame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import (invert_transform, make_transform, quat_wxyz_from_rotmat,
                                               transform_points, yaw_aligning_cameras)
from onlinehmr_ros.core.slam.ema import EmaConfig, EmaTrajectorySmoother
from onlinehmr_ros.core.slam.focal import FocalConfig, FocalEstimator
from onlinehmr_ros.core.slam.gravity import GravityConfig, GravityEstimator, VerticalLineDetector, trunk_up_cam
from onlinehmr_ros.core.slam.ground import (FloorTracker, GravityAligner, GroundConfig, GroundPlane,
                                            sharpest_floor_direction, track_ground_offset)
from onlinehmr_ros.core.slam.odometry import MonocularSlam, SlamConfig
from onlinehmr_ros.core.slam.resume import SlamResumeState
from onlinehmr_ros.core.slam.rotation import RotationConfig, RotationTracker
from onlinehmr_ros.core.slam.scale import MetricDepthModel, ScaleConfig, ScaleEstimator
from onlinehmr_ros.core.slam.world_frame import WorldFrame

#: pose states (CameraPose.state)
POSE_TRACKING = 'tracking'            # 6-DoF pose from the map
POSE_ROTATION_ONLY = 'rotation_only'  # orientation tracked without a map, position held
POSE_HELD = 'held'                    # nothing measured this frame: the last pose repeated
POSE_STATES = (POSE_TRACKING, POSE_ROTATION_ONLY, POSE_HELD)


@dataclass(frozen=True)
class WorldConfig:
    """Settings of the world frame.

    Attributes:
        prior_scene_depth_m: provisional metres per SLAM unit of the first map before any scale
            measurement: the median depth of the scene it was initialised on is taken to be this
            (the pose says ``scale_converged=False`` meanwhile).
        carry_scale: a new map after a loss takes its metric scale from the scene depth the old map
            saw last (False: the prior above, as for the first map).
        regravity_min_deg: a gravity estimate that moved this far from the aligner's target becomes
            the new target (phased in at ``ground.blend_rate_deg`` per frame).
        late_people_frames: poses of this many recent images are kept for people that arrive after
            their image (:meth:`SlamBranch.add_people`).
    """

    prior_scene_depth_m: float = 3.0
    carry_scale: bool = True
    regravity_min_deg: float = 0.2
    late_people_frames: int = 90

    def __post_init__(self):
        if not self.prior_scene_depth_m > 0 or not self.regravity_min_deg >= 0 or self.late_people_frames < 1:
            raise InputError('WorldConfig needs prior_scene_depth_m > 0, regravity_min_deg >= 0 and '
                             'late_people_frames >= 1')


@dataclass(frozen=True)
class SlamBranchConfig:
    """All settings of the SLAM branch (see each part's config for units and defaults)."""

    slam: SlamConfig = field(default_factory=SlamConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    ground: GroundConfig = field(default_factory=GroundConfig)
    gravity: GravityConfig = field(default_factory=GravityConfig)
    rotation: RotationConfig = field(default_factory=RotationConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    focal: FocalConfig = field(default_factory=FocalConfig)


@dataclass(frozen=True)
class SlamDiagnostics:
    """Per-frame diagnostics of the SLAM branch (for /diagnostics and the benchmark)."""

    state: str                      # pose state: tracking | rotation_only | held
    slam_state: str                 # the map's: not_initialised | tracking | relocalised | lost | reinitialised
    status: str                     # human-readable line
    tracking: bool                  # 6-DoF pose from the map
    n_features: int
    n_matches: int
    n_inliers: int
    n_keyframes: int
    n_map_points: int
    keyframe_inserted: bool
    ba_ran: bool
    segment: int                    # increases when the map had to be re-initialised
    rotation_inliers: int           # inliers of the rotation-only tracker (0 when not used)
    gravity_aligned: bool           # gravity measured (not only the level-camera guess)
    gravity_blending: bool          # a later gravity correction is being phased in
    gravity_sigma_deg: float        # standard deviation of the gravity estimate
    gravity_weights: dict           # information per cue (1/deg^2)
    scale: float                    # metres per SLAM unit
    scale_measured: bool
    scale_converged: bool
    scale_samples: int
    scale_source: str
    focal_px: float                 # self-calibrated focal length (NaN before any usable keyframe pair)
    focal_converged: bool
    focal_pairs: int
    ms_features: float
    ms_slam: float                  # features + tracking + mapping (+ BA)
    ms_total: float                 # the whole branch step
    incidents: tuple = ()           # (kind, reason) of the solvers' fallbacks this frame (TrackResult.incidents)


@dataclass(frozen=True)
class SlamOutput:
    """Result of :meth:`SlamBranch.process` for one image."""

    pose: CameraPose
    map_points_world_m: np.ndarray  # (N, 3) world frame, metres
    diagnostics: SlamDiagnostics
    ground: GroundPlane | None = None    # in the current map (SLAM units)
    pose_raw: CameraPose | None = None   # the same pose before the EMA correction


class SlamBranch:
    """Masked SLAM in one continuous, gravity-up, metric world frame (module docstring)."""

    def __init__(self, config: SlamBranchConfig = SlamBranchConfig(), depth_model: MetricDepthModel | None = None):
        self.config = config
        self.slam = MonocularSlam(config.slam)
        self.rotation = RotationTracker(self.slam.extractor, config.rotation)
        self.world = WorldFrame()
        self.ema = EmaTrajectorySmoother(config.ema)
        self.scale = ScaleEstimator(config.scale, depth_model)
        self.gravity = GravityEstimator(config.gravity)
        self.lines = VerticalLineDetector(config.gravity) if 'vertical_lines' in config.gravity.cues else None
        self.aligner = GravityAligner(config.ground.blend_rate_deg)
        self.focal = FocalEstimator(config.focal)
        self.ground: GroundPlane | None = None
        self.floor = FloorTracker(config.ground)
        self._rng = np.random.default_rng(config.ground.seed)
        self._frames = 0
        self._published = False
        self._last_pose: CameraPose | None = None
        self._centres: deque[np.ndarray] = deque(maxlen=30)
        self._feet: deque[np.ndarray] = deque(maxlen=60)
        self._frames_since_search = 0
        self._segment = 0
        self._last_depth_m: float | None = None      # metric median scene depth of the last map pose
        self._scale_applied: float | None = None
        self._resume: SlamResumeState | None = None
        # the recent images' poses, for people that arrive after their image (add_people):
        # stamp -> (T_cam_map or None, R_O_cam, K, segment)
        self._recent: OrderedDict[int, tuple] = OrderedDict()
        self.late_people = {'used': 0, 'no_image': 0, 'untracked': 0}
        self._T_out_W = np.eye(4)        # published world <- W: identity, or the resumed world's yaw + offset

    def resume(self, state: SlamResumeState) -> None:
        """Continue the world of a previous SLAM (module docstring); before the first frame only.

        Raises:
            InputError: frames were processed already.
        """
        if self._frames:
            raise InputError('SlamBranch.resume after the first frame: resume a new branch before it processes')
        self._resume = state
        if state.scene_depth_m is not None and state.scene_depth_m > 0:
            self._last_depth_m = float(state.scene_depth_m)

    @property
    def resumed(self) -> bool:
        """Whether this branch continues a previous SLAM's world."""
        return self._resume is not None

    def resume_state(self, world_frame: str, wall_s: float) -> SlamResumeState | None:
        """What a successor needs to continue this world (None before the first pose)."""
        if self._last_pose is None:
            return None
        return SlamResumeState(world_frame, self._last_pose.T_world_cam_m, self._last_depth_m,
                               self._last_pose.scale_converged, self._last_pose.stamp_ns, wall_s)

    def process(self, frame: Frame, soft_mask: np.ndarray | None = None,
                camera_humans: HumansFrame | None = None) -> SlamOutput:
        """Process one image (strictly causal; the returned pose is final).

        Args:
            frame: the image with its intrinsics.
            soft_mask: (H, W) float32 ``C_soft`` in [0, 1] (``core.mask.soft_mask``), or None.
            camera_humans: people of this image in the camera optical frame (metres), or None.
        """
        t0 = time.perf_counter()
        K = frame.intrinsics.K
        first = self._frames == 0
        self._frames += 1
        r = self.slam.process(frame, soft_mask)
        if first:
            self.gravity.set_level_prior(np.array([0.0, -1.0, 0.0]))
        if r.segment != self._segment:
            # the map was dropped: a new one will be anchored at the pose reached meanwhile
            self._segment = r.segment
            self.scale.reset()
            self._feet.clear()
            self._centres.clear()
            self.ground = None
            self.floor = FloorTracker(self.config.ground)
            self._scale_applied = None
        T_map_cam = r.T_map_cam
        rot_inliers = 0
        if T_map_cam is not None:
            if r.new_map or not self.world.has_map:
                self.world.anchor_map(T_map_cam, self._initial_sigma(r.median_depth))
            else:
                self.world.set_map_pose(T_map_cam)
            state = POSE_TRACKING
            if r.features is not None and len(r.features) >= self.config.rotation.min_inliers:
                self.rotation.reset(r.features, K, self.world.R_O_cam)     # lost next frame: go on from here
        else:
            state = POSE_HELD
            feats = r.features
            if feats is not None and len(feats) >= self.config.rotation.min_inliers:
                if self.rotation.has_reference:
                    rr = self.rotation.track(feats, K)
                    rot_inliers = rr.n_inliers
                    if rr.R_world_cam is not None:
                        self.world.set_rotation(rr.R_world_cam)
                        state = POSE_ROTATION_ONLY
                    else:   # the view changed beyond recognition: go on from the held orientation
                        self.rotation.reset(feats, K, self.world.R_O_cam)
                else:
                    self.rotation.reset(feats, K, self.world.R_O_cam)
                    state = POSE_ROTATION_ONLY if first else POSE_HELD
        T_cam_map = None if T_map_cam is None else invert_transform(T_map_cam)
        pts_map = self.slam.map_points
        if T_map_cam is not None and r.keyframe_inserted and self.config.focal.enabled:
            self._add_focal_pair(K)
        if T_map_cam is not None:
            self._centres.append(T_map_cam[:3, 3].copy())
            if r.n_keyframes >= self.config.ground.min_keyframes:
                self._maybe_find_ground(pts_map)
        self._recent[int(frame.stamp_ns)] = (T_cam_map, self.world.R_O_cam.copy(), K, self._segment)
        while len(self._recent) > self.config.world.late_people_frames:
            self._recent.popitem(last=False)
        sc = self.scale.update(frame, T_cam_map, pts_map, self.ground, camera_humans, soft_mask)
        if T_map_cam is not None:
            if sc.measured and sc.scale != self._scale_applied:
                self.world.set_scale(sc.scale)
                self._scale_applied = sc.scale
            if np.isfinite(r.median_depth):
                self._last_depth_m = r.median_depth * self.world.sigma
            if camera_humans is not None and sc.measured:
                self._remember_feet(camera_humans, T_map_cam, self.world.sigma)
        self._update_gravity(frame, camera_humans, first)
        R_W_cam = self.aligner.R @ self.world.R_O_cam
        p_W = self.aligner.R @ self.world.p_O
        if first and self._resume is not None:
            self._T_out_W = yaw_aligning_cameras(self._resume.T_world_cam_m, make_transform(R_W_cam, p_W))
        R_W_cam = self._T_out_W[:3, :3] @ R_W_cam
        p_W = self._T_out_W[:3, :3] @ p_W + self._T_out_W[:3, 3]
        sigma = self.world.sigma if self.world.has_map else 1.0
        converged = bool(self.world.has_map and sc.converged)
        g = self.gravity.state()
        fs = self.focal.state()
        q_raw = quat_wxyz_from_rotmat(R_W_cam)
        t_s, q_s = self.ema.update(p_W, q_raw)
        status = r.status if state == POSE_TRACKING else f'{state} ({r.status})'
        common = dict(scale=sigma, tracking=state == POSE_TRACKING, status=status, state=state,
                      scale_converged=converged, gravity_aligned=g.aligned, person_size=sc.person_size)
        pose = CameraPose(frame.stamp_ns, q_s, t_s / sigma, **common)
        pose_raw = CameraPose(frame.stamp_ns, q_raw, p_W / sigma, **common)
        self._published = True
        self._last_pose = pose
        pts_world = transform_points(self._T_W_O(), self.world.map_to_O(pts_map)) if len(pts_map) else np.zeros((0, 3))
        ms_total = (time.perf_counter() - t0) * 1e3
        diag = SlamDiagnostics(
            state, r.state, status, state == POSE_TRACKING, r.n_features, r.n_matches, r.n_inliers, r.n_keyframes,
            r.n_map_points, r.keyframe_inserted, r.ba_ran, r.segment, rot_inliers, g.aligned, self.aligner.blending,
            g.sigma_deg, g.weights, sigma, sc.measured, converged, sc.n_samples, sc.source, fs.focal_px,
            fs.converged, fs.n_pairs, r.ms_features, r.ms_total, ms_total, r.incidents)
        return SlamOutput(pose, pts_world, diag, self.ground, pose_raw)

    # ------------------------------------------------------------------ world
    def _T_W_O(self) -> np.ndarray:
        """(4, 4) the tracking frame O -> the published world (gravity alignment, then a resumed world's yaw)."""
        T = np.eye(4)
        T[:3, :3] = self.aligner.R
        return self._T_out_W @ T

    def _initial_sigma(self, median_depth: float) -> float:
        """Metres per SLAM unit of a new map: carried from the old map's last scene depth, or the prior."""
        depth = median_depth if np.isfinite(median_depth) and median_depth > 0 else 1.0
        cfg = self.config.world
        if cfg.carry_scale and self._last_depth_m is not None:
            return self._last_depth_m / depth
        return cfg.prior_scene_depth_m / depth

    def _add_focal_pair(self, K: np.ndarray) -> None:
        """The newest keyframe and the one two before it (more baseline) -> the focal-length estimate."""
        kfs = self.slam.keyframes
        if len(kfs) < 2:
            return
        a, b = kfs[-1], kfs[-3] if len(kfs) >= 3 else kfs[-2]
        qi, ti = self.slam.extractor.match(a.features.descriptors, b.features.descriptors)
        self.focal.add_pair(b.features.keypoints_px[ti], a.features.keypoints_px[qi], K)

    # ------------------------------------------------------------------ gravity
    def _update_gravity(self, frame: Frame, humans: HumansFrame | None, first: bool) -> None:
        cfg = self.config.gravity
        self.gravity.step()
        R_O_cam = self.world.R_O_cam
        if self.lines is not None and (self._frames - 1) % cfg.lines_every == 0:
            est = self.gravity.up
            vd = self.lines.detect(frame.image_rgb, frame.intrinsics.K, R_O_cam.T @ est)
            if vd is not None:
                self.gravity.add('vertical_lines', R_O_cam @ vd.up_cam, sigma_scale=max(1.0, vd.spread_deg))
        if humans is not None and 'people' in cfg.cues:
            if humans.frame_id == 'world':
                raise InputError("gravity from people needs camera-frame people (frame_id 'camera'), got 'world'")
            for h in humans.humans:
                up = trunk_up_cam(h.joints, h.joint_confidence, cfg.people_min_confidence)
                if up is not None:
                    self.gravity.add('people', R_O_cam @ up)
        up = self.gravity.up
        if up is None:
            return
        if first or not self._published:
            self.aligner.set_up(up, any_pose_published=False)
            return
        moved = np.degrees(np.arccos(np.clip(up @ self.aligner.target_up, -1.0, 1.0)))
        if moved >= self.config.world.regravity_min_deg:
            self.aligner.set_up(up, any_pose_published=True)
        self.aligner.step()

    def _maybe_find_ground(self, pts_map: np.ndarray) -> None:
        cfg = self.config.ground
        if self.ground is not None:
            # the offset follows the map's scale drift every frame
            self.ground = track_ground_offset(self.ground, pts_map, self._centres[-1], cfg)
        self._frames_since_search += 1
        if self._frames_since_search < cfg.search_every:
            return
        self._frames_since_search = 0
        up_map = self.world.direction_O_to_map(self.gravity.up)
        centres = np.stack(self._centres)
        # search the floor along the sharpest near-vertical direction within 3 sigma of the gravity estimate
        tilt = min(3.0 * self.gravity.sigma_deg, cfg.max_tilt_deg)
        up_floor = sharpest_floor_direction(pts_map, centres, up_map, tilt, cfg)
        plane, measured = self.floor.update(pts_map, centres, up_floor, self.ground)
        if plane is None:
            return
        self.ground = plane
        if measured and 'ground' in self.config.gravity.cues:
            ref = self.config.gravity.ground_reference_inliers
            self.gravity.add('ground', self.world.direction_map_to_O(plane.normal),
                             sigma_scale=max(1.0, ref / max(plane.n_inliers, 1)))

    def add_people(self, humans: HumansFrame) -> str:
        """The people of an image processed earlier (camera frame, metres), for a SLAM that does not wait
        for them: scale ruler, feet for the floor and the upright cue, measured with that image's pose
        (kept for the last ``world.late_people_frames`` images); they count from the next image on.
        Returns what was done ('used', 'no_image': not among the recent images, 'untracked': no map
        pose for it or a map dropped since); ``late_people`` counts each."""
        if humans.frame_id == 'world':
            raise InputError("add_people needs camera-frame people (frame_id 'camera'), got 'world'")
        entry = self._recent.get(int(humans.stamp_ns))
        if entry is None:
            outcome = 'no_image'
        else:
            T_cam_map, R_O_cam, K, segment = entry
            if 'people' in self.config.gravity.cues:
                for h in humans.humans:
                    up = trunk_up_cam(h.joints, h.joint_confidence, self.config.gravity.people_min_confidence)
                    if up is not None:
                        self.gravity.add('people', R_O_cam @ up)
            if T_cam_map is None or segment != self._segment:
                outcome = 'untracked'
            else:
                value, _ = self.scale.add_people(K, T_cam_map, self.ground, humans)
                if np.isfinite(value) and self.world.has_map:
                    self._remember_feet(humans, invert_transform(T_cam_map), self.world.sigma)
                outcome = 'used'
        self.late_people[outcome] += 1
        return outcome

    def _remember_feet(self, humans: HumansFrame, T_map_cam: np.ndarray, sigma: float) -> None:
        cfg = self.config.scale
        for h in humans.humans:
            for j in cfg.foot_joints:
                if h.joint_confidence[j] >= cfg.min_joint_confidence:
                    self._feet.append(transform_points(T_map_cam, (np.asarray(h.joints[j], float) / sigma)[None])[0])

    @property
    def state(self) -> str:
        """Pose state of the last frame (one of ``POSE_STATES``; ``held`` before the first frame)."""
        return self._last_pose.state if self._last_pose is not None else POSE_HELD
