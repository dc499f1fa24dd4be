"""Synthetic sequences: render cost per frame and mediapipe's detection rate on them.

    python -m bench.bench_synthetic [--count 4] [--frames 90]

Prints, per sequence and in total:
  * generation ms/frame (posing + room ray casting + rasterising + noise + visibility), and the
    room ray cast and the people rasteriser timed alone on the same views;
  * the detection rate of mediapipe's legacy pose solution (``mp.solutions.pose``,
    model_complexity=1) in tracking mode (``static_image_mode=False``, as a video pipeline runs it)
    and in detector-only mode (``static_image_mode=True``): over frames in which at least one
    person is detectable (>= 12 of the 17 COCO keypoints visible), the share with a pose found,
    and the share whose hip midpoint lies on a ground-truth person (mask, dilated 5 px).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import cv2
import numpy as np
import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.io.raster import Mesh, render_meshes
from onlinehmr_ros.eval.synthetic import SequenceConfig, generate_sequence, person_vertices_world
from onlinehmr_ros.eval.synthetic.scene import Room

_CYCLE = (('handheld', 1), ('handheld', 2), ('static', 2), ('robot', 3), ('handheld', 3), ('static', 1))


def detection_rates(seq, static_image_mode: bool) -> tuple[int, int, int]:
    """(detectable frames, frames with a pose, frames with a pose on a GT person)."""
    import mediapipe as mp

    detectable = found = correct = 0
    kernel = np.ones((11, 11), np.uint8)
    with mp.solutions.pose.Pose(static_image_mode=static_image_mode, model_complexity=1) as pose:
        for frame in seq.iter_frames():
            i = frame.index
            res = pose.process(frame.image_rgb)
            if not any(p.keypoints_coco_visible[i].sum() >= 12 for p in seq.people):
                continue
            detectable += 1
            if res.pose_landmarks is None:
                continue
            found += 1
            lm = res.pose_landmarks.landmark
            u = 0.5 * (lm[23].x + lm[24].x) * frame.width_px
            v = 0.5 * (lm[23].y + lm[24].y) * frame.height_px
            on_person = cv2.dilate((seq.masks[i] > 0).astype(np.uint8), kernel)
            if 0 <= u < frame.width_px and 0 <= v < frame.height_px and on_person[int(v), int(u)]:
                correct += 1
    return detectable, found, correct


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--count', type=int, default=4)
    p.add_argument('--frames', type=int, default=90)
    p.add_argument('--seed', type=int, default=100)
    args = p.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    body_model = load_body_model(BodyModelConfig())
    rows = []
    totals = np.zeros(7)
    for k in range(args.count):
        kind, people = _CYCLE[k % len(_CYCLE)]
        cfg = SequenceConfig(num_frames=args.frames, num_people=people, camera_kind=kind)
        t0 = time.perf_counter()
        seq = generate_sequence(cfg, args.seed + k, body_model)
        gen_ms = 1000 * (time.perf_counter() - t0) / args.frames
        # the two render stages alone, on 10 of the sequence's views
        room = Room(dataclasses.replace(cfg.room), np.random.default_rng(0))
        idx = np.linspace(0, args.frames - 1, 10).round().astype(int)
        verts = [person_vertices_world(seq, body_model, j, idx) for j in range(len(seq.people))]
        colours = np.full((body_model.num_vertices, 3), 0.6)
        t_room = t_raster = 0.0
        for n, i in enumerate(idx):
            t = time.perf_counter()
            bg, depth = room.render(seq.intrinsics, seq.T_world_cam[i])
            t_room += time.perf_counter() - t
            meshes = [Mesh(v[n], body_model.faces, colours, j + 1) for j, v in enumerate(verts)]
            t = time.perf_counter()
            render_meshes(bg, depth, seq.intrinsics, seq.T_world_cam[i], meshes)
            t_raster += time.perf_counter() - t
        room_ms, raster_ms = 100 * t_room, 100 * t_raster
        trk = detection_rates(seq, static_image_mode=False)
        det = detection_rates(seq, static_image_mode=True)
        rows.append((seq.name, kind, len(seq.people), gen_ms, room_ms, raster_ms, trk, det))
        totals += np.array([gen_ms, room_ms, raster_ms, trk[0], trk[2], det[0], det[2]])

    def pct(a, b):
        return f'{100.0 * a / b:5.1f}%' if b else '   n/a'

    print(f'{args.count} sequences x {args.frames} frames, 640x480, body model {body_model.name} '
          f'(V={body_model.num_vertices}, F={len(body_model.faces)}), 1 thread')
    print(f'{"sequence":10s} {"camera":9s} {"ppl":>3s} {"gen ms/f":>9s} {"room ms":>8s} {"raster ms":>9s} '
          f'{"track found":>12s} {"track on GT":>12s} {"detect found":>13s} {"detect on GT":>13s}')
    for name, kind, ppl, gen_ms, room_ms, raster_ms, trk, det in rows:
        print(f'{name:10s} {kind:9s} {ppl:3d} {gen_ms:9.1f} {room_ms:8.1f} {raster_ms:9.1f} '
              f'{pct(trk[1], trk[0]):>12s} {pct(trk[2], trk[0]):>12s} {pct(det[1], det[0]):>13s} '
              f'{pct(det[2], det[0]):>13s}')
    m = totals / args.count
    found_t = sum(r[6][1] for r in rows)
    found_d = sum(r[7][1] for r in rows)
    print(f'{"all":10s} {"":9s} {"":3s} {m[0]:9.1f} {m[1]:8.1f} {m[2]:9.1f} {pct(found_t, totals[3]):>12s} '
          f'{pct(totals[4], totals[3]):>12s} {pct(found_d, totals[5]):>13s} {pct(totals[6], totals[5]):>13s}')


if __name__ == '__main__':
    main()
