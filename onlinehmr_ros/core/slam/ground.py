"""Ground plane and the gravity-aligned (z-up, REP-103) world frame, ROS-free.

The SLAM world is the optical frame of the first keyframe (x right, y down,
z forward, SLAM units). The published world frame is that frame rotated so
that z points up (away from the ground plane), x is the first camera's
viewing direction projected on the ground and y = z x x (left): REP-103.

Until the ground is found the rotation is the one for a level camera
(optical -> REP-103: x_w = z_c, y_w = -x_c, z_w = -y_c). When the ground is
found:
    * if no pose has been published yet, the exact rotation is used at once;
    * otherwise the world-from-SLAM rotation turns towards the gravity-aligned
      one by at most ``blend_rate_deg`` per frame (spherical interpolation, about
      the world origin = the first camera centre). There is no jump: a published
      orientation changes by at most ``blend_rate_deg`` per frame beyond the
      camera's own motion, a published position ``c`` by at most
      ``|c| * blend_rate`` (e.g. 2.6 mm per frame 0.3 m from the origin at 0.5
      deg per frame); at the end the world frame is exactly the first camera
      frame rotated to gravity. Past poses are never rewritten;
    * the plane keeps being re-fitted on the current map (the SLAM drifts in
      rotation too); a changed normal is phased in the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, slerp_rotmat

# rotation world(REP-103, level camera) <- optical frame
R_WORLD_OPTICAL_LEVEL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
UP_PRIOR_SLAM = np.array([0.0, -1.0, 0.0])       # "up" in the first camera's optical frame if it is level


@dataclass(frozen=True)
class GroundConfig:
    """Ground-plane search (RANSAC on map points, with where people stand as support).

    Attributes:
        min_points: map points needed before searching.
        ransac_iterations: plane hypotheses per search.
        inlier_share_of_depth: inlier distance as a share of the median map point distance.
        min_inliers, min_inlier_ratio: acceptance of the best plane.
        feet_weight: inlier-count bonus per foot of a person on the plane (tie-breaker).
        max_tilt_deg: largest angle between the plane normal and the level-camera up prior.
        search_every: frames between searches (and between re-fits once found).
        refit_max_change_deg, refit_min_change_deg: once found, the plane is re-fitted on the
            current map (monocular SLAM drifts in rotation too); a re-fit within this band of the
            current normal becomes the new gravity target (phased in, see GravityAligner).
        blend_rate_deg: largest rotation per frame with which a late gravity correction is phased in.
        seed: RANSAC seed.
    """

    min_points: int = 100
    ransac_iterations: int = 150
    inlier_share_of_depth: float = 0.01
    min_inliers: int = 80
    min_inlier_ratio: float = 0.2
    max_tilt_deg: float = 40.0
    feet_weight: float = 0.5
    search_every: int = 5
    refit_max_change_deg: float = 10.0
    refit_min_change_deg: float = 0.5
    blend_rate_deg: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class GroundPlane:
    """Plane ``normal . x = offset`` in the SLAM world (SLAM units); ``normal`` points up."""

    normal: np.ndarray        # (3,) unit
    offset: float
    n_inliers: int
    n_points: int
    n_feet_support: int = 0

    def signed_height(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) points -> (...) height above the plane (SLAM units)."""
        return np.asarray(points) @ self.normal - self.offset


def fit_ground_plane(points: np.ndarray, camera_centres: np.ndarray, config: GroundConfig = GroundConfig(),
                     feet_points: np.ndarray | None = None, rng: np.random.Generator | None = None,
                     up_prior: np.ndarray | None = None, max_tilt_deg: float | None = None) -> GroundPlane | None:
    """RANSAC ground plane below the cameras.

    Args:
        points: (N, 3) map points, SLAM world.
        camera_centres: (M, 3) recent camera centres (the plane must lie below them).
        feet_points: optional (F, 3) feet of people (SLAM world, SLAM units); a tie-breaker
            between planes of similar support (each foot within 3x the inlier distance adds
            ``feet_weight`` to the inlier count), so a table top loses against the floor people stand on.
        up_prior, max_tilt_deg: the expected up direction (SLAM world) and the largest angle to it;
            default: the level-camera prior and ``config.max_tilt_deg``.
    Returns:
        The plane, or None when no plane meets the acceptance criteria.
    """
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 3:
        raise InputError(f'points must be (N, 3), got {P.shape}')
    if len(P) < config.min_points:
        return None
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    c_mean = np.mean(camera_centres, axis=0)
    thr = config.inlier_share_of_depth * float(np.median(np.linalg.norm(P - c_mean, axis=1)))
    up = UP_PRIOR_SLAM if up_prior is None else np.asarray(up_prior, dtype=np.float64)
    cos_tilt = np.cos(np.deg2rad(config.max_tilt_deg if max_tilt_deg is None else max_tilt_deg))
    idx = rng.integers(0, len(P), (config.ransac_iterations, 3))
    a, b, c = P[idx[:, 0]], P[idx[:, 1]], P[idx[:, 2]]
    n = np.cross(b - a, c - a)
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-12
    n = n[ok] / norm[ok, None]
    a = a[ok]
    n *= np.where(n @ up < 0, -1.0, 1.0)[:, None]
    d = np.sum(n * a, axis=1)
    good = (n @ up >= cos_tilt) & (n @ c_mean - d > 0)
    if not good.any():
        return None
    n, d = n[good], d[good]
    dist = np.abs(P @ n.T - d)                                    # (N, H)
    score = (dist < thr).sum(axis=0).astype(float)
    feet = None if feet_points is None or len(feet_points) == 0 else np.asarray(feet_points, dtype=np.float64)
    if feet is not None:
        score += config.feet_weight * (np.abs(feet @ n.T - d) < 3 * thr).sum(axis=0)
    best = int(np.argmax(score))
    inl = dist[:, best] < thr
    if inl.sum() < max(config.min_inliers, config.min_inlier_ratio * len(P)):
        return None
    # least-squares refinement on the inliers
    Q = P[inl]
    centroid = Q.mean(axis=0)
    _, _, Vt = np.linalg.svd(Q - centroid, full_matrices=False)
    normal = Vt[2] * (1.0 if Vt[2] @ n[best] > 0 else -1.0)
    offset = float(normal @ centroid)
    if normal @ c_mean - offset <= 0:
        return None
    n_feet = 0 if feet is None else int((np.abs(feet @ normal - offset) < 3 * thr).sum())
    return GroundPlane(normal, offset, int(inl.sum()), len(P), n_feet)


