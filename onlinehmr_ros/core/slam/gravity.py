"""Gravity (world "up") from every causal cue at hand, ROS-free.

Cues, each a measurement of the up direction in the tracking frame (the
optical frame of the first image, where the camera's orientation is tracked):

* ``level``: the level-camera prior, given once at the start: up is the first
  camera's ``-y`` (image up). Off by the camera's pitch and roll (a hand-held
  camera looking down at people 3-5 m away: 5-10 degrees).
* ``vertical_lines``: the vertical vanishing direction of the scene's line
  segments (room corners, door frames, shelves, pillars). Segments are found
  with OpenCV's FastLineDetector (ximgproc); each
  segment's interpretation plane normal ``n = K^T l`` must be perpendicular to
  the 3D direction of the line; a two-segment RANSAC finds the direction
  within ``max_deviation_deg`` of the current up estimate that most segment
  length agrees with, refined by the smallest eigenvector of the inliers'
  weighted scatter ``sum w n n^T``. Measured on the tune set's rooms: about
  0.2-0.3 degrees per image at 640x480 (0.6-0.8 at half resolution), 11-18 ms.
* ``ground``: the normal of the ground plane fitted to the SLAM map (and the
  people's feet) by :func:`.ground.fit_ground_plane`.
* ``people``: the trunk (pelvis -> neck) of confident people, who mostly stand
  upright. Noisy (10-30 degrees per person and frame, biased in the
  depth direction by a few degrees), so it carries little weight; it matters
  where a scene offers no lines and no map.

:class:`GravityEstimator` combines them causally: per cue, the
information-weighted mean direction of its measurements (weight ``1 /
sigma^2`` each, with exponential forgetting: the tracking frame drifts slowly
in rotation); the cues' means are then averaged with the cue's information,
capped at ``1 / floor^2``: measurements of one cue share its systematic errors
(one map's floor, one person's posture), so many of them are worth no more than
the cue's error floor. Measurements far from their cue's mean are left out as
outliers. The level prior is never forgotten but is outweighed as soon as
better cues arrive.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from onlinehmr_ros.core.common.errors import InputError

GRAVITY_CUES = ('level', 'vertical_lines', 'ground', 'people')
#: SMPL-24 joints of the trunk cue (pelvis, neck)
SMPL24_PELVIS, SMPL24_NECK = 0, 12


@dataclass(frozen=True)
class GravityConfig:
    """Settings of the gravity estimate.

    Attributes:
        cues: cues in use (subset of ``GRAVITY_CUES``).
        sigma_level_deg, sigma_lines_deg, sigma_ground_deg, sigma_people_deg: standard deviation of one
            measurement of each cue (degrees); its weight is ``1 / sigma^2``.
        floor_lines_deg, floor_ground_deg, floor_people_deg: systematic error of each cue (degrees): its
            information is capped at ``1 / floor^2``.
        half_life_frames: exponential forgetting of the measurements (not of the level prior), frames.
        ground_half_life_frames: the same for the ground cue (each plane is fitted to the whole current
            map, which improves as it grows: recent fits count most).
        ground_reference_inliers: a floor with this many inlier points has ``sigma_ground_deg``; with
            fewer (n) its sigma is scaled by ``reference / n`` (a young map's floor is bent by its
            two-view start: 10-14 degrees off with 80 points, 2 with 400, on the tune set).
        cue_buffer: measurements kept per cue.
        outlier_deg: a measurement further than this (or than its cue's sigma, if larger) from its
            cue's consensus is left out.
        lines_every: frames between vanishing-direction searches.
        lines_scale: image scale of the line search (0.5: half resolution, faster, less accurate).
        lines_min_length_px: shortest segment used, pixels at full resolution.
        lines_max_deviation_deg: the vertical direction is searched within this angle of the current estimate.
        lines_inlier_deg: a segment supports a direction when its plane is within this angle of it.
        lines_min_segments: inlier segments needed for a measurement.
        lines_min_support: the inliers' summed length, as a share of the image height, needed.
        lines_iterations: RANSAC hypotheses.
        people_min_confidence: pelvis and neck confidence needed for the trunk cue.
        aligned_sigma_deg: ``aligned`` (gravity measured, not only the level guess) when the estimate's
            standard deviation is below this.
        seed: RANSAC seed.
    """

    cues: tuple = GRAVITY_CUES
    sigma_level_deg: float = 8.0
    sigma_lines_deg: float = 1.5
    sigma_ground_deg: float = 2.0
    sigma_people_deg: float = 20.0
    floor_lines_deg: float = 0.3
    floor_ground_deg: float = 1.5
    floor_people_deg: float = 4.0
    half_life_frames: float = 300.0
    ground_half_life_frames: float = 30.0
    ground_reference_inliers: int = 300
    cue_buffer: int = 60
    outlier_deg: float = 5.0
    lines_every: int = 5
    lines_scale: float = 1.0
    lines_min_length_px: float = 40.0
    lines_max_deviation_deg: float = 25.0
    lines_inlier_deg: float = 1.0
    lines_min_segments: int = 6
    lines_min_support: float = 1.0
    lines_iterations: int = 200
    people_min_confidence: float = 0.5
    aligned_sigma_deg: float = 3.0
    seed: int = 0

    def __post_init__(self):
        bad = set(self.cues) - set(GRAVITY_CUES)
        if bad:
            raise InputError(f'GravityConfig.cues: unknown {sorted(bad)}; choose from {GRAVITY_CUES}')
        if min(self.sigma_level_deg, self.sigma_lines_deg, self.sigma_ground_deg, self.sigma_people_deg) <= 0:
            raise InputError('GravityConfig sigmas must be > 0 degrees')
        if self.lines_every < 1 or not 0 < self.lines_scale <= 1 or self.half_life_frames <= 0 or self.cue_buffer < 1:
            raise InputError('GravityConfig needs lines_every >= 1, 0 < lines_scale <= 1, half_life_frames > 0, '
                             'cue_buffer >= 1')


@dataclass(frozen=True)
class VerticalDirection:
    """A vertical vanishing direction found in one image.

    up_cam: (3,) unit vector in the camera optical frame (pointing up, i.e. towards the prior).
    n_segments: inlier segments; support: their summed length / image height; spread_deg: RMS angle of
    the inliers' planes to the direction.
    """

    up_cam: np.ndarray
    n_segments: int
    support: float
    spread_deg: float


class VerticalLineDetector:
    """Vertical vanishing direction of an image's line segments (module docstring, ``vertical_lines``)."""

    def __init__(self, config: GravityConfig = GravityConfig()):
        self.config = config
        self._rng = np.random.default_rng(config.seed)
        length = max(4, int(round(config.lines_min_length_px * config.lines_scale)))
        self._fld = cv2.ximgproc.createFastLineDetector(length, 1.41, 50, 50, 3, True)

    def segments(self, image_rgb: np.ndarray) -> np.ndarray:
        """(S, 4) segments ``x0, y0, x1, y1`` in full-resolution pixels."""
        gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        sc = self.config.lines_scale
        if sc != 1.0:
            gray = cv2.resize(gray, None, fx=sc, fy=sc, interpolation=cv2.INTER_AREA)
        segs = self._fld.detect(gray)
        if segs is None:
            return np.zeros((0, 4))
        # pixel centres: x_full = (x_half + 0.5) / sc - 0.5
        return (segs.reshape(-1, 4).astype(np.float64) + 0.5) / sc - 0.5

    def detect(self, image_rgb: np.ndarray, K: np.ndarray, up_prior_cam: np.ndarray) -> VerticalDirection | None:
        """The vertical direction near ``up_prior_cam`` (camera frame), or None when the lines do not agree."""
        return vertical_direction_from_segments(self.segments(image_rgb), K, up_prior_cam, image_rgb.shape[0],
                                                self.config, self._rng)


def vertical_direction_from_segments(segments: np.ndarray, K: np.ndarray, up_prior_cam: np.ndarray,
                                     image_height_px: int, config: GravityConfig = GravityConfig(),
                                     rng: np.random.Generator | None = None) -> VerticalDirection | None:
    """The 3D direction near ``up_prior_cam`` shared by the most segment length (vanishing point).

    Args:
        segments: (S, 4) image segments ``x0, y0, x1, y1`` (pixels).
        K: (3, 3) intrinsics.
        up_prior_cam: (3,) expected up direction in the camera frame.
        image_height_px: normalises the support.
    Returns:
        The direction (sign towards the prior), or None.
    """
    cfg = config
    rng = rng if rng is not None else np.random.default_rng(cfg.seed)
    s = np.asarray(segments, dtype=np.float64).reshape(-1, 4)
    prior = np.asarray(up_prior_cam, dtype=np.float64)
    prior = prior / np.linalg.norm(prior)
    if len(s) < cfg.lines_min_segments:
        return None
    length = np.linalg.norm(s[:, 2:] - s[:, :2], axis=1)
    p0 = np.column_stack([s[:, :2], np.ones(len(s))])
    p1 = np.column_stack([s[:, 2:], np.ones(len(s))])
    n = np.cross(p0, p1) @ K                           # interpretation-plane normals, K^T l
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    near = np.abs(n @ prior) < np.sin(np.radians(cfg.lines_max_deviation_deg))
    n, length = n[near], length[near]
    if len(n) < cfg.lines_min_segments:
        return None
    idx = rng.integers(0, len(n), (cfg.lines_iterations, 2))
    idx = idx[idx[:, 0] != idx[:, 1]]
    d = np.cross(n[idx[:, 0]], n[idx[:, 1]])
    nd = np.linalg.norm(d, axis=1)
    ok = nd > 1e-9
    d = d[ok] / nd[ok, None]
    d *= np.where(d @ prior < 0, -1.0, 1.0)[:, None]
    d = d[d @ prior > np.cos(np.radians(cfg.lines_max_deviation_deg))]
    if not len(d):
        return None
    sin_thr = np.sin(np.radians(cfg.lines_inlier_deg))
    score = (np.abs(n @ d.T) < sin_thr).astype(np.float64).T @ length        # (H,)
    best = d[int(np.argmax(score))]
    for _ in range(3):
        inl = np.abs(n @ best) < sin_thr
        if inl.sum() < 2:
            return None
        M = (n[inl] * length[inl, None]).T @ n[inl]
        _, V = np.linalg.eigh(M)
        best = V[:, 0] * (1.0 if V[:, 0] @ prior >= 0 else -1.0)
    inl = np.abs(n @ best) < sin_thr
    support = float(length[inl].sum() / image_height_px)
    if inl.sum() < cfg.lines_min_segments or support < cfg.lines_min_support:
        return None
    spread = float(np.degrees(np.sqrt(np.mean(np.arcsin(np.abs(n[inl] @ best)) ** 2))))
    return VerticalDirection(best, int(inl.sum()), support, spread)


def trunk_up_cam(joints_cam: np.ndarray, joint_confidence: np.ndarray, min_confidence: float) -> np.ndarray | None:
    """(3,) unit pelvis -> neck direction of one person (camera frame), or None if not confident."""
    if min(joint_confidence[SMPL24_PELVIS], joint_confidence[SMPL24_NECK]) < min_confidence:
        return None
    v = np.asarray(joints_cam[SMPL24_NECK], np.float64) - np.asarray(joints_cam[SMPL24_PELVIS], np.float64)
    norm = np.linalg.norm(v)
    return v / norm if norm > 1e-6 else None


@dataclass(frozen=True)
class GravityState:
    """The up estimate after a frame.

    up: (3,) unit up direction in the tracking frame. sigma_deg: its standard deviation.
    aligned: measured (sigma below ``aligned_sigma_deg``), not only the level guess.
    weights: information per cue (1 / deg^2, after forgetting and capping).
    rejected: measurements left out as outliers of their cue in the last estimate.
    """

    up: np.ndarray
    sigma_deg: float
    aligned: bool
    weights: dict
    rejected: int


class GravityEstimator:
    """Causal up direction from several cues (module docstring).

    Per cue the last ``cue_buffer`` measurements are kept with their weights (forgotten with
    ``half_life_frames``); a cue's direction is the weighted mean of those within ``outlier_deg`` of
    its consensus (the measurement with the most weight that close to it); the others (a wall taken
    for the floor, a person bending over) are left out.
    """

    def __init__(self, config: GravityConfig = GravityConfig()):
        self.config = config
        self._prior = np.zeros(3)
        self._prior_w = 0.0
        self._buf: dict[str, deque] = {c: deque(maxlen=config.cue_buffer) for c in GRAVITY_CUES[1:]}
        self._decay = {c: 0.5 ** (1.0 / (config.ground_half_life_frames if c == 'ground' else config.half_life_frames))
                       for c in GRAVITY_CUES[1:]}
        self._frame = 0
        self._cache: tuple[int, dict, int] | None = None

    def set_level_prior(self, up: np.ndarray) -> None:
        """The level-camera guess (tracking frame), weight ``1 / sigma_level^2``; kept for good."""
        if 'level' not in self.config.cues:
            return
        self._prior = _unit(up)
        self._prior_w = 1.0 / self.config.sigma_level_deg ** 2
        self._cache = None

    def step(self) -> None:
        """One frame passed (older measurements weigh less)."""
        self._frame += 1
        self._cache = None

    def add(self, cue: str, up: np.ndarray, sigma_scale: float = 1.0) -> bool:
        """Add one measurement of ``cue`` (unit up in the tracking frame); False when the cue is not used.

        ``sigma_scale`` multiplies the cue's sigma (e.g. a weak vanishing direction).
        """
        if cue not in GRAVITY_CUES or cue == 'level':
            raise InputError(f'GravityEstimator.add: cue must be one of {GRAVITY_CUES[1:]}, got {cue!r}')
        if cue not in self.config.cues:
            return False
        sigma = self._sigma(cue) * sigma_scale
        self._buf[cue].append((self._frame, _unit(up), 1.0 / sigma ** 2))
        self._cache = None
        return True

    def _sigma(self, cue: str) -> float:
        """Standard deviation of one measurement of ``cue`` (degrees)."""
        c = self.config
        return {'vertical_lines': c.sigma_lines_deg, 'ground': c.sigma_ground_deg, 'people': c.sigma_people_deg}[cue]

    def _cap(self, cue: str) -> float:
        """Most information ``cue`` can carry: ``1 / floor^2`` (its systematic error, degrees)."""
        c = self.config
        return 1.0 / {'vertical_lines': c.floor_lines_deg, 'ground': c.floor_ground_deg,
                      'people': c.floor_people_deg}[cue] ** 2

    def _effective(self) -> tuple[dict, int]:
        """Per cue: (robust mean unit direction, capped information); and the outliers left out."""
        if self._cache is not None and self._cache[0] == self._frame:
            return self._cache[1], self._cache[2]
        out, rejected = {}, 0
        for c, buf in self._buf.items():
            if not buf:
                continue
            cos_out = np.cos(np.radians(max(self.config.outlier_deg, self._sigma(c))))
            ages = np.array([self._frame - f for f, _, _ in buf], np.float64)
            U = np.stack([u for _, u, _ in buf])
            w = np.array([x for _, _, x in buf]) * self._decay[c] ** ages
            # the consensus: the measurement with the most weight within outlier_deg of it
            close = (U @ U.T) >= cos_out
            centre = U[int(np.argmax(close.astype(np.float64) @ w))]
            keep = U @ centre >= cos_out
            m = w[keep] @ U[keep]
            rejected += int((~keep).sum())
            w = w[keep]
            norm = np.linalg.norm(m)
            if norm > 1e-12:
                out[c] = (m / norm, min(float(w.sum()), self._cap(c)))
        self._cache = (self._frame, out, rejected)
        return out, rejected

    @property
    def total_weight(self) -> float:
        return self._prior_w + sum(w for _, w in self._effective()[0].values())

    @property
    def up(self) -> np.ndarray | None:
        v = self._prior_w * self._prior + sum(w * m for m, w in self._effective()[0].values())
        norm = np.linalg.norm(v)
        return v / norm if norm > 1e-12 else None

    @property
    def sigma_deg(self) -> float:
        w = self.total_weight
        return float(1.0 / np.sqrt(w)) if w > 0 else float('inf')

    def state(self) -> GravityState:
        up = self.up
        eff, rejected = self._effective()
        weights = {'level': self._prior_w, **{c: eff[c][1] if c in eff else 0.0 for c in GRAVITY_CUES[1:]}}
        return GravityState(up if up is not None else np.array([0.0, -1.0, 0.0]), self.sigma_deg,
                            self.sigma_deg < self.config.aligned_sigma_deg and self.total_weight > self._prior_w,
                            weights, rejected)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(3)
    n = np.linalg.norm(v)
    if not n > 0:
        raise InputError('gravity measurement must be a non-zero 3-vector')
    return v / n
