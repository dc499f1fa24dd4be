"""The learned causal HMR of OnlineHMR (Branch 1, Key Designs 1-3), in PyTorch.

* :mod:`.model`: token encoder -> sliding-window causal attention -> SMPL head;
  training mode (parallel stride-1 windows) and streaming mode (KV cache).
* :mod:`.encoders`: landmark tokens (CPU perception output) and HMR2.0-style ViT patch tokens.
* :mod:`.losses`: L_2D, L_3D, L_SMPL, L_V and the velocity / acceleration regularisers.
* :mod:`.data`, :mod:`.calibration`, :mod:`.rendered`: training / evaluation data.
* :mod:`.train`: ``python -m onlinehmr_ros.training.train``.
* :mod:`.runtime`: :class:`LearnedHMR`, the streaming estimator the hmr stage uses.
"""
from onlinehmr_ros.core.hmr.learned.config import (LandmarkEncoderConfig, LearnedHMRModelConfig, TemporalConfig,
                                                   ViTEncoderConfig)
from onlinehmr_ros.core.hmr.learned.encoders import CheckpointError, load_vit_backbone_checkpoint
from onlinehmr_ros.core.hmr.learned.model import CausalHMRNet, HMRPrediction, load_checkpoint, save_checkpoint
from onlinehmr_ros.core.hmr.learned.runtime import (LearnedBodyEstimate, LearnedHMR, LearnedHMRConfig,
                                                    packaged_checkpoint_path)
from onlinehmr_ros.core.hmr.learned.temporal import KVCache

__all__ = ['CausalHMRNet', 'CheckpointError', 'HMRPrediction', 'KVCache', 'LandmarkEncoderConfig',
           'LearnedBodyEstimate', 'LearnedHMR', 'LearnedHMRConfig', 'LearnedHMRModelConfig', 'TemporalConfig',
           'ViTEncoderConfig', 'load_checkpoint', 'load_vit_backbone_checkpoint', 'packaged_checkpoint_path',
           'save_checkpoint']
