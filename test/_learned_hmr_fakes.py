"""A tiny SMPL-format body model (24 joints, 72 vertices) for the learned-HMR tests.

Written as an open-model ``.npz`` and loaded through the project's own
``load_body_model``, so the tests exercise the real body-model code path
without the shipped model file.
"""
import numpy as np
import pytest
import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.body.skeleton import SMPL_JOINT_PARENTS

REST_JOINTS = np.array([
    [0, 0, 0], [0.06, -0.09, 0], [-0.06, -0.09, 0], [0, 0.11, 0], [0.1, -0.47, 0], [-0.1, -0.47, 0],
    [0, 0.25, 0], [0.09, -0.87, -0.04], [-0.09, -0.87, -0.04], [0, 0.30, 0], [0.11, -0.92, 0.1],
    [-0.11, -0.92, 0.1], [0, 0.5, 0], [0.07, 0.41, 0], [-0.07, 0.41, 0], [0, 0.6, 0.05], [0.17, 0.44, 0],
    [-0.17, 0.44, 0], [0.43, 0.43, 0], [-0.43, 0.43, 0], [0.68, 0.44, 0], [-0.68, 0.44, 0],
    [0.76, 0.43, 0], [-0.76, 0.43, 0]])
# mediapipe landmark -> SMPL joint whose vertices carry it
LANDMARK_JOINT = [15] * 11 + [16, 17, 18, 19, 20, 21, 22, 23, 22, 23, 22, 23, 1, 2, 4, 5, 7, 8, 7, 8, 10, 11]


def tiny_body_model_npz(path, seed=0):
    rng = np.random.default_rng(seed)
    offsets = np.array([[0.02, 0, 0], [0, 0.02, 0], [0, 0, 0.02]])
    v = (REST_JOINTS[:, None, :] + offsets[None]).reshape(72, 3)
    jreg = np.zeros((24, 72))
    weights = np.zeros((72, 24))
    for j in range(24):
        jreg[j, 3 * j:3 * j + 3] = 1 / 3
        weights[3 * j:3 * j + 3, j] = 1.0
    parents = SMPL_JOINT_PARENTS.copy()
    kintree = np.stack([np.where(parents < 0, 4294967295, parents), np.arange(24)]).astype(np.int64)
    mp = np.zeros((33, 72))
    for k, j in enumerate(LANDMARK_JOINT):
        mp[k, 3 * j + k % 3] = 1.0
    coco = np.zeros((23, 72))
    for k in range(23):
        coco[k, 3 * k] = 1.0
    np.savez(path, v_template=v, shapedirs=rng.normal(0, 0.01, (72, 3, 10)), posedirs=np.zeros((72, 3, 207)),
             J_regressor=jreg, weights=weights, kintree_table=kintree,
             f=np.arange(72).reshape(24, 3), landmarks_mediapipe_regressor=mp, keypoints_coco_regressor=coco)
    return path


def tiny_body_model(tmp_path):
    return load_body_model(BodyModelConfig(type='open', path=str(tiny_body_model_npz(tmp_path / 'tiny.npz'))))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread (two threads spin against each other on this shared 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
