"""Train the learned causal HMR (landmark tokens) on the synthetic generator's people or converted real sequences.

    python -m onlinehmr_ros.training.train --out model.pt [--steps N] [--minutes M]
        [--seeds 20000-20299] [--rendered DIR] [--no-velocity-losses] [--real-data DIR]
        [--body-model-type open|smpl|smplx --body-model-path P]

Data: the people of the one synthetic generator (``--seeds``, :func:`~.data.generator_people`,
never the report set's seeds) with simulated mediapipe observations drawn fresh for every clip
(:mod:`.observations`), mixed with ``--rendered`` sequences: generator frames rendered and seen
by the real mediapipe backend (:mod:`.rendered_set`), a ``--rendered-fraction`` of each batch.
Training mode throughout (clips of ``clip_len`` frames, every stride-1 window in parallel); the
saved checkpoint runs in streaming mode unchanged. The checkpoint's metadata records the data
(seeds), steps, wall time and the figures on held-out generator people (seeds above the training
ones) with simulated observations.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.hmr.learned.config import LearnedHMRModelConfig, TemporalConfig
from onlinehmr_ros.core.hmr.learned.model import CausalHMRNet, HMRPrediction, load_checkpoint, save_checkpoint
from onlinehmr_ros.core.hmr.learned.rotations import axis_angle_from_rotmat
from onlinehmr_ros.training.data import (ObservedPool, RealSequenceDataset, SequencePool, check_training_seeds,
                                         generator_people, generator_training_people, load_rendered_set,
                                         parse_seed_ranges, rendered_seeds, vertex_subset)
from onlinehmr_ros.training.evaluate import evaluate_net
from onlinehmr_ros.training.losses import LossWeights, hmr_losses
from onlinehmr_ros.training.observations import LandmarkNoiseModel, simulate_observations
from onlinehmr_ros.training.reduced_body import TrainingBodyModel


def posed_for_loss(pred: HMRPrediction, tbm: TrainingBodyModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame joints (..., 24, 3) and kept vertices (..., V', 3) of a prediction (differentiable)."""
    aa = axis_angle_from_rotmat(pred.rotmat)
    joints, verts = tbm(pred.betas, aa[..., 0, :], aa[..., 1:, :].flatten(-2))
    shift = (pred.pelvis_cam_m - joints[..., 0, :])[..., None, :]
    return joints + shift, verts + shift


@dataclass(frozen=True)
class TrainConfig:
    """Training run settings."""

    steps: int = 2000
    max_minutes: float = 12.0          # stop earlier when this wall time is reached
    stop_after: int = 0                # > 0: stop after this many steps (the schedule still spans ``steps``)
    batch_size: int = 12               # clips per step
    clip_len: int = 24                 # frames per clip (velocity/acceleration losses run across its windows)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    seeds: tuple[int, ...] = tuple(range(20000, 20200))   # generator training seeds (never 7000-7999)
    sequence_frames: int = 240
    eval_sequences: int = 12           # held-out generator seeds: max(seeds) + 1 ...
    eval_frames: int = 300
    rendered_fraction: float = 0.3     # share of each batch from the rendered set (when given)
    threads: int = 1
    model: LearnedHMRModelConfig = field(default_factory=lambda: LearnedHMRModelConfig(
        temporal=TemporalConfig(window=16, depth=2, dim=64, num_heads=4)))
    weights: LossWeights = field(default_factory=LossWeights)
    noise: LandmarkNoiseModel = field(default_factory=LandmarkNoiseModel)


def synthetic_eval_set(body_model, cfg: TrainConfig, seed: int = 12345):
    """Held-out generator people (seeds after the training seeds) with fixed simulated observations."""
    rng = np.random.default_rng(seed)
    out = []
    s = max(cfg.seeds) + 1
    while len(out) < cfg.eval_sequences:
        for seq in generator_people(body_model, s, cfg.eval_frames)[:cfg.eval_sequences - len(out)]:
            out.append((seq, simulate_observations(seq, rng, cfg.noise)))
        s += 1
    return out


