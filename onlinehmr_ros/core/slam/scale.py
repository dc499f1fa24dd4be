"""Metric scale ``s`` (metres per SLAM unit) of the monocular SLAM branch, ROS-free.

Monocular SLAM recovers the trajectory up to scale. ``ScaleEstimator`` turns
per-frame measurements of ``s`` into a causal, robust estimate (the median of
the last ``window`` measurements). Measurements:

* ``'human'`` (default) - the person as a metric ruler. The camera-space HMR
  branch gives the feet of each person in metres in the camera optical frame
  (SMPL-24 joints 10/11 by default). Their depth ``z_m`` is compared with the
  SLAM depth ``z_slam`` of the ground they stand on, measured at the same pixel:
  if the ground plane is known, the depth where the ray through the foot's
  contact point (the foot joint lowered by ``foot_joint_height_m`` along the
  up direction) meets the ground plane; otherwise the median depth of the map
  points that project within ``foot_radius_px`` of the foot. ``s = z_m / z_slam``,
  the median over the feet of the frame.
* ``'camera_height'`` - a robot with a known camera height above the ground:
  ``s = camera_height_m / h_slam`` with ``h_slam`` the camera's distance to
  the ground plane.
* ``'depth_model'`` - a metric monocular depth network (the paper's MoGe-2)
  behind :class:`MetricDepthModel`: ``s = median(depth_m / z_slam)`` over the
  map points visible in the frame, with human pixels (``C_soft >=
  human_mask_threshold``) excluded. Only the interface is defined here; a
  backend implements ``predict_depth_m``.
* ``'fixed'`` - ``s = fixed_scale`` (e.g. SLAM units already metric).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame, HumansFrame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import backproject_pixels, project_points

if TYPE_CHECKING:  # the SLAM package imports this module
    from onlinehmr_ros.core.slam.ground import GroundPlane

SCALE_METHODS = ('human', 'camera_height', 'depth_model', 'fixed')
SMPL24_FEET = (10, 11)


class ScaleError(ValueError):
    """Scale estimation misconfigured (e.g. a method without what it needs)."""


class MetricDepthModel(ABC):
    """Interface of a metric monocular depth backend (e.g. MoGe-2) for ``method='depth_model'``."""

    @abstractmethod
    def predict_depth_m(self, frame: Frame) -> np.ndarray:
        """(H, W) float32 metric depth along the optical axis (metres; NaN or <= 0 where unknown)."""


@dataclass(frozen=True)
class ScaleConfig:
    """Metric scale settings.

    Attributes:
        method: one of 'human', 'camera_height', 'depth_model', 'fixed'.
        camera_height_m: camera height above the ground (metres), for 'camera_height'.
        fixed_scale: metres per SLAM unit for 'fixed'.
        initial_scale: value reported before the first measurement (metres per SLAM unit).
        foot_joints: joint indices of the feet in ``HumanState.joints`` (SMPL-24: 10, 11).
        foot_joint_height_m: height of those joints above the sole (metres).
        min_joint_confidence, min_human_confidence: feet / people below these are ignored.
        foot_radius_px: map points within this distance of a foot's pixel measure its ground depth
            (when no ground plane is known).
        min_points_per_foot: map points needed near a foot.
        human_mask_threshold: pixels with ``C_soft`` at or above this are human (depth_model method).
        window: measurements in the running median.
        converged_min_samples, converged_rel_spread: ``converged`` when at least that many
            measurements and the median absolute deviation / median is below the spread.
    """

    method: str = 'human'
    camera_height_m: float | None = None
    fixed_scale: float = 1.0
    initial_scale: float = 1.0
    foot_joints: tuple = SMPL24_FEET
    foot_joint_height_m: float = 0.05
    min_joint_confidence: float = 0.5
    min_human_confidence: float = 0.3
    foot_radius_px: float = 40.0
    min_points_per_foot: int = 4
    human_mask_threshold: float = 0.5
    window: int = 30
    converged_min_samples: int = 10
    converged_rel_spread: float = 0.05

    def __post_init__(self):
        if self.method not in SCALE_METHODS:
            raise ScaleError(f'ScaleConfig.method must be one of {SCALE_METHODS}, got {self.method!r}')
        if self.method == 'camera_height' and not (self.camera_height_m and self.camera_height_m > 0):
            raise ScaleError("method 'camera_height' needs camera_height_m > 0 (metres above the ground)")
        if self.method == 'fixed' and not self.fixed_scale > 0:
            raise ScaleError(f'fixed_scale must be > 0, got {self.fixed_scale}')
        if not self.initial_scale > 0 or self.window < 1:
            raise ScaleError('initial_scale must be > 0 and window >= 1')


@dataclass(frozen=True)
class ScaleState:
    """Scale after one frame.

    scale: metres per SLAM unit (``initial_scale`` until measured).
    measured: at least one measurement so far; converged: see ScaleConfig.
    n_samples: measurements in the window; last_measurement: this frame's (NaN if none).
    source: how this frame's measurement was taken (or why none was).
    """

    scale: float
    measured: bool
    converged: bool
    n_samples: int
    last_measurement: float
    source: str


class ScaleEstimator:
    """Causal robust metric-scale estimate: ``update(...) -> ScaleState``."""

    def __init__(self, config: ScaleConfig = ScaleConfig(), depth_model: MetricDepthModel | None = None):
        if config.method == 'depth_model' and depth_model is None:
            raise ScaleError("method 'depth_model' needs a MetricDepthModel backend passed as depth_model "
                             '(none ships with the package; choose another method)')
        self.config = config
        self.depth_model = depth_model
        self._samples: deque[float] = deque(maxlen=int(config.window))

    def reset(self) -> None:
        """Forget all measurements (the SLAM map changed scale, e.g. a new segment)."""
        self._samples.clear()

    @property
    def scale(self) -> float:
        if self.config.method == 'fixed':
            return float(self.config.fixed_scale)
        return float(np.median(self._samples)) if self._samples else float(self.config.initial_scale)

    def update(self, frame: Frame, T_cam_slam: np.ndarray | None, map_points_slam: np.ndarray,
               ground: GroundPlane | None, humans: HumansFrame | None,
               soft_mask: np.ndarray | None = None) -> ScaleState:
        """Add this frame's measurement (if any) and return the current estimate.

        Args:
            frame: the image (intrinsics; the image itself for 'depth_model').
            T_cam_slam: (4, 4) SLAM world -> camera (SLAM units), None when not tracking.
            map_points_slam: (N, 3) map points, SLAM world.
            ground: ground plane in the SLAM world, or None.
            humans: camera-space people (metres, optical frame), or None.
            soft_mask: (H, W) C_soft, used by 'depth_model' to exclude human pixels.
        """
        cfg = self.config
        m, source = np.nan, 'not tracking'
        if cfg.method == 'fixed':
            m, source = cfg.fixed_scale, 'fixed'
        elif T_cam_slam is not None:
            if cfg.method == 'human':
                m, source = self._measure_human(frame, T_cam_slam, map_points_slam, ground, humans)
            elif cfg.method == 'camera_height':
                m, source = self._measure_camera_height(T_cam_slam, ground)
            else:
                m, source = self._measure_depth_model(frame, T_cam_slam, map_points_slam, soft_mask)
        if np.isfinite(m) and m > 0 and cfg.method != 'fixed':
            self._samples.append(float(m))
        n = len(self._samples)
        s = self.scale
        if cfg.method == 'fixed':
            converged, measured = True, True
        else:
            mad = float(np.median(np.abs(np.asarray(self._samples) - s))) if n else np.inf
            converged = n >= cfg.converged_min_samples and mad / s < cfg.converged_rel_spread
            measured = n > 0
        return ScaleState(s, measured, converged, n, float(m), source)

    # ---------------------------------------------------------------- measurements
    def _measure_human(self, frame, T_cam_slam, map_points_slam, ground, humans):
        cfg = self.config
        if humans is None or not humans.humans:
            return np.nan, 'no person'
        if humans.frame_id == 'world':
            raise InputError("scale from humans needs camera-frame people (HumansFrame.frame_id 'camera'), "
                             "got 'world'")
        K = frame.intrinsics.K
        W, H = frame.width_px, frame.height_px
        R_cs, t_cs = T_cam_slam[:3, :3], T_cam_slam[:3, 3]
        ratios, used_plane = [], False
        if ground is None:
            pc = map_points_slam @ R_cs.T + t_cs
            front = pc[:, 2] > 1e-6
            pc = pc[front]
            uv_map, _ = project_points(K, pc)
        for h in humans.humans:
            if h.confidence < cfg.min_human_confidence:
                continue
            for j in cfg.foot_joints:
                if h.joint_confidence[j] < cfg.min_joint_confidence:
                    continue
                p_m = np.asarray(h.joints[j], dtype=np.float64)
                if ground is not None:
                    up_c = R_cs @ ground.normal
                    contact = p_m - cfg.foot_joint_height_m * up_c
                    if contact[2] <= 0:
                        continue
                    uv, _ = project_points(K, contact[None])
                    ray = backproject_pixels(K, uv, np.ones(1))[0]              # z = 1
                    # plane in camera frame: n_c . x = offset - n . c_slam  (c_slam: camera centre)
                    c_slam = -R_cs.T @ t_cs
                    off_c = ground.offset - ground.normal @ c_slam
                    denom = up_c @ ray
                    if abs(denom) < 1e-9:
                        continue
                    z_slam = off_c / denom
                    if z_slam <= 0:
                        continue
                    ratios.append(contact[2] / z_slam)
                    used_plane = True
                else:
                    if p_m[2] <= 0 or len(pc) == 0:
                        continue
                    uv, _ = project_points(K, p_m[None])
                    u = uv[0]
                    if not (0 <= u[0] < W and 0 <= u[1] < H):
                        continue
                    near = np.linalg.norm(uv_map - u, axis=1) < cfg.foot_radius_px
                    if near.sum() < cfg.min_points_per_foot:
                        continue
                    ratios.append(p_m[2] / float(np.median(pc[near, 2])))
        if not ratios:
            return np.nan, 'no usable foot (confidence, visibility or map points near the feet)'
        src = 'feet vs ground plane' if used_plane else 'feet vs map points near the feet'
        return float(np.median(ratios)), src

    def _measure_camera_height(self, T_cam_slam, ground):
        if ground is None:
            return np.nan, 'ground plane not found yet'
        c_slam = -T_cam_slam[:3, :3].T @ T_cam_slam[:3, 3]
        h = float(ground.signed_height(c_slam))
        if h <= 0:
            return np.nan, 'camera below the ground plane'
        return self.config.camera_height_m / h, 'camera height vs ground plane'

    def _measure_depth_model(self, frame, T_cam_slam, map_points_slam, soft_mask):
        cfg = self.config
        depth = np.asarray(self.depth_model.predict_depth_m(frame), dtype=np.float64)
        if depth.shape != (frame.height_px, frame.width_px):
            raise InputError(f'depth model returned {depth.shape}, expected {(frame.height_px, frame.width_px)}')
        pc = map_points_slam @ T_cam_slam[:3, :3].T + T_cam_slam[:3, 3]
        pc = pc[pc[:, 2] > 1e-6]
        uv, z = project_points(frame.intrinsics.K, pc)
        ix = np.round(uv[:, 0]).astype(int)
        iy = np.round(uv[:, 1]).astype(int)
        ok = (ix >= 0) & (ix < frame.width_px) & (iy >= 0) & (iy < frame.height_px)
        ix, iy, z = ix[ok], iy[ok], z[ok]
        if soft_mask is not None:
            keep = np.asarray(soft_mask)[iy, ix] < cfg.human_mask_threshold
            ix, iy, z = ix[keep], iy[keep], z[keep]
        d = depth[iy, ix]
        good = np.isfinite(d) & (d > 0)
        if good.sum() < 10:
            return np.nan, 'too few map points with model depth outside the people'
        return float(np.median(d[good] / z[good])), 'depth model vs map points (humans excluded)'
