"""Training data for the learned HMR: posed motion sequences and simulated landmark observations.

Two sources behind one sequence record (:class:`PosedSequence`):

* **Synthetic** (:func:`synthesize_motion` + :func:`pose_sequence`): procedural
  human motion (gait, arm swings and reaches, squats, torso and head turns,
  smooth random perturbations of every joint; body facing any direction,
  walking about 2-8 m in front of a pinhole camera), posed with the project's
  body model (:mod:`onlinehmr_ros.core.body.model`). No motion-capture data
  ships in any registry package, so the motion is procedural; it covers
  everyday upper/lower-body motion but not e.g. lying, jumping or
  interactions.
* **Real datasets** (:class:`RealSequenceDataset`): BEDLAM / 3DPW / H3.6M
  sequences converted to one ``.npz`` per sequence (layout in its docstring),
  posed with the same body model.

Observations are *simulated* from the body model's MediaPipe landmarks
(:func:`simulate_observations`): project, add noise, derive visibility and
the box exactly as the perception backend does
(:func:`onlinehmr_ros.core.hmr.perception.observation.bbox_from_landmarks`). The noise is
calibrated against the real mediapipe backend in two ways:

* frame-to-frame noise on real video (:mod:`.calibration` on opencv-doc's
  ``Megamind.avi``): per-landmark white noise, 1.6 % of the box for the face up
  to 6-7 % for the hands in 2D, 0.2-3 cm in 3D;
* systematic error on frames rendered by the project's synthetic generator,
  where the truth is known (:func:`.rendered.systematic_landmark_error`): the
  mean 2D/3D offset of each mediapipe landmark from the body model's landmark,
  the scale of mediapipe's 3D output, and its slow (pose-dependent) 3D error of
  7-16 cm, drawn as a smooth random process.

Simulation was chosen over running mediapipe on rendered frames for training
because it costs microseconds per frame, while rendering plus mediapipe costs
about 0.4 s per frame here: the training budget of minutes would see a few
hundred frames instead of hundreds of thousands. What remains unmodelled is
that mediapipe's slow error depends on the pose (the simulator's is random),
and the domain gap between the generator's renders and real video.
"""
from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from onlinehmr_ros.core.common.geometry import project_points, rotmat_from_axis_angle
from onlinehmr_ros.core.hmr.learned.features import landmark_features
from onlinehmr_ros.core.hmr.perception.observation import bbox_from_landmarks

# Measured by `python -m onlinehmr_ros.training.calibration` on Megamind.avi (269 frames,
# mediapipe 0.10.21 legacy pose, tracking mode): std of the frame-to-frame noise per landmark.
MEGAMIND_NOISE_2D_BOX_FRAC = (
    0.0159, 0.0160, 0.0165, 0.0171, 0.0165, 0.0168, 0.0169, 0.0196, 0.0180, 0.0170, 0.0166, 0.0234, 0.0211,
    0.0370, 0.0319, 0.0584, 0.0446, 0.0691, 0.0642, 0.0682, 0.0642, 0.0636, 0.0586, 0.0205, 0.0188, 0.0210,
    0.0216, 0.0227, 0.0222, 0.0239, 0.0233, 0.0220, 0.0224)
MEGAMIND_NOISE_3D_M = (
    0.0084, 0.0083, 0.0083, 0.0083, 0.0083, 0.0083, 0.0083, 0.0081, 0.0080, 0.0082, 0.0082, 0.0079, 0.0082,
    0.0132, 0.0121, 0.0240, 0.0248, 0.0274, 0.0292, 0.0275, 0.0295, 0.0246, 0.0255, 0.0023, 0.0023, 0.0114,
    0.0147, 0.0164, 0.0183, 0.0166, 0.0191, 0.0249, 0.0227)

