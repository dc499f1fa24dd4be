"""Benchmark of camera-space online HMR (perception, tracking, causal fitting) on the CPU.

    python -m bench.bench_hmr [--frames N] [--skip-vtest] [--long-frames N] [--sections 1,5]

Prints:
  1. Megamind.avi (one person): ms/frame per stage, fps end to end, for the one-person path of
     before issue 14 (mediapipe's legacy single-person solution) and for the multi-person defaults
     (BlazePose detect-then-follow, ``max_people=6``, ``small_people='auto'``), in the same run, and
     their ratio ("one person must stay as fast as now").
  2. A three-person mosaic of Megamind.avi (2x2 grid, three cells at different times),
     ``max_people=3`` (detect-then-follow): ms/frame per stage, fps.
  3. Smoothness on Megamind.avi with vs without the temporal terms (same perception
     output replayed): Accel, Jitter, share of spectral energy above 10 Hz (STFT,
     Hann) from ``onlinehmr_ros.eval.metrics``, and the lag between the two (cross-correlation).
  4. Fit accuracy on synthetic people (open body model posed at random, landmarks
     projected with noise): MPJPE and PA-MPJPE (mm).
  5. vtest.avi small people: detect-then-follow with ``small_people`` off / auto / on.
  6. (--long-frames N) constant cost per frame: tracking + fitting + mesh over N frames
     (Megamind observations replayed), first vs last 300 frames and RSS.

Single-threaded BLAS/torch/OpenCV (set below, before numpy loads): the fitter's
matrices are small, and multi-threaded BLAS on them only adds contention.
"""
from __future__ import annotations

import os

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

import argparse  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model  # noqa: E402
from onlinehmr_ros.core.common.datatypes import Frame  # noqa: E402
from onlinehmr_ros.core.common.geometry import project_points, similarity_transform_points, umeyama  # noqa: E402
from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig, default_intrinsics, make_backend  # noqa: E402
from onlinehmr_ros.core.hmr.fitting import BodyFitter, FitterConfig  # noqa: E402
from onlinehmr_ros.core.hmr.perception.follow import (SMALL_PEOPLE_MODES, FollowConfig,  # noqa: E402
                                                     FollowingPoseBackend)
from onlinehmr_ros.core.hmr.perception.mediapipe import MediapipeLegacyPoseBackend, MediapipePoseConfig  # noqa: E402
from onlinehmr_ros.core.hmr.perception.observation import (PersonObservation, PoseBackend,  # noqa: E402
                                                           bbox_from_landmarks)
from onlinehmr_ros.eval import metrics  # noqa: E402

DATA = pathlib.Path('/usr/share/doc/opencv-doc/examples/data')


class RecordingBackend(PoseBackend):
    """Wraps a backend and keeps what it returned (for replays with other fitter settings)."""

    def __init__(self, inner: PoseBackend):
        self.inner = inner
        self.recorded: list[list[PersonObservation]] = []

    def detect(self, frame):
        out = self.inner.detect(frame)
        self.recorded.append(out)
        return out

    def reset(self):
        self.inner.reset()

    def close(self):
        self.inner.close()


class ReplayBackend(PoseBackend):
    """Returns recorded observations by frame index."""

    def __init__(self, recorded):
        self.recorded = recorded

    def detect(self, frame):
        return self.recorded[frame.index % len(self.recorded)]


def read_video(name: str, max_frames: int) -> tuple[list[np.ndarray], float]:
    path = DATA / name
    if not path.is_file():
        raise SystemExit(f'{path} not found: install opencv-doc (make setup does)')
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while len(frames) < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames, fps


def to_frames(images, fps):
    intr = default_intrinsics(images[0].shape[1], images[0].shape[0])
    return [Frame(img, int(i * 1e9 / fps), intr, i) for i, img in enumerate(images)]


def timed_run(hmr: CameraHMR, frames) -> tuple[list, np.ndarray]:
    """Process frames; returns the outputs and the process CPU time per frame (ms, all threads)."""
    outs, cpu = [], []
    for f in frames:
        c0 = time.process_time()
        outs.append(hmr.process(f))
        cpu.append(1e3 * (time.process_time() - c0))
    return outs, np.array(cpu)


def stage_table(title: str, outputs, cpu_ms: np.ndarray) -> None:
    keys = ('perception', 'tracking', 'fitting', 'total')
    t = {k: np.array([o.timings_ms[k] for o in outputs]) for k in keys}
    people = np.array([len(o.humans.humans) for o in outputs])
    print(f'\n{title}')
    print(f'  frames {len(outputs)}, people tracked per frame: mean {people.mean():.2f}, max {people.max()}')
    print('  stage        mean ms   median ms   p90 ms')
    for k in keys:
        print(f'  {k:<11} {t[k].mean():8.1f} {np.median(t[k]):10.1f} {np.percentile(t[k], 90):8.1f}')
    print(f'  fps end to end (1000 / mean total): {1000.0 / t["total"].mean():.1f}')
    print(f'  process CPU time per frame (all threads): mean {cpu_ms.mean():.1f} ms '
          f'(-> {1000.0 / cpu_ms.mean():.1f} fps if one core were free for this process)')


