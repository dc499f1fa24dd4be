"""Small fakes for the camera-space HMR tests: a stick-figure body model and synthetic people.

The fake body model is a real SMPL-format model (it goes through the same
``BodyModel`` / smplx ``lbs`` path as the open model) with SMPL-like joint
positions, 4 vertices around each joint and one vertex per mediapipe landmark,
so it is small (129 vertices) and fast, yet has the same kinematic tree.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from onlinehmr_ros.core.body.loading import validate_smpl_format
from onlinehmr_ros.core.body.model import BodyModel
from onlinehmr_ros.core.body.skeleton import SMPL_JOINT_PARENTS
from onlinehmr_ros.core.common.geometry import project_points
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, PoseBackend, bbox_from_landmarks

# SMPL-like rest joints (m, y up, x to the body's left, z forward).
_JOINTS = np.array([
    [0, 0, 0], [0.06, -0.09, 0], [-0.06, -0.09, 0], [0, 0.11, -0.02], [0.1, -0.47, 0], [-0.1, -0.47, 0],
    [0, 0.24, -0.02], [0.09, -0.87, -0.04], [-0.09, -0.87, -0.04], [0, 0.29, -0.01], [0.11, -0.93, 0.08],
    [-0.11, -0.93, 0.08], [0, 0.51, -0.03], [0.08, 0.41, -0.02], [-0.08, 0.41, -0.02], [0, 0.6, 0.02],
    [0.18, 0.44, -0.03], [-0.18, 0.44, -0.03], [0.43, 0.43, -0.05], [-0.43, 0.43, -0.05], [0.69, 0.43, -0.05],
    [-0.69, 0.43, -0.05], [0.77, 0.43, -0.05], [-0.77, 0.43, -0.05]], dtype=np.float64)

# (joint it is skinned to, position) of each mediapipe landmark.
_L, _R = 1.0, -1.0
_LANDMARKS = [
    (15, [0, 0.62, 0.1]), (15, [0.02, 0.66, 0.09]), (15, [0.035, 0.66, 0.09]), (15, [0.05, 0.66, 0.085]),
    (15, [-0.02, 0.66, 0.09]), (15, [-0.035, 0.66, 0.09]), (15, [-0.05, 0.66, 0.085]), (15, [0.08, 0.63, 0.0]),
    (15, [-0.08, 0.63, 0.0]), (15, [0.025, 0.57, 0.09]), (15, [-0.025, 0.57, 0.09]),
    (16, _JOINTS[16]), (17, _JOINTS[17]), (18, _JOINTS[18]), (19, _JOINTS[19]), (20, _JOINTS[20]),
    (21, _JOINTS[21]), (22, [0.8, 0.42, -0.08]), (23, [-0.8, 0.42, -0.08]), (22, [0.82, 0.43, -0.03]),
    (23, [-0.82, 0.43, -0.03]), (20, [0.73, 0.43, 0.01]), (21, [-0.73, 0.43, 0.01]),
    (1, _JOINTS[1] + [0.03, 0, 0]), (2, _JOINTS[2] - [0.03, 0, 0]), (4, _JOINTS[4]), (5, _JOINTS[5]),
    (7, _JOINTS[7]), (8, _JOINTS[8]), (7, _JOINTS[7] + [0, -0.04, -0.06]), (8, _JOINTS[8] + [0, -0.04, -0.06]),
    (10, _JOINTS[10] + [0, 0, 0.08]), (11, _JOINTS[11] + [0, 0, 0.08]),
]


def make_fake_body_model(num_betas: int = 4, pose_correctives_m: float = 0.0) -> BodyModel:
    """A 129-vertex SMPL-format stick figure wrapped in ``BodyModel`` (name 'open').

    ``pose_correctives_m`` > 0: random pose correctives (posedirs) of that standard deviation, metres.
    """
    import smplx
    from smplx.utils import Struct

    rng = np.random.default_rng(7)
    offsets = np.array([[0.03, 0, 0], [-0.03, 0, 0], [0, 0, 0.03], [0, 0, -0.03]])
    verts, skin = [], []
    for j, p in enumerate(_JOINTS):
        for o in offsets:
            verts.append(p + o)
            skin.append(j)
    n_joint_verts = len(verts)
    for j, p in _LANDMARKS:
        verts.append(np.asarray(p, dtype=np.float64))
        skin.append(j)
    v = np.array(verts)
    V = len(v)
    weights = np.zeros((V, 24))
    weights[np.arange(V), skin] = 1.0
    J_reg = np.zeros((24, V))
    for j in range(24):
        J_reg[j, 4 * j:4 * j + 4] = 0.25
    # shape directions: overall size, width, leg length, then small random fields
    sd = np.zeros((V, 3, num_betas))
    sd[..., 0] = 0.05 * v
    sd[:, 0, 1] = 0.03 * v[:, 0] / 0.2
    sd[:, 1, 2] = np.where(v[:, 1] < 0, 0.04 * v[:, 1], 0.0)
    for b in range(3, num_betas):
        sd[..., b] = 0.01 * rng.normal(size=(V, 3))
    arrays = validate_smpl_format({
        'v_template': v, 'shapedirs': sd, 'J_regressor': J_reg,
        'posedirs': rng.normal(0.0, pose_correctives_m, (V, 3, 207)) if pose_correctives_m > 0 else np.zeros((V, 3, 207)),
        'weights': weights, 'kintree_table': np.stack([SMPL_JOINT_PARENTS, np.arange(24)]),
        'f': np.array([[4 * j, 4 * j + 1, 4 * j + 2] for j in range(24)])}, num_betas)
    with contextlib.redirect_stdout(io.StringIO()):
        smpl = smplx.SMPL(model_path='', data_struct=Struct(**arrays), num_betas=num_betas, create_betas=False,
                          create_global_orient=False, create_body_pose=False, create_transl=False,
                          dtype=torch.float32)
    mp_reg = np.zeros((33, V))
    mp_reg[np.arange(33), n_joint_verts + np.arange(33)] = 1.0
    coco_src = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 31, 31, 29, 32, 32, 30]
    coco_reg = np.zeros((23, V))
    coco_reg[np.arange(23), n_joint_verts + np.array(coco_src)] = 1.0
    return BodyModel(name='open', smplx_model=smpl, num_betas=num_betas, joint_map=np.arange(24),
                     lbs_weights_24=weights, mediapipe_regressor=mp_reg, coco_regressor=coco_reg)


def random_pose(rng: np.random.Generator, scale: float = 0.3) -> np.ndarray:
    """(69,) moderate random joint rotations (rad)."""
    return rng.normal(scale=scale, size=69)


def posed_person(model: BodyModel, betas, global_orient, body_pose, transl):
    """Ground truth of a posed person: (joints (24, 3), landmarks (33, 3)) in the camera frame."""
    dt = model.dtype
    with torch.no_grad():
        out = model(betas=torch.as_tensor(betas, dtype=dt), global_orient=torch.as_tensor(global_orient, dtype=dt),
                    body_pose=torch.as_tensor(body_pose, dtype=dt), transl=torch.as_tensor(transl, dtype=dt))
    return out.joints.numpy().astype(np.float64), out.landmarks_mediapipe.numpy().astype(np.float64)


def observation_from_landmarks(landmarks_cam: np.ndarray, K: np.ndarray, rng: np.random.Generator | None = None,
                               noise_px: float = 0.0, noise_3d_m: float = 0.0,
                               visibility: np.ndarray | None = None,
                               mask_shape: tuple[int, int] | None = None) -> PersonObservation:
    """A PersonObservation as a perfect-but-noisy detector would report (hip-centred 3D landmarks)."""
    uv, _ = project_points(K, landmarks_cam)
    hip = 0.5 * (landmarks_cam[23] + landmarks_cam[24])
    l3 = landmarks_cam - hip
    if rng is not None:
        uv = uv + rng.normal(scale=noise_px, size=uv.shape)
        l3 = l3 + rng.normal(scale=noise_3d_m, size=l3.shape)
    vis = np.full(33, 0.95) if visibility is None else visibility
    box = bbox_from_landmarks(uv, vis)
    mask = None
    if mask_shape is not None:
        mask = np.zeros(mask_shape, dtype=np.float32)
        x0, y0, x1, y1 = np.clip(box, 0, [mask_shape[1], mask_shape[0]] * 2).astype(int)
        mask[y0:y1, x0:x1] = 1.0
    return PersonObservation(landmarks_px=uv, visibility=vis, landmarks_3d_m=l3, mask=mask, bbox_px=box,
                             score=float(vis.mean()))


class ScriptedBackend(PoseBackend):
    """A perception backend that replays prepared observations, one list per frame index."""

    def __init__(self, per_frame: list[list[PersonObservation]]):
        self._per_frame = per_frame

    def detect(self, frame):
        return list(self._per_frame[frame.index])
