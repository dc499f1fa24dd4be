"""Configuration of the learned causal HMR (OnlineHMR Branch 1).

Frozen dataclasses with documented defaults; a checkpoint stores
``dataclasses.asdict(LearnedHMRModelConfig)`` next to its weights and
:func:`model_config_from_dict` rebuilds it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from onlinehmr_ros.core.body.skeleton import NUM_MEDIAPIPE_LANDMARKS


class LearnedHMRConfigError(ValueError):
    """A learned-HMR configuration is invalid (message names the field and the accepted values)."""


#: MediaPipe landmark indices of each body-part token (``LandmarkEncoderConfig.tokens == 'parts'``):
#: face, torso, left/right arm, left/right hand, left/right leg.
LANDMARK_PARTS: tuple[tuple[int, ...], ...] = (
    tuple(range(11)), (11, 12, 23, 24), (11, 13, 15), (12, 14, 16), (15, 17, 19, 21), (16, 18, 20, 22),
    (23, 25, 27, 29, 31), (24, 26, 28, 30, 32))


@dataclass(frozen=True)
class LandmarkEncoderConfig:
    """Landmark tokens plus one box token.

    ``tokens``: ``'parts'`` (default) makes one token per body part of
    :data:`LANDMARK_PARTS` from the concatenated features of its landmarks
    (9 tokens per frame: cheap enough to train on a CPU); ``'landmarks'`` makes
    one token per landmark (34 tokens per frame).

    Per-landmark features (8): 2D landmark in the box frame (centre 0, half box
    size 1), 2D landmark in normalised camera coordinates ((u - cx)/fx,
    (v - cy)/fy), 3D landmark (metres, hip-centred, as the perception backend
    gives it), visibility in [0, 1]. Box token (4): box centre in normalised
    camera coordinates, log of the box size over the focal length, aspect ratio.
    """

    num_landmarks: int = NUM_MEDIAPIPE_LANDMARKS
    hidden_dim: int = 64        # width of the per-token MLP
    tokens: str = 'parts'       # 'parts' or 'landmarks'

    def __post_init__(self):
        if self.tokens not in ('parts', 'landmarks'):
            raise LearnedHMRConfigError(f'landmarks.tokens must be "parts" or "landmarks", got {self.tokens!r}')


@dataclass(frozen=True)
class ViTEncoderConfig:
    """HMR2.0-style ViT backbone (ViTPose ViT-H/16 on a 256x192 crop by default).

    Parameter names follow HMR2.0's ``backbone.*`` keys so its checkpoints load
    with strict key checking. Tests use a tiny configuration.
    """

    image_height_px: int = 256
    image_width_px: int = 192
    patch_size_px: int = 16
    patch_padding_px: int = 2   # ViTPose's patch-embedding padding (256x192 -> 16x12 patches)
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0


@dataclass(frozen=True)
class TemporalConfig:
    """Sliding-window causal attention (Key Designs 1-2)."""

    window: int = 16            # N: frame i sees frames i-N+1 .. i (N-1 cached frames)
    depth: int = 2              # number of (self-attention, cross-attention, MLP) layers
    dim: int = 64               # token width D
    num_heads: int = 4
    mlp_ratio: float = 2.0


@dataclass(frozen=True)
class HeadConfig:
    """SMPL head: 6D rotations for 24 joints, shape, camera translation, joint uncertainty."""

    num_betas: int = 10
    nominal_box_size_m: float = 1.7   # metric extent of the person box's long side used for the depth prior
    hidden_dim: int = 128


@dataclass(frozen=True)
class LearnedHMRModelConfig:
    """Whole network: ``encoder`` in {"landmarks", "vit"} plus the parts."""

    encoder: str = 'landmarks'
    landmarks: LandmarkEncoderConfig = field(default_factory=LandmarkEncoderConfig)
    vit: ViTEncoderConfig = field(default_factory=ViTEncoderConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    head: HeadConfig = field(default_factory=HeadConfig)

    def __post_init__(self):
        if self.encoder not in ('landmarks', 'vit'):
            raise LearnedHMRConfigError(f'encoder must be "landmarks" or "vit", got {self.encoder!r}')
        t = self.temporal
        if t.window < 1:
            raise LearnedHMRConfigError(f'temporal.window must be >= 1 frame, got {t.window}')
        if t.depth < 1:
            raise LearnedHMRConfigError(f'temporal.depth must be >= 1, got {t.depth}')
        if t.dim % t.num_heads:
            raise LearnedHMRConfigError(f'temporal.dim ({t.dim}) must be divisible by num_heads ({t.num_heads})')


def model_config_from_dict(d: dict) -> LearnedHMRModelConfig:
    """Inverse of ``dataclasses.asdict`` for :class:`LearnedHMRModelConfig` (unknown keys raise)."""
    parts = {'landmarks': LandmarkEncoderConfig, 'vit': ViTEncoderConfig, 'temporal': TemporalConfig,
             'head': HeadConfig}
    kwargs = {}
    for key, value in d.items():
        if key in parts:
            names = {f.name for f in dataclasses.fields(parts[key])}
            unknown = set(value) - names
            if unknown:
                raise LearnedHMRConfigError(f'unknown keys {sorted(unknown)} in model config section {key!r}')
            kwargs[key] = parts[key](**value)
        elif key == 'encoder':
            kwargs[key] = value
        else:
            raise LearnedHMRConfigError(f'unknown model config key {key!r}')
    return LearnedHMRModelConfig(**kwargs)
