"""The one geometry module: projection (+ Jacobian, numpy and torch), the world transform, skew, slerp."""
import numpy as np
import pytest
import torch

from onlinehmr_ros.core.common.geometry import (T_world_cam_metric, axis_angle_from_rotmat, guarded_depth,
                                                project_points, projection_jacobian, quat_wxyz_from_rotmat,
                                                rotmat_from_axis_angle, skew_matrix, slerp_rotmat,
                                                so3_right_jacobian)

K = np.array([[500.0, 2.0, 320.0], [0.0, 480.0, 240.0], [0.0, 0.0, 1.0]])   # with a skew


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_projection_is_the_pinhole_formula(dtype):
    p = np.array([[0.5, -0.25, 2.0], [0.0, 0.0, 4.0], [1.0, 1.0, -1.0]], dtype)
    uv, z = project_points(K, p)
    assert uv.dtype == dtype
    np.testing.assert_allclose(uv[0], [500 * 0.25 + 2 * -0.125 + 320, 480 * -0.125 + 240], rtol=1e-6)
    np.testing.assert_allclose(uv[1], [320, 240], rtol=1e-6)
    assert np.all(np.isnan(uv[2])) and z[2] == -1.0          # behind the camera: no pixel
    # with a depth guard every point projects; beyond the guard nothing changes
    uv_g, _ = project_points(K, p, min_depth_m=1e-3)
    np.testing.assert_allclose(uv_g[:2], uv[:2], rtol=1e-6)
    assert np.all(np.isfinite(uv_g))


def test_depth_guard_keeps_the_sign_and_only_touches_small_depths():
    z = np.array([-2.0, -1e-9, 0.0, 1e-9, 3.0])
    np.testing.assert_array_equal(guarded_depth(z, 1e-6), [-2.0, -1e-6, 1e-6, 1e-6, 3.0])


def test_torch_projection_agrees_and_has_gradients():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(2, 5, 3)) + [0, 0, 4]
    Kb = np.broadcast_to(K, (2, 3, 3))
    pt = torch.tensor(p, requires_grad=True)
    uv_t, z_t = project_points(torch.tensor(Kb), pt, min_depth_m=0.1)
    np.testing.assert_allclose(uv_t.detach().numpy(), project_points(Kb, p, min_depth_m=0.1)[0], rtol=1e-12)
    uv_t.sum().backward()
    # d(u + v)/dp of the first point, from the Jacobian
    J = projection_jacobian(K, p[0, 0], 0.1)
    np.testing.assert_allclose(pt.grad[0, 0].numpy(), J.sum(axis=0), rtol=1e-9)
    nan_t, _ = project_points(torch.tensor(K), torch.tensor([[0.0, 0.0, -1.0]]))
    assert torch.isnan(nan_t).all()


def test_projection_jacobian_matches_finite_differences():
    rng = np.random.default_rng(1)
    p = rng.normal(size=(6, 3)) + [0, 0, 3]
    J = projection_jacobian(K, p, 1e-6)
    h = 1e-6
    for k in range(3):
        d = np.zeros(3)
        d[k] = h
        fd = (project_points(K, p + d, 1e-6)[0] - project_points(K, p - d, 1e-6)[0]) / (2 * h)
        np.testing.assert_allclose(J[:, :, k], fd, rtol=1e-6, atol=1e-6)


def test_world_transform_is_the_paper_formula():
    rng = np.random.default_rng(2)
    R = rotmat_from_axis_angle(rng.normal(size=3))
    q = quat_wxyz_from_rotmat(R)
    t, s = rng.normal(size=3), 2.5
    T = T_world_cam_metric(q, t, s)
    p = rng.normal(size=(4, 3))
    np.testing.assert_allclose(p @ T[:3, :3].T + T[:3, 3], p @ R.T + s * t, atol=1e-12)
    np.testing.assert_array_equal(T[3], [0, 0, 0, 1])


def test_skew_matrix_is_the_cross_product():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(np.einsum('nij,nj->ni', skew_matrix(a), b), np.cross(a, b), atol=1e-12)


def test_slerp_turns_by_the_fraction_of_the_angle_about_one_axis():
    R0 = rotmat_from_axis_angle(np.array([0.1, -0.2, 0.3]))
    step = np.array([0.0, 0.0, 0.8])
    R1 = rotmat_from_axis_angle(step) @ R0
    R = slerp_rotmat(R0, R1, 0.25)
    np.testing.assert_allclose(axis_angle_from_rotmat(R @ R0.T), 0.25 * step, atol=1e-12)


def test_single_vectors_found_by_mutation_testing():
    """Unbatched inputs (one vector, one pixel): shapes and signs, beside the batched tests."""
    from onlinehmr_ros.core.common.geometry import backproject_pixels, skew_matrix, translation_from_2d3d
    v, w = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1])
    S = skew_matrix(v)
    assert S.shape == (3, 3)
    np.testing.assert_allclose(S @ w, np.cross(v, w))
    K = np.array([[500.0, 0, 320], [0, 480.0, 240], [0, 0, 1]])
    X = backproject_pixels(K, np.array([[420.0, 120.0], [320.0, 240.0], [100.0, 400.0]]), np.array([2.0, 3.0, 4.0]))
    np.testing.assert_allclose(X, [[0.4, -0.5, 2.0], [0.0, 0.0, 3.0], [-1.76, 1.3333333, 4.0]], atol=1e-6)
    # translation of a known body from its pixels (several points, off-centre principal point)
    body = np.array([[0.0, -0.8, 0.1], [0.2, 0.1, 0.0], [-0.2, 0.1, -0.1], [0.1, 0.9, 0.05], [-0.1, 0.9, 0.0]])
    t_true = np.array([0.4, 0.2, 4.0])
    cam = body + t_true
    uv = np.stack([500 * cam[:, 0] / cam[:, 2] + 320, 480 * cam[:, 1] / cam[:, 2] + 240], axis=1)
    np.testing.assert_allclose(translation_from_2d3d(K, body, uv), t_true, atol=1e-6)
    w = np.array([1.0, 1.0, 1.0, 0.0, 1.0])          # a zero weight drops a point (here a wrong one)
    uv_bad = uv.copy()
    uv_bad[3] += 80.0
    np.testing.assert_allclose(translation_from_2d3d(K, body, uv_bad, weights=w), t_true, atol=1e-6)


@pytest.mark.parametrize('angle', [0.0, 3e-5, 0.5, 2.0, 3.1])
def test_so3_right_jacobian_maps_axis_angle_steps_to_rotation_increments(angle):
    """R(theta + d) = R(theta) exp([J_r d]_x) to first order, for large, small (Taylor branch) and zero angles:
    central differences of scipy's exponential map."""
    rng = np.random.default_rng(int(angle * 10))
    axis = rng.normal(size=3)
    theta = angle * axis / np.linalg.norm(axis)
    Jr = so3_right_jacobian(theta)
    h = 1e-6
    for a in range(3):
        d = np.zeros(3)
        d[a] = h
        dR = (rotmat_from_axis_angle(theta + d) - rotmat_from_axis_angle(theta - d)) / (2 * h)
        expected = rotmat_from_axis_angle(theta) @ skew_matrix(Jr[:, a])
        np.testing.assert_allclose(dR, expected, atol=1e-8)
