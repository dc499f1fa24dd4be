"""Soak: many frames through the node graph; RSS and ms/frame per block of frames, flat or not.

    python -m bench.bench_soak [--frames 10000] [--block 1000] [--width 320] [--video Megamind.avi]

The composed graph (``onlinehmr_pipeline``'s nodes: camera_source, mask, hmr, slam, fusion in
one process, real rclpy topics) plays the video, resized to ``--width`` and looped (camera_source
``loop``: the file is reopened at every end, a hard cut SLAM must survive), in lockstep: each
image goes out when the world output of the one before is back, so ms/frame is the graph's own
pace, not a camera's. Per block of ``--block`` images it prints the images published, the world
outputs, ms per image (wall time of the block / images) and the process's resident memory
(VmRSS); at the end the ratios last/first block (goal: ms/frame <= 1.05, RSS growth <= 5 %) and
the same against the second block (the first one holds warm-up: model loading, caches filling,
the bounded slam/path growing to its path_length). Figures, not a test: on a shared machine
compare the ratios, which are measured within one run.
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import cv2

MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'
ROOT = pathlib.Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    """Current resident set size of this process (VmRSS), MiB."""
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError('no VmRSS in /proc/self/status (Linux only)')


def resized_copy(video: str, width: int, out_dir: pathlib.Path) -> tuple[pathlib.Path, int, tuple[int, int]]:
    """``video`` resized to ``width`` (aspect kept) as an MJPG .avi in ``out_dir``: (path, frames, (w, h))."""
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    path, writer, n, size = out_dir / f'soak_{width}.avi', None, 0, None
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        size = (width, int(round(h * width / w)) // 2 * 2)
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
        writer.write(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA))
        n += 1
    cap.release()
    if writer is None:
        raise SystemExit(f'cannot read {video}')
    writer.release()
    return path, n, size


class BlockMeter:
    """Called with the images published so far; records (time, images, world outputs, RSS) at each block edge."""

    def __init__(self, block: int, outputs, total: int):
        self.block = block
        self.total = total                # the last images published end a last (shorter) block
        self.outputs = outputs            # callable: world outputs so far
        self.rows: list[tuple[int, float, int, float]] = []    # (images, t, outputs, rss)

    def start(self) -> None:
        """The stream starts (nodes built, models loaded)."""
        self.rows = [(0, time.monotonic(), 0, rss_mib())]
        print(f'      0 images (stream starts)                     RSS {self.rows[0][3]:7.1f} MiB', flush=True)

    def __call__(self, published: int) -> None:
        if self.rows and (published >= self.rows[-1][0] + self.block or
                          published >= self.total > self.rows[-1][0]):
            self.rows.append((published, time.monotonic(), self.outputs(), rss_mib()))
            images, t, outs, rss = self.rows[-1]
            prev = self.rows[-2]
            ms = 1000.0 * (t - prev[1]) / max(images - prev[0], 1)
            print(f'{images:7d} images {outs:7d} world outputs   {ms:7.1f} ms/frame   RSS {rss:7.1f} MiB', flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--frames', type=int, default=10000)
    ap.add_argument('--block', type=int, default=1000)
    ap.add_argument('--width', type=int, default=320, help='images are resized to this width (feasible on 2 cores)')
    ap.add_argument('--video', default=MEGAMIND)
    args = ap.parse_args(argv)
    import rclpy  # noqa: F401  (fail here, not in a thread, when ROS is missing)

    from onlinehmr_ros.nodes import compose
    from onlinehmr_ros.ros.env import ensure_ament_prefix_path
    ensure_ament_prefix_path()
    with tempfile.TemporaryDirectory() as tmp:
        video, n, (w, h) = resized_copy(args.video, args.width, pathlib.Path(tmp))
        print(f'soak: {args.frames} images of {pathlib.Path(args.video).name} at {w}x{h} ({n} frames, looped), '
              f'lockstep, composed graph; block {args.block}', flush=True)
        nodes: dict = {}
        meter = BlockMeter(args.block, lambda: nodes['fusion'].published if 'fusion' in nodes else 0, args.frames)
        run = compose.run_graph(['--params-file', str(ROOT / 'config' / 'pipeline.yaml')],
                                {'input': str(video), 'rate_mode': 'lockstep', 'loop': True,
                                 'max_frames': args.frames}, True, drain_s=3.0, progress=meter,
                                on_started=lambda started: (nodes.update(started), meter.start()))
        src, fusion = run.nodes['camera_source'], run.nodes['fusion']
    rows = meter.rows
    blocks = [(1000.0 * (b[1] - a[1]) / max(b[0] - a[0], 1), b[3]) for a, b in zip(rows, rows[1:])
              if b[0] - a[0] >= args.block // 2]
    print(f'{run.frames_in} images in, {run.frames_out} world outputs, lockstep timeouts '
          f'{src.lockstep.timed_out}, humans dropped without pose {fusion.fusion.stats.dropped_left}')
    if len(blocks) >= 2:
        (ms0, rss0), (ms1, rss1), (msl, rssl) = blocks[0], blocks[1], blocks[-1]
        print(f'ms/frame last/first {msl / ms0:.3f} (goal <= 1.05); RSS last/first {rssl / rss0:.3f} '
              f'(growth {100 * (rssl / rss0 - 1):+.1f} %, goal <= 5 %)')
        print(f'after warm-up: ms/frame last/second {msl / ms1:.3f}; RSS last/second {rssl / rss1:.3f} '
              f'(growth {100 * (rssl / rss1 - 1):+.1f} %)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
