"""The learned causal HMR network: token encoder -> causal window attention -> SMPL head.

One set of weights, two execution modes (see :mod:`.temporal`):

* :meth:`CausalHMRNet.forward_windows` (training): a clip of ``T`` frames,
  all overlapping windows (stride 1) in parallel;
* :meth:`CausalHMRNet.forward_step` (streaming): one frame with a per-track
  :class:`~.temporal.KVCache`.

Camera translation: the head predicts the pelvis position in the camera
optical frame relative to the person box. With the box centre ``(bx, by)``
and long side ``bs`` in normalised camera coordinates (pixels / focal),
``z = nominal_box_size_m / bs * exp(dz)``, ``x = (bx + dx * bs) z``,
``y = (by + dy * bs) z``. The body model's ``transl`` follows from the pelvis
position once the body model is evaluated (:func:`transl_from_pelvis`).
"""
from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from torch import nn

from onlinehmr_ros.core.body.skeleton import NUM_SMPL_JOINTS
from onlinehmr_ros.core.hmr.learned.config import LearnedHMRModelConfig, model_config_from_dict
from onlinehmr_ros.core.hmr.learned.encoders import (CheckpointError, LandmarkTokenEncoder, TokenEncoder,
                                                     ViTPatchEncoder)
from onlinehmr_ros.core.hmr.learned.rotations import axis_angle_from_rotmat, rotmat_from_rot6d
from onlinehmr_ros.core.hmr.learned.temporal import CausalTemporalStack, KVCache

CHECKPOINT_FORMAT = 'onlinehmr_ros.learned_hmr/1'
LOG_SIGMA_MIN = float(torch.log(torch.tensor(1e-3)))   # the uncertainty head's range: 1 mm ...
LOG_SIGMA_MAX = float(torch.log(torch.tensor(2.0)))    # ... to 2 m


@dataclass(frozen=True)
class HMRPrediction:
    """Network output for ``(...)`` frames (``(B, T)`` in training mode, ``(B,)`` streaming).

    All rotations are in the camera optical frame (global orient) or parent-relative (body).
    """

    rot6d: torch.Tensor             # (..., 24, 6) 6D rotations: joint 0 = global orient, 1..23 body pose
    rotmat: torch.Tensor            # (..., 24, 3, 3) the same as rotation matrices
    betas: torch.Tensor             # (..., num_betas) shape coefficients
    pelvis_cam_m: torch.Tensor      # (..., 3) pelvis position in the camera optical frame, metres
    joint_log_sigma: torch.Tensor   # (..., 24) predicted log std of each joint's 3D error (log metres)

    def joint_confidence(self, sigma_ref_m: float = 0.05) -> torch.Tensor:
        """(..., 24) in (0, 1]: ``exp(-sigma / sigma_ref)`` from the predicted per-joint error."""
        return torch.exp(-torch.exp(self.joint_log_sigma) / sigma_ref_m)


class SMPLHead(nn.Module):
    """MLP from the readout feature to 6D rotations, betas, camera translation and joint uncertainty."""

    def __init__(self, cfg: LearnedHMRModelConfig):
        super().__init__()
        h = cfg.head
        self.num_betas = h.num_betas
        self.nominal_box_size_m = h.nominal_box_size_m
        out = NUM_SMPL_JOINTS * 6 + h.num_betas + 3 + NUM_SMPL_JOINTS
        self.mlp = nn.Sequential(nn.Linear(cfg.temporal.dim, h.hidden_dim), nn.GELU(),
                                 nn.Linear(h.hidden_dim, h.hidden_dim), nn.GELU())
        self.out = nn.Linear(h.hidden_dim, out)
        nn.init.xavier_uniform_(self.out.weight, gain=0.01)
        init = torch.zeros(out)
        ident6 = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        init[:NUM_SMPL_JOINTS * 6] = ident6.repeat(NUM_SMPL_JOINTS)
        init[-NUM_SMPL_JOINTS:] = float(torch.log(torch.tensor(0.1)))
        with torch.no_grad():
            self.out.bias.copy_(init)

    def forward(self, feat: torch.Tensor, box: torch.Tensor) -> HMRPrediction:
        """feat (..., D), box (..., 4) box features (see ``features.landmark_features``) -> prediction."""
        y = self.out(self.mlp(feat))
        J = NUM_SMPL_JOINTS
        rot6d = y[..., :J * 6].reshape(*y.shape[:-1], J, 6)
        betas = y[..., J * 6:J * 6 + self.num_betas]
        cam = y[..., J * 6 + self.num_betas:J * 6 + self.num_betas + 3]
        log_sigma = y[..., -J:].clamp(min=LOG_SIGMA_MIN, max=LOG_SIGMA_MAX)
        bx, by, log_bs = box[..., 0], box[..., 1], box[..., 2]
        bs = torch.exp(log_bs)
        z = self.nominal_box_size_m / bs * torch.exp(cam[..., 2].clamp(-3.0, 3.0))   # depth within e^+-3 of the prior
        pelvis = torch.stack([(bx + cam[..., 0] * bs) * z, (by + cam[..., 1] * bs) * z, z], dim=-1)
        return HMRPrediction(rot6d=rot6d, rotmat=rotmat_from_rot6d(rot6d), betas=betas, pelvis_cam_m=pelvis,
                             joint_log_sigma=log_sigma)


