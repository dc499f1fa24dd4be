"""Evaluate one pipeline run (:class:`~onlinehmr_ros.eval.runs.RunRecord`) on its synthetic sequence.

For every sequence the harness gives (docs/EVALUATION.md has the protocols):

* the **camera branch** (:mod:`.camera_metrics`): largest orientation jump,
  orientation error after one best-fit rotation, gravity error, ATE / ATE-S
  (m and % of the camera path), Sim(3) scale, ATE-S / ATE, tracked fraction;
* **multi-person tracking** (:mod:`.tracking_metrics`): IDF1, ID switches (total
  and per person-minute), fragmentations, MOTA, coverage;
* the **human branch** on the COCO-17 keypoints, in three rows:

  - ``own``: the pipeline's world output (its own camera);
  - ``gt_camera``: the same camera-frame people placed with the true camera
    pose, which separates the human branch from the camera branch;
  - ``baseline``: mediapipe's own metric world landmarks (hip-centred), placed
    per frame in the camera frame by the translation that projects them onto
    mediapipe's 2D landmarks with the true focal length
    (:func:`~onlinehmr_ros.core.hmr.root_estimate`, the pelvis depth the
    pipeline starts from), then with the true camera pose: no body model, no
    temporal model, one detection per frame (no identities).

Human metrics are computed per ground-truth person over its visible frames in
which an output was matched to it (the per-frame CLEAR-MOT matching of
:mod:`.tracking_metrics`, so an identity switch does not hide frames; ID
consistency is the tracking metrics' business), pooled over people per frame
as the protocols pool frames. Temporal metrics (Accel, Jitter, HF share, lag,
foot sliding) use runs of consecutive matched frames; world metrics of the
``own`` row skip frames without a world output (WHAM / GVHMR skip invalid
frames).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import spearmanr

from onlinehmr_ros.eval import metrics
from onlinehmr_ros.core.body.skeleton import COCO_KEYPOINT_NAMES, MEDIAPIPE_LANDMARK_NAMES
from onlinehmr_ros.core.common.geometry import invert_transform, project_points, transform_points
from onlinehmr_ros.eval.synthetic.human_motion import ACTION_CODES
from onlinehmr_ros.eval.camera_metrics import camera_branch_metrics
from onlinehmr_ros.eval.runs import RunRecord, RunRecordError
from onlinehmr_ros.eval.tracking_metrics import (MATCH_THRESHOLD, VISIBLE_MIN_KEYPOINTS, FrameInput,
                                                 evaluate_tracking, normalised_keypoint_distance)

#: mediapipe landmark index of each COCO-17 keypoint
COCO_FROM_MEDIAPIPE: tuple[int, ...] = tuple(MEDIAPIPE_LANDMARK_NAMES.index(n) for n in COCO_KEYPOINT_NAMES[:17])
COCO17_NAMES: tuple[str, ...] = COCO_KEYPOINT_NAMES[:17]
ROW_KINDS = ('own', 'gt_camera', 'baseline')
#: depth (m, camera frame) separating near from far people in the error breakdown
BREAKDOWN_DEPTH_M = 4.0
_ACTION_NAMES = {v: k for k, v in ACTION_CODES.items()}


@dataclass(frozen=True)
class HarnessConfig:
    """Attributes:
        visible_min_keypoints: a person-frame is visible with this many COCO keypoints visible.
        match_threshold: largest normalised 2D keypoint distance of a match (fraction of body height).
        lag_max_s: largest lag searched by the cross-correlation, seconds.
    """
    visible_min_keypoints: int = VISIBLE_MIN_KEYPOINTS
    match_threshold: float = MATCH_THRESHOLD
    lag_max_s: float = 1.0


@dataclass(frozen=True)
class _Outputs:
    """Per-frame people of one row kind (N entries)."""
    frame: np.ndarray          # (N,)
    ident: np.ndarray          # (N,) track id (baseline: unique per detection)
    coco_cam: np.ndarray       # (N, 17, 3)
    coco_world: np.ndarray     # (N, 17, 3), NaN where there is no world output
    joints_cam: np.ndarray | None = None     # (N, 24, 3)
    confidence: np.ndarray | None = None     # (N, 24)


@dataclass(frozen=True)
class _Truth:
    coco_cam: np.ndarray       # (P, F, 17, 3)
    coco_world: np.ndarray     # (P, F, 17, 3)
    joints_cam: np.ndarray     # (P, F, 24, 3)
    uv: np.ndarray             # (P, F, 17, 2)
    in_image: np.ndarray       # (P, F, 17)
    kp_visible: np.ndarray     # (P, F, 17)
    visible: np.ndarray        # (P, F)


def _truth(seq, cfg: HarnessConfig) -> _Truth:
    T_cw = invert_transform(seq.T_world_cam)
    cw = np.stack([p.keypoints_coco_world.astype(np.float64) for p in seq.people]) if seq.people else \
        np.zeros((0, seq.num_frames, 17, 3))
    cc = transform_points(T_cw[None], cw) if len(cw) else cw
    jc = np.stack([transform_points(T_cw, p.joints_world.astype(np.float64)) for p in seq.people]) if seq.people \
        else np.zeros((0, seq.num_frames, 24, 3))
    uv, z = project_points(seq.intrinsics.K, cc)
    w, h = seq.intrinsics.width_px, seq.intrinsics.height_px
    with np.errstate(invalid='ignore'):
        inside = (z > 0) & (uv[..., 0] >= 0) & (uv[..., 0] <= w - 1) & (uv[..., 1] >= 0) & (uv[..., 1] <= h - 1)
    kv = np.stack([p.keypoints_coco_visible for p in seq.people]) if seq.people else np.zeros((0, seq.num_frames, 17),
                                                                                              bool)
    return _Truth(cc, cw, jc, np.nan_to_num(uv, nan=-1e6), inside, kv, kv.sum(-1) >= cfg.visible_min_keypoints)


def pipeline_outputs(rec: RunRecord) -> _Outputs:
    """The pipeline's people (``own`` row; ``gt_camera`` re-places their camera-frame keypoints)."""
    return _Outputs(rec.out_frame, rec.out_track, rec.coco_cam.astype(np.float64), rec.coco_world.astype(np.float64),
                    rec.joints_cam.astype(np.float64), rec.joint_confidence.astype(np.float64))


