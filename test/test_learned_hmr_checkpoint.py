"""Learned HMR checkpoints: strict loading of our own files and of HMR2.0-style ViT backbones; the runtime."""
import numpy as np
import pytest
import torch

from _learned_hmr_fakes import one_torch_thread, tiny_body_model, tiny_body_model_npz  # noqa: F401 (autouse)
from onlinehmr_ros.core.body.loading import BodyModelConfig
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.hmr.learned import (CausalHMRNet, CheckpointError, LearnedHMR, LearnedHMRConfig,
                                            LearnedHMRModelConfig, TemporalConfig, ViTEncoderConfig,
                                            load_checkpoint, load_vit_backbone_checkpoint, save_checkpoint)
from onlinehmr_ros.core.hmr.learned.encoders import ViTPatchEncoder
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation
from onlinehmr_ros.training.data import make_training_arrays, synthetic_sequence
from onlinehmr_ros.training.observations import simulate_observations

TINY_VIT = ViTEncoderConfig(image_height_px=32, image_width_px=24, patch_size_px=8, patch_padding_px=0,
                            embed_dim=16, depth=2, num_heads=2)


def _small_cfg(window=4):
    return LearnedHMRModelConfig(temporal=TemporalConfig(window=window, depth=1, dim=16, num_heads=2))


def test_own_checkpoint_round_trip_and_strict_keys(tmp_path):
    torch.manual_seed(0)
    net = CausalHMRNet(_small_cfg())
    path = tmp_path / 'm.pt'
    save_checkpoint(net, path, {'body_model': 'open', 'note': 'x'})
    loaded, meta = load_checkpoint(path)
    assert meta == {'body_model': 'open', 'note': 'x'}
    for k, v in net.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    blob = torch.load(path, weights_only=True)
    blob['state_dict']['head.extra'] = torch.zeros(1)
    del blob['state_dict']['head.out.bias']
    torch.save(blob, tmp_path / 'bad.pt')
    expected = r"missing keys: \['head.out.bias'\][\s\S]*unexpected keys: \['head.extra'\]"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(tmp_path / 'bad.pt')
    with pytest.raises(CheckpointError, match='does not exist'):
        load_checkpoint(tmp_path / 'none.pt')
    torch.save({'state_dict': {}}, tmp_path / 'foreign.pt')
    with pytest.raises(CheckpointError, match='is not a'):
        load_checkpoint(tmp_path / 'foreign.pt')


def test_vit_backbone_checkpoint_strict(tmp_path):
    torch.manual_seed(0)
    src = ViTPatchEncoder(TINY_VIT, 8)
    state = {'backbone.' + k: v for k, v in src.backbone.state_dict().items()}
    state['smpl_head.decpose.weight'] = torch.zeros(3)        # HMR2.0's head: not part of the backbone, ignored
    torch.save({'state_dict': state, 'epoch': 3}, tmp_path / 'hmr2.ckpt')
    dst = ViTPatchEncoder(TINY_VIT, 8)
    load_vit_backbone_checkpoint(dst, tmp_path / 'hmr2.ckpt')
    for k, v in src.backbone.state_dict().items():
        assert torch.equal(v, dst.backbone.state_dict()[k])
    bad = dict(state)
    del bad['backbone.blocks.1.mlp.fc2.bias']
    bad['backbone.blocks.2.attn.qkv.weight'] = torch.zeros(48, 16)
    bad['backbone.pos_embed'] = torch.zeros(1, 5, 16)
    torch.save(bad, tmp_path / 'bad.ckpt')
    with pytest.raises(CheckpointError) as err:
        load_vit_backbone_checkpoint(dst, tmp_path / 'bad.ckpt')
    msg = str(err.value)
    assert "missing keys (1): ['blocks.1.mlp.fc2.bias']" in msg
    assert "unexpected keys (1): ['blocks.2.attn.qkv.weight']" in msg
    assert 'pos_embed: checkpoint (1, 5, 16) vs model (1, 13, 16)' in msg
    with pytest.raises(CheckpointError, match='no keys under prefix'):
        torch.save({'model.x': torch.zeros(1)}, tmp_path / 'other.ckpt')
        load_vit_backbone_checkpoint(dst, tmp_path / 'other.ckpt')
    with pytest.raises(CheckpointError, match='does not exist'):
        load_vit_backbone_checkpoint(dst, tmp_path / 'missing.ckpt')


def _observations(body_model, n=20, seed=0):
    rng = np.random.default_rng(seed)
    seq = synthetic_sequence(body_model, rng, n)
    obs = simulate_observations(seq, rng)
    return seq, obs


def test_runtime_step_matches_training_mode_and_resets(tmp_path):
    bm = tiny_body_model(tmp_path)
    torch.manual_seed(0)
    net = CausalHMRNet(_small_cfg(window=4))
    ckpt = tmp_path / 'm.pt'
    save_checkpoint(net, ckpt, {'body_model': 'open'})
    hmr = LearnedHMR(LearnedHMRConfig(checkpoint_path=str(ckpt), dtype='float64'), body_model=bm)
    seq, obs = _observations(bm)
    W, H = seq.image_size_px
    intr = CameraIntrinsics(seq.K, W, H)
    arrays = make_training_arrays(seq, obs)
    with torch.no_grad():
        ref = hmr.net.forward_windows({k: torch.as_tensor(arrays[k][None], dtype=torch.float64)
                                       for k in ('landmarks', 'box')}, torch.as_tensor(arrays['frame_valid'][None]))
    for t in np.flatnonzero(obs.frame_valid):
        o = PersonObservation(obs.landmarks_px[t], obs.visibility[t], obs.landmarks_3d_m[t], None, obs.bbox_px[t], 1.0)
        est = hmr.step(7, o, intr, frame_index=int(t))
        np.testing.assert_allclose(est.betas, ref.betas[0, t].numpy(), atol=1e-5)
        assert est.joints.shape == (24, 3) and est.vertices.shape == (72, 3) and est.body_pose.shape == (69,)
        assert np.all((est.joint_confidence > 0) & (est.joint_confidence <= 1))
        # the pelvis is where the head put it
        np.testing.assert_allclose(est.joints[0], ref.pelvis_cam_m[0, t].numpy(), atol=1e-5)
    assert len(hmr._caches[7]) == 3
    state = est.to_human_state('open')
    assert state.keypoints_coco.shape == (17, 3) and state.track_id == 7
    hmr.reset(7)
    assert 7 not in hmr._caches
    with pytest.raises(ValueError, match='increase'):
        hmr.step(1, o, intr, frame_index=5)
        hmr.step(1, o, intr, frame_index=5)


def test_runtime_rejects_other_body_model(tmp_path):
    net = CausalHMRNet(_small_cfg())
    save_checkpoint(net, tmp_path / 'm.pt', {'body_model': 'smpl'})
    with pytest.raises(CheckpointError, match="trained with the 'smpl' body model"):
        LearnedHMR(LearnedHMRConfig(checkpoint_path=str(tmp_path / 'm.pt'),
                                    body_model=BodyModelConfig(path=str(tiny_body_model_npz(tmp_path / 'b.npz')))))