def build_encoder(cfg: LearnedHMRModelConfig) -> TokenEncoder:
    if cfg.encoder == 'landmarks':
        return LandmarkTokenEncoder(cfg.landmarks, cfg.temporal.dim)
    return ViTPatchEncoder(cfg.vit, cfg.temporal.dim)


class CausalHMRNet(nn.Module):
    """Encoder + :class:`CausalTemporalStack` + :class:`SMPLHead`.

    ``inputs`` always holds ``'box'`` (box features, ``(..., 4)``, see
    :func:`onlinehmr_ros.core.hmr.learned.features.landmark_features`) plus the
    encoder's own entries (``'landmarks'`` or ``'image'``).
    """

    def __init__(self, cfg: LearnedHMRModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg)
        self.temporal = CausalTemporalStack(cfg.temporal)
        self.head = SMPLHead(cfg)

    @property
    def window(self) -> int:
        return self.cfg.temporal.window

    def forward_windows(self, inputs: Mapping[str, torch.Tensor], frame_valid: torch.Tensor) -> HMRPrediction:
        """Training mode: inputs with leading (B, T), frame_valid (B, T) bool -> (B, T, ...) prediction."""
        tokens = self.encoder(inputs)
        feat = self.temporal.forward_windows(tokens, frame_valid)
        return self.head(feat, inputs['box'])

    def forward_step(self, inputs: Mapping[str, torch.Tensor], cache: KVCache, frame_index: int) -> HMRPrediction:
        """Streaming mode: inputs with leading (B,) for one frame -> (B, ...) prediction; updates ``cache``."""
        tokens = self.encoder({k: v[:, None] for k, v in inputs.items()})[:, 0]
        feat = self.temporal.forward_step(tokens, cache, frame_index)
        return self.head(feat, inputs['box'])

    def new_cache(self) -> KVCache:
        return KVCache(self.window)


@dataclass(frozen=True)
class PosedPrediction:
    """Body-model outputs of a network prediction (torch, differentiable)."""

    joints_cam: torch.Tensor      # (..., 24, 3) metres, camera optical frame
    vertices_cam: torch.Tensor    # (..., V', 3) the selected vertices
    transl: torch.Tensor          # (..., 3) body-model translation
    global_orient: torch.Tensor   # (..., 3) axis-angle
    body_pose: torch.Tensor       # (..., 69) axis-angle
    landmarks_cam: torch.Tensor   # (..., 33, 3)
    keypoints_coco: torch.Tensor  # (..., 23, 3)


def pose_prediction(pred: HMRPrediction, body_model, vertex_ids: np.ndarray | slice | None = None) -> PosedPrediction:
    """Evaluate the body model on the network output and place the pelvis at ``pred.pelvis_cam_m``.

    ``transl = pelvis_cam - joint0(betas, pose, transl=0)``: the body model's translation is additive,
    so this puts joint 0 exactly at the predicted pelvis position.
    """
    aa = axis_angle_from_rotmat(pred.rotmat)
    go, bp = aa[..., 0, :], aa[..., 1:, :].flatten(-2)
    out = body_model(pred.betas, go, bp, torch.zeros_like(pred.pelvis_cam_m))
    shift = pred.pelvis_cam_m - out.joints[..., 0, :]
    verts = out.vertices if vertex_ids is None else out.vertices[..., vertex_ids, :]
    s = shift[..., None, :]
    return PosedPrediction(out.joints + s, verts + s, shift, go, bp, out.landmarks_mediapipe + s,
                           out.keypoints_coco + s)


def save_checkpoint(net: CausalHMRNet, path: str | pathlib.Path, metadata: dict | None = None) -> None:
    """Write weights (float32), the model config and free-form metadata (training data, time, figures)."""
    state = {k: v.detach().to(torch.float32) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    torch.save({'format': CHECKPOINT_FORMAT, 'model_config': dataclasses.asdict(net.cfg), 'state_dict': state,
                'metadata': metadata or {}}, pathlib.Path(path))


def load_checkpoint(path: str | pathlib.Path, dtype: torch.dtype = torch.float32) -> tuple[CausalHMRNet, dict]:
    """Rebuild the network from a :func:`save_checkpoint` file with strict key checking.

    Raises:
        CheckpointError: missing/unreadable file, wrong format, or key mismatch (listed).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f'learned HMR checkpoint {path} does not exist; train one with '
                              '`python -m onlinehmr_ros.training.train --out PATH` or use the '
                              'packaged onlinehmr_ros/data/learned_hmr_landmarks.pt')
    try:
        blob = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f'cannot read learned HMR checkpoint {path}: {exc}') from exc
    if not isinstance(blob, dict) or blob.get('format') != CHECKPOINT_FORMAT:
        raise CheckpointError(f'{path} is not a {CHECKPOINT_FORMAT} checkpoint '
                              f'(format={blob.get("format") if isinstance(blob, dict) else type(blob).__name__})')
    net = CausalHMRNet(model_config_from_dict(blob['model_config']))
    own = net.state_dict()
    state = blob['state_dict']
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(f'{path} does not match its model config:\n  missing keys: {missing}\n'
                              f'  unexpected keys: {unexpected}')
    net.load_state_dict(state, strict=True)
    net = net.to(dtype).eval()
    return net, dict(blob.get('metadata', {}))
