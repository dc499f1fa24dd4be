"""Learned causal HMR accuracy and smoothness: learned alone, fitting alone, learned + fitting refinement,
and the velocity-regularisation ablation.

    python -m bench.bench_learned_hmr_accuracy [--checkpoint PATH] [--ablation PATH] [--compare NAME=PATH]
        [--sim-sequences 6] [--rendered 4] [--rendered-frames 150] [--rendered-pickle FILE ...] [--no-megamind]

Evaluation sets:
* ``sim``: held-out procedural sequences (seed 12345) with simulated mediapipe-calibrated landmarks
  (the training distribution; 300 frames each at 30 fps);
* ``rendered``: sequences of the project's synthetic generator (seeds 600..; the noise calibration used
  seeds 500-505), rendered, with the *real* mediapipe backend run on every frame (the deployment-like input);
* ``Megamind.avi`` (opencv-doc, 23.976 fps, an animated character, no ground truth): Accel, Jitter and
  the high-frequency share of the pelvis-aligned predicted joints.

Methods: ``learned`` (streaming, KV cache), ``fitting`` (:class:`~onlinehmr_ros.core.hmr.fitting.BodyFitter`,
the hmr stage's default), ``learned+refine`` (each frame the fitter starts from the learned estimate and
runs ``--refine-iterations`` iterations, default the fitter's ``iterations_tracking``; see :func:`_refine`).
Metrics (mm, m/s^2, 10 m/s^3): PA-MPJPE, MPJPE, Accel error, Jitter, HF share; Megamind: Accel (GT-free
acceleration), Jitter, HF share.
"""
from __future__ import annotations

import argparse
import dataclasses
import pickle
import time

import numpy as np
import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.hmr.fitting import BodyFitter, FitInitialisation, FitterConfig, FittingError
from onlinehmr_ros.core.hmr.learned.runtime import LearnedHMR, LearnedHMRConfig, packaged_checkpoint_path
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation
from onlinehmr_ros.training.calibration import video_landmark_track
from onlinehmr_ros.training.evaluate import longest_run, sequence_metrics, smoothness
from onlinehmr_ros.training.observations import SimulatedObservations
from onlinehmr_ros.training.train import TrainConfig, synthetic_eval_set

MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'


def _observation(obs: SimulatedObservations, t: int) -> PersonObservation:
    return PersonObservation(obs.landmarks_px[t], obs.visibility[t], obs.landmarks_3d_m[t], None, obs.bbox_px[t],
                             float(obs.visibility[t].mean()))


def _refine(fitter: BodyFitter, track_id: int, est, observation, intr, frame: int, iterations: int):
    """Learned + fitting refinement, as the hmr stage's ``learned+refine`` estimator does it: the fit starts
    from the learned estimate (``FitInitialisation``) for ``iterations`` iterations; the fitter's temporal
    terms use its own history."""
    init = FitInitialisation(est.global_orient, est.body_pose, est.betas, est.transl, iterations)
    return fitter.fit(track_id, observation, intr, frame, init)


def run_methods(pairs, ckpts: dict[str, str], body_model, methods=('learned', 'fitting', 'learned+refine'),
                refine_iterations: int | None = None):
    """Per method: list of (pred joints (F, 24, 3), frame indices, seq) and ms/frame.

    ``refine_iterations``: solver iterations per frame of ``learned+refine`` (default: the fitter's
    ``iterations_tracking``).
    """
    out, ms = {}, {}
    for name in methods:
        rows, times = [], []
        for seq, obs in pairs:
            W, H = seq.image_size_px
            intr = CameraIntrinsics(seq.K, W, H)
            hmr = LearnedHMR(LearnedHMRConfig(checkpoint_path=ckpts['learned'], compute_vertices=False),
                             body_model=body_model) if 'learned' in name else None
            fc = FitterConfig()
            iters = refine_iterations or fc.iterations_tracking
            fitter = BodyFitter(body_model, fc) if name != 'learned' else None
            joints, idx = [], []
            for t in np.flatnonzero(obs.frame_valid):
                o = _observation(obs, int(t))
                t0 = time.perf_counter()
                try:
                    if name == 'learned':
                        j = hmr.step(0, o, intr, int(t)).joints
                    elif name == 'fitting':
                        j = fitter.fit(0, o, intr, int(t)).joints
                    else:
                        j = _refine(fitter, 0, hmr.step(0, o, intr, int(t)), o, intr, int(t), iters).joints
                except FittingError:
                    continue
                times.append(time.perf_counter() - t0)
                joints.append(j)
                idx.append(int(t))
            rows.append((np.stack(joints).astype(np.float64), np.array(idx), seq))
        out[name] = rows
        ms[name] = 1e3 * float(np.mean(times))
    return out, ms