# Measured by `python -m onlinehmr_ros.training.rendered` (rendered.systematic_landmark_error) on
# 6 generator sequences x 150 frames (seeds 500-505,
# 897 detected frames; mediapipe 0.10.21 legacy pose) against the open body model's landmarks:
# the mean 2D offset per landmark (x, y) / box long side (RMS 0.0110) ...
RENDERED_MEAN_BIAS_2D_BOX_FRAC = (
    -0.0001, 0.0007, 0.0004, 0.0026, 0.0010, 0.0021, 0.0006, 0.0013, -0.0003, 0.0034, 0.0010, 0.0038,
    0.0017, 0.0041, 0.0001, 0.0044, 0.0039, 0.0089, -0.0002, -0.0048, 0.0006, -0.0028, 0.0054, -0.0004,
    -0.0042, 0.0041, 0.0035, 0.0039, -0.0033, 0.0192, 0.0016, 0.0058, -0.0109, 0.0397, 0.0023, -0.0107,
    -0.0136, 0.0297, -0.0014, -0.0059, -0.0096, 0.0391, -0.0007, 0.0095, -0.0093, 0.0477, 0.0025, -0.0019,
    -0.0039, -0.0001, 0.0042, -0.0020, 0.0025, 0.0060, 0.0045, 0.0011, -0.0015, 0.0020, 0.0046, 0.0030,
    -0.0011, 0.0019, 0.0018, -0.0017, 0.0064, -0.0021)
# ... the mean 3D offset per landmark (x, y, z), metres, of the hip-centred 3D landmarks ...
RENDERED_MEAN_BIAS_3D_M = (
    -0.0015, 0.0271, -0.0254, -0.0082, 0.0237, -0.0314, -0.0115, 0.0242, -0.0291, -0.0146, 0.0236, -0.0305,
    -0.0075, 0.0262, -0.0285, -0.0048, 0.0262, -0.0260, -0.0016, 0.0249, -0.0248, -0.0064, 0.0316, -0.0254,
    -0.0055, 0.0342, -0.0250, 0.0002, 0.0135, -0.0259, 0.0037, 0.0159, -0.0228, 0.0098, 0.0248, -0.0246,
    -0.0100, 0.0043, -0.0303, -0.0089, 0.0222, -0.0426, -0.0073, 0.0265, -0.0308, -0.0090, 0.0169, -0.0814,
    -0.0229, 0.0584, -0.0509, -0.0079, -0.0057, -0.1030, -0.0127, 0.0557, -0.0661, -0.0244, 0.0093, -0.1095,
    -0.0146, 0.0702, -0.0686, -0.0152, -0.0016, -0.0805, -0.0185, 0.0573, -0.0531, 0.0238, 0.0033, 0.0040,
    -0.0239, -0.0038, -0.0026, -0.0124, 0.0349, -0.0213, 0.0032, 0.0192, 0.0404, 0.0279, 0.0170, 0.0102,
    0.0263, 0.0130, 0.0842, 0.0393, 0.0097, -0.0009, 0.0284, 0.0063, 0.0775, 0.0394, 0.0105, -0.0417,
    0.0087, 0.0093, 0.0403)
# ... their least-squares scale (mediapipe / body model) ...
RENDERED_SCALE_3D = 0.9296
# ... and the std of the 3D error per landmark (RMS over axes), metres. It is 7-16 cm while the
# frame-to-frame 3D noise on real video is 0.2-3 cm: mediapipe's 3D error is mostly slow (pose-
# dependent), so the simulator draws it as a slowly varying process (< 0.5 Hz). The 2D error on
# rendered frames has the size of the frame-to-frame noise on real video (no slow part to add).
RENDERED_SLOW_3D_M = (
    0.0919, 0.0947, 0.0900, 0.0896, 0.0951, 0.0943, 0.0980, 0.0810, 0.0839, 0.0837, 0.0871, 0.0677,
    0.0666, 0.0659, 0.0869, 0.1067, 0.1379, 0.1214, 0.1627, 0.1273, 0.1583, 0.1159, 0.1438, 0.0136,
    0.0136, 0.0535, 0.0696, 0.0942, 0.1036, 0.1031, 0.1125, 0.1250, 0.1435)

# SMPL body_pose index (joint - 1) of the joints the motion generator drives.
_L_HIP, _R_HIP, _SPINE1, _L_KNEE, _R_KNEE, _SPINE2, _L_ANKLE, _R_ANKLE, _SPINE3 = 0, 1, 2, 3, 4, 5, 6, 7, 8
_NECK, _L_COLLAR, _R_COLLAR, _HEAD, _L_SHOULDER, _R_SHOULDER, _L_ELBOW, _R_ELBOW = 11, 12, 13, 14, 15, 16, 17, 18
_L_WRIST, _R_WRIST = 19, 20
_X, _Y, _Z = 0, 1, 2


class DataError(ValueError):
    """A dataset directory or file does not have the documented layout (message says what is wrong)."""