def placed_with_camera(out: _Outputs, T_world_cam: np.ndarray) -> _Outputs:
    """The same camera-frame people moved to the world with the given (true) camera poses."""
    world = transform_points(np.asarray(T_world_cam, np.float64)[out.frame], out.coco_cam) if len(out.frame) \
        else out.coco_world
    return _Outputs(out.frame, out.ident, out.coco_cam, world, out.joints_cam, out.confidence)


def baseline_outputs(rec: RunRecord, K: np.ndarray, T_world_cam: np.ndarray) -> _Outputs:
    """Mediapipe's metric landmarks placed per frame (module docstring); detections without a root are dropped."""
    from onlinehmr_ros.core.hmr.camera_hmr import root_estimate
    from onlinehmr_ros.core.hmr.perception.observation import PersonObservation
    frames, cams = [], []
    for k in range(len(rec.det_frame)):
        obs = PersonObservation(rec.det_landmarks_px[k], rec.det_visibility[k], rec.det_landmarks_3d_m[k], None,
                                np.zeros(4, np.float32), 1.0)
        root = root_estimate(obs, K)
        if not np.all(np.isfinite(root)):
            continue
        frames.append(int(rec.det_frame[k]))
        cams.append(rec.det_landmarks_3d_m[k][list(COCO_FROM_MEDIAPIPE)].astype(np.float64) + root)
    frame = np.asarray(frames, np.int64)
    cam = np.asarray(cams, np.float64).reshape(-1, 17, 3)
    out = _Outputs(frame, np.arange(len(frame)) + 1_000_000, cam, np.full_like(cam, np.nan))
    return placed_with_camera(out, T_world_cam)


