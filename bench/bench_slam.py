"""SLAM branch: trajectory accuracy, world frame (jumps, gravity), masking ablation, EMA, speed, metric scale.

    OPENBLAS_NUM_THREADS=1 python -m bench.bench_slam [--frames 150] [--quick] [--xfeat]

Sequences of the project's one generator (``eval.synthetic``: textured room, body-model people,
640x480, 30 fps, exact ground truth; seeds below 1000): ``gen_handheld``, ``gen_robot`` (two people
each) and ``gen_static`` (one person). The camera-space humans given to the branch are the
ground-truth joints in the camera frame (an oracle HMR), so the scale figures measure the SLAM side
of the human ruler.

Prints, per sequence and mask mode (none / hard / soft, the paper's ablation):
  * ATE: mean translation error of the published metric positions after a Sim(3) alignment
    (``eval.metrics.camera_ate``, the TRAM protocol = evo APE), checked against evo's APE; ATE-S:
    SE(3) alignment (tests the metric scale); RPE: evo RPE, translation part, 1-frame delta;
  * the world frame: largest single-frame orientation jump and mean gravity error
    (``eval.camera_metrics``), tracked share, first tracked frame;
  * EMA on/off: ATE and camera jitter (``eval.metrics.jitter``, 10 m/s^3);
  * ms/frame p50 / p95 of the branch (soft-mask run), frames with and without a local BA;
  * the frame at which the scale converged and the Sim(3) scale of the converged frames;
  * the two local-BA solvers on one problem (time, cost, pose error).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time

import cv2
import numpy as np

from onlinehmr_ros.core.common.datatypes import Frame, HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import invert_transform, quat_wxyz_from_rotmat, transform_points
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig, compute_soft_mask
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig
from onlinehmr_ros.eval.camera_metrics import gravity_errors_deg, orientation_jumps_deg
from onlinehmr_ros.eval.metrics import camera_ate, jitter


@dataclasses.dataclass
class Sequence:
    name: str
    frames: list            # Frame
    person_masks: list      # (H, W) float32 union of person masks
    humans: list            # HumansFrame (camera frame, metres)
    T_world_cam_gt: np.ndarray   # (F, 4, 4)
    fps: float


def generator_sequence(name: str, kind: str, seed: int, n: int, people: int = 2) -> Sequence:
    from onlinehmr_ros.eval.synthetic import SequenceConfig, generate_sequence
    seq = generate_sequence(SequenceConfig(num_frames=n, num_people=people, camera_kind=kind), seed=seed)
    frames = list(seq.iter_frames())
    masks = [(seq.masks[i] > 0).astype(np.float32) for i in range(n)]
    humans = []
    for i in range(n):
        hs = []
        for k, p in enumerate(seq.people):
            if seq.people[k].mask_area_px[i] == 0:
                continue
            j_c = transform_points(invert_transform(seq.T_world_cam[i]), p.joints_world[i]).astype(np.float32)
            hs.append(HumanState(k, 'open', p.betas.astype(np.float32), np.zeros(3, np.float32),
                                 p.body_pose[i].astype(np.float32), j_c[0], j_c,
                                 p.joints_visible[i].astype(np.float32), np.zeros((0, 3), np.float32),
                                 np.zeros((17, 3), np.float32)))
        humans.append(HumansFrame(seq.stamp_ns(i), 'camera', tuple(hs)))
    return Sequence(name, frames, masks, humans, seq.T_world_cam.copy(), seq.fps)


def run(seq: Sequence, mask_mode: str, config: SlamBranchConfig, mask_cfg: SoftMaskConfig):
    br = SlamBranch(config)
    mcfg = dataclasses.replace(mask_cfg, mode=mask_mode)
    out = []
    ms_mask, cpu_ms = [], []
    for f, m, h in zip(seq.frames, seq.person_masks, seq.humans):
        t0 = time.perf_counter()
        sm = compute_soft_mask(m, mcfg)
        ms_mask.append((time.perf_counter() - t0) * 1e3)
        c0 = time.process_time()
        out.append(br.process(f, sm, h))
        cpu_ms.append((time.process_time() - c0) * 1e3)
    return out, (np.array(ms_mask), np.array(cpu_ms))


def evo_ape_rpe(pred_xyz, pred_quat_wxyz, gt_T_world_cam, fps, correct_scale):
    """(APE mean, RPE mean) with evo (translation part); RPE over 1-frame deltas, in the camera frame."""
    from evo.core import metrics
    from evo.core.trajectory import PoseTrajectory3D
    n = len(pred_xyz)
    ts = np.arange(n) / fps
    ref = PoseTrajectory3D(poses_se3=list(gt_T_world_cam), timestamps=ts)
    est = PoseTrajectory3D(positions_xyz=pred_xyz, orientations_quat_wxyz=pred_quat_wxyz, timestamps=ts)
    est.align(ref, correct_scale=correct_scale)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, est))
    rpe = metrics.RPE(metrics.PoseRelation.translation_part, delta=1, delta_unit=metrics.Unit.frames)
    rpe.process_data((ref, est))
    return ape.get_statistic(metrics.StatisticsType.mean), rpe.get_statistic(metrics.StatisticsType.mean)


def evaluate(seq: Sequence, out) -> dict:
    gt = seq.T_world_cam_gt[:, :3, 3]
    T = np.stack([o.pose.T_world_cam_m for o in out])
    T_raw = np.stack([o.pose_raw.T_world_cam_m for o in out])
    trk = np.array([o.pose.tracking for o in out])
    idx = np.flatnonzero(trk)
    res = dict(tracked=trk.mean(), init=int(idx[0]) if len(idx) else -1,
               jump=float(orientation_jumps_deg(T[:, :3, :3], seq.T_world_cam_gt[:, :3, :3]).max()),
               grav=float(gravity_errors_deg(T[:, :3, :3], seq.T_world_cam_gt[:, :3, :3]).mean()))
    ms = np.array([o.diagnostics.ms_total for o in out])
    ba = np.array([o.diagnostics.ba_ran for o in out])
    res.update(ms_p50=np.percentile(ms, 50), ms_p95=np.percentile(ms, 95),
               ms_noba_p50=np.percentile(ms[~ba], 50), ms_noba_p95=np.percentile(ms[~ba], 95),
               ms_ba_p50=np.percentile(ms[ba], 50) if ba.any() else np.nan,
               ms_ba_p95=np.percentile(ms[ba], 95) if ba.any() else np.nan, ba_share=ba.mean(),
               gravity=bool(out[-1].diagnostics.gravity_aligned), ba_flags=ba.tolist())
    if len(idx) < 5 or np.sum(np.linalg.norm(np.diff(gt[idx], axis=0), axis=1)) < 0.2:
        return res
    t, t_raw = T[idx, :3, 3], T_raw[idx, :3, 3]
    a = camera_ate(t, gt[idx], with_scale=True)
    res.update(ate=a.mean, ate_raw=camera_ate(t_raw, gt[idx], with_scale=True).mean, sim3_scale=a.scale,
               ate_s=camera_ate(t, gt[idx], with_scale=False).mean)
    q = np.stack([quat_wxyz_from_rotmat(R) for R in T[idx, :3, :3]])
    res['evo_ate'], _ = evo_ape_rpe(t, q, seq.T_world_cam_gt[idx], seq.fps, correct_scale=True)
    _, res['rpe'] = evo_ape_rpe(t, q, seq.T_world_cam_gt[idx], seq.fps, correct_scale=False)
    conv = [i for i in idx if out[i].pose.scale_converged]
    res['scale_converged_at'] = int(conv[0]) if conv else -1
    if len(conv) >= 5:
        res['scale_converged_sim3'] = camera_ate(T[conv, :3, 3], gt[conv], with_scale=True).scale
    # jitter of the camera centre (EMA vs raw), GT for reference; contiguous tracked run only
    run_ = idx[np.concatenate([[True], np.diff(idx) == 1])]
    if len(run_) >= 8:
        res['jitter_ema'] = float(np.mean(jitter(T[run_, :3, 3][:, None], seq.fps)))
        res['jitter_raw'] = float(np.mean(jitter(T_raw[run_, :3, 3][:, None], seq.fps)))
        res['jitter_gt'] = float(np.mean(jitter(gt[run_][:, None], seq.fps)))
    return res


def bench_ba_solvers(repeats: int = 5) -> None:
    """Both BA solvers on one local-BA-sized problem (5 keyframes, 2 fixed, 600 points, 0.5 px noise)."""
    from onlinehmr_ros.core.common.geometry import intrinsics_from_fov, make_transform, rotmat_from_axis_angle
    from onlinehmr_ros.core.slam.optim import local_bundle_adjustment
    rng = np.random.default_rng(0)
    K = intrinsics_from_fov(640, 480, 65.0)
    X = rng.uniform([-3, -2, 3], [3, 2, 8], (600, 3))
    T = np.stack([make_transform(rotmat_from_axis_angle(rng.normal(0, 0.05, 3)), np.array([0.2 * k, 0.02 * k, 0]))
                  for k in range(5)])
    cams, pts, uv = [], [], []
    for k in range(5):
        p = X @ T[k, :3, :3].T + T[k, :3, 3]
        u = np.stack([K[0, 0] * p[:, 0] / p[:, 2] + K[0, 2], K[1, 1] * p[:, 1] / p[:, 2] + K[1, 2]], 1)
        cams.append(np.full(600, k))
        pts.append(np.arange(600))
        uv.append(u + rng.normal(0, 0.5, u.shape))
    cams, pts, uv = map(np.concatenate, (cams, pts, uv))
    Tn = T.copy()
    for k in range(2, 5):
        Tn[k, :3, 3] += rng.normal(0, 0.02, 3)
    Xn = X + rng.normal(0, 0.03, X.shape)
    fixed = np.array([True, True, False, False, False])
    print('\n## Local BA solvers (5 keyframes, 600 points, 3000 observations, 6 evaluations)')
    print(f'{"solver":9s} {"ms p50":>7s} {"cost before":>12s} {"cost after":>11s} {"pose err mm":>11s}')
    for solver in ('schur_lm', 'scipy'):
        ms = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = local_bundle_adjustment(K, Tn, fixed, Xn, cams, pts, uv, np.ones(len(cams)), max_evaluations=6,
                                        solver=solver)
            ms.append((time.perf_counter() - t0) * 1e3)
        err = np.abs(r.T_cam_world[2:, :3, 3] - T[2:, :3, 3]).max() * 1e3
        print(f'{solver:9s} {np.median(ms):7.1f} {r.cost_before:12.0f} {r.cost_after:11.0f} {err:11.2f}')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=150)
    ap.add_argument('--quick', action='store_true', help='gen_handheld only, soft and none')
    ap.add_argument('--xfeat', action='store_true', help='also run gen_handheld (soft mask) with XFeat features')
    args = ap.parse_args()
    cv2.setNumThreads(1)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    if os.environ.get('OPENBLAS_NUM_THREADS') != '1':
        print('note: set OPENBLAS_NUM_THREADS=1 (small matrices; threads only add latency on 2 cores)')
    t0 = time.perf_counter()
    seqs = [generator_sequence('gen_handheld', 'handheld', 3, args.frames)]
    if not args.quick:
        seqs.append(generator_sequence('gen_robot', 'robot', 5, args.frames))
        seqs.append(generator_sequence('gen_static', 'static', 7, args.frames, people=1))
    print(f'rendered {len(seqs)} sequences x {args.frames} frames in {time.perf_counter() - t0:.0f} s')
    cfg = SlamBranchConfig()
    mask_cfg = SoftMaskConfig()
    modes = ('none', 'soft') if args.quick else ('none', 'hard', 'soft')
    rows = {}
    for seq in seqs:
        for mode in modes:
            out, ms_mask = run(seq, mode, cfg, mask_cfg)
            rows[(seq.name, mode)] = (evaluate(seq, out), ms_mask)
    if args.xfeat:
        from onlinehmr_ros.core.slam.features import FeatureConfig
        from onlinehmr_ros.core.slam.odometry import SlamConfig
        xcfg = SlamBranchConfig(slam=SlamConfig(features=FeatureConfig(backend='xfeat', max_features=1200)))
        out, ms_mask = run(seqs[0], 'soft', xcfg, mask_cfg)
        rows[(seqs[0].name + '+xfeat', 'soft')] = (evaluate(seqs[0], out), ms_mask)
    f = lambda r, k, fmt='{:.3f}': fmt.format(r[k]) if k in r and np.isfinite(r[k]) else '-'  # noqa: E731
    print('\n## Masking ablation (ATE Sim3 / ATE-S SE3 / RPE in metres; world frame: largest orientation jump and '
          'mean gravity error, degrees)')
    print(f'{"sequence":14s} {"mask":5s} {"ATE":>7s} {"evoATE":>7s} {"ATE-S":>7s} {"RPE":>7s} {"jump":>6s} '
          f'{"grav":>6s} {"tracked":>7s} {"init":>5s}')
    for (name, mode), (r, _) in rows.items():
        print(f'{name:14s} {mode:5s} {f(r, "ate"):>7s} {f(r, "evo_ate"):>7s} {f(r, "ate_s"):>7s} '
              f'{f(r, "rpe", "{:.4f}"):>7s} {f(r, "jump", "{:.2f}"):>6s} {f(r, "grav", "{:.2f}"):>6s} '
              f'{f(r, "tracked", "{:.2f}"):>7s} {r.get("init", -1):5d}')
    print('\n## EMA on/off (soft mask): ATE (m) and camera jitter (10 m/s^3)')
    print(f'{"sequence":14s} {"ATE raw":>8s} {"ATE EMA":>8s} {"jit raw":>8s} {"jit EMA":>8s} {"jit GT":>8s}')
    for (name, mode), (r, _) in rows.items():
        if mode == 'soft':
            print(f'{name:14s} {f(r, "ate_raw"):>8s} {f(r, "ate"):>8s} {f(r, "jitter_raw", "{:.2f}"):>8s} '
                  f'{f(r, "jitter_ema", "{:.2f}"):>8s} {f(r, "jitter_gt", "{:.2f}"):>8s}')
    print('\n## Speed, 640x480, soft-mask run: wall ms per frame of SlamBranch.process (soft mask separately);')
    print(f'## CPU ms = process time of the same calls (single-threaded: what an unloaded core needs); '
          f'load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores')
    print(f'{"sequence":14s} {"all p50":>8s} {"all p95":>8s} {"noBA p50":>9s} {"noBA p95":>9s} {"BA p50":>7s} '
          f'{"BA p95":>7s} {"BA share":>8s} {"mask p50":>8s} {"CPU p50":>8s} {"CPU p95":>8s} {"CPU noBA":>8s} '
          f'{"CPU BA":>7s}')
    for (name, mode), (r, (msm, cpu)) in rows.items():
        if mode == 'soft':
            ba = np.array(r['ba_flags'])
            print(f'{name:14s} {f(r, "ms_p50", "{:.1f}"):>8s} {f(r, "ms_p95", "{:.1f}"):>8s} '
                  f'{f(r, "ms_noba_p50", "{:.1f}"):>9s} {f(r, "ms_noba_p95", "{:.1f}"):>9s} '
                  f'{f(r, "ms_ba_p50", "{:.1f}"):>7s} {f(r, "ms_ba_p95", "{:.1f}"):>7s} '
                  f'{f(r, "ba_share", "{:.2f}"):>8s} {np.median(msm):8.1f} {np.percentile(cpu, 50):8.1f} '
                  f'{np.percentile(cpu, 95):8.1f} {np.median(cpu[~ba]):8.1f} '
                  f'{np.median(cpu[ba]) if ba.any() else np.nan:7.1f}')
    print('\n## Metric scale (soft mask): Sim(3) scale of the run and of its frames after convergence (1.0 = exact)')
    for (name, mode), (r, _) in rows.items():
        if mode == 'soft' and 'sim3_scale' in r:
            print(f'{name:14s} run {r["sim3_scale"]:.3f}  converged at frame {r["scale_converged_at"]}  after it '
                  f'{f(r, "scale_converged_sim3")}  gravity measured {r["gravity"]}')
    bench_ba_solvers()


if __name__ == '__main__':
    main()
