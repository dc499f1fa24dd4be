"""Where the camera-space HMR error comes from: controlled experiments on synthetic sequences.

``python -m onlinehmr_ros.eval.hmr_breakdown --set tune --cache /work/cache/sequences`` runs the
camera-space HMR stage (:class:`~onlinehmr_ros.core.hmr.camera_hmr.CameraHMR`) on the perception
output of each sequence under several *conditions* and scores each run with the evaluation
harness (:func:`~onlinehmr_ros.eval.evaluation.evaluate_record`, people placed by the true
camera: the ``gt_camera`` row of ``onlinehmr eval``). A condition replaces one input or one
setting with the truth or with an extreme, so that the change of each figure measures that
cause:

=================  ===========================================================================
``pipeline``       the pipeline's tracker and the configured estimator on mediapipe's detections
``gt_tracks``      the same with every detection given the identity of the true person it
                   belongs to (2D keypoint matching): tracking errors removed
``gt_2d``          + 2D landmarks replaced by the projected true body-model landmarks (the
                   visibilities stay mediapipe's): the 2D keypoint error removed
``gt_3d``          + metric 3D landmarks replaced by the true ones (hip-centred, camera axes)
``gt_2d3d``        both: what is left is the solver, the priors and the joint definitions
``gt_shape``       + the true body shape (betas) given to the fitter: the size/depth ambiguity
``gt_depth``       ``gt_tracks`` with each output scaled about the camera centre to the true
                   pelvis depth (a post-hoc correction: how much of each error is depth)
``no_priors``      ``gt_tracks`` without pose and shape priors
``no_temporal``    ``gt_tracks`` without the temporal terms
``more_iters``     ``gt_tracks`` with 5x the solver iterations
=================  ===========================================================================

Detections: mediapipe runs once per sequence and its output is cached
(``--detections DIR``, one ``.npz`` per sequence) so that every condition sees the same
landmarks; run records of ``onlinehmr eval --save-runs`` hold the same arrays and can seed the
cache (``--runs DIR``).

``--sequences DIR ...`` scores saved sequence folders instead of a named set (e.g. rendered
held-out seeds that no setting was tuned on; report-set seeds are refused).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from onlinehmr_ros.core.body.loading import load_body_model
from onlinehmr_ros.core.body.model import BodyModel
from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import (invert_transform, project_points, quat_wxyz_from_rotmat,
                                                transform_points)
from onlinehmr_ros.core.hmr.camera_hmr import ESTIMATORS, CameraHMR, HMRConfig, make_backend
from onlinehmr_ros.core.hmr.people_tracker import TrackedPerson, TrackerUpdate
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, PoseBackend, bbox_from_landmarks
from onlinehmr_ros.eval.evaluation import evaluate_record
from onlinehmr_ros.eval.runs import RunRecord

DETECTIONS_VERSION = 1
#: largest mean 2D distance (fraction of the true person's height in the image) of a detection
#: assigned to a true person
ASSOCIATION_THRESHOLD = 0.3
#: metric keys of the harness's human rows shown in the table, with their headers
COLUMNS = (('pa_mpjpe', 'PA-MPJPE', '.1f'), ('mpjpe', 'MPJPE', '.1f'), ('w_mpjpe100', 'W-MPJPE100', '.0f'),
           ('wa_mpjpe100', 'WA-MPJPE100', '.0f'), ('rte', 'RTE%', '.2f'), ('accel', 'Accel', '.1f'),
           ('jitter', 'Jitter', '.1f'), ('hf_share', 'HF%', '.2f'), ('depth_ratio', 'depth', '.3f'),
           ('lag_frames', 'lag fr', '.1f'), ('conf_spearman', 'confRho', '.2f'), ('coverage', 'cover%', '.0f'))


class BreakdownError(ValueError):
    """Unusable input of the breakdown (message says what to do)."""


@dataclass(frozen=True)
class Detections:
    """What the perception backend reported for a sequence (M detections)."""
    frame: np.ndarray            # (M,) frame index
    landmarks_px: np.ndarray     # (M, 33, 2)
    visibility: np.ndarray       # (M, 33)
    landmarks_3d_m: np.ndarray   # (M, 33, 3)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, detections_version=DETECTIONS_VERSION, det_frame=self.frame,
                            det_landmarks_px=self.landmarks_px, det_visibility=self.visibility,
                            det_landmarks_3d_m=self.landmarks_3d_m)

    @classmethod
    def load(cls, path: Path) -> 'Detections':
        """From a file written by :meth:`save` or a run record (same array names)."""
        with np.load(path) as z:
            return cls(z['det_frame'], z['det_landmarks_px'], z['det_visibility'], z['det_landmarks_3d_m'])


def observation(landmarks_px: np.ndarray, visibility: np.ndarray, landmarks_3d_m: np.ndarray) -> PersonObservation:
    """A PersonObservation as the mediapipe backend builds it (box from the landmarks, score = mean visibility)."""
    return PersonObservation(landmarks_px, visibility, landmarks_3d_m, None,
                             bbox_from_landmarks(np.asarray(landmarks_px), np.asarray(visibility)),
                             float(np.mean(visibility)))


def detect(seq, config: HMRConfig, progress: bool = True) -> Detections:
    """Run the perception backend named by ``config`` over the frames of ``seq``."""
    from tqdm import tqdm
    backend = make_backend(config)
    fr, px, vis, l3 = [], [], [], []
    try:
        for i, frame in enumerate(tqdm(seq.iter_frames(), total=seq.num_frames, disable=not progress,
                                       desc=f'{seq.name} perception', unit='frame')):
            for d in backend.detect(frame):
                fr.append(i)
                px.append(d.landmarks_px)
                vis.append(d.visibility)
                l3.append(d.landmarks_3d_m)
    finally:
        backend.close()
    f32 = lambda x, s: np.asarray(x, np.float32).reshape((-1,) + s)  # noqa: E731
    return Detections(np.asarray(fr, np.int64), f32(px, (33, 2)), f32(vis, (33,)), f32(l3, (33, 3)))


def cached_detections(seq, cache: Path, config: HMRConfig, runs: Path | None = None) -> Detections:
    """The sequence's detections from ``cache`` (or a run record in ``runs``), detected and saved if missing."""
    path = cache / f'{seq.name}.npz'
    if path.is_file():
        return Detections.load(path)
    if runs is not None and (runs / f'{seq.name}.npz').is_file():
        rec = RunRecord.load(runs / f'{seq.name}.npz')
        if rec.num_frames != seq.num_frames:
            raise BreakdownError(f'{runs / seq.name}.npz has {rec.num_frames} frames, the sequence '
                                 f'{seq.num_frames}: not its run record')
        dets = Detections(rec.det_frame, rec.det_landmarks_px, rec.det_visibility, rec.det_landmarks_3d_m)
    else:
        dets = detect(seq, config)
    dets.save(path)
    return dets


