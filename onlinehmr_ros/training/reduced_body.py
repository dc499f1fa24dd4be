"""Exact joints and a vertex subset of a body model at a fraction of the cost (training only).

Posing all 13,718 vertices of the open model for every frame of every
training clip costs seconds per step on a CPU, but the losses need only the
24 joints and the vertices of ``L_V``'s subset. This module builds a reduced
SMPL-format model holding

* the chosen vertices (template, shape and pose blend shapes, skinning weights);
* 24 *virtual* vertices, one per joint, whose template and shape directions
  are the joint regressor applied to the full model's (``J(beta) =
  J_reg (v_template + S beta)`` is linear in ``beta``), skinned rigidly to
  their joint, with a one-hot joint regressor on them,

and poses it with the same skinning as
:class:`~onlinehmr_ros.core.body.model.BodyModel`
(:func:`onlinehmr_ros.core.body.kinematics.skin`). Joints are exactly those of
the full model (the rest joints depend on the shaped template only) and each
kept vertex is exactly the full model's (LBS is per vertex).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from onlinehmr_ros.core.body.kinematics import skin
from onlinehmr_ros.core.body.skeleton import NUM_SMPL_JOINTS


class TrainingBodyModelError(ValueError):
    """The body model cannot be reduced (e.g. SMPL-X, whose joints are not SMPL's 24)."""


class TrainingBodyModel(nn.Module):
    """``forward(betas, global_orient, body_pose) -> (joints (..., 24, 3), vertices (..., V', 3))``, transl 0."""

    def __init__(self, body_model, vertex_ids: np.ndarray):
        super().__init__()
        m = body_model.smplx_model
        if m.J_regressor.shape[0] != NUM_SMPL_JOINTS or \
                not torch.equal(body_model.joint_map.cpu(), torch.arange(NUM_SMPL_JOINTS)):
            raise TrainingBodyModelError(f'training needs a 24-joint SMPL-format body model (open or smpl); '
                                         f'{body_model.name} has {m.J_regressor.shape[0]} joints')
        ids = torch.as_tensor(np.asarray(vertex_ids), dtype=torch.long)
        V = m.v_template.shape[0]
        vt, sd, jr = m.v_template, m.shapedirs, m.J_regressor
        num_pose = m.posedirs.shape[0]
        pd = m.posedirs.reshape(num_pose, V, 3)
        jt = jr @ vt                                                          # (24, 3)
        jsd = torch.einsum('jv,vcb->jcb', jr, sd)                             # (24, 3, nb)
        J = NUM_SMPL_JOINTS
        self.register_buffer('v_template', torch.cat([vt[ids], jt]))
        self.register_buffer('shapedirs', torch.cat([sd[ids], jsd]))
        self.register_buffer('posedirs', torch.cat([pd[:, ids], pd.new_zeros(num_pose, J, 3)], 1).reshape(num_pose, -1))
        self.register_buffer('lbs_weights', torch.cat([m.lbs_weights[ids], torch.eye(J, dtype=vt.dtype)]))
        jreg = vt.new_zeros(J, len(ids) + J)
        jreg[:, len(ids):] = torch.eye(J, dtype=vt.dtype)
        self.register_buffer('J_regressor', jreg)
        self.register_buffer('parents', m.parents.clone())
        self.has_pose_correctives = body_model.has_pose_correctives
        self.num_betas = body_model.num_betas
        self.num_kept = len(ids)

    def forward(self, betas: torch.Tensor, global_orient: torch.Tensor, body_pose: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        lead = torch.broadcast_shapes(betas.shape[:-1], global_orient.shape[:-1], body_pose.shape[:-1])
        b = betas.expand(*lead, betas.shape[-1]).reshape(-1, betas.shape[-1])
        pose = torch.cat([global_orient.expand(*lead, 3), body_pose.expand(*lead, 69)], -1).reshape(-1, 72)
        verts, joints = skin(b, pose, self.v_template, self.shapedirs[..., :b.shape[-1]],
                             self.posedirs if self.has_pose_correctives else None, self.J_regressor, self.parents,
                             self.lbs_weights)
        return joints.reshape(*lead, NUM_SMPL_JOINTS, 3), verts[:, :self.num_kept].reshape(*lead, self.num_kept, 3)