def track_ground_offset(plane: GroundPlane, points: np.ndarray, camera_centre: np.ndarray,
                        config: GroundConfig = GroundConfig()) -> GroundPlane:
    """Re-estimate the plane's offset (normal kept) from the current map points.

    Monocular SLAM drifts in scale, so the ground found earlier no longer sits at
    the same offset in SLAM units; the gravity direction (the normal) is kept,
    only the offset follows the map: the median height of the points within a
    band of ``10 x`` the inlier distance around the previous plane (needs
    ``min_inliers / 2`` of them, else the plane is returned unchanged).
    """
    P = np.asarray(points, dtype=np.float64)
    if len(P) < config.min_inliers // 2:
        return plane
    thr = config.inlier_share_of_depth * float(np.median(np.linalg.norm(P - camera_centre, axis=1)))
    h = P @ plane.normal
    band = np.abs(h - plane.offset) < 10 * thr
    if band.sum() < config.min_inliers // 2:
        return plane
    near = band & (np.abs(h - np.median(h[band])) < 3 * thr)
    if near.sum() < config.min_inliers // 2:
        return plane
    return GroundPlane(plane.normal, float(np.median(h[near])), int(near.sum()), len(P), plane.n_feet_support)


def rotation_world_from_slam(ground_normal: np.ndarray) -> np.ndarray:
    """(3, 3) rotation SLAM world -> gravity-aligned world.

    z = the ground normal, x = the first camera's viewing direction projected on the ground, y = z x x.
    """
    z = np.asarray(ground_normal, dtype=np.float64)
    z = z / np.linalg.norm(z)
    f = np.array([0.0, 0.0, 1.0])
    x = f - (f @ z) * z
    if np.linalg.norm(x) < 1e-6:           # camera looking straight down: use its x axis
        f = np.array([1.0, 0.0, 0.0])
        x = f - (f @ z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


class GravityAligner:
    """World-from-SLAM rotation ``p_world = R p_slam`` (SLAM units; origin: the first camera centre),
    switched to gravity without a jump (see the module docstring)."""

    def __init__(self, blend_rate_deg: float = 0.5):
        if not blend_rate_deg > 0:
            raise InputError(f'blend_rate_deg must be > 0, got {blend_rate_deg}')
        self.blend_rate_deg = float(blend_rate_deg)
        self.R = R_WORLD_OPTICAL_LEVEL.copy()
        self.gravity_known = False
        self._target: np.ndarray | None = None

    @property
    def blending(self) -> bool:
        return self._target is not None

    def set_ground(self, plane: GroundPlane, any_pose_published: bool) -> None:
        """Switch to the gravity-aligned frame (immediately, or blended if poses were already published)."""
        target = rotation_world_from_slam(plane.normal)
        self.gravity_known = True
        if not any_pose_published:
            self.R = target
            self._target = None
            return
        self._target = target

    def step(self) -> None:
        """Advance a blend by one frame (a rotation about the world origin)."""
        if self._target is None:
            return
        angle = np.degrees(np.linalg.norm(axis_angle_from_rotmat(self._target @ self.R.T)))
        if angle <= self.blend_rate_deg:
            self.R = self._target
            self._target = None
            return
        self.R = slerp_rotmat(self.R, self._target, self.blend_rate_deg / angle)

    def T_world_slam(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = self.R
        return T