def save_replay_fixture(seq, dets: Detections, path: str | Path, start: int, stop: int) -> Path:
    """Frames ``start:stop`` of a sequence's ground truth and detections in one small ``.npz`` (no images):
    enough to replay the HMR stage and score it (:func:`load_replay_fixture`; test fixtures)."""
    sl = slice(start, stop)
    keep = (dets.frame >= start) & (dets.frame < stop)
    arrays = {'K': seq.intrinsics.K, 'image_size_wh': np.array([seq.intrinsics.width_px, seq.intrinsics.height_px]),
              'fps': np.float64(seq.fps), 'seed': np.int64(seq.seed), 'name': np.str_(seq.name),
              'camera_kind': np.str_(seq.camera_kind), 'body_model': np.str_(seq.body_model),
              'T_world_cam': seq.T_world_cam[sl], 'det_frame': dets.frame[keep] - start,
              'det_landmarks_px': dets.landmarks_px[keep], 'det_visibility': dets.visibility[keep],
              'det_landmarks_3d_m': dets.landmarks_3d_m[keep]}
    from onlinehmr_ros.eval.synthetic.sequence import PersonTrack
    for key in PersonTrack.__dataclass_fields__:
        arrays[f'people_{key}'] = np.stack([getattr(p, key) if key == 'betas' else getattr(p, key)[sl]
                                            for p in seq.people])
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out