def train(cfg: TrainConfig, body_model, pool: SequencePool, progress: bool = True,
          net: CausalHMRNet | None = None, rendered: ObservedPool | None = None) -> tuple[CausalHMRNet, dict]:
    """Optimise the network on clips from ``pool``; returns the network and a summary."""
    from tqdm import tqdm

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    net = net if net is not None else CausalHMRNet(cfg.model)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(      # linear warm-up, then cosine decay to 5 %
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, s / cfg.steps)))))
    tbm = TrainingBodyModel(body_model, vertex_subset(body_model.num_vertices))
    t0 = time.monotonic()
    history = []
    bar = tqdm(range(cfg.steps), disable=not progress, desc='train', unit='step')
    step = 0
    skipped = 0
    for step in bar:
        n_real = int(rng.binomial(cfg.batch_size, cfg.rendered_fraction)) if rendered is not None else 0
        parts = [p.sample_batch(rng, n, cfg.clip_len) for p, n in ((pool, cfg.batch_size - n_real),
                                                                    (rendered, n_real)) if n]
        batch = {k: torch.cat([part[k].to(parts[0][k].dtype) for part in parts]) for k in parts[0]}
        pred = net.forward_windows({'landmarks': batch['landmarks'], 'box': batch['box']}, batch['frame_valid'])
        joints, verts = posed_for_loss(pred, tbm)
        total, terms = hmr_losses(
            {'joints_cam': joints, 'vertices_cam': verts, 'rotmat': pred.rotmat,
             'betas': pred.betas, 'joint_log_sigma': pred.joint_log_sigma},
            batch, cfg.weights)
        opt.zero_grad(set_to_none=True)
        total.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        if not (torch.isfinite(total) and torch.isfinite(gnorm)):
            skipped += 1                     # never apply a non-finite update; counted in the summary
            if skipped > max(10, cfg.steps // 100):
                raise FloatingPointError(f'{skipped} training steps had a non-finite loss or gradient (last '
                                         f'terms {({k: float(v) for k, v in terms.items()})}); lower --lr')
            sched.step()
            continue
        opt.step()
        sched.step()
        row = {k: float(v.detach()) for k, v in terms.items()}
        row['total'] = float(total.detach())
        history.append(row)
        if step % 10 == 0:
            bar.set_postfix(loss=f'{row["total"]:.3f}', l3d=f'{row["l_3d"]:.3f}', acc=f'{row["l_acc"]:.4f}')
        if time.monotonic() - t0 > cfg.max_minutes * 60 or step + 1 == cfg.stop_after:
            break
    net.eval()
    last = {k: float(np.mean([h[k] for h in history[-50:]])) for k in history[-1]}
    first = {k: float(np.mean([h[k] for h in history[:10]])) for k in history[0]}
    return net, {'steps_done': step + 1, 'steps_skipped_non_finite': skipped,
                 'train_seconds': time.monotonic() - t0, 'first_losses': first, 'final_losses': last}


def _parse(argv):
    ap = argparse.ArgumentParser(description='Train the learned causal HMR (landmark tokens).')
    ap.add_argument('--out', required=True, help='checkpoint path to write (.pt)')
    ap.add_argument('--steps', type=int, default=TrainConfig.steps)
    ap.add_argument('--minutes', type=float, default=TrainConfig.max_minutes, help='wall-time limit')
    ap.add_argument('--stop-after', type=int, default=0,
                    help='stop after N steps (the learning-rate schedule still spans --steps): repeats a run that '
                         'the wall-time limit stopped (its steps_done) without depending on the machine\'s speed')
    ap.add_argument('--batch-size', type=int, default=TrainConfig.batch_size)
    ap.add_argument('--clip-len', type=int, default=TrainConfig.clip_len)
    ap.add_argument('--lr', type=float, default=TrainConfig.lr)
    ap.add_argument('--window', type=int, default=16)
    ap.add_argument('--depth', type=int, default=2)
    ap.add_argument('--dim', type=int, default=64)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--seeds', default='20000-20199',
                    help='generator training seeds, e.g. 20000-20199 (never the report set 7000-7999)')
    ap.add_argument('--data-cache', default='out/training_people',
                    help='folder caching the generator people of each seed (made on first use)')
    ap.add_argument('--rendered', default='', help='rendered training set (python -m '
                    'onlinehmr_ros.training.rendered_set) mixed into every batch')
    ap.add_argument('--rendered-fraction', type=float, default=TrainConfig.rendered_fraction)
    ap.add_argument('--init', default='', help='start from this checkpoint (fine-tuning)')
    ap.add_argument('--sequence-frames', type=int, default=TrainConfig.sequence_frames)
    ap.add_argument('--eval-sequences', type=int, default=TrainConfig.eval_sequences)
    ap.add_argument('--w-vel', type=float, default=LossWeights.w_vel, help='lambda_5 of L_v')
    ap.add_argument('--w-acc', type=float, default=LossWeights.w_acc, help='lambda_6 of L_a')
    ap.add_argument('--no-velocity-losses', action='store_true', help='ablation: lambda_5 = lambda_6 = 0')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--real-data', default='', help='directory in the RealSequenceDataset layout (replaces '
                                                     'the synthetic training sequences)')
    ap.add_argument('--body-model-type', default='open', choices=('open', 'smpl', 'smplx'))
    ap.add_argument('--body-model-path', default=None)
    ap.add_argument('--no-progress', action='store_true')
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    weights = LossWeights(w_vel=0.0 if args.no_velocity_losses else args.w_vel,
                          w_acc=0.0 if args.no_velocity_losses else args.w_acc)
    model = LearnedHMRModelConfig(temporal=TemporalConfig(window=args.window, depth=args.depth, dim=args.dim,
                                                          num_heads=args.heads))
    seeds = tuple(check_training_seeds(parse_seed_ranges(args.seeds)))
    cfg = TrainConfig(steps=args.steps, max_minutes=args.minutes, stop_after=args.stop_after,
                      batch_size=args.batch_size,
                      clip_len=args.clip_len, lr=args.lr, seed=args.seed, seeds=seeds,
                      sequence_frames=args.sequence_frames, eval_sequences=args.eval_sequences,
                      threads=args.threads, model=model, weights=weights,
                      rendered_fraction=args.rendered_fraction if args.rendered else 0.0)
    bm_cfg = BodyModelConfig(type=args.body_model_type, path=args.body_model_path)
    body_model = load_body_model(bm_cfg)
    t0 = time.monotonic()
    if args.real_data:
        ds = RealSequenceDataset(args.real_data, body_model)
        sequences = [ds[i][0] for i in range(len(ds))]
        data_desc = f'{len(sequences)} sequences from {args.real_data} (observations simulated)'
    else:
        sequences = generator_training_people(body_model, seeds, cfg.sequence_frames, args.data_cache,
                                              progress=not args.no_progress)
        data_desc = (f'{len(sequences)} people of {len(seeds)} synthetic-generator sequences (seeds '
                     f'{seeds[0]}-{seeds[-1]}, not rendered) x {cfg.sequence_frames} frames, '
                     f'{args.body_model_type} body model, mediapipe-calibrated simulated landmarks (fresh noise per clip)')
    rendered = None
    if args.rendered:
        pairs = load_rendered_set(args.rendered, body_model)
        rendered = ObservedPool(pairs)
        data_desc += (f'; {cfg.rendered_fraction:.0%} of each batch from {len(pairs)} rendered people with real '
                      f'mediapipe detections ({args.rendered}, seeds {rendered_seeds(args.rendered)})')
    data_seconds = time.monotonic() - t0
    print(f'data: {data_desc} ({data_seconds:.1f} s)')
    net = load_checkpoint(args.init)[0] if args.init else None
    net, summary = train(cfg, body_model, SequencePool(sequences, cfg.noise), progress=not args.no_progress,
                         net=net, rendered=rendered)
    eval_set = synthetic_eval_set(body_model, cfg)
    figures = evaluate_net(net, body_model, eval_set)
    n_params = sum(p.numel() for p in net.parameters())
    meta = {'data': data_desc, 'command': 'python -m onlinehmr_ros.training.train ' + ' '.join(argv or sys.argv[1:]),
            'init': args.init or None, 'body_model': args.body_model_type, 'train_config': repr(cfg),
            'loss_weights': dataclasses.asdict(weights), 'parameters': n_params, 'torch': str(torch.__version__),
            'threads': args.threads, 'data_seconds': data_seconds, **summary,
            'eval_synthetic': figures, 'eval_set': f'{cfg.eval_sequences} held-out generator people (seeds from '
                                                  f'{max(seeds) + 1}) x {cfg.eval_frames} frames, simulated '
                                                  'observations (seed 12345), streaming mode'}
    save_checkpoint(net, args.out, meta)
    print(f'trained {summary["steps_done"]} steps in {summary["train_seconds"]:.0f} s, {n_params} parameters')
    print('final losses:', {k: round(v, 5) for k, v in summary['final_losses'].items()})
    print('held-out synthetic (streaming):', {k: round(v, 4) if isinstance(v, float) else v
                                              for k, v in figures.items()})
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