def match_outputs(seq, truth: _Truth, out: _Outputs, cfg: HarnessConfig):
    """Per-frame CLEAR-MOT matching of ``out`` to the ground truth (:func:`evaluate_tracking`)."""
    K = seq.intrinsics.K
    uv_pred = project_points(K, out.coco_cam)[0] if len(out.frame) else np.zeros((0, 17, 2))
    uv_pred = np.nan_to_num(uv_pred, nan=1e6)
    by_frame: dict[int, list[int]] = {}
    for k, f in enumerate(out.frame):
        by_frame.setdefault(int(f), []).append(k)
    frames = []
    for i in range(seq.num_frames):
        gt = np.nonzero(truth.in_image[:, i].any(-1))[0]
        hyp = by_frame.get(i, [])
        vis = truth.visible[gt, i]
        weight = np.where(vis[:, None], truth.kp_visible[gt, i], truth.in_image[gt, i])
        d = normalised_keypoint_distance(uv_pred[hyp].reshape(len(hyp), 17, 2), truth.uv[gt, i], weight)
        frames.append(FrameInput(gt, vis, out.ident[hyp], d))
    return evaluate_tracking(frames, seq.fps, cfg.match_threshold)


def _runs(frames: np.ndarray) -> list[np.ndarray]:
    """Positions (into ``frames``) of each run of consecutive frame numbers."""
    if len(frames) == 0:
        return []
    cut = np.nonzero(np.diff(frames) != 1)[0] + 1
    return np.split(np.arange(len(frames)), cut)


def _pool(values: list) -> float:
    v = [np.asarray(a, np.float64).ravel() for a in values if np.size(a)]
    return float(np.mean(np.concatenate(v))) if v else math.nan


