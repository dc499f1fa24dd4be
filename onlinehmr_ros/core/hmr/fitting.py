"""Causal per-track body-model fitting in camera space (ROS-free; numpy solver, PyTorch body model).

For each tracked person and each frame, the body model's parameters
``x = (global_orient (3), body_pose (69), betas (B), transl (3))`` are fitted by a
damped Gauss-Newton (Levenberg-Marquardt) solver to

* the metric 3D landmarks of the perception backend (hip-centred, camera-aligned),
* the 2D landmarks, by confidence-weighted reprojection through the intrinsics
  (GenHMR's 2D-keypoint-guided refinement: the 3D fit is pulled onto the
  detected keypoints; weights are the landmark visibilities, residuals divided
  by the person's box height so the weight does not depend on image size),
* a pose prior (Tikhonov on the joint rotations) and a shape prior (zero-mean
  betas, and the track's running shape estimate once it has one),
* OnlineHMR's velocity and acceleration regularisers made causal: with ``p``
  the pelvis-relative joints, the terms
  ``L_v = lambda_v sum_j |p_j(t) - p_j(t-1)|^2`` and
  ``L_a = lambda_a sum_j |p_j(t) - 2 p_j(t-1) + p_j(t-2)|^2`` against this
  track's *previous solutions* (never future frames), plus the same acceleration
  term on the root translation (monocular depth is the noisiest coordinate).
  The paper weights them by ground-truth joint confidences ``c_j`` in training;
  here ``c_j = 1`` (see :meth:`BodyFitter.fit`).

The solver is warm-started from the track's previous solution, so a few
iterations per frame suffice (``iterations_tracking``); a new track starts from
an orientation found by aligning the rest-pose torso to the 3D landmarks
(Umeyama) and a translation from the 2D-3D correspondences
(:func:`~onlinehmr_ros.core.common.geometry.translation_from_2d3d`) and gets
``iterations_first`` iterations.

Shape is per track: each frame's fitted betas update a running mean (weight
``1/n``, ``n`` capped at ``shape_window``), and the prior pulling the fit to that
mean grows with ``n``, so the shape settles instead of breathing frame to frame.

Depth and intrinsics: translation is metric only through the focal length. With
a wrong focal length ``f' = k f`` the person's depth scales by ``k`` (a 20 %
too-wide default field of view puts people about 20 % too close), their
lateral position scales with it, and the body pose and shape are nearly
unaffected (they come mostly from the metric 3D landmarks); ``python -m
bench.bench_hmr`` measures it (assumed 45 / 75 degrees for a true 60: depth x1.39 /
x0.76, PA-MPJPE unchanged). When no CameraInfo is given,
:data:`onlinehmr_ros.core.hmr.camera_hmr.DEFAULT_HFOV_DEG` is the default field of view.

Speed: the solver evaluates the model only where it is needed.
:class:`~onlinehmr_ros.core.body.kinematics.LandmarkKinematics` evaluates the model's linear blend
skinning directly at the landmarks (precomputed landmark-joint terms) and joints, for a
whole batch of parameter vectors at once, and their exact derivatives
(:meth:`~onlinehmr_ros.core.body.kinematics.LandmarkKinematics.jacobian`): a solver step costs one
model evaluation with its Jacobian instead of a batched evaluation of 1 + P parameter vectors
(forward differences, ``FitterConfig.jacobian='forward_difference'``). The full mesh is evaluated
once per frame for the output (:func:`~onlinehmr_ros.core.body.model.posed_vertices`).

Per-joint confidence (24,) combines the visibility of the landmarks that
observe each joint with the joint's fit residual: ``c = vis * exp(-(r / r0)^2)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from onlinehmr_ros.core.body.kinematics import LandmarkKinematics
from onlinehmr_ros.core.body.model import BodyModel
from onlinehmr_ros.core.body.skeleton import (MEDIAPIPE_LEFT_HIP, MEDIAPIPE_RIGHT_HIP, NUM_BODY_POSE,
                                              NUM_MEDIAPIPE_LANDMARKS, NUM_SMPL_JOINTS)
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import (GeometryError, axis_angle_from_rotmat, project_points,
                                                projection_jacobian, translation_from_2d3d, umeyama)
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation
from onlinehmr_ros.core.hmr.smoothing import ParameterSmoother, SmoothingConfig

#: Mediapipe landmarks that observe each SMPL-24 joint (for confidences and rest-pose alignment).
JOINT_LANDMARKS: tuple[tuple[int, ...], ...] = (
    (23, 24),                  # pelvis
    (23,), (24,),              # left_hip, right_hip
    (11, 12, 23, 24),          # spine1
    (25,), (26,),              # knees
    (11, 12, 23, 24),          # spine2
    (27,), (28,),              # ankles
    (11, 12),                  # spine3
    (29, 31), (30, 32),        # feet
    (0, 11, 12),               # neck
    (11,), (12,),              # collars
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),  # head
    (11,), (12,),              # shoulders
    (13,), (14,),              # elbows
    (15,), (16,),              # wrists
    (17, 19, 21), (18, 20, 22),  # hands
)
_TORSO = (11, 12, 23, 24)
#: ways of comparing the model with the backend's 3D landmarks (FitterConfig.align_3d)
ALIGN_3D = ('none', 'scale', 'similarity')
#: how the solver gets the Jacobian of the residuals (FitterConfig.jacobian)
JACOBIANS = ('analytic', 'forward_difference')
#: depth guard of the reprojection term (geometry.guarded_depth), metres
MIN_DEPTH_M = 1e-3


class FittingError(RuntimeError):
    """The fitter was given unusable input (see the message)."""


@dataclass(frozen=True)
class FitterConfig:
    """Weights and solver settings of :class:`BodyFitter` (residuals are unitless: 3D in metres,
    2D in fractions of the person's box height, rotations in radians).

    Attributes:
        weight_3d: 3D landmark term.
        align_3d: how the model's hip-centred landmarks are compared with the backend's metric 3D
            landmarks: ``'none'`` (as given: camera-aligned, metric), ``'scale'`` (both normalised to
            a nominal size: the backend's 3D size says nothing about the person's size) or
            ``'similarity'`` (normalised and rotated onto the model's: only the body's own 3D
            configuration is used; global orientation comes from the 2D term).
        weight_2d: 2D reprojection term.
        weight_pose_prior: Tikhonov weight on the 23 joint rotations (rad^-2).
        weight_shape_prior: weight on |betas|^2.
        weight_shape_track: weight per frame seen on |betas - running mean|^2 (grows to
            ``shape_window * weight_shape_track``).
        weight_velocity: lambda_v of L_v on pelvis-relative joints (0 disables). Off by default:
            on Megamind.avi it added lag (0.1: 1.2 frames) for little extra smoothing; L_a with
            a constant-velocity target smooths without pulling motion to a stop.
        weight_acceleration: lambda_a of L_a on pelvis-relative joints (0 disables).
        weight_root_acceleration: acceleration term on the camera-frame translation (0 disables).
        (Defaults: on Megamind.avi, ``python -m bench.bench_hmr``, jitter and >10 Hz energy of the
        output joints at most half of the unregularised fit with a lag below one frame; on a
        synthetic waving walker (test_hmr_fitting) accuracy is no worse than without the terms.
        lambda_a = 2 with a root weight of 3 smooths more but lags fast motion: 31 mm there.)
        min_visibility: landmarks below this visibility get no weight (the others are weighted by their
            visibility). 0 by default: with a threshold (0.3) a self-occluded limb had no data term and
            drifted (tune set, exact landmarks: PA-MPJPE 34.6 mm with 0.3, 7.2 mm with 0;
            ``python -m onlinehmr_ros.eval.hmr_breakdown``), while mediapipe still places hidden
            landmarks plausibly.
        refine_weight_3d: weight_3d when refining an estimate (``FitInitialisation``): the estimate's
            3D pose is better than the backend's 3D landmarks, so by default only the 2D term refines it.
        refine_weight_pose_anchor: when refining, Tikhonov weight pulling the body pose to the
            estimate's (instead of ``weight_pose_prior`` pulling it to the rest pose), rad^-2.
        iterations_first: solver iterations on a track's first frame.
        iterations_tracking: solver iterations on later frames (warm start).
        damping: initial Levenberg-Marquardt damping.
        jacobian: ``'analytic'`` (the residuals' exact derivatives through
            :meth:`~onlinehmr_ros.core.body.kinematics.LandmarkKinematics.jacobian`: one model evaluation per
            solver step) or ``'forward_difference'`` (one batched evaluation of 1 + P parameter vectors per
            step; needed by ``align_3d`` 'scale' and 'similarity'). Both give the same fits (Megamind.avi, 148
            fits: joints within 0.04 mm; tune set: PA-MPJPE 58.94 mm either way), the analytic one at 0.63x the
            cost of a tracking fit (7.1 vs 11.2 ms p50, paired per fit, load ~4; in-process pipeline:
            ``python -m bench.bench_pipeline --jacobian forward_difference analytic --rounds 3``).
        convergence_tol: stop when a step lowers the cost by less than this fraction.
        shape_window: frames after which the running shape mean becomes an exponential average.
        confidence_residual_m: mean landmark residual (m; 2D residuals converted to metres at the
            landmark's depth) at which a joint's confidence falls to exp(-1) of its visibility.
        max_gap_frames: a track unseen for more frames than this is re-initialised instead of
            warm-started (its shape estimate is kept); after any gap the temporal terms restart.
        max_median_residual: a fit whose median 2D residual exceeds this fraction of the person's box
            has diverged: :class:`FittingError` (reported by the caller) and the track restarts.
        smoothing: the causal filter on the output parameters (:mod:`~onlinehmr_ros.core.hmr.smoothing`). On by
            default (One-Euro): the solver keeps its raw state, only the output is filtered.
    """

    weight_3d: float = 1.0
    align_3d: str = 'none'
    weight_2d: float = 1.0
    weight_pose_prior: float = 2e-3
    weight_shape_prior: float = 1e-3
    weight_shape_track: float = 2e-2
    weight_velocity: float = 0.0
    weight_acceleration: float = 0.5
    weight_root_acceleration: float = 1.0
    min_visibility: float = 0.0
    refine_weight_3d: float = 0.0
    refine_weight_pose_anchor: float = 0.05
    iterations_first: int = 15
    iterations_tracking: int = 3
    damping: float = 1e-3
    jacobian: str = 'analytic'
    convergence_tol: float = 1e-3
    shape_window: int = 100
    confidence_residual_m: float = 0.08
    max_gap_frames: int = 2
    max_median_residual: float = 0.2
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)

    def __post_init__(self):
        for name in ('weight_3d', 'weight_2d', 'weight_pose_prior', 'weight_shape_prior', 'weight_shape_track',
                     'weight_velocity', 'weight_acceleration', 'weight_root_acceleration', 'refine_weight_3d',
                     'refine_weight_pose_anchor'):
            if getattr(self, name) < 0:
                raise InputError(f'FitterConfig.{name} must be >= 0, got {getattr(self, name)}')
        if self.align_3d not in ALIGN_3D:
            raise InputError(f'FitterConfig.align_3d must be one of {ALIGN_3D}, got {self.align_3d!r}')
        if self.jacobian not in JACOBIANS:
            raise InputError(f'FitterConfig.jacobian must be one of {JACOBIANS}, got {self.jacobian!r}')
        if self.jacobian == 'analytic' and self.align_3d != 'none':
            raise InputError(f"FitterConfig.align_3d={self.align_3d!r} has no analytic Jacobian: "
                             "set jacobian='forward_difference'")
        if self.iterations_first < 1 or self.iterations_tracking < 1:
            raise InputError('FitterConfig needs at least one solver iteration')
        if self.max_median_residual <= 0:
            raise InputError(f'FitterConfig.max_median_residual must be > 0, got {self.max_median_residual}')
        if self.shape_window < 1 or self.confidence_residual_m <= 0 or self.max_gap_frames < 0:
            raise InputError('FitterConfig: shape_window >= 1, confidence_residual_m > 0, max_gap_frames >= 0')

    def without_temporal_terms(self) -> 'FitterConfig':
        """The same configuration with L_v, L_a and the root acceleration term off."""
        return replace(self, weight_velocity=0.0, weight_acceleration=0.0, weight_root_acceleration=0.0)


@dataclass(frozen=True)
class FitResult:
    """One person's fit in one frame (camera optical frame, metres, float32).

    Attributes:
        betas: (B,) shape used this frame.
        global_orient: (3,) axis-angle body -> camera.
        body_pose: (69,) axis-angle, parent-relative.
        transl: (3,) model translation.
        joints: (24, 3) SMPL-24 joints.
        landmarks: (33, 3) model landmarks (mediapipe order).
        keypoints_coco: (23, 3) COCO-17 + 6 foot keypoints.
        joint_confidence: (24,) in [0, 1].
        residual_2d_px: (33,) reprojection residual, pixels (NaN where unobserved).
        residual_3d_m: (33,) 3D landmark residual, metres (NaN where unobserved).
        iterations: solver iterations run.
        fallback: why the fit did not start from what the landmarks say ('' when it did): a new track
            whose torso has too few 3D landmarks starts from an upright body facing the camera.
    """

    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    joints: np.ndarray
    landmarks: np.ndarray
    keypoints_coco: np.ndarray
    joint_confidence: np.ndarray
    residual_2d_px: np.ndarray
    residual_3d_m: np.ndarray
    iterations: int
    fallback: str = ''


@dataclass(frozen=True)
class FitInitialisation:
    """Parameters to start one fit from (camera optical frame), and how many iterations to run.

    Attributes:
        global_orient: (3,) axis-angle.
        body_pose: (69,) axis-angle.
        betas: (>= B,) shape; the first B are used.
        transl: (3,) metres.
        iterations: solver iterations from this start (>= 1).
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    iterations: int = 3

    def __post_init__(self):
        if self.iterations < 1:
            raise InputError(f'FitInitialisation.iterations must be >= 1, got {self.iterations}')


def running_shape(mean: np.ndarray, n: int, betas: np.ndarray, window: int) -> tuple[np.ndarray, int]:
    """A track's shape estimate after one more frame's betas: the mean of the first ``window`` frames, then an
    exponential average with weight ``1 / window`` (returns the new mean and frame count)."""
    a = 1.0 / min(n + 1, window)
    return (1.0 - a) * np.asarray(mean, np.float64) + a * np.asarray(betas, np.float64), n + 1


@dataclass
class _TrackState:
    """Per-track memory of the fitter (fixed size)."""

    x: np.ndarray                         # (P,) last solution
    joints_rel: list                      # up to 2 previous (24, 3) pelvis-relative joints, newest last
    transl_hist: list                     # up to 2 previous (3,) translations, newest last
    betas_mean: np.ndarray                # (B,) running shape estimate
    n_shape: int                          # frames in the running shape estimate
    last_frame: int                       # frame counter of the last fit
    times_s: list                         # stamps (s) of the fits in joints_rel / transl_hist, newest last


class BodyFitter:
    """Fits the body model to each tracked person, causally, one frame at a time.

    Args:
        model: a body model from :func:`~onlinehmr_ros.core.body.loading.load_body_model`.
        config: :class:`FitterConfig`.
    """

    def __init__(self, model: BodyModel, config: FitterConfig = FitterConfig()):
        self.model = model
        self.config = config
        self.kinematics = LandmarkKinematics(model)
        self._B = model.num_betas
        self._P = 3 + NUM_BODY_POSE + self._B + 3
        self._states: dict[int, _TrackState] = {}
        self._known_shape: dict[int, np.ndarray] = {}
        self._smoother = ParameterSmoother(config.smoothing)
        # (24, 33) averaging matrix: row j averages the landmarks that observe joint j
        self._joint_mean = np.zeros((NUM_SMPL_JOINTS, NUM_MEDIAPIPE_LANDMARKS))
        for j, ix in enumerate(JOINT_LANDMARKS):
            self._joint_mean[j, list(ix)] = 1.0 / len(ix)
        z = np.zeros((1, 3))
        rest, _ = self.kinematics(np.zeros((1, self._B)), z, np.zeros((1, NUM_BODY_POSE)), z)
        self._rest_landmarks = rest[0]  # (33, 3) model frame
        rel = rest[0] - 0.5 * (rest[0, MEDIAPIPE_LEFT_HIP] + rest[0, MEDIAPIPE_RIGHT_HIP])
        self._nominal_rms_m = float(np.sqrt((rel ** 2).sum(-1).mean()))   # size of the mean body's landmarks

    # -- state ------------------------------------------------------------------------------
    @property
    def track_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._states))

    def forget(self, track_ids) -> None:
        """Drop the state of ended tracks."""
        for t in track_ids:
            self._states.pop(int(t), None)
        self._smoother.forget(track_ids)

    def reset(self) -> None:
        self._states = {}
        self._smoother.reset()

    def warm_start(self, track_id: int, global_orient: np.ndarray, body_pose: np.ndarray, betas: np.ndarray,
                   transl: np.ndarray, frame_counter: int) -> None:
        """Continue a track from another estimator's body (camera optical frame) instead of a fresh start: the
        next fit (``frame_counter``) starts from these parameters as if they were this fitter's previous solution,
        with ``betas`` as the track's settled shape (``shape_window`` frames' weight); no temporal terms until
        the fitter has two fits of its own; its output filter restarts at that fit. (A fresh start guesses the
        shape and so the depth: on a rendered person 6.3 m away from a network's 4.7 m, truth ~4.5 m.)"""
        t = int(track_id)
        x = np.concatenate([global_orient, body_pose, np.asarray(betas, np.float64)[:self._B], transl]).astype(np.float64)
        self._states[t] = _TrackState(x=x, joints_rel=[], transl_hist=[], betas_mean=x[72:72 + self._B].copy(),
                                      n_shape=self.config.shape_window, last_frame=int(frame_counter) - 1, times_s=[])
        self._smoother.forget([t])

    def set_known_shape(self, track_id: int, betas: np.ndarray) -> None:
        """Fix the shape of a track to ``betas`` (B,) (e.g. a person whose shape is known; experiments)."""
        self._known_shape[int(track_id)] = np.asarray(betas, np.float64)[:self._B].copy()

    # -- parameters -------------------------------------------------------------------------
    def _split(self, X: np.ndarray):
        B = self._B
        return X[..., :3], X[..., 3:72], X[..., 72:72 + B], X[..., 72 + B:75 + B]

    def _initial_x(self, lm3d: np.ndarray, w3d: np.ndarray, uv: np.ndarray, w2d: np.ndarray,
                   K: np.ndarray) -> tuple[np.ndarray, str]:
        """Orientation from the torso (Umeyama, rest pose -> observed), translation from 2D-3D.

        Returns:
            the parameter vector and the fallback reason ('' when the torso gave the orientation).
        """
        lm = self._rest_landmarks
        rest = lm - 0.5 * (lm[MEDIAPIPE_LEFT_HIP] + lm[MEDIAPIPE_RIGHT_HIP])
        sel = np.array(_TORSO)
        wt = w3d[sel]
        n_torso = int((wt > 0).sum())
        if n_torso >= 3:
            _, R, _ = umeyama(rest[sel], lm3d[sel], with_scale=False, weights=wt)
            fallback = ''
        else:
            R = np.diag([1.0, -1.0, -1.0])  # upright, facing the camera
            fallback = (f'torso not visible ({n_torso} of {len(_TORSO)} shoulder/hip landmarks in 3D, need 3): '
                        'started from an upright body facing the camera')
        x = np.zeros(self._P)
        x[:3] = axis_angle_from_rotmat(R)
        model_pts = self._rest_landmarks @ R.T
        try:
            x[-3:] = translation_from_2d3d(K, model_pts, uv, w2d)
        except GeometryError as exc:
            raise FittingError(f'cannot place the person: {exc}') from exc
        if not np.isfinite(x).all() or x[-1] <= 0:
            raise FittingError('cannot place the person in front of the camera from its landmarks')
        return x, fallback

    # -- main entry -------------------------------------------------------------------------
    def fit(self, track_id: int, observation: PersonObservation, intrinsics: CameraIntrinsics,
            frame_counter: int, initial: 'FitInitialisation | None' = None, stamp_ns: int | None = None) -> FitResult:
        """Fit one tracked person in one frame and update that track's state.

        Args:
            track_id: the tracker's id.
            observation: the person's landmarks this frame.
            intrinsics: camera intrinsics of the frame.
            frame_counter: running frame number of the stream (increases by 1 per frame).
            initial: start from these parameters (e.g. a learned model's estimate) instead of the
                track's previous solution, for ``initial.iterations`` iterations; the temporal terms
                still use the track's own history (keypoint-guided refinement of an estimate).
            stamp_ns: the image's stamp; the output filter steps by stamp time (core.hmr.smoothing), and the
                acceleration terms' constant-velocity target follows uneven steps. None:
                ``frame_counter / smoothing.frame_rate_hz`` (a stream of evenly spaced frames without stamps).
        Raises:
            FittingError: too few usable landmarks to place the person, or the fit diverged
                (``max_median_residual``; the track's state is dropped).
        """
        c = self.config
        W, H = intrinsics.width_px, intrinsics.height_px
        K = intrinsics.K
        uv = observation.landmarks_px.astype(np.float64)
        vis = observation.visibility.astype(np.float64)
        lm3d = observation.landmarks_3d_m.astype(np.float64)
        ok2d = np.all(np.isfinite(uv), axis=1) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        ok3d = np.all(np.isfinite(lm3d), axis=1)
        w_vis = np.where(vis >= c.min_visibility, vis, 0.0)
        w2d = np.where(ok2d, w_vis, 0.0)
        w3d = np.where(ok3d, w_vis, 0.0)
        if (w2d > 0).sum() < 4:
            raise FittingError(f'only {(w2d > 0).sum()} usable 2D landmarks (need 4): the person is mostly '
                               'outside the image or not visible')
        uv = np.where(ok2d[:, None], uv, 0.0)
        lm3d = np.where(ok3d[:, None], lm3d, 0.0)
        seen = uv[w2d > 0]
        box_h = float(max(np.ptp(seen[:, 1]), np.ptp(seen[:, 0]), 8.0))

        state = self._states.get(track_id)
        prev_rel, prev_t, prev_times = [], [], []
        time_s = stamp_ns * 1e-9 if stamp_ns is not None else frame_counter / c.smoothing.frame_rate_hz
        betas_mean, n_shape = np.zeros(self._B), 0
        if state is not None:
            betas_mean, n_shape = state.betas_mean, state.n_shape   # the shape belongs to the person
            if frame_counter - state.last_frame == 1:                # temporal terms need the last two frames
                prev_rel, prev_t, prev_times = state.joints_rel, state.transl_hist, state.times_s
        fallback = ''
        if state is None or frame_counter - state.last_frame > c.max_gap_frames + 1:
            x0, fallback = self._initial_x(lm3d, w3d, uv, w2d, K)  # new, or unseen for too long: start afresh
            iters = c.iterations_first
        else:
            x0 = state.x.copy()
            iters = c.iterations_tracking
        if initial is not None:
            fallback = ''                       # the given estimate is the start, not the guess
            x0 = np.concatenate([initial.global_orient, initial.body_pose, initial.betas[:self._B],
                                 initial.transl]).astype(np.float64)
            iters = initial.iterations

        s2 = (np.sqrt(c.weight_2d * w2d) / box_h)[:, None]
        s3 = np.sqrt((c.weight_3d if initial is None else c.refine_weight_3d) * w3d)[:, None]
        # refining an estimate (GenHMR's 2D-guided refinement): the pose prior pulls to the estimate, not to rest
        pose_anchor = np.zeros(NUM_BODY_POSE) if initial is None else np.asarray(initial.body_pose, np.float64)
        # The paper's c_j (ground-truth joint confidences weighting the training loss) is 1 here:
        # at inference a joint without landmarks has no data term, and the temporal terms are
        # what keeps it still; weighting them down by visibility let unobserved joints jitter
        # (measured on Megamind.avi with lambda_a = 2: pelvis-relative jitter ratio 0.56 instead of 0.13).
        sv = np.sqrt(c.weight_velocity)
        sa = np.sqrt(c.weight_acceleration)
        shape_w = np.sqrt(c.weight_shape_prior)
        track_w = np.sqrt(c.weight_shape_track * min(n_shape, c.shape_window))
        known = self._known_shape.get(track_id)
        if known is not None:
            betas_mean, shape_w, track_w = known, 0.0, 1e3
            x0[72:72 + self._B] = known
        pose_w = np.sqrt(c.weight_pose_prior if initial is None else c.refine_weight_pose_anchor)
        root_w = np.sqrt(c.weight_root_acceleration)
        use_v = len(prev_rel) >= 1 and c.weight_velocity > 0
        use_a = len(prev_rel) >= 2 and c.weight_acceleration > 0
        use_ra = len(prev_t) >= 2 and c.weight_root_acceleration > 0
        # L_a (and the root's) on uneven steps, by the stamps: an hmr node that skips images (keep-last 1) fits
        # at uneven times. The target is the constant-velocity continuation of the last two fits (dt2 / dt1 of
        # their step), and the residual is weighted as the acceleration it means, in units of the nominal
        # step 1 / smoothing.frame_rate_hz (factor 1 for even steps at that rate): a second difference over
        # longer steps holds more real motion. Steps of 1-4 frames at random (a waving walker, seeds 7-9,
        # test_hmr_fitting's uneven-steps test): MPJPE 37.6/44.6/36.7 mm with the even-step target, 19.9/21.5/
        # 18.4 with this (even steps: 12.1/22.5/19.9); the target without the weighting: 47.7/47.2/46.1.
        ratio, acc_w = 1.0, 1.0
        if len(prev_times) >= 2 and prev_times[-1] > prev_times[-2] and time_s > prev_times[-1]:
            dt1, dt2 = prev_times[-1] - prev_times[-2], time_s - prev_times[-1]
            dt_nominal = 1.0 / c.smoothing.frame_rate_hz
            ratio, acc_w = dt2 / dt1, 2.0 * dt_nominal ** 2 / (dt2 * (dt1 + dt2))
        kin = self.kinematics

        def residuals(X: np.ndarray) -> np.ndarray:
            """(N, P) parameter vectors -> (N, R) weighted residuals."""
            go, bp, be, tr = self._split(X)
            L, Jt = kin(be, go, bp, tr)
            hip = 0.5 * (L[:, MEDIAPIPE_LEFT_HIP] + L[:, MEDIAPIPE_RIGHT_HIP])
            r3 = self._residual_3d(L - hip[:, None], lm3d, w3d) * s3
            proj, _ = project_points(K, L, MIN_DEPTH_M)
            r2 = (proj - uv) * s2
            N = X.shape[0]
            rs = [r3.reshape(N, -1), r2.reshape(N, -1), pose_w * (bp - pose_anchor), shape_w * be]
            if track_w > 0:
                rs.append(track_w * (be - betas_mean))
            rel = Jt - Jt[:, :1]
            if use_v:
                rs.append((sv * (rel - prev_rel[-1])).reshape(N, -1))
            if use_a:
                rs.append((acc_w * sa * (rel - prev_rel[-1] - ratio * (prev_rel[-1] - prev_rel[-2]))).reshape(N, -1))
            if use_ra:
                rs.append(acc_w * root_w * (tr - prev_t[-1] - ratio * (prev_t[-1] - prev_t[-2])))
            return np.concatenate(rs, axis=1)

        P = self._P
        eye = np.eye(P)
        pose_cols, beta_cols, tr_cols = slice(3, 72), slice(72, 72 + self._B), slice(72 + self._B, P)

        def jacobian(x: np.ndarray) -> np.ndarray:
            """(P,) parameters -> (R, P) derivative of ``residuals`` (align_3d 'none'), row for row."""
            go, bp, be, tr = self._split(x)
            ev = kin.jacobian(be, go, bp, tr)
            L, dL, dJt = ev['mediapipe'], ev['d_mediapipe'], ev['d_joints']
            d_hip = 0.5 * (dL[MEDIAPIPE_LEFT_HIP] + dL[MEDIAPIPE_RIGHT_HIP])
            d3 = (dL - d_hip) * s3[:, :, None]
            d2 = (projection_jacobian(K, L, MIN_DEPTH_M) @ dL) * s2[:, :, None]
            js = [d3.reshape(-1, P), d2.reshape(-1, P), pose_w * eye[pose_cols], shape_w * eye[beta_cols]]
            if track_w > 0:
                js.append(track_w * eye[beta_cols])
            d_rel = (dJt - dJt[:1]).reshape(-1, P)
            if use_v:
                js.append(sv * d_rel)
            if use_a:
                js.append(acc_w * sa * d_rel)
            if use_ra:
                js.append(acc_w * root_w * eye[tr_cols])
            return np.concatenate(js, axis=0)

        x, n_it = self._solve(residuals, x0, iters, jacobian if c.jacobian == 'analytic' else None)
        go, bp, be, tr = self._split(x[None])
        ev = kin.evaluate(be, go, bp, tr)
        L, coco, joints = ev['mediapipe'][0], ev['coco'][0], ev['joints'][0]
        hip = 0.5 * (L[MEDIAPIPE_LEFT_HIP] + L[MEDIAPIPE_RIGHT_HIP])
        proj, _ = project_points(K, L, MIN_DEPTH_M)
        res2d_px = np.where(w2d > 0, np.linalg.norm(proj - uv, axis=1), np.nan)
        bad = float(np.nanmedian(res2d_px)) if np.any(w2d > 0) else np.inf
        if not (np.isfinite(x).all() and x[-1] > MIN_DEPTH_M) or bad > c.max_median_residual * box_h:
            self._states.pop(track_id, None)      # the next frame starts this track afresh
            self._smoother.forget([track_id])
            raise FittingError(f'fit of track {track_id} diverged (median 2D residual {bad:.0f} px, box '
                               f'{box_h:.0f} px, depth {x[-1]:.2f} m); the track restarts next frame')
        res3d = np.where(w3d > 0, np.linalg.norm(L - hip - lm3d, axis=1), np.nan)
        # 2D residuals in metres at the landmark's depth, comparable with the 3D ones
        res2d_m = res2d_px * np.maximum(L[:, 2], 1e-3) / intrinsics.fx
        conf = self._joint_confidence(vis, w2d > 0, res2d_m, res3d)

        betas_new, n_new = running_shape(betas_mean, n_shape, be[0], c.shape_window)
        self._states[track_id] = _TrackState(
            x=x.copy(), joints_rel=(list(prev_rel) + [joints - joints[:1]])[-2:],
            transl_hist=(list(prev_t) + [x[-3:].copy()])[-2:],
            betas_mean=betas_new, n_shape=n_new, last_frame=frame_counter,
            times_s=(list(prev_times) + [time_s])[-2:])
        if c.smoothing.enabled:   # the output is the filtered body; the solver keeps its own (raw) state
            sgo, sbp, str_ = self._smoother.update(track_id, frame_counter, time_s, go[0], bp[0], tr[0])
            go, bp, tr = sgo[None], sbp[None], str_[None]
            ev = kin.evaluate(be, go, bp, tr)
            L, coco, joints = ev['mediapipe'][0], ev['coco'][0], ev['joints'][0]
        f = np.float32
        return FitResult(betas=be[0].astype(f), global_orient=go[0].astype(f), body_pose=bp[0].astype(f),
                         transl=tr[0].astype(f), joints=joints.astype(f), landmarks=L.astype(f),
                         keypoints_coco=coco.astype(f),
                         joint_confidence=conf.astype(f), residual_2d_px=res2d_px.astype(f),
                         residual_3d_m=res3d.astype(f), iterations=n_it, fallback=fallback)

    def _residual_3d(self, P: np.ndarray, Q: np.ndarray, w: np.ndarray) -> np.ndarray:
        """(N, 33, 3) model landmarks P (hip-centred) minus the backend's Q (33, 3), per ``align_3d``."""
        mode = self.config.align_3d
        if mode == 'none':
            return P - Q
        wsum = max(float(w.sum()), 1e-9)
        rms_p = np.sqrt(np.einsum('l,nlc,nlc->n', w, P, P) / wsum)[:, None, None]
        rms_q = np.sqrt(float(np.einsum('l,lc,lc->', w, Q, Q)) / wsum)
        nominal = self._nominal_rms_m
        Pn = P * (nominal / np.maximum(rms_p, 1e-6))
        Qn = Q * (nominal / max(rms_q, 1e-6))
        if mode == 'scale':
            return Pn - Qn
        H = np.einsum('l,lc,nld->ncd', w, Qn, Pn)                 # (N, 3, 3) sum w q p^T
        U, _, Vt = np.linalg.svd(H)
        d = np.sign(np.linalg.det(np.einsum('nij,njk->nik', U, Vt)))
        D = np.ones((P.shape[0], 3))
        D[:, 2] = d
        R = np.einsum('nji,nj,nkj->nik', Vt, D, U)              # R = V diag(1,1,d) U^T: R q ~ p
        return Pn - np.einsum('nij,lj->nli', R, Qn)

    # -- solver -----------------------------------------------------------------------------
    def _solve(self, residuals, x0: np.ndarray, iterations: int, jacobian=None) -> tuple[np.ndarray, int]:
        """Levenberg-Marquardt; the Jacobian from ``jacobian(x)``, or (None) by forward differences in one
        batched evaluation."""
        P = x0.shape[0]
        h = 1e-6
        steps = np.vstack([np.zeros(P), h * np.eye(P)])
        x = x0
        lam = self.config.damping
        r = None                                        # residuals at x (known after an accepted step)
        cost = None
        n = 0
        for n in range(1, iterations + 1):
            if jacobian is None:
                R = residuals(x + steps)
                r = R[0]
                Jm = (R[1:] - r).T / h                  # (R, P)
            else:
                r = residuals(x[None])[0] if r is None else r
                Jm = jacobian(x)
            cost = float(r @ r)
            JtJ = Jm.T @ Jm
            g = Jm.T @ r
            diag = np.maximum(np.diagonal(JtJ), 1e-9)
            improved = False
            for _ in range(6):
                try:
                    step = np.linalg.solve(JtJ + lam * np.diag(diag), -g)
                except np.linalg.LinAlgError:
                    lam *= 10.0
                    continue
                r_new = residuals((x + step)[None])[0]
                new_cost = float(r_new @ r_new)
                if np.isfinite(new_cost) and new_cost < cost:
                    x, r = x + step, r_new
                    lam = max(lam / 3.0, 1e-9)
                    improved = cost - new_cost > self.config.convergence_tol * cost
                    break
                lam *= 10.0
            if not improved:
                break  # converged: no (or a negligible) decrease
        return x, n

    # -- confidences ------------------------------------------------------------------------
    def _joint_confidence(self, vis: np.ndarray, usable2d: np.ndarray, res2d_m: np.ndarray,
                          res3d_m: np.ndarray) -> np.ndarray:
        """(24,) visibility of each joint's landmarks times exp(-(mean residual / r0)^2); residuals in metres."""
        r0 = self.config.confidence_residual_m
        v = self._joint_mean @ np.where(usable2d, vis, 0.0)
        res = np.stack([res2d_m, res3d_m])                       # (2, 33), NaN where unobserved
        finite = np.isfinite(res)
        member = self._joint_mean > 0                            # (24, 33)
        n = member @ finite.sum(0)
        total = member @ np.where(finite, res, 0.0).sum(0)
        with np.errstate(invalid='ignore', divide='ignore'):
            mean_res = np.where(n > 0, total / np.maximum(n, 1), np.inf)
        return np.clip(v * np.exp(-(mean_res / r0) ** 2), 0.0, 1.0)


__all__ = ['BodyFitter', 'FitResult', 'FitterConfig', 'FittingError', 'JOINT_LANDMARKS']
