"""Gravity cues and their fusion, rotation-only tracking and the world frame's anchoring (synthetic data)."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.geometry import (intrinsics_from_fov, make_transform, project_points,
                                                rotmat_from_axis_angle)
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.slam.features import FeatureConfig, FeatureExtractor, Features
from onlinehmr_ros.core.slam.gravity import (GravityConfig, GravityEstimator, trunk_up_cam,
                                             vertical_direction_from_segments)
from onlinehmr_ros.core.slam.rotation import RotationConfig, RotationTracker, bearings, estimate_rotation
from onlinehmr_ros.core.slam.world_frame import WorldFrame

K = intrinsics_from_fov(640, 480, 65.0)
#: a camera pitched 9 deg down and rolled 3 deg: world (z up) -> camera
R_CW = (rotmat_from_axis_angle(np.array([0, 0, np.deg2rad(3.0)])) @ rotmat_from_axis_angle(
    np.array([np.deg2rad(-9.0), 0, 0])) @ np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]))
UP_CAM = R_CW @ np.array([0, 0, 1.0])


def _angle(a, b):
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def _segments(rng, n_vertical=12, n_clutter=40, noise_px=0.3):
    """Image segments of vertical 3D lines (room corners, door frames) 3-6 m away, plus clutter."""
    segs = []
    for _ in range(n_vertical):
        base = np.array([rng.uniform(-3, 3), rng.uniform(3, 6), 0.0])
        a = R_CW @ (base + [0, 0, rng.uniform(0.2, 0.8)]) + [0, 0, 0]
        b = R_CW @ (base + [0, 0, rng.uniform(1.6, 2.5)])
        uv, _ = project_points(K, np.stack([a, b]) + np.array([0, 0, 0.0]))
        segs.append(np.concatenate(uv) + rng.normal(0, noise_px, 4))
    for _ in range(n_clutter):                       # random short slanted segments (texture, text)
        c = rng.uniform([0, 0], [640, 480])
        d = rng.normal(size=2)
        d = d / np.linalg.norm(d) * rng.uniform(10, 60)
        segs.append(np.concatenate([c - d, c + d]))
    return np.asarray(segs)


def test_vertical_vanishing_direction_from_segments():
    rng = np.random.default_rng(0)
    prior = rotmat_from_axis_angle(np.array([np.deg2rad(10.0), 0, 0])) @ UP_CAM        # the level guess, 10 deg off
    vd = vertical_direction_from_segments(_segments(rng), K, prior, 480)
    assert vd is not None and vd.n_segments >= 10
    assert _angle(vd.up_cam, UP_CAM) < 0.2
    # clutter alone agrees on nothing
    assert vertical_direction_from_segments(_segments(rng, n_vertical=0), K, prior, 480) is None


def test_gravity_estimator_weighs_cues_and_leaves_out_outliers():
    g = GravityEstimator(GravityConfig())
    level = np.array([0, -1.0, 0])
    g.set_level_prior(level)
    st = g.state()
    np.testing.assert_allclose(st.up, level) and not st.aligned
    assert st.sigma_deg == pytest.approx(8.0)
    true_up = rotmat_from_axis_angle(np.array([np.deg2rad(-6.0), 0, 0])) @ level
    rng = np.random.default_rng(1)
    for k in range(20):
        g.step()
        g.add('people', rotmat_from_axis_angle(rng.normal(0, np.deg2rad(15), 3)) @ true_up)
        if k % 5 == 0:
            g.add('vertical_lines', rotmat_from_axis_angle(rng.normal(0, np.deg2rad(0.2), 3)) @ true_up)
    g.add('ground', rotmat_from_axis_angle(np.array([0, 0, np.deg2rad(30.0)])) @ true_up)   # a wall taken for floor
    g.add('ground', true_up)
    g.add('ground', true_up)
    st = g.state()
    assert st.aligned and _angle(st.up, true_up) < 0.5
    assert st.rejected >= 1                                   # the 30 deg "floor" was left out
    # the information of a cue is capped at its error floor: many noisy people cannot beat the lines
    assert st.weights['people'] <= 1 / GravityConfig().floor_people_deg ** 2 + 1e-12
    with pytest.raises(InputError):
        g.add('level', true_up)
    with pytest.raises(InputError):
        GravityConfig(cues=('level', 'astrology'))


def test_trunk_up_needs_confident_pelvis_and_neck():
    j = np.zeros((24, 3))
    j[12] = [0.05, -0.5, 0.0]
    c = np.ones(24)
    np.testing.assert_allclose(trunk_up_cam(j, c, 0.5), j[12] / np.linalg.norm(j[12]))
    c[12] = 0.2
    assert trunk_up_cam(j, c, 0.5) is None


def _scene_features(rng, n=600):
    """Static scene points (3-8 m) with unique random ORB-like descriptors."""
    P = np.column_stack([rng.uniform(-4, 4, n), rng.uniform(-2, 2, n), rng.uniform(3, 8, n)])
    desc = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    return P, desc


def _view(P, desc, R_cam_world, rng, noise_px=0.3, outliers=0.1):
    """Features of the scene seen by a camera at the origin rotated by R_cam_world (+ wrong matches)."""
    uv, z = project_points(K, P @ R_cam_world.T)
    ok = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < 640) & (uv[:, 1] >= 0) & (uv[:, 1] < 480)
    uv = uv[ok] + rng.normal(0, noise_px, (ok.sum(), 2))
    bad = rng.random(len(uv)) < outliers
    uv[bad] = rng.uniform([0, 0], [640, 480], (bad.sum(), 2))
    return Features(uv, desc[ok], np.ones(len(uv)), len(uv), 0)


def test_two_point_ransac_rotation_from_bearings():
    rng = np.random.default_rng(2)
    R = rotmat_from_axis_angle(np.array([0.02, -0.15, 0.03]))
    b_cur = bearings(K, rng.uniform([0, 0], [640, 480], (300, 2)))
    b_ref = b_cur @ R.T
    b_ref[:60] = bearings(K, rng.uniform([0, 0], [640, 480], (60, 2)))          # 20 % outliers
    R_est, inl = estimate_rotation(b_ref, b_cur, np.ones(300), 1.5 / K[0, 0], 120, rng)
    assert _angle(rotmat_from_axis_angle(np.zeros(3))[0], (R_est @ R.T)[0]) < 0.01
    assert inl[60:].all() and inl[:60].sum() < 5


def test_rotation_tracker_follows_a_panning_camera_over_reference_changes():
    rng = np.random.default_rng(3)
    P, desc = _scene_features(rng)
    tracker = RotationTracker(FeatureExtractor(FeatureConfig()), RotationConfig())
    tracker.reset(_view(P, desc, np.eye(3), rng), K, np.eye(3))
    rekeys = 0
    for k in range(1, 41):                          # 40 frames, 0.7 deg of pan and 0.2 of tilt per frame
        R_world_cam = rotmat_from_axis_angle(np.array([np.deg2rad(0.2) * k, np.deg2rad(0.7) * k, 0]))
        r = tracker.track(_view(P, desc, R_world_cam.T, rng), K)
        assert r.R_world_cam is not None and r.n_inliers > 100
        rekeys += r.rekeyed
        err = np.degrees(np.linalg.norm(rotmat_from_axis_angle(np.zeros(3)) - r.R_world_cam @ R_world_cam.T))
        assert err < 0.3, f'frame {k}: {err:.2f} deg'
    assert rekeys >= 1                               # the reference was chained forward
    # a view with nothing in common: no rotation, the caller holds the orientation
    other = _scene_features(np.random.default_rng(9))
    assert tracker.track(_view(*other, np.eye(3), rng), K).R_world_cam is None
    with pytest.raises(InputError):
        RotationTracker(FeatureExtractor(FeatureConfig())).track(_view(P, desc, np.eye(3), rng), K)


def test_world_frame_anchors_a_map_at_the_current_pose_and_rescales_without_a_jump():
    wf = WorldFrame()
    R_now = rotmat_from_axis_angle(np.array([0.0, 0.3, 0.0]))
    wf.set_rotation(R_now)                                        # rotation-only so far, position held at 0
    T_map_cam = make_transform(rotmat_from_axis_angle(np.array([0.1, -0.2, 0.05])), np.array([0.2, 0.0, 0.1]))
    wf.anchor_map(T_map_cam, sigma=2.0)
    np.testing.assert_allclose(wf.R_O_cam, R_now)                 # anchoring does not move the camera
    np.testing.assert_allclose(wf.p_O, 0.0, atol=1e-12)
    wf.set_map_pose(T_map_cam)                                    # the same pose through the anchor
    np.testing.assert_allclose(wf.T_O_cam(), make_transform(R_now, np.zeros(3)), atol=1e-12)
    step = make_transform(T_map_cam[:3, :3], T_map_cam[:3, 3] + np.array([0.05, 0, 0]))
    wf.set_map_pose(step)                                         # 0.05 SLAM units = 0.1 m at sigma 2
    p = wf.p_O.copy()
    assert np.linalg.norm(p) == pytest.approx(0.1)
    wf.set_scale(3.0)                                             # a new scale: no jump now ...
    np.testing.assert_allclose(wf.p_O, p, atol=1e-12)
    wf.set_map_pose(make_transform(T_map_cam[:3, :3], T_map_cam[:3, 3] + np.array([0.10, 0, 0])))
    assert np.linalg.norm(wf.p_O - p) == pytest.approx(0.15)      # ... later motion at the new scale
    pts = np.array([[0.2, 0.0, 1.1]])
    np.testing.assert_allclose(wf.map_to_O(pts), wf.c_O_map + 3.0 * pts @ wf.R_O_map.T)
    with pytest.raises(InputError):
        wf.anchor_map(T_map_cam, sigma=0.0)