def load_replay_fixture(path: str | Path):
    """(SyntheticSequence without frames, Detections) of a :func:`save_replay_fixture` file."""
    from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
    from onlinehmr_ros.eval.synthetic.sequence import PersonTrack, SyntheticSequence
    with np.load(path) as z:
        d = {k: z[k] for k in z.files}
    w, h = (int(v) for v in d['image_size_wh'])
    P = d['people_betas'].shape[0]
    people = tuple(PersonTrack(**{k: d[f'people_{k}'][p] for k in PersonTrack.__dataclass_fields__}) for p in range(P))
    F = d['T_world_cam'].shape[0]
    seq = SyntheticSequence(name=str(d['name']), seed=int(d['seed']), fps=float(d['fps']),
                            intrinsics=CameraIntrinsics(d['K'], w, h), T_world_cam=d['T_world_cam'], people=people,
                            masks=np.zeros((F, 0, 0), np.uint8), camera_kind=str(d['camera_kind']),
                            body_model=str(d['body_model']))
    return seq, Detections(d['det_frame'], d['det_landmarks_px'], d['det_visibility'], d['det_landmarks_3d_m'])


# ---------------------------------------------------------------------------------------------
# ground truth in the camera frame
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CameraTruth:
    """True people in the camera frame (P people, F frames)."""
    landmarks_cam: np.ndarray    # (P, F, 33, 3) body-model mediapipe landmarks
    landmarks_uv: np.ndarray     # (P, F, 33, 2) their projections
    betas: np.ndarray            # (P, B)


def camera_truth(seq, body_model: BodyModel) -> CameraTruth:
    T_cw = invert_transform(seq.T_world_cam)
    dt = body_model.dtype
    lms, betas = [], []
    for p in seq.people:
        n = p.body_pose.shape[0]
        b = torch.as_tensor(np.asarray(p.betas)[:body_model.num_betas], dtype=dt)
        with torch.no_grad():
            out = body_model(b.expand(n, -1), torch.as_tensor(p.global_orient_world, dtype=dt),
                             torch.as_tensor(p.body_pose, dtype=dt), torch.as_tensor(p.transl_world, dtype=dt))
        lms.append(transform_points(T_cw, out.landmarks_mediapipe.double().numpy()))
        betas.append(b.double().numpy())
    P = len(lms)
    lm = np.stack(lms) if P else np.zeros((0, seq.num_frames, 33, 3))
    uv = project_points(seq.intrinsics.K, lm)[0] if P else np.zeros((0, seq.num_frames, 33, 2))
    return CameraTruth(lm, uv, np.stack(betas) if P else np.zeros((0, body_model.num_betas)))


def associate(dets: Detections, truth: CameraTruth, threshold: float = ASSOCIATION_THRESHOLD) -> np.ndarray:
    """(M,) index of the true person each detection shows, -1 for none (per-frame Hungarian on 2D distance).

    Distance: mean pixel distance over the landmarks mediapipe calls visible (all if fewer than 4)
    between the detection and the true person's projected landmarks, over that person's image height.
    """
    out = np.full(len(dets.frame), -1, np.int64)
    P = truth.landmarks_uv.shape[0]
    if P == 0:
        return out
    for f in np.unique(dets.frame):
        idx = np.nonzero(dets.frame == f)[0]
        uv = truth.landmarks_uv[:, f]                                     # (P, 33, 2)
        h = np.maximum(np.ptp(uv[..., 1], axis=-1), 20.0)                  # (P,)
        cost = np.full((len(idx), P), np.inf)
        for a, k in enumerate(idx):
            w = dets.visibility[k] >= 0.5
            if w.sum() < 4:
                w = np.ones(33, bool)
            d = np.linalg.norm(dets.landmarks_px[k][None, w] - uv[:, w], axis=-1).mean(-1) / h
            cost[a] = np.where(np.isfinite(d), d, np.inf)
        ok = np.where(cost <= threshold, cost, 1e6)
        rows, cols = linear_sum_assignment(ok)
        for r, c in zip(rows, cols):
            if cost[r, c] <= threshold:
                out[idx[r]] = c
    return out


