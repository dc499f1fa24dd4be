"""Learned HMR data: features, simulated observations, real-dataset loader, reduced training body model."""
import dataclasses

import numpy as np
import pytest
import torch

from _learned_hmr_fakes import one_torch_thread, tiny_body_model  # noqa: F401 (autouse fixture)
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.hmr.learned.features import landmark_features
from onlinehmr_ros.training.data import (DataError, RealSequenceDataset, SequencePool, synthetic_sequence,
                                         vertex_subset)
from onlinehmr_ros.training.observations import LandmarkNoiseModel, simulate_observations
from onlinehmr_ros.training.reduced_body import TrainingBodyModel


@pytest.fixture(scope='module')
def body_model(tmp_path_factory):
    return tiny_body_model(tmp_path_factory.mktemp('bm'))


def test_landmark_features_hand_computed():
    K = np.array([[500.0, 0, 320], [0, 400.0, 240], [0, 0, 1]])
    lm = np.zeros((33, 2))
    lm[0] = [420.0, 340.0]
    vis = np.zeros(33)
    vis[0] = 0.7
    l3 = np.zeros((33, 3))
    l3[0] = [0.1, -0.2, 0.3]
    box = np.array([320.0, 240.0, 420.0, 440.0])      # 100 x 200, centre (370, 340)
    feat, bf = landmark_features(lm, vis, l3, box, K)
    assert feat.shape == (33, 8) and bf.shape == (4,)
    np.testing.assert_allclose(feat[0], [50 / 100, 0.0, 100 / 500, 100 / 400, 0.1, -0.2, 0.3, 0.7], rtol=1e-6)
    np.testing.assert_allclose(bf, [50 / 500, 100 / 400, np.log(200 / 500), np.log(100 / 200)], rtol=1e-6)
    lm[3] = np.nan
    feat, _ = landmark_features(lm, vis, l3, box, K)
    assert np.all(feat[3] == 0)
    with pytest.raises(InputError, match='not finite'):
        landmark_features(lm, vis, l3, np.full(4, np.nan), K)


def test_simulated_observations_follow_the_noise_model(body_model):
    rng = np.random.default_rng(0)
    seq = synthetic_sequence(body_model, rng, 60)
    quiet = LandmarkNoiseModel(noise_scale_range=(1e-9, 2e-9), bias_2d_box_frac=0.0, scale_3d_std=0.0,
                               occluder_prob=0.0, dropout_prob=0.0, mean_bias_2d_box_frac=None,
                               mean_bias_3d_m=None, scale_3d_mean=1.0, slow_3d_m=None)
    obs = simulate_observations(seq, rng, quiet)
    from onlinehmr_ros.core.common.geometry import project_points
    uv, _ = project_points(seq.K, seq.landmarks_cam.astype(np.float64))
    ok = obs.frame_valid
    assert ok.mean() > 0.9
    np.testing.assert_allclose(obs.landmarks_px[ok], uv[ok], atol=1e-3)
    mid = 0.5 * (seq.landmarks_cam[:, 23] + seq.landmarks_cam[:, 24])
    np.testing.assert_allclose(obs.landmarks_3d_m, seq.landmarks_cam - mid[:, None], atol=1e-5)
    # calibrated noise: the 2D residual / box size has about the configured std
    noisy = LandmarkNoiseModel(noise_scale_range=(1.0, 1.0), bias_2d_box_frac=0.0, occluder_prob=0.0,
                               dropout_prob=0.0, mean_bias_2d_box_frac=None)
    obs = simulate_observations(seq, np.random.default_rng(1), noisy)
    size = np.maximum(obs.bbox_px[:, 2] - obs.bbox_px[:, 0], obs.bbox_px[:, 3] - obs.bbox_px[:, 1])
    inside = obs.visibility > 0.5
    r = ((obs.landmarks_px - uv) / size[:, None, None])[inside]
    expected = np.broadcast_to(np.asarray(noisy.noise_2d_box_frac), inside.shape)[inside]
    ratio = np.sqrt(np.mean(r ** 2)) / np.sqrt(np.mean(expected ** 2))
    assert 0.7 < ratio < 1.3           # the box of noisy landmarks differs a little from the true one
    # the systematic offset measured on rendered frames is added in box units
    bias = tuple(np.tile([0.05, -0.02], 33))
    biased = simulate_observations(seq, np.random.default_rng(2), dataclasses.replace(
        quiet, mean_bias_2d_box_frac=bias))
    size = np.maximum(biased.bbox_px[:, 2] - biased.bbox_px[:, 0], biased.bbox_px[:, 3] - biased.bbox_px[:, 1])
    # the box is computed from the shifted landmarks, so it has the same size as the unbiased one
    off = (biased.landmarks_px - uv)[ok] / size[ok, None, None]
    np.testing.assert_allclose(off.mean(axis=(0, 1)), [0.05, -0.02], atol=2e-3)


