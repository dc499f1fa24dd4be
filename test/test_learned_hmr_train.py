"""The training command end to end on a tiny body model: runs, writes a loadable checkpoint, learns."""
import numpy as np
import torch

from _learned_hmr_fakes import one_torch_thread, tiny_body_model, tiny_body_model_npz  # noqa: F401 (autouse)
from onlinehmr_ros.core.hmr.learned import load_checkpoint
from onlinehmr_ros.core.hmr.learned.config import LearnedHMRModelConfig, TemporalConfig
from onlinehmr_ros.training.data import SequencePool, synthetic_sequence
from onlinehmr_ros.training.losses import LossWeights
from onlinehmr_ros.training.train import TrainConfig, main, train


def test_train_command_writes_a_strictly_loadable_checkpoint(tmp_path, capsys):
    npz = tiny_body_model_npz(tmp_path / 'tiny.npz')
    out = tmp_path / 'm.pt'
    # --stop-after: a run stopped part-way through its schedule (as a wall-time limit stops one) is repeatable
    rc = main(['--out', str(out), '--steps', '10', '--stop-after', '3', '--batch-size', '2', '--clip-len', '8', '--seeds', '20000-20001', '--data-cache', str(tmp_path / 'people'),
               '--sequence-frames', '20', '--eval-sequences', '1', '--window', '4', '--dim', '16', '--heads', '2',
               '--depth', '1', '--body-model-path', str(npz), '--no-progress'])
    assert rc == 0
    net, meta = load_checkpoint(out)
    assert meta['steps_done'] == 3 and meta['body_model'] == 'open' and meta['loss_weights']['w_acc'] > 0
    assert np.isfinite(meta['eval_synthetic']['pa_mpjpe_mm'])
    assert meta['eval_synthetic']['stream_vs_windows_max_abs_m'] < 1e-4
    assert 'wrote' in capsys.readouterr().out


def test_training_reduces_the_loss(tmp_path):
    bm = tiny_body_model(tmp_path)
    rng = np.random.default_rng(0)
    pool = SequencePool([synthetic_sequence(bm, rng, 30) for _ in range(3)])
    cfg = TrainConfig(steps=200, batch_size=4, clip_len=8, lr=3e-3, max_minutes=2.0,
                      model=LearnedHMRModelConfig(temporal=TemporalConfig(window=4, depth=1, dim=32, num_heads=2)),
                      weights=LossWeights(w_vel=0.0, w_acc=0.0))
    torch.manual_seed(0)
    _, summary = train(cfg, bm, pool, progress=False)
    first = summary['first_losses']['total']
    last = summary['final_losses']['total']
    assert last < 0.7 * first, (first, last)