@dataclass(frozen=True)
class MotionConfig:
    """Procedural motion and camera set-up."""

    fps: float = 30.0
    image_width_px: int = 640
    image_height_px: int = 480
    hfov_deg_range: tuple[float, float] = (45.0, 75.0)
    depth_range_m: tuple[float, float] = (2.2, 7.0)     # pelvis distance from the camera
    betas_std: float = 1.0


@dataclass(frozen=True)
class LandmarkNoiseModel:
    """How simulated observations deviate from the body model's landmarks (see module docstring)."""

    noise_2d_box_frac: tuple[float, ...] = MEGAMIND_NOISE_2D_BOX_FRAC   # (33,) white noise std / box size
    noise_3d_m: tuple[float, ...] = MEGAMIND_NOISE_3D_M                 # (33,) white noise std per axis, m
    noise_scale_range: tuple[float, float] = (0.5, 1.5)  # per-sequence multiplier of both noises
    # systematic part, measured on rendered frames (rendered.systematic_landmark_error; None = none)
    mean_bias_2d_box_frac: tuple[float, ...] | None = RENDERED_MEAN_BIAS_2D_BOX_FRAC   # (33 * 2,) / box size
    mean_bias_3d_m: tuple[float, ...] | None = RENDERED_MEAN_BIAS_3D_M                 # (33 * 3,) metres
    scale_3d_mean: float = RENDERED_SCALE_3D   # mediapipe 3D / body-model 3D (least squares)
    slow_3d_m: tuple[float, ...] | None = RENDERED_SLOW_3D_M   # (33,) std of the slow 3D error, metres
    slow_max_hz: float = 0.5            # highest frequency of the slow 3D error
    bias_2d_box_frac: float = 0.005     # per-sequence random offset per landmark (std / box size); not calibrated
    scale_3d_std: float = 0.05          # per-sequence relative scale error of the 3D landmarks; not calibrated
    occluder_prob: float = 0.3          # chance a sequence has an occluding band over part of the body
    occluded_noise_factor: float = 3.0  # noise multiplier for occluded landmarks
    dropout_prob: float = 0.01          # chance a frame starts a detection gap
    dropout_max_frames: int = 5


@dataclass(frozen=True)
class PosedSequence:
    """Ground truth of one sequence, camera optical frame, metres (numpy float32)."""

    betas: np.ndarray            # (nb,)
    rotmat: np.ndarray           # (T, 24, 3, 3) joint 0 = global orient (body -> camera), 1..23 parent-relative
    joints_cam: np.ndarray       # (T, 24, 3)
    landmarks_cam: np.ndarray    # (T, 33, 3) the body model's MediaPipe landmarks
    vertices_cam: np.ndarray     # (T, V', 3) a fixed subset of the vertices (for L_V)
    transl: np.ndarray           # (T, 3) body-model translation
    K: np.ndarray                # (3, 3)
    image_size_px: tuple[int, int]  # (width, height)
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.joints_cam.shape[0])


# ----------------------------------------------------------------------------
# Procedural motion
# ----------------------------------------------------------------------------
def _smooth(rng: np.random.Generator, t: np.ndarray, amp: float, fmin: float = 0.1, fmax: float = 1.5,
            n: int = 3) -> np.ndarray:
    """A smooth random signal: sum of ``n`` sinusoids, peak amplitude <= ``amp``."""
    out = np.zeros_like(t)
    a = rng.dirichlet(np.ones(n)) * amp
    for k in range(n):
        out += a[k] * np.sin(2 * np.pi * rng.uniform(fmin, fmax) * t + rng.uniform(0, 2 * np.pi))
    return out


