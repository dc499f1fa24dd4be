"""Soft mask (paper formula) and EMA trajectory correction vs hand-computed values."""
import numpy as np
import pytest
from scipy import ndimage

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import quat_wxyz_from_rotmat, rotmat_from_axis_angle
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig, SoftMasker, compute_soft_mask, union_of_masks
from onlinehmr_ros.core.slam.ema import EmaConfig, EmaTrajectorySmoother, ema_weights


def test_soft_mask_hand_computed_no_blur():
    c = np.zeros((7, 7), np.float32)
    c[3, 3] = 1.0
    # 3x3 ellipse = cross; two iterations -> diamond of radius 2; no blur -> peak normalised to 1
    out = compute_soft_mask(c, SoftMaskConfig(kernel_size_px=3, iterations=2, sigma_px=0.0))
    ii, jj = np.mgrid[:7, :7]
    expected = (np.abs(ii - 3) + np.abs(jj - 3) <= 2).astype(np.float32)
    np.testing.assert_array_equal(out, expected)


def test_soft_mask_matches_formula_with_scipy():
    rng = np.random.default_rng(0)
    c = np.zeros((60, 80), np.float32)
    c[20:35, 30:42] = 1.0
    c[rng.random(c.shape) > 0.995] = 1.0
    cfg = SoftMaskConfig(kernel_size_px=5, iterations=2, sigma_px=3.0)
    out = compute_soft_mask(c, cfg)
    se = np.array([[0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]], bool)
    dil = ndimage.grey_dilation(ndimage.grey_dilation(c, footprint=se, mode='constant'), footprint=se,
                                mode='constant')
    blur = ndimage.gaussian_filter(dil.astype(np.float64), 3.0, mode='mirror', truncate=4.0)
    expected = blur / blur.max()
    assert out.dtype == np.float32 and out.shape == c.shape
    assert out.max() == pytest.approx(1.0)
    np.testing.assert_allclose(out, expected, atol=2e-3)


def test_soft_mask_modes_and_empty():
    c = np.zeros((20, 20), np.float32)
    c[8:12, 8:12] = 1.0
    hard = compute_soft_mask(c, SoftMaskConfig(kernel_size_px=3, iterations=1, sigma_px=2.0, mode='hard'))
    assert set(np.unique(hard)) == {0.0, 1.0}
    assert hard.sum() == pytest.approx(6 * 6 - 4)           # square grown by a cross: corners stay empty
    assert not compute_soft_mask(c, SoftMaskConfig(mode='none')).any()
    empty = compute_soft_mask(np.zeros((10, 10), np.float32), SoftMaskConfig())
    assert np.all(empty == 0) and np.all(np.isfinite(empty))
    # two people: both get the mask (their union), the space between them does not
    a = np.zeros((20, 40), np.float32)
    a[8:12, 4:8] = 1.0
    two = np.stack([a, np.fliplr(a)])                   # squares at columns 4-7 and 32-35
    soft = SoftMasker(SoftMaskConfig(kernel_size_px=3, iterations=1, sigma_px=1.0))(two)
    assert soft[10, 5] > 0.9 and soft[10, 34] > 0.9 and soft[10, 20] < 0.01
    np.testing.assert_allclose(soft, np.fliplr(soft), atol=1e-6)   # symmetric people, symmetric mask
    with pytest.raises(InputError):
        compute_soft_mask(c * 3, SoftMaskConfig())
    with pytest.raises(InputError):
        SoftMaskConfig(mode='fuzzy')


def test_ema_weights_and_translation_hand_computed():
    np.testing.assert_allclose(ema_weights(3, 0.5), np.array([0.25, 0.5, 1.0]) / 1.75)
    ema = EmaTrajectorySmoother(EmaConfig(alpha=0.5, buffer_size=3, lambda_clamp=1e9))
    q = np.array([1.0, 0, 0, 0])
    ts = [np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([2.0, 0, 0]), np.array([4.0, 0, 0])]
    outs = [ema.update(t, q)[0] for t in ts]
    np.testing.assert_allclose(outs[0], [0, 0, 0])
    # 2 samples: w = [1/3, 2/3]; t_bar = 2/3; t' = 2/3 + 0.5 (1 - 2/3) = 5/6
    np.testing.assert_allclose(outs[1], [5 / 6, 0, 0])
    # buffer [1, 2, 4]: t_bar = (0.25 + 1 + 4) / 1.75 = 3; t' = 3 + 0.5 * 1 = 3.5
    np.testing.assert_allclose(outs[3], [3.5, 0, 0])


def test_ema_velocity_clamp_hand_computed():
    ema = EmaTrajectorySmoother(EmaConfig(alpha=0.5, buffer_size=3, lambda_clamp=0.5))
    q = np.array([1.0, 0, 0, 0])
    for t in ([0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]):
        ema.update(np.array(t), q)
    t_out, _ = ema.update(np.array([6.0, 0, 0]), q)
    # buffer [1, 2, 6]: t_bar = (0.25 + 1 + 6) / 1.75 = 29/7; dt = 13/7
    # v_bar = (1 + 4) / 2 = 2.5; tau = 1.25 < 13/7 -> dt = 1.25; t' = 29/7 + 0.625
    np.testing.assert_allclose(t_out, [29 / 7 + 0.625, 0, 0])


def test_ema_rotation_lerp_with_hemisphere_flip():
    ema = EmaTrajectorySmoother(EmaConfig(alpha=0.25, buffer_size=4, lambda_clamp=3.0))
    q0 = np.array([1.0, 0, 0, 0])
    q1 = quat_wxyz_from_rotmat(rotmat_from_axis_angle(np.array([0, 0, 0.4])))
    ema.update(np.zeros(3), q0)
    _, q_out = ema.update(np.zeros(3), -q1)                  # same rotation, other hemisphere
    expected = 0.75 * q0 + 0.25 * q1
    np.testing.assert_allclose(q_out, expected / np.linalg.norm(expected), atol=1e-12)
    off = EmaTrajectorySmoother(EmaConfig(enabled=False))
    np.testing.assert_allclose(off.update(np.ones(3), q1)[0], np.ones(3))


def test_probability_masks_dilate_as_grey_levels():
    c = np.zeros((9, 9), np.float32)
    c[4, 4] = 0.6
    c[4, 5] = 0.3
    out = compute_soft_mask(c, SoftMaskConfig(kernel_size_px=3, iterations=1, sigma_px=0.0))
    # grey dilation with the 3x3 cross, then divided by the peak (0.6)
    assert out[4, 4] == pytest.approx(1.0) and out[3, 4] == pytest.approx(1.0)
    assert out[3, 5] == pytest.approx(0.5) and out[4, 6] == pytest.approx(0.5) and out[2, 4] == 0.0
