"""Simulated perception for training: what the mediapipe backend would report for a posed sequence.

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

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from onlinehmr_ros.core.common.geometry import project_points
from onlinehmr_ros.core.hmr.perception.observation import bbox_from_landmarks

if TYPE_CHECKING:  # the sequences module imports this one
    from onlinehmr_ros.training.data import PosedSequence

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
