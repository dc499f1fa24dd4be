"""Camera-space HMR serial (``CameraHMR.process``) vs two concurrent stages (``StagedHMR``): throughput, same frames.

    python -m bench.bench_staged_hmr [--frames 150] [--rounds 2]

Rows: Megamind.avi (one person in front, the node defaults max_people 6) and the three-person 2x2 mosaic of
bench_hmr (max_people 3). Each round runs serial then staged on the same frames in one process; all images
are queued at once (nothing dropped), so the figure is the throughput the stages sustain, ms per image.
The ratio staged / serial is the figure to read (< 1: the stages overlap); it needs a second idle core
(on a machine busy with other work there is nothing to overlap with). Outputs must be identical to serial's.
Figures, not a test.
"""
from __future__ import annotations

import os

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import argparse  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from bench.bench_hmr import mosaic, read_video, to_frames  # noqa: E402
from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig  # noqa: E402
from onlinehmr_ros.core.hmr.staged import StagedHMR  # noqa: E402


def _serial(config: HMRConfig, frames) -> tuple[float, list]:
    hmr = CameraHMR(config)
    hmr.process(frames[0])          # warm-up (graph start-up, first network call)
    hmr.reset()
    t = time.perf_counter()
    outs = [hmr.process(f) for f in frames]
    dt = time.perf_counter() - t
    hmr.close()
    return dt, outs


def _staged(config: HMRConfig, frames) -> tuple[float, list]:
    hmr = CameraHMR(config)
    hmr.process(frames[0])
    hmr.reset()
    outs, errors, done = [], [], threading.Event()

    def on_output(frame, out, tag):
        outs.append(out)
        if len(outs) == len(frames):
            done.set()

    staged = StagedHMR(hmr, on_output, lambda stamp, exc: errors.append((stamp, exc)), depth=len(frames))
    t = time.perf_counter()
    for f in frames:
        staged.submit(f)
    done.wait(900)
    dt = time.perf_counter() - t
    staged.close()
    if errors:
        raise SystemExit(f'staged run failed: {errors[:3]}')
    return dt, outs


def _identical(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        [h.track_id for h in x.humans.humans] == [h.track_id for h in y.humans.humans]
        and all(np.array_equal(p.joints, q.joints) for p, q in zip(x.humans.humans, y.humans.humans))
        for x, y in zip(a, b))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=150)
    ap.add_argument('--rounds', type=int, default=2)
    args = ap.parse_args(argv)
    images, fps = read_video('Megamind.avi', max(args.frames, 181))
    rows = [('Megamind, max_people 6', HMRConfig(max_people=6), to_frames(images[:args.frames], fps)),
            ('3-person mosaic, max_people 3', HMRConfig(max_people=3), to_frames(mosaic(images)[:args.frames], fps))]
    print(f'{"row":<32} {"round":>5} {"serial ms":>9} {"staged ms":>9} {"ratio":>6} {"identical":>9}')
    for name, config, frames in rows:
        for rnd in range(args.rounds):
            a, oa = _serial(config, frames)
            b, ob = _staged(config, frames)
            print(f'{name:<32} {rnd + 1:>5} {1e3 * a / len(frames):9.1f} {1e3 * b / len(frames):9.1f} '
                  f'{b / a:6.2f} {str(_identical(oa, ob)):>9}', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