def synthesize_motion(rng: np.random.Generator, num_frames: int, cfg: MotionConfig = MotionConfig()
                      ) -> dict[str, np.ndarray]:
    """Procedural motion in the camera frame.

    Returns:
        ``betas`` (nb=10,), ``global_orient`` (T, 3), ``body_pose`` (T, 69) axis-angle (rad),
        ``pelvis_cam`` (T, 3) target pelvis position (m), ``K`` (3, 3).
    """
    T = num_frames
    t = np.arange(T) / cfg.fps
    pose = np.zeros((T, 23, 3))
    # arms down from the T-pose (SMPL: +z lowers the right arm, -z the left), elbows slightly bent
    for j, s in ((_L_SHOULDER, -1), (_R_SHOULDER, 1)):
        pose[:, j, _Z] = s * (rng.uniform(0.9, 1.4) + _smooth(rng, t, rng.uniform(0.1, 0.9)))
        pose[:, j, _Y] = _smooth(rng, t, rng.uniform(0.1, 0.8))
        pose[:, j, _X] = _smooth(rng, t, rng.uniform(0.1, 0.6))
    for j, s in ((_L_ELBOW, -1), (_R_ELBOW, 1)):
        pose[:, j, _Y] = s * np.abs(rng.uniform(0.1, 0.8) + _smooth(rng, t, rng.uniform(0.2, 1.2), fmax=2.0))
    if rng.random() < 0.5:                                   # gait
        f = rng.uniform(0.6, 1.4)
        a = rng.uniform(0.15, 0.55)
        ph = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
        pose[:, _L_HIP, _X] += -a * np.sin(ph)
        pose[:, _R_HIP, _X] += a * np.sin(ph)
        pose[:, _L_KNEE, _X] += 1.4 * a * np.maximum(0, np.sin(ph + np.pi / 2))
        pose[:, _R_KNEE, _X] += 1.4 * a * np.maximum(0, np.sin(ph - np.pi / 2))
        pose[:, _L_SHOULDER, _X] += 0.6 * a * np.sin(ph)     # arms swing against the legs
        pose[:, _R_SHOULDER, _X] += -0.6 * a * np.sin(ph)
    if rng.random() < 0.25:                                  # squat / bend
        s = np.clip(0.5 + _smooth(rng, t, 0.9, fmax=0.5), 0, 1) * rng.uniform(0.3, 1.3)
        pose[:, [_L_HIP, _R_HIP], _X] -= s[:, None]
        pose[:, [_L_KNEE, _R_KNEE], _X] += 2 * s[:, None]
        pose[:, [_L_ANKLE, _R_ANKLE], _X] -= 0.7 * s[:, None]
    if rng.random() < 0.4:                                   # reach / wave with one arm
        j, e, s = ((_L_SHOULDER, _L_ELBOW, -1), (_R_SHOULDER, _R_ELBOW, 1))[rng.integers(2)]
        lift = np.clip(0.5 + _smooth(rng, t, 1.0, fmax=0.8), 0, 1) * rng.uniform(0.5, 2.2)
        pose[:, j, _Z] -= s * lift
        pose[:, e, _Y] += s * np.abs(_smooth(rng, t, rng.uniform(0.3, 1.5), fmin=0.5, fmax=2.5))
    for j, amp in ((_SPINE1, 0.15), (_SPINE2, 0.12), (_SPINE3, 0.12), (_NECK, 0.2), (_HEAD, 0.3),
                   (_L_COLLAR, 0.1), (_R_COLLAR, 0.1), (_L_WRIST, 0.4), (_R_WRIST, 0.4),
                   (_L_HIP, 0.2), (_R_HIP, 0.2), (_L_ANKLE, 0.15), (_R_ANKLE, 0.15)):
        for ax in range(3):
            pose[:, j, ax] += _smooth(rng, t, amp * rng.uniform(0.2, 1.0))
    pose[:, [_L_HIP, _R_HIP], _Z] += np.array([1, -1]) * rng.uniform(0.0, 0.2)  # stance width
    # global orientation: SMPL's y-up body turned upright in the optical frame (pi about x), a yaw that
    # drifts, a small lean
    yaw = rng.uniform(-np.pi, np.pi) + _smooth(rng, t, rng.uniform(0.0, 1.2), fmax=0.4)
    lean = _smooth(rng, t, 0.15, fmax=0.5)
    R_flip = Rotation.from_rotvec([np.pi, 0.0, 0.0])
    R = R_flip * Rotation.from_euler('yx', np.stack([yaw, lean], axis=1))
    global_orient = R.as_rotvec()
    # camera: pelvis somewhere in the view at a depth in range, drifting
    hfov = rng.uniform(*cfg.hfov_deg_range)
    f = 0.5 * cfg.image_width_px / np.tan(np.deg2rad(hfov) / 2)
    K = np.array([[f, 0, cfg.image_width_px / 2], [0, f, cfg.image_height_px / 2], [0, 0, 1.0]])
    z0, z1 = cfg.depth_range_m
    z = np.clip(rng.uniform(z0, z1) + _smooth(rng, t, 1.0, fmax=0.2), z0, z1)
    half_w = 0.5 * cfg.image_width_px / f
    x = (rng.uniform(-0.6, 0.6) + _smooth(rng, t, 0.3, fmax=0.2)) * half_w * z
    y = rng.uniform(-0.15, 0.35) * z / 3.0 + _smooth(rng, t, 0.05, fmax=0.3)
    betas = np.clip(rng.normal(0.0, cfg.betas_std, 10), -2.5, 2.5)
    return {'betas': betas, 'global_orient': global_orient, 'body_pose': pose.reshape(T, 69),
            'pelvis_cam': np.stack([x, y, z], axis=1), 'K': K}


