"""Metric scale ``s`` (metres per SLAM unit) of the monocular SLAM branch, ROS-free.

Monocular SLAM recovers the trajectory up to scale. :class:`ScaleEstimator`
turns measurements of ``s`` from several sources into one causal estimate:
each source gives a value with a relative uncertainty, the sources are
combined as an inverse-variance weighted mean of ``log s``, and the result is
``converged`` when its relative uncertainty is below ``converged_rel_sigma``.
Sources (``ScaleConfig.sources``, a comma-separated list):

* ``people`` - people as metric rulers. The camera-space HMR branch gives each
  person's feet in metres (optical frame; SMPL-24 joints 10/11); the depth
  ``z_slam`` of the ground they stand on at the same pixel is where the ray
  through the foot's contact point (the joint lowered by
  ``foot_joint_height_m`` along the up direction) meets the map's ground plane
  (no plane, no measurement). ``s = z_m / z_slam``. Only the lower foot of the
  two (along the map's up direction) is used: a walking person's other foot is
  in the air half of the time, and a foot ``e`` above the floor seen from a
  camera ``h`` high puts the floor ``h / (h - e)`` too far (10 cm at 1 m: 11 %). What it gives: the HMR's
  metric depth, i.e. the body size of its fit: from one image, a body ``k``
  times larger ``k`` times farther away looks the same, so the HMR's depth is
  off by the ratio of the size it gave the person to their true size.
  **Stature prior** (``stature_prior``, off by default; ``people_stature_m``): the measurement is
  converted from the size the HMR gave the person to the prior's stature, ``s = z_m / z_slam *
  people_stature_m / H_hmr``, ``H_hmr = stature_per_skeleton *
  skeleton_height(joints)`` (:func:`~onlinehmr_ros.core.body.skeleton.skeleton_height`:
  pose-invariant). Which ruler is better depends on whether the HMR sees stature. The fitting
  estimator does not: on the tune range (20 sequences, 43 people) its statures were 1.47-1.69 m for
  people of 1.00-2.16 m, and the prior was the better ruler. The learned estimator (the default)
  does, in the evaluation generator's world: on the v3 tune set (26 people of 1.22-2.13 m, run
  records of ``onlinehmr eval --set tune``) its statures correlate with the true ones at 0.94
  (log error +4.1 % mean, 5.8 % sd), and each person's ruler (their pelvis depth over the true
  one) is off by +6.8 % mean, 4.2 % sd, against +13.9 % mean, 14.6 % sd with the 1.74 m prior;
  the Sim(3) scale of the tune set's 9 moving-camera sequences was in 0.93-1.07 for 7 of them
  without the prior, 1 with it. Its statures come from body proportions that the open model's
  shape space couples with size; whether they carry as much on real people is not measured here,
  so for scenes of adults without a metric source the prior (adults: about 1.76 m men, 1.63 m
  women, 4 % spread within a sex) remains an option. A person's ruler is
  the same for every frame of that person, so measurements are pooled per
  person (median of the person's samples in the window) and people count as
  independent rulers of relative uncertainty ``people_rel_sigma`` each: the
  spread of the statures of the people filmed (adults: about 4 % within a
  sex, 5-6 % mixed) plus the ground plane's and the foot contact's error
  (about 5 %). Physical limit: with people as the only ruler a map's scale is
  no better than that spread over ``sqrt(n)`` for ``n`` people (the evaluation
  generator's people, open-model shapes ``N(0, 0.8)``, are 0.9-2.6 m tall: a
  log-sd of 15.5 %, so one of them is a 15 % ruler and four a 8 % one).
* ``camera_height`` - a robot with a known camera height above the floor:
  ``s = camera_height_m / h_slam``, ``h_slam`` the camera's distance to the
  map's ground plane; uncertainty ``camera_height_rel_sigma``.
* ``camera_height_prior`` - the same with a typical height and a loose
  uncertainty (e.g. a hand-held camera at 1.5 m +- 10 %). Measured on the
  tune range's 11 hand-held sequences (cameras 1.35-1.65 m high): with
  ``people,camera_height_prior``, 1.5 m +- 8 % and ``people_rel_sigma`` 0.16,
  the Sim(3) scale was in 0.93-1.07 for 8 of the 11 (one of them a failed
  map; people alone: 4), ATE-S / ATE 3.5 -> 2.1. Not a default: the pipeline does not know
  that a camera is hand-held, and for a robot's camera (0.8-1.2 m) the prior
  is 25-90 % off (a robot sets ``camera_height``).
* ``depth_model`` - a metric monocular depth network (the paper's MoGe-2)
  behind :class:`MetricDepthModel`: ``s = median(depth_m / z_slam)`` over the
  map points visible in the frame, human pixels (``C_soft >=
  human_mask_threshold``) excluded; uncertainty ``depth_model_rel_sigma``.
  Only the interface ships; a backend implements ``predict_depth_m``.
* ``fixed`` - ``s = fixed_scale`` (e.g. SLAM units already metric); overrides the others.

Per-frame sources (camera height, depth model) keep the median of the last
``window`` frames' measurements. Everything is per map: ``reset()`` when the
map changes (a new SLAM segment).

Each person's size (``person_size``). The people ruler also says how far one
person's metric depth is off from the others' and from the other sources: with
the combined scale ``s`` converged, person ``i``'s ground contact is really at
``s * z_slam`` while the HMR put it at ``z_m``, so the person is
``k_i = s / s_i`` times the size the HMR gave them (``s_i`` their own ruler
value). The world fusion scales that person's camera-frame mesh by ``k_i``
about the camera centre (:func:`onlinehmr_ros.core.fusion.world.human_to_world`):
the image of the person is unchanged, their feet come onto the floor, their
depth and size become those of the scale. What it gives: with a metric source
(a robot's camera height) each person's own depth and stature; with people
only, every person's size relative to the group (a tall person among others
is no longer put too close), the group's mean size still the HMR's prior; one
person alone is not changed (``k = 1``). ``k_i`` is a property of the person,
kept across map resets (bounded memory, the newest ``MAX_PERSON_SIZES`` tracks);
a published factor moves towards the measured one by at most ``person_size_rate``
per frame (no jump); measurements outside ``[person_size_min, person_size_max]``
are not used (the factor stays where it was). Off by default (``person_size``):
measured on the tune set's robot sequences, the per-person ruler scatters by
10-15 % over time (a foot's pixel error at a grazing view of the floor, the
floor's own error), as much as the statures it should correct, and the worlds
got worse (``ScaleConfig.person_size``).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from onlinehmr_ros.core.body.skeleton import skeleton_height
from onlinehmr_ros.core.common.datatypes import Frame, HumansFrame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import backproject_pixels, project_points

if TYPE_CHECKING:  # the SLAM package imports this module
    from onlinehmr_ros.core.slam.ground import GroundPlane

SCALE_SOURCES = ('people', 'camera_height', 'camera_height_prior', 'depth_model', 'fixed')
SMPL24_FEET = (10, 11)
#: most people whose size factor is remembered (the newest are kept)
MAX_PERSON_SIZES = 64


class ScaleError(ValueError):
    """Scale estimation misconfigured (e.g. a source without what it needs)."""


class MetricDepthModel(ABC):
    """Interface of a metric monocular depth backend (e.g. MoGe-2) for the ``depth_model`` source."""

    @abstractmethod
    def predict_depth_m(self, frame: Frame) -> np.ndarray:
        """(H, W) float32 metric depth along the optical axis (metres; NaN or <= 0 where unknown)."""


@dataclass(frozen=True)
class ScaleConfig:
    """Metric scale settings.

    Attributes:
        sources: comma-separated sources: people, camera_height, camera_height_prior, depth_model, fixed.
        people_rel_sigma: relative uncertainty of one person as a ruler: the spread of the statures of the people
            filmed plus the floor's and the foot contact's error. 0.08 suits adults; the evaluation generator's
            people (statures 0.9-2.6 m, log-sd 15.5 %) are 0.16 rulers: with 0.08 the ``converged`` flag is
            optimistic on them, and a camera-height prior gets too little weight against them.
        camera_height_m: camera height above the ground (metres), for 'camera_height' (a robot's).
        camera_height_rel_sigma: relative uncertainty of the known camera height.
        camera_height_prior_m: typical camera height (metres), for 'camera_height_prior'.
        camera_height_prior_rel_sigma: its relative uncertainty.
        depth_model_rel_sigma: relative uncertainty of the depth model's scale.
        fixed_scale: metres per SLAM unit for 'fixed'.
        foot_joints: joint indices of the feet in ``HumanState.joints`` (SMPL-24: 10, 11).
        foot_joint_height_m: height of those joints above the sole (metres; 0.027 for the open model's mean
            body standing flat-footed).
        stature_prior: convert the people ruler from the size the HMR gave each person to ``people_stature_m``
            (module docstring). False (default): the HMR's own size, i.e. its metric depth (the learned
            estimator's statures track the true ones: on the v3 tune set the scale was in 0.93-1.07 for 7 of
            9 moving-camera sequences without the prior, 1 with it; the fitting estimator's do not).
        people_stature_m: stature (metres) every person is taken to have with ``stature_prior``. Default: the
            open body model's mean shape, 1.74 m, the mean of the evaluation generator's people (adults:
            about 1.76 m men, 1.63 m women).
        stature_per_skeleton: stature / ``skeleton_height`` of the HMR's body model (the open model: 1.144,
            0.7 % spread over its shapes).
        min_joint_confidence, min_human_confidence: feet / people below these are ignored.
        human_mask_threshold: pixels with ``C_soft`` at or above this are human (depth_model).
        window: frames of measurements kept (the map's scale drifts; older ones are forgotten).
        min_person_samples: measurements of a person needed before it counts as a ruler.
        converged_rel_sigma: ``converged`` when the combined relative uncertainty is below this.
        person_size: measure each person's size factor against the converged scale (module docstring). Off by
            default: on the tune set's robot sequences it made W-MPJPE100 worse (469 -> 480 mm; with the camera
            height known 477 -> 527 mm): a person's ruler scatters by 10-15 % over time, as much as statures do.
        person_size_min: smallest size factor used (a person this much smaller than the HMR's body).
        person_size_max: largest size factor used.
        person_size_rate: most a published size factor changes per frame (relative; it moves towards the
            measured value at this rate, so a person's size and depth never jump, e.g. when the scale converges).
    """

    sources: str = 'people'
    people_rel_sigma: float = 0.08
    camera_height_m: float | None = None
    camera_height_rel_sigma: float = 0.02
    camera_height_prior_m: float | None = None
    camera_height_prior_rel_sigma: float = 0.1
    depth_model_rel_sigma: float = 0.05
    fixed_scale: float = 1.0
    foot_joints: tuple = SMPL24_FEET
    foot_joint_height_m: float = 0.027
    stature_prior: bool = False
    people_stature_m: float = 1.74
    stature_per_skeleton: float = 1.144
    min_joint_confidence: float = 0.5
    min_human_confidence: float = 0.3
    human_mask_threshold: float = 0.5
    window: int = 90
    min_person_samples: int = 5
    converged_rel_sigma: float = 0.1
    person_size: bool = False
    person_size_min: float = 0.75
    person_size_max: float = 1.35
    person_size_rate: float = 0.005

    def __post_init__(self):
        bad = [s for s in self.source_list if s not in SCALE_SOURCES]
        if bad or not self.source_list:
            raise ScaleError(f'ScaleConfig.sources must be a comma-separated list of {SCALE_SOURCES}, '
                             f'got {self.sources!r}')
        if 'camera_height' in self.source_list and not (self.camera_height_m and self.camera_height_m > 0):
            raise ScaleError("source 'camera_height' needs camera_height_m > 0 (metres above the ground)")
        if 'camera_height_prior' in self.source_list and not (self.camera_height_prior_m
                                                               and self.camera_height_prior_m > 0):
            raise ScaleError("source 'camera_height_prior' needs camera_height_prior_m > 0 (metres)")
        if 'fixed' in self.source_list and not self.fixed_scale > 0:
            raise ScaleError(f'fixed_scale must be > 0, got {self.fixed_scale}')
        sigmas = (self.people_rel_sigma, self.camera_height_rel_sigma, self.camera_height_prior_rel_sigma,
                  self.depth_model_rel_sigma, self.converged_rel_sigma)
        if min(sigmas) <= 0 or self.window < 1 or self.min_person_samples < 1:
            raise ScaleError('relative sigmas must be > 0, window and min_person_samples >= 1')
        if not self.people_stature_m > 0:
            raise ScaleError(f'people_stature_m must be > 0 metres, got {self.people_stature_m}')
        if not self.stature_per_skeleton > 0:
            raise ScaleError(f'stature_per_skeleton must be > 0, got {self.stature_per_skeleton}')
        if not 0 < self.person_size_rate:
            raise ScaleError(f'person_size_rate must be > 0, got {self.person_size_rate}')
        if not 0 < self.person_size_min <= 1.0 <= self.person_size_max:
            raise ScaleError(f'person_size_min <= 1 <= person_size_max and > 0 required, got '
                             f'{self.person_size_min}, {self.person_size_max}')

    @property
    def source_list(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.sources.split(',') if s.strip())


@dataclass(frozen=True)
class ScaleState:
    """Scale after one frame.

    scale: metres per SLAM unit (NaN until measured, except 'fixed').
    measured: at least one source has a value; converged: combined relative sigma below the threshold.
    rel_sigma: the combined relative uncertainty (inf when unmeasured).
    n_samples: measurements in the window; n_people: people counted as rulers.
    last_measurement: this frame's measurement (NaN if none; for people the median over this frame's people,
        each measured at their lower foot).
    source: what this frame measured (or why nothing), and which sources make up the estimate.
    person_size: {track id: size factor k} of the people measured so far (module docstring).
    """

    scale: float
    measured: bool
    converged: bool
    rel_sigma: float
    n_samples: int
    n_people: int
    last_measurement: float
    source: str
    person_size: dict = field(default_factory=dict)


class ScaleEstimator:
    """Causal metric-scale estimate from several sources: ``update(...) -> ScaleState`` (module docstring)."""

    def __init__(self, config: ScaleConfig = ScaleConfig(), depth_model: MetricDepthModel | None = None):
        if 'depth_model' in config.source_list and depth_model is None:
            raise ScaleError("source 'depth_model' needs a MetricDepthModel backend passed as depth_model "
                             '(none ships with the package; choose another source)')
        self.config = config
        self.depth_model = depth_model
        self._frame = 0
        # (frame, track id, s, f): s the ruler, f its stature conversion (people_stature_m / H_hmr; 1 without)
        self._people: deque[tuple[int, int, float, float]] = deque()
        self._per_frame: dict[str, deque] = {s: deque() for s in ('camera_height', 'camera_height_prior',
                                                                  'depth_model')}
        self._sizes: OrderedDict[int, float] = OrderedDict()         # track id -> size factor (kept on reset)

    def reset(self) -> None:
        """Forget all measurements (the SLAM map changed, e.g. a new segment)."""
        self._people.clear()
        for q in self._per_frame.values():
            q.clear()

    def update(self, frame: Frame, T_cam_slam: np.ndarray | None, map_points_slam: np.ndarray,
               ground: GroundPlane | None, humans: HumansFrame | None,
               soft_mask: np.ndarray | None = None) -> ScaleState:
        """Add this frame's measurements (if any) and return the current estimate.

        Args:
            frame: the image (intrinsics; the image itself for 'depth_model').
            T_cam_slam: (4, 4) map -> camera (SLAM units), None when not tracking.
            map_points_slam: (N, 3) map points, map frame.
            ground: ground plane in the map frame, or None.
            humans: camera-space people (metres, optical frame), or None.
            soft_mask: (H, W) C_soft, used by 'depth_model' to exclude human pixels.
        """
        cfg = self.config
        self._frame += 1
        srcs = cfg.source_list
        if 'fixed' in srcs:
            return ScaleState(float(cfg.fixed_scale), True, True, 0.0, 0, 0, float(cfg.fixed_scale), 'fixed')
        notes, m = [], []
        if T_cam_slam is None:
            notes.append('not tracking')
        else:
            if 'people' in srcs:
                v, note = self._measure_people(frame.intrinsics.K, T_cam_slam, ground, humans)
                notes.append(note)
                m.append(v)
            for src in ('camera_height', 'camera_height_prior'):
                if src in srcs:
                    h = cfg.camera_height_m if src == 'camera_height' else cfg.camera_height_prior_m
                    v, note = self._measure_camera_height(T_cam_slam, ground, h)
                    notes.append(f'{src}: {note}')
                    m.append(self._push(src, v))
            if 'depth_model' in srcs:
                v, note = self._measure_depth_model(frame, T_cam_slam, map_points_slam, soft_mask)
                notes.append(note)
                m.append(self._push('depth_model', v))
        self._expire()
        scale, rel_sigma, used, n_people = self._combine()
        n = len(self._people) + sum(len(q) for q in self._per_frame.values())
        measured = bool(np.isfinite(scale))
        converged = measured and rel_sigma < cfg.converged_rel_sigma
        finite = [x for x in m if np.isfinite(x)]
        last = float(np.median(finite)) if finite else float('nan')
        src = '; '.join(notes) + (f' -> {"+".join(used)}' if used else '')
        if cfg.person_size and converged:
            src += self._update_sizes(scale)
        return ScaleState(scale, measured, converged, rel_sigma, n, n_people, last, src, dict(self._sizes))

    # ---------------------------------------------------------------- combination
    def _push(self, source: str, value: float) -> float:
        if np.isfinite(value) and value > 0:
            self._per_frame[source].append((self._frame, float(value)))
        return value

    def _expire(self) -> None:
        oldest = self._frame - self.config.window
        while self._people and self._people[0][0] <= oldest:
            self._people.popleft()
        for q in self._per_frame.values():
            while q and q[0][0] <= oldest:
                q.popleft()

    def _combine(self) -> tuple[float, float, list[str], int]:
        """Inverse-variance weighted mean of log(s) over the sources: (scale, relative sigma, used, people)."""
        cfg = self.config
        logs, weights, used = [], [], []
        rulers = [s for s, _ in self._rulers().values()]
        for s in rulers:
            logs.append(np.log(s))
            weights.append(1.0 / cfg.people_rel_sigma ** 2)
        if rulers:
            used.append(f'{len(rulers)} people')
        sig = {'camera_height': cfg.camera_height_rel_sigma, 'camera_height_prior': cfg.camera_height_prior_rel_sigma,
               'depth_model': cfg.depth_model_rel_sigma}
        for src, q in self._per_frame.items():
            if q:
                logs.append(np.log(np.median([s for _, s in q])))
                weights.append(1.0 / sig[src] ** 2)
                used.append(src)
        if not weights:
            return float('nan'), float('inf'), used, 0
        w = np.asarray(weights)
        return float(np.exp(np.dot(w, logs) / w.sum())), float(1.0 / np.sqrt(w.sum())), used, len(rulers)

    def _rulers(self) -> dict[int, tuple[float, float]]:
        """{track id: (the person's ruler s_i, its stature conversion f_i)} (medians of their samples in the window)
        for people with enough samples."""
        by_person: dict[int, list[tuple[float, float]]] = {}
        for _, tid, s, f in self._people:
            by_person.setdefault(tid, []).append((s, f))
        return {tid: (float(np.median([s for s, _ in v])), float(np.median([f for _, f in v])))
                for tid, v in by_person.items() if len(v) >= self.config.min_person_samples}

    def _update_sizes(self, scale: float) -> str:
        """Size factor ``k_i = s / s_i`` of every person with enough samples in the window; a note for the source."""
        cfg = self.config
        out_of_range = 0
        for tid, (s_i, f_i) in self._rulers().items():
            k = f_i * scale / s_i              # relative to the size the HMR gave the person (s_i / f_i its ruler)
            if cfg.person_size_min <= k <= cfg.person_size_max:
                old = self._sizes.get(tid, 1.0)
                self._sizes[tid] = old * float(np.exp(np.clip(np.log(k / old), -cfg.person_size_rate,
                                                              cfg.person_size_rate)))
                self._sizes.move_to_end(tid)
            else:
                out_of_range += 1
        while len(self._sizes) > MAX_PERSON_SIZES:
            self._sizes.popitem(last=False)
        if not self._sizes and not out_of_range:
            return ''
        ks = list(self._sizes.values())
        note = f'; sizes of {len(ks)} people' + (f' {min(ks):.2f}-{max(ks):.2f}' if ks else '')
        return note + (f', {out_of_range} out of range' if out_of_range else '')

    # ---------------------------------------------------------------- measurements
    def add_people(self, K: np.ndarray, T_cam_slam: np.ndarray, ground: GroundPlane | None,
                   humans: HumansFrame) -> tuple[float, str]:
        """People of an earlier image, measured with that image's pose (``T_cam_slam``, intrinsics ``K``):
        for a SLAM that does not wait for the people of each image. They count from the next
        :meth:`update` on, in the window like this frame's. Returns the measurement (NaN if none) and why."""
        if 'people' not in self.config.source_list or 'fixed' in self.config.source_list:
            return float('nan'), 'people: not a scale source'
        return self._measure_people(K, T_cam_slam, ground, humans)

    def _measure_people(self, K, T_cam_slam, ground, humans):
        cfg = self.config
        if humans is None or not humans.humans:
            return np.nan, 'people: nobody'
        if humans.frame_id == 'world':
            raise InputError("scale from people needs camera-frame people (HumansFrame.frame_id 'camera'), "
                             "got 'world'")
        if ground is None:
            return np.nan, 'people: no ground plane yet'
        R_cs, t_cs = T_cam_slam[:3, :3], T_cam_slam[:3, 3]
        up_c = R_cs @ ground.normal
        c_slam = -R_cs.T @ t_cs
        off_c = ground.offset - ground.normal @ c_slam        # plane in the camera frame: up_c . x = off_c
        ratios = []
        for h in humans.humans:
            if h.confidence < cfg.min_human_confidence:
                continue
            feet = [np.asarray(h.joints[j], dtype=np.float64) for j in cfg.foot_joints
                    if h.joint_confidence[j] >= cfg.min_joint_confidence]
            if not feet:
                continue
            f = 1.0
            if cfg.stature_prior:                         # the HMR's size -> the prior's stature
                h_hmr = cfg.stature_per_skeleton * float(skeleton_height(h.joints))
                if not (np.isfinite(h_hmr) and h_hmr > 0):
                    continue
                f = cfg.people_stature_m / h_hmr
            foot = min(feet, key=lambda p: float(up_c @ p))               # the lower foot stands on the floor
            contact = foot - cfg.foot_joint_height_m * up_c
            if contact[2] <= 0:
                continue
            uv, _ = project_points(K, contact[None])
            ray = backproject_pixels(K, uv, np.ones(1))[0]                  # z = 1
            denom = up_c @ ray
            if abs(denom) < 1e-9:
                continue
            z_slam = off_c / denom
            if z_slam > 0:
                s = float(f * contact[2] / z_slam)
                self._people.append((self._frame, int(h.track_id), s, f))
                ratios.append(s)
        if not ratios:
            return np.nan, 'people: no usable foot (confidence or visibility)'
        return float(np.median(ratios)), f'people: {len(ratios)} on the ground plane'

    def _measure_camera_height(self, T_cam_slam, ground, height_m):
        if ground is None:
            return np.nan, 'no ground plane yet'
        c_slam = -T_cam_slam[:3, :3].T @ T_cam_slam[:3, 3]
        h = float(ground.signed_height(c_slam))
        if h <= 0:
            return np.nan, 'camera below the ground plane'
        return height_m / h, 'camera height vs ground plane'

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
            return np.nan, 'depth_model: too few map points with model depth outside the people'
        return float(np.median(d[good] / z[good])), 'depth_model: vs map points (humans excluded)'