def track_joints(outputs, track_id: int = 0):
    """Longest run of consecutive frames where ``track_id`` is present -> (F, 24, 3) joints."""
    runs, cur = [], []
    for o in outputs:
        h = [x for x in o.humans.humans if x.track_id == track_id]
        if h:
            cur.append(h[0].joints.astype(np.float64))
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return np.stack(max(runs, key=len)) if runs else np.zeros((0, 24, 3))


def smoothness(outputs_with, outputs_without, fps: float) -> None:
    a = track_joints(outputs_with)
    b = track_joints(outputs_without)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    print(f'\n3. Smoothness on Megamind.avi, track 0, {n} consecutive frames at {fps:.2f} fps '
          '(onlinehmr_ros.eval.metrics)')
    print('  signal                      setting    Accel m/s^2  Jitter 10m/s^3  HF>10Hz share')
    rows = {}
    for sig_name, fn in (('pelvis-relative joints', lambda j: j - j[:, :1]), ('root (camera frame)', lambda j: j[:, :1])):
        for name, j in (('without', b), ('with', a)):
            s = fn(j)
            rows[(sig_name, name)] = (metrics.acceleration(s, fps).mean(), metrics.jitter(s, fps).mean(),
                                      metrics.high_frequency_share(s, fps))
            r = rows[(sig_name, name)]
            print(f'  {sig_name:<27} {name:<9} {r[0]:12.2f} {r[1]:15.2f} {r[2]:14.4f}')
        w, wo = rows[(sig_name, 'with')], rows[(sig_name, 'without')]
        print(f'  {sig_name:<27} ratio     {w[0] / wo[0]:12.2f} {w[1] / wo[1]:15.2f} {w[2] / max(wo[2], 1e-12):14.2f}')
        lag_s = metrics.signal_lag(fn(b), fn(a), fps, max_lag_s=1.0)
        print(f'  {sig_name:<27} lag of with behind without: {lag_s * fps:+.2f} frames')


def fit_accuracy(model, n_people: int = 40) -> None:
    intr = default_intrinsics(640, 480)
    print(f'\n4. Fit accuracy on synthetic people ({model.name} body model, {n_people} random poses, '
          '640x480, 60 deg HFOV, 3-5 m away, first-frame fit)')
    print('  noise (2D px, 3D m)    MPJPE mm   PA-MPJPE mm   root depth err mm   ms/fit')
    for noise_px, noise_m in ((0.0, 0.0), (1.0, 0.01), (3.0, 0.03)):
        rng = np.random.default_rng(0)
        fitter = BodyFitter(model)
        e, pa, dz, ms = [], [], [], []
        for k in range(n_people):
            bp = rng.normal(scale=0.25, size=69)
            go = np.array([np.pi + rng.normal(scale=0.2), rng.normal(scale=0.6), rng.normal(scale=0.1)])
            be = rng.normal(scale=0.7, size=model.num_betas)
            tr = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.2, 0.3), rng.uniform(3.0, 5.0)])
            with torch.no_grad():
                out = model(*(torch.as_tensor(a, dtype=model.dtype) for a in (be, go, bp, tr)))
            J = out.joints.numpy().astype(np.float64)
            L = out.landmarks_mediapipe.numpy().astype(np.float64)
            uv, _ = project_points(intr.K, L)
            uv = uv + rng.normal(scale=noise_px, size=uv.shape) if noise_px else uv
            l3 = L - 0.5 * (L[23] + L[24])
            l3 = l3 + rng.normal(scale=noise_m, size=l3.shape) if noise_m else l3
            vis = np.full(33, 0.95)
            obs = PersonObservation(uv, vis, l3, None, bbox_from_landmarks(uv, vis), 0.95)
            t0 = time.perf_counter()
            fit = fitter.fit(k, obs, intr, 0)
            ms.append(1e3 * (time.perf_counter() - t0))
            pj = fit.joints.astype(np.float64)
            e.append(1e3 * np.linalg.norm(pj - J, axis=1).mean())
            s, R, t = umeyama(pj, J)
            pa.append(1e3 * np.linalg.norm(similarity_transform_points(s, R, t, pj) - J, axis=1).mean())
            dz.append(1e3 * abs(pj[0, 2] - J[0, 2]))
        print(f'  ({noise_px:.0f}, {noise_m:.2f})              {np.mean(e):8.1f} {np.mean(pa):12.1f} '
              f'{np.mean(dz):18.1f} {np.mean(ms):9.1f}')
    wrong_fov(model, intr)