# ---------------------------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------------------------
class ReplayBackend(PoseBackend):
    """Returns recorded observations by frame index; ``last_ids`` are their true-person ids (-1: none)."""

    def __init__(self, per_frame: dict[int, list[tuple[PersonObservation, int]]]):
        self.per_frame = per_frame
        self.last_ids: list[int] = []

    def detect(self, frame: Frame) -> list[PersonObservation]:
        items = self.per_frame.get(int(frame.index), [])
        self.last_ids = [b for _, b in items]
        return [o for o, _ in items]

    def reset(self) -> None:
        self.last_ids = []

    def close(self) -> None:
        pass


class TrueIdentityTracker:
    """Drop-in for :class:`~onlinehmr_ros.core.hmr.people_tracker.Tracker`: each detection's track id is
    the true person it belongs to (from :class:`ReplayBackend`); unassigned detections are dropped."""

    def __init__(self, backend: ReplayBackend):
        self.backend = backend
        self.frame = 0
        self.birth: dict[int, int] = {}

    def reset(self) -> None:
        self.birth = {}
        self.frame = 0

    def update(self, observations, roots_cam_m=None) -> TrackerUpdate:
        people = []
        for k, (obs, b) in enumerate(zip(observations, self.backend.last_ids)):
            if b < 0:
                continue
            self.birth.setdefault(b, self.frame)
            root = roots_cam_m[k] if roots_cam_m is not None else np.full(3, np.nan)
            people.append(TrackedPerson(int(b), obs, root, self.frame - self.birth[b], k))
        self.frame += 1
        return TrackerUpdate(tuple(sorted(people, key=lambda p: p.track_id)), (), np.zeros((0, 0)))


@dataclass(frozen=True)
class Condition:
    """One experiment (module docstring).

    Attributes:
        name: label.
        tracks: 'tracker' (the pipeline's) or 'true' (:class:`TrueIdentityTracker`).
        landmarks_2d / landmarks_3d: 'perception' or 'true'.
        true_shape: give the fitter the true betas of each person.
        true_depth: scale each output about the camera centre to the true pelvis depth.
        fitter: FitterConfig field changes.
        scale_iterations: multiply the solver iterations.
    """
    name: str
    tracks: str = 'true'
    landmarks_2d: str = 'perception'
    landmarks_3d: str = 'perception'
    true_shape: bool = False
    true_depth: bool = False
    fitter: tuple[tuple[str, float], ...] = ()
    scale_iterations: int = 1


CONDITIONS: dict[str, Condition] = {c.name: c for c in (
    Condition('pipeline', tracks='tracker'),
    Condition('gt_tracks'),
    Condition('gt_2d', landmarks_2d='true'),
    Condition('gt_3d', landmarks_3d='true'),
    Condition('gt_2d3d', landmarks_2d='true', landmarks_3d='true'),
    Condition('gt_shape', true_shape=True),
    Condition('gt_2d3d_shape', landmarks_2d='true', landmarks_3d='true', true_shape=True),
    Condition('gt_depth', true_depth=True),
    Condition('no_priors', fitter=(('weight_pose_prior', 0.0), ('weight_shape_prior', 0.0),
                                   ('weight_shape_track', 0.0))),
    Condition('no_temporal', fitter=(('weight_velocity', 0.0), ('weight_acceleration', 0.0),
                                     ('weight_root_acceleration', 0.0))),
    Condition('more_iters', scale_iterations=5),
)}


def _hmr_config(base: HMRConfig, cond: Condition) -> HMRConfig:
    f = base.fitter
    changes = dict(cond.fitter)
    if cond.scale_iterations != 1:
        changes.update(iterations_first=f.iterations_first * cond.scale_iterations,
                       iterations_tracking=f.iterations_tracking * cond.scale_iterations)
    return dataclasses.replace(base, fitter=dataclasses.replace(f, **changes))


