"""Evaluation of the learned HMR: streaming predictions on sequences, metrics, mode agreement.

Metrics come from :mod:`onlinehmr_ros.eval.metrics` (the project's one
implementation): PA-MPJPE, MPJPE, Accel error (pelvis-aligned joints, the
camera-space protocol of WHAM / GVHMR), and the GT-free Jitter and
high-frequency share computed on the same pelvis-aligned predicted joints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from onlinehmr_ros.core.hmr.learned.model import CausalHMRNet, HMRPrediction, pose_prediction
from onlinehmr_ros.eval import metrics
from onlinehmr_ros.training.data import PosedSequence, make_training_arrays
from onlinehmr_ros.training.observations import SimulatedObservations


def stream_sequence(net: CausalHMRNet, arrays: dict[str, np.ndarray]) -> tuple[HMRPrediction, np.ndarray]:
    """Run the network in streaming mode over a sequence's frames with an observation.

    Returns the stacked predictions for the valid frames (leading dim = number of valid frames)
    and the indices of those frames.
    """
    dt = next(net.parameters()).dtype
    cache = net.new_cache()
    idx = np.flatnonzero(arrays['frame_valid'])
    preds = []
    with torch.no_grad():
        for t in idx:
            inp = {k: torch.as_tensor(arrays[k][t][None], dtype=dt) for k in ('landmarks', 'box')}
            preds.append(net.forward_step(inp, cache, int(t)))
    stacked = HMRPrediction(*[torch.cat([getattr(p, f) for p in preds]) for f in
                              ('rot6d', 'rotmat', 'betas', 'pelvis_cam_m', 'joint_log_sigma')])
    return stacked, idx


def windows_sequence(net: CausalHMRNet, arrays: dict[str, np.ndarray]) -> HMRPrediction:
    """Training mode (all windows in parallel) over a whole sequence: (1, T, ...) prediction."""
    dt = next(net.parameters()).dtype
    with torch.no_grad():
        inp = {k: torch.as_tensor(arrays[k][None], dtype=dt) for k in ('landmarks', 'box')}
        return net.forward_windows(inp, torch.as_tensor(arrays['frame_valid'][None]))


@dataclass(frozen=True)
class SequenceMetrics:
    pa_mpjpe_mm: float
    mpjpe_mm: float
    accel_error_ms2: float
    jitter_10ms3: float
    hf_share: float
    frames: int


def longest_run(idx: np.ndarray) -> np.ndarray:
    """Longest run of consecutive frame indices in sorted ``idx`` (positions into idx)."""
    if idx.size == 0:
        return idx
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    runs = np.split(np.arange(idx.size), breaks)
    return max(runs, key=len)


def smoothness(joints: np.ndarray, fps: float) -> tuple[float, float, float]:
    """GT-free (acceleration m/s^2, jitter 10 m/s^3, HF share) of pelvis-aligned (F, 24, 3) joints."""
    j = joints - metrics.pelvis(joints)
    hf = metrics.high_frequency_share(j, fps) if j.shape[0] >= metrics.HF_WINDOW_FRAMES else float('nan')
    return float(metrics.acceleration(j, fps).mean()), float(metrics.jitter(j, fps).mean()), hf


def sequence_metrics(pred_joints: np.ndarray, gt_joints: np.ndarray, frame_idx: np.ndarray,
                     fps: float) -> SequenceMetrics:
    """Metrics of predicted joints (F, 24, 3) on the frames ``frame_idx`` (sorted) of a sequence."""
    gt = gt_joints[frame_idx]
    valid = np.zeros(int(frame_idx.max()) + 1, bool)
    valid[frame_idx] = True
    full_p = np.zeros((valid.size,) + pred_joints.shape[1:])
    full_g = np.zeros_like(full_p)
    full_p[frame_idx] = pred_joints
    full_g[frame_idx] = gt
    pa = lambda x: x - metrics.pelvis(x)  # noqa: E731
    acc = metrics.accel_error(pa(full_p), pa(full_g), fps, valid)
    run = longest_run(frame_idx)
    _, jit, hf = smoothness(pred_joints[run], fps)
    return SequenceMetrics(float(metrics.pa_mpjpe(pred_joints, gt).mean()),
                           float(metrics.mpjpe(pred_joints, gt).mean()), float(acc.mean()), jit, hf,
                           int(frame_idx.size))


def evaluate_net(net: CausalHMRNet, body_model, eval_set: list[tuple[PosedSequence, SimulatedObservations]]
                 ) -> dict[str, float]:
    """Streaming-mode metrics averaged over sequences (frame-weighted), plus mode agreement.

    ``stream_vs_windows_max_abs_m``: largest difference between the streaming and the
    training-mode joints over every evaluated frame (metres).
    """
    rows, agree = [], 0.0
    for seq, obs in eval_set:
        arrays = make_training_arrays(seq, obs)
        pred, idx = stream_sequence(net, arrays)
        with torch.no_grad():
            joints = pose_prediction(pred, body_model).joints_cam.double().numpy()
            win = windows_sequence(net, arrays)
            jw = pose_prediction(HMRPrediction(*[getattr(win, f)[0, idx] for f in
                                                 ('rot6d', 'rotmat', 'betas', 'pelvis_cam_m', 'joint_log_sigma')]),
                                 body_model).joints_cam.double().numpy()
        agree = max(agree, float(np.abs(joints - jw).max()))
        rows.append(sequence_metrics(joints, seq.joints_cam.astype(np.float64), idx, seq.fps))
    w = np.array([r.frames for r in rows], dtype=np.float64)
    out = {name: float(np.average([getattr(r, name) for r in rows], weights=w))
           for name in ('pa_mpjpe_mm', 'mpjpe_mm', 'accel_error_ms2', 'jitter_10ms3', 'hf_share')}
    out['frames'] = int(w.sum())
    out['stream_vs_windows_max_abs_m'] = agree
    return out
