"""Marker TRIANGLE_LIST (de)serialisation: numpy CDR vs rclpy, as ratios in one run.

    python -m bench.bench_marker_cdr [--repeats N]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from geometry_msgs.msg import Point
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker

from onlinehmr_ros.ros import marker_cdr


def _best_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def run(repeats: int = 5) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for n_tri in (13_776, 27_420):
        for with_colors in (False, True):
            n = 3 * n_tri
            pts = rng.normal(size=(n, 3))
            cols = rng.random((n if with_colors else 0, 4)).astype(np.float32)
            data = marker_cdr.MarkerData(frame_id='world', ns='human', points=pts, colors=cols)
            msg = Marker(type=Marker.TRIANGLE_LIST)
            msg.header.frame_id, msg.ns = 'world', 'human'
            msg.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in pts]
            msg.colors = [ColorRGBA(r=float(c[0]), g=float(c[1]), b=float(c[2]), a=float(c[3])) for c in cols]
            raw = serialize_message(msg)
            row = {
                'triangles': n_tri, 'colors': with_colors, 'bytes': len(raw),
                'rclpy_encode_ms': _best_ms(lambda: serialize_message(msg), repeats),
                'numpy_encode_ms': _best_ms(lambda: marker_cdr.encode_marker(data), repeats),
                'rclpy_decode_ms': _best_ms(lambda: deserialize_message(raw, Marker), repeats),
                'numpy_decode_ms': _best_ms(lambda: marker_cdr.decode_marker(raw), repeats),
            }
            row['encode_speedup'] = row['rclpy_encode_ms'] / row['numpy_encode_ms']
            row['decode_speedup'] = row['rclpy_decode_ms'] / row['numpy_decode_ms']
            rows.append(row)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--json', help='also write the rows to this JSON file')
    args = ap.parse_args(argv)
    rows = run(args.repeats)
    print(f"{'triangles':>9} {'colors':>6} {'MB':>6} {'rclpy enc':>10} {'ours enc':>9} {'x':>6} "
          f"{'rclpy dec':>10} {'ours dec':>9} {'x':>6}   (ms, median of {args.repeats})")
    for r in rows:
        print(f"{r['triangles']:>9} {str(r['colors']):>6} {r['bytes'] / 1e6:6.2f} {r['rclpy_encode_ms']:10.2f} "
              f"{r['numpy_encode_ms']:9.2f} {r['encode_speedup']:6.1f} {r['rclpy_decode_ms']:10.2f} "
              f"{r['numpy_decode_ms']:9.2f} {r['decode_speedup']:6.1f}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