def run_condition(seq, dets: Detections, ids: np.ndarray, truth: CameraTruth, cond: Condition,
                  base: HMRConfig, body_model: BodyModel, gate_counts: dict | None = None) -> RunRecord:
    """The HMR stage over the sequence under ``cond``, as a run record with the true camera.

    ``gate_counts`` (a dict, filled in): the domain gate's person-frames, those on fitting and its switches
    (estimator ``'learned'``; zeros otherwise)."""
    per_frame: dict[int, list[tuple[PersonObservation, int]]] = {}
    for k in range(len(dets.frame)):
        f, b = int(dets.frame[k]), int(ids[k])
        px, vis, l3 = dets.landmarks_px[k], dets.visibility[k], dets.landmarks_3d_m[k]
        if b >= 0 and cond.landmarks_2d == 'true':
            px = truth.landmarks_uv[b, f].astype(np.float32)
        if b >= 0 and cond.landmarks_3d == 'true':
            g = truth.landmarks_cam[b, f]
            l3 = (g - 0.5 * (g[23] + g[24])).astype(np.float32)
        per_frame.setdefault(f, []).append((observation(px, vis, l3), b))
    backend = ReplayBackend(per_frame)
    hmr = CameraHMR(_hmr_config(base, cond), body_model=body_model, backend=backend)
    if cond.tracks == 'true':
        hmr.tracker = TrueIdentityTracker(backend)
    if cond.true_shape:
        for b in range(truth.betas.shape[0]):
            hmr.fitter.set_known_shape(b, truth.betas[b])
    K = seq.intrinsics.K
    image = np.zeros((seq.intrinsics.height_px, seq.intrinsics.width_px, 3), np.uint8)
    out = {k: [] for k in ('frame', 'track', 'jc', 'cc', 'conf')}
    gate = gate_counts if gate_counts is not None else {}
    gate.update(person_frames=0, on_fitting=0, switches=0)
    for i in range(seq.num_frames):
        res = hmr.process(Frame(image, seq.stamp_ns(i), seq.intrinsics, i))
        gate['person_frames'] += len(res.gate)
        gate['on_fitting'] += len(res.fallback_tracks)
        gate['switches'] += sum(d.switched for d in res.gate.values())
        for h in res.humans.humans:
            jc, cc = h.joints.astype(np.float64), h.keypoints_coco[:17].astype(np.float64)
            if cond.true_depth and cond.tracks == 'true':
                g = truth.landmarks_cam[h.track_id, i]
                true_z = 0.5 * (g[23, 2] + g[24, 2])
                est_z = 0.5 * (cc[11, 2] + cc[12, 2])
                jc, cc = jc * (true_z / est_z), cc * (true_z / est_z)
            out['frame'].append(i)
            out['track'].append(int(h.track_id))
            out['jc'].append(jc)
            out['cc'].append(cc)
            out['conf'].append(h.joint_confidence)
    hmr.close()
    del K
    T = np.asarray(seq.T_world_cam, np.float64)
    fr = np.asarray(out['frame'], np.int64)
    jc = np.asarray(out['jc'], np.float64).reshape(-1, 24, 3)
    cc = np.asarray(out['cc'], np.float64).reshape(-1, 17, 3)
    f32 = np.float32
    return RunRecord(
        sequence=seq.name, quat_wxyz=quat_wxyz_from_rotmat(T[:, :3, :3]), t_world_cam=T[:, :3, 3].copy(),
        scale=np.ones(seq.num_frames), tracking=np.ones(seq.num_frames, bool), ms_total=np.full(seq.num_frames, np.nan),
        out_frame=fr, out_track=np.asarray(out['track'], np.int64), joints_cam=jc.astype(f32),
        joints_world=transform_points(T[fr], jc).astype(f32) if len(fr) else jc.astype(f32),
        coco_cam=cc.astype(f32), coco_world=transform_points(T[fr], cc).astype(f32) if len(fr) else cc.astype(f32),
        joint_confidence=np.asarray(out['conf'], f32).reshape(-1, 24), det_frame=dets.frame,
        det_landmarks_px=dets.landmarks_px, det_visibility=dets.visibility, det_landmarks_3d_m=dets.landmarks_3d_m)