def vertex_subset(num_vertices: int, count: int = 256, seed: int = 0) -> np.ndarray:
    """A fixed random subset of vertex indices used by L_V (a full mesh per frame is costly on a CPU)."""
    return np.sort(np.random.default_rng(seed).choice(num_vertices, size=min(count, num_vertices), replace=False))


def pose_sequence(body_model, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                  K: np.ndarray, image_size_px: tuple[int, int], fps: float, pelvis_cam: np.ndarray | None = None,
                  transl: np.ndarray | None = None, vertex_ids: np.ndarray | None = None) -> PosedSequence:
    """Pose a sequence with ``body_model`` (the project's :class:`~onlinehmr_ros.core.body.model.BodyModel`).

    Give either ``pelvis_cam`` (T, 3) (the translation is solved so that joint 0 lands there) or ``transl``.
    """
    T = body_pose.shape[0]
    nb = body_model.num_betas
    dt = body_model.dtype
    b = torch.as_tensor(np.asarray(betas)[:nb], dtype=dt).expand(T, nb)
    go = torch.as_tensor(global_orient, dtype=dt)
    bp = torch.as_tensor(body_pose, dtype=dt)
    with torch.no_grad():
        out = body_model(b, go, bp, torch.zeros(T, 3, dtype=dt))
    if pelvis_cam is not None:
        shift = torch.as_tensor(pelvis_cam, dtype=dt) - out.joints[:, 0]
    elif transl is not None:
        shift = torch.as_tensor(transl, dtype=dt)
    else:
        raise DataError('pose_sequence needs pelvis_cam or transl')
    ids = vertex_subset(body_model.num_vertices) if vertex_ids is None else vertex_ids
    rot = np.concatenate([rotmat_from_axis_angle(np.asarray(global_orient)[:, None]),
                          rotmat_from_axis_angle(np.asarray(body_pose).reshape(T, 23, 3))], axis=1)
    f32 = lambda x: np.asarray(x, dtype=np.float32)  # noqa: E731
    return PosedSequence(
        betas=f32(np.asarray(betas)[:nb]), rotmat=f32(rot),
        joints_cam=f32((out.joints + shift[:, None]).numpy()),
        landmarks_cam=f32((out.landmarks_mediapipe + shift[:, None]).numpy()),
        vertices_cam=f32((out.vertices[:, ids] + shift[:, None]).numpy()),
        transl=f32(shift.numpy()), K=np.asarray(K, dtype=np.float64), image_size_px=tuple(image_size_px),
        fps=float(fps))


def synthetic_sequence(body_model, rng: np.random.Generator, num_frames: int,
                       cfg: MotionConfig = MotionConfig()) -> PosedSequence:
    m = synthesize_motion(rng, num_frames, cfg)
    return pose_sequence(body_model, m['betas'], m['global_orient'], m['body_pose'], m['K'],
                         (cfg.image_width_px, cfg.image_height_px), cfg.fps, pelvis_cam=m['pelvis_cam'])


# ----------------------------------------------------------------------------
# Simulated perception
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulatedObservations:
    """What the perception backend would report for a sequence (numpy, per frame)."""

    landmarks_px: np.ndarray     # (T, 33, 2)
    visibility: np.ndarray       # (T, 33)
    landmarks_3d_m: np.ndarray   # (T, 33, 3) hip-centred, camera-aligned axes
    bbox_px: np.ndarray          # (T, 4)
    frame_valid: np.ndarray      # (T,) bool: False = no detection in this frame
    joint_conf: np.ndarray       # (T, 24) ground-truth per-joint confidence (in image and not occluded)


