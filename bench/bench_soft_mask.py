"""The soft mask's cost and its error against the exact formula, per blur resolution (issue 15).

    python -m bench.bench_soft_mask [--repeats 30]

The union mask is Megamind's (mediapipe selfie segmentation of its first frames) resized to 640x480 and
1280x720; each row times compute_soft_mask with one ``blur_scale`` (1.0 = the exact formula), the rows
interleaved in one run (compare ratios), and gives the largest and mean absolute difference to the
exact C_soft. Figures, not a test.
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'


def _megamind_masks(count: int) -> list[np.ndarray]:
    from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
    from onlinehmr_ros.core.mask.segmentation import HumanMaskStage
    cap = cv2.VideoCapture(MEGAMIND)
    stage, out = HumanMaskStage(), []
    for i in range(count * 10):
        ok, bgr = cap.read()
        if not ok:
            break
        if i % 10:
            continue
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        h, w = rgb.shape[:2]
        out.append(stage.process(Frame(rgb, i, CameraIntrinsics.from_fov(w, h, 60.0))).human_mask)
    stage.close() if hasattr(stage, 'close') else None
    if not out:
        raise SystemExit(f'cannot read {MEGAMIND}')
    return out


def main(argv=None) -> int:
    from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig, compute_soft_mask
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--repeats', type=int, default=30)
    args = ap.parse_args(argv)
    masks = _megamind_masks(5)
    scales = (1.0, 0.5, 0.25)
    print(f'{"size":>9} {"blur_scale":>10} {"ms p50":>7} {"ratio":>6} {"max |err|":>9} {"mean |err|":>10}')
    for w, h in ((640, 480), (1280, 720)):
        ims = [(cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)) for m in masks]
        ms = {s: [] for s in scales}
        for _ in range(args.repeats):
            for s in scales:                                   # interleaved: the same load for every row
                cfg = SoftMaskConfig(blur_scale=s)
                for im in ims:
                    t0 = time.perf_counter()
                    compute_soft_mask(im, cfg)
                    ms[s].append((time.perf_counter() - t0) * 1e3)
        exact = [compute_soft_mask(im, SoftMaskConfig(blur_scale=1.0)) for im in ims]
        for s in scales:
            err = np.concatenate([np.abs(compute_soft_mask(im, SoftMaskConfig(blur_scale=s)) - e).ravel()
                                  for im, e in zip(ims, exact)])
            p50 = float(np.median(ms[s]))
            print(f'{w}x{h:<4} {s:>10.2f} {p50:7.2f} {p50 / float(np.median(ms[1.0])):6.2f} {err.max():9.4f} '
                  f'{err.mean():10.5f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
