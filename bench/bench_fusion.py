"""What one person costs on the wire at 30 Hz: /human/world_mesh (full vs decimated) and /human/world_humans.

    python -m bench.bench_fusion [--max-triangles 7000]

Prints bytes per message and MB/s per person at 30 Hz, and the time to build and encode
the markers (numpy CDR) vs rclpy's serialisation of the same MarkerArray.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main(argv=None) -> int:
    from rclpy.serialization import serialize_message

    from onlinehmr_ros.core.body.display_mesh import decimate
    from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
    from onlinehmr_ros.core.common.datatypes import HumansFrame, HumanState
    from onlinehmr_ros.core.fusion.world import root_orientation_xyzw
    from onlinehmr_ros.ros import convert, markers
    from onlinehmr_ros.ros.marker_cdr import encode_marker_array

    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--max-triangles', type=int, default=7000)
    ap.add_argument('--rate-hz', type=float, default=30.0)
    args = ap.parse_args(argv)
    model = load_body_model(BodyModelConfig())
    with torch.no_grad():
        out = model(**model.zero_params(1))
    v = out.vertices[0].numpy()
    f32 = np.float32
    h = HumanState(track_id=1, model='open', betas=np.zeros(10, f32), global_orient=np.zeros(3, f32),
                   body_pose=np.zeros(69, f32), transl=np.zeros(3, f32), joints=out.joints[0].numpy(),
                   joint_confidence=np.ones(24, f32), vertices=v, keypoints_coco=out.keypoints_coco[0, :17].numpy())
    parents = np.asarray(model.joint_parents)
    rows = []
    for label, mesh in (('full mesh', decimate(v, model.faces, 10**9)),
                        (f'decimated (<= {args.max_triangles})', decimate(v, model.faces, args.max_triangles))):
        data = markers.human_markers(h, mesh, parents, 'world', 0, skeleton=True)
        t0 = time.perf_counter()
        for _ in range(10):
            payload = encode_marker_array(markers.human_markers(h, mesh, parents, 'world', 0, skeleton=True))
        ms_ours = (time.perf_counter() - t0) * 100
        from visualization_msgs.msg import MarkerArray

        from onlinehmr_ros.ros.marker_cdr import decode_marker_array
        msgs = _to_rclpy(decode_marker_array(payload))
        t0 = time.perf_counter()
        serialize_message(MarkerArray(markers=msgs))
        ms_rclpy = (time.perf_counter() - t0) * 1000
        rows.append((f'/human/world_mesh, {label}: {mesh.num_triangles} triangles', len(payload), ms_ours, ms_rclpy))
        del data
    humans = HumansFrame(0, 'world', (h,))
    q = [root_orientation_xyzw(h)]
    for label, send in (('with vertices', True), ('without vertices', False)):
        raw = serialize_message(convert.humans_to_msg(humans, q, send))
        rows.append((f'/human/world_humans, {label}', len(raw), float('nan'), float('nan')))
    print(f'{"message (one person)":58s} {"bytes":>10s} {"MB/s @" + str(int(args.rate_hz)) + "Hz":>10s} '
          f'{"build+encode ms":>16s} {"rclpy ser. ms":>14s}')
    for name, n, ours, theirs in rows:
        print(f'{name:58s} {n:10d} {n * args.rate_hz / 1e6:10.2f} {ours:16.2f} {theirs:14.2f}')
    return 0


def _to_rclpy(datas):
    from geometry_msgs.msg import Point
    from visualization_msgs.msg import Marker
    out = []
    for d in datas:
        m = Marker(ns=d.ns, id=d.id, type=d.type, action=d.action)
        m.header.frame_id = d.frame_id
        m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in d.points]
        out.append(m)
    return out


if __name__ == '__main__':
    raise SystemExit(main())
