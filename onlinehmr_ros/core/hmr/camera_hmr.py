"""Camera-space online HMR (OnlineHMR branch 1) on the CPU: one entry class (ROS-free).

:class:`CameraHMR` chains, for every frame,

1. perception (:mod:`onlinehmr_ros.core.hmr.perception`: detect, then follow every person with
   BlazePose's landmark model, zoomed tiles for small people on demand): 2D/3D landmarks;
2. appearance (:mod:`~onlinehmr_ros.core.hmr.perception.appearance`) and tracking
   (:mod:`onlinehmr_ros.core.hmr.people_tracker`): identities that hold through crossings,
   occlusions and exits, tracks that end after a stated timeout;
3. the learned causal HMR (:mod:`onlinehmr_ros.core.hmr.learned`, ``estimator='learned'``, the default),
   checked against the person's 2D landmarks and replaced by causal per-track body fitting
   (:mod:`onlinehmr_ros.core.hmr.fitting`) where it is out of its domain
   (:mod:`~onlinehmr_ros.core.hmr.learned.domain_gate`); or fitting alone (``estimator='fitting'``),

and returns the people as :class:`~onlinehmr_ros.core.common.datatypes.HumansFrame` in the
camera optical frame (``frame_id='camera'``), the union person mask for the soft
mask, and the time spent in each stage.

Causality: every stage only keeps state from frames already processed, so the
result for frame t is the same whether or not later frames exist.

Intrinsics: a :class:`~onlinehmr_ros.core.common.datatypes.Frame` always carries
intrinsics; when the camera publishes none, build them with
:func:`default_intrinsics` (horizontal field of view :data:`DEFAULT_HFOV_DEG`).
Depth is metric only through the focal length: a focal length k times too
large puts people k times too far (and their lateral offsets k times too
large); body pose and shape barely change.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.body.model import BodyModel, posed_vertices
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame, HumansFrame, HumanState
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import (GeometryError, axis_angle_from_rotmat, rotmat_from_axis_angle,
                                                slerp_rotmat, translation_from_2d3d)
from onlinehmr_ros.core.hmr.fitting import (BodyFitter, FitInitialisation, FitResult, FitterConfig, FittingError,
                                           running_shape)
from onlinehmr_ros.core.hmr.learned.domain_gate import DomainGate, DomainGateConfig, GateDecision, normalised_residual
from onlinehmr_ros.core.hmr.people_tracker import Tracker, TrackerConfig
from onlinehmr_ros.core.hmr.perception.appearance import Appearance, AppearanceConfig, describe, occluder_polygons
from onlinehmr_ros.core.hmr.perception.follow import FollowConfig, FollowingPoseBackend, check_people_settings
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, PoseBackend, union_mask
from onlinehmr_ros.core.hmr.smoothing import ParameterSmoother, SmoothingConfig

#: Horizontal field of view (degrees) assumed when the camera gives no intrinsics: a typical
#: webcam / phone main camera (60-70 degrees). See the module docstring for its effect on depth.
DEFAULT_HFOV_DEG = 60.0
CAMERA_FRAME_ID = 'camera'
BACKENDS = ('mediapipe',)
#: how each tracked person's body is estimated from its landmarks
ESTIMATORS = ('fitting', 'learned', 'learned+refine')


def default_intrinsics(width_px: int, height_px: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> CameraIntrinsics:
    """Pinhole intrinsics for an image without CameraInfo (principal point at the centre)."""
    return CameraIntrinsics.from_fov(width_px, height_px, hfov_deg)


@dataclass(frozen=True)
class HMRConfig:
    """Settings of :class:`CameraHMR`.

    Attributes:
        backend: perception backend; ``'mediapipe'`` (CPU, models inside the wheel).
        max_people: most people followed at once (1-32; about one landmark call, ~20 ms here, per
            person in view; with one person in view the cost is that of one person).
        small_people: zoomed detection tiles for people too small for the full-frame detector:
            ``'auto'`` (when there is evidence of small people), ``'on'`` (always), ``'off'``
            (:class:`~onlinehmr_ros.core.hmr.perception.follow.FollowingPoseBackend`).
        perception: detector and follow settings.
        appearance: colour-histogram settings of the identity cue.
        body_model: which body model to fit.
        fitter: fitting weights and iterations (temporal terms included).
        tracker: tracking settings.
        compute_vertices: evaluate the full mesh for the output (else ``vertices`` is (0, 3)).
        estimator: ``'learned'`` (the default: the learned causal HMR with a per-track KV cache,
            :mod:`~onlinehmr_ros.core.hmr.learned`; its output passes through its own causal output filter,
            ``learned_smoothing``, when enabled, and a track the network is out of its domain for is estimated
            by fitting: ``domain_gate``), ``'fitting'`` (causal per-track fitting to the landmarks)
            or ``'learned+refine'`` (the network's estimate refined by ``refine_iterations`` fitting
            iterations against the 2D/3D landmarks: GenHMR's keypoint-guided refinement).
        learned_checkpoint: landmark-token checkpoint for the learned estimators ('' = the packaged one).
        refine_iterations: fitting iterations after the network in ``'learned+refine'``.
        learned_smoothing: the causal output filter of estimator ``'learned'`` (the network's rotations and
            pelvis position; :class:`~onlinehmr_ros.core.hmr.smoothing.SmoothingConfig`); the fitter's is
            ``fitter.smoothing``. The translation is smoothed harder than the fit's (lateral (0.3, 0.3) instead
            of (1, 1); first tuning: Jitter 105 -> 80 (10 m/s^3), lag 0.9 -> 1.1 frames). Most of the Jitter left
            was the pelvis depth: the network's depth is its noisiest output (65-100 mm fast error, 10-20 mm
            laterally) and its speed, low-passed at the rotations' 1.5 Hz, moved the depth prediction by that noise.
            Now the depth's speed is low-passed at 0.3 Hz (``depth_derivative_cutoff_hz``) and predicts 0.3 of it
            (``depth_prediction``) on a fixed 0.1 Hz depth cut-off (instead of 1.5 Hz, 1, (0.2, 0.3)), and the
            rotations predict half their speed (``rotation_prediction`` 0.5, which takes back lag; the global
            orientation (0.3, 0.3) instead of (1, 0.5)). v3 tune set, real ``onlinehmr eval`` runs, gt_camera rows,
            means over the 12 sequences (t00-t03 single-person in brackets): Jitter 66 -> 31 (58 -> 23), HF 0.08 ->
            0.03 % (0.08 -> 0.02), PA-MPJPE 37.2 -> 34.2 mm (32.6 -> 30.5; lower on every sequence), Accel 4.5 ->
            4.6 m/s^2 (3.8 -> 3.8), lag 0.85 -> 0.95 frames, median 1.26 -> 1.33 (1.20 -> 1.26); cost: WA-MPJPE100
            155 -> 158 mm (154 -> 159; W-MPJPE100 409 -> 397). A depth speed at 0.3 Hz with full prediction (1)
            jittered about as little but WA-MPJPE100 rose to ~173; a slower lateral speed (1 Hz) 2 lower for 0.3
            frame more; the tune set's frontier is in the s27 notes (helper_jitter.md).
            Then (issue 13, s28) a second predicted One-Euro stage at 1.5 Hz on the rotations and the translation
            (``rotation_stage2_hz``, ``translation_stage2_hz``, speed at 5 Hz) behind a faster first stage (pose
            (2, 0.5) instead of (1, 0.5), orientation (0.5, 0.3) instead of (0.3, 0.3), lateral (0.8, 0.5) instead of
            (0.3, 0.3)): two first-order stages cut the fast noise that Jitter counts far more than one stage of the
            same lag. And the gains follow the network's predicted joint errors (``sigma_reference_m`` 0.5 for the
            pelvis path, ``rotation_sigma_reference_m`` 0.3 for each joint's rotation, the global orientation's by
            the pelvis: the predicted pelvis error is 0.26-0.40 m on 80 % of the tune set's frames, its rare
            high values flag the network's big outliers). Real ``onlinehmr eval`` runs, 12 tune sequences, gt_camera
            rows (t00-t03 in brackets): Jitter 31.0 -> 25.4 (23.3 -> 19.0; lower on every sequence), HF 0.028 ->
            0.008 % (0.020 -> 0.007), PA-MPJPE 34.1 -> 34.0 mm (30.5 -> 30.5), Accel 4.58 -> 4.47 m/s^2 (3.82 ->
            3.75), lag 0.95 -> 0.99 frames, median 1.38 -> 1.37 (1.26 -> 1.29; 1.24 -> 1.26); cost: WA-MPJPE100 160
            -> 162 mm. Post-hoc replay of the same setting: the predicted-error gains alone -0.6 Jitter and -0.12
            Accel at the same lag; the second stages with the old first stage -6 Jitter for 0.3 frame more lag;
            slower or faster settings trade along a line of ~1 Jitter per 0.1 frame of lag (s28 notes).
        domain_gate: estimator ``'learned'``: the per-track check of the network's body against the person's
            2D landmarks and the switch to fitting out of the network's domain
            (:class:`~onlinehmr_ros.core.hmr.learned.domain_gate.DomainGateConfig`).
        gate_smoothing: estimator ``'learned'`` with the domain gate: a filter that follows every published body of
            a track (network, fitter or cross-fade) and whose output is published on the frames the gate takes from
            the fitter or a cross-fade (the network's frames are published as ``learned_smoothing`` made them). The
            fitter's bodies are filtered by ``fitter.smoothing`` only (the fitting estimator's filter), and they and
            the cross-fades jittered 2-3x more than the network's frames (tune set, after learned_smoothing's second
            stage: Jitter windows on such frames 52 / 75 against 17 / 26 on the others, single / multi-person).
            The default is a second stage alone: a near-transparent first stage (30 Hz: gain 0.86 at 30 fps) and
            the 1.5 Hz predicted second stage of ``learned_smoothing``. Tune set, real ``onlinehmr eval`` runs, 12
            sequences, gt_camera, without -> with: Jitter 25.4 -> 24.4 (10 m/s^3), Accel 4.47 -> 4.37 m/s^2, HF
            0.008 -> 0.007 %, PA-MPJPE 34.0 -> 34.1 mm, lag 0.99 -> 1.01 frames (median 1.37 both); the network's
            frames are unchanged (issue 13, s28).
        torch_threads: PyTorch intra-op threads of this process (body model, learned network), set when
            the stage is built; 0 leaves PyTorch's default (one per core). 1 is faster on a laptop CPU:
            the per-frame tensors are small and mediapipe's threads and the other stages share the cores
            (in-process pipeline on Megamind, 2 busy cores, 6 interleaved rounds: fitting p50 0.25-0.83x,
            median 0.47x, total 0.40-1.14x, median 0.77x of the default's).
    """

    backend: str = 'mediapipe'
    max_people: int = 6
    small_people: str = 'auto'
    perception: FollowConfig = field(default_factory=FollowConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    body_model: BodyModelConfig = field(default_factory=BodyModelConfig)
    fitter: FitterConfig = field(default_factory=FitterConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    compute_vertices: bool = True
    estimator: str = 'learned'
    learned_checkpoint: str = ''
    refine_iterations: int = 5
    learned_smoothing: SmoothingConfig = field(default_factory=lambda: SmoothingConfig(
        orient_cutoff=(0.5, 0.3), pose_cutoff=(2.0, 0.5), lateral_cutoff=(0.8, 0.5), depth_cutoff=(0.1, 0.0),
        depth_derivative_cutoff_hz=0.3, rotation_prediction=0.5, depth_prediction=0.3, rotation_stage2_hz=1.5,
        translation_stage2_hz=1.5, stage2_derivative_cutoff_hz=5.0, sigma_reference_m=0.5,
        rotation_sigma_reference_m=0.3))
    domain_gate: DomainGateConfig = field(default_factory=DomainGateConfig)
    gate_smoothing: SmoothingConfig = field(default_factory=lambda: SmoothingConfig(
        orient_cutoff=(30.0, 0.0), pose_cutoff=(30.0, 0.0), lateral_cutoff=(30.0, 0.0), depth_cutoff=(30.0, 0.0),
        rotation_stage2_hz=1.5, translation_stage2_hz=1.5))
    torch_threads: int = 1

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise InputError(f'backend must be one of {BACKENDS}, got {self.backend!r}')
        if self.estimator not in ESTIMATORS:
            raise InputError(f'estimator must be one of {ESTIMATORS}, got {self.estimator!r}')
        if self.refine_iterations < 1:
            raise InputError(f'refine_iterations must be >= 1, got {self.refine_iterations}')
        check_people_settings(self.max_people, self.small_people)
        if self.torch_threads < 0:
            raise InputError(f'torch_threads must be >= 0 (0: PyTorch default), got {self.torch_threads}')


@dataclass(frozen=True)
class HMROutput:
    """Result of :meth:`CameraHMR.process` for one frame.

    Attributes:
        humans: the tracked people in the camera optical frame (``frame_id='camera'``), with the
            ids of the tracks that ended with this frame (``humans.ended_track_ids``).
        person_mask: (H, W) float32 in [0, 1], pixel-wise maximum of all people's masks; zeros
            when nobody is seen or the backend computes no masks (``perception.segmentation``).
        timings_ms: milliseconds per stage: ``perception``, ``tracking``, ``fitting``, ``total``.
        num_detections: people seen by perception (tracked or not yet confirmed).
        fit_failures: track ids whose fit failed this frame (too few usable landmarks).
        fits: the fitter's results, one per entry of ``humans.humans`` (residuals, iterations).
        lost_track_ids: confirmed tracks unseen this frame, kept for re-identification.
        perception_stats: the backend's counters of this frame (followed people, detector calls, ...).
        incidents: ``(kind, reason)`` of what this frame had to work around, for /diagnostics
            (:class:`~onlinehmr_ros.core.common.incidents.IncidentLog`): ``'orientation_fallback'``
            (a new track started without a visible torso), ``'fit_failure'`` (the FittingError's message),
            ``'learned_out_of_domain'`` (estimator ``'learned'``: a track goes to fitting, ``domain_gate``).
        estimated_by: per entry of ``humans.humans``, which estimator's body was published: ``'fitting'``,
            ``'learned'`` or ``'learned>fitting'`` / ``'fitting>learned'`` (a cross-fade after a switch).
        gate: estimator ``'learned'`` with ``domain_gate.enabled``: track id -> its
            :class:`~onlinehmr_ros.core.hmr.learned.domain_gate.GateDecision` this frame.
    """

    humans: HumansFrame
    person_mask: np.ndarray
    timings_ms: dict
    num_detections: int
    fit_failures: tuple[int, ...] = ()
    fits: tuple[FitResult, ...] = ()
    lost_track_ids: tuple[int, ...] = ()
    perception_stats: dict = field(default_factory=dict)
    incidents: tuple[tuple[str, str], ...] = ()
    estimated_by: tuple[str, ...] = ()
    gate: dict = field(default_factory=dict)

    @property
    def fallback_tracks(self) -> tuple[int, ...]:
        """Tracks estimated by fitting this frame although the estimator is ``'learned'`` (domain gate)."""
        return tuple(t for t, d in self.gate.items() if d.mode == 'fitting')


@dataclass(frozen=True)
class Perceived:
    """:meth:`CameraHMR.perceive`'s result for one frame: the input of :meth:`CameraHMR.estimate`.

    Attributes:
        stamp_ns: the frame's stamp.
        people: the backend's observations (landmarks in pixels and metres, visibilities, boxes, masks).
        stats: the backend's counters of this frame (followed people, detector calls, ...).
        ms: time spent, milliseconds.
    """

    stamp_ns: int
    people: list
    stats: dict
    ms: float


def make_backend(config: HMRConfig) -> PoseBackend:
    """The perception backend named by ``config``: BlazePose (mediapipe) detect-then-follow."""
    return FollowingPoseBackend(config.perception, config.max_people, config.small_people)


def appearances(image_rgb: np.ndarray, people: list[PersonObservation], roots_cam_m: np.ndarray,
                config: AppearanceConfig = AppearanceConfig()) -> list[Appearance]:
    """Each person's :class:`~onlinehmr_ros.core.hmr.perception.appearance.Appearance`, leaving out nearer people.

    A person is nearer when its root is closer to the camera (both roots known), else when its
    box is taller.
    """
    out = []
    for j, person in enumerate(people):
        occluders = []
        for k, other in enumerate(people):
            if k == j:
                continue
            zj, zk = roots_cam_m[j][2], roots_cam_m[k][2]
            nearer = zk < zj if np.isfinite(zj) and np.isfinite(zk) else other.box_height_px > person.box_height_px
            if nearer:
                occluders += occluder_polygons(other)
        out.append(describe(image_rgb, person, occluders, config))
    return out


def root_estimate(observation: PersonObservation, K: np.ndarray, min_visibility: float = 0.5) -> np.ndarray:
    """(3,) camera-frame position of the hip centre from the 2D and metric 3D landmarks, NaN if unknown.

    Uses the hip-centred 3D landmarks as if camera-aligned (mediapipe's world
    landmarks are) and solves for the translation that projects them onto the 2D
    landmarks (:func:`~onlinehmr_ros.core.common.geometry.translation_from_2d3d`).
    """
    w = np.where(observation.visibility >= min_visibility, observation.visibility, 0.0)
    try:
        t = translation_from_2d3d(K, observation.landmarks_3d_m, observation.landmarks_px, w)
    except GeometryError:
        return np.full(3, np.nan)
    return t if t[2] > 0 else np.full(3, np.nan)


class CameraHMR:
    """Perception -> tracking -> causal per-track fitting, one frame at a time.

    Args:
        config: :class:`HMRConfig`.
        body_model: the body model to fit: a loaded :class:`~onlinehmr_ros.core.body.model.BodyModel`,
            a :class:`~onlinehmr_ros.core.body.loading.BodyModelConfig` to load, or None for
            ``config.body_model``.
        backend: a perception backend to use instead of the one ``config`` names
            (tests, other models); it is closed by :meth:`close`.
    """

    def __init__(self, config: HMRConfig = HMRConfig(), body_model: BodyModel | BodyModelConfig | None = None,
                 backend: PoseBackend | None = None):
        self.config = config
        if config.torch_threads > 0:
            import torch
            torch.set_num_threads(config.torch_threads)
        if body_model is None:
            body_model = config.body_model
        self.body_model = load_body_model(body_model) if isinstance(body_model, BodyModelConfig) else body_model
        self.backend = backend if backend is not None else make_backend(config)
        self.tracker = Tracker(config.tracker)
        self.fitter = BodyFitter(self.body_model, config.fitter)
        self.learned = None
        if config.estimator != 'fitting':
            from onlinehmr_ros.core.hmr.learned.runtime import LearnedHMR, LearnedHMRConfig
            # the network's bodies are posed at their points only; the published ones get their mesh below
            # (_with_vertices: one batched body model call for everybody)
            self.learned = LearnedHMR(LearnedHMRConfig(checkpoint_path=config.learned_checkpoint or None,
                                                       body_model=BodyModelConfig(type=self.body_model.name),
                                                       compute_vertices=False),
                                      body_model=self.body_model, kinematics=self.fitter.kinematics)
        # 'learned': the network's output passes through its causal output filter (learned_smoothing),
        # its shape is the track's running mean (as the fitter's, over fitter.shape_window frames)
        self._learned_smoother = (ParameterSmoother(config.learned_smoothing)
                                  if config.estimator == 'learned' and config.learned_smoothing.enabled else None)
        self.gate = (DomainGate(config.domain_gate)
                     if config.estimator == 'learned' and config.domain_gate.enabled else None)
        # the bodies the gate publishes from the fitter (or a cross-fade) pass through their own filter
        self._gate_smoother = (ParameterSmoother(config.gate_smoothing)
                               if self.gate is not None and config.gate_smoothing.enabled else None)
        self._learned_shape: dict[int, tuple[np.ndarray, int]] = {}
        self._frame_counter = 0

    def reset(self) -> None:
        """Start a new stream: forget tracks, fits and the backend's tracking state."""
        self.backend.reset()
        self.tracker.reset()
        self.fitter.reset()
        if self.learned is not None:
            self.learned.reset()
        if self._learned_smoother is not None:
            self._learned_smoother.reset()
        if self.gate is not None:
            self.gate.reset()
        if self._gate_smoother is not None:
            self._gate_smoother.reset()
        self._learned_shape.clear()
        self._frame_counter = 0

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def process(self, frame: Frame) -> HMROutput:
        """All people in ``frame``, fitted and tracked (empty ``humans`` when nobody is seen)."""
        return self.estimate(frame, self.perceive(frame))

    def perceive(self, frame: Frame) -> Perceived:
        """The first stage of :meth:`process`: the perception backend's people in ``frame``.

        Its state (who is followed where) depends only on earlier :meth:`perceive` calls, and :meth:`estimate`'s
        only on earlier :meth:`estimate` calls, so the perception of the next frame may run while this one is
        estimated (:class:`~onlinehmr_ros.core.hmr.staged.StagedHMR`) with the same results as :meth:`process`.
        """
        t0 = time.perf_counter()
        people = self.backend.detect(frame)
        return Perceived(frame.stamp_ns, list(people), dict(getattr(self.backend, 'last_stats', {})),
                         1e3 * (time.perf_counter() - t0))

    def estimate(self, frame: Frame, perceived: Perceived) -> HMROutput:
        """The second stage of :meth:`process`: tracking and body estimation of :meth:`perceive`'s people."""
        if perceived.stamp_ns != frame.stamp_ns:
            raise InputError(f'estimate() of the frame stamped {frame.stamp_ns} got the perception of '
                             f'{perceived.stamp_ns}')
        people = perceived.people
        t1 = time.perf_counter()
        t0 = t1 - 1e-3 * perceived.ms
        K = frame.intrinsics.K
        roots = np.stack([root_estimate(p, K) for p in people]) if people else np.zeros((0, 3))
        looks = appearances(frame.image_rgb, people, roots, self.config.appearance)
        update = self.tracker.update(people, roots, looks, frame.stamp_ns)
        self.fitter.forget(update.ended_track_ids)
        if self.learned is not None:
            for tid in update.ended_track_ids:
                self.learned.reset(tid)
        if self._learned_smoother is not None:
            self._learned_smoother.forget(update.ended_track_ids)
        if self.gate is not None:
            self.gate.forget(update.ended_track_ids)
        if self._gate_smoother is not None:
            self._gate_smoother.forget(update.ended_track_ids)
        for tid in update.ended_track_ids:
            self._learned_shape.pop(tid, None)
        t2 = time.perf_counter()
        ids, fits, failures, incidents = [], [], [], []
        learned_states, learned_by, gate = [], [], {}
        for person in update.people:
            try:
                if self.config.estimator == 'learned':
                    state, by = self._learned_person(person, frame, gate, incidents)
                    learned_states.append(state)
                    learned_by.append(by)
                    continue
                initial = None
                if self.config.estimator == 'learned+refine':
                    est = self.learned.step(person.track_id, person.observation, frame.intrinsics, self._frame_counter)
                    initial = FitInitialisation(est.global_orient, est.body_pose, est.betas, est.transl,
                                                self.config.refine_iterations)
                fits.append(self.fitter.fit(person.track_id, person.observation, frame.intrinsics,
                                            self._frame_counter, initial, stamp_ns=frame.stamp_ns))
                ids.append(person.track_id)
                if fits[-1].fallback:
                    incidents.append(('orientation_fallback', f'track {person.track_id}: {fits[-1].fallback}'))
            except FittingError as exc:
                failures.append(person.track_id)
                incidents.append(('fit_failure', str(exc)))
        humans = self._with_vertices(self._human_states(ids, fits) + learned_states)
        estimated_by = tuple(['fitting'] * len(fits) + learned_by)
        t3 = time.perf_counter()
        self._frame_counter += 1
        mask = union_mask(people, frame.height_px, frame.width_px)
        timings = {'perception': 1e3 * (t1 - t0), 'tracking': 1e3 * (t2 - t1), 'fitting': 1e3 * (t3 - t2),
                   'total': 1e3 * (time.perf_counter() - t0)}
        return HMROutput(humans=HumansFrame(stamp_ns=frame.stamp_ns, frame_id=CAMERA_FRAME_ID, humans=tuple(humans),
                                            ended_track_ids=update.ended_track_ids),
                         person_mask=mask, timings_ms=timings, num_detections=len(people),
                         fit_failures=tuple(failures), fits=tuple(fits), lost_track_ids=update.lost_track_ids,
                         perception_stats=perceived.stats, incidents=tuple(incidents),
                         estimated_by=estimated_by, gate=gate)

    def _learned_person(self, person, frame: Frame, gate: dict, incidents: list) -> tuple[HumanState, str]:
        """Estimator ``'learned'`` for one tracked person: the network's body, or the fitter's where the domain gate
        says the network is out of its domain (a cross-fade between the two after a switch); on those frames the
        body passes through ``gate_smoothing``, which follows every published body of the track.

        Raises:
            FittingError: the fitter's body is needed and its fit failed.
        """
        est, state, by = self._learned_or_fitted(person, frame, gate, incidents)
        if self._gate_smoother is None:
            return state, by
        go, bp, pelvis = self._gate_smoother.update(person.track_id, self._frame_counter, frame.stamp_ns * 1e-9,
                                                    state.global_orient, state.body_pose, state.joints[0])
        if by == 'learned':
            return state, by
        posed = self.learned.reposed(est, state.betas, go, bp, pelvis).to_human_state(self.body_model.name)
        return replace(posed, joint_confidence=state.joint_confidence, confidence=state.confidence), by

    def _learned_or_fitted(self, person, frame: Frame, gate: dict, incidents: list):
        """(the network's filtered estimate, the published body, how it was made) of :meth:`_learned_person`."""
        tid, obs, intr = person.track_id, person.observation, frame.intrinsics
        raw = self.learned.step(tid, obs, intr, self._frame_counter)
        est = self._filtered(tid, raw, frame.stamp_ns * 1e-9) if self._learned_smoother is not None else raw
        if self.gate is None:
            return est, est.to_human_state(self.body_model.name), 'learned'
        c = self.config.domain_gate
        r = normalised_residual(raw.landmarks_mediapipe, obs.landmarks_px, obs.visibility, intr.K, intr.width_px,
                                intr.height_px, c.min_visibility, c.min_landmarks)
        d: GateDecision = self.gate.update(tid, r)
        gate[tid] = d
        if d.mode == 'fitting' and (d.switched or d.new_track):   # (the way back: the node's fallback counts)
            why = (f'median of up to {c.window} frames > {c.out_threshold:g}' if d.switched
                   else f'first frame > {c.in_threshold:g}')
            incidents.append(('learned_out_of_domain',
                              f'track {tid}: the network\'s body is {d.median:.3f} of the person\'s 2D size from '
                              f'its landmarks ({why}): estimated by fitting until it is back below {c.in_threshold:g}'))
        if not d.needs_fitting:
            return est, est.to_human_state(self.body_model.name), 'learned'
        # at a switch to fitting the fitter continues from the published body (the network's, filtered: it was in
        # its domain until now; a fresh fit guesses shape and depth); a track that starts on fitting (out of the
        # network's domain from its first frame) is fitted from scratch
        if d.switched and d.mode == 'fitting':
            self.fitter.warm_start(tid, est.global_orient, est.body_pose, est.betas, est.transl, self._frame_counter)
        fit = self.fitter.fit(tid, obs, intr, self._frame_counter, stamp_ns=frame.stamp_ns)
        if fit.fallback:
            incidents.append(('orientation_fallback', f'track {tid}: {fit.fallback}'))
        fitted = self._human_states([tid], [fit])[0]
        if d.fade >= 1.0:
            return est, fitted, 'fitting'
        if d.mode == 'fitting':
            return est, self._blend(est, fitted, d.fade), 'learned>fitting'
        return est, self._blend(est, fitted, 1.0 - d.fade), 'fitting>learned'

    def _blend(self, learned_est, fitted: HumanState, w_fit: float) -> HumanState:
        """The body ``w_fit`` of the way from the network's (filtered) body to the fitter's: joint rotations on
        SO(3), shape and pelvis position linearly, then posed once (one body: mesh, joints and keypoints agree)."""
        a = 1.0 - w_fit
        Ra = rotmat_from_axis_angle(np.concatenate([learned_est.global_orient, learned_est.body_pose]).reshape(24, 3))
        Rb = rotmat_from_axis_angle(np.concatenate([fitted.global_orient, fitted.body_pose]).reshape(24, 3))
        aa = axis_angle_from_rotmat(slerp_rotmat(Ra, Rb, w_fit)).reshape(-1)
        n = min(len(learned_est.betas), len(fitted.betas))
        betas = np.array(learned_est.betas, np.float64)
        betas[:n] = a * betas[:n] + w_fit * np.asarray(fitted.betas[:n], np.float64)
        pelvis = a * learned_est.joints[0].astype(np.float64) + w_fit * fitted.joints[0].astype(np.float64)
        posed = self.learned.reposed(learned_est, betas, aa[:3], aa[3:], pelvis)
        state = posed.to_human_state(self.body_model.name)
        conf = (a * learned_est.joint_confidence + w_fit * fitted.joint_confidence).astype(np.float32)
        return replace(state, joint_confidence=conf, confidence=float(conf.mean()))

    def _filtered(self, track_id: int, est, time_s: float):
        """The learned estimate through the output filter: shape = the track's running mean of the network's
        shapes (as the fitter's, over ``fitter.shape_window`` frames); rotations and the pelvis position (the
        network's output, in the filter's translation slot) = the causal filter's (:class:`ParameterSmoother`)."""
        mean, n = self._learned_shape.get(track_id, (np.zeros_like(est.betas, dtype=np.float64), 0))
        mean, n = running_shape(mean, n, est.betas, self.config.fitter.shape_window)
        self._learned_shape[track_id] = (mean, n)
        # the filter trusts a joint's measurement less where the network predicts a larger error
        go, bp, pelvis = self._learned_smoother.update(track_id, self._frame_counter, time_s, est.global_orient,
                                                       est.body_pose, est.joints[0], est.joint_sigma_m)
        return self.learned.reposed(est, mean, go, bp, pelvis)

    def _human_states(self, track_ids: list[int], fits: list[FitResult]) -> list[HumanState]:
        """The fits as people, without their mesh (:meth:`_with_vertices`)."""
        f = np.float32
        return [HumanState(track_id=int(tid), model=self.body_model.name, betas=fit.betas,
                           global_orient=fit.global_orient, body_pose=fit.body_pose, transl=fit.transl,
                           joints=fit.joints, joint_confidence=fit.joint_confidence, vertices=np.zeros((0, 3), f),
                           keypoints_coco=fit.keypoints_coco[:17].astype(f), confidence=float(fit.joint_confidence.mean()))
                for tid, fit in zip(track_ids, fits)]

    def _with_vertices(self, humans: list[HumanState]) -> list[HumanState]:
        """The published people with their mesh (``compute_vertices``): one batched body model call for all of them,
        whichever estimator gave their parameters (joints and keypoints are already evaluated at their points)."""
        if not humans or not self.config.compute_vertices:
            return humans
        vertices = posed_vertices(self.body_model, humans)
        return [replace(h, vertices=v) for h, v in zip(humans, vertices)]
