"""Ground plane of the SLAM map and the gravity-aligned (z-up, REP-103) world frame, ROS-free.

:func:`fit_ground_plane` finds the floor in a map (RANSAC, people's feet as a
tie-breaker); its normal is one of the gravity cues of :mod:`.gravity`.

:class:`GravityAligner` holds the rotation from the tracking frame (the first
camera's optical frame, see :mod:`.world_frame`) to the published world frame:
z up (the current gravity estimate), x the first camera's viewing direction
projected on the ground and y = z x x (left): REP-103. Until any gravity
estimate is set it is the level-camera rotation (optical -> REP-103:
x_w = z_c, y_w = -x_c, z_w = -y_c). A new up direction:
    * if no pose has been published yet, is used at once;
    * otherwise the rotation turns towards the new one by at most
      ``blend_rate_deg`` per frame (spherical interpolation, about the world
      origin = the first camera centre). There is no jump: a published
      orientation changes by at most ``blend_rate_deg`` per frame beyond the
      camera's own motion, a published position ``c`` by at most
      ``|c| * blend_rate`` (e.g. 5 mm per frame 0.3 m from the origin at 1.0
      deg per frame). Past poses are never rewritten.
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
        min_keyframes: keyframes the map needs before its floor is searched (a young map is bent by
            its two-view start: its floor is 10-14 degrees off with 2 keyframes, 3 with 7, tune set).
        ransac_iterations: plane hypotheses per search.
        inlier_share_of_depth: inlier distance as a share of the median map point distance.
        min_inliers, min_inlier_ratio: acceptance of the best plane.
        floor_min_points: with a known up direction (:func:`find_floor`), points in the lowest dense
            height band needed.
        floor_keep_searches: once found, a floor is replaced at once by a lower floor-like peak (the
            floor is the lowest surface), by a higher one only after this many searches in a row that
            did not find it at its height.
        floor_min_height_ratio: ... and only if the cameras are at least this share of their height above
            the current floor above the higher one: the floor seen again after the map's scale drifted is
            a few % off, a table top or a band of wall points is 30-60 % of a standing camera's height
            (tune t10: with the floor gone from the map for 6 searches, a surface at 33 % replaced it at
            frame 242, and every people ruler after was measured against it).
        floor_bin_share: height bin of the floor search, in inlier distances (map points on a floor
            spread over a few of them).
        floor_peak_ratio: the floor's height bin must hold this many times the median count of the
            bins 2-8 bins away on either side (walls spread evenly over heights).
        floor_min_spread_ratio: the floor's points must cover an area: second / first eigenvalue of
            their horizontal scatter at least this (a wall's points at one height form a line).
        floor_max_tilt_deg: with a known up direction, largest angle between the refined floor normal
            and it (beyond, the floor keeps the known up as its normal).
        floor_min_depression_deg: a floor must be seen from the cameras at least this far below the horizon
            (median over its points; :func:`find_floor`). Seen at a grazing angle ``a``, a floor's height is
            not measured: an error ``e`` of its normal moves the camera's height above it by ``e / tan(a)``
            (1 degree: 12 % at 8 degrees, 30 % at 3.3), and a band of wall points at about the camera's
            own height also looks like a floor from there. Such a floor, 4-10 times too close to the camera,
            made every people ruler and the camera-height scale 4-10 times too large (tune sequences seeds
            600/700: the scale's first value 20x and 3.6x the truth; those floors were seen at 2-6 degrees).
            Real floors of the tune sequences are seen at 10-28 degrees (cameras 0.8-1.65 m high, people
            3-5 m away; 10-11 for a robot camera 0.83 m high): 8 leaves a margin both ways.
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
    min_keyframes: int = 3
    ransac_iterations: int = 150
    inlier_share_of_depth: float = 0.01
    min_inliers: int = 80
    floor_min_points: int = 30
    floor_keep_searches: int = 6
    floor_min_height_ratio: float = 0.7
    floor_bin_share: float = 3.0
    floor_peak_ratio: float = 2.0
    floor_min_spread_ratio: float = 0.05
    floor_max_tilt_deg: float = 5.0
    floor_min_depression_deg: float = 8.0
    min_inlier_ratio: float = 0.2
    max_tilt_deg: float = 40.0
    feet_weight: float = 0.5
    search_every: int = 5
    refit_max_change_deg: float = 10.0
    refit_min_change_deg: float = 0.5
    blend_rate_deg: float = 1.0
    seed: int = 0


#: bins of a floor search's height histogram at most (find_floor, sharpest_floor_direction): a stray map
#: point far from the rest would otherwise ask for millions of bins
MAX_FLOOR_BINS = 4096


def _within_histogram_reach(points: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    """(N,) the points closer to ``centre`` than half of ``MAX_FLOOR_BINS`` bins: their heights along any
    direction span at most MAX_FLOOR_BINS bins (about 60 median scene depths: farther points, e.g. from a
    near-parallax triangulation, are no floor)."""
    return np.linalg.norm(points - centre, axis=1) < 0.5 * MAX_FLOOR_BINS * width


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


def find_floor(points: np.ndarray, camera_centres: np.ndarray, up: np.ndarray,
               config: GroundConfig = GroundConfig(), min_offset: float | None = None
               ) -> tuple[GroundPlane, bool] | None:
    """The floor of a map when the up direction is already known (e.g. from vertical lines).

    The heights ``h = up . p`` of the map points below the cameras are binned
    (bin = ``floor_bin_share`` inlier distances of :func:`fit_ground_plane`); the floor is the
    lowest bin holding ``floor_min_points`` or more points that is a peak of
    the histogram (``floor_peak_ratio``) and whose points cover an area
    (``floor_min_spread_ratio``) and that the cameras see below the horizon
    (``floor_min_depression_deg``): a wall is no peak and its points at one
    height form a line, a table top lies above the floor, stray points below
    it form no peak, a band at about the cameras' height is seen edge-on. With ``min_offset`` (the floor found before) only peaks
    from two bins below that height upwards qualify. The normal is refined by least
    squares on the points within one bin of the floor's height when the
    refined normal stays within ``floor_max_tilt_deg`` of ``up``.

    Args:
        points: (N, 3) map points.
        camera_centres: (M, 3) recent camera centres (the floor lies below all of them).
        up: (3,) the known up direction (same frame).
        min_offset: only look for the floor from about this height (``up . p``) up.
    Returns:
        (plane, refined): the plane and whether its normal was measured from the points (False: it is
        ``up``); None when no floor is found.
    """
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(P) < config.floor_min_points:
        return None
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    centres = np.asarray(camera_centres, dtype=np.float64).reshape(-1, 3)
    c_mean = centres.mean(axis=0)
    thr = config.inlier_share_of_depth * float(np.median(np.linalg.norm(P - c_mean, axis=1)))
    h = P @ u
    below = h < float(np.min(centres @ u)) - 3 * thr
    if below.sum() < config.floor_min_points:
        return None
    width = config.floor_bin_share * thr
    below &= _within_histogram_reach(P, c_mean, width)
    if below.sum() < config.floor_min_points:
        return None
    hb = h[below]
    edges = np.arange(hb.min(), hb.max() + 2 * width, width)
    if len(edges) < 2:
        return None
    counts, edges = np.histogram(hb, edges)
    # a floor is a peak of the height histogram (a wall spreads evenly over heights) whose points
    # cover an area (a wall's points at one height lie on a line)
    # background level around each bin: the median of the bins 2-8 bins away on either side
    pad = np.pad(counts, 8, mode='constant')
    windows = np.lib.stride_tricks.sliding_window_view(pad, 6)
    local = np.median(np.concatenate([windows[:len(counts)], windows[11:11 + len(counts)]], axis=1), axis=1)
    peaks = np.flatnonzero((counts >= config.floor_min_points) & (counts >= config.floor_peak_ratio * local))
    for k in peaks:                                  # lowest first
        h0 = float(np.median(hb[(hb >= edges[k]) & (hb < edges[k + 1])]))
        if min_offset is not None and h0 < min_offset - 2 * width:
            continue
        inl = np.abs(h - h0) < width
        Q = P[inl] - P[inl].mean(axis=0)
        flat = Q - np.outer(Q @ u, u)
        ev = np.linalg.eigvalsh(flat.T @ flat)
        if ev[1] >= config.floor_min_spread_ratio * ev[2] and \
                floor_depression_deg(P[inl], centres, u) >= config.floor_min_depression_deg:
            break
    else:
        return None
    normal, refined = u, False
    if inl.sum() >= 3:
        Q = P[inl]
        _, _, Vt = np.linalg.svd(Q - Q.mean(axis=0), full_matrices=False)
        n = Vt[2] * (1.0 if Vt[2] @ u > 0 else -1.0)
        if np.degrees(np.arccos(np.clip(n @ u, -1.0, 1.0))) <= config.floor_max_tilt_deg:
            normal, refined = n, True
    offset = float(np.median(P[inl] @ normal))
    return GroundPlane(normal, offset, int(inl.sum()), len(P)), refined


def floor_depression_deg(floor_points: np.ndarray, camera_centres: np.ndarray, up: np.ndarray) -> float:
    """Angle (degrees) below the horizon at which the cameras see a floor: ``atan(H / r)``, ``H`` the mean
    camera centre's height above the points' median height along ``up``, ``r`` the median horizontal
    distance of the points from it (``GroundConfig.floor_min_depression_deg``). Scale-free."""
    Q = np.asarray(floor_points, dtype=np.float64).reshape(-1, 3) - np.mean(camera_centres, axis=0)
    u = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    if not len(Q):
        return float('nan')
    hq = Q @ u
    r = np.linalg.norm(Q - np.outer(hq, u), axis=1)
    return float(np.degrees(np.arctan2(-np.median(hq), np.median(r))))


def sharpest_floor_direction(points: np.ndarray, camera_centres: np.ndarray, up: np.ndarray, max_tilt_deg: float,
                             config: GroundConfig = GroundConfig()) -> np.ndarray:
    """The direction within ``max_tilt_deg`` of ``up`` along which the map's lowest surfaces are sharpest.

    A Hough search over up hypotheses (1 degree steps on a cone, then 0.25 degree steps around the
    best): for each, the heights of the points below the cameras are binned as in
    :func:`find_floor` and scored by the fullest bin. Along the true up the floor's points fall
    into one bin; tilted, they smear over many. Walls (no peak along any near-vertical direction)
    do not compete. Returns ``up`` itself when there are too few points.
    """
    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    u0 = np.asarray(up, dtype=np.float64)
    u0 = u0 / np.linalg.norm(u0)
    if len(P) < config.floor_min_points or max_tilt_deg <= 0:
        return u0
    centres = np.asarray(camera_centres, dtype=np.float64).reshape(-1, 3)
    thr = config.inlier_share_of_depth * float(np.median(np.linalg.norm(P - centres.mean(axis=0), axis=1)))
    width = config.floor_bin_share * thr
    P = P[_within_histogram_reach(P, centres.mean(axis=0), width)]
    if len(P) < config.floor_min_points or not width > 0:
        return u0
    a = np.cross(u0, [1.0, 0.0, 0.0] if abs(u0[0]) < 0.9 else [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(u0, a)

    def candidates(centre, step_deg, radius_deg):
        c = centre / np.linalg.norm(centre)
        e1 = np.cross(c, b)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(c, e1)
        r = np.radians(np.arange(-radius_deg, radius_deg + 1e-9, step_deg))
        x, y = np.meshgrid(r, r)
        keep = np.hypot(x, y) <= np.radians(radius_deg) + 1e-12
        U = c + np.tan(x[keep])[:, None] * e1 + np.tan(y[keep])[:, None] * e2
        return U / np.linalg.norm(U, axis=1, keepdims=True)

    def best(U):
        H = P @ U.T                                               # (N, K)
        top = centres @ U.T                                       # (M, K)
        below = H < top.min(axis=0) - 3 * thr
        lo = np.where(below, H, np.inf).min(axis=0)
        lo = np.where(np.isfinite(lo), lo, 0.0)               # a direction with no point below: no bins
        idx = np.floor((np.where(below, H, lo) - lo) / width).astype(np.int64)
        nb = int(np.max(np.where(below, idx, 0))) + 1
        flat = (np.arange(U.shape[0])[None, :] * nb + idx)[below]
        counts = np.bincount(flat, minlength=U.shape[0] * nb).reshape(U.shape[0], nb)
        score = counts.max(axis=1)
        return U[int(np.argmax(score))]

    coarse = best(candidates(u0, 1.0, max_tilt_deg))
    return best(candidates(coarse, 0.25, 1.5))


class FloorTracker:
    """Keeps one floor across searches (:func:`find_floor` each time, with memory).

    The floor is the lowest surface: a lower floor-like peak replaces the
    current floor at once; a higher one only after the current floor was not
    found at its height ``floor_keep_searches`` searches in a row, and only if
    it is no more than a scale drift higher (``floor_min_height_ratio``): a
    wrong, too high early guess goes as soon as the real floor shows; a floor
    that drops out of view is kept against a table top.
    """

    def __init__(self, config: GroundConfig = GroundConfig()):
        self.config = config
        self.misses = 0

    def update(self, points: np.ndarray, camera_centres: np.ndarray, up: np.ndarray,
               current: GroundPlane | None) -> tuple[GroundPlane | None, bool]:
        """(plane or None when nothing changes, whether its normal was measured); ``current``: the floor now."""
        cfg = self.config
        found = find_floor(points, camera_centres, up, cfg)
        if found is None or current is None:
            self.misses = 0 if found is not None else self.misses
            return found if found is not None else (None, False)
        u = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
        old = float(u @ (current.normal * current.offset))
        new = float(u @ (found[0].normal * found[0].offset))
        c = np.asarray(camera_centres, dtype=np.float64).reshape(-1, 3).mean(axis=0)
        width = cfg.floor_bin_share * cfg.inlier_share_of_depth * float(
            np.median(np.linalg.norm(np.asarray(points, np.float64) - c, axis=1)))
        if new <= old + 2 * width:
            self.misses = 0
            return found
        again = find_floor(points, camera_centres, up, cfg, min_offset=old)
        if again is not None and abs(float(u @ (again[0].normal * again[0].offset)) - old) <= 2 * width:
            self.misses = 0
            return again
        self.misses += 1
        if self.misses < cfg.floor_keep_searches:
            return None, False
        self.misses = 0
        if found[0].signed_height(c) < cfg.floor_min_height_ratio * current.signed_height(c):
            return None, False                   # far above the floor: a table, not the floor after drift
        return found


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
    """World-from-tracking-frame rotation ``p_world = R p_O`` (origin: the first camera centre),
    moved to a new gravity estimate without a jump (see the module docstring)."""

    def __init__(self, blend_rate_deg: float = 1.0):
        if not blend_rate_deg > 0:
            raise InputError(f'blend_rate_deg must be > 0, got {blend_rate_deg}')
        self.blend_rate_deg = float(blend_rate_deg)
        self.R = R_WORLD_OPTICAL_LEVEL.copy()
        self.gravity_known = False
        self._target: np.ndarray | None = None

    @property
    def blending(self) -> bool:
        return self._target is not None

    @property
    def target_up(self) -> np.ndarray:
        """(3,) the up direction (tracking frame) the aligner is at or heading to."""
        return (self._target if self._target is not None else self.R)[2].copy()

    def set_up(self, up: np.ndarray, any_pose_published: bool) -> None:
        """Align z with ``up`` (tracking frame): immediately, or blended if poses were already published."""
        target = rotation_world_from_slam(up)
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