def _slow_process(rng: np.random.Generator, T: int, fps: float, shape: tuple[int, ...], max_hz: float,
                  n: int = 3) -> np.ndarray:
    """(T, *shape) zero-mean, unit-std smooth random signals: sums of ``n`` sinusoids below ``max_hz``."""
    t = np.arange(T)[:, None] / fps
    flat = int(np.prod(shape))
    a = rng.normal(0, 1, (n, flat))
    a /= np.sqrt((a ** 2).sum(0) / 2)                      # std of sum_k a_k sin(.) = sqrt(sum a_k^2 / 2) = 1
    out = np.zeros((T, flat))
    for k in range(n):
        out += a[k] * np.sin(2 * np.pi * rng.uniform(0.02, max_hz, flat) * t + rng.uniform(0, 2 * np.pi, flat))
    return out.reshape((T,) + shape)


def simulate_observations(seq: PosedSequence, rng: np.random.Generator,
                          noise: LandmarkNoiseModel = LandmarkNoiseModel()) -> SimulatedObservations:
    """Simulate the mediapipe backend's output for ``seq`` (see module docstring)."""
    T = seq.num_frames
    W, H = seq.image_size_px
    uv, depth = project_points(seq.K, seq.landmarks_cam.astype(np.float64))
    uv_j, _ = project_points(seq.K, seq.joints_cam.astype(np.float64))
    gt_box = np.stack([bbox_from_landmarks(u, np.ones(33)) for u in uv])
    size = np.maximum(gt_box[:, 2] - gt_box[:, 0], gt_box[:, 3] - gt_box[:, 1])
    size = np.where(np.isfinite(size), size, 1.0)
    k = rng.uniform(*noise.noise_scale_range)
    s2 = np.asarray(noise.noise_2d_box_frac) * k
    s3 = np.asarray(noise.noise_3d_m) * k

    def inside(p):
        return (p[..., 0] >= 0) & (p[..., 0] < W) & (p[..., 1] >= 0) & (p[..., 1] < H)

    in_lm = inside(uv) & (depth > 0)
    in_j = inside(uv_j)
    occ_lm = np.zeros((T, 33), bool)
    occ_j = np.zeros((T, 24), bool)
    if rng.random() < noise.occluder_prob:
        # a vertical band (a pole, a door frame, another person) drifting across the image
        ref = np.nanmedian(0.5 * (gt_box[:, 0] + gt_box[:, 2]))
        med = float(np.median(size))
        cx = ref + rng.uniform(-0.6, 0.6) * med + np.cumsum(rng.normal(0, 0.01 * med, T))
        half = rng.uniform(0.05, 0.2) * med
        occ_lm = np.abs(uv[..., 0] - cx[:, None]) < half
        occ_j = np.abs(uv_j[..., 0] - cx[:, None]) < half
    factor = np.where(occ_lm | ~in_lm, noise.occluded_noise_factor, 1.0)
    bias = rng.normal(0, noise.bias_2d_box_frac, (33, 2))
    if noise.mean_bias_2d_box_frac is not None:
        bias = bias + np.asarray(noise.mean_bias_2d_box_frac).reshape(33, 2)
    white = rng.normal(0, 1, (T, 33, 2)) * (s2[None, :, None] * factor[..., None])
    lm = uv + (white + bias[None]) * size[:, None, None]
    vis_hi = 1.0 - np.abs(rng.normal(0, 0.02, (T, 33)))
    vis_lo = rng.uniform(0.0, 0.3, (T, 33))
    vis = np.where(in_lm & ~occ_lm, vis_hi, vis_lo).clip(0, 1)
    mid_hip = 0.5 * (seq.landmarks_cam[:, 23] + seq.landmarks_cam[:, 24])
    scale = noise.scale_3d_mean * (1.0 + rng.normal(0, noise.scale_3d_std))
    l3 = (seq.landmarks_cam - mid_hip[:, None]) * scale + rng.normal(0, 1, (T, 33, 3)) * (s3[None, :, None]
                                                                                           * factor[..., None])
    if noise.mean_bias_3d_m is not None:
        l3 = l3 + np.asarray(noise.mean_bias_3d_m).reshape(1, 33, 3)
    if noise.slow_3d_m is not None:
        l3 = l3 + _slow_process(rng, T, seq.fps, (33, 3), noise.slow_max_hz) * np.asarray(noise.slow_3d_m)[:, None]
    box = np.stack([bbox_from_landmarks(lm[t], vis[t]) for t in range(T)])
    valid = np.ones(T, bool)
    t = 0
    while t < T:
        if rng.random() < noise.dropout_prob:
            n = int(rng.integers(1, noise.dropout_max_frames + 1))
            valid[t:t + n] = False
            t += n
        t += 1
    valid &= np.all(np.isfinite(box), axis=1) & (in_lm.sum(axis=1) >= 5)
    conf = (in_j & ~occ_j).astype(np.float32)
    return SimulatedObservations(lm.astype(np.float32), vis.astype(np.float32), l3.astype(np.float32),
                                 np.where(np.isfinite(box), box, 0.0).astype(np.float32), valid, conf)


