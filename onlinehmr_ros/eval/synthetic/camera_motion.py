"""Camera trajectories: hand-held, robot-mounted or static (world z up, optical frame).

A moving camera follows a smooth random path whose length is drawn from
``path_length_m`` (capped so the mean speed stays below ``max_speed_mps``) and
looks at a target that follows the people (smoothed) with a slow drift. The
hand-held camera adds the vertical bob and lateral sway of a walking operator
and a small smooth shake and roll; the robot camera stays at one height with
no roll and a faint vibration.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.ndimage import gaussian_filter1d

from onlinehmr_ros.core.common.geometry import look_at_T_world_cam

CAMERA_KINDS = ('handheld', 'robot', 'static')


class CameraMotionError(ValueError):
    """Invalid camera-motion configuration."""


@dataclass(frozen=True)
class CameraMotionConfig:
    """How the camera moves.

    Attributes:
        kind: ``'handheld'``, ``'robot'`` or ``'static'``.
        path_length_m: (min, max) length of the camera path, metres (moving kinds).
        max_speed_mps: cap on the mean speed along the path, m/s (walking pace).
        handheld_height_m: (min, max) eye height of a hand-held camera, metres.
        robot_height_m: (min, max) height of a robot camera, metres.
        shake_deg: standard deviation of the hand-held shake, degrees.
        target_drift_m: amplitude of the slow wander of the look-at target, metres.
    """
    kind: str = 'handheld'
    path_length_m: tuple[float, float] = (1.0, 3.0)
    max_speed_mps: float = 1.2
    handheld_height_m: tuple[float, float] = (1.35, 1.65)
    robot_height_m: tuple[float, float] = (0.8, 1.2)
    shake_deg: float = 0.4
    target_drift_m: float = 0.3


def _smooth_noise(rng: np.random.Generator, n: int, sigma_frames: float, dims: int = 1) -> np.ndarray:
    """(n, dims) zero-mean smooth noise with unit standard deviation."""
    x = gaussian_filter1d(rng.normal(size=(n + int(6 * sigma_frames), dims)), sigma_frames, axis=0, mode='wrap')
    x = x[: n]
    std = x.std(axis=0, keepdims=True)
    return (x - x.mean(axis=0, keepdims=True)) / np.where(std > 0, std, 1.0)


def random_path(rng: np.random.Generator, start_xy: np.ndarray, length_m: float, n_frames: int,
                forward_xy: np.ndarray) -> np.ndarray:
    """(n_frames, 2) smooth planar path from ``start_xy`` of total length ``length_m``.

    Mostly sideways to ``forward_xy`` (an operator circling the scene), with
    some motion along it; eased in and out so that it starts and ends at rest.
    """
    fwd = np.asarray(forward_xy, dtype=np.float64)
    fwd = fwd / np.linalg.norm(fwd)
    side = np.array([-fwd[1], fwd[0]])
    n_ctrl = 5
    ctrl = np.zeros((n_ctrl, 2))
    direction = rng.choice([-1.0, 1.0])
    for k in range(1, n_ctrl):
        step = direction * side * rng.uniform(0.6, 1.0) + fwd * rng.uniform(-0.5, 0.5)
        ctrl[k] = ctrl[k - 1] + step
    spline = CubicSpline(np.linspace(0.0, 1.0, n_ctrl), ctrl, bc_type='natural')
    dense_s = np.linspace(0.0, 1.0, 2000)
    dense = spline(dense_s)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    tau = np.linspace(0.0, 1.0, n_frames)
    ease = tau * tau * (3.0 - 2.0 * tau)                      # smoothstep: rest at both ends
    s_of_arc = np.interp(ease * arc[-1], arc, dense_s)
    path = spline(s_of_arc)
    return start_xy + path * (length_m / max(arc[-1], 1e-9))


def camera_trajectory(config: CameraMotionConfig, n_frames: int, fps: float, rng: np.random.Generator,
                      start_eye_world: np.ndarray, look_targets_world: np.ndarray,
                      room_min: np.ndarray, room_max: np.ndarray) -> np.ndarray:
    """Per-frame camera poses.

    Args:
        config: kind and amplitudes.
        n_frames, fps: length and rate of the sequence.
        rng: random generator.
        start_eye_world: (3,) first camera centre (its z is replaced by the kind's height).
        look_targets_world: (n_frames, 3) what the camera should keep in view (e.g. the people's centroid).
        room_min, room_max: (3,) the room box; the path is kept 0.3 m inside it.
    Returns:
        (n_frames, 4, 4) ``T_world_cam`` (camera-to-world, optical frame).
    """
    if config.kind not in CAMERA_KINDS:
        raise CameraMotionError(f'camera kind must be one of {CAMERA_KINDS}, got {config.kind!r}')
    if n_frames < 1 or fps <= 0:
        raise CameraMotionError(f'need n_frames >= 1 and fps > 0, got {n_frames}, {fps}')
    targets = np.asarray(look_targets_world, dtype=np.float64)
    if targets.shape != (n_frames, 3):
        raise CameraMotionError(f'look_targets_world must be ({n_frames}, 3), got {targets.shape}')
    heights = config.robot_height_m if config.kind == 'robot' else config.handheld_height_m
    eye0 = np.array([start_eye_world[0], start_eye_world[1], rng.uniform(*heights)])
    t = np.arange(n_frames) / fps
    # the target follows the people slowly (an operator does not track every step)
    target = gaussian_filter1d(targets, sigma=max(1.0, 0.8 * fps), axis=0, mode='nearest')
    if config.kind == 'static':
        target = np.repeat(targets.mean(axis=0, keepdims=True), n_frames, axis=0)
        return look_at_T_world_cam(np.repeat(eye0[None], n_frames, axis=0), target)

    duration = n_frames / fps
    length = min(rng.uniform(*config.path_length_m), config.max_speed_mps * duration)
    forward = targets[0, :2] - eye0[:2]
    xy = random_path(rng, eye0[:2], length, n_frames, forward)
    xy = np.clip(xy, room_min[:2] + 0.3, room_max[:2] - 0.3)
    eye = np.concatenate([xy, np.full((n_frames, 1), eye0[2])], axis=1)
    target = target + config.target_drift_m * _smooth_noise(rng, n_frames, 1.5 * fps, 3) * np.array([1, 1, 0.3])
    speed = np.linalg.norm(np.gradient(xy, axis=0), axis=1) * fps
    if config.kind == 'handheld':
        step_hz = 1.8
        gait = np.clip(speed / 0.8, 0.0, 1.0)
        eye[:, 2] += gait * 0.015 * np.sin(2 * np.pi * step_hz * t)                # vertical bob
        sway = gait * 0.01 * np.sin(np.pi * step_hz * t)                             # lateral sway
        fwd = np.gradient(xy, axis=0)
        norm = np.linalg.norm(fwd, axis=1, keepdims=True)
        side = np.where(norm > 1e-9, np.stack([-fwd[:, 1], fwd[:, 0]], axis=1) / np.maximum(norm, 1e-9), 0.0)
        eye[:, :2] += sway[:, None] * side
        eye[:, 2] += 0.01 * _smooth_noise(rng, n_frames, 0.5 * fps)[:, 0]
        dist = np.linalg.norm(target - eye, axis=1, keepdims=True)
        shake = np.deg2rad(config.shake_deg) * _smooth_noise(rng, n_frames, 0.15 * fps, 3) * dist
        target = target + shake
        roll = np.deg2rad(2.0) * _smooth_noise(rng, n_frames, 1.0 * fps)[:, 0]
    else:  # robot: planar, no roll, faint vibration
        dist = np.linalg.norm(target - eye, axis=1, keepdims=True)
        target = target + np.deg2rad(0.1) * _smooth_noise(rng, n_frames, 0.05 * fps, 3) * dist
        roll = np.zeros(n_frames)
    return look_at_T_world_cam(eye, target, roll_rad=roll)
