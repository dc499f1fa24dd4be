"""Learned HMR losses against hand-computed values."""
import pytest
import torch

from onlinehmr_ros.core.common.geometry import project_points
from onlinehmr_ros.training.losses import LossWeights, acceleration_loss, hmr_losses, velocity_loss
from _learned_hmr_fakes import one_torch_thread  # noqa: F401 (autouse fixture)


def _traj(values):
    """(T,) x-coordinates of one joint -> (1, T, 1, 3)."""
    t = torch.tensor(values, dtype=torch.float64)
    return torch.stack([t, torch.zeros_like(t), torch.zeros_like(t)], -1)[None, :, None, :]


def test_velocity_loss_hand_computed():
    p = _traj([0.0, 1.0, 3.0, 6.0])                      # displacements 1, 2, 3 -> squares 1, 4, 9
    c = torch.tensor([[[1.0], [1.0], [0.5], [0.0]]], dtype=torch.float64)
    # weights are c at the later frame: 1, 0.5, 0 -> (1*1 + 0.5*4 + 0*9) / (1 + 0.5 + 0 + eps)
    got = velocity_loss(p, c, weight=2.0, eps=0.0)
    assert got.item() == pytest.approx(2.0 * 3.0 / 1.5)


def test_acceleration_loss_hand_computed():
    p = _traj([0.0, 1.0, 3.0, 6.0, 6.0])                 # second differences: 1, 1, -3 -> squares 1, 1, 9
    c = torch.tensor([[[1.0], [1.0], [2.0], [1.0], [1.0]]], dtype=torch.float64)
    # weights are c at the centre frames 1, 2, 3: 1, 2, 1 -> (1 + 2 + 9) / 4
    got = acceleration_loss(p, c, weight=0.5, eps=0.0)
    assert got.item() == pytest.approx(0.5 * 12.0 / 4.0)


def test_constant_velocity_has_zero_acceleration_and_static_zero_velocity():
    c = torch.ones(1, 6, 1, dtype=torch.float64)
    assert acceleration_loss(_traj([0, 1, 2, 3, 4, 5]), c, 1.0).item() == pytest.approx(0.0, abs=1e-15)
    assert velocity_loss(_traj([2.0] * 6), c, 1.0).item() == pytest.approx(0.0, abs=1e-15)


def test_epsilon_and_all_zero_confidence():
    c = torch.zeros(1, 4, 1, dtype=torch.float64)
    assert velocity_loss(_traj([0, 1, 5, 9]), c, 1.0, eps=1e-6).item() == 0.0


def test_invalid_frames_drop_the_differences_touching_them():
    p = _traj([0.0, 1.0, 100.0, 101.0, 102.0])
    c = torch.ones(1, 5, 1, dtype=torch.float64)
    valid = torch.tensor([[True, True, False, True, True]])
    # velocity pairs (0,1) and (3,4) remain: squares 1 and 1
    assert velocity_loss(p, c, 1.0, 0.0, valid).item() == pytest.approx(1.0)
    # acceleration triplets all touch frame 2 -> no term
    assert acceleration_loss(p, c, 1.0, 1e-6, valid).item() == 0.0


def _gt(B=1, T=4):
    g = torch.Generator().manual_seed(0)
    joints = torch.randn(B, T, 24, 3, generator=g, dtype=torch.float64) * 0.3 + torch.tensor([0, 0, 4.0],
                                                                                             dtype=torch.float64)
    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]], dtype=torch.float64).expand(B, T, 3, 3)
    return {'joints_cam': joints, 'vertices_cam': joints[..., :10, :] + 0.01,
            'rotmat': torch.eye(3, dtype=torch.float64).expand(B, T, 24, 3, 3),
            'betas': torch.zeros(B, T, 10, dtype=torch.float64), 'joints_2d_px': project_points(K, joints)[0],
            'box_size_px': torch.full((B, T), 200.0, dtype=torch.float64), 'K': K,
            'joint_conf': torch.ones(B, T, 24, dtype=torch.float64), 'frame_valid': torch.ones(B, T, dtype=torch.bool)}


def test_hmr_losses_zero_per_frame_terms_on_ground_truth_and_known_offsets():
    gt = _gt()
    pred = {k: gt[k] for k in ('joints_cam', 'vertices_cam', 'rotmat', 'betas')}
    pred['joint_log_sigma'] = torch.zeros(1, 4, 24, dtype=torch.float64)
    w = LossWeights(w_vel=0.0, w_acc=0.0, w_sigma=0.0)
    total, terms = hmr_losses(pred, gt, w)
    assert total.item() == pytest.approx(0.0, abs=1e-9)
    # shift every predicted point by 1 cm in x: pelvis-relative terms stay 0, L_cam = 0.01 m, 2D grows
    shifted = dict(pred)
    shifted['joints_cam'] = pred['joints_cam'] + torch.tensor([0.01, 0, 0], dtype=torch.float64)
    shifted['vertices_cam'] = pred['vertices_cam'] + torch.tensor([0.01, 0, 0], dtype=torch.float64)
    _, terms = hmr_losses(shifted, gt, w)
    assert terms['l_3d'].item() == pytest.approx(0.0, abs=1e-12)
    assert terms['l_verts'].item() == pytest.approx(0.0, abs=1e-12)
    assert terms['l_cam'].item() == pytest.approx(w.w_cam * 0.01)
    # 2D: u shifts by f * 0.01 / z per joint, in box units
    z = gt['joints_cam'][..., 2]
    expected = (500.0 * 0.01 / z / 200.0).mean().item() * w.w_2d
    assert terms['l_2d'].item() == pytest.approx(expected, rel=1e-9)
    # L_SMPL of a 90 degree error on one joint of every frame: |R - I|_F^2 = 4 (1 - cos) = 4, averaged over 24
    rot = pred['rotmat'].clone()
    rot[..., 5, :, :] = torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=torch.float64)
    bad = dict(pred, rotmat=rot)
    _, terms = hmr_losses(bad, gt, w)
    assert terms['l_smpl'].item() == pytest.approx(w.w_smpl * 4.0 / 24.0)


def test_sigma_term_does_not_move_the_pose():
    gt = _gt()
    joints = (gt['joints_cam'] + 0.05).requires_grad_(True)
    pred = {'joints_cam': joints, 'vertices_cam': gt['vertices_cam'], 'rotmat': gt['rotmat'], 'betas': gt['betas'],
            'joint_log_sigma': torch.zeros(1, 4, 24, dtype=torch.float64, requires_grad=True)}
    w = LossWeights(w_2d=0, w_3d=0, w_smpl=0, w_verts=0, w_vel=0, w_acc=0, w_cam=0, w_sigma=1.0)
    total, _ = hmr_losses(pred, gt, w)
    total.backward()
    assert joints.grad is None or torch.count_nonzero(joints.grad) == 0
    assert torch.count_nonzero(pred['joint_log_sigma'].grad) > 0
