"""Landmark tracks from real video and the noise calibration of the landmark simulator.

:func:`video_landmark_track` runs the project's CPU perception backend
(mediapipe legacy pose, tracking mode) over a video and keeps the arrays.
:func:`calibrate_landmark_noise` measures how noisy those landmarks are from
frame to frame: it removes the smooth motion with a Savitzky-Golay filter
(window ``sg_window`` frames, order 2; short, so that the motion of
the person stays out of the residual), corrects the residual for the part of
white noise the filter itself keeps (``std(residual) / sqrt(1 - h0)``, ``h0``
the filter's centre tap) and reports

* the 2D noise std per landmark as a fraction of the box's long side (the
  median over the run),
* the 3D noise std per landmark in metres,
* the lag-1 autocorrelation of the residual (mediapipe smooths in tracking
  mode, so its noise is temporally correlated),
* the distribution of the visibility values.

The simulator (:class:`~onlinehmr_ros.training.observations.LandmarkNoiseModel`)
draws AR(1) noise with these statistics. Run ``python -m
onlinehmr_ros.training.calibration VIDEO`` to print them.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
from scipy.signal import savgol_coeffs, savgol_filter

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame


@dataclass(frozen=True)
class LandmarkTrack:
    """One person's landmarks over a video (frames without a detection have ``valid`` False)."""

    landmarks_px: np.ndarray     # (T, 33, 2) pixels (zeros where not valid)
    visibility: np.ndarray       # (T, 33) in [0, 1]
    landmarks_3d_m: np.ndarray   # (T, 33, 3) metres, hip-centred
    bbox_px: np.ndarray          # (T, 4) x0, y0, x1, y1
    valid: np.ndarray            # (T,) bool
    intrinsics: CameraIntrinsics
    fps: float



def append_first_person(people, lm: list, vis: list, l3: list, box: list, valid: list) -> None:
    """Append the first detected person's landmarks to the per-frame lists (zeros and valid=False if none)."""
    ok = bool(people) and bool(np.all(np.isfinite(people[0].bbox_px)))
    p = people[0] if ok else None
    lm.append(p.landmarks_px if ok else np.zeros((33, 2), np.float32))
    vis.append(p.visibility if ok else np.zeros(33, np.float32))
    l3.append(p.landmarks_3d_m if ok else np.zeros((33, 3), np.float32))
    box.append(p.bbox_px if ok else np.zeros(4, np.float32))
    valid.append(ok)

def video_landmark_track(path: str, hfov_deg: float = 60.0, max_frames: int | None = None) -> LandmarkTrack:
    """Run the single-person mediapipe backend (tracking mode) over a video file.

    Intrinsics: from ``hfov_deg`` (the video carries none), principal point at the centre.
    """
    from onlinehmr_ros.core.hmr.perception.mediapipe import MediapipeLegacyPoseBackend, MediapipePoseConfig
    from onlinehmr_ros.core.io.sources import VideoFileSource

    src = VideoFileSource(path)
    lm, vis, l3, box, valid = [], [], [], [], []
    intr = None
    with MediapipeLegacyPoseBackend(MediapipePoseConfig(segmentation=False)) as backend:
        for sf in src:
            if max_frames is not None and sf.index >= max_frames:
                break
            if intr is None:
                intr = CameraIntrinsics.from_fov(sf.image_rgb.shape[1], sf.image_rgb.shape[0], hfov_deg)
            append_first_person(backend.detect(Frame(sf.image_rgb, sf.stamp_ns, intr, sf.index)),
                                lm, vis, l3, box, valid)
    return LandmarkTrack(np.stack(lm), np.stack(vis), np.stack(l3), np.stack(box), np.array(valid), intr, src.fps)


@dataclass(frozen=True)
class NoiseCalibration:
    """Measured frame-to-frame noise of a landmark track (see module docstring)."""

    noise_2d_box_frac: np.ndarray    # (33,) std of the 2D noise / box long side
    noise_3d_m: np.ndarray           # (33, 3) std of the 3D noise per axis, metres
    lag1_autocorr_2d: float          # lag-1 autocorrelation of the 2D residual
    lag1_autocorr_3d: float
    visibility_quantiles: np.ndarray  # (5,) 5/25/50/75/95 % quantiles of all visibility values
    frames_used: int


def _longest_valid_run(valid: np.ndarray) -> slice:
    best, start = (0, 0), None
    for i, v in enumerate(list(valid) + [False]):
        if v and start is None:
            start = i
        if not v and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return slice(*best)


def calibrate_landmark_noise(track: LandmarkTrack, sg_window: int = 5) -> NoiseCalibration:
    """Frame-to-frame noise statistics of ``track`` (its longest run of valid frames)."""
    run = _longest_valid_run(track.valid)
    n = run.stop - run.start
    if n < 3 * sg_window:
        raise ValueError(f'need at least {3 * sg_window} consecutive detections to calibrate, got {n}')
    h0 = float(savgol_coeffs(sg_window, 2)[sg_window // 2])
    gain = 1.0 / np.sqrt(1.0 - h0)
    lm = track.landmarks_px[run].astype(np.float64)
    box = track.bbox_px[run].astype(np.float64)
    # one scale for the run: the box of visible landmarks jumps when visibilities toggle
    size = float(np.median(np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])))
    lm_n = lm / size
    res2 = lm_n - savgol_filter(lm_n, sg_window, 2, axis=0)
    l3 = track.landmarks_3d_m[run].astype(np.float64)
    res3 = l3 - savgol_filter(l3, sg_window, 2, axis=0)
    sl = slice(sg_window, n - sg_window)      # ignore the filter's edge frames
    res2, res3 = res2[sl], res3[sl]

    def lag1(r):
        r = r - r.mean(axis=0)
        return float(np.sum(r[1:] * r[:-1]) / np.sum(r * r))

    noise2 = np.sqrt(np.mean(res2 ** 2, axis=(0, 2))) * gain
    noise3 = res3.std(axis=0) * gain
    q = np.quantile(track.visibility[run], [0.05, 0.25, 0.5, 0.75, 0.95])
    return NoiseCalibration(noise2, noise3, lag1(res2), lag1(res3), q, n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('video', nargs='?', default='/usr/share/doc/opencv-doc/examples/data/Megamind.avi')
    ap.add_argument('--hfov-deg', type=float, default=60.0)
    args = ap.parse_args(argv)
    track = video_landmark_track(args.video, args.hfov_deg)
    cal = calibrate_landmark_noise(track)
    np.set_printoptions(precision=4, suppress=True)
    print(f'{args.video}: {track.valid.sum()}/{len(track.valid)} frames with a detection, {cal.frames_used} used')
    print('2D noise std / box size, per landmark:', cal.noise_2d_box_frac)
    print(f'  median {np.median(cal.noise_2d_box_frac):.4f}  lag-1 autocorr {cal.lag1_autocorr_2d:.3f}')
    print('3D noise std (m) per landmark (x, y, z):\n', cal.noise_3d_m)
    print(f'  median per axis {np.median(cal.noise_3d_m, axis=0)}  lag-1 autocorr {cal.lag1_autocorr_3d:.3f}')
    print('visibility quantiles 5/25/50/75/95 %:', cal.visibility_quantiles)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