def make_training_arrays(seq: PosedSequence, obs: SimulatedObservations) -> dict[str, np.ndarray]:
    """Network inputs and loss targets of one (clip of a) sequence, numpy, leading dim T."""
    T = seq.num_frames
    feats, box = landmark_features(obs.landmarks_px, obs.visibility, obs.landmarks_3d_m,
                                   np.where(obs.frame_valid[:, None], obs.bbox_px, [0, 0, 1, 1]), seq.K)
    uv_j, _ = project_points(seq.K, seq.joints_cam.astype(np.float64))
    bsize = np.maximum(obs.bbox_px[:, 2] - obs.bbox_px[:, 0], obs.bbox_px[:, 3] - obs.bbox_px[:, 1])
    return {
        'landmarks': feats, 'box': box, 'frame_valid': obs.frame_valid,
        'joints_cam': seq.joints_cam, 'vertices_cam': seq.vertices_cam, 'rotmat': seq.rotmat,
        'betas': np.broadcast_to(seq.betas, (T, seq.betas.shape[0])).astype(np.float32),
        'joints_2d_px': np.nan_to_num(uv_j).astype(np.float32),
        'box_size_px': np.maximum(np.where(obs.frame_valid, bsize, 1.0), 1.0).astype(np.float32),
        'K': np.broadcast_to(seq.K, (T, 3, 3)).astype(np.float32),
        'joint_conf': obs.joint_conf,
    }


class SequencePool:
    """Posed sequences held in memory; clips of ``clip_len`` frames with fresh simulated noise.

    Each clip is cut at a random start; with probability ``start_prob`` it starts at frame 0 (so the
    network sees stream starts, where the KV cache is still filling).
    """

    def __init__(self, sequences: list[PosedSequence], noise: LandmarkNoiseModel = LandmarkNoiseModel(),
                 start_prob: float = 0.2):
        if not sequences:
            raise DataError('SequencePool needs at least one sequence')
        self.sequences = sequences
        self.noise = noise
        self.start_prob = start_prob

    def sample_batch(self, rng: np.random.Generator, batch_size: int, clip_len: int) -> dict[str, torch.Tensor]:
        items = []
        for _ in range(batch_size):
            seq = self.sequences[int(rng.integers(len(self.sequences)))]
            if seq.num_frames < clip_len:
                raise DataError(f'sequence of {seq.num_frames} frames is shorter than clip_len={clip_len}')
            s = 0 if rng.random() < self.start_prob else int(rng.integers(0, seq.num_frames - clip_len + 1))
            clip = clip_sequence(seq, s, s + clip_len)
            items.append(make_training_arrays(clip, simulate_observations(clip, rng, self.noise)))
        return {k: torch.as_tensor(np.stack([it[k] for it in items])) for k in items[0]}


def clip_sequence(seq: PosedSequence, start: int, stop: int) -> PosedSequence:
    """Frames ``start:stop`` of ``seq``."""
    sl = slice(start, stop)
    return dataclasses.replace(seq, rotmat=seq.rotmat[sl], joints_cam=seq.joints_cam[sl],
                               landmarks_cam=seq.landmarks_cam[sl], vertices_cam=seq.vertices_cam[sl],
                               transl=seq.transl[sl])


