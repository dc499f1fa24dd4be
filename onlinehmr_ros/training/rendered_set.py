"""Training data of the learned HMR: frames rendered by the one synthetic generator, seen by the real perception.

``python -m onlinehmr_ros.training.rendered_set --out DIR --seeds 10000-10039`` renders one
sequence per seed with :func:`onlinehmr_ros.eval.synthetic.generate_sequence` (the generator of
the evaluation sets: its people, motions, rooms and camera paths), runs the pipeline's perception
backend (mediapipe, ``HMRConfig(max_people=4)`` as ``onlinehmr eval``) on every frame, assigns
each detection to the true person it shows (:func:`onlinehmr_ros.eval.hmr_breakdown.associate`)
and keeps only what training needs, per person, in ``DIR/seq_<seed>.npz`` (the frames are
dropped):

================= ============== ==============================================================
key               shape          meaning
================= ============== ==============================================================
K                 (3, 3)         intrinsics
image_size        (2,)           width, height, pixels
fps               ()             frame rate
betas             (P, B)         true shape
global_orient     (P, F, 3)      true root rotation body -> camera, axis-angle
body_pose         (P, F, 69)     true body pose, axis-angle
pelvis_cam        (P, F, 3)      true pelvis (joint 0), camera frame, metres
joints_visible    (P, F, 24)     joint inside the image and not covered
landmarks_px      (P, F, 33, 2)  mediapipe's detection of that person (zeros where none)
visibility        (P, F, 33)
landmarks_3d_m    (P, F, 33, 3)
bbox_px           (P, F, 4)
frame_valid       (P, F)         a detection was assigned to the person
================= ============== ==============================================================

Scenarios vary per seed (:func:`onlinehmr_ros.training.data.scenario`: 1-3 people, every camera
kind, horizontal field of view 50-80 degrees, people 2-7 m away, a pillar occluding one person in a
third of the sequences). Seeds must lie outside the
report set's 7000-7999 (and the evaluation sets' tune seeds 0-599 are better left out too); the
packaged checkpoint's seeds are written in its metadata. Rendering costs 0.2-0.3 s per frame on
one core and mediapipe 30-60 ms, so the set is made once and cached (an existing file is kept).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from onlinehmr_ros.core.hmr.perception.observation import bbox_from_landmarks
from onlinehmr_ros.training.data import check_training_seeds, parse_seed_ranges, people_in_camera, scenario


def render_training_sequence(seed: int, num_frames: int, body_model, hmr_config=None) -> dict[str, np.ndarray]:
    """Arrays of one training sequence (module docstring)."""
    from onlinehmr_ros.core.hmr.camera_hmr import HMRConfig
    from onlinehmr_ros.eval.hmr_breakdown import associate, camera_truth, detect
    from onlinehmr_ros.eval.synthetic import generate_sequence
    from onlinehmr_ros.eval.synthetic.generator import EventNotAchievedError
    cfg = scenario(seed, num_frames)
    try:
        seq = generate_sequence(cfg, seed, body_model=body_model)
    except EventNotAchievedError:
        cfg = dataclasses.replace(cfg, pillar=False)
        seq = generate_sequence(cfg, seed, body_model=body_model)
    dets = detect(seq, hmr_config or HMRConfig(max_people=4), progress=False)
    truth = camera_truth(seq, body_model)
    ids = associate(dets, truth)
    P, F = len(seq.people), seq.num_frames
    out = dict(people_in_camera(seq))
    out.update({'K': seq.intrinsics.K, 'image_size': np.array([seq.intrinsics.width_px, seq.intrinsics.height_px]),
                'fps': np.float64(seq.fps), 'seed': np.int64(seed), 'config': json.dumps(seq.config),
                'landmarks_px': np.zeros((P, F, 33, 2), np.float32), 'visibility': np.zeros((P, F, 33), np.float32),
                'landmarks_3d_m': np.zeros((P, F, 33, 3), np.float32), 'bbox_px': np.zeros((P, F, 4), np.float32),
                'frame_valid': np.zeros((P, F), bool)})
    for k in np.nonzero(ids >= 0)[0]:
        b, f = int(ids[k]), int(dets.frame[k])
        out['landmarks_px'][b, f] = dets.landmarks_px[k]
        out['visibility'][b, f] = dets.visibility[k]
        out['landmarks_3d_m'][b, f] = dets.landmarks_3d_m[k]
        out['bbox_px'][b, f] = bbox_from_landmarks(dets.landmarks_px[k], dets.visibility[k])
        out['frame_valid'][b, f] = True
    return out


def main(argv: list[str] | None = None) -> int:
    import torch
    from tqdm import tqdm

    from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
    ap = argparse.ArgumentParser(prog='python -m onlinehmr_ros.training.rendered_set',
                                 description='Render training sequences and cache mediapipe\'s detections '
                                             '(module docstring).')
    ap.add_argument('--out', required=True, help='folder of seq_<seed>.npz files (existing files are kept)')
    ap.add_argument('--seeds', default='10000-10039', help='e.g. 10000-10039 (never 7000-7999)')
    ap.add_argument('--frames', type=int, default=180, help='frames per sequence')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    seeds = check_training_seeds(parse_seed_ranges(args.seeds))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    body_model = load_body_model(BodyModelConfig())
    for seed in tqdm(seeds, desc='rendered training set', unit='sequence'):
        path = out / f'seq_{seed}.npz'
        if path.is_file():
            continue
        arrays = render_training_sequence(seed, args.frames, body_model)
        tmp = out / f'.seq_{seed}.tmp.npz'
        np.savez_compressed(tmp, **arrays)
        tmp.rename(path)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