def _mean(values) -> float:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def format_breakdown(results: dict[str, list[dict]], baseline: list[dict]) -> str:
    """Table: one row per condition (means over sequences of the ``gt_camera`` row) + the mediapipe baseline."""
    width = max([16] + [len(n) + 1 for n in results])
    head = f'{"condition":<{width}}' + ''.join(f'{h:>12}' for _, h, _ in COLUMNS)
    lines = [head, '-' * len(head)]
    rows = [(name, [r['rows']['gt_camera'] for r in rs]) for name, rs in results.items()]
    rows.append(('mp_baseline', [r['rows']['baseline'] for r in baseline]))
    for name, rs in rows:
        cells = []
        for key, _, fmt in COLUMNS:
            m = _mean([r.get(key) for r in rs])
            cells.append(f'{m:>12{fmt}}' if np.isfinite(m) else f'{"-":>12}')
        lines.append(f'{name:<{width}}' + ''.join(cells))
    joints = list(next(iter(results.values()))[0]['per_joint']['gt_camera'])
    lines += ['', 'Per-joint PA-MPJPE (mm, mean over sequences)',
              f'{"joint":<16}' + ''.join(f'{n[:11]:>12}' for n in list(results) + ['mp_baseline'])]
    for j in joints:
        vals = [_mean([r['per_joint']['gt_camera'][j] for r in rs]) for rs in results.values()]
        vals.append(_mean([r['per_joint']['baseline'][j] for r in baseline]))
        lines.append(f'{j:<16}' + ''.join(f'{v:>12.1f}' for v in vals))
    return '\n'.join(lines)


def with_changes(config, items: list[str]):
    """``config`` (a frozen dataclass) with ['weight_3d=0.1', 'smoothing.depth_alpha=0.1'] applied (typed)."""
    for item in items:
        name, _, value = item.partition('=')
        head, _, rest = name.partition('.')
        if not dataclasses.is_dataclass(config) or head not in {f.name for f in dataclasses.fields(config)}:
            raise ValueError(f'{type(config).__name__} has no field {head!r}')
        cur = getattr(config, head)
        if rest:
            new = with_changes(cur, [f'{rest}={value}'])
        elif isinstance(cur, bool):
            new = value.lower() in ('1', 'true', 'yes')
        elif isinstance(cur, tuple):
            new = tuple(type(c)(v) for c, v in zip(cur, value.split(','), strict=True))
        else:
            new = type(cur)(value)
        config = dataclasses.replace(config, **{head: new})
    return config