def wrong_fov(model, true_intr, n_people: int = 10) -> None:
    """Fit with a wrong field of view: how depth and pose respond (1 px / 1 cm noise)."""
    print('  wrong intrinsics (true HFOV 60 deg): assumed HFOV -> mean depth ratio (fit / true), PA-MPJPE mm')
    for hfov in (45.0, 60.0, 75.0):
        assumed = default_intrinsics(true_intr.width_px, true_intr.height_px, hfov)
        rng = np.random.default_rng(1)
        fitter = BodyFitter(model)
        ratio, pa = [], []
        for k in range(n_people):
            bp = rng.normal(scale=0.25, size=69)
            go = np.array([np.pi + rng.normal(scale=0.2), rng.normal(scale=0.6), 0.0])
            tr = np.array([rng.uniform(-0.5, 0.5), 0.1, rng.uniform(3.0, 5.0)])
            with torch.no_grad():
                out = model(*(torch.as_tensor(a, dtype=model.dtype)
                              for a in (np.zeros(model.num_betas), go, bp, tr)))
            J = out.joints.numpy().astype(np.float64)
            L = out.landmarks_mediapipe.numpy().astype(np.float64)
            uv = project_points(true_intr.K, L)[0] + rng.normal(scale=1.0, size=(33, 2))
            l3 = L - 0.5 * (L[23] + L[24]) + rng.normal(scale=0.01, size=(33, 3))
            vis = np.full(33, 0.95)
            fit = fitter.fit(k, PersonObservation(uv, vis, l3, None, bbox_from_landmarks(uv, vis), 0.95), assumed, 0)
            pj = fit.joints.astype(np.float64)
            ratio.append(pj[0, 2] / J[0, 2])
            s, R, t = umeyama(pj, J)
            pa.append(1e3 * np.linalg.norm(similarity_transform_points(s, R, t, pj) - J, axis=1).mean())
        f_ratio = assumed.fx / true_intr.fx
        print(f'    {hfov:4.0f} deg (focal x{f_ratio:.2f}): depth x{np.mean(ratio):.2f}, PA-MPJPE {np.mean(pa):.1f} mm')


