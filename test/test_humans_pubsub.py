"""HumanMeshArray over rclpy: within one process and across two processes (own domain, localhost)."""
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from onlinehmr_ros.msg import HumanMeshArray  # noqa: E402
from helpers.publish_humans import make_message  # noqa: E402

HELPER = pathlib.Path(__file__).parent / 'helpers' / 'publish_humans.py'


def _check(msg, i):
    assert msg.header.stamp.sec == i and msg.header.frame_id == 'camera_optical_frame'
    (h,) = msg.humans
    assert h.track_id == i and h.model == 'open'
    np.testing.assert_array_equal(np.asarray(h.joints), np.arange(72, dtype=np.float32) + i)
    assert len(h.vertices) == 3 * 6890 and h.vertices[100] == i


def test_in_process(rclpy_context):
    pub_node = rclpy.create_node('pub', context=rclpy_context)
    sub_node = rclpy.create_node('sub', context=rclpy_context)
    got = []
    sub_node.create_subscription(HumanMeshArray, 'humans', got.append, 10)
    pub = pub_node.create_publisher(HumanMeshArray, 'humans', 10)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(pub_node)
    ex.add_node(sub_node)
    for i in range(5):
        pub.publish(make_message(i))
        deadline = time.monotonic() + 5
        while len(got) <= i and time.monotonic() < deadline:
            ex.spin_once(timeout_sec=0.05)
    ex.shutdown()
    assert len(got) == 5
    for i, m in enumerate(got):
        _check(m, i)


def test_across_processes(rclpy_context):
    node = rclpy.create_node('sub', context=rclpy_context)
    got = []
    node.create_subscription(HumanMeshArray, 'humans', got.append, 10)
    proc = subprocess.Popen([sys.executable, str(HELPER), '8'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(node)
    deadline = time.monotonic() + 45
    while len(got) < 8 and time.monotonic() < deadline and proc.poll() is None:
        ex.spin_once(timeout_sec=0.05)
    for _ in range(20):
        ex.spin_once(timeout_sec=0.02)
    ex.shutdown()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert [m.header.stamp.sec for m in got] == list(range(8))
    for i, m in enumerate(got):
        _check(m, i)
