"""The body model as a PyTorch module: parameters in, posed mesh, joints and landmarks out.

SMPL, SMPL-X (user files) and the open default model all become a :class:`BodyModel`
(built by :func:`onlinehmr_ros.core.body.loading.load_body_model`): the parameters are
held by the ``smplx`` package's modules (``smplx.SMPL`` for SMPL and for the open model,
whose file is in the SMPL format; ``smplx.SMPLX`` for SMPL-X) and posed by
:func:`onlinehmr_ros.core.body.kinematics.skin`, the project's one linear blend skinning.

Conventions:
Conventions:
    * Units are metres; the model frame is SMPL's (y up, x to the body's left,
      z forward in the rest pose).
    * Pose is axis-angle (radians): ``global_orient`` (..., 3) for the root and
      ``body_pose`` (..., 69) for the 23 SMPL body joints in SMPL order.
    * Any leading batch dimensions ``...`` are accepted (they broadcast against
      each other) and kept in the outputs.
    * Joints are always returned in the SMPL-24 order (``SMPL_JOINT_NAMES``).

SMPL-X is mapped onto SMPL-24 as documented in :mod:`onlinehmr_ros.core.body.skeleton`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from onlinehmr_ros.core.body.kinematics import skin
from onlinehmr_ros.core.body.skeleton import NUM_BODY_POSE, NUM_SMPL_JOINTS, SMPL_JOINT_NAMES, SMPL_JOINT_PARENTS


class BodyModelError(Exception):
    """A body model file is missing or malformed, or inputs have wrong shapes."""


# ----------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BodyModelOutput:
    """Posed body, torch tensors in metres, leading batch dims ``...`` preserved.

    Attributes:
        vertices: (..., V, 3) mesh vertices.
        joints: (..., 24, 3) joints in SMPL-24 order (``SMPL_JOINT_NAMES``).
        landmarks_mediapipe: (..., 33, 3) the mediapipe pose landmarks
            (``MEDIAPIPE_LANDMARK_NAMES``) regressed from the posed vertices.
        keypoints_coco: (..., 23, 3) COCO-17 + 6 foot keypoints
            (``COCO_KEYPOINT_NAMES``) regressed from the posed vertices.
    """
    vertices: torch.Tensor
    joints: torch.Tensor
    landmarks_mediapipe: torch.Tensor
    keypoints_coco: torch.Tensor


# ----------------------------------------------------------------------------
# The module
# ----------------------------------------------------------------------------
class BodyModel(torch.nn.Module):
    """A loaded body model: parameters in, posed mesh, joints and landmarks out.

    Build it with :func:`~onlinehmr_ros.core.body.loading.load_body_model`. Stateless in ``forward`` (every
    parameter is an input); the model data live in buffers, so ``.to(dtype)``
    / ``.double()`` switch precision.

    Attributes:
        name: ``'open'``, ``'smpl'`` or ``'smplx'`` (the messages' ``model`` field).
        num_betas: number of shape coefficients ``betas`` takes.
        num_vertices: V.
        faces: (F, 3) int64 triangle vertex indices.
        joint_names: the 24 SMPL joint names.
        joint_parents: (24,) int64 parent index, -1 for the root.
        lbs_weights: (V, 24) skinning weights onto the SMPL-24 joints.
        mediapipe_landmark_regressor: (33, V) landmark = regressor @ vertices.
        coco_keypoint_regressor: (23, V) keypoint = regressor @ vertices.
        mediapipe_landmark_approximate: (33,) bool, True where this topology
            has no published / derived vertex for the landmark and an affine
            approximation is used (see the loader of each model).
    """

    def __init__(self, *, name: str, smplx_model: torch.nn.Module, num_betas: int,
                 joint_map: np.ndarray, lbs_weights_24: np.ndarray,
                 mediapipe_regressor: np.ndarray, coco_regressor: np.ndarray,
                 mediapipe_approximate: np.ndarray | None = None) -> None:
        super().__init__()
        self.name = name
        # The smplx module holds the model data (v_template, shapedirs, posedirs,
        # J_regressor, parents, lbs_weights) as buffers; forward runs skin() on them.
        self.smplx_model = smplx_model
        self.num_betas = int(num_betas)
        self.num_vertices = int(smplx_model.v_template.shape[0])
        self.faces = np.asarray(smplx_model.faces, dtype=np.int64)
        self.joint_names = SMPL_JOINT_NAMES
        self.joint_parents = SMPL_JOINT_PARENTS.copy()
        self._num_model_joints = int(smplx_model.J_regressor.shape[0])
        V = self.num_vertices
        check_array(mediapipe_regressor, (33, V), 'mediapipe landmark regressor')
        check_array(coco_regressor, (23, V), 'COCO keypoint regressor')
        check_array(lbs_weights_24, (V, NUM_SMPL_JOINTS), 'lbs_weights (SMPL-24)')
        dtype = smplx_model.v_template.dtype
        self.register_buffer('joint_map', torch.as_tensor(joint_map, dtype=torch.long))
        self.register_buffer('lbs_weights', torch.as_tensor(lbs_weights_24, dtype=dtype))
        self.register_buffer('mediapipe_landmark_regressor', torch.as_tensor(mediapipe_regressor, dtype=dtype))
        self.register_buffer('coco_keypoint_regressor', torch.as_tensor(coco_regressor, dtype=dtype))
        # both regressors as one sparse (CSR) matrix: 32k of the 56 x 13,718 entries are non-zero for the open model,
        # and the dense product cost ~1 ms of a ~3.5 ms call (sparse: 0.05 ms)
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta')
            self._regressor_csr = torch.cat([self.mediapipe_landmark_regressor,
                                             self.coco_keypoint_regressor]).to_sparse_csr()
        # Zero pose correctives (the open model) are skipped: smplx would read
        # the whole (207, 3V) zero matrix every call (34 MB for the open model).
        self.has_pose_correctives = bool(torch.count_nonzero(smplx_model.posedirs))
        if mediapipe_approximate is None:
            mediapipe_approximate = np.zeros(33, dtype=bool)
        self.mediapipe_landmark_approximate = np.asarray(mediapipe_approximate, dtype=bool)

    @property
    def dtype(self) -> torch.dtype:
        return self.smplx_model.v_template.dtype

    def extra_repr(self) -> str:
        return f'name={self.name}, num_betas={self.num_betas}, V={self.num_vertices}, F={len(self.faces)}'

    def forward(self, betas: torch.Tensor, global_orient: torch.Tensor,
                body_pose: torch.Tensor, transl: torch.Tensor) -> BodyModelOutput:
        """Pose and shape the body.

        Args:
            betas: (..., num_betas) shape coefficients.
            global_orient: (..., 3) root rotation, axis-angle (rad).
            body_pose: (..., 69) rotations of the 23 SMPL body joints, axis-angle (rad).
            transl: (..., 3) root translation (m), added to every output point.

        Returns:
            BodyModelOutput with tensors of the model's dtype and the broadcast
            leading dims of the inputs.

        Raises:
            BodyModelError: wrong trailing sizes, non-broadcastable leading dims,
                or a dtype different from the model's.
        """
        inputs = {'betas': (betas, self.num_betas), 'global_orient': (global_orient, 3),
                  'body_pose': (body_pose, NUM_BODY_POSE), 'transl': (transl, 3)}
        leads = []
        for key, (x, n) in inputs.items():
            if not torch.is_tensor(x):
                raise BodyModelError(f'{key} must be a torch.Tensor, got {type(x).__name__}')
            if x.ndim < 1 or x.shape[-1] != n:
                raise BodyModelError(f'{key} must have shape (..., {n}), got {tuple(x.shape)}')
            if x.dtype != self.dtype:
                raise BodyModelError(f'{key} has dtype {x.dtype} but the {self.name} model is {self.dtype}; '
                                     f'cast the inputs or call model.to({x.dtype})')
            leads.append(x.shape[:-1])
        try:
            lead = torch.broadcast_shapes(*leads)
        except RuntimeError as exc:
            raise BodyModelError(f'leading dims of the inputs do not broadcast: {[tuple(s) for s in leads]}') from exc
        flat = {k: x.expand(*lead, n).reshape(-1, n) for k, (x, n) in inputs.items()}
        N = flat['betas'].shape[0]

        m = self.smplx_model
        if self._num_model_joints == NUM_SMPL_JOINTS:
            full_pose = torch.cat([flat['global_orient'], flat['body_pose']], dim=-1)
        else:  # SMPL-X: 22 body joints from the SMPL pose, jaw/eyes/fingers at rest
            rest = flat['body_pose'].new_zeros(N, 3 * (self._num_model_joints - 22))
            full_pose = torch.cat([flat['global_orient'], flat['body_pose'][:, :63], rest], dim=-1)
        if N == 0:
            V = self.num_vertices
            verts = full_pose.new_zeros(0, V, 3)
            joints_all = full_pose.new_zeros(0, self._num_model_joints, 3)
        else:
            verts, joints_all = skin(flat['betas'], full_pose, m.v_template, m.shapedirs,
                                     m.posedirs if self.has_pose_correctives else None,
                                     m.J_regressor, m.parents, m.lbs_weights)
        t = flat['transl'].unsqueeze(1)
        verts = verts + t
        joints = joints_all[:, self.joint_map] + t
        reg = self._regressor_csr
        if reg.dtype != verts.dtype or reg.device != verts.device:   # the module was moved or cast (.to()) since
            reg = self._regressor_csr = reg.to(device=verts.device, dtype=verts.dtype)
        # (K, V) @ (V, N*3): both point sets of every body in one sparse product
        points = (reg @ verts.permute(1, 0, 2).reshape(verts.shape[1], -1)).reshape(-1, N, 3).permute(1, 0, 2)
        landmarks, coco = points[:, :33], points[:, 33:]
        return BodyModelOutput(
            vertices=verts.reshape(*lead, -1, 3),
            joints=joints.reshape(*lead, NUM_SMPL_JOINTS, 3),
            landmarks_mediapipe=landmarks.reshape(*lead, 33, 3),
            keypoints_coco=coco.reshape(*lead, 23, 3),
        )

    def zero_params(self, *lead: int) -> dict[str, torch.Tensor]:
        """Zero parameters (mean shape, T-pose, origin) with leading dims ``lead``."""
        return {'betas': torch.zeros(*lead, self.num_betas, dtype=self.dtype),
                'global_orient': torch.zeros(*lead, 3, dtype=self.dtype),
                'body_pose': torch.zeros(*lead, NUM_BODY_POSE, dtype=self.dtype),
                'transl': torch.zeros(*lead, 3, dtype=self.dtype)}


def posed_vertices(model: BodyModel, people) -> np.ndarray:
    """The meshes of N people from their parameters: the body model posed in one batched call, each mesh
    scaled by the person's ``size_factor`` about their posed pelvis (``msg/HumanMesh.msg``).

    The one implementation of "mesh from parameters": the HMR's published meshes and the meshes
    render-bag rebuilds for people recorded without vertices both come from here.

    Args:
        model: the body model that produced the parameters.
        people: N objects with ``betas`` (num_betas,), ``global_orient`` (3,), ``body_pose`` (69,),
            ``transl`` (3,) and optionally ``size_factor`` (float; 1, as fitted, where absent), e.g.
            :class:`~onlinehmr_ros.core.common.datatypes.HumanState`.
    Returns:
        (N, V, 3) float32 vertices in metres, in the frame of the parameters; the model runs in its dtype.
    Raises:
        BodyModelError: parameters of the wrong length for the model.
    """
    people = list(people)
    if not people:
        return np.zeros((0, model.num_vertices, 3), np.float32)

    def stack(name: str) -> torch.Tensor:
        return torch.as_tensor(np.stack([np.asarray(getattr(p, name)) for p in people]), dtype=model.dtype)

    try:
        params = {name: stack(name) for name in ('betas', 'global_orient', 'body_pose', 'transl')}
    except ValueError as exc:   # np.stack: people with different parameter lengths
        raise BodyModelError(f'cannot stack the parameters of {len(people)} people: {exc}') from exc
    with torch.no_grad():
        out = model(**params)
    vertices, pelvis = out.vertices.numpy(), out.joints[:, :1].numpy()   # (N, V, 3), (N, 1, 3)
    k = np.array([float(getattr(p, 'size_factor', 1.0)) for p in people])
    scaled = k != 1.0     # people as fitted keep the model's vertices bit for bit
    if scaled.any():
        ks = k[scaled, None, None].astype(vertices.dtype)
        vertices = vertices.copy()
        vertices[scaled] = pelvis[scaled] + ks * (vertices[scaled] - pelvis[scaled])
    return vertices.astype(np.float32)


def check_array(x, shape: tuple, what: str, where: str = '') -> np.ndarray:
    """Check ``x``'s shape; ``None`` entries in ``shape`` match any size.

    Raises:
        BodyModelError: the shape differs (the message names ``what`` and ``where``).
    """
    arr = np.asarray(x)
    ok = arr.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, arr.shape))
    if not ok:
        want = '(' + ', '.join('*' if s is None else str(s) for s in shape) + ')'
        raise BodyModelError(f'{what} must have shape {want}, got {arr.shape}{where}')
    return arr


__all__ = ['BodyModel', 'BodyModelError', 'BodyModelOutput', 'check_array', 'posed_vertices']
