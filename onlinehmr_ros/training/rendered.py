"""Evaluation data from the project's synthetic generator with the *real* perception backend.

:func:`rendered_pairs` renders single-person sequences with
:mod:`onlinehmr_ros.eval.synthetic`, runs the mediapipe backend on every
frame (as the pipeline does) and returns, per sequence, the ground truth in
the camera frame (:class:`~.data.PosedSequence`) with the detected landmarks
(:class:`~.data.SimulatedObservations` filled with real detections). These are
the learned model's evaluation inputs closest to deployment available here,
and :func:`systematic_landmark_error` measures on them the part of the
mediapipe error the noise calibration on real video cannot see: the offset
between mediapipe's landmarks and the body model's landmark regressors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onlinehmr_ros.core.common.geometry import axis_angle_from_rotmat, project_points, rotmat_from_axis_angle
from onlinehmr_ros.training.calibration import append_first_person
from onlinehmr_ros.training.data import PosedSequence, pose_sequence
from onlinehmr_ros.training.observations import SimulatedObservations


def rendered_pairs(body_model, count: int, num_frames: int, seed0: int = 500, progress: bool = False
                   ) -> list[tuple[PosedSequence, SimulatedObservations]]:
    """``count`` rendered one-person sequences (seeds ``seed0 ..``) with mediapipe observations."""
    from onlinehmr_ros.core.hmr.perception.mediapipe import MediapipeLegacyPoseBackend, MediapipePoseConfig
    from onlinehmr_ros.eval.synthetic import SequenceConfig, generate_sequence

    out = []
    for k in range(count):
        syn = generate_sequence(SequenceConfig(num_frames=num_frames, num_people=1), seed=seed0 + k,
                                body_model=body_model)
        person = syn.people[0]
        joints_cam = syn.to_camera(person.joints_world.astype(np.float64))
        R_cam_world = np.swapaxes(syn.T_world_cam[:, :3, :3], 1, 2)
        orient_cam = axis_angle_from_rotmat(R_cam_world @ rotmat_from_axis_angle(
            person.global_orient_world.astype(np.float64)))
        seq = pose_sequence(body_model, person.betas, orient_cam, person.body_pose.astype(np.float64),
                            syn.intrinsics.K, (syn.intrinsics.width_px, syn.intrinsics.height_px), syn.fps,
                            pelvis_cam=joints_cam[:, 0])
        lm, vis, l3, box, valid = [], [], [], [], []
        with MediapipeLegacyPoseBackend(MediapipePoseConfig(segmentation=False)) as backend:
            for frame in syn.iter_frames():
                append_first_person(backend.detect(frame), lm, vis, l3, box, valid)
        obs = SimulatedObservations(np.stack(lm), np.stack(vis), np.stack(l3), np.stack(box), np.array(valid),
                                    person.joints_visible.astype(np.float32))
        out.append((seq, obs))
        if progress:
            print(f'rendered sequence {k + 1}/{count}: {int(obs.frame_valid.sum())}/{num_frames} frames detected')
    return out


@dataclass(frozen=True)
class SystematicError:
    """Mediapipe landmarks vs. the body model's landmarks on rendered frames (detected frames only)."""

    bias_2d_box_frac: np.ndarray     # (33, 2) mean offset / box long side
    std_2d_box_frac: np.ndarray      # (33,) std of the offset / box long side (per axis RMS)
    rms_bias_2d_box_frac: float      # RMS over landmarks and axes of the mean offset
    scale_3d: float                  # least-squares scale mediapipe 3D / body-model 3D (hip-centred)
    bias_3d_m: np.ndarray            # (33, 3) mean offset of the 3D landmarks (hip-centred), metres
    std_3d_m: np.ndarray             # (33,) std of the 3D offset per axis (RMS over axes), metres
    frames: int


def systematic_landmark_error(pairs: list[tuple[PosedSequence, SimulatedObservations]]) -> SystematicError:
    """Offsets between detected and body-model landmarks, in units of the box's long side."""
    offs, a3, b3 = [], [], []
    for seq, obs in pairs:
        v = obs.frame_valid
        uv, _ = project_points(seq.K, seq.landmarks_cam[v].astype(np.float64))
        box = obs.bbox_px[v]
        size = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])[:, None, None]
        offs.append((obs.landmarks_px[v] - uv) / size)
        gt3 = seq.landmarks_cam[v] - 0.5 * (seq.landmarks_cam[v, 23] + seq.landmarks_cam[v, 24])[:, None]
        a3.append(obs.landmarks_3d_m[v])
        b3.append(gt3)
    o = np.concatenate(offs)
    bias = o.mean(axis=0)
    std = np.sqrt(((o - bias) ** 2).mean(axis=(0, 2)))
    a, b = np.concatenate(a3).astype(np.float64), np.concatenate(b3).astype(np.float64)
    d3 = a - b
    b3m = d3.mean(axis=0)
    return SystematicError(bias, std, float(np.sqrt((bias ** 2).mean())),
                           float(a.reshape(-1) @ b.reshape(-1) / (b.reshape(-1) @ b.reshape(-1))),
                           b3m, np.sqrt(((d3 - b3m) ** 2).mean(axis=(0, 2))), int(o.shape[0]))


def main(argv: list[str] | None = None) -> int:
    """Print the systematic mediapipe-vs-body-model landmark error on rendered sequences."""
    import argparse

    import torch

    from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model

    ap = argparse.ArgumentParser(description='Systematic landmark error of mediapipe on rendered frames '
                                             '(the numbers behind observations.RENDERED_*).')
    ap.add_argument('--count', type=int, default=6)
    ap.add_argument('--frames', type=int, default=150)
    ap.add_argument('--seed0', type=int, default=500)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    pairs = rendered_pairs(load_body_model(BodyModelConfig()), args.count, args.frames, args.seed0, progress=True)
    e = systematic_landmark_error(pairs)
    np.set_printoptions(precision=4, suppress=True, linewidth=110)
    print(f'{e.frames} detected frames; RMS mean 2D offset {e.rms_bias_2d_box_frac:.4f} of the box; '
          f'3D scale {e.scale_3d:.4f}')
    print('mean 2D offset / box (x, y) per landmark:\n', e.bias_2d_box_frac)
    print('2D std / box per landmark:\n', e.std_2d_box_frac)
    print('mean 3D offset (m) per landmark:\n', e.bias_3d_m)
    print('3D std (m) per landmark:\n', e.std_3d_m)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