def mosaic(images, offsets=(0, 90, 180)):
    """2x2 grid of half-size frames: three cells show the video at different times, one is black."""
    H, W = images[0].shape[:2]
    h, w = H // 2, W // 2
    out = []
    n = len(images)
    for i in range(n):
        canvas = np.zeros((2 * h, 2 * w, 3), dtype=np.uint8)
        for c, off in enumerate(offsets):
            cell = cv2.resize(images[(i + off) % n], (w, h), interpolation=cv2.INTER_AREA)
            canvas[(c // 2) * h:(c // 2 + 1) * h, (c % 2) * w:(c % 2 + 1) * w] = cell
        out.append(canvas)
    return out


def small_people(n_frames: int) -> None:
    images, fps = read_video('vtest.avi', n_frames)
    frames = to_frames(images, fps)
    print(f'\n5. Small people: vtest.avi, first {len(frames)} frames ({images[0].shape[1]}x{images[0].shape[0]}), '
          'detect-then-follow, max_people=6 (perception only)')
    print('  small_people   frames with >=1   people/frame   ms/frame   CPU ms/frame   detector calls/frame')
    for mode in ('off', 'auto', 'on'):
        assert mode in SMALL_PEOPLE_MODES
        backend = FollowingPoseBackend(FollowConfig(), max_people=6, small_people=mode)
        counts, ms, cpu, det = [], [], [], []
        for fr in frames:
            t0, c0 = time.perf_counter(), time.process_time()
            counts.append(len(backend.detect(fr)))
            ms.append(1e3 * (time.perf_counter() - t0))
            cpu.append(1e3 * (time.process_time() - c0))
            det.append(sum(v for k, v in backend.last_stats.items() if k.startswith('detector')))
        backend.close()
        counts = np.array(counts)
        print(f'  {mode:<14} {np.mean(counts > 0) * 100:14.0f} % {counts.mean():14.2f} {np.mean(ms):10.1f} '
              f'{np.mean(cpu):14.1f} {np.mean(det):22.2f}')


def _rss_mib() -> float:
    """Current resident set size of this process (MiB), from /proc (Linux)."""
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0
    return float('nan')


def long_run(model, recorded, fps: float, n_frames: int, intr) -> None:
    print(f'\n6. Constant cost: tracking + fitting + mesh over {n_frames} frames (Megamind observations replayed '
          'in a loop; perception excluded)')
    hmr = CameraHMR(HMRConfig(), body_model=model, backend=ReplayBackend(recorded))
    img = np.zeros((intr.height_px, intr.width_px, 3), dtype=np.uint8)
    ms, cpu, rss = [], [], {}
    for i in range(n_frames):
        t0, c0 = time.perf_counter(), time.process_time()
        hmr.process(Frame(img, int(i * 1e9 / fps), intr, i))
        ms.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
        if i in (299, n_frames - 1):
            rss[i] = _rss_mib()
    ms, cpu = np.array(ms), np.array(cpu)
    print('  frames         wall ms/frame   CPU ms/frame')
    print(f'  first 300   {ms[:300].mean():14.1f} {cpu[:300].mean():14.1f}')
    print(f'  last 300    {ms[-300:].mean():14.1f} {cpu[-300:].mean():14.1f}')
    print(f'  resident memory (VmRSS) after frame 300: {rss[299]:.0f} MiB, after frame {n_frames}: '
          f'{rss[n_frames - 1]:.0f} MiB')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=270, help='Megamind frames to use (270 = all)')
    parser.add_argument('--vtest-frames', type=int, default=100)
    parser.add_argument('--synthetic-people', type=int, default=40)
    parser.add_argument('--skip-vtest', action='store_true')
    parser.add_argument('--long-frames', type=int, default=0, help='>= 600 runs the constant-cost check')
    parser.add_argument('--sections', default='1,2,3,4,5', help='comma-separated sections to run (1-5; 3 and '
                        '--long-frames replay the perception recorded in 1)')
    args = parser.parse_args(argv)
    sections = {int(x) for x in args.sections.split(',') if x.strip()}
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f'bench_hmr: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (other jobs '
          'share the machine: timings are upper bounds when the load exceeds the core count)')

    t0 = time.perf_counter()
    model = load_body_model(BodyModelConfig())
    print(f'body model: {model.name}, {model.num_vertices} vertices, loaded in {time.perf_counter() - t0:.2f} s')

    images, fps = read_video('Megamind.avi', args.frames)
    frames = to_frames(images, fps)
    intr = frames[0].intrinsics

    # 1. one person, end to end: the one-person path before issue 14 vs the multi-person defaults
    legacy = CameraHMR(HMRConfig(max_people=1), body_model=model,
                       backend=MediapipeLegacyPoseBackend(MediapipePoseConfig()))   # as shipped before
    outs0, cpu0 = timed_run(legacy, frames)
    legacy.close()
    stage_table(f'1a. Megamind.avi {images[0].shape[1]}x{images[0].shape[0]}, one-person path before issue 14 '
                '(legacy mediapipe solution, tracking mode) + tracking + fitting + mesh', outs0, cpu0)
    cfg1 = HMRConfig()
    rec = RecordingBackend(make_backend(cfg1))
    hmr = CameraHMR(cfg1, body_model=model, backend=rec)
    outs1, cpu1 = timed_run(hmr, frames)
    hmr.close()
    stage_table(f'1b. the same, defaults (detect-then-follow, max_people={cfg1.max_people}, '
                f'small_people={cfg1.small_people})', outs1, cpu1)
    for k in ('perception', 'total'):
        a = np.mean([o.timings_ms[k] for o in outs1])
        b = np.mean([o.timings_ms[k] for o in outs0])
        print(f'  {k} ms/frame, defaults / before: {a:.1f} / {b:.1f} = {a / b:.2f}')
    print(f'  process CPU ms/frame, defaults / before: {cpu1.mean():.1f} / {cpu0.mean():.1f} = '
          f'{cpu1.mean() / cpu0.mean():.2f}')

    # 2. three people
    if 2 in sections:
        mframes = to_frames(mosaic(images), fps)
        hmr3 = CameraHMR(HMRConfig(max_people=3), body_model=model)
        outs3, cpu3 = timed_run(hmr3, mframes)
        hmr3.close()
        stage_table('2. Three-person mosaic of Megamind.avi (720x528, 2x2 grid), max_people=3 (detect-then-follow)',
                    outs3, cpu3)

    # 3. smoothness: replay the recorded perception with and without the temporal terms
    if 3 in sections:
        outs = {}
        for name, fc in (('with', FitterConfig()), ('without', FitterConfig().without_temporal_terms())):
            h = CameraHMR(HMRConfig(fitter=fc, compute_vertices=False), body_model=model,
                          backend=ReplayBackend(rec.recorded))
            outs[name] = [h.process(f) for f in frames]
        smoothness(outs['with'], outs['without'], fps)

    # 4. synthetic accuracy
    if 4 in sections:
        fit_accuracy(model, args.synthetic_people)

    # 5. small people
    if not args.skip_vtest and 5 in sections:
        small_people(args.vtest_frames)

    # 6. constant cost
    if args.long_frames >= 600:
        long_run(model, rec.recorded, fps, args.long_frames, intr)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
