"""Generate a synthetic sequence: room, camera path, people, rendering, ground truth.

Layout (world z up): the camera starts about 1 m in front of the wall at
``y = -depth/2`` and looks into the room; the people move in a rectangle
2.8-5.5 m in front of it, wide enough that they leave the view at its sides
(occlusion by the frame border). With two or more people the first two cross
each other at different depths early in the sequence (occlusion between
people). Everything random is drawn from ``numpy.random.default_rng(seed)``.
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
from onlinehmr_ros.eval.synthetic.human_motion import PersonMotion, plan_to_motion, random_plan
from onlinehmr_ros.eval.synthetic.scene import Room, RoomConfig
from onlinehmr_ros.eval.synthetic.sequence import PersonTrack, SyntheticSequence

#: SMPL body frame (y up, z forward) -> world (z up): +90 degrees about x.
R_WORLD_BODY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class GeneratorError(ValueError):
    """Invalid generator configuration."""


@dataclass(frozen=True)
class SequenceConfig:
    """What to generate.

    Attributes:
        num_frames: length, frames.
        fps: frame rate, Hz.
        width_px, height_px: image size.
        hfov_deg: horizontal field of view, degrees.
        num_people: 1-3, or None to draw 1-3 from the seed.
        camera_kind: 'handheld', 'robot', 'static', or None to draw from the seed.
        camera: amplitudes of the camera motion (its ``kind`` is replaced by ``camera_kind``).
        room: room size and texture resolution.
        body_model: which body model poses the people.
        shape_std: standard deviation of the random shape coefficients.
        image_noise_std: standard deviation of the added pixel noise (grey levels).
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


def _validate(config: SequenceConfig) -> None:
    if config.num_frames < 4:
        raise GeneratorError(f'num_frames must be >= 4, got {config.num_frames}')
    if config.fps <= 0:
        raise GeneratorError(f'fps must be positive, got {config.fps}')
    if config.num_people is not None and not 1 <= config.num_people <= 3:
        raise GeneratorError(f'num_people must be 1, 2 or 3 (or None), got {config.num_people}')
    if config.camera_kind is not None and config.camera_kind not in CAMERA_KINDS:
        raise GeneratorError(f'camera_kind must be one of {CAMERA_KINDS} or None, got {config.camera_kind!r}')


@dataclass(frozen=True)
class _Person:
    motion: PersonMotion
    betas: np.ndarray
    vertex_rgb: np.ndarray


def _plans(rng: np.random.Generator, n_people: int, area_min: np.ndarray, area_max: np.ndarray,
           duration_s: float) -> list[tuple[tuple[float, float], float, list]]:
    """(start_xy, start_heading, plan) per person."""
    out = []
    depths = np.sort(rng.uniform(area_min[1] + 0.3, area_max[1] - 0.3, size=max(2, n_people)))
    for p in range(n_people):
        if p < 2 and n_people >= 2:
            # the first two cross: one left -> right in front, the other right -> left behind
            side = -1.0 if p == 0 else 1.0
            y = depths[0] if p == 0 else depths[-1]
            start = (side * (area_max[0] + 0.2), float(y))
            through = [(-side * rng.uniform(0.8, area_max[0]), float(y + rng.uniform(-0.4, 0.4)))]
            heading = 0.0 if side < 0 else np.pi
        else:
            start = tuple(float(c) for c in rng.uniform(area_min, area_max))
            through = []
            heading = float(rng.uniform(-np.pi, np.pi))
        out.append((start, heading, random_plan(rng, area_min, area_max, duration_s, through)))
    return out


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


def _visible(points_world: np.ndarray, T_cam_world: np.ndarray, K: np.ndarray, labels: np.ndarray,
             own_label: int) -> np.ndarray:
    """(N,) bool: projects inside the image and no other person's pixel covers it."""
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
                      progress: Callable[[int], None] | None = None) -> SyntheticSequence:
    """Generate one sequence.

    Args:
        config: what to generate.
        seed: all randomness (room texture, paths, shapes, outfits, camera) follows from it.
        body_model: a loaded body model (loaded from ``config.body_model`` when None).
        name: sequence name (default ``seq_<seed>``).
        progress: called with 1 after each rendered frame (e.g. a tqdm ``update``).
    Returns:
        the sequence, frames in memory.
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
    area_min = np.array([-half_w, eye0[1] + 2.8])
    area_max = np.array([half_w, min(eye0[1] + 5.5, room.box_max[1] - 0.6)])

    # people: motion, shape, outfit
    mp_index = {k: MEDIAPIPE_LANDMARK_NAMES.index(k) for k in
                ('left_eye', 'right_eye', 'mouth_left', 'mouth_right', 'nose')}
    lbs_w = body_model.lbs_weights.double().numpy()
    faces = body_model.faces
    people: list[_Person] = []
    for start, heading, plan in _plans(rng, n_people, area_min, area_max, n / fps):
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
    posed = [_posed(body_model, p) for p in people]

    # camera: keep the people's centroid in view
    centroid = np.mean([pz[2][:, 0] for pz in posed], axis=0)
    centroid[:, 2] = 1.0
    T_world_cam = camera_trajectory(dataclasses.replace(config.camera, kind=camera_kind), n, fps, rng, eye0,
                                    centroid, room.box_min, room.box_max)

    lighting = Lighting(direction_world=tuple(rng.normal(size=3) * 0.3 + np.array([0.2, -0.6, 0.8])),
                        ambient=float(rng.uniform(0.4, 0.55)), diffuse=float(rng.uniform(0.5, 0.7)))
    frames = np.empty((n, intr.height_px, intr.width_px, 3), np.uint8)
    masks = np.empty((n, intr.height_px, intr.width_px), np.uint8)
    P = len(people)
    joints_vis = np.zeros((P, n, 24), bool)
    coco_vis = np.zeros((P, n, 17), bool)
    area = np.zeros((P, n), np.int64)
    for i in range(n):
        bg, bg_depth = room.render(intr, T_world_cam[i])
        meshes = [Mesh(posed[p][4][i], faces, people[p].vertex_rgb, p + 1) for p in range(P)]
        rgb, labels, _ = render_meshes(bg, bg_depth, intr, T_world_cam[i], meshes, lighting)
        img = cv2.GaussianBlur(rgb, (0, 0), 0.6).astype(np.float32)
        img += rng.normal(scale=config.image_noise_std, size=img.shape).astype(np.float32)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
        masks[i] = labels
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
    cfg.update(num_people=n_people, camera_kind=camera_kind)
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