def table(results, ms, title: str) -> None:
    print(f'\n{title}')
    print(f'{"method":22s} {"PA-MPJPE":>9s} {"MPJPE":>8s} {"Accel":>7s} {"Jitter":>7s} {"HF":>6s} {"ms/frame":>9s} '
          f'{"frames":>7s}')
    for name, rows in results.items():
        ms_ = [sequence_metrics(j, seq.joints_cam.astype(np.float64), idx, seq.fps) for j, idx, seq in rows]
        w = np.array([m.frames for m in ms_], float)
        avg = lambda f: float(np.average([getattr(m, f) for m in ms_], weights=w))  # noqa: E731
        print(f'{name:22s} {avg("pa_mpjpe_mm"):9.1f} {avg("mpjpe_mm"):8.1f} {avg("accel_error_ms2"):7.2f} '
              f'{avg("jitter_10ms3"):7.2f} {avg("hf_share"):6.3f} {ms[name]:9.2f} {int(w.sum()):7d}')
    gt = [smoothness(seq.joints_cam[idx].astype(np.float64), seq.fps) for _, idx, seq in results[next(iter(results))]]
    print(f'{"(ground truth motion)":22s} {"":9s} {"":8s} {"":7s} {np.mean([g[1] for g in gt]):7.2f} '
          f'{np.mean([g[2] for g in gt]):6.3f}')


def megamind(ckpts: dict[str, str], body_model) -> None:
    track = video_landmark_track(MEGAMIND)
    valid = np.flatnonzero(track.valid)
    run = longest_run(valid)        # smoothness over the longest run of consecutive detections
    print(f'\nMegamind.avi: {valid.size}/{track.valid.size} frames with a detection, {track.fps:.3f} fps, '
          'no ground truth (pelvis-aligned predicted joints)')
    print(f'{"method":22s} {"Accel m/s^2":>12s} {"Jitter":>8s} {"HF share":>9s}')
    obs = SimulatedObservations(track.landmarks_px, track.visibility, track.landmarks_3d_m, track.bbox_px,
                                track.valid, np.ones((track.valid.size, 24), np.float32))
    for name, ck in ckpts.items():
        hmr = LearnedHMR(LearnedHMRConfig(checkpoint_path=ck, compute_vertices=False), body_model=body_model)
        j = np.stack([hmr.step(0, _observation(obs, int(t)), track.intrinsics, int(t)).joints for t in valid])
        a, jit, hf = smoothness(j[run].astype(np.float64), track.fps)
        print(f'{name:22s} {a:12.2f} {jit:8.2f} {hf:9.3f}')
    fitter = BodyFitter(body_model, FitterConfig())
    j = []
    for t in valid:
        j.append(fitter.fit(0, _observation(obs, int(t)), track.intrinsics, int(t)).joints)
    a, jit, hf = smoothness(np.stack(j)[run].astype(np.float64), track.fps)
    print(f'{"fitting":22s} {a:12.2f} {jit:8.2f} {hf:9.3f}')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--checkpoint', default=None, help='learned model (default: packaged)')
    ap.add_argument('--ablation', default=None, help='the same model trained without L_v / L_a')
    ap.add_argument('--compare', action='append', default=[], metavar='NAME=PATH',
                    help='further learned checkpoints to evaluate (learned alone), e.g. other lambda_5/lambda_6')
    ap.add_argument('--sim-sequences', type=int, default=6, help='simulated sequences (0: skip)')
    ap.add_argument('--rendered', type=int, default=4, help='rendered sequences (0: skip)')
    ap.add_argument('--rendered-frames', type=int, default=150)
    ap.add_argument('--rendered-pickle', action='append', default=[],
                    help='reuse pairs pickled by an earlier run (repeatable: concatenated) / write them (one file)')
    ap.add_argument('--no-megamind', action='store_true')
    ap.add_argument('--refine-iterations', type=int, default=None,
                    help="iterations per frame of learned+refine (default: the fitter's iterations_tracking)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    body_model = load_body_model(BodyModelConfig())
    ckpts = {'learned': args.checkpoint or str(packaged_checkpoint_path())}
    if args.ablation:
        ckpts['learned w/o L_v,L_a'] = args.ablation
    for item in args.compare:
        name, _, path = item.partition('=')
        ckpts[name] = path
    methods_full = ('learned', 'fitting', 'learned+refine')

    def run(pairs, title):
        res, ms = run_methods(pairs, ckpts, body_model, methods_full, args.refine_iterations)
        for name in [k for k in ckpts if k != 'learned']:
            r2, m2 = run_methods(pairs, {'learned': ckpts[name]}, body_model, ('learned',))
            res[name], ms[name] = r2['learned'], m2['learned']
        table(res, ms, title)

    if args.sim_sequences:
        cfg = dataclasses.replace(TrainConfig(), eval_sequences=args.sim_sequences)
        run(synthetic_eval_set(body_model, cfg), f'sim: {args.sim_sequences} held-out procedural sequences x 300 '
                                                 'frames, simulated landmarks')
    if args.rendered:
        import os
        if args.rendered_pickle and all(os.path.exists(p) for p in args.rendered_pickle):
            pairs = []
            for path in args.rendered_pickle:
                with open(path, 'rb') as f:
                    pairs += pickle.load(f)
            pairs = pairs[:args.rendered]
        else:
            from onlinehmr_ros.training.rendered import rendered_pairs
            pairs = rendered_pairs(body_model, args.rendered, args.rendered_frames, seed0=600)
            if args.rendered_pickle:
                with open(args.rendered_pickle[0], 'wb') as f:
                    pickle.dump(pairs, f)
        run(pairs, f'rendered: {len(pairs)} generator sequences x {pairs[0][0].num_frames} frames, real mediapipe')
    if not args.no_megamind:
        megamind(ckpts, body_model)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