def test_pool_batches_have_consistent_shapes(body_model):
    rng = np.random.default_rng(0)
    pool = SequencePool([synthetic_sequence(body_model, rng, 40) for _ in range(2)])
    b = pool.sample_batch(rng, 3, 16)
    assert b['landmarks'].shape == (3, 16, 33, 8) and b['frame_valid'].dtype == torch.bool
    assert b['vertices_cam'].shape == (3, 16, len(vertex_subset(body_model.num_vertices)), 3)
    with pytest.raises(DataError, match='shorter'):
        pool.sample_batch(rng, 1, 100)


def test_training_body_model_is_exact(body_model):
    ids = vertex_subset(body_model.num_vertices, count=20)
    tbm = TrainingBodyModel(body_model, ids)
    g = torch.Generator().manual_seed(0)
    b, go, bp = torch.randn(5, 10, generator=g), torch.randn(5, 3, generator=g), torch.randn(5, 69, generator=g) * .5
    j, v = tbm(b, go, bp)
    out = body_model(b, go, bp, torch.zeros(5, 3))
    torch.testing.assert_close(j, out.joints, atol=1e-5, rtol=0)
    torch.testing.assert_close(v, out.vertices[:, ids], atol=1e-5, rtol=0)


def _write_seq(path, T=12, **override):
    rng = np.random.default_rng(0)
    d = {'betas': rng.normal(0, 1, 10), 'global_orient': np.tile([np.pi, 0, 0], (T, 1)),
         'body_pose': rng.normal(0, 0.2, (T, 69)), 'transl': np.tile([0.1, 0.2, 4.0], (T, 1)),
         'K': np.array([[1000.0, 0, 960], [0, 1000.0, 540], [0, 0, 1]]), 'image_size': np.array([1920, 1080]),
         'fps': np.array(30.0)}
    d.update(override)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **d)


def test_real_dataset_loader_on_fake_layout(tmp_path, body_model):
    _write_seq(tmp_path / '3dpw' / 'downtown_walking_00_p0.npz')
    _write_seq(tmp_path / 'bedlam' / 'scene1_seq000.npz', T=8)
    T = 10
    _write_seq(tmp_path / 'h36m' / 'S9_Walking.54138969.npz', T=T,
               landmarks_px=np.full((T, 33, 2), 100.0), visibility=np.ones((T, 33)),
               landmarks_3d_m=np.zeros((T, 33, 3)), bbox_px=np.tile([0, 0, 200.0, 400.0], (T, 1)))
    ds = RealSequenceDataset(tmp_path, body_model)
    assert len(ds) == 3
    names = [f.parent.name for f in ds.files]
    assert names == ['3dpw', 'bedlam', 'h36m']
    seq, obs = ds[0]
    assert obs is None and seq.num_frames == 12 and seq.image_size_px == (1920, 1080)
    # the translation is the body model's: joints = model joints + transl
    out = body_model(torch.as_tensor(seq.betas), torch.tensor([np.pi, 0, 0], dtype=torch.float32),
                     torch.zeros(69), torch.tensor([0.1, 0.2, 4.0]))
    assert seq.joints_cam.shape == (12, 24, 3) and np.isfinite(seq.joints_cam).all()
    assert abs(seq.joints_cam[:, 0, 2].mean() - out.joints[0, 2].item()) < 0.1
    seq, obs = ds[2]
    assert obs is not None and obs.landmarks_px.shape == (T, 33, 2) and obs.frame_valid.all()


def test_real_dataset_loader_errors(tmp_path, body_model):
    with pytest.raises(DataError, match='no .npz'):
        RealSequenceDataset(tmp_path, body_model)
    _write_seq(tmp_path / 'x.npz', body_pose=np.zeros((12, 72)))
    ds = RealSequenceDataset(tmp_path, body_model)
    with pytest.raises(DataError, match='body_pose'):
        ds[0]
