"""Training losses of the learned causal HMR (OnlineHMR, "Loss & Training").

``L = L_f + L_v + L_a`` with the per-frame loss
``L_f = l1 L_2D + l2 L_3D + l3 L_SMPL + l4 L_V`` and the cross-window
regularisers, exactly as the paper writes them (``p``: predicted joint
positions relative to the pelvis, ``c``: per-joint confidence from the
ground truth):

    L_v = l5 * sum_{i,t} c_{i,t} |p_{i,t} - p_{i,t-1}|^2 / (sum_{i,t} c_{i,t} + eps)
    L_a = l6 * sum_{j,i} c_{j,i} |p_{j,i+1} - 2 p_{j,i} + p_{j,i-1}|^2 / (sum_{j,i} c_{j,i} + eps)

Here ``i``/``j`` run over joints and ``t``/``i`` over frames as in the paper;
the weight of a difference is the confidence of its latest frame (velocity)
or of its centre frame (acceleration), and a difference that involves a
frame without an observation gets weight 0. Because the model's outputs for
consecutive frames come from consecutive stride-1 windows, these terms act
across window boundaries.

The paper does not spell out the per-frame terms; they follow HMR2.0:
``L_2D`` L1 between projected predicted joints and ground-truth 2D joints,
in units of the person box's long side; ``L_3D`` L1 on pelvis-relative 3D
joints (metres); ``L_SMPL`` squared error on the rotation matrices of the 24
joints and on the shape; ``L_V`` L1 on pelvis-relative vertices. Two terms
are added beyond the paper and reported separately: ``L_cam`` (L1 on the
camera-frame pelvis position, metres: the 2D term alone pins depth only
weakly) and ``L_sigma`` (Gaussian negative log-likelihood that trains the
per-joint uncertainty head on the *detached* 3D joint error, so it cannot
change the pose; sigma limited to 1 mm .. 2 m).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from onlinehmr_ros.core.common.geometry import project_points
from onlinehmr_ros.core.hmr.learned.model import LOG_SIGMA_MAX, LOG_SIGMA_MIN

#: depth guard of the 2D term (geometry.guarded_depth): gradients stay finite near the camera, metres
MIN_DEPTH_M = 0.1


@dataclass(frozen=True)
class LossWeights:
    """lambda_1..lambda_6 of the paper plus the two added terms (0 disables a term)."""

    w_2d: float = 1.0          # lambda_1
    w_3d: float = 5.0          # lambda_2
    w_smpl: float = 1.0        # lambda_3
    w_verts: float = 2.0       # lambda_4
    w_vel: float = 1.0         # lambda_5 (L_v); the paper's ablation sets it to 0
    w_acc: float = 10.0        # lambda_6 (L_a); the paper's ablation sets it to 0
    w_cam: float = 1.0         # added: L_cam
    w_sigma: float = 0.01      # added: L_sigma
    eps: float = 1e-6          # epsilon of L_v / L_a


def velocity_loss(p: torch.Tensor, c: torch.Tensor, weight: float, eps: float = 1e-6,
                  frame_valid: torch.Tensor | None = None) -> torch.Tensor:
    """Paper's L_v.

    Args:
        p: (B, T, J, 3) pelvis-relative predicted joints, metres.
        c: (B, T, J) per-joint confidence.
        weight: lambda_5.
        frame_valid: optional (B, T) bool; differences touching an invalid frame get weight 0.
    Returns:
        scalar.
    """
    w = c[:, 1:]
    if frame_valid is not None:
        pair = (frame_valid[:, 1:] & frame_valid[:, :-1]).to(p.dtype)
        w = w * pair[..., None]
    sq = ((p[:, 1:] - p[:, :-1]) ** 2).sum(-1)
    return weight * (w * sq).sum() / (w.sum() + eps)


def acceleration_loss(p: torch.Tensor, c: torch.Tensor, weight: float, eps: float = 1e-6,
                      frame_valid: torch.Tensor | None = None) -> torch.Tensor:
    """Paper's L_a; arguments as :func:`velocity_loss` (``weight`` is lambda_6)."""
    w = c[:, 1:-1]
    if frame_valid is not None:
        trip = (frame_valid[:, 2:] & frame_valid[:, 1:-1] & frame_valid[:, :-2]).to(p.dtype)
        w = w * trip[..., None]
    sq = ((p[:, 2:] - 2 * p[:, 1:-1] + p[:, :-2]) ** 2).sum(-1)
    return weight * (w * sq).sum() / (w.sum() + eps)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` (B, T, ...) over the frames where ``mask`` (B, T) is True."""
    m = mask.to(x.dtype).reshape(mask.shape + (1,) * (x.ndim - mask.ndim))
    n = m.expand_as(x).sum().clamp(min=1.0)
    return (x * m).sum() / n


def hmr_losses(pred: dict[str, torch.Tensor], gt: dict[str, torch.Tensor],
               weights: LossWeights) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and each (weighted) term.

    Args:
        pred: ``joints_cam`` (B, T, 24, 3), ``vertices_cam`` (B, T, V', 3), ``rotmat`` (B, T, 24, 3, 3),
            ``betas`` (B, T, nb), ``joint_log_sigma`` (B, T, 24), all from the body model posed with
            the network output (joint 0 = pelvis).
        gt: ``joints_cam``, ``vertices_cam``, ``rotmat``, ``betas`` (same shapes), ``joints_2d_px``
            (B, T, 24, 2), ``box_size_px`` (B, T), ``K`` (B, T, 3, 3), ``joint_conf`` (B, T, 24),
            ``frame_valid`` (B, T) bool.
    Returns:
        total scalar and a dict of the weighted terms (``l_2d``, ``l_3d``, ``l_smpl``, ``l_verts``,
        ``l_vel``, ``l_acc``, ``l_cam``, ``l_sigma``).
    """
    valid = gt['frame_valid']
    pj, gj = pred['joints_cam'], gt['joints_cam']
    p_rel = pj - pj[..., :1, :]
    g_rel = gj - gj[..., :1, :]
    terms: dict[str, torch.Tensor] = {}
    uv, _ = project_points(gt['K'], pj, MIN_DEPTH_M)   # differentiable (torch)
    err2d = (uv - gt['joints_2d_px']).abs().sum(-1) / gt['box_size_px'][..., None]
    terms['l_2d'] = weights.w_2d * _masked_mean(err2d, valid)
    terms['l_3d'] = weights.w_3d * _masked_mean((p_rel - g_rel).abs().sum(-1), valid)
    rot_err = ((pred['rotmat'] - gt['rotmat']) ** 2).sum((-1, -2))
    beta_err = ((pred['betas'] - gt['betas']) ** 2).sum(-1, keepdim=True)
    terms['l_smpl'] = weights.w_smpl * (_masked_mean(rot_err, valid) + _masked_mean(beta_err, valid) * 0.1)
    pv, gv = pred['vertices_cam'], gt['vertices_cam']
    terms['l_verts'] = weights.w_verts * _masked_mean(
        ((pv - pj[..., :1, :]) - (gv - gj[..., :1, :])).abs().sum(-1), valid)
    terms['l_vel'] = velocity_loss(p_rel, gt['joint_conf'], weights.w_vel, weights.eps, valid)
    terms['l_acc'] = acceleration_loss(p_rel, gt['joint_conf'], weights.w_acc, weights.eps, valid)
    terms['l_cam'] = weights.w_cam * _masked_mean((pj[..., 0, :] - gj[..., 0, :]).abs().sum(-1, keepdim=True),
                                                  valid)
    # error each joint's uncertainty describes: pelvis-relative for joints 1..23, the camera-frame
    # position error for the pelvis itself (its pelvis-relative error is identically 0, which would
    # drive its log sigma to -inf)
    joint_err = torch.cat([(pj[..., :1, :] - gj[..., :1, :]), (p_rel - g_rel)[..., 1:, :]], dim=-2)
    joint_err = joint_err.detach().norm(dim=-1)
    ls = pred['joint_log_sigma'].clamp(min=LOG_SIGMA_MIN, max=LOG_SIGMA_MAX)
    nll = 0.5 * joint_err ** 2 * torch.exp(-2 * ls) + ls
    terms['l_sigma'] = weights.w_sigma * _masked_mean(nll, valid)
    total = sum(terms.values())
    return total, terms
