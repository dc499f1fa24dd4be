"""Causal smoothing of each track's body parameters: a One-Euro filter (default) or an alpha-beta filter.

The per-frame fit follows the landmarks, noise included; mediapipe's landmarks jitter by a few
pixels and its depth cue (the body's size in the image) by a few percent per frame, which the
Accel / Jitter / high-frequency metrics multiply by the frame rate squared or cubed. This filter
runs after the fit, on the parameters, so the output stays one body (mesh, joints and keypoints
from the same parameters). Every joint rotation (the global orientation and the 23 body joints)
is filtered on SO(3), never in raw axis-angle components (no wrap at pi); the translation with
its own settings for the lateral (x, y) and the depth (z) axes, since depth is the noisiest
coordinate of monocular HMR. Causal: the output at frame t uses fits up to t only. Fixed memory
per track. Only a gap longer than ``max_gap_frames`` processed frames or ``max_gap_s`` seconds, a
stamp that does not advance, or a forgotten (ended / failed) track restarts a track's filter at the fit.

Time is the images' stamps (seconds), not a frame count: the filter's cut-offs are in Hz and its
speeds per second whatever the camera's rate, and an hmr node that skips images to stay current
(keep-last 1, issue 15) steps its filter by the time that really passed. (Counting processed frames
at an assumed 30 fps, a person seen every third image of a 30 fps camera was filtered as if they
moved three times slower: the cut-offs fell to a third, the lag in seconds tripled;
test_hmr_smoothing's irregular-rate test.)

Two methods (``SmoothingConfig.method``):

``'one_euro'`` (default; Casiez et al., CHI 2012): a first-order low-pass per group whose cut-off
rises with the group's speed, ``f_c = min_cutoff_hz + speed_coefficient * |speed|`` (speed low-passed
at ``derivative_cutoff_hz``), so a slow joint is smoothed hard and a fast one followed closely. A
rotation is filtered in the tangent space of its previous *filtered* rotation: ``d =
log(R_prev^T R_fit)``, ``R = R_prev exp(a d)`` with ``a = 1 / (1 + rate / (2 pi f_c))``; speeds in
rad/s (lateral and depth translation: m/s). A plain low-pass lags by ``(1 - a) / a`` frames; with
``translation_prediction`` / ``depth_prediction`` / ``rotation_prediction`` k > 0 the step starts from a
constant-velocity prediction (the filtered value moved by k times the low-passed speed), which removes that
lag for steady motion. There are no reset thresholds: they were why the alpha-beta filter raised Jitter
(tune set, post-hoc replay of the fitter's parameters: alpha-beta with its 0.6 m / 1.2 rad resets
Jitter 334 -> 362, without them 191 (10 m/s^3); the low-gain depth filter (alpha 0.2) drifts from a
moving fit, crosses the threshold and snaps to the fit in one frame: a step that the third
difference multiplies by fps^3).

Optional (One-Euro): a second predicted stage (``rotation_stage2_hz``, ``translation_stage2_hz``), and gains that
follow the measurement's predicted error (``sigma_reference_m``, ``rotation_sigma_reference_m``: the learned network
predicts each joint's error std; a measurement it calls uncertain moves the filter less).

``'alpha_beta'``: prediction ``R_pred = R exp(w)``, innovation ``r = log(R_pred^T R_fit)``, update
``R = R_pred exp(alpha r)``, ``w = w + beta r`` (``w``: rotation per frame in the joint's own frame),
the same in R^3 for the translation. It tracks a constant velocity without lag; it lags only where
the velocity changes. ``beta`` defaults to ``alpha^2 / (2 - alpha)`` (Benedict-Bordner: the gains of
a steady-state Kalman filter of a constant-velocity target), so each group has one setting. The
velocity starts at zero (a difference of two noisy fits would be a worse start). A translation
innovation larger than ``reset_translation_m`` or a rotation innovation larger than
``reset_rotation_rad`` restarts the filter at the fit (see above for what that costs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, rotmat_from_axis_angle


#: the filters of :class:`ParameterSmoother`
SMOOTHING_METHODS = ('one_euro', 'alpha_beta')


@dataclass(frozen=True)
class SmoothingConfig:
    """Settings of :class:`ParameterSmoother` (alpha_beta: alpha in (0, 1]; 1 = no smoothing).

    Attributes:
        enabled: apply the filter (False: the fit is the output).
        method: ``'one_euro'`` or ``'alpha_beta'`` (module docstring).
        frame_rate_hz: the nominal camera rate: alpha_beta's per-frame gains are meant for it (a step
            of dt seconds counts as ``dt * frame_rate_hz`` frames), and so are the fitter's acceleration
            weights (core.hmr.fitting weighs uneven steps as accelerations in units of this step). The
            One-Euro filter needs no rate: it runs on the stamps (module docstring).
        orient_cutoff, pose_cutoff, lateral_cutoff, depth_cutoff: One-Euro ``(min_cutoff_hz,
            speed_coefficient)`` of the global orientation (speed in rad/s), each body joint's rotation
            (rad/s), the translation x, y (m/s) and z (m/s). Defaults (with ``derivative_cutoff_hz`` 1.5,
            ``translation_prediction`` 1, ``rotation_prediction`` 0) from the tune set (post-hoc replay of
            the fitter's parameters, 12 sequences, gt_camera rows): Accel 53 -> 29 m/s^2, Jitter 334 -> 230
            (10 m/s^3), HF energy 1.04 -> 0.26 %, PA-MPJPE 73.1 -> 71.4 mm, lag against the truth (median
            over sequences) 0.1 -> 0.8 frame. Rotation prediction 0.5 lagged less on an analytic
            walking body (test_hmr_smoothing: 0.9 instead of 1.4 frames) but not on the tune set (0.9)
            and cost 1.1 mm PA-MPJPE there (overshoot at the end of a limb's swing; 1: 2.6 mm).
            Without prediction on the translation the lag was 1.4 frames (camera-frame velocity is mostly
            the translation's); a derivative cut-off of 1 Hz smoothed a little more (Accel 27) with
            1.0 frame of lag, 2 Hz less (Accel 30) with 0.8.
        derivative_cutoff_hz: One-Euro cut-off of the speed estimate of the rotations and the lateral translation.
        depth_derivative_cutoff_hz: the same for the depth (z) translation. The depth speed feeds the depth's
            prediction, so its noise goes straight into the output: monocular depth is the noisiest coordinate
            (the learned network's pelvis depth: 65-100 mm high-passed noise per frame on the v3 tune set
            against 10-20 mm laterally), and with the shared 1.5 Hz the depth prediction was most of the
            learned output's Jitter (HMRConfig.learned_smoothing).
        rotation_prediction, translation_prediction, depth_prediction: in [0, 1]; the One-Euro step of the
            rotations, the lateral (x, y) and the depth (z) translation starts from the filtered value moved by
            this fraction of the low-passed speed (a constant-velocity prediction: 1 removes the lag of steady
            motion, 0 is the plain One-Euro filter, which lags by (1 - a) / a frames).
        (alpha_beta only:)
        orient_alpha: global orientation.
        pose_alpha: the 23 body joint rotations.
        lateral_alpha: translation x, y (camera frame).
        depth_alpha: translation z.
        beta_scale: beta = beta_scale * alpha^2 / (2 - alpha) (1: Benedict-Bordner).
        reset_translation_m: a larger translation innovation restarts the filter.
        reset_rotation_rad: a larger global-orientation innovation restarts the filter.
        max_gap_frames: a track unseen for more processed frames restarts (the prediction is not
            trusted longer).
        max_gap_s: a track whose previous fit is older than this (s) restarts, however few frames were
            processed in between (a stalled stream).
        rotation_stage2_hz, translation_stage2_hz: One-Euro only; 0 (default) turns each off. A second One-Euro
            stage on the first one's rotations / translation (x, y, z): a fixed cut-off (Hz), its speed low-passed at
            ``stage2_derivative_cutoff_hz`` and a full constant-velocity prediction (1). Two first-order stages in a
            row attenuate the fast noise (which the third difference of Jitter weighs by the frequency cubed) much
            more than one stage of the same lag at the motion's frequencies, so the first stage can be faster
            (HMRConfig.learned_smoothing).
        stage2_derivative_cutoff_hz: the speed cut-off of the second stage.
        sigma_reference_m, rotation_sigma_reference_m: One-Euro only; 0 turns each off. Measurement-adaptive
            gains: where :meth:`ParameterSmoother.update` is given the measurement's predicted error std per joint
            (``joint_sigma_m``, e.g. the learned network's), every gain of the translation step (position and
            speed) is multiplied by ``min(1, (sigma_reference_m / sigma_pelvis)^2)``, and those of joint j's rotation
            by ``min(1, (rotation_sigma_reference_m / sigma_j)^2)`` (the 1 / variance scaling of a Kalman gain
            at low gain). A measurement the network calls uncertain moves the filter less; one below the reference
            is filtered as without it, so the lag where the data is good does not change.
    """
    enabled: bool = True
    method: str = 'one_euro'
    frame_rate_hz: float = 30.0
    orient_cutoff: tuple[float, float] = (1.0, 0.5)
    pose_cutoff: tuple[float, float] = (1.0, 0.5)
    lateral_cutoff: tuple[float, float] = (1.0, 1.0)
    depth_cutoff: tuple[float, float] = (0.5, 1.0)
    derivative_cutoff_hz: float = 1.5
    depth_derivative_cutoff_hz: float = 1.5
    rotation_prediction: float = 0.0
    translation_prediction: float = 1.0
    depth_prediction: float = 1.0
    orient_alpha: float = 0.5
    pose_alpha: float = 0.5
    lateral_alpha: float = 0.5
    depth_alpha: float = 0.2
    beta_scale: float = 1.0
    reset_translation_m: float = 0.6
    reset_rotation_rad: float = 1.2
    max_gap_frames: int = 2
    max_gap_s: float = 0.5
    sigma_reference_m: float = 0.0
    rotation_sigma_reference_m: float = 0.0
    rotation_stage2_hz: float = 0.0
    translation_stage2_hz: float = 0.0
    stage2_derivative_cutoff_hz: float = 5.0

    def __post_init__(self):
        if self.method not in SMOOTHING_METHODS:
            raise InputError(f'SmoothingConfig.method must be one of {SMOOTHING_METHODS}, got {self.method!r}')
        for name in ('orient_cutoff', 'pose_cutoff', 'lateral_cutoff', 'depth_cutoff'):
            v = tuple(getattr(self, name))
            if len(v) != 2 or not v[0] > 0 or v[1] < 0:
                raise InputError(f'SmoothingConfig.{name} must be (min_cutoff_hz > 0, speed_coefficient >= 0), got {v}')
        if not self.frame_rate_hz > 0 or not self.derivative_cutoff_hz > 0 or not self.depth_derivative_cutoff_hz > 0 \
                or not all(0.0 <= k <= 1.0 for k in (self.rotation_prediction, self.translation_prediction,
                                                     self.depth_prediction)):
            raise InputError('SmoothingConfig: frame_rate_hz > 0, derivative_cutoff_hz > 0, '
                             'depth_derivative_cutoff_hz > 0, rotation_prediction, translation_prediction and '
                             'depth_prediction in [0, 1]')
        for name in ('orient_alpha', 'pose_alpha', 'lateral_alpha', 'depth_alpha'):
            a = getattr(self, name)
            if not 0.0 < a <= 1.0:
                raise InputError(f'SmoothingConfig.{name} must be in (0, 1], got {a}')
        if self.rotation_stage2_hz < 0 or self.translation_stage2_hz < 0 or not self.stage2_derivative_cutoff_hz > 0:
            raise InputError('SmoothingConfig: rotation_stage2_hz and translation_stage2_hz must be >= 0 (0: no second '
                             'stage) and stage2_derivative_cutoff_hz > 0, got '
                             f'{self.rotation_stage2_hz}, {self.translation_stage2_hz}, {self.stage2_derivative_cutoff_hz}')
        if self.sigma_reference_m < 0 or self.rotation_sigma_reference_m < 0:
            raise InputError('SmoothingConfig: sigma_reference_m and rotation_sigma_reference_m must be >= 0 (0: off), '
                             f'got {self.sigma_reference_m}, {self.rotation_sigma_reference_m}')
        if self.beta_scale < 0 or self.reset_translation_m <= 0 or self.reset_rotation_rad <= 0 \
                or self.max_gap_frames < 0 or not self.max_gap_s > 0:
            raise InputError('SmoothingConfig: beta_scale >= 0, reset_translation_m > 0, reset_rotation_rad > 0, '
                             'max_gap_frames >= 0 and max_gap_s > 0')


def _one_euro_gain(cutoff_hz: np.ndarray, rate_hz: float) -> np.ndarray:
    """Smoothing factor of a first-order low-pass at ``cutoff_hz`` sampled at ``rate_hz``."""
    return 1.0 / (1.0 + rate_hz / (2.0 * np.pi * cutoff_hz))


def _beta(alpha: np.ndarray, scale: float) -> np.ndarray:
    return scale * alpha ** 2 / (2.0 - alpha)


@dataclass
class _State:
    R: np.ndarray          # (24, 3, 3) joint rotations (0 = global orientation)
    w: np.ndarray          # (24, 3) rotation per frame, local frame
    t: np.ndarray          # (3,) translation
    v: np.ndarray          # (3,) translation velocity (alpha_beta: per frame; one_euro: per second)
    frame: int             # processed-frame counter of the last fit
    time_s: float          # stamp of the last fit (s)
    R2: np.ndarray | None = None   # (24, 3, 3) second One-Euro stage (SmoothingConfig.rotation_stage2_hz)
    w2: np.ndarray | None = None   # (24, 3) its low-passed speed (rad/s)
    t2: np.ndarray | None = None   # (3,) second stage of the translation
    v2: np.ndarray | None = None   # (3,) its speed (m/s)


class ParameterSmoother:
    """One filter per track (module docstring)."""

    def __init__(self, config: SmoothingConfig = SmoothingConfig()):
        self.config = config
        c = config
        self._a_rot = np.array([c.orient_alpha] + [c.pose_alpha] * 23)[:, None]
        self._b_rot = _beta(self._a_rot, c.beta_scale)
        self._a_t = np.array([c.lateral_alpha, c.lateral_alpha, c.depth_alpha])
        self._b_t = _beta(self._a_t, c.beta_scale)
        self._f_rot = np.array([c.orient_cutoff] + [c.pose_cutoff] * 23, np.float64)    # (24, 2)
        self._d_t = np.array([c.derivative_cutoff_hz, c.derivative_cutoff_hz, c.depth_derivative_cutoff_hz])
        self._k_t = np.array([c.translation_prediction, c.translation_prediction, c.depth_prediction])
        self._states: dict[int, _State] = {}

    def reset(self) -> None:
        self._states = {}

    def forget(self, track_ids) -> None:
        for t in track_ids:
            self._states.pop(int(t), None)

    def update(self, track_id: int, frame: int, time_s: float, global_orient: np.ndarray, body_pose: np.ndarray,
               transl: np.ndarray, joint_sigma_m: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Filtered (global_orient (3,), body_pose (69,), transl (3,)) of a track after this frame's fit.

        Args:
            frame: running counter of the processed frames (gaps: frames without this track).
            time_s: the image's stamp (s); the filter steps by the time since the track's last fit.
            joint_sigma_m: (24,) predicted error std of each joint's position (m), joint 0 the pelvis, or None:
                scales the One-Euro gains (``SmoothingConfig.sigma_reference_m``).
        """
        aa = np.concatenate([np.asarray(global_orient, np.float64), np.asarray(body_pose, np.float64)]).reshape(24, 3)
        R_fit = rotmat_from_axis_angle(aa)
        t_fit = np.asarray(transl, np.float64)
        c = self.config
        s = self._states.get(int(track_id))
        if not c.enabled:
            return aa[0].copy(), aa[1:].reshape(-1), t_fit.copy()
        time_s = float(time_s)
        if s is None or frame - s.frame > c.max_gap_frames + 1 or frame <= s.frame or not time_s > s.time_s \
                or time_s - s.time_s > c.max_gap_s:
            self._states[int(track_id)] = _State(R_fit, np.zeros((24, 3)), t_fit.copy(), np.zeros(3), frame, time_s,
                                                 R_fit.copy(), np.zeros((24, 3)), t_fit.copy(), np.zeros(3))
            return aa[0].copy(), aa[1:].reshape(-1), t_fit.copy()
        dt = time_s - s.time_s
        s.time_s = time_s
        if c.method == 'one_euro':
            return self._one_euro(s, R_fit, t_fit, dt, frame, joint_sigma_m)
        steps = dt * c.frame_rate_hz
        R_pred = s.R @ rotmat_from_axis_angle(s.w * steps)
        t_pred = s.t + s.v * steps
        r_rot = axis_angle_from_rotmat(np.swapaxes(R_pred, -1, -2) @ R_fit)        # (24, 3)
        r_t = t_fit - t_pred
        if np.linalg.norm(r_t) > c.reset_translation_m or np.linalg.norm(r_rot[0]) > c.reset_rotation_rad:
            self._states[int(track_id)] = _State(R_fit, np.zeros((24, 3)), t_fit.copy(), np.zeros(3), frame, time_s)
            return aa[0].copy(), aa[1:].reshape(-1), t_fit.copy()
        s.R = R_pred @ rotmat_from_axis_angle(self._a_rot * r_rot)
        s.w = s.w + self._b_rot * r_rot / steps
        s.t = t_pred + self._a_t * r_t
        s.v = s.v + self._b_t * r_t / steps
        s.frame = frame
        out = axis_angle_from_rotmat(s.R)
        return out[0], out[1:].reshape(-1), s.t.copy()


    def _trust(self, joint_sigma_m: np.ndarray | None) -> tuple[float, np.ndarray]:
        """(translation, (24,) rotation) gain factors in (0, 1] from the measurement's predicted error std."""
        c = self.config
        if joint_sigma_m is None:
            return 1.0, np.ones(24)
        sig = np.maximum(np.asarray(joint_sigma_m, np.float64), 1e-6)
        k_t = min(1.0, (c.sigma_reference_m / sig[0]) ** 2) if c.sigma_reference_m > 0 else 1.0
        k_r = np.minimum(1.0, (c.rotation_sigma_reference_m / sig) ** 2) if c.rotation_sigma_reference_m > 0 \
            else np.ones(24)
        return k_t, k_r

    def _one_euro(self, s: _State, R_fit: np.ndarray, t_fit: np.ndarray, dt: float, frame: int,
                  joint_sigma_m: np.ndarray | None = None):
        """One-Euro step of ``dt`` seconds (module docstring); ``s.w`` / ``s.v`` hold the low-passed speeds
        (per second)."""
        c = self.config
        rate = 1.0 / dt
        k_t, k_r = self._trust(joint_sigma_m)
        a_d = _one_euro_gain(np.float64(c.derivative_cutoff_hz), rate) * k_r[:, None]
        k = c.rotation_prediction
        d_rot = axis_angle_from_rotmat(np.swapaxes(s.R, -1, -2) @ R_fit)       # (24, 3) tangent at the filtered
        s.w = s.w + a_d * (d_rot * rate - s.w)
        a_rot = _one_euro_gain(self._f_rot[:, 0] + self._f_rot[:, 1] * np.linalg.norm(s.w, axis=1), rate) * k_r
        R_pred = s.R @ rotmat_from_axis_angle(k * s.w / rate) if k > 0 else s.R
        d_pred = axis_angle_from_rotmat(np.swapaxes(R_pred, -1, -2) @ R_fit) if k > 0 else d_rot
        s.R = R_pred @ rotmat_from_axis_angle(a_rot[:, None] * d_pred)
        d_t = t_fit - s.t
        s.v = s.v + k_t * _one_euro_gain(self._d_t, rate) * (d_t * rate - s.v)
        lat, dep = c.lateral_cutoff, c.depth_cutoff
        a_lat = _one_euro_gain(lat[0] + lat[1] * np.linalg.norm(s.v[:2]), rate)
        a_dep = _one_euro_gain(dep[0] + dep[1] * abs(s.v[2]), rate)
        t_pred = s.t + self._k_t * s.v / rate
        s.t = t_pred + k_t * np.array([a_lat, a_lat, a_dep]) * (t_fit - t_pred)
        s.frame = frame
        R_out, t_out = s.R, s.t.copy()
        a_d2 = _one_euro_gain(np.float64(c.stage2_derivative_cutoff_hz), rate)
        if c.rotation_stage2_hz > 0:       # second stage: fixed cut-off, full constant-velocity prediction
            d2 = axis_angle_from_rotmat(np.swapaxes(s.R2, -1, -2) @ s.R)
            s.w2 = s.w2 + a_d2 * (d2 * rate - s.w2)
            R_pred2 = s.R2 @ rotmat_from_axis_angle(s.w2 / rate)
            d_pred2 = axis_angle_from_rotmat(np.swapaxes(R_pred2, -1, -2) @ s.R)
            s.R2 = R_pred2 @ rotmat_from_axis_angle(_one_euro_gain(np.float64(c.rotation_stage2_hz), rate) * d_pred2)
            R_out = s.R2
        if c.translation_stage2_hz > 0:
            s.v2 = s.v2 + a_d2 * ((s.t - s.t2) * rate - s.v2)
            t_pred2 = s.t2 + s.v2 / rate
            s.t2 = t_pred2 + _one_euro_gain(np.float64(c.translation_stage2_hz), rate) * (s.t - t_pred2)
            t_out = s.t2.copy()
        out = axis_angle_from_rotmat(R_out)
        return out[0], out[1:].reshape(-1), t_out


__all__ = ['SMOOTHING_METHODS', 'ParameterSmoother', 'SmoothingConfig']
