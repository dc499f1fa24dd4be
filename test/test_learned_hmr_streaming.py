"""Learned causal HMR: streaming (KV cache) == training mode (parallel windows); causality."""
import pytest
import torch

from onlinehmr_ros.core.hmr.learned.config import (LandmarkEncoderConfig, LearnedHMRModelConfig, TemporalConfig,
                                                   ViTEncoderConfig)
from onlinehmr_ros.core.hmr.learned.model import CausalHMRNet
from _learned_hmr_fakes import one_torch_thread  # noqa: F401 (autouse fixture)


def _landmark_inputs(B, T, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {'landmarks': torch.randn(B, T, 33, 8, generator=g, dtype=dtype),
            'box': torch.randn(B, T, 4, generator=g, dtype=dtype) * 0.3}


def _net(window=5, depth=2, encoder='landmarks', dtype=torch.float64, seed=0, tokens='parts'):
    torch.manual_seed(seed)
    cfg = LearnedHMRModelConfig(encoder=encoder, landmarks=LandmarkEncoderConfig(tokens=tokens),
                                temporal=TemporalConfig(window=window, depth=depth, dim=32, num_heads=4),
                                vit=ViTEncoderConfig(image_height_px=32, image_width_px=24, patch_size_px=8,
                                                     patch_padding_px=0, embed_dim=16, depth=1, num_heads=2))
    net = CausalHMRNet(cfg).to(dtype).eval()
    # non-trivial age biases so that a wrong age/order in the cache changes the output
    with torch.no_grad():
        for layer in net.temporal.layers:
            layer.age_bias.normal_(0.0, 1.0)
    return net


def _stream(net, inputs, valid):
    B, T = valid.shape
    outs = []
    for b in range(B):
        cache = net.new_cache()
        per = {}
        for t in range(T):
            if not valid[b, t]:
                continue
            p = net.forward_step({k: v[b:b + 1, t] for k, v in inputs.items()}, cache, t)
            per[t] = p
            assert len(cache) <= net.window - 1
        outs.append(per)
    return outs


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 2e-5)])
@pytest.mark.parametrize('window,depth,tokens', [(5, 2, 'parts'), (1, 1, 'parts'), (3, 3, 'landmarks')])
def test_streaming_equals_training_mode(dtype, tol, window, depth, tokens):
    net = _net(window, depth, dtype=dtype, tokens=tokens)
    B, T = 2, 13
    inputs = _landmark_inputs(B, T, dtype)
    valid = torch.ones(B, T, dtype=torch.bool)
    valid[1, [4, 5, 9]] = False          # gaps: frames without an observation
    with torch.no_grad():
        train = net.forward_windows(inputs, valid)
        stream = _stream(net, inputs, valid)
    n = 0
    for b in range(B):
        for t, p in stream[b].items():
            for name in ('rotmat', 'betas', 'pelvis_cam_m', 'joint_log_sigma'):
                a = getattr(p, name)[0]
                e = getattr(train, name)[b, t]
                assert torch.allclose(a, e, atol=tol, rtol=0), (name, b, t, (a - e).abs().max())
            n += 1
    assert n == B * T - 3


def test_vit_encoder_streaming_equals_training_mode():
    net = _net(4, 2, encoder='vit')
    g = torch.Generator().manual_seed(1)
    inputs = {'image': torch.randn(1, 7, 3, 32, 24, generator=g, dtype=torch.float64),
              'box': torch.randn(1, 7, 4, generator=g, dtype=torch.float64) * 0.3}
    valid = torch.ones(1, 7, dtype=torch.bool)
    with torch.no_grad():
        train = net.forward_windows(inputs, valid)
        stream = _stream(net, inputs, valid)[0]
    for t, p in stream.items():
        assert torch.allclose(p.rotmat[0], train.rotmat[0, t], atol=1e-10)
        assert torch.allclose(p.pelvis_cam_m[0], train.pelvis_cam_m[0, t], atol=1e-10)


def test_causal_and_window_limited():
    """Output i depends on frames i-N+1..i only: changing a later frame or one older than the window changes nothing."""
    window = 4
    net = _net(window, 2)
    T = 12
    inputs = _landmark_inputs(1, T, torch.float64)
    valid = torch.ones(1, T, dtype=torch.bool)
    with torch.no_grad():
        ref = net.forward_windows(inputs, valid).rotmat[0]
        i = 7
        future = {k: v.clone() for k, v in inputs.items()}
        future['landmarks'][0, i + 1:] += 1.0
        out = net.forward_windows(future, valid).rotmat[0]
        assert torch.allclose(out[:i + 1], ref[:i + 1], atol=1e-12)        # prefix unchanged
        assert not torch.allclose(out[i + 1], ref[i + 1], atol=1e-6)       # the changed frame itself moves
        old = {k: v.clone() for k, v in inputs.items()}
        old['landmarks'][0, i - window] += 1.0                               # just outside frame i's window
        out = net.forward_windows(old, valid).rotmat[0]
        assert torch.allclose(out[i], ref[i], atol=1e-12)
        assert not torch.allclose(out[i - 1], ref[i - 1], atol=1e-6)        # inside frame i-1's window


def test_prefix_of_stream_independent_of_clip_length():
    net = _net(5, 2)
    inputs = _landmark_inputs(1, 20, torch.float64)
    with torch.no_grad():
        full = net.forward_windows(inputs, torch.ones(1, 20, dtype=torch.bool)).pelvis_cam_m
        pre = net.forward_windows({k: v[:, :9] for k, v in inputs.items()},
                                  torch.ones(1, 9, dtype=torch.bool)).pelvis_cam_m
    assert torch.allclose(full[:, :9], pre, atol=1e-12)


def test_frame_index_must_increase():
    net = _net(3, 1)
    inputs = _landmark_inputs(1, 2, torch.float64)
    cache = net.new_cache()
    with torch.no_grad():
        net.forward_step({k: v[:, 0] for k, v in inputs.items()}, cache, 5)
        with pytest.raises(ValueError, match='increase'):
            net.forward_step({k: v[:, 1] for k, v in inputs.items()}, cache, 5)