def sequence_folders(folders) -> list:
    """The rendered sequences saved in ``folders`` (``SyntheticSequence.save``); never the report set's seeds."""
    from onlinehmr_ros.eval.sets import REPORT_SEEDS
    from onlinehmr_ros.eval.synthetic.sequence import SequenceError, SyntheticSequence
    try:
        seqs = [SyntheticSequence.load(Path(f)) for f in folders]
    except (SequenceError, OSError) as exc:
        raise BreakdownError(f'--sequences: {exc}') from exc
    for seq in seqs:
        if seq.seed in REPORT_SEEDS:
            raise BreakdownError(f'{seq.name} has seed {seq.seed} of the report set (7000-7999): score it with '
                                 '--set report, never tune on it')
    return seqs


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from onlinehmr_ros.eval.sets import SetError, load_set
    ap = argparse.ArgumentParser(prog='python -m onlinehmr_ros.eval.hmr_breakdown',
                                 description='Per-cause breakdown of the camera-space HMR error (module docstring).')
    ap.add_argument('--set', choices=('tune', 'report'), default='tune',
                    help='sequence set (tune it on `tune`; `report` only to report figures)')
    ap.add_argument('--cache', default='out/sequences', help='sequence cache (the team shares /work/cache/sequences)')
    ap.add_argument('--count', type=int, default=0, help='only the first N sequences')
    ap.add_argument('--sequences', nargs='*', default=[], metavar='DIR',
                    help='sequence folders (SyntheticSequence, e.g. rendered held-out seeds) instead of --set; '
                         'report-set seeds (7000-7999) are refused; detections cached in out/detections/folders')
    ap.add_argument('--detections', default='', help='detection cache (default: out/detections/<set>)')
    ap.add_argument('--runs', default='', help='run records (onlinehmr eval --save-runs) to take detections from')
    ap.add_argument('--conditions', nargs='*', default=list(CONDITIONS), choices=list(CONDITIONS))
    ap.add_argument('--max-people', type=int, default=4, help='HMRConfig.max_people (as onlinehmr eval)')
    ap.add_argument('--estimators', nargs='*', default=[HMRConfig().estimator], choices=list(ESTIMATORS),
                    help='HMRConfig.estimator of the runs (several: one row per condition and estimator)')
    ap.add_argument('--learned-checkpoint', default='', help='HMRConfig.learned_checkpoint (default: packaged)')
    ap.add_argument('--fitter', nargs='*', default=[], metavar='NAME=VALUE',
                    help='FitterConfig changes of every condition (e.g. weight_3d=0.1)')
    ap.add_argument('--hmr', nargs='*', default=[], metavar='NAME=VALUE',
                    help='HMRConfig changes of every run (e.g. domain_gate.enabled=false, '
                         'learned_smoothing.pose_cutoff=1.0,0.5)')
    ap.add_argument('--json', default='', help='write the per-sequence results as JSON')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        seqs = sequence_folders(args.sequences) if args.sequences else load_set(args.set, args.cache,
                                                                                args.count or None)
    except (SetError, BreakdownError) as exc:
        print(f'hmr_breakdown: error: {exc}', file=sys.stderr)
        return 1
    set_name = 'folders' if args.sequences else args.set
    base = HMRConfig(max_people=args.max_people, learned_checkpoint=args.learned_checkpoint)
    try:
        base = dataclasses.replace(base, fitter=with_changes(base.fitter, args.fitter))
        base = with_changes(base, args.hmr)
    except (TypeError, ValueError, InputError) as exc:
        print(f'hmr_breakdown: error: --fitter {args.fitter} / --hmr {args.hmr}: {exc}', file=sys.stderr)
        return 1
    body_model = load_body_model(base.body_model)
    det_dir = Path(args.detections) if args.detections else Path('out/detections') / set_name
    runs = [(c, e, c if len(args.estimators) == 1 else f'{c}[{e}]') for e in args.estimators for c in args.conditions]
    results: dict[str, list[dict]] = {label: [] for _, _, label in runs}
    baseline: list[dict] = []
    for seq in seqs:
        dets = cached_detections(seq, det_dir, base, Path(args.runs) if args.runs else None)
        truth = camera_truth(seq, body_model)
        ids = associate(dets, truth)
        for name, est, label in tqdm(runs, desc=seq.name, unit='run'):
            gate: dict = {}
            rec = run_condition(seq, dets, ids, truth, CONDITIONS[name], dataclasses.replace(base, estimator=est),
                                body_model, gate)
            r = evaluate_record(seq, rec)
            r['domain_gate'] = gate
            results[label].append(r)
        baseline.append(r)
    print(f'{set_name} set, {len(seqs)} sequences; estimators {", ".join(args.estimators)}; gt_camera rows '
          '(people placed by the true camera), means over sequences')
    print(format_breakdown(results, baseline))
    for label, rs in results.items():
        g = [r['domain_gate'] for r in rs]
        n = sum(x['person_frames'] for x in g)
        if n:
            print(f'{label}: domain gate sent {sum(x["on_fitting"] for x in g)} of {n} person-frames to fitting '
                  f'({sum(x["switches"] for x in g)} switches; per sequence: '
                  + ', '.join(f'{x["on_fitting"]}/{x["person_frames"]}' for x in g) + ')')
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({'settings': vars(args), 'results': results}, default=float, indent=1))
        print(f'wrote {args.json}')
    return 0


__all__ = ['CONDITIONS', 'CameraTruth', 'Condition', 'Detections', 'ReplayBackend', 'TrueIdentityTracker',
           'associate', 'camera_truth', 'load_replay_fixture', 'run_condition', 'save_replay_fixture']

if __name__ == '__main__':
    raise SystemExit(main())
