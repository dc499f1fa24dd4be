"""Procedural human motion in a camera's optical frame, for training the learned HMR.

Gait, arm swings and reaches, squats, torso and head turns and smooth random
perturbations of every joint; the body faces any direction and moves about 2-8 m
in front of a pinhole camera whose field of view is drawn too. No motion-capture
data ships in any registry package, so the motion is procedural; it covers
everyday upper/lower-body motion but not e.g. lying, jumping or interactions.
:func:`onlinehmr_ros.training.data.synthetic_sequence` poses it with the body model.

(The evaluation's world-frame people with walking plans, the camera paths and the
rendering are :mod:`onlinehmr_ros.eval.synthetic`; this is the training
distribution the packaged checkpoint was trained on.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, intrinsics_from_fov, rotmat_from_axis_angle

# SMPL body_pose index (joint - 1) of the joints the motion generator drives.
_L_HIP, _R_HIP, _SPINE1, _L_KNEE, _R_KNEE, _SPINE2, _L_ANKLE, _R_ANKLE, _SPINE3 = 0, 1, 2, 3, 4, 5, 6, 7, 8
_NECK, _L_COLLAR, _R_COLLAR, _HEAD, _L_SHOULDER, _R_SHOULDER, _L_ELBOW, _R_ELBOW = 11, 12, 13, 14, 15, 16, 17, 18
_L_WRIST, _R_WRIST = 19, 20
_X, _Y, _Z = 0, 1, 2


@dataclass(frozen=True)
class MotionConfig:
    """Procedural motion and camera set-up."""

    fps: float = 30.0
    image_width_px: int = 640
    image_height_px: int = 480
    hfov_deg_range: tuple[float, float] = (45.0, 75.0)
    depth_range_m: tuple[float, float] = (2.2, 7.0)     # pelvis distance from the camera
    betas_std: float = 1.0



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
    zero = np.zeros_like(yaw)
    R_yaw = rotmat_from_axis_angle(np.stack([zero, yaw, zero], axis=1))
    R_lean = rotmat_from_axis_angle(np.stack([lean, zero, zero], axis=1))
    global_orient = axis_angle_from_rotmat(rotmat_from_axis_angle(np.array([np.pi, 0.0, 0.0])) @ R_lean @ R_yaw)
    # camera: pelvis somewhere in the view at a depth in range, drifting
    hfov = rng.uniform(*cfg.hfov_deg_range)
    K = intrinsics_from_fov(cfg.image_width_px, cfg.image_height_px, hfov)
    f = K[0, 0]
    z0, z1 = cfg.depth_range_m
    z = np.clip(rng.uniform(z0, z1) + _smooth(rng, t, 1.0, fmax=0.2), z0, z1)
    half_w = 0.5 * cfg.image_width_px / f
    x = (rng.uniform(-0.6, 0.6) + _smooth(rng, t, 0.3, fmax=0.2)) * half_w * z
    y = rng.uniform(-0.15, 0.35) * z / 3.0 + _smooth(rng, t, 0.05, fmax=0.3)
    betas = np.clip(rng.normal(0.0, cfg.betas_std, 10), -2.5, 2.5)
    return {'betas': betas, 'global_orient': global_orient, 'body_pose': pose.reshape(T, 69),
            'pelvis_cam': np.stack([x, y, z], axis=1), 'K': K}
