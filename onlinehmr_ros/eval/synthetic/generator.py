"""Generate a synthetic sequence: room, camera path, people, rendering, ground truth.

Layout (world z up): the camera starts about 1 m in front of the wall at
``y = -depth/2`` and looks into the room; the people move in a rectangle
``people_depth_m`` (2.8-5.5 m by default) in front of it, wide enough that they
leave the view at its sides (occlusion by the frame border). With two or more
people the first two cross each other at different depths early in the
sequence (occlusion between people); with four, the other two cross as well.

Optional events (off by default, so existing seeds render as before):

* ``pillar``: a floor-to-ceiling pillar stands between the camera and the last
  person while that person waits behind it for ``occlusion_s`` (+0.6 s): a full
  occlusion by the scene of at least ``occlusion_s``. It is placed after the
  camera path is known, on the line from the camera to the hiding spot at the
  middle of the wait (:data:`PILLAR_FRACTIONS` of the way), where it touches
  neither the camera path nor anyone's path.
* ``exit_reenter`` (two or more people): the first person, after its crossing,
  walks out of the room's walking area to the side wall (out of view), waits
  ``away_s`` and walks back in. While it is away the camera keeps filming the
  others (it is left out of the camera's look-at centroid).

Everything random is drawn from ``numpy.random.default_rng(seed)``; the optional
events draw from a second stream ``default_rng([seed, 1])`` so that they leave
the main stream untouched. :data:`GENERATOR_VERSION` is stored in every
sequence's configuration: bump it whenever the output for a given config and
seed changes (the evaluation cache re-renders on a version change).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.body.model import BodyModel
from onlinehmr_ros.core.body.skeleton import MEDIAPIPE_LANDMARK_NAMES
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.common.geometry import (axis_angle_from_rotmat, invert_transform, project_points,
                                                rotmat_from_axis_angle, transform_points)
from onlinehmr_ros.core.io.raster import Lighting, Mesh, render_meshes
from onlinehmr_ros.eval.synthetic.appearance import random_outfit, vertex_colours
from onlinehmr_ros.eval.synthetic.camera_motion import CAMERA_KINDS, CameraMotionConfig, camera_trajectory
from onlinehmr_ros.eval.synthetic.human_motion import (Act, PersonMotion, Walk, keep_apart, plan_to_motion,
                                                      random_plan)
from onlinehmr_ros.eval.synthetic.scene import Room, RoomConfig
from onlinehmr_ros.eval.synthetic.sequence import PersonTrack, SyntheticSequence

#: Version of the generator's output; bump it whenever a config + seed renders differently
#: (``test_synthetic_events.py::test_generator_version_guard`` fails until you do).
GENERATOR_VERSION = 3
#: Label of scene occluders (the pillar) in the renderer's label image (never a person label).
OCCLUDER_LABEL = 255
#: Where the pillar may stand, as fractions of the way from the camera to the hiding spot (tried in order).
PILLAR_FRACTIONS = (0.5, 0.45, 0.55, 0.4, 0.6)
#: SMPL body frame (y up, z forward) -> world (z up): +90 degrees about x.
R_WORLD_BODY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class GeneratorError(ValueError):
    """Invalid generator configuration."""


class EventNotAchievedError(GeneratorError):
    """A requested event (full occlusion, exit and re-entry) does not happen with this seed; try another seed."""


@dataclass(frozen=True)
class SequenceConfig:
    """What to generate.

    Attributes:
        num_frames: length, frames.
        fps: frame rate, Hz.
        width_px, height_px: image size.
        hfov_deg: horizontal field of view, degrees.
        num_people: 1-4, or None to draw 1-3 from the seed.
        camera_kind: 'handheld', 'robot', 'static', or None to draw from the seed.
        camera: amplitudes of the camera motion (its ``kind`` is replaced by ``camera_kind``).
        room: room size and texture resolution.
        body_model: which body model poses the people.
        shape_std: standard deviation of the random shape coefficients.
        image_noise_std: standard deviation of the added pixel noise (grey levels).
        people_depth_m: (near, far) extent of the walking area in front of the start camera, metres.
        pillar: add a pillar that fully hides the last person for ``occlusion_s`` or longer.
        occlusion_s: length of that full occlusion (the wait behind the pillar), seconds.
        exit_reenter: the first person leaves the view and comes back (needs two or more people).
        away_s: how long that person waits out of view, seconds.
        min_person_gap_m: smallest distance between any two people's pelvis positions on the floor (metres):
            where their paths come closer, they step aside (:func:`.human_motion.keep_apart`); closer, their
            bodies would pass through each other (version 2 let them: up to 47 % of a sequence's person-frames).
    """
    num_frames: int = 150
    fps: float = 30.0
    width_px: int = 640
    height_px: int = 480
    hfov_deg: float = 65.0
    num_people: int | None = None
    camera_kind: str | None = None
    camera: CameraMotionConfig = field(default_factory=CameraMotionConfig)
    room: RoomConfig = field(default_factory=RoomConfig)
    body_model: BodyModelConfig = field(default_factory=BodyModelConfig)
    shape_std: float = 0.8
    image_noise_std: float = 2.0
    people_depth_m: tuple[float, float] = (2.8, 5.5)
    pillar: bool = False
    occlusion_s: float = 1.2
    exit_reenter: bool = False
    away_s: float = 1.2
    min_person_gap_m: float = 0.5


def _validate(config: SequenceConfig) -> None:
    if config.num_frames < 4:
        raise GeneratorError(f'num_frames must be >= 4, got {config.num_frames}')
    if config.fps <= 0:
        raise GeneratorError(f'fps must be positive, got {config.fps}')
    if config.num_people is not None and not 1 <= config.num_people <= 4:
        raise GeneratorError(f'num_people must be 1, 2, 3 or 4 (or None), got {config.num_people}')
    near, far = config.people_depth_m
    if not 1.5 <= near < far - 1.0:
        raise GeneratorError(f'people_depth_m must be (near, far) with near >= 1.5 m and far > near + 1 m, '
                             f'got {config.people_depth_m}')
    if config.exit_reenter and config.num_people is not None and config.num_people < 2:
        raise GeneratorError('exit_reenter needs two or more people (the camera keeps filming the others)')
    if config.occlusion_s <= 0 or config.away_s <= 0:
        raise GeneratorError(f'occlusion_s and away_s must be positive, got {config.occlusion_s}, {config.away_s}')
    if not 0.0 <= config.min_person_gap_m <= 1.5:
        raise GeneratorError(f'min_person_gap_m must be in [0, 1.5] m, got {config.min_person_gap_m}')
    if config.camera_kind is not None and config.camera_kind not in CAMERA_KINDS:
        raise GeneratorError(f'camera_kind must be one of {CAMERA_KINDS} or None, got {config.camera_kind!r}')


@dataclass(frozen=True)
class _Person:
    motion: PersonMotion
    betas: np.ndarray
    vertex_rgb: np.ndarray


@dataclass(frozen=True)
class _Events:
    """Which person does what (None: no such event)."""
    hide_person: int | None = None
    hide_xy: tuple[float, float] | None = None
    exit_person: int | None = None


def _plans(rng: np.random.Generator, n_people: int, area_min: np.ndarray, area_max: np.ndarray,
           duration_s: float, config: SequenceConfig | None = None, events_rng: np.random.Generator | None = None,
           wall_x: float = 0.0) -> tuple[list[tuple[tuple[float, float], float, list]], _Events]:
    """(start_xy, start_heading, plan) per person, and the optional events (module docstring)."""
    out = []
    depths = np.sort(rng.uniform(area_min[1] + 0.3, area_max[1] - 0.3, size=max(2, n_people)))
    pairs = {0: (0, -1), 1: (1, -1)} if n_people >= 2 else {}
    if n_people == 4:   # the other two cross as well, in between
        pairs.update({2: (0, 2), 3: (1, 1)})
    throughs = []
    for p in range(n_people):
        if p in pairs:
            # each pair crosses: one left -> right in front, the other right -> left behind
            k, depth_index = pairs[p]
            side = -1.0 if k == 0 else 1.0
            y = depths[0] if (k == 0 and depth_index == -1) else depths[depth_index]
            start = (side * (area_max[0] + 0.2), float(y))
            through = [(-side * rng.uniform(0.8, area_max[0]), float(y + rng.uniform(-0.4, 0.4)))]
            heading = 0.0 if side < 0 else np.pi
        else:
            start = tuple(float(c) for c in rng.uniform(area_min, area_max))
            through = []
            heading = float(rng.uniform(-np.pi, np.pi))
        throughs.append(through)
        out.append((start, heading, random_plan(rng, area_min, area_max, duration_s, through)))
    events = _Events()
    if config is None or not (config.pillar or config.exit_reenter):
        return out, events
    if config.exit_reenter:
        e = 0
        start, heading, plan = out[e]
        side = 1.0 if start[0] < 0 else -1.0                      # keep walking the crossing's way, out of view
        y = float(start[1])
        speed = float(events_rng.uniform(1.3, 1.5))                # brisk, so that it is back in time
        away = (side * min(wall_x - 0.45, area_max[0] + 1.2), y)
        back = (side * float(events_rng.uniform(0.3, 1.2)), float(np.clip(y + events_rng.uniform(-0.4, 0.4),
                                                                          area_min[1], area_max[1])))
        rest = plan[len(throughs[e]):]
        plan = [Walk(away, speed), Act('idle', config.away_s), Walk(back, speed)] + rest
        out[e] = (start, heading, plan)
        events = dataclasses.replace(events, exit_person=e)
    if config.pillar:
        h = n_people - 1
        start, heading, plan = out[h]
        n_through = len(throughs[h])
        if n_through:   # a crossing person hides on its way, past the middle of the room, on its own line
            end_x = throughs[h][0][0]
            hide = (float(np.sign(end_x) * events_rng.uniform(0.0, 0.5)), float(start[1]))
        else:
            hide = (float(events_rng.uniform(-1.0, 1.0)), float(area_max[1] - 0.3))
        speed = float(events_rng.uniform(0.9, 1.2))
        plan = [Walk(hide, speed), Act('idle', config.occlusion_s + 0.6)] + plan
        out[h] = (start, heading, plan)
        events = dataclasses.replace(events, hide_person=h, hide_xy=hide)
    return out, events


def _footprint_distance(points_xy: np.ndarray, centre_xy: np.ndarray, u_xy: np.ndarray, width_m: float,
                        depth_m: float) -> np.ndarray:
    """(N,) distance of points from a rectangle (centre, unit width axis ``u``, width x depth) on the floor."""
    d = np.asarray(points_xy, np.float64) - centre_xy
    v_xy = np.array([-u_xy[1], u_xy[0]])
    lx, ly = np.abs(d @ u_xy) - width_m / 2, np.abs(d @ v_xy) - depth_m / 2
    return np.hypot(np.maximum(lx, 0.0), np.maximum(ly, 0.0))


def _place_pillar(events: _Events, motions: list[PersonMotion], T_world_cam: np.ndarray, room: Room,
                  width_m: float, depth_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(centre_xy, u_xy): where the pillar hides the waiting person (module docstring).

    Raises:
        EventNotAchievedError: the person never waits at its spot, or no place on the camera-to-person line
            keeps clear of the camera and the people.
    """
    m = motions[events.hide_person]
    hide = np.asarray(events.hide_xy)
    waiting = np.nonzero(np.linalg.norm(m.ground_xy - hide, axis=1) < 0.05)[0]
    if waiting.size == 0:
        raise EventNotAchievedError('the hiding person never reaches its hiding spot; make the sequence longer')
    mid = int(waiting[len(waiting) // 2])
    cam_xy = T_world_cam[mid, :2, 3].copy()
    ray = hide - cam_xy
    dist = float(np.linalg.norm(ray))
    ray /= dist
    u_xy = np.array([ray[1], -ray[0]])                           # width axis: across the line of sight
    cams = T_world_cam[:, :2, 3]
    for f in PILLAR_FRACTIONS:
        centre = cam_xy + f * dist * ray
        if _footprint_distance(cams, centre, u_xy, width_m, depth_m).min() < 0.5:
            continue
        if min(_footprint_distance(mo.ground_xy, centre, u_xy, width_m, depth_m).min() for mo in motions) < 0.45:
            continue
        corners = centre + np.array([[a * width_m / 2, b * depth_m / 2] for a in (-1, 1) for b in (-1, 1)]) @ \
            np.stack([u_xy, [-u_xy[1], u_xy[0]]])
        if np.any(corners < room.box_min[:2] + 0.2) or np.any(corners > room.box_max[:2] - 0.2):
            continue
        return centre, u_xy
    raise EventNotAchievedError('no place for the pillar between the camera and the hiding person clear of the camera '
                         'path and the people; use another seed or pillar=False')


def pillar_mesh(centre_xy: np.ndarray, u_xy: np.ndarray, width_m: float, depth_m: float, height_m: float,
                rng: np.random.Generator, cell_m: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed box from the floor to ``height_m``, its sides tiled with flat-coloured cells (texture for SLAM).

    Returns:
        vertices (V, 3), faces (T, 3) counter-clockwise seen from outside, vertex_rgb (V, 3) in [0, 1].
    """
    z = np.array([0.0, 0.0, 1.0])
    u = np.array([u_xy[0], u_xy[1], 0.0])
    v = np.cross(z, u)
    c = np.array([centre_xy[0], centre_xy[1], 0.0])
    palette = rng.uniform(0.15, 0.95, size=(6, 3))
    verts, faces, cols = [], [], []

    def quad(p0, a, b, colour):
        k = len(verts)
        verts.extend([p0, p0 + a, p0 + a + b, p0 + b])
        faces.extend([(k, k + 1, k + 2), (k, k + 2, k + 3)])
        cols.extend([colour] * 4)

    for n, half_n, half_w in ((v, depth_m / 2, width_m / 2), (-v, depth_m / 2, width_m / 2),
                              (u, width_m / 2, depth_m / 2), (-u, width_m / 2, depth_m / 2)):
        a_dir = np.cross(z, n)                                   # a x z = n: counter-clockwise outward
        cols_n, rows_n = max(1, int(round(2 * half_w / cell_m))), max(1, int(round(height_m / cell_m)))
        a, b = a_dir * (2 * half_w / cols_n), z * (height_m / rows_n)
        origin = c + n * half_n - a_dir * half_w
        for i in range(cols_n):
            for j in range(rows_n):
                colour = palette[rng.integers(len(palette))] * rng.uniform(0.8, 1.0)
                quad(origin + i * a + j * b, a, b, colour)
    corner = c - u * width_m / 2 - v * depth_m / 2               # lid and base close the surface
    quad(corner + height_m * z, u * width_m, v * depth_m, palette[0])    # u x v = +z
    quad(corner, v * depth_m, u * width_m, palette[0])                   # v x u = -z
    return np.asarray(verts), np.asarray(faces, np.int64), np.clip(np.asarray(cols), 0.0, 1.0)


def _posed(body_model: BodyModel, person: _Person, chunk: int = 64
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """World parameters and outputs of one person for all frames.

    Returns global_orient_world (F, 3), transl_world (F, 3), joints (F, 24, 3),
    coco (F, 17, 3), vertices (F, V, 3) float32, with the feet on the floor.
    """
    m = person.motion
    F = m.ground_xy.shape[0]
    dt = body_model.dtype
    betas = torch.as_tensor(person.betas, dtype=dt)
    with torch.no_grad():
        rest = body_model(betas, torch.zeros(3, dtype=dt), torch.zeros(69, dtype=dt), torch.zeros(3, dtype=dt))
    j0 = rest.joints[0].double().numpy()                        # pelvis of the shaped rest pose (body frame)
    # body forward (+z) maps to world -y under R_WORLD_BODY; a yaw psi turns it to (sin psi, -cos psi),
    # so facing heading h needs psi = h + pi/2.
    psi = m.heading_rad + np.pi / 2
    R_yaw = rotmat_from_axis_angle(np.stack([np.zeros(F), np.zeros(F), psi], axis=-1))
    R_root = R_yaw @ R_WORLD_BODY
    go = axis_angle_from_rotmat(R_root)
    # lbs rotates about the rest pelvis j0: world pelvis = j0 + transl
    pelvis_height = -float(rest.vertices[:, 1].min()) + j0[1]   # rest pelvis above the soles
    pelvis = np.concatenate([m.ground_xy, np.full((F, 1), pelvis_height)], axis=1)
    transl = pelvis - j0
    verts, joints, coco = [], [], []
    with torch.no_grad():
        for a in range(0, F, chunk):
            b = min(F, a + chunk)
            out = body_model(betas.expand(b - a, -1), torch.as_tensor(go[a:b], dtype=dt),
                             torch.as_tensor(m.body_pose[a:b], dtype=dt), torch.as_tensor(transl[a:b], dtype=dt))
            verts.append(out.vertices.numpy().astype(np.float32))
            joints.append(out.joints.double().numpy())
            coco.append(out.keypoints_coco[:, :17].double().numpy())
    verts = np.concatenate(verts)
    joints = np.concatenate(joints)
    coco = np.concatenate(coco)
    # keep the lowest point of the body on the floor in every frame (squats lower the pelvis)
    dz = -verts[..., 2].min(axis=1).astype(np.float64)
    transl[:, 2] += dz
    verts[..., 2] += dz[:, None].astype(np.float32)
    joints[..., 2] += dz[:, None]
    coco[..., 2] += dz[:, None]
    return go, transl, joints, coco, verts


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """(length, end index exclusive) of the longest run of True."""
    best, best_end, cur = 0, 0, 0
    for i, f in enumerate(flags):
        cur = cur + 1 if f else 0
        if cur > best:
            best, best_end = cur, i + 1
    return best, best_end


def _check_events(config: SequenceConfig, events: _Events, posed: list, T_world_cam: np.ndarray,
                  intr: CameraIntrinsics, scene_meshes: list[Mesh], seed: int) -> None:
    """Geometric check (before rendering) that the requested events happen.

    Exit: the person's COCO keypoints all project outside the image for at least ``away_s / 2``, and it
    is back in view (9 or more keypoints inside) for at least 1 s afterwards. Pillar: the hiding
    person's keypoints all project inside the pillar's silhouette, behind it, for at least ``occlusion_s``.

    Raises:
        EventNotAchievedError: an event does not happen with this seed.
    """
    fps, n = config.fps, T_world_cam.shape[0]
    T_cam_world = invert_transform(T_world_cam)
    if events.exit_person is not None:
        uv, z = project_points(intr.K, transform_points(T_cam_world, posed[events.exit_person][3]))
        with np.errstate(invalid='ignore'):
            inside = ((z > 0) & (uv[..., 0] >= 0) & (uv[..., 0] <= intr.width_px - 1) & (uv[..., 1] >= 0)
                      & (uv[..., 1] <= intr.height_px - 1)).sum(axis=1)
        run, end = _longest_run(inside == 0)
        back, _ = _longest_run(inside[end:] >= 9)
        if run < 0.5 * config.away_s * fps or back < fps:
            raise EventNotAchievedError(f'seed {seed}: person {events.exit_person} is out of view for {run} frames '
                                        f'and back in view for {back} frames after that')
    if events.hide_person is not None:
        pillar = scene_meshes[0].vertices_world
        hidden = np.zeros(n, bool)
        kp_c = transform_points(T_cam_world, posed[events.hide_person][3])
        pil_c = transform_points(T_cam_world, np.broadcast_to(pillar, (n,) + pillar.shape))
        for i in range(n):
            if np.any(pil_c[i, :, 2] <= 0.05) or kp_c[i, :, 2].min() <= pil_c[i, :, 2].max():
                continue
            hull = cv2.convexHull(project_points(intr.K, pil_c[i])[0].astype(np.float32))
            uv = project_points(intr.K, kp_c[i])[0]
            hidden[i] = all(cv2.pointPolygonTest(hull, (float(u), float(v)), False) > 0 for u, v in uv)
        run, _ = _longest_run(hidden)
        if run < config.occlusion_s * fps:
            raise EventNotAchievedError(f'seed {seed}: the pillar hides person {events.hide_person} for {run} '
                                        f'frames, not {config.occlusion_s} s')


def _visible(points_world: np.ndarray, T_cam_world: np.ndarray, K: np.ndarray, labels: np.ndarray,
             own_label: int) -> np.ndarray:
    """(N,) bool: projects inside the image and no other person's (or the pillar's) pixel covers it."""
    h, w = labels.shape
    uv, z = project_points(K, transform_points(T_cam_world, points_world))
    with np.errstate(invalid='ignore'):
        inside = (z > 0.05) & (uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)
    vis = np.zeros(len(points_world), dtype=bool)
    idx = np.nonzero(inside)[0]
    px = np.round(uv[idx]).astype(int)
    lab = labels[px[:, 1], px[:, 0]]
    vis[idx] = (lab == 0) | (lab == own_label)
    return vis


def generate_sequence(config: SequenceConfig, seed: int, body_model: BodyModel | None = None,
                      name: str | None = None,
                      progress: Callable[[int], None] | None = None, render: bool = True) -> SyntheticSequence:
    """Generate one sequence.

    Args:
        config: what to generate.
        seed: all randomness (room texture, paths, shapes, outfits, camera) follows from it.
        body_model: a loaded body model (loaded from ``config.body_model`` when None).
        name: sequence name (default ``seq_<seed>``).
        progress: called with 1 after each rendered frame (e.g. a tqdm ``update``).
        render: False skips the rendering (the costly part): the same people, camera and ground
            truth as the rendered sequence of this seed, without frames (``frames_rgb`` None,
            ``masks`` (F, 0, 0), ``mask_area_px`` 0) and with visibility = inside the image (no
            occlusion test). For training data that needs the motion only.
    Returns:
        the sequence, frames in memory (when rendered).
    """
    _validate(config)
    rng = np.random.default_rng(seed)
    if body_model is None:
        body_model = load_body_model(config.body_model)
    n, fps = config.num_frames, config.fps
    n_people = config.num_people if config.num_people is not None else int(rng.integers(1, 4))
    camera_kind = config.camera_kind or str(rng.choice(CAMERA_KINDS, p=[0.5, 0.25, 0.25]))
    room_cfg = dataclasses.replace(config.room, width_m=config.room.width_m * rng.uniform(0.9, 1.1),
                                   depth_m=config.room.depth_m * rng.uniform(0.9, 1.1))
    room = Room(room_cfg, rng)
    intr = CameraIntrinsics.from_fov(config.width_px, config.height_px, config.hfov_deg)
    eye0 = np.array([rng.uniform(-0.5, 0.5), room.box_min[1] + 1.0, 1.5])
    half_w = min(2.0, room.box_max[0] - 0.6)
    near_m, far_m = config.people_depth_m
    area_min = np.array([-half_w, eye0[1] + near_m])
    area_max = np.array([half_w, min(eye0[1] + far_m, room.box_max[1] - 0.6)])
    events_rng = np.random.default_rng([seed, 1])
    if config.exit_reenter and n_people < 2:
        raise GeneratorError(f'exit_reenter needs two or more people; seed {seed} drew {n_people}')

    # people: motion, shape, outfit
    mp_index = {k: MEDIAPIPE_LANDMARK_NAMES.index(k) for k in
                ('left_eye', 'right_eye', 'mouth_left', 'mouth_right', 'nose')}
    lbs_w = body_model.lbs_weights.double().numpy()
    faces = body_model.faces
    people: list[_Person] = []
    plans, events = _plans(rng, n_people, area_min, area_max, n / fps, config, events_rng,
                           wall_x=float(room.box_max[0]))
    for start, heading, plan in plans:
        motion = plan_to_motion(plan, start, heading, n, fps, rng)
        betas = np.clip(rng.normal(scale=config.shape_std, size=body_model.num_betas), -2.5, 2.5)
        dt = body_model.dtype
        with torch.no_grad():
            rest = body_model(torch.as_tensor(betas, dtype=dt), torch.zeros(3, dtype=dt),
                              torch.zeros(69, dtype=dt), torch.zeros(3, dtype=dt))
        rest_v = rest.vertices.double().numpy()
        lm = rest.landmarks_mediapipe.double().numpy()
        colours = vertex_colours(random_outfit(rng), lbs_w, rest_v, rest.joints.double().numpy(),
                                 {k: lm[i] for k, i in mp_index.items()}, rng)
        people.append(_Person(motion, betas, colours))
    # bodies never overlap: people who would pass through each other step aside (no randomness drawn, so
    # sequences whose people keep apart are what version 2 made)
    apart = keep_apart([p.motion.ground_xy for p in people], config.min_person_gap_m, fps)
    people = [dataclasses.replace(p, motion=dataclasses.replace(p.motion, ground_xy=xy))
              for p, xy in zip(people, apart)]
    posed = [_posed(body_model, p) for p in people]

    # camera: keep the people's centroid in view
    centroid = np.mean([pz[2][:, 0] for pz in posed], axis=0)
    if events.exit_person is not None:   # while away, the camera films the others
        present = np.ones((n_people, n))
        present[events.exit_person] = np.abs(posed[events.exit_person][2][:, 0, 0]) <= half_w + 0.2
        centroid = np.einsum('pf,pfi->fi', present, np.stack([pz[2][:, 0] for pz in posed])) / \
            present.sum(axis=0)[:, None]
    centroid[:, 2] = 1.0
    T_world_cam = camera_trajectory(dataclasses.replace(config.camera, kind=camera_kind), n, fps, rng, eye0,
                                    centroid, room.box_min, room.box_max)

    scene_meshes: list[Mesh] = []
    pillar_meta = None
    if events.hide_person is not None:
        width_m, depth_m = float(events_rng.uniform(0.7, 0.9)), float(events_rng.uniform(0.35, 0.5))
        centre, u_xy = _place_pillar(events, [p.motion for p in people], T_world_cam, room, width_m, depth_m)
        pv, pf, pc = pillar_mesh(centre, u_xy, width_m, depth_m, float(room.box_max[2]), events_rng)
        scene_meshes.append(Mesh(pv, pf, pc, OCCLUDER_LABEL))
        pillar_meta = {'centre_xy': [float(c) for c in centre], 'width_axis_xy': [float(c) for c in u_xy],
                       'width_m': width_m, 'depth_m': depth_m, 'hides_person': events.hide_person,
                       'hiding_spot_xy': list(events.hide_xy)}
    _check_events(config, events, posed, T_world_cam, intr, scene_meshes, seed)
    lighting = Lighting(direction_world=tuple(rng.normal(size=3) * 0.3 + np.array([0.2, -0.6, 0.8])),
                        ambient=float(rng.uniform(0.4, 0.55)), diffuse=float(rng.uniform(0.5, 0.7)))
    frames = np.empty((n, intr.height_px, intr.width_px, 3), np.uint8) if render else None
    masks = np.empty((n, intr.height_px, intr.width_px), np.uint8) if render else np.zeros((n, 0, 0), np.uint8)
    P = len(people)
    joints_vis = np.zeros((P, n, 24), bool)
    coco_vis = np.zeros((P, n, 17), bool)
    area = np.zeros((P, n), np.int64)
    no_labels = np.zeros((intr.height_px, intr.width_px), np.uint8)
    for i in range(n):
        if not render:
            T_cam_world = invert_transform(T_world_cam[i])
            for p in range(P):
                joints_vis[p, i] = _visible(posed[p][2][i], T_cam_world, intr.K, no_labels, p + 1)
                coco_vis[p, i] = _visible(posed[p][3][i], T_cam_world, intr.K, no_labels, p + 1)
            continue
        bg, bg_depth = room.render(intr, T_world_cam[i])
        meshes = [Mesh(posed[p][4][i], faces, people[p].vertex_rgb, p + 1) for p in range(P)] + scene_meshes
        rgb, labels, _ = render_meshes(bg, bg_depth, intr, T_world_cam[i], meshes, lighting)
        img = cv2.GaussianBlur(rgb, (0, 0), 0.6).astype(np.float32)
        img += rng.normal(scale=config.image_noise_std, size=img.shape).astype(np.float32)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
        masks[i] = np.where(labels == OCCLUDER_LABEL, 0, labels)    # person labels only; the pillar hides
        T_cam_world = invert_transform(T_world_cam[i])
        for p in range(P):
            joints_vis[p, i] = _visible(posed[p][2][i], T_cam_world, intr.K, labels, p + 1)
            coco_vis[p, i] = _visible(posed[p][3][i], T_cam_world, intr.K, labels, p + 1)
            area[p, i] = int(np.count_nonzero(labels == p + 1))
        if progress is not None:
            progress(1)

    tracks = tuple(PersonTrack(
        betas=people[p].betas.astype(np.float32), global_orient_world=posed[p][0].astype(np.float32),
        body_pose=people[p].motion.body_pose.astype(np.float32), transl_world=posed[p][1].astype(np.float32),
        joints_world=posed[p][2].astype(np.float32), keypoints_coco_world=posed[p][3].astype(np.float32),
        joints_visible=joints_vis[p], keypoints_coco_visible=coco_vis[p], mask_area_px=area[p],
        action=people[p].motion.action) for p in range(P))
    cfg = dataclasses.asdict(config)
    cfg.update(num_people=n_people, camera_kind=camera_kind, generator_version=GENERATOR_VERSION,
               pillar_placement=pillar_meta, exit_person=events.exit_person)
    return SyntheticSequence(name=name or f'seq_{seed:04d}', seed=int(seed), fps=float(fps), intrinsics=intr,
                             T_world_cam=T_world_cam, people=tracks, masks=masks, camera_kind=camera_kind,
                             body_model=body_model.name, frames_rgb=frames, config=cfg)


def person_vertices_world(sequence: SyntheticSequence, body_model: BodyModel, person: int,
                          frames: np.ndarray | slice = slice(None)) -> np.ndarray:
    """Recompute the world vertices of one person from the stored parameters.

    Args:
        sequence: the sequence.
        body_model: the body model named by ``sequence.body_model``.
        person: person index.
        frames: frame indices or a slice.
    Returns:
        (n, V, 3) float32 world vertices, metres.
    """
    if body_model.name != sequence.body_model:
        raise GeneratorError(f'sequence {sequence.name} was posed with the {sequence.body_model!r} body model, '
                             f'not {body_model.name!r}')
    tr = sequence.people[person]
    dt = body_model.dtype
    go = torch.as_tensor(tr.global_orient_world[frames], dtype=dt)
    with torch.no_grad():
        out = body_model(torch.as_tensor(tr.betas, dtype=dt).expand(go.shape[0], -1), go,
                         torch.as_tensor(tr.body_pose[frames], dtype=dt),
                         torch.as_tensor(tr.transl_world[frames], dtype=dt))
    return out.vertices.numpy().astype(np.float32)
