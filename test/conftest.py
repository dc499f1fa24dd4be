"""Shared fixtures. Every test run uses its own ROS domain, localhost only."""
import os
import random
import sys

import pytest

# A distinct domain per test run (0..101 are valid with default FastDDS ports); set before rclpy.init.
os.environ.setdefault('ROS_DOMAIN_ID', str(random.Random(os.getpid()).randint(1, 100)))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('MPLBACKEND', 'Agg')
os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)


@pytest.fixture
def rclpy_context():
    """An initialised rclpy context, shut down after the test."""
    rclpy = pytest.importorskip('rclpy')
    context = rclpy.context.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


@pytest.fixture
def tiny_video(tmp_path):
    """A 12-frame 64x48 MJPG video at 10 fps whose frame i has mean brightness 20*i (approx)."""
    import cv2
    import numpy as np
    path = tmp_path / 'tiny.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(12):
        img = np.full((48, 64, 3), 20 * i, np.uint8)
        img[:, :8] = (255, 0, 0)  # a blue bar on the left (BGR)
        writer.write(img)
    writer.release()
    return path


@pytest.fixture(scope='session')
def open_body_model():
    """The packaged open body model, loaded once per test session (one torch thread on the shared CPU)."""
    import torch

    from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
    torch.set_num_threads(1)
    return load_body_model(BodyModelConfig())


# --------------------------------------------------------------------------- SLAM scenes
# Sequences of the one synthetic generator (eval.synthetic) shared by the SLAM tests: rendered once per
# session (about 0.3 s per 640x480 frame here). Seeds below 1000 (the tuning range).
SLAM_HANDHELD = dict(num_frames=150, num_people=1, camera_kind='handheld', people_depth_m=(3.0, 5.0))
SLAM_HANDHELD_SEED = 21
SLAM_STATIC = dict(num_frames=40, num_people=1, camera_kind='static', people_depth_m=(3.0, 5.0))
SLAM_STATIC_SEED = 22
SLAM_ROBOT = dict(num_frames=60, num_people=1, camera_kind='robot', people_depth_m=(3.0, 5.0))
SLAM_ROBOT_SEED = 23


def _sequence(open_body_model, config: dict, seed: int):
    from onlinehmr_ros.eval.synthetic import SequenceConfig, generate_sequence
    return generate_sequence(SequenceConfig(**config), seed=seed, body_model=open_body_model)


@pytest.fixture(scope='session')
def slam_handheld(open_body_model):
    """A hand-held camera (1.35-1.65 m high, walking 1-3 m) filming one person in the textured room."""
    return _sequence(open_body_model, SLAM_HANDHELD, SLAM_HANDHELD_SEED)


@pytest.fixture(scope='session')
def slam_static(open_body_model):
    """A static camera filming one person."""
    return _sequence(open_body_model, SLAM_STATIC, SLAM_STATIC_SEED)


@pytest.fixture(scope='session')
def slam_robot(open_body_model):
    """A robot camera (0.8-1.2 m high, planar motion) filming one person: another view for cut tests."""
    return _sequence(open_body_model, SLAM_ROBOT, SLAM_ROBOT_SEED)


MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'


@pytest.fixture(scope='session')
def megamind_frames():
    """``load(n)``: the first ``n`` frames of opencv's Megamind.avi as RGB :class:`Frame` s (24 fps stamps,
    the default 60-degree intrinsics)."""
    import cv2
    import numpy as np
    from onlinehmr_ros.core.common.datatypes import Frame
    from onlinehmr_ros.core.hmr.camera_hmr import default_intrinsics

    def load(n: int):
        cap = cv2.VideoCapture(MEGAMIND)
        imgs = []
        for _ in range(n):
            ok, bgr = cap.read()
            assert ok, 'Megamind.avi missing: install opencv-doc (make setup does)'
            imgs.append(np.ascontiguousarray(bgr[:, :, ::-1]))
        intr = default_intrinsics(imgs[0].shape[1], imgs[0].shape[0])
        return [Frame(im, i * 41_666_667, intr, i) for i, im in enumerate(imgs)]
    return load