def _human_row(seq, truth: _Truth, out: _Outputs, matches: dict, cfg: HarnessConfig, notes: list[str],
               label: str) -> tuple[dict, dict]:
    """(row of pooled metrics, extras: per-joint errors and breakdowns) of one row kind."""
    fps = float(seq.fps)
    index = {(int(f), int(h)): k for k, (f, h) in enumerate(zip(out.frame, out.ident))}
    hips = metrics.COCO17_HIP_INDICES
    per = {k: [] for k in ('pa', 'mpjpe', 'accel', 'w', 'wa', 'rte', 'jitter', 'jitter_gt', 'foot', 'ratio')}
    per_joint, hf, hf_w, lags, lag_w = [], [], [], [], []
    conf_pairs: list[tuple[np.ndarray, np.ndarray]] = []
    cat: dict[str, list[np.ndarray]] = {}
    evaluated = world_frames = 0
    for b in range(len(seq.people)):
        fr = np.array(sorted(i for i, m in matches.items() if b in m), np.int64)
        if len(fr) == 0:
            continue
        ks = np.array([index[(int(i), matches[int(i)][b])] for i in fr])
        evaluated += len(fr)
        pc, gc = out.coco_cam[ks], truth.coco_cam[b, fr]
        pa_j = metrics.pa_mpjpe_per_joint(pc, gc)
        pa, mp = pa_j.mean(-1), metrics.mpjpe(pc, gc, hips)
        per['pa'].append(pa)
        per['mpjpe'].append(mp)
        per_joint.append(pa_j)
        per['ratio'].append(metrics.pelvis(pc, hips)[:, 0, 2] / metrics.pelvis(gc, hips)[:, 0, 2])
        # breakdown by action, occlusion and distance
        kv = truth.kp_visible[b, fr]
        depth = metrics.pelvis(gc, hips)[:, 0, 2]
        keys = [f'action={_ACTION_NAMES.get(int(a), "?")}' for a in seq.people[b].action[fr]]
        for k, (key, full, near) in enumerate(zip(keys, kv.all(-1), depth < BREAKDOWN_DEPTH_M)):
            for c in (key, 'occlusion=none' if full else 'occlusion=partial',
                      f'depth<{BREAKDOWN_DEPTH_M:g}m' if near else f'depth>={BREAKDOWN_DEPTH_M:g}m'):
                cat.setdefault(c, []).append(np.array([pa[k], mp[k]]))
        for run in _runs(fr):
            if len(run) >= 3:
                a = pc[run] - metrics.pelvis(pc[run], hips)
                g = gc[run] - metrics.pelvis(gc[run], hips)
                per['accel'].append(metrics.accel_error(a, g, fps))
            if len(run) >= 2 * round(cfg.lag_max_s * fps) + 4:
                try:
                    lag = metrics.signal_lag(np.diff(gc[run], axis=0), np.diff(pc[run], axis=0), fps, cfg.lag_max_s)
                    lags.append(lag * fps)
                    lag_w.append(len(run))
                except metrics.MetricsError as exc:
                    notes.append(f'{label} person {b}: no lag ({exc})')
        if out.joints_cam is not None:
            err = metrics.mpjpe_per_joint(out.joints_cam[ks], truth.joints_cam[b, fr])
            conf_pairs.append((out.confidence[ks].ravel(), err.ravel()))
        # world metrics on the frames with a world output
        has_w = np.all(np.isfinite(out.coco_world[ks]), axis=(1, 2))
        wf, pw, gw = fr[has_w], out.coco_world[ks][has_w], truth.coco_world[b, fr[has_w]]
        world_frames += len(wf)
        if len(wf) < 4:
            notes.append(f'{label} person {b}: {len(wf)} frames with world output; no world metrics')
            continue
        wm = metrics.world_mpjpe(pw, gw)
        per['w'].append(wm.w_mpjpe)
        per['wa'].append(wm.wa_mpjpe)
        root_p, root_g = metrics.pelvis(pw, hips)[:, 0], metrics.pelvis(gw, hips)[:, 0]
        if metrics.path_length(root_g) > 0.05:
            per['rte'].append(metrics.rte(root_p, root_g))
        for run in _runs(wf):
            if len(run) >= 4:
                per['jitter'].append(metrics.jitter(pw[run], fps))
                per['jitter_gt'].append(metrics.jitter(gw[run], fps))
            if len(run) >= 2:
                ank = list(metrics.COCO17_ANKLE_INDICES)
                per['foot'].append(metrics.foot_sliding(pw[run][:, ank], gw[run][:, ank]))
            if len(run) >= metrics.HF_WINDOW_FRAMES and fps > 2 * metrics.HF_CUTOFF_HZ:
                hf.append(metrics.high_frequency_share(pw[run], fps))
                hf_w.append(len(run))
    visible = int(truth.visible.sum())
    ratios = np.concatenate(per['ratio']) if per['ratio'] else np.zeros(0)
    row = {'pa_mpjpe': _pool(per['pa']), 'mpjpe': _pool(per['mpjpe']), 'w_mpjpe100': _pool(per['w']),
           'wa_mpjpe100': _pool(per['wa']), 'rte': _pool(per['rte']), 'accel': _pool(per['accel']),
           'jitter': _pool(per['jitter']), 'jitter_gt': _pool(per['jitter_gt']),
           'hf_share': float(np.average(hf, weights=hf_w)) * 100.0 if hf else math.nan,
           'foot_sliding': _pool(per['foot']),
           'depth_ratio': float(np.median(ratios)) if ratios.size else math.nan,
           'lag_frames': float(np.average(lags, weights=lag_w)) if lags else math.nan,
           'coverage': 100.0 * evaluated / visible if visible else math.nan,
           'world_coverage': 100.0 * world_frames / visible if visible else math.nan}
    row.update(_confidence_calibration(conf_pairs))
    joint_err = np.concatenate(per_joint) if per_joint else np.zeros((0, 17))
    extras = {'per_joint_pa_mpjpe': dict(zip(COCO17_NAMES, (joint_err.mean(0) if len(joint_err)
                                                                else np.full(17, np.nan)).tolist())),
              'breakdown': {c: {'pa_mpjpe': float(np.mean([v[0] for v in vals])),
                                'mpjpe': float(np.mean([v[1] for v in vals])), 'frames': len(vals)}
                            for c, vals in sorted(cat.items())}}
    return row, extras


