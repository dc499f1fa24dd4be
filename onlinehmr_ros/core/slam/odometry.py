"""Masked incremental monocular SLAM (CPU), ROS-free.

A small keyframe-based visual odometry in the spirit of ORB-SLAM's front end,
strictly incremental (no loop closure, no global optimisation: each frame's
pose is final when returned) and with bounded memory:

* features on the static background only, weighted by ``1 - C_soft``
  (:mod:`.features`);
* two-view initialisation: essential matrix (RANSAC), ``recoverPose``,
  triangulation, accepted only with enough points of enough parallax (a static
  or purely rotating camera stays "not initialised"); the map scale is set so
  that the median depth seen from the first keyframe is 1 SLAM unit;
* tracking against the local map: constant-velocity prediction, descriptor
  matching gated around the predicted projections, PnP + RANSAC, weighted
  Huber Gauss-Newton refinement; a motion check against the prediction (a
  solution that would teleport the camera with no more support than the
  prediction is replaced by the prediction refined on the same matches);
* keyframes when the tracked share drops or after a maximum gap (with a
  minimum baseline), triangulation of new points against the previous
  keyframes, local bundle adjustment over a window of recent keyframes
  (oldest ones fixed) with ``scipy.optimize.least_squares`` and a sparse
  Jacobian;
* map pruning: at most ``max_keyframes`` keyframes; points seen by none of
  them are dropped;
* tracking loss (blank frame, cut, a frame full of a person): relocalisation
  against the kept map (same map frame); after ``max_lost_frames`` frames
  without success the map is dropped and a new one is initialised: the
  ``segment`` counter increases and the result says ``new_map``.

Poses are given in the *map frame* of the current segment: the optical frame of
its first keyframe, scaled so that the median depth of its first points is 1
(SLAM units). Placing each map in the one world frame (anchored at the camera's
pose when it starts, scale carried over), gravity, EMA and metric scale are the
business of :class:`onlinehmr_ros.core.slam.branch.SlamBranch`
(:mod:`.world_frame`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import (axis_angle_from_rotmat, invert_transform, make_transform,
                                                project_points, rotmat_from_axis_angle, skew_matrix)
from onlinehmr_ros.core.slam.features import FeatureConfig, FeatureExtractor, Features
from onlinehmr_ros.core.slam.optim import local_bundle_adjustment, refine_pose, reprojection_errors

# tracking states (also the first word of the status string)
NOT_INITIALISED = 'not_initialised'
INITIALISING = 'initialising'
TRACKING = 'tracking'
RELOCALISED = 'relocalised'
LOST = 'lost'
REINITIALISED = 'reinitialised'


@dataclass(frozen=True)
class SlamConfig:
    """Parameters of the monocular SLAM (pixels at the input resolution, frames, degrees).

    Attributes:
        features: detector / matcher settings (ORB by default).
        min_features: fewer usable features than this and the frame is not tracked.
        init_min_matches: matches to the initialisation reference needed to try.
        init_min_parallax_deg: median ray angle of the initial points (the parallax check).
        init_min_points: triangulated initial points needed.
        init_ba_evaluations: LM evaluations of the two-view bundle adjustment at initialisation.
        init_max_ref_age: frames after which a reference that did not initialise is replaced.
        essential_ransac_px: RANSAC threshold for the essential matrix.
        pnp_reproj_px: PnP RANSAC / inlier threshold.
        min_tracking_inliers: fewer PnP inliers and tracking is lost.
        search_radius_px: gate around predicted projections in tracking.
        kf_max_gap: frames after which a keyframe is inserted (given enough baseline).
        kf_min_gap: frames between keyframes at least.
        kf_tracked_ratio: insert a keyframe when inliers drop below this share of the
            points seen by the last keyframe.
        kf_min_baseline: minimum baseline to the last keyframe, as a share of its median depth.
        tri_min_parallax_deg, tri_max_reproj_px: acceptance of newly triangulated points.
        tri_keyframes: how many previous keyframes new points are triangulated against.
        ba_enabled, ba_window, ba_fixed, ba_max_evaluations, ba_huber_px, ba_solver: local BA
            (``ba_solver`` 'schur_lm' or 'scipy', see :func:`.optim.local_bundle_adjustment`;
            ``ba_fix_first_only``: while the map's first keyframe is in the window, fix only it
            instead of the ``ba_fixed`` oldest ones).
        max_keyframes: keyframes kept (bounded memory; older ones and their points dropped).
        reloc_min_inliers: PnP inliers needed to relocalise.
        max_lost_frames: lost frames (with features) before a new map is initialised.
        motion_gate: check each tracked pose against the constant-velocity prediction (see
            :meth:`MonocularSlam._motion_check`): a PnP solution whose camera centre lands farther than
            ``motion_gate_k`` x the median of the last ``motion_gate_history`` centre steps plus
            ``motion_gate_floor`` x the median depth of its points (SLAM units) from the prediction, or
            whose rotation differs from the predicted one by more than ``motion_gate_k`` x the median
            rotation step plus ``motion_gate_rot_floor_deg``, is implausible; the pose is then also
            refined from the prediction on the same matches, and that solution is kept when it has at
            least ``motion_gate_support`` x the PnP solution's inliers.
    """

    features: FeatureConfig = field(default_factory=FeatureConfig)
    min_features: int = 60
    init_min_matches: int = 80
    init_min_parallax_deg: float = 1.5
    init_min_points: int = 60
    init_max_ref_age: int = 40
    init_ba_evaluations: int = 15
    essential_ransac_px: float = 1.0
    pnp_reproj_px: float = 3.0
    min_tracking_inliers: int = 25
    search_radius_px: float = 40.0
    kf_max_gap: int = 8
    kf_min_gap: int = 2
    kf_tracked_ratio: float = 0.75
    kf_min_baseline: float = 0.02
    tri_min_parallax_deg: float = 1.0
    tri_max_reproj_px: float = 2.0
    tri_keyframes: int = 2
    ba_enabled: bool = True
    ba_window: int = 5
    ba_fixed: int = 2
    ba_max_evaluations: int = 6
    ba_huber_px: float = 2.0
    ba_solver: str = 'schur_lm'
    ba_fix_first_only: bool = False
    max_keyframes: int = 10
    reloc_min_inliers: int = 30
    max_lost_frames: int = 15
    motion_gate: bool = True
    motion_gate_k: float = 4.0
    motion_gate_floor: float = 0.02
    motion_gate_rot_floor_deg: float = 1.0
    motion_gate_history: int = 10
    motion_gate_support: float = 1.0

    def __post_init__(self):
        if self.ba_fixed < 1 or self.ba_window <= self.ba_fixed:
            raise InputError(f'need 1 <= ba_fixed < ba_window, got {self.ba_fixed}, {self.ba_window}')
        if self.max_keyframes < max(self.ba_window, self.tri_keyframes + 1):
            raise InputError('max_keyframes must be >= ba_window and > tri_keyframes')
        if not (self.motion_gate_k >= 0 and self.motion_gate_floor >= 0 and self.motion_gate_rot_floor_deg >= 0
                and self.motion_gate_history >= 1 and self.motion_gate_support > 0):
            raise InputError('motion gate needs k, floor, rot_floor_deg >= 0, history >= 1 and support > 0')


@dataclass
class Keyframe:
    """A keyframe: pose, features and the map point of each feature (-1: none)."""

    kf_id: int
    frame_index: int                 # the tracker's own running frame count (not Frame.index)
    T_cam_world: np.ndarray          # (4, 4) map frame -> camera
    features: Features
    point_ids: np.ndarray            # (N,) int64


class MapPoints:
    """Map points in arrays, ids increasing (rows found by binary search)."""

    def __init__(self, descriptor_dim: int, descriptor_dtype):
        self.ids = np.zeros(0, np.int64)
        self.xyz = np.zeros((0, 3))
        self.desc = np.zeros((0, descriptor_dim), descriptor_dtype)
        self._next = 0

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, xyz: np.ndarray, desc: np.ndarray) -> np.ndarray:
        new = np.arange(self._next, self._next + len(xyz), dtype=np.int64)
        self._next += len(xyz)
        self.ids = np.concatenate([self.ids, new])
        self.xyz = np.concatenate([self.xyz, xyz])
        self.desc = np.concatenate([self.desc, desc.astype(self.desc.dtype)])
        return new

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ``ids`` (-1 where the id is no longer in the map)."""
        r = np.searchsorted(self.ids, ids)
        r = np.minimum(r, max(len(self.ids) - 1, 0))
        ok = (len(self.ids) > 0) & (self.ids[r] == ids) if len(self.ids) else np.zeros(len(ids), bool)
        return np.where(ok, r, -1)

    def keep(self, mask: np.ndarray) -> None:
        self.ids, self.xyz, self.desc = self.ids[mask], self.xyz[mask], self.desc[mask]


