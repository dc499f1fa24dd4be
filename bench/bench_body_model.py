"""Body-model forward time on the CPU (batch 1 and batch 8), open model and, where available, SMPL / SMPL-X.

Run from the repository root:
    python -m bench.bench_body_model [--smpl-path DIR] [--smplx-path DIR] [--threads 1]

SMPL / SMPL-X rows need the user's model files (licence: they are not
shipped); without a path they are reported as not available.
"""
from __future__ import annotations

import argparse
import time

import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.body.model import BodyModel, BodyModelError


def time_forward(model: BodyModel, batch: int, repeats: int, grad: bool = False) -> float:
    """Median wall time (ms) of one forward pass with random pose, shape and translation."""
    g = torch.Generator().manual_seed(0)
    p = {'betas': torch.randn(batch, model.num_betas, generator=g),
         'global_orient': torch.randn(batch, 3, generator=g) * 0.3,
         'body_pose': torch.randn(batch, 69, generator=g) * 0.3,
         'transl': torch.randn(batch, 3, generator=g)}
    if grad:
        for v in p.values():
            v.requires_grad_(True)
    times = []
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            out = model(**p)
            if grad:
                out.vertices.sum().backward()
            if i >= 2:  # 2 warm-up runs
                times.append(time.perf_counter() - t0)
    times.sort()
    return 1000.0 * times[len(times) // 2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--smpl-path', default=None, help='directory with SMPL_NEUTRAL.pkl')
    ap.add_argument('--smplx-path', default=None, help='directory with SMPLX_NEUTRAL.npz')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    ap.add_argument('--repeats', type=int, default=30)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    configs = [('open', BodyModelConfig()),
               ('smpl', BodyModelConfig(type='smpl', path=args.smpl_path)),
               ('smplx', BodyModelConfig(type='smplx', path=args.smplx_path))]
    print(f'body-model forward on CPU, torch {torch.__version__}, {args.threads} thread(s), '
          f'median of {args.repeats} runs, float32')
    print(f'{"model":7s} {"V":>6s} {"B=1 ms":>8s} {"B=8 ms":>8s} {"B=8 ms/body":>12s} '
          f'{"B=8/B=1":>8s} {"B=1 fwd+bwd ms":>15s}')
    for name, cfg in configs:
        if cfg.type != 'open' and not cfg.path:
            print(f'{name:7s} not available: no --{name}-path given (SMPL/SMPL-X files are not shipped)')
            continue
        try:
            m = load_body_model(cfg)
        except BodyModelError as exc:
            print(f'{name:7s} not available: {exc}')
            continue
        t1 = time_forward(m, 1, args.repeats)
        t8 = time_forward(m, 8, args.repeats)
        tg = time_forward(m, 1, max(5, args.repeats // 3), grad=True)
        print(f'{name:7s} {m.num_vertices:6d} {t1:8.2f} {t8:8.2f} {t8 / 8:12.2f} {t8 / t1:8.2f} {tg:15.2f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
