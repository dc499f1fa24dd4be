"""Differentiable rotation conversions in PyTorch for the learned HMR.

``onlinehmr_ros.core.common.geometry`` holds the project's numpy/scipy rotation
conversions and is what the runtime uses on the network's outputs. Training
needs the rotation-matrix -> axis-angle conversion as a differentiable torch
operation on batched tensors (gradients through the body model), which neither
scipy nor smplx gives (axis-angle -> matrix is ``smplx.lbs.batch_rodrigues``,
used by the body model's skinning); that and the 6D representation are here,
and nothing else.

6D representation: Zhou et al., "On the Continuity of Rotation
Representations in Neural Networks" (CVPR 2019), as in HMR2.0: the first two
*columns* of the rotation matrix, ``rot6d = [R[:, 0], R[:, 1]]``.
"""
from __future__ import annotations

import torch


def rotmat_from_rot6d(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) 6D rotation -> (..., 3, 3) rotation matrix (Gram-Schmidt)."""
    a1 = rot6d[..., 0:3]
    a2 = rot6d[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def rot6d_from_rotmat(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrix -> (..., 6) 6D rotation (first two columns)."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def axis_angle_from_rotmat(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrix -> (..., 3) axis-angle (rad), differentiable.

    Goes through the unit quaternion (Shepperd's method picks the best-conditioned
    branch), then ``axis * angle = 2 atan2(|xyz|, w) xyz / |xyz|``.
    """
    m = R
    tr = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    cands = torch.stack([
        torch.stack([1 + tr, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                     m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                     m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                     1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1],
                     1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1),
    ], dim=-2)                                                     # (..., 4, 4): each row is 4|q_k| q
    diag = torch.stack([1 + tr, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                        1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                        1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2]], -1)
    best = diag.argmax(dim=-1, keepdim=True)
    q = torch.gather(cands, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    q = torch.nn.functional.normalize(q, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)                         # w >= 0 -> angle in [0, pi]
    w, xyz = q[..., 0], q[..., 1:]
    n = xyz.norm(dim=-1)
    small = n < 1e-6
    n_safe = torch.where(small, torch.ones_like(n), n)
    factor = torch.where(small, 2.0 / w.clamp(min=1e-6), 2.0 * torch.atan2(n_safe, w) / n_safe)
    return xyz * factor[..., None]