def _confidence_calibration(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Spearman correlation of per-joint confidence with per-joint error, and the error of the confidence thirds."""
    nan = {'conf_spearman': math.nan, 'conf_err_most_confident_third': math.nan,
           'conf_err_least_confident_third': math.nan}
    if not pairs:
        return nan
    c = np.concatenate([p[0] for p in pairs])
    e = np.concatenate([p[1] for p in pairs])
    if c.size < 6 or np.ptp(c) == 0:
        return nan
    order = np.argsort(c, kind='stable')
    third = c.size // 3
    return {'conf_spearman': float(spearmanr(c, e).statistic),
            'conf_err_most_confident_third': float(e[order[-third:]].mean()),
            'conf_err_least_confident_third': float(e[order[:third]].mean())}


def evaluate_record(seq, rec: RunRecord, config: HarnessConfig = HarnessConfig()) -> dict:
    """All metrics of one run on one sequence (module docstring).

    Returns:
        dict with ``sequence``, ``seed``, ``camera_kind``, ``people``, ``frames``, ``camera`` (camera-branch
        figures), ``tracking`` (IDF1 etc.), ``rows`` ({row kind: human metrics}), ``per_joint`` and
        ``breakdown`` ({row kind: ...}), ``fps`` (pipeline frames per second) and ``notes``.
    Raises:
        RunRecordError: the record does not belong to the sequence (name or frame count).
    """
    if rec.num_frames != seq.num_frames or rec.sequence != seq.name:
        raise RunRecordError(f'run record of {rec.sequence} ({rec.num_frames} frames) does not fit sequence '
                             f'{seq.name} ({seq.num_frames} frames); run the pipeline again')
    notes: list[str] = []
    truth = _truth(seq, config)
    cam = camera_branch_metrics(rec.T_world_cam_m(), rec.tracking, seq.T_world_cam)
    notes += list(cam.notes)
    own = pipeline_outputs(rec)
    trk = match_outputs(seq, truth, own, config)
    outs = {'own': own, 'gt_camera': placed_with_camera(own, seq.T_world_cam),
            'baseline': baseline_outputs(rec, seq.intrinsics.K, seq.T_world_cam)}
    rows, per_joint, breakdown = {}, {}, {}
    for kind in ROW_KINDS:
        matches = trk.matches if kind != 'baseline' else match_outputs(seq, truth, outs[kind], config).matches
        rows[kind], extras = _human_row(seq, truth, outs[kind], matches, config, notes, kind)
        per_joint[kind] = extras['per_joint_pa_mpjpe']
        breakdown[kind] = extras['breakdown']
    ms = rec.ms_total[np.isfinite(rec.ms_total)]
    tracking = {k: v for k, v in asdict(trk).items() if k != 'matches'}
    return {'sequence': seq.name, 'seed': int(seq.seed), 'camera_kind': seq.camera_kind, 'people': len(seq.people),
            'frames': seq.num_frames, 'camera': {k: v for k, v in asdict(cam).items() if k != 'notes'},
            'tracking': tracking, 'rows': rows, 'per_joint': per_joint, 'breakdown': breakdown,
            'fps': 1000.0 / float(ms.mean()) if ms.size and ms.mean() > 0 else math.nan, 'notes': notes}
