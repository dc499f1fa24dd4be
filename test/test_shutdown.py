"""Every node executable exits 0 on SIGINT / SIGTERM, whenever it comes (issue 17, item 3).

Before the fix, a terminal's Ctrl-C on `ros2 launch` (SIGINT from the terminal, then one more
from launch) made nodes exit -2 with a KeyboardInterrupt in their clean-up, and about 1 stop in
6 of hmr_node exited 1 with `Unable to convert call argument '0'` from a take after rclpy's
signal handler had shut the context down. Here the real executables run as the launch file
starts them, with images flowing (camera_source loops a video), and are stopped again and
again at random moments (during imports and model loading, and while spinning) with the
signal patterns a user and launch produce: SIGINT twice, SIGTERM, SIGINT then SIGTERM.
"""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from helpers.ros_cli import MEGAMIND, ROOT, free_domain_id, ros_env

BIN = os.path.dirname(sys.executable)
PATTERNS = ((signal.SIGINT, signal.SIGINT), (signal.SIGTERM,), (signal.SIGINT, signal.SIGTERM))
ROUNDS = 5          # x 6 processes: 30 stops (10 of hmr_node); a 1-in-6 failure goes unseen with p = 0.4 %


def _start(env, exe: str, *ros_args: str) -> subprocess.Popen:
    return subprocess.Popen([os.path.join(BIN, exe), '--ros-args', '--params-file',
                             str(ROOT / 'config' / 'pipeline.yaml'), *ros_args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_nodes_exit_0_when_stopped_repeatedly_at_random_moments():
    assert MEGAMIND.is_file(), 'install the Debian package opencv-doc (make setup does)'
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from onlinehmr_ros.msg import HumanMeshArray
    rng = random.Random(17)
    domain = free_domain_id()
    env = ros_env(domain)
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=domain)
    probe = rclpy.create_node('probe', context=context)
    outputs = []
    probe.create_subscription(HumanMeshArray, '/human/camera_humans', outputs.append, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    results = []            # (round, executable, pattern, seconds after start, exit code, stderr tail)
    try:
        for r in range(ROUNDS):
            procs = {
                'camera_source': _start(env, 'camera_source', '-p', f'camera_source:input:={MEGAMIND}', '-p',
                                        'camera_source:rate_mode:=fixed', '-p', 'camera_source:rate_hz:=15.0',
                                        '-p', 'camera_source:loop:=true'),
                'mask': _start(env, 'mask_node'),
                'hmr': _start(env, 'hmr_node'),
                'hmr_b': _start(env, 'hmr_node', '-r', '__node:=hmr_b'),
                'slam': _start(env, 'slam_node'),
                'fusion': _start(env, 'fusion_node'),
            }
            t0 = time.monotonic()
            end = t0 + 0.5                      # what the previous round left in the probe's queue
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
            outputs.clear()
            if r == 0:              # during start-up (imports, model loading)
                time.sleep(rng.uniform(1.5, 4.0))
            else:                   # while images flow through the nodes
                while len(outputs) < 3 and time.monotonic() - t0 < 120:
                    executor.spin_once(timeout_sec=0.1)
                assert len(outputs) >= 3, f'round {r}: no camera-space output within 120 s'
                time.sleep(rng.uniform(0.0, 1.5))
            delay = time.monotonic() - t0
            patterns = {name: PATTERNS[(r + i) % len(PATTERNS)] for i, name in enumerate(procs)}
            for name, p in procs.items():
                for k, sig in enumerate(patterns[name]):
                    if k:
                        time.sleep(rng.uniform(0.0, 0.3))
                    if p.poll() is None:
                        p.send_signal(sig)
            t_stop = time.monotonic()
            exit_s = {}
            for name, p in procs.items():
                try:
                    _, err = p.communicate(timeout=60)
                    exit_s[name] = round(time.monotonic() - t_stop, 1)
                except subprocess.TimeoutExpired:
                    p.kill()
                    _, err = p.communicate()
                results.append((r, name, '+'.join(s.name for s in patterns[name]), round(delay, 1), p.returncode,
                                err[-600:]))
            print(f'round {r}: stopped {delay:.1f} s after start; exited after (s): {exit_s}')
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)
    bad = [x for x in results if x[4] != 0 or 'Traceback' in x[5]]
    stops = len(results)
    print(f'\n{stops} node stops in {ROUNDS} rounds ({sum(1 for x in results if x[1].startswith("hmr"))} of '
          f'hmr_node), non-zero exits: {len(bad)}')
    assert not bad, '\n'.join(f'round {r} {name} ({pat} after {d} s): exit {rc}\n{err}' for r, name, pat, d, rc, err
                              in bad)