# ----------------------------------------------------------------------------
# Real datasets
# ----------------------------------------------------------------------------
class RealSequenceDataset:
    """Sequences of BEDLAM, 3DPW or Human3.6M converted to one ``.npz`` per sequence.

    Directory layout (what ``root`` must contain)::

        root/
          bedlam/   <scene>_<seq>.npz     (any sub-folder names; every *.npz under root is read)
          3dpw/     downtown_walking_00_p0.npz
          h36m/     S9_Walking.54138969.npz

    Each ``.npz`` holds one person seen by one camera, in that camera's optical frame:

    ============== ============ ====================================================
    key            shape        meaning
    ============== ============ ====================================================
    betas          (10,)        SMPL shape (first 10 coefficients)
    global_orient  (T, 3)       root rotation, axis-angle, body -> camera
    body_pose      (T, 69)      SMPL body pose, axis-angle
    transl         (T, 3)       SMPL translation in the camera frame, metres
    K              (3, 3)       intrinsics, pixels
    image_size     (2,)         width, height in pixels
    fps            ()           frame rate
    ============== ============ ====================================================

    How to produce it from each dataset's own files:

    * **3DPW** (``sequenceFiles/*/*.pkl``): ``poses[p][:, :3]`` is the root in the *world*;
      rotate it and ``trans[p]`` into the camera with ``cam_poses[t]`` (R_cam_world), take
      ``poses[p][:, 3:]``, ``betas[p][:10]``, ``cam_intrinsics``; 30 fps, 1080x1920 or 1920x1080.
    * **BEDLAM** (``all_npz_12_*/*.npz`` from the BEDLAM training labels): ``pose_cam[:, :3]``,
      ``pose_cam[:, 3:72]``, ``trans_cam + cam_ext[:, :3, 3]``, ``shape[:10]``, ``cam_int``;
      group rows by ``imgname`` sequence; 30 fps, 1280x720.
    * **Human3.6M** (SMPL fits, e.g. from the NeuralAnnot / SPIN releases, plus the camera
      parameters ``R, T, f, c`` of each of the 4 cameras): rotate the world root and
      translation into the camera (``R @ (x - T)``); 50 fps, 1000x1000 (1002 for some).

    The network trains on the body model chosen by ``body_model`` (SMPL with the user's
    files for these datasets, since their parameters are SMPL's); landmark observations are
    simulated as for the synthetic data unless real detections are supplied in the file
    under ``landmarks_px`` (T, 33, 2), ``visibility`` (T, 33), ``landmarks_3d_m`` (T, 33, 3)
    and ``bbox_px`` (T, 4) (e.g. mediapipe run on the dataset's frames).
    """

    REQUIRED = {'betas': (10,), 'global_orient': (None, 3), 'body_pose': (None, 69), 'transl': (None, 3),
                'K': (3, 3), 'image_size': (2,), 'fps': ()}

    def __init__(self, root: str | pathlib.Path, body_model):
        self.root = pathlib.Path(root)
        if not self.root.is_dir():
            raise DataError(f'dataset root {self.root} is not a directory')
        self.files = sorted(self.root.rglob('*.npz'))
        if not self.files:
            raise DataError(f'no .npz sequence under {self.root}; see RealSequenceDataset docstring for the layout')
        self.body_model = body_model

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, path: pathlib.Path) -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        missing = [k for k in self.REQUIRED if k not in d]
        if missing:
            raise DataError(f'{path}: missing keys {missing} (needs {sorted(self.REQUIRED)})')
        T = d['body_pose'].shape[0] if d['body_pose'].ndim == 2 else -1
        for k, shape in self.REQUIRED.items():
            want = tuple(T if s is None else s for s in shape)
            if d[k].shape != want:
                raise DataError(f'{path}: {k} has shape {d[k].shape}, expected {want}')
        return d

    def __getitem__(self, index: int) -> tuple[PosedSequence, SimulatedObservations | None]:
        """The posed sequence and, when the file has them, its real landmark observations."""
        path = self.files[index]
        d = self._read(path)
        seq = pose_sequence(self.body_model, d['betas'], d['global_orient'], d['body_pose'], d['K'],
                            (int(d['image_size'][0]), int(d['image_size'][1])), float(d['fps']),
                            transl=d['transl'])
        if 'landmarks_px' not in d:
            return seq, None
        T = seq.num_frames
        try:
            vis = d['visibility'].reshape(T, 33)
            obs = SimulatedObservations(d['landmarks_px'].reshape(T, 33, 2), vis,
                                        d['landmarks_3d_m'].reshape(T, 33, 3), d['bbox_px'].reshape(T, 4),
                                        np.all(np.isfinite(d['bbox_px']), axis=1), np.ones((T, 24), np.float32))
        except (KeyError, ValueError) as exc:
            raise DataError(f'{path}: real observations need landmarks_px (T, 33, 2), visibility (T, 33), '
                            f'landmarks_3d_m (T, 33, 3), bbox_px (T, 4): {exc}') from exc
        return seq, obs
