"""The packaged landmark-token checkpoint: loads strictly, streams, and is better than its untrained self."""
import numpy as np
import pytest
import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.hmr.learned import (CausalHMRNet, LearnedHMR, LearnedHMRConfig, load_checkpoint,
                                            packaged_checkpoint_path, save_checkpoint)
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation
from onlinehmr_ros.eval.metrics import pa_mpjpe
from onlinehmr_ros.training.data import synthetic_sequence
from onlinehmr_ros.training.observations import simulate_observations
from _learned_hmr_fakes import one_torch_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope='module')
def open_model():
    return load_body_model(BodyModelConfig())


def _pa_mpjpe_of(hmr, seq, obs):
    W, H = seq.image_size_px
    intr = CameraIntrinsics(seq.K, W, H)
    idx = np.flatnonzero(obs.frame_valid)
    joints = []
    for t in idx:
        o = PersonObservation(obs.landmarks_px[t], obs.visibility[t], obs.landmarks_3d_m[t], None, obs.bbox_px[t], 1.0)
        joints.append(hmr.step(0, o, intr, int(t)).joints)
    return float(pa_mpjpe(np.stack(joints), seq.joints_cam[idx]).mean())


def test_packaged_checkpoint_metadata_and_accuracy(open_model, tmp_path):
    net, meta = load_checkpoint(packaged_checkpoint_path())
    assert meta['body_model'] == 'open'
    assert meta['loss_weights']['w_vel'] > 0 and meta['loss_weights']['w_acc'] > 0
    assert net.cfg.encoder == 'landmarks'
    rng = np.random.default_rng(777)
    seq = synthetic_sequence(open_model, rng, 60)
    obs = simulate_observations(seq, rng)
    trained = _pa_mpjpe_of(LearnedHMR(LearnedHMRConfig(compute_vertices=False), body_model=open_model), seq, obs)
    torch.manual_seed(0)
    save_checkpoint(CausalHMRNet(net.cfg), tmp_path / 'untrained.pt', {'body_model': 'open'})
    untrained = _pa_mpjpe_of(LearnedHMR(LearnedHMRConfig(checkpoint_path=str(tmp_path / 'untrained.pt'),
                                                         compute_vertices=False), body_model=open_model), seq, obs)
    assert trained < 0.5 * untrained, (trained, untrained)
    assert trained < 150.0
