"""Procedural human motion: walking along a path, turning, waving, squatting.

A person follows a *plan*, a list of segments (walk to a point; stand and
wave / squat / turn / idle). The plan becomes per-frame ground positions and
headings (smoothed so that starts, stops and corners are gradual) and per-frame
SMPL body poses: a gait cycle whose amplitude follows the walking speed and
whose phase follows the distance walked, blended with the wave and squat poses.

Pose conventions are SMPL's (``core/body/skeleton.py``): axis-angle per joint in the
rest-pose frame, body frame y up, x to the body's left, z forward. Worked
signs: a rotation about +x by a negative angle swings a leg (or a lowered arm)
forward; a positive knee angle about +x bends the shin backwards; a positive
spine angle about +x leans the torso forward; the left arm (along +x in the
T-pose) is lowered by a negative rotation about z, the right arm by a positive
one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, rotmat_from_axis_angle

ACTIONS = ('idle', 'wave', 'squat', 'turn')
#: integer codes of the per-frame action labels
ACTION_CODES = {'walk': 0, 'idle': 1, 'wave': 2, 'squat': 3, 'turn': 4}

# SMPL-24 joint indices (see core.body.skeleton.SMPL_JOINT_NAMES)
_L_HIP, _R_HIP, _SPINE1, _L_KNEE, _R_KNEE, _SPINE2, _L_ANKLE, _R_ANKLE = 1, 2, 3, 4, 5, 6, 7, 8
_SPINE3, _NECK, _HEAD, _L_SHOULDER, _R_SHOULDER, _L_ELBOW, _R_ELBOW = 9, 12, 15, 16, 17, 18, 19
_STRIDE_M = 1.3          # distance of one gait cycle (two steps)


class MotionError(ValueError):
    """Invalid motion plan."""


@dataclass(frozen=True)
class Walk:
    """Walk in a straight line to ``target_xy`` (world metres) at ``speed_mps``."""
    target_xy: tuple[float, float]
    speed_mps: float = 1.1


@dataclass(frozen=True)
class Act:
    """Stand still for ``duration_s`` doing ``action`` (one of :data:`ACTIONS`).

    ``turn_rad`` is the heading change of a ``'turn'`` (positive: counter-clockwise seen from above).
    """
    action: str
    duration_s: float
    turn_rad: float = 0.0


@dataclass(frozen=True)
class PersonMotion:
    """Per-frame motion of one person (world z up), before it is given a body shape.

    Attributes:
        ground_xy: (F, 2) pelvis position projected on the floor, metres.
        heading_rad: (F,) world yaw of the body's forward direction (0 = +x, counter-clockwise).
        body_pose: (F, 69) SMPL body pose, axis-angle (rad).
        action: (F,) int8 action label (:data:`ACTION_CODES`).
    """
    ground_xy: np.ndarray
    heading_rad: np.ndarray
    body_pose: np.ndarray
    action: np.ndarray


def _rot(axis: str, angle_rad: np.ndarray) -> np.ndarray:
    """(F,) angles -> (F, 3, 3) rotations about a body axis."""
    a = np.asarray(angle_rad, dtype=np.float64)
    v = np.zeros(a.shape + (3,))
    v[..., 'xyz'.index(axis)] = a
    return rotmat_from_axis_angle(v)


def _smoothstep_window(n: int, start: int, stop: int, ramp: int) -> np.ndarray:
    """(n,) weight that rises from 0 to 1 over ``ramp`` frames after ``start`` and falls before ``stop``."""
    w = np.zeros(n)
    if stop <= start:
        return w
    ramp = max(1, min(ramp, (stop - start) // 2))
    idx = np.arange(n)
    up = np.clip((idx - start) / ramp, 0.0, 1.0)
    down = np.clip((stop - idx) / ramp, 0.0, 1.0)
    x = np.minimum(up, down)
    return x * x * (3.0 - 2.0 * x)


def plan_to_motion(plan: list, start_xy: tuple[float, float], start_heading_rad: float,
                   n_frames: int, fps: float, rng: np.random.Generator) -> PersonMotion:
    """Turn a plan into per-frame positions, headings and body poses.

    The plan is followed from ``start_xy``; once it is exhausted the person
    stands idle; it is cut at ``n_frames``.

    Args:
        plan: list of :class:`Walk` / :class:`Act` segments.
        start_xy: (2,) start position on the floor, metres.
        start_heading_rad: initial heading.
        n_frames, fps: sequence length and frame rate.
        rng: varies the style (arm swing, wave rate, squat depth).
    Returns:
        :class:`PersonMotion`.
    """
    if n_frames < 1 or fps <= 0:
        raise MotionError(f'need n_frames >= 1 and fps > 0, got {n_frames}, {fps}')
    pos = [np.asarray(start_xy, dtype=np.float64)]
    heading = [float(start_heading_rad)]
    action = [ACTION_CODES['idle']]
    wave_spans, squat_spans = [], []
    for seg in plan:
        if len(pos) >= n_frames + 1:
            break
        if isinstance(seg, Walk):
            if seg.speed_mps <= 0:
                raise MotionError(f'walking speed must be positive, got {seg.speed_mps}')
            target = np.asarray(seg.target_xy, dtype=np.float64)
            delta = target - pos[-1]
            dist = float(np.linalg.norm(delta))
            steps = max(1, int(round(dist / seg.speed_mps * fps)))
            h = float(np.arctan2(delta[1], delta[0])) if dist > 1e-6 else heading[-1]
            for k in range(1, steps + 1):
                pos.append(pos[-1] + delta / steps)
                heading.append(h)
                action.append(ACTION_CODES['walk'])
        elif isinstance(seg, Act):
            if seg.action not in ACTIONS or seg.duration_s <= 0:
                raise MotionError(f'Act needs an action in {ACTIONS} and a positive duration, got {seg}')
            steps = max(1, int(round(seg.duration_s * fps)))
            start = len(pos)
            h0 = heading[-1]
            for k in range(1, steps + 1):
                pos.append(pos[-1].copy())
                heading.append(h0 + seg.turn_rad * k / steps if seg.action == 'turn' else h0)
                action.append(ACTION_CODES[seg.action])
            if seg.action == 'wave':
                wave_spans.append((start, start + steps))
            elif seg.action == 'squat':
                squat_spans.append((start, start + steps))
        else:
            raise MotionError(f'plan segments must be Walk or Act, got {type(seg).__name__}')
    while len(pos) < n_frames + 1:
        pos.append(pos[-1].copy())
        heading.append(heading[-1])
        action.append(ACTION_CODES['idle'])
    xy = np.array(pos[1:n_frames + 1])
    head = np.unwrap(np.array(heading[1:n_frames + 1]))
    act = np.array(action[1:n_frames + 1], dtype=np.int8)
    # gradual starts, stops and corners
    xy = gaussian_filter1d(xy, sigma=0.2 * fps, axis=0, mode='nearest')
    head = gaussian_filter1d(head, sigma=0.15 * fps, mode='nearest')
    ramp = int(0.4 * fps)
    wave_w = np.zeros(n_frames)
    for a, b in wave_spans:
        wave_w = np.maximum(wave_w, _smoothstep_window(n_frames, a - 1, b - 1, ramp))
    squat_w = np.zeros(n_frames)
    for a, b in squat_spans:
        squat_w = np.maximum(squat_w, _smoothstep_window(n_frames, a - 1, b - 1, ramp))
    pose = body_pose_for(xy, fps, wave_w, squat_w, rng)
    return PersonMotion(ground_xy=xy, heading_rad=head, body_pose=pose, action=act)


def body_pose_for(ground_xy: np.ndarray, fps: float, wave_w: np.ndarray, squat_w: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """(F, 69) SMPL body pose: gait from the walked distance, blended with wave and squat.

    Args:
        ground_xy: (F, 2) positions (give speed and gait phase).
        fps: frame rate.
        wave_w, squat_w: (F,) blend weights in [0, 1].
        rng: style parameters.
    """
    n = ground_xy.shape[0]
    t = np.arange(n) / fps
    step = np.linalg.norm(np.diff(ground_xy, axis=0, prepend=ground_xy[:1]), axis=1)
    speed = gaussian_filter1d(step * fps, sigma=0.1 * fps, mode='nearest')
    amp = np.clip(speed / 1.1, 0.0, 1.0) * (1.0 - squat_w)
    phase = 2 * np.pi * np.cumsum(step) / _STRIDE_M + rng.uniform(0, 2 * np.pi)
    hip_amp = np.deg2rad(rng.uniform(22, 30))
    arm_amp = np.deg2rad(rng.uniform(12, 25))
    arm_down = np.deg2rad(rng.uniform(68, 78))
    deg = np.deg2rad
    R = np.repeat(np.eye(3)[None, None], 24, axis=1).repeat(n, axis=0)   # (F, 24, 3, 3)

    # legs: gait + squat
    sin_p, cos_p = np.sin(phase), np.cos(phase)
    R[:, _L_HIP] = _rot('x', -hip_amp * amp * sin_p - deg(105) * squat_w)
    R[:, _R_HIP] = _rot('x', hip_amp * amp * sin_p - deg(105) * squat_w)
    knee_l = amp * (deg(5) + deg(55) * np.maximum(0.0, cos_p) ** 2) + deg(125) * squat_w
    knee_r = amp * (deg(5) + deg(55) * np.maximum(0.0, -cos_p) ** 2) + deg(125) * squat_w
    R[:, _L_KNEE] = _rot('x', knee_l)
    R[:, _R_KNEE] = _rot('x', knee_r)
    R[:, _L_ANKLE] = _rot('x', amp * deg(10) * sin_p - deg(20) * squat_w)
    R[:, _R_ANKLE] = _rot('x', -amp * deg(10) * sin_p - deg(20) * squat_w)
    # torso: counter-rotation while walking, lean in the squat
    R[:, _SPINE1] = _rot('x', deg(25) * squat_w) @ _rot('y', amp * deg(4) * sin_p)
    R[:, _SPINE3] = _rot('y', -amp * deg(4) * sin_p)
    R[:, _HEAD] = _rot('y', deg(12) * np.sin(2 * np.pi * 0.15 * t + rng.uniform(0, 6.3))) @ _rot('x', deg(5))
    # arms: lowered, swinging opposite to the legs; forward in the squat
    swing_l = arm_amp * amp * sin_p - deg(75) * squat_w
    swing_r = -arm_amp * amp * sin_p - deg(75) * squat_w
    R[:, _L_SHOULDER] = _rot('x', swing_l) @ _rot('z', -arm_down * (1 - 0.3 * squat_w))
    R[:, _R_SHOULDER] = _rot('x', swing_r) @ _rot('z', arm_down * (1 - 0.3 * squat_w))
    R[:, _L_ELBOW] = _rot('y', -deg(15) - amp * deg(10) * np.maximum(0.0, -sin_p))
    R[:, _R_ELBOW] = _rot('y', deg(15) + amp * deg(10) * np.maximum(0.0, sin_p))
    aa = axis_angle_from_rotmat(R[:, 1:])                                 # (F, 23, 3)

    # wave with the right arm: upper arm raised sideways, forearm up, wagging
    wave_hz = rng.uniform(1.2, 2.0)
    sh_wave = _rot('x', np.full(n, -deg(15))) @ _rot('z', np.full(n, -deg(35)))
    el_wave = _rot('z', -deg(75) + deg(25) * np.sin(2 * np.pi * wave_hz * t))
    w = wave_w[:, None]
    aa[:, _R_SHOULDER - 1] = (1 - w) * aa[:, _R_SHOULDER - 1] + w * axis_angle_from_rotmat(sh_wave)
    aa[:, _R_ELBOW - 1] = (1 - w) * aa[:, _R_ELBOW - 1] + w * axis_angle_from_rotmat(el_wave)
    return aa.reshape(n, 69)


def random_plan(rng: np.random.Generator, area_min: np.ndarray, area_max: np.ndarray,
                duration_s: float, through: list[tuple[float, float]] | None = None) -> list:
    """A random plan inside a rectangle of the floor: walks, turns, waves, squats.

    Args:
        rng: random generator.
        area_min, area_max: (2,) corners of the walking area, metres.
        duration_s: the plan covers at least this long.
        through: optional waypoints visited first (e.g. to make two people cross).
    """
    plan: list = []
    total = 0.0
    pos = None
    for wp in through or []:
        plan.append(Walk(tuple(wp), float(rng.uniform(0.9, 1.3))))
    while total < duration_s:
        if rng.uniform() < 0.55:
            target = tuple(rng.uniform(area_min, area_max))
            speed = float(rng.uniform(0.8, 1.3))
            if pos is not None:
                total += float(np.linalg.norm(np.subtract(target, pos))) / speed
            else:
                total += 2.0
            pos = target
            plan.append(Walk(target, speed))
        else:
            action = str(rng.choice(['wave', 'squat', 'turn', 'idle'], p=[0.35, 0.3, 0.25, 0.1]))
            dur = float(rng.uniform(1.5, 3.0))
            turn = float(rng.choice([-1, 1]) * rng.uniform(np.pi / 2, np.pi)) if action == 'turn' else 0.0
            plan.append(Act(action, dur, turn))
            total += dur
    return plan


def keep_apart(ground_xy: list[np.ndarray], gap_m: float, fps: float, smooth_s: float = 0.3,
               iterations: int = 30) -> list[np.ndarray]:
    """People's floor tracks moved apart where two come closer than ``gap_m`` (their bodies would overlap).

    Each close pair is pushed apart along the line between them, half each; the pushes are spread over
    time (Gaussian, ``smooth_s`` seconds) so that people step aside gradually instead of jumping, and
    repeated until no pair is closer than ``gap_m`` (a last unsmoothed push removes what is left, a few
    millimetres). Tracks that never come closer than ``gap_m`` are returned unchanged.

    Args:
        ground_xy: one (F, 2) pelvis floor track per person, metres.
        gap_m: smallest pelvis-to-pelvis distance on the floor, metres.
        fps: frame rate (for ``smooth_s``).
    Returns:
        the tracks, (F, 2) each.
    """
    xy = np.stack([np.asarray(g, np.float64) for g in ground_xy]) if len(ground_xy) else np.zeros((0, 0, 2))
    P = xy.shape[0]
    if P < 2 or gap_m <= 0:
        return [x.copy() for x in xy]
    offset = np.zeros_like(xy)
    pairs = [(a, b) for a in range(P) for b in range(a + 1, P)]

    def pushes(cur: np.ndarray) -> np.ndarray:
        push = np.zeros_like(cur)
        for a, b in pairs:
            d = cur[a] - cur[b]
            dist = np.linalg.norm(d, axis=1)
            short = dist < gap_m
            if not short.any():
                continue
            # apart along the line between them (where they coincide: along x)
            u = np.where((dist > 1e-6)[:, None], d / np.maximum(dist, 1e-6)[:, None], np.array([1.0, 0.0]))
            half = (0.5 * (gap_m - dist) * short)[:, None]
            push[a] += half * u
            push[b] -= half * u
        return push

    for _ in range(iterations):
        push = pushes(xy + offset)
        if not push.any():
            break
        # spread in time; scaled so that the frame that needed it most gets its full push
        spread = gaussian_filter1d(push, sigma=smooth_s * fps, axis=1, mode='nearest')
        peak = np.abs(push).max() / max(np.abs(spread).max(), 1e-9)
        offset += spread * min(peak, 5.0)
    offset += pushes(xy + offset) * 1.001
    return [x for x in xy + offset]
