"""Per-frame token encoders of the learned HMR, behind one interface.

A :class:`TokenEncoder` maps the inputs of ``B x T`` frames to ``P`` tokens of
width ``D`` per frame, ``(B, T, P, D)``, independently per frame (no temporal
mixing here: that is the temporal block's job, and it is what lets streaming
cache a frame's keys/values once).

* :class:`LandmarkTokenEncoder`: tokens from the CPU perception backend's
  output (2D + 3D landmarks with visibility, box). Inputs (see
  :mod:`onlinehmr_ros.core.hmr.learned.features`):
  ``{'landmarks': (B, T, 33, 8), 'box': (B, T, 4)}``.
* :class:`ViTPatchEncoder`: HMR2.0-style ViT patch tokens from a person crop.
  Inputs: ``{'image': (B, T, 3, H, W)}`` float, ImageNet-normalised.
  :func:`load_vit_backbone_checkpoint` loads a user checkpoint (HMR2.0's
  ``backbone.*`` keys) with strict key checking.
"""
from __future__ import annotations

import pathlib
from typing import Mapping

import torch
from torch import nn

from onlinehmr_ros.core.body.skeleton import NUM_MEDIAPIPE_LANDMARKS
from onlinehmr_ros.core.hmr.learned.config import LANDMARK_PARTS, LandmarkEncoderConfig, ViTEncoderConfig