@dataclass(frozen=True)
class TrackResult:
    """Result of one frame of :class:`MonocularSlam`.

    T_map_cam: (4, 4) camera-to-map of the current segment (SLAM units), None when the
        frame has no pose (not initialised / lost).
    state: one of the module's state constants; status: human-readable line.
    segment: map segment (increases on re-initialisation); new_map: this frame initialised
        the segment's map (its first pose).
    features: the frame's masked features (reused by the rotation-only tracker).
    median_depth: median depth of the frame's inlier map points (SLAM units), NaN without a pose.
    incidents: ``(kind, reason)`` of the solvers' fallbacks this frame (``'pose_refinement_fallback'``,
        ``'bundle_adjustment_fallback'``; see :mod:`.optim`), for /diagnostics.
    """

    T_map_cam: np.ndarray | None
    state: str
    status: str
    segment: int
    new_map: bool
    n_features: int
    n_matches: int
    n_inliers: int
    n_keyframes: int
    n_map_points: int
    keyframe_inserted: bool
    ba_ran: bool
    ms_features: float
    ms_total: float
    features: Features | None = None
    median_depth: float = float('nan')
    incidents: tuple[tuple[str, str], ...] = ()


class MonocularSlam:
    """Incremental monocular SLAM: ``process(frame, soft_mask) -> TrackResult``."""

    def __init__(self, config: SlamConfig = SlamConfig()):
        self.config = config
        self.extractor = FeatureExtractor(config.features)
        self._reset_map()
        self.segment = 0
        self._count = -1                     # frames processed (own counter: Frame.index may not be set)
        self._size: tuple[int, int] | None = None   # image size of the current map

    # ------------------------------------------------------------------ state
    def _reset_map(self) -> None:
        desc_dim = 32 if self.config.features.backend == 'orb' else 64
        dtype = np.uint8 if self.config.features.backend == 'orb' else np.float32
        self.map = MapPoints(desc_dim, dtype)
        self.keyframes: list[Keyframe] = []
        self.state = NOT_INITIALISED
        self._init_ref: tuple[int, Features] | None = None
        self._T_last: np.ndarray | None = None         # T_cam_map of the last tracked frame
        self._velocity = np.eye(4)                     # T_cam_map(k) @ inv(T_cam_map(k-1))
        self._steps: list[tuple[float, float]] = []    # recent tracked (centre step, rotation step deg) per frame
        self._motion_note = ''
        self._last_index: int | None = None
        self._lost_count = 0
        self._next_kf = 0
        self._first_kf_id = 0
        self._frame_assoc = (np.zeros(0, np.int64), np.zeros(0, np.int64))   # (feature idx, map point id)

    @property
    def map_points(self) -> np.ndarray:
        """(N, 3) current map points in the map frame of the current segment (SLAM units)."""
        return self.map.xyz.copy() if len(self.map) else np.zeros((0, 3))

    # ------------------------------------------------------------------ main entry
    def process(self, frame: Frame, soft_mask: np.ndarray | None = None) -> TrackResult:
        """Track one image (call once per image, in order; the returned pose is final).

        Args:
            frame: the image and its intrinsics.
            soft_mask: (H, W) float32 ``C_soft`` in [0, 1], or None (nothing masked).
        """
        t0 = time.perf_counter()
        self._count += 1
        self._info = dict(n_matches=0, n_inliers=0, kf=False, ba=False, incidents=[])
        self._motion_note = ''
        size = (frame.width_px, frame.height_px)
        if self._size is not None and size != self._size and (self.keyframes or self._init_ref is not None):
            # a map (and its keypoints, focal length in pixels) at another resolution cannot be tracked
            what = f'map dropped, a new one starts (segment {self.segment + 1})' if self.keyframes else \
                'initialisation restarts at the new size'
            self._info['incidents'].append(('slam_restart_resolution_change', f'image size changed from '
                                            f'{self._size[0]}x{self._size[1]} to {size[0]}x{size[1]}: {what}'))
            if self.keyframes:
                self._start_new_segment()
            else:
                self._reset_map()
        self._size = size
        feats = self.extractor.extract(frame, soft_mask)
        t_feat = (time.perf_counter() - t0) * 1e3
        K = frame.intrinsics.K
        if len(feats) < self.config.min_features:
            reason = f'too few usable features ({len(feats)} < {self.config.min_features}'
            if feats.masked_fraction > 0.0:
                reason += f'; human mask covers {100 * feats.masked_fraction:.0f}% of the image'
            reason += ')'
            return self._fail(frame, feats, reason, t0, t_feat, count_lost=False)
        if self.state in (NOT_INITIALISED, INITIALISING):
            return self._initialise(frame, feats, K, t0, t_feat)
        if self.state == TRACKING:
            T = self._track_guided(frame, feats, K)
            state = TRACKING
            if T is None:
                T = self._relocalise(feats, K)
                state = RELOCALISED
        else:  # LOST
            T = self._relocalise(feats, K)
            state = RELOCALISED
        if T is None:
            return self._fail(frame, feats, f'tracking failed ({self._info["n_inliers"]} inliers of '
                              f'{self._info["n_matches"]} matches)', t0, t_feat, count_lost=True)
        status = f'{state}: {self._info["n_inliers"]} inliers'
        if state == RELOCALISED:
            status += ' (relocalised against the kept map)'
            self._velocity = np.eye(4)
            self._steps.clear()
        else:
            status += self._motion_note
            gap = max(self._count - self._last_index, 1)
            self._velocity = T @ invert_transform(self._T_last)
            dc, da = _pose_step(self._T_last, T)
            self._steps = (self._steps + [(dc / gap, da / gap)])[-self.config.motion_gate_history:]
        self._T_last = T
        self._last_index = self._count
        self._lost_count = 0
        self.state = TRACKING
        T = self._maybe_keyframe(frame, feats, T, K)
        return self._success(T, state, status, feats, t0, t_feat)

    # ------------------------------------------------------------------ results
    def _result(self, T_map_cam, state, status, feats, t0, t_feat, new_map=False, median_depth=float('nan')
                ) -> TrackResult:
        return TrackResult(T_map_cam, state, status, self.segment, new_map, len(feats),
                           self._info['n_matches'], self._info['n_inliers'], len(self.keyframes), len(self.map),
                           self._info['kf'], self._info['ba'], t_feat, (time.perf_counter() - t0) * 1e3,
                           feats, median_depth, tuple(self._info['incidents']))

    def _success(self, T_cam_map, state, status, feats, t0, t_feat, new_map=False) -> TrackResult:
        return self._result(invert_transform(T_cam_map), state, status, feats, t0, t_feat, new_map,
                            self._median_depth(T_cam_map))

    def _median_depth(self, T_cam_map: np.ndarray) -> float:
        """Median depth (SLAM units) of the map points this frame's pose was computed from."""
        ids = self._frame_assoc[1]
        rows = self.map.rows(ids) if len(ids) else np.zeros(0, np.int64)
        rows = rows[rows >= 0]
        if not len(rows):
            rows = np.arange(len(self.map))
        if not len(rows):
            return float('nan')
        z = self.map.xyz[rows] @ T_cam_map[2, :3] + T_cam_map[2, 3]
        z = z[z > 0]
        return float(np.median(z)) if len(z) else float('nan')

    def _fail(self, frame, feats, reason, t0, t_feat, count_lost) -> TrackResult:
        if self.state in (NOT_INITIALISED, INITIALISING):
            return self._result(None, NOT_INITIALISED, f'{NOT_INITIALISED}: {reason}', feats, t0, t_feat)
        self.state = LOST
        self._lost_count += 1
        status = f'{LOST}: {reason}; lost for {self._lost_count} frame(s)'
        if count_lost and self._lost_count > self.config.max_lost_frames:
            self._start_new_segment()
            status += '; map dropped, re-initialising a new segment'
        return self._result(None, LOST, status, feats, t0, t_feat)

    def _start_new_segment(self) -> None:
        self._reset_map()
        self.segment += 1

    # ------------------------------------------------------------------ initialisation
    def _initialise(self, frame: Frame, feats: Features, K: np.ndarray, t0, t_feat) -> TrackResult:
        cfg = self.config
        if self._init_ref is None or self._count - self._init_ref[0] > cfg.init_max_ref_age:
            self._init_ref = (self._count, feats)
            self.state = INITIALISING
            return self._result(None, NOT_INITIALISED, f'{NOT_INITIALISED}: initialisation reference set',
                                feats, t0, t_feat)
        ref_index, ref = self._init_ref
        qi, ti = self.extractor.match(feats.descriptors, ref.descriptors)
        self._info['n_matches'] = len(qi)
        if len(qi) < cfg.init_min_matches:
            self._init_ref = (self._count, feats)
            return self._result(None, NOT_INITIALISED, f'{NOT_INITIALISED}: {len(qi)} matches to the reference '
                                f'(< {cfg.init_min_matches}); reference replaced', feats, t0, t_feat)
        p0 = ref.keypoints_px[ti]
        p1 = feats.keypoints_px[qi]
        flow = float(np.median(np.linalg.norm(p1 - p0, axis=1)))
        if flow < 1.0:
            return self._result(None, NOT_INITIALISED, f'{NOT_INITIALISED}: no parallax (median flow {flow:.2f} px, '
                                'static camera?)', feats, t0, t_feat)
        E, inl = cv2.findEssentialMat(p0, p1, K, cv2.RANSAC, 0.999, cfg.essential_ransac_px)
        if E is None or E.shape != (3, 3):
            return self._result(None, NOT_INITIALISED, f'{NOT_INITIALISED}: essential matrix failed',
                                feats, t0, t_feat)
        _, R, t, inl2 = cv2.recoverPose(E, p0, p1, K, mask=inl.copy())
        good = inl2.ravel() > 0
        T1 = make_transform(R, t.ravel())
        X, ok, parallax = _triangulate(K, np.eye(4), T1, p0[good], p1[good], cfg.tri_max_reproj_px)
        sel = np.flatnonzero(good)[ok]
        med_par = float(np.median(parallax[ok])) if ok.any() else 0.0
        self._info['n_inliers'] = int(ok.sum())
        if ok.sum() < cfg.init_min_points or med_par < cfg.init_min_parallax_deg:
            return self._result(None, NOT_INITIALISED,
                                f'{NOT_INITIALISED}: parallax {med_par:.2f} deg (need {cfg.init_min_parallax_deg}) '
                                f'with {int(ok.sum())} points (need {cfg.init_min_points})', feats, t0, t_feat)
        X = X[ok]
        med_depth = float(np.median(X[:, 2]))
        X = X / med_depth
        T1[:3, 3] /= med_depth
        ids = self.map.add(X, feats.descriptors[qi[sel]])
        kf0 = Keyframe(self._next_kf, ref_index, np.eye(4), ref, -np.ones(len(ref), np.int64))
        kf1 = Keyframe(self._next_kf + 1, self._count, T1, feats, -np.ones(len(feats), np.int64))
        self._next_kf += 2
        kf0.point_ids[ti[sel]] = ids
        kf1.point_ids[qi[sel]] = ids
        self.keyframes = [kf0, kf1]
        self._first_kf_id = kf0.kf_id
        if cfg.ba_enabled and cfg.init_ba_evaluations > 0:
            # two-view bundle adjustment (first keyframe fixed), then the median depth is set to 1 again
            self._local_ba(K, max_evaluations=cfg.init_ba_evaluations)
            rows = self.map.rows(kf0.point_ids[kf0.point_ids >= 0])
            med = float(np.median(self.map.xyz[rows[rows >= 0], 2]))
            if med > 0:
                self.map.xyz /= med
                kf1.T_cam_world[:3, 3] /= med
            T1 = kf1.T_cam_world
        n = max(self._count - ref_index, 1)
        rv = axis_angle_from_rotmat(R) / n
        self._velocity = make_transform(rotmat_from_axis_angle(rv), T1[:3, 3] / n)
        self._T_last = T1
        self._last_index = self._count
        self._init_ref = None
        self._lost_count = 0
        self.state = TRACKING
        state = REINITIALISED if self.segment > 0 else TRACKING
        status = (f'{state}: map initialised from frames {ref_index}-{self._count} with {len(ids)} points, '
                  f'parallax {med_par:.1f} deg')
        if self.segment > 0:
            status += f'; new map, segment {self.segment}'
        self._info['kf'] = True
        self._frame_assoc = (qi[sel], ids)
        return self._success(T1, state, status, feats, t0, t_feat, new_map=True)

    # ------------------------------------------------------------------ tracking
    def _pnp(self, K, X, uv, w, T_guess, iterations):
        cfg = self.config
        if len(X) < 6:
            return None, np.zeros(len(X), bool)
        ok, rvec, tvec, inl = cv2.solvePnPRansac(X, uv, K, None, iterationsCount=iterations,
                                                 reprojectionError=cfg.pnp_reproj_px, confidence=0.999,
                                                 flags=cv2.SOLVEPNP_EPNP)
        if not ok or inl is None or len(inl) < 6:
            return None, np.zeros(len(X), bool)
        T = make_transform(rotmat_from_axis_angle(rvec.ravel()), tvec.ravel())
        mask = np.zeros(len(X), bool)
        mask[inl.ravel()] = True
        return self._refine_from(K, T, X, uv, w, mask)

    def _refine_from(self, K, T, X, uv, w, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """Refine a pose on the matches ``mask`` (default: those within the inlier threshold of ``T``),
        then again on the inliers of the result: returns the refined pose and its inlier mask."""
        if mask is None:
            mask = reprojection_errors(K, T, X, uv) < self.config.pnp_reproj_px
        if mask.sum() < 6:
            return T, mask
        T = self._refine(K, T, X[mask], uv[mask], w[mask], 6)
        mask = reprojection_errors(K, T, X, uv) < self.config.pnp_reproj_px
        if mask.sum() >= 6:
            T = self._refine(K, T, X[mask], uv[mask], w[mask], 3)
            mask = reprojection_errors(K, T, X, uv) < self.config.pnp_reproj_px
        return T, mask

    def _motion_check(self, K, X, uv, w, T, inl, T_pred, gap) -> tuple[np.ndarray, np.ndarray]:
        """Motion consistency of a tracked PnP pose (causal; ``SlamConfig.motion_gate``).

        A camera that moved smoothly so far does not teleport: a PnP solution far from the constant-velocity
        prediction (beyond ``k`` x the recent per-frame step plus a floor, in position or rotation) with
        no more support than the prediction is usually a degenerate inlier set (near-planar or a small
        patch of the scene: a rotation-translation ambiguity). The pose is then also refined from the
        prediction on the same matches; the solution with more inliers is kept (ties: the prediction's,
        ``motion_gate_support``). Returns the kept pose and inlier mask; ``self._motion_note`` says what
        was done (status line).
        """
        cfg = self.config
        self._motion_note = ''
        if not cfg.motion_gate or len(self._steps) < 2:
            return T, inl
        dc, da = _pose_step(T_pred, T)
        steps = np.asarray(self._steps)
        z = X[inl] @ T[2, :3] + T[2, 3]
        z = z[z > 0]
        depth = float(np.median(z)) if len(z) else 1.0
        n = min(gap, 5)
        max_dc = n * cfg.motion_gate_k * float(np.median(steps[:, 0])) + cfg.motion_gate_floor * depth
        max_da = n * cfg.motion_gate_k * float(np.median(steps[:, 1])) + cfg.motion_gate_rot_floor_deg
        if dc <= max_dc and da <= max_da:
            return T, inl
        T_p, inl_p = self._refine_from(K, T_pred, X, uv, w)
        what = (f'; implausible step ({dc:.3f} units / {da:.1f} deg from the prediction, bound '
                f'{max_dc:.3f} / {max_da:.1f})')
        if inl_p.sum() >= cfg.motion_gate_support * inl.sum():
            self._motion_note = (what + f': refined from the prediction ({int(inl_p.sum())} vs {int(inl.sum())} '
                                 'inliers)')
            return T_p, inl_p
        self._motion_note = what + f': kept, better supported ({int(inl.sum())} vs {int(inl_p.sum())} inliers)'
        return T, inl

    def _refine(self, K, T, X, uv, w, iterations) -> np.ndarray:
        ref = refine_pose(K, T, X, uv, w, huber_px=self.config.ba_huber_px, iterations=iterations)
        if ref.fallback:
            self._info['incidents'].append(('pose_refinement_fallback', ref.fallback))
        return ref.T_cam_world

    def _track_guided(self, frame: Frame, feats: Features, K: np.ndarray) -> np.ndarray | None:
        cfg = self.config
        gap = max(self._count - (self._last_index if self._last_index is not None else self._count - 1), 1)
        T_pred = self._T_last
        for _ in range(min(gap, 5)):
            T_pred = self._velocity @ T_pred
        p = self.map.xyz @ T_pred[:3, :3].T + T_pred[:3, 3]
        W, H = frame.width_px, frame.height_px
        uv, z = project_points(K, p)                       # NaN behind the camera
        with np.errstate(invalid='ignore'):
            vis = np.flatnonzero((z > 1e-6) & (uv[:, 0] > -20) & (uv[:, 0] < W + 20) & (uv[:, 1] > -20)
                                 & (uv[:, 1] < H + 20))
        if len(vis) < cfg.min_tracking_inliers:
            return None
        qi, ti = self.extractor.match(feats.descriptors, self.map.desc[vis])
        d = np.linalg.norm(feats.keypoints_px[qi] - uv[vis[ti]], axis=1)
        g = d < cfg.search_radius_px
        qi, rows = qi[g], vis[ti[g]]
        self._info['n_matches'] = len(qi)
        if len(qi) < cfg.min_tracking_inliers:
            return None
        X, uv, w = self.map.xyz[rows], feats.keypoints_px[qi], feats.weights[qi]
        T, inl = self._pnp(K, X, uv, w, T_pred, 100)
        if T is not None:
            T, inl = self._motion_check(K, X, uv, w, T, inl, T_pred, gap)
        self._info['n_inliers'] = int(inl.sum())
        if T is None or inl.sum() < cfg.min_tracking_inliers:
            return None
        self._frame_assoc = (qi[inl], self.map.ids[rows[inl]])
        return T

    def _relocalise(self, feats: Features, K: np.ndarray) -> np.ndarray | None:
        cfg = self.config
        if len(self.map) < cfg.reloc_min_inliers:
            return None
        qi, rows = self.extractor.match(feats.descriptors, self.map.desc)
        self._info['n_matches'] = len(qi)
        if len(qi) < cfg.reloc_min_inliers:
            return None
        T, inl = self._pnp(K, self.map.xyz[rows], feats.keypoints_px[qi], feats.weights[qi], None, 300)
        self._info['n_inliers'] = int(inl.sum())
        if T is None or inl.sum() < cfg.reloc_min_inliers:
            return None
        self._frame_assoc = (qi[inl], self.map.ids[rows[inl]])
        return T

    # ------------------------------------------------------------------ keyframes and mapping
    def _maybe_keyframe(self, frame: Frame, feats: Features, T: np.ndarray, K: np.ndarray) -> np.ndarray:
        cfg = self.config
        last = self.keyframes[-1]
        gap = self._count - last.frame_index
        n_last = int((last.point_ids >= 0).sum())
        n_in = self._info['n_inliers']
        if gap < cfg.kf_min_gap:
            return T
        if not (gap >= cfg.kf_max_gap or n_in < cfg.kf_tracked_ratio * n_last):
            return T
        rows = self.map.rows(last.point_ids[last.point_ids >= 0])
        rows = rows[rows >= 0]
        depth = (self.map.xyz[rows] @ last.T_cam_world[2, :3] + last.T_cam_world[2, 3]) if len(rows) else np.ones(1)
        med_depth = float(np.median(depth))
        c_last = invert_transform(last.T_cam_world)[:3, 3]
        c_now = invert_transform(T)[:3, 3]
        if np.linalg.norm(c_now - c_last) < cfg.kf_min_baseline * med_depth:
            return T
        point_ids = -np.ones(len(feats), np.int64)
        qi, ids = self._frame_assoc
        point_ids[qi] = ids
        kf = Keyframe(self._next_kf, self._count, T, feats, point_ids)
        self._next_kf += 1
        for prev in self.keyframes[-cfg.tri_keyframes:][::-1]:
            self._triangulate_new(kf, prev, K)
        self.keyframes.append(kf)
        self._info['kf'] = True
        self._prune()
        if cfg.ba_enabled and len(self.keyframes) > cfg.ba_fixed:
            self._local_ba(K)
            self._info['ba'] = True
            T = kf.T_cam_world
            # keep the velocity consistent with the adjusted pose
            self._T_last = T
        return T

    def _triangulate_new(self, kf: Keyframe, prev: Keyframe, K: np.ndarray) -> None:
        cfg = self.config
        a = np.flatnonzero(kf.point_ids < 0)
        b = np.flatnonzero(prev.point_ids < 0)
        if len(a) < 8 or len(b) < 8:
            return
        qi, ti = self.extractor.match(kf.features.descriptors[a], prev.features.descriptors[b])
        if len(qi) < 8:
            return
        ia, ib = a[qi], b[ti]
        p_new = kf.features.keypoints_px[ia]
        p_old = prev.features.keypoints_px[ib]
        # epipolar gate with the known relative pose
        T_rel = kf.T_cam_world @ invert_transform(prev.T_cam_world)        # prev cam -> new cam
        R, t = T_rel[:3, :3], T_rel[:3, 3]
        tx = skew_matrix(t)
        Kinv = np.linalg.inv(K)
        Fm = Kinv.T @ tx @ R @ Kinv
        x0 = np.column_stack([p_old, np.ones(len(p_old))])
        x1 = np.column_stack([p_new, np.ones(len(p_new))])
        l1 = x0 @ Fm.T
        dist = np.abs(np.sum(l1 * x1, axis=1)) / np.maximum(np.hypot(l1[:, 0], l1[:, 1]), 1e-12)
        e = dist < 2.0
        if e.sum() < 8:
            return
        X, ok, par = _triangulate(K, prev.T_cam_world, kf.T_cam_world, p_old[e], p_new[e], cfg.tri_max_reproj_px)
        ok &= par >= cfg.tri_min_parallax_deg
        if not ok.any():
            return
        ia, ib = ia[e][ok], ib[e][ok]
        ids = self.map.add(X[ok], kf.features.descriptors[ia])
        kf.point_ids[ia] = ids
        prev.point_ids[ib] = ids

    def _prune(self) -> None:
        cfg = self.config
        if len(self.keyframes) > cfg.max_keyframes:
            self.keyframes = self.keyframes[-cfg.max_keyframes:]
        seen = np.unique(np.concatenate([kf.point_ids[kf.point_ids >= 0] for kf in self.keyframes]))
        self.map.keep(np.isin(self.map.ids, seen))

    def _local_ba(self, K: np.ndarray, max_evaluations: int | None = None) -> None:
        cfg = self.config
        window = self.keyframes[-cfg.ba_window:]
        fixed = np.zeros(len(window), bool)
        if window[0].kf_id == self._first_kf_id and self.config.ba_fix_first_only:
            # the map's first keyframe is the only fixed one while it is in the window (the scale gauge
            # is then held by the damping; fixing the second initial keyframe too would freeze the error
            # of the two-view initialisation into the map)
            fixed[0] = True
        else:
            fixed[:min(cfg.ba_fixed, len(window) - 1)] = True
        cams, kps, pids, ws, fidx = [], [], [], [], []
        for c, kf in enumerate(window):
            f = np.flatnonzero(kf.point_ids >= 0)
            cams.append(np.full(len(f), c))
            kps.append(kf.features.keypoints_px[f])
            pids.append(kf.point_ids[f])
            ws.append(kf.features.weights[f])
            fidx.append(f)
        cams, kps, pids, ws, fidx = map(np.concatenate, (cams, kps, pids, ws, fidx))
        rows = self.map.rows(pids)
        valid = rows >= 0
        cams, kps, pids, ws, fidx, rows = (x[valid] for x in (cams, kps, pids, ws, fidx, rows))
        uniq, inv, counts = np.unique(rows, return_inverse=True, return_counts=True)
        multi = counts[inv] >= 2
        if multi.sum() < 20:
            return
        cams, kps, ws, fidx, rows = (x[multi] for x in (cams, kps, ws, fidx, rows))
        uniq, inv = np.unique(rows, return_inverse=True)
        T = np.stack([kf.T_cam_world for kf in window])
        res = local_bundle_adjustment(K, T, fixed, self.map.xyz[uniq], cams, inv, kps, ws,
                                      huber_px=cfg.ba_huber_px,
                                      max_evaluations=max_evaluations or cfg.ba_max_evaluations,
                                      solver=cfg.ba_solver)
        if res.fallback:
            self._info['incidents'].append(('bundle_adjustment_fallback', res.fallback))
        for c, kf in enumerate(window):
            kf.T_cam_world = res.T_cam_world[c]
        self.map.xyz[uniq] = res.points_world
        bad = res.errors_px > 3.0 * cfg.ba_huber_px
        for c, kf in enumerate(window):
            sel = bad & (cams == c)
            kf.point_ids[fidx[sel]] = -1
        # points now behind a window camera or without support are removed by the next prune


def _pose_step(T0_cw: np.ndarray, T1_cw: np.ndarray) -> tuple[float, float]:
    """Camera-centre distance and rotation angle (degrees) between two camera-from-world poses."""
    c0 = -T0_cw[:3, :3].T @ T0_cw[:3, 3]
    c1 = -T1_cw[:3, :3].T @ T1_cw[:3, 3]
    angle = np.linalg.norm(axis_angle_from_rotmat(T1_cw[:3, :3] @ T0_cw[:3, :3].T))
    return float(np.linalg.norm(c1 - c0)), float(np.degrees(angle))


def _triangulate(K, T0_cw, T1_cw, p0, p1, max_reproj_px):
    """Triangulate correspondences between two views.

    Returns:
        X (N, 3) world points, ok (N,) bool (in front of both, reprojection below
        ``max_reproj_px`` in both), parallax (N,) ray angle in degrees.
    """
    if len(p0) == 0:
        return np.zeros((0, 3)), np.zeros(0, bool), np.zeros(0)
    P0 = K @ T0_cw[:3]
    P1 = K @ T1_cw[:3]
    Xh = cv2.triangulatePoints(P0, P1, p0.T.astype(np.float64), p1.T.astype(np.float64))
    with np.errstate(divide='ignore', invalid='ignore'):
        X = (Xh[:3] / Xh[3]).T
    finite = np.all(np.isfinite(X), axis=1)
    X = np.where(finite[:, None], X, 0.0)
    e0 = reprojection_errors(K, T0_cw, X, p0)
    e1 = reprojection_errors(K, T1_cw, X, p1)
    c0 = invert_transform(T0_cw)[:3, 3]
    c1 = invert_transform(T1_cw)[:3, 3]
    r0 = X - c0
    r1 = X - c1
    cosang = np.sum(r0 * r1, axis=1) / np.maximum(np.linalg.norm(r0, axis=1) * np.linalg.norm(r1, axis=1), 1e-12)
    parallax = np.degrees(np.arccos(np.clip(cosang, -1.0, 1.0)))
    ok = finite & (e0 < max_reproj_px) & (e1 < max_reproj_px)
    return X, ok, parallax
