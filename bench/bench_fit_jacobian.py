"""The fitter's Jacobian: paired per-fit ms of FitterConfig.jacobian 'forward_difference' vs 'analytic' on a video.

    python -m bench.bench_fit_jacobian [--frames 150] [--video Megamind.avi] [--width 640]

Perception and tracking run once (CameraHMR, one person); every fit they asked for is then repeated by one
fitter per Jacobian, in alternating order, so both see the same load. Prints each fitter's ms per fit, the
per-fit ratio and how far apart the two fits' joints are. Figures, not a test.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench.bench_pipeline import MEGAMIND, _frames


def main(argv=None) -> int:
    from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
    from onlinehmr_ros.core.common.threads import limit_blas_threads
    from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig
    from onlinehmr_ros.core.hmr.fitting import JACOBIANS, BodyFitter, FitterConfig

    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=150)
    ap.add_argument('--video', default=MEGAMIND)
    ap.add_argument('--width', type=int, default=640)
    args = ap.parse_args(argv)
    note = limit_blas_threads()
    images, fps = _frames(args.video, args.width)
    h, w = images[0].shape[:2]
    intr = CameraIntrinsics.from_fov(w, h, 60.0)
    calls = []
    with CameraHMR(HMRConfig(max_people=1)) as hmr:
        fit = hmr.fitter.fit

        def recording_fit(*a, **kw):
            calls.append((a, kw))
            return fit(*a, **kw)

        hmr.fitter.fit = recording_fit
        for i in range(args.frames):
            hmr.process(Frame(images[i % len(images)], int(i * 1e9 / fps), intr, i))
        model = hmr.body_model
    if len(calls) < 2:
        raise SystemExit(f'only {len(calls)} fits in {args.frames} frames: nobody to fit')
    fitters = {j: BodyFitter(model, FitterConfig(jacobian=j)) for j in JACOBIANS}
    ms = {j: [] for j in fitters}
    joints = {j: [] for j in fitters}
    iterations = {j: [] for j in fitters}
    for c, (a, kw) in enumerate(calls):
        for j in (JACOBIANS if c % 2 == 0 else JACOBIANS[::-1]):
            t0 = time.perf_counter()
            res = fitters[j].fit(*a, **kw)
            ms[j].append(1e3 * (time.perf_counter() - t0))
            joints[j].append(res.joints)
            iterations[j].append(res.iterations)
    print(f'{len(calls)} fits on {args.video} at {w}x{h} ({note}); the first (a new track) left out of the ms')
    for j in JACOBIANS:
        x = np.array(ms[j][1:])
        print(f'  {j:18s} ms per fit: mean {x.mean():6.2f}  p50 {np.median(x):6.2f}  p95 {np.percentile(x, 95):6.2f}  '
              f'iterations median {np.median(iterations[j]):.0f}')
    ratio = np.array(ms['analytic'][1:]) / np.array(ms['forward_difference'][1:])
    d = 1e3 * np.linalg.norm(np.stack(joints['analytic']) - np.stack(joints['forward_difference']), axis=-1)
    print(f'  analytic / forward_difference per fit: median {np.median(ratio):.3f} '
          f'(ratio of means {np.mean(ms["analytic"][1:]) / np.mean(ms["forward_difference"][1:]):.3f})')
    print(f'  joints analytic vs forward_difference: mean {d.mean():.4f} mm, max {d.max():.4f} mm')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
