"""Run the pipeline over a sequence and keep what the evaluation needs (a :class:`RunRecord`).

The record holds, per frame, the published camera pose and the frame time; per
output person, its track id, SMPL-24 joints and COCO-17 keypoints in the camera
and world frames and its per-joint confidences; and per perception detection,
mediapipe's landmarks (image, visibility, metric hip-centred 3D) for the naive
baseline. It is small (no images, masks or meshes), can be saved as .npz and
evaluated again without re-running the pipeline (``onlinehmr eval --from-runs``).

The perception detections are taken from the pipeline's own backend by a
pass-through wrapper (:class:`RecordingBackend`), so the baseline sees exactly
the landmarks the pipeline saw, at no extra cost.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from onlinehmr_ros.core.common.geometry import T_world_cam_metric
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, PoseBackend
from onlinehmr_ros.core.common.datatypes import Frame

RECORD_VERSION = 1


class RunRecordError(ValueError):
    """A record file of another version, or one that does not fit its sequence."""


class RecordingBackend(PoseBackend):
    """Passes every call to ``inner`` and keeps the detections of the last frame in ``last``."""

    def __init__(self, inner: PoseBackend):
        self.inner = inner
        self.last: list[PersonObservation] = []

    def detect(self, frame: Frame) -> list[PersonObservation]:
        self.last = list(self.inner.detect(frame))
        return self.last

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True)
class RunRecord:
    """What one pipeline run over one sequence produced (F frames, N person outputs, M detections).

    Attributes:
        sequence: sequence name.
        quat_wxyz: (F, 4) published camera-to-world rotation.
        t_world_cam: (F, 3) camera centre, SLAM units.
        scale: (F,) metres per SLAM unit.
        tracking: (F,) bool, SLAM tracked the frame.
        ms_total: (F,) pipeline time per frame, ms.
        out_frame: (N,) frame of each output person.
        out_track: (N,) its track id.
        joints_cam, joints_world: (N, 24, 3) SMPL-24 joints (world NaN where fusion gave none).
        coco_cam, coco_world: (N, 17, 3) COCO-17 keypoints.
        joint_confidence: (N, 24) published per-joint confidence.
        det_frame: (M,) frame of each detection.
        det_landmarks_px: (M, 33, 2) mediapipe image landmarks.
        det_visibility: (M, 33) mediapipe visibility.
        det_landmarks_3d_m: (M, 33, 3) mediapipe metric landmarks (hip-centred, camera-aligned).
    """
    sequence: str
    quat_wxyz: np.ndarray
    t_world_cam: np.ndarray
    scale: np.ndarray
    tracking: np.ndarray
    ms_total: np.ndarray
    out_frame: np.ndarray
    out_track: np.ndarray
    joints_cam: np.ndarray
    joints_world: np.ndarray
    coco_cam: np.ndarray
    coco_world: np.ndarray
    joint_confidence: np.ndarray
    det_frame: np.ndarray
    det_landmarks_px: np.ndarray
    det_visibility: np.ndarray
    det_landmarks_3d_m: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.scale.shape[0])

    def T_world_cam_m(self) -> np.ndarray:
        """(F, 4, 4) published camera-to-world poses with metric translation (``R(q)``, ``s t``)."""
        return T_world_cam_metric(self.quat_wxyz, self.t_world_cam, self.scale)

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name != 'sequence'}
        np.savez_compressed(out, record_version=RECORD_VERSION, sequence=self.sequence, **arrays)
        return out

    @classmethod
    def load(cls, path: str | Path) -> 'RunRecord':
        with np.load(path) as z:
            if int(z.get('record_version', -1)) != RECORD_VERSION:
                raise RunRecordError(f'{path}: run record version {z.get("record_version")} is not '
                                     f'{RECORD_VERSION}; run the evaluation again')
            return cls(**{f.name: (str(z[f.name]) if f.name == 'sequence' else z[f.name]) for f in fields(cls)})


def run_pipeline(sequence, pipeline, progress: Callable[[int], None] | None = None) -> RunRecord:
    """Feed every frame of ``sequence`` to ``pipeline`` (a fresh :class:`~onlinehmr_ros.core.pipeline.Pipeline`).

    The pipeline's perception backend is wrapped by :class:`RecordingBackend` for the run.
    """
    recorder = RecordingBackend(pipeline.hmr.backend)
    pipeline.hmr.backend = recorder
    q, t, s, trk, ms = [], [], [], [], []
    outs: dict[str, list] = {k: [] for k in ('frame', 'track', 'jc', 'jw', 'cc', 'cw', 'conf')}
    dets: dict[str, list] = {k: [] for k in ('frame', 'px', 'vis', 'l3')}
    for i, frame in enumerate(sequence.iter_frames()):
        o = pipeline.process(frame)
        p = o.camera_pose
        q.append(np.asarray(p.quat_wxyz, np.float64))
        t.append(np.asarray(p.t_world_cam, np.float64))
        s.append(float(p.scale))
        trk.append(bool(p.tracking))
        ms.append(float(o.timings_ms.get('total', np.nan)))
        world = {h.track_id: h for h in o.world_humans.humans}
        for h in o.camera_humans.humans:
            w = world.get(h.track_id)
            outs['frame'].append(i)
            outs['track'].append(int(h.track_id))
            outs['jc'].append(h.joints)
            outs['cc'].append(h.keypoints_coco[:17])
            outs['jw'].append(w.joints if w is not None else np.full((24, 3), np.nan))
            outs['cw'].append(w.keypoints_coco[:17] if w is not None else np.full((17, 3), np.nan))
            outs['conf'].append(h.joint_confidence)
        for d in recorder.last:
            dets['frame'].append(i)
            dets['px'].append(d.landmarks_px)
            dets['vis'].append(d.visibility)
            dets['l3'].append(d.landmarks_3d_m)
        if progress is not None:
            progress(1)

    def stack(x, shape):
        return np.asarray(x, np.float32).reshape((-1,) + shape)
    return RunRecord(
        sequence=sequence.name, quat_wxyz=np.asarray(q), t_world_cam=np.asarray(t), scale=np.asarray(s),
        tracking=np.asarray(trk, bool), ms_total=np.asarray(ms), out_frame=np.asarray(outs['frame'], np.int64),
        out_track=np.asarray(outs['track'], np.int64), joints_cam=stack(outs['jc'], (24, 3)),
        joints_world=stack(outs['jw'], (24, 3)), coco_cam=stack(outs['cc'], (17, 3)),
        coco_world=stack(outs['cw'], (17, 3)), joint_confidence=stack(outs['conf'], (24,)),
        det_frame=np.asarray(dets['frame'], np.int64), det_landmarks_px=stack(dets['px'], (33, 2)),
        det_visibility=stack(dets['vis'], (33,)), det_landmarks_3d_m=stack(dets['l3'], (33, 3)))
