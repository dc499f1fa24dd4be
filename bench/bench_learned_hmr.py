"""Learned causal HMR: per-frame cost vs stream length, KV cache vs recomputing the window, mode agreement.

    python -m bench.bench_learned_hmr [--frames 3000] [--checkpoint PATH]

Prints
1. streaming cost per frame over a long stream (one track): the network step alone and the whole
   ``LearnedHMR.step`` (features + network + body model, full mesh), first 300 vs last 300 frames;
2. the same network without the KV cache (the window's N frames recomputed each frame in training mode);
3. streaming vs training-mode agreement on a 300-frame sequence in float64 and float32.
One thread (``torch.set_num_threads(1)``); the machine is shared, so absolute times vary between runs,
ratios within a run do not.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.hmr.learned.model import CausalHMRNet, load_checkpoint
from onlinehmr_ros.core.hmr.learned.runtime import LearnedHMR, LearnedHMRConfig, packaged_checkpoint_path
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, bbox_from_landmarks
from onlinehmr_ros.eval.benchmark import format_timing_table, timing_summary


def _random_observations(n: int, seed: int = 0):
    """A smooth random walk of landmarks (the network's cost does not depend on the values)."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([200, 100], [440, 400], (33, 2))
    drift = np.cumsum(rng.normal(0, 1.0, (n, 1, 2)), axis=0)
    lm = (base[None] + drift + rng.normal(0, 2.0, (n, 33, 2))).astype(np.float32)
    l3 = rng.normal(0, 0.3, (n, 33, 3)).astype(np.float32)
    vis = np.full((n, 33), 0.9, np.float32)
    return [PersonObservation(lm[i], vis[i], l3[i], None, bbox_from_landmarks(lm[i], vis[i]), 0.9) for i in range(n)]


def _stream_network(net: CausalHMRNet, inputs: dict, n: int) -> list[dict]:
    cache = net.new_cache()
    rows = []
    with torch.no_grad():
        for t in range(n):
            x = {k: v[:, t % v.shape[1]] for k, v in inputs.items()}
            t0 = time.perf_counter()
            net.forward_step(x, cache, t)
            rows.append({'total': (time.perf_counter() - t0) * 1e3})
    return rows


def _no_cache(net: CausalHMRNet, inputs: dict, n: int) -> list[dict]:
    """Recompute frame t's window (t-N+1..t) in training mode each frame; keep only the last output."""
    N = net.window
    T = inputs['box'].shape[1]
    rows = []
    with torch.no_grad():
        for t in range(n):
            lo = max(0, t - N + 1)
            idx = [i % T for i in range(lo, t + 1)]
            x = {k: v[:, idx] for k, v in inputs.items()}
            t0 = time.perf_counter()
            net.forward_windows(x, torch.ones(1, len(idx), dtype=torch.bool))
            rows.append({'total': (time.perf_counter() - t0) * 1e3})
    return rows


def _agreement(cfg, dtype) -> tuple[float, float]:
    torch.manual_seed(0)
    net = CausalHMRNet(cfg).to(dtype).eval()
    g = torch.Generator().manual_seed(1)
    T = 300
    inputs = {'landmarks': torch.randn(1, T, 33, 8, generator=g, dtype=dtype),
              'box': torch.randn(1, T, 4, generator=g, dtype=dtype) * 0.3}
    with torch.no_grad():
        ref = net.forward_windows(inputs, torch.ones(1, T, dtype=torch.bool))
        cache = net.new_cache()
        rot, pel = [], []
        for t in range(T):
            p = net.forward_step({k: v[:, t] for k, v in inputs.items()}, cache, t)
            rot.append(p.rotmat)
            pel.append(p.pelvis_cam_m)
    return (float((torch.cat(rot) - ref.rotmat[0]).abs().max()),
            float((torch.cat(pel) - ref.pelvis_cam_m[0]).abs().max()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=3000)
    ap.add_argument('--checkpoint', default=None, help='default: the packaged landmark checkpoint')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ckpt = args.checkpoint or str(packaged_checkpoint_path())
    net, meta = load_checkpoint(ckpt)
    cfg = net.cfg
    print(f'checkpoint {ckpt}: window N={cfg.temporal.window}, depth {cfg.temporal.depth}, '
          f'D={cfg.temporal.dim}, {net.encoder.num_tokens} tokens/frame, '
          f'{sum(p.numel() for p in net.parameters())} parameters')

    n = args.frames
    g = torch.Generator().manual_seed(0)
    inputs = {'landmarks': torch.randn(1, 64, 33, 8, generator=g), 'box': torch.randn(1, 64, 4, generator=g) * 0.3}
    print(f'\n1a. network step with KV cache, {n} frames')
    s = timing_summary(_stream_network(net, inputs, n), warmup_frames=10, window=300)
    print(format_timing_table(s), end='')

    hmr = LearnedHMR(LearnedHMRConfig(checkpoint_path=ckpt))
    intr = CameraIntrinsics.from_fov(640, 480, 60.0)
    obs = _random_observations(64)
    rows = []
    for t in range(n):
        t0 = time.perf_counter()
        hmr.step(0, obs[t % len(obs)], intr)
        rows.append({'total': (time.perf_counter() - t0) * 1e3})
    print(f'\n1b. LearnedHMR.step (features + network + {hmr.body_model.name} body model, '
          f'{hmr.body_model.num_vertices} vertices), {n} frames')
    s2 = timing_summary(rows, warmup_frames=10, window=300)
    print(format_timing_table(s2), end='')

    m = min(n, 600)
    print(f'\n2. without the KV cache: the window recomputed in training mode every frame, {m} frames')
    s3 = timing_summary(_no_cache(net, inputs, m), warmup_frames=10, window=100)
    print(format_timing_table(s3), end='')
    print(f'   KV cache speed-up of the network step (late frames): {s3.late_ms / s.late_ms:.2f}x')

    print('\n3. streaming vs training mode, same weights (random init, this config), 300 frames, max |diff|')
    for dt in (torch.float64, torch.float32):
        r, p = _agreement(cfg, dt)
        print(f'   {str(dt):14s} rotation matrices {r:.2e}   pelvis position {p:.2e} m')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
