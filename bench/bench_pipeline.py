"""The whole in-process pipeline: per-stage and end-to-end ms/frame (p50, p95), fps, constant cost, peak RSS.

    python -m bench.bench_pipeline [--frames 3000] [--video Megamind.avi] [--width 640] [--out out/bench]
                                   [--jacobian analytic forward_difference]

--jacobian with several values runs one round per value, interleaved (``--rounds`` times), on the same
frames in one process, and prints each round's table and the ratio of the fitting / total means to the
first value's (the fitter's Jacobian, FitterConfig.jacobian).

The video is looped (a hard cut at every loop, which SLAM must survive) and resized to
--width, stamps keep increasing. Early vs late is the mean total of the first and last
300 frames (constant cost per frame: the ratio should stay near 1). Figures, not a test.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import time

import cv2
import numpy as np

MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'


def _frames(path: str, width: int) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        size = (width, int(round(h * width / w)))
        out.append(np.ascontiguousarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)[:, :, ::-1]))
    if not out:
        raise SystemExit(f'cannot read {path}')
    return out, fps


def main(argv=None) -> int:
    from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
    from onlinehmr_ros.core.hmr.camera_hmr import HMRConfig
    from onlinehmr_ros.core.hmr.fitting import JACOBIANS, FitterConfig
    from onlinehmr_ros.core.pipeline import Pipeline, PipelineConfig
    from onlinehmr_ros.eval.benchmark import format_timing_table, timing_summary, write_json

    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=3000)
    ap.add_argument('--video', default=MEGAMIND)
    ap.add_argument('--width', type=int, default=640)
    ap.add_argument('--max-people', type=int, default=1)
    ap.add_argument('--out', default='out/bench')
    ap.add_argument('--jacobian', nargs='+', choices=JACOBIANS, default=[FitterConfig().jacobian],
                    help="the fitter's Jacobian; several: interleaved rounds, ratios to the first")
    ap.add_argument('--rounds', type=int, default=1, help='rounds of every --jacobian value')
    args = ap.parse_args(argv)
    images, fps = _frames(args.video, args.width)
    h, w = images[0].shape[:2]
    intr = CameraIntrinsics.from_fov(w, h, 60.0)
    means = {j: [] for j in args.jacobian}
    for rnd in range(args.rounds):
        for jac in args.jacobian:
            pipeline = Pipeline(PipelineConfig(hmr=HMRConfig(max_people=args.max_people,
                                                             fitter=FitterConfig(jacobian=jac))))
            timings = []
            t0 = time.perf_counter()
            for i in range(args.frames):
                out = pipeline.process(Frame(images[i % len(images)], int(i * 1e9 / fps), intr, i))
                timings.append(out.timings_ms)
            wall = time.perf_counter() - t0
            pipeline.close()
            summary = timing_summary(timings)
            print(f'pipeline on {pathlib.Path(args.video).name} at {w}x{h}, {args.frames} frames, '
                  f'max_people={args.max_people}, jacobian={jac} (round {rnd + 1}), wall {wall:.1f} s '
                  f'({args.frames / wall:.1f} fps incl. overhead)')
            print(format_timing_table(summary))
            stage_mean = {st.name: st.mean_ms for st in summary.stages}
            means[jac].append({k: stage_mean[k] for k in ('hmr/fitting', 'hmr', 'total')})
    if len(args.jacobian) > 1:
        ref = args.jacobian[0]
        for jac in args.jacobian[1:]:
            for rnd in range(args.rounds):
                a, b = means[ref][rnd], means[jac][rnd]
                print(f'round {rnd + 1}: {jac} / {ref}: ' + ', '.join(
                    f'{k} {b[k]:.1f} / {a[k]:.1f} ms = {b[k] / a[k]:.2f}' for k in a))
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    path = write_json(pathlib.Path(args.out) / 'pipeline.json', summary,
                      {'commit': commit, 'video': args.video, 'width': w, 'height': h, 'wall_s': wall})
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