LANDMARK_FEATURE_DIM = 8
BOX_FEATURE_DIM = 4


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or does not match the model (lists the keys)."""


class TokenEncoder(nn.Module):
    """Interface: ``forward(inputs) -> (B, T, P, D)`` tokens, frame by frame."""

    num_tokens: int     # P
    dim: int            # D

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class LandmarkTokenEncoder(TokenEncoder):
    """Landmark tokens (one per landmark or one per body part, see the config) plus one box token."""

    def __init__(self, cfg: LandmarkEncoderConfig, dim: int):
        super().__init__()
        self.cfg = cfg
        self.dim = dim
        if cfg.tokens == 'landmarks':
            self.landmark_mlp = nn.Sequential(nn.Linear(LANDMARK_FEATURE_DIM, cfg.hidden_dim), nn.GELU(),
                                              nn.Linear(cfg.hidden_dim, dim))
            self.landmark_embedding = nn.Parameter(torch.randn(cfg.num_landmarks, dim) * 0.02)
            self.num_tokens = cfg.num_landmarks + 1
        else:
            if cfg.num_landmarks != NUM_MEDIAPIPE_LANDMARKS:
                raise ValueError(f'part tokens need the {NUM_MEDIAPIPE_LANDMARKS} MediaPipe landmarks')
            self.part_mlps = nn.ModuleList([
                nn.Sequential(nn.Linear(LANDMARK_FEATURE_DIM * len(part), cfg.hidden_dim), nn.GELU(),
                              nn.Linear(cfg.hidden_dim, dim)) for part in LANDMARK_PARTS])
            self.num_tokens = len(LANDMARK_PARTS) + 1
        self.box_mlp = nn.Sequential(nn.Linear(BOX_FEATURE_DIM, cfg.hidden_dim), nn.GELU(),
                                     nn.Linear(cfg.hidden_dim, dim))
        self.box_embedding = nn.Parameter(torch.randn(1, dim) * 0.02)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        lm = inputs['landmarks']            # (B, T, L, 8)
        box = inputs['box']                 # (B, T, 4)
        if lm.shape[-2:] != (self.cfg.num_landmarks, LANDMARK_FEATURE_DIM) or box.shape[-1] != BOX_FEATURE_DIM:
            raise ValueError(f'landmark encoder expects landmarks (B, T, {self.cfg.num_landmarks}, '
                             f'{LANDMARK_FEATURE_DIM}) and box (B, T, {BOX_FEATURE_DIM}); '
                             f'got {tuple(lm.shape)} and {tuple(box.shape)}')
        if self.cfg.tokens == 'landmarks':
            tok_lm = self.landmark_mlp(lm) + self.landmark_embedding
        else:
            tok_lm = torch.stack([mlp(lm[..., list(part), :].flatten(-2))
                                  for mlp, part in zip(self.part_mlps, LANDMARK_PARTS)], dim=-2)
        tok_box = self.box_mlp(box)[..., None, :] + self.box_embedding
        return torch.cat([tok_box, tok_lm], dim=-2)


# ----------------------------------------------------------------------------
# HMR2.0-style ViT (ViTPose backbone), parameter names as in HMR2.0's checkpoints
# ----------------------------------------------------------------------------
class _PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTEncoderConfig):
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.embed_dim, kernel_size=cfg.patch_size_px, stride=cfg.patch_size_px,
                              padding=cfg.patch_padding_px)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        hp, wp = x.shape[-2:]
        return x.flatten(2).transpose(1, 2), hp, wp


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (C // self.num_heads) ** -0.5
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTBackbone(nn.Module):
    """ViTPose-style ViT; ``forward((B, 3, H, W)) -> (B, Hp*Wp, embed_dim)`` patch tokens."""

    def __init__(self, cfg: ViTEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = _PatchEmbed(cfg)
        k, s, p = cfg.patch_size_px, cfg.patch_size_px, cfg.patch_padding_px
        hp = (cfg.image_height_px + 2 * p - k) // s + 1
        wp = (cfg.image_width_px + 2 * p - k) // s + 1
        self.num_patches = hp * wp
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, cfg.embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList([_Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)])
        self.last_norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, _, _ = self.patch_embed(images)
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]     # ViTPose adds the cls position to every patch
        for blk in self.blocks:
            x = blk(x)
        return self.last_norm(x)


class ViTPatchEncoder(TokenEncoder):
    """Patch tokens of an HMR2.0-style ViT, projected to the temporal width D."""

    def __init__(self, cfg: ViTEncoderConfig, dim: int):
        super().__init__()
        self.cfg = cfg
        self.dim = dim
        self.backbone = ViTBackbone(cfg)
        self.num_tokens = self.backbone.num_patches
        self.token_proj = nn.Linear(cfg.embed_dim, dim)

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        img = inputs['image']               # (B, T, 3, H, W)
        expected = (3, self.cfg.image_height_px, self.cfg.image_width_px)
        if tuple(img.shape[-3:]) != expected:
            raise ValueError(f'ViT encoder expects images (B, T, {expected}), got {tuple(img.shape)}')
        B, T = img.shape[:2]
        tok = self.backbone(img.reshape(B * T, *expected))
        return self.token_proj(tok).reshape(B, T, self.num_tokens, self.dim)


def load_vit_backbone_checkpoint(encoder: ViTPatchEncoder, path: str | pathlib.Path,
                                 prefix: str = 'backbone.') -> None:
    """Load a user-provided HMR2.0-style backbone checkpoint into ``encoder.backbone``, strictly.

    The file may be a plain state dict or a (Lightning) dict with ``state_dict``.
    Every key under ``prefix`` must match a backbone parameter and every backbone
    parameter must be present with the same shape; keys outside ``prefix`` (the
    HMR2.0 SMPL head, optimiser state) are not part of the backbone and are not read.

    Raises:
        CheckpointError: file missing/unreadable, no key under ``prefix``, or
            missing/unexpected/mis-shaped keys (all listed in the message).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f'ViT backbone checkpoint {path} does not exist: download HMR2.0\'s release '
                              '(hmr2_data.tar.gz: logs/train/multiruns/hmr2/0/checkpoints/*.ckpt) on a machine '
                              'with internet and pass its path')
    try:
        blob = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/pickled files
        raise CheckpointError(f'cannot read ViT backbone checkpoint {path}: {exc}') from exc
    state = blob.get('state_dict', blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f'{path} holds no state dict (got {type(blob).__name__})')
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not sub:
        raise CheckpointError(f'{path} has no keys under prefix {prefix!r}; first keys: {sorted(state)[:5]}')
    own = encoder.backbone.state_dict()
    missing = sorted(set(own) - set(sub))
    unexpected = sorted(set(sub) - set(own))
    mis_shaped = sorted(f'{k}: checkpoint {tuple(sub[k].shape)} vs model {tuple(own[k].shape)}'
                        for k in set(own) & set(sub) if tuple(sub[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mis_shaped:
        raise CheckpointError(
            f'ViT backbone checkpoint {path} does not match ViTEncoderConfig {encoder.cfg}:\n'
            f'  missing keys ({len(missing)}): {missing}\n'
            f'  unexpected keys ({len(unexpected)}): {unexpected}\n'
            f'  shape mismatches ({len(mis_shaped)}): {mis_shaped}\n'
            'Set the ViT configuration to the checkpoint\'s architecture (HMR2.0: ViT-H, embed_dim 1280, '
            'depth 32, 16 heads, 256x192 input).')
    encoder.backbone.load_state_dict(sub, strict=True)
