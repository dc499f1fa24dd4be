"""`make bench`: every benchmark, one after the other, figures printed (and JSON where a bench writes it).

    python -m bench.run_all [--out out/bench] [--quick]

Benchmarks print figures; none of them passes or fails. Timings on a shared or
loaded machine are noisy: compare ratios measured within one run.
"""
from __future__ import annotations

import argparse
import importlib
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='out/bench')
    ap.add_argument('--quick', action='store_true', help='shorter runs (300 pipeline frames)')
    args = ap.parse_args(argv)
    frames = '300' if args.quick else '3000'
    plan = [
        ('bench.bench_marker_cdr', ['--json', f'{args.out}/marker_cdr.json']),
        ('bench.bench_body_model', []),
        ('bench.bench_fusion', []),
        ('bench.bench_soft_mask', ['--repeats', '10' if args.quick else '30']),
        ('bench.bench_pipeline', ['--frames', frames, '--out', args.out]),
        # the graph composed in one process vs one process per node (ros2 launch), lockstep and at the camera's rate
        ('bench.bench_graph', ['--frames', '120' if args.quick else '300']),
        ('bench.bench_hmr', ['--frames', '270']),
        # perception and estimation of the hmr stage in two threads vs one after the other (ratio, same frames)
        ('bench.bench_staged_hmr', ['--frames', '100' if args.quick else '150']),
        ('bench.bench_fit_jacobian', ['--frames', '150']),
        ('bench.bench_slam', []),
        ('bench.bench_learned_hmr', ['--frames', frames]),
        # 10,000 looped frames through the composed graph: RSS and ms/frame per 1,000 (about 25 min here)
        ('bench.bench_soak', ['--frames', '1000', '--block', '200'] if args.quick else []),
        # robot + workstation over a veth pair (root only; says why and goes on otherwise)
        ('bench.split_graph', ['--json', f'{args.out}/split_graph.json'] + (['--phase-s', '4'] if args.quick else [])),
    ]
    import pathlib
    pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)
    for module, module_args in plan:
        print(f'\n=== {module} {" ".join(module_args)} ===', flush=True)
        t0 = time.perf_counter()
        rc = importlib.import_module(module).main(module_args)
        print(f'=== {module}: {time.perf_counter() - t0:.0f} s (rc {rc or 0}) ===', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
