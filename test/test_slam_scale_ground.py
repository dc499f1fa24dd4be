"""Ground plane, gravity alignment without a jump, metric scale measurements (synthetic data)."""
import dataclasses

import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame, HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import (intrinsics_from_fov, invert_transform, make_transform,
                                                rotmat_from_axis_angle, transform_points)
from onlinehmr_ros.core.slam.ground import (R_WORLD_OPTICAL_LEVEL, FloorTracker, GravityAligner, GroundConfig,
                                            find_floor, fit_ground_plane, floor_depression_deg, rotation_world_from_slam,
                                            sharpest_floor_direction, track_ground_offset)
from onlinehmr_ros.core.slam.scale import MetricDepthModel, ScaleConfig, ScaleError, ScaleEstimator

S_TRUE = 2.5                     # metres per SLAM unit in these fakes
INTR = CameraIntrinsics(intrinsics_from_fov(640, 480, 65.0), 640, 480)
# world (z-up, metres) -> first camera: 1.5 m high, pitched 15 deg down, looking along +y
R0 = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]) @ rotmat_from_axis_angle(np.array([np.deg2rad(-15), 0, 0]))
T_W_C0 = make_transform(R0, np.array([0.0, 0.0, 1.5]))


def _slam_from_world(p_world):
    """Metric world points -> SLAM world (first camera's frame, SLAM units)."""
    return transform_points(invert_transform(T_W_C0), p_world) / S_TRUE


def _scene_points(rng, n_floor=400, n_wall=300):
    floor = np.column_stack([rng.uniform(-3, 3, n_floor), rng.uniform(1, 8, n_floor), rng.normal(0, 0.005, n_floor)])
    wall = np.column_stack([rng.uniform(-3, 3, n_wall), np.full(n_wall, 8.0) + rng.normal(0, 0.005, n_wall),
                            rng.uniform(0, 3, n_wall)])
    return floor, wall


def test_ground_plane_found_below_the_cameras_not_the_wall():
    rng = np.random.default_rng(0)
    floor, wall = _scene_points(rng)
    pts = _slam_from_world(np.concatenate([floor, wall]))
    plane = fit_ground_plane(pts, np.zeros((1, 3)), GroundConfig(), rng=np.random.default_rng(1))
    up_slam = R0.T @ np.array([0, 0, 1.0])
    assert plane is not None
    assert np.degrees(np.arccos(plane.normal @ up_slam)) < 0.5
    assert plane.signed_height(np.zeros(3)) == pytest.approx(1.5 / S_TRUE, rel=0.01)   # camera height
    # the world rotation maps the floor normal to +z and keeps the camera's forward direction on +x
    R = rotation_world_from_slam(plane.normal)
    np.testing.assert_allclose(R @ plane.normal, [0, 0, 1], atol=1e-9)
    assert (R @ np.array([0, 0, 1.0]))[0] > 0.9 and abs((R @ np.array([0, 0, 1.0]))[1]) < 1e-9
    # too few points: no plane
    assert fit_ground_plane(pts[:50], np.zeros((1, 3))) is None


def test_ground_offset_follows_scale_drift():
    rng = np.random.default_rng(2)
    floor, wall = _scene_points(rng)
    pts = _slam_from_world(np.concatenate([floor, wall]))
    plane = fit_ground_plane(pts, np.zeros((1, 3)), rng=np.random.default_rng(1))
    drifted = track_ground_offset(plane, pts * 1.05, np.zeros(3))
    assert drifted.offset == pytest.approx(plane.offset * 1.05, rel=2e-3)
    np.testing.assert_array_equal(drifted.normal, plane.normal)


def test_gravity_correction_is_blended_without_a_position_jump():
    rng = np.random.default_rng(3)
    floor, wall = _scene_points(rng)
    plane = fit_ground_plane(_slam_from_world(np.concatenate([floor, wall])), np.zeros((1, 3)),
                             rng=np.random.default_rng(1))
    al = GravityAligner(blend_rate_deg=1.5)
    np.testing.assert_array_equal(al.R, R_WORLD_OPTICAL_LEVEL)        # level-camera guess first
    centres = [np.array([0.01 * k, 0.0, 0.02 * k]) for k in range(30)]
    R_target = rotation_world_from_slam(plane.normal)
    total_deg = np.degrees(np.arccos(np.clip((np.trace(R_target @ al.R.T) - 1) / 2, -1, 1)))
    assert total_deg == pytest.approx(15.0, abs=0.5)                 # the camera is pitched 15 deg down
    published = []
    for k, c in enumerate(centres):
        if k == 5:
            al.set_up(plane.normal, any_pose_published=True)
        R_prev = al.R.copy()
        al.step()
        published.append(al.R @ c)
        step_deg = np.degrees(np.arccos(np.clip((np.trace(al.R @ R_prev.T) - 1) / 2, -1, 1)))
        assert step_deg < 1.5 + 1e-6                                 # at most blend_rate_deg per frame
        assert al.blending == (5 <= k < 5 + int(np.ceil(total_deg / 1.5)) - 1)
    np.testing.assert_allclose(al.R, rotation_world_from_slam(plane.normal), atol=1e-9)
    assert not al.blending and al.gravity_known
    steps = np.linalg.norm(np.diff(published, axis=0), axis=1)
    # no jump: beyond the camera's own step, a position moves by at most |c| x the rotation rate
    own = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert np.all(steps <= own + np.linalg.norm(centres[1:], axis=1) * np.deg2rad(1.5) + 1e-9)
    # found before any pose was published: exact rotation at once, origin at the first camera
    al2 = GravityAligner(blend_rate_deg=1.5)
    al2.set_up(plane.normal, any_pose_published=False)
    np.testing.assert_allclose(al2.R, rotation_world_from_slam(plane.normal))
    assert not al2.blending


def _human(joints_cam):
    """A stick figure (pelvis and feet): it has no skeleton, so the people rulers of these tests use the size the
    HMR gave it (``stature_prior=False``); the stature prior is tested on body-model people in
    test_scale_stature.py."""
    j = np.zeros((24, 3), np.float32)
    j[:] = joints_cam[0]
    j[10], j[11] = joints_cam[1], joints_cam[2]
    return HumanState(1, 'open', np.zeros(10, np.float32), np.zeros(3, np.float32), np.zeros(69, np.float32),
                      j[0], j, np.ones(24, np.float32), np.zeros((0, 3), np.float32), np.zeros((17, 3), np.float32))


def _camera_and_person(k):
    """Camera k (moved and turned), its SLAM pose, and a person standing on the floor in view."""
    T_w_c = make_transform(rotmat_from_axis_angle(np.array([0, 0, 0.05 * k])) @ R0, np.array([0.2 * k, 0.3 * k, 1.5]))
    feet_w = np.array([[0.2 * k - 0.12, 0.3 * k + 3.5, 0.05], [0.2 * k + 0.12, 0.3 * k + 3.5, 0.05]])
    pelvis_w = np.array([[0.2 * k, 0.3 * k + 3.5, 0.9]])
    joints_c = transform_points(invert_transform(T_w_c), np.concatenate([pelvis_w, feet_w]))
    T_slam_c = invert_transform(T_W_C0) @ T_w_c
    T_slam_c[:3, 3] /= S_TRUE
    return invert_transform(T_slam_c), HumansFrame(k, 'camera', (_human(joints_c),))


def _floor_scene(seed):
    """Map points of a floor (3000) and a wall in SLAM units, and the ground plane fitted to them."""
    floor, wall = _scene_points(np.random.default_rng(seed), n_floor=3000)
    pts = _slam_from_world(np.concatenate([floor, wall]))
    return pts, fit_ground_plane(pts, np.zeros((1, 3)), rng=np.random.default_rng(1))


def _frame():
    return Frame(np.zeros((480, 640, 3), np.uint8), 0, INTR, 0)


def test_people_ruler_measures_the_scale_on_the_ground_plane():
    pts, plane = _floor_scene(4)
    est = ScaleEstimator(ScaleConfig(foot_joint_height_m=0.05, min_person_samples=5, stature_prior=False))
    for k in range(12):
        T_c_slam, humans = _camera_and_person(k)
        st = est.update(_frame(), T_c_slam, pts, plane, humans)
        assert np.isfinite(st.last_measurement), st.source
        assert st.measured == (k >= 4)                 # a person counts after min_person_samples measurements
    assert 'people: 1 on the ground plane' in st.source and st.n_people == 1
    assert st.scale == pytest.approx(S_TRUE, rel=0.005)
    assert st.converged and st.rel_sigma == pytest.approx(0.08)
    # no ground plane: no measurement (map points near a foot are too often something else)
    st = ScaleEstimator(ScaleConfig()).update(_frame(), _camera_and_person(0)[0], pts, None, _camera_and_person(0)[1])
    assert not st.measured and 'no ground plane' in st.source


def test_the_lower_foot_is_the_ruler_not_the_one_in_the_air():
    """A walking person: one foot 20 cm up (seen from 1.5 m it would put the floor 15 % too far); the scale
    comes from the foot on the floor."""
    pts, plane = _floor_scene(6)
    est = ScaleEstimator(ScaleConfig(foot_joint_height_m=0.05, min_person_samples=5, stature_prior=False))
    for k in range(8):
        T_c_slam, humans = _camera_and_person(k)
        h = humans.humans[0]
        T_w_c = invert_transform(T_c_slam)
        T_w_c[:3, 3] *= S_TRUE
        T_w_c = T_W_C0 @ T_w_c                                 # metric camera -> world
        up_c = T_w_c[:3, :3].T @ np.array([0.0, 0.0, 1.0])
        j = h.joints.copy()
        j[10 + k % 2] += (0.2 * up_c).astype(np.float32)      # feet take turns in the air
        st = est.update(_frame(), T_c_slam, pts, plane, HumansFrame(k, 'camera', (dataclasses.replace(h, joints=j),)))
    assert st.scale == pytest.approx(S_TRUE, rel=0.01)


def _person_of_height(k, track_id, depth_factor):
    """Camera k's person as an HMR would see someone of another size: its depth off by depth_factor."""
    T_c_slam, humans = _camera_and_person(k)
    h = humans.humans[0]
    h = dataclasses.replace(h, track_id=track_id, joints=(h.joints * depth_factor).astype(np.float32))
    return T_c_slam, HumansFrame(k, 'camera', (h,))


def test_people_are_pooled_per_person_and_averaged():
    """A short person (HMR puts them 20 % too far) seen for long and a tall one (10 % too near) seen
    briefly count the same: one ruler each, combined in log scale."""
    pts, plane = _floor_scene(7)
    est = ScaleEstimator(ScaleConfig(min_person_samples=3, foot_joint_height_m=0.05, stature_prior=False))
    for k in range(10):
        T, a = _person_of_height(k, 1, 1.2)
        humans = [a.humans[0]]
        if k >= 7:
            _, b = _person_of_height(k, 2, 0.9)
            humans.append(b.humans[0])
        st = est.update(_frame(), T, pts, plane, HumansFrame(k, 'camera', tuple(humans)))
    assert st.n_people == 2
    assert st.scale == pytest.approx(S_TRUE * np.sqrt(1.2 * 0.9), rel=0.01)
    assert st.rel_sigma == pytest.approx(0.08 / np.sqrt(2))


def test_scale_without_people_or_tracking_reports_why():
    est = ScaleEstimator(ScaleConfig())
    st = est.update(_frame(), None, np.zeros((0, 3)), None, None)
    assert not st.measured and np.isnan(st.scale) and st.source == 'not tracking'
    st = est.update(_frame(), np.eye(4), np.zeros((0, 3)), None, HumansFrame(0, 'camera', ()))
    assert 'people: nobody' in st.source and np.isnan(st.last_measurement)


def test_camera_height_sources_and_their_weights():
    rng = np.random.default_rng(5)
    floor, wall = _scene_points(rng)
    pts = _slam_from_world(np.concatenate([floor, wall]))
    plane = fit_ground_plane(pts, np.zeros((1, 3)), rng=np.random.default_rng(1))
    T_c_slam, humans = _camera_and_person(3)
    est = ScaleEstimator(ScaleConfig(sources='camera_height', camera_height_m=1.5))
    st = est.update(_frame(), T_c_slam, pts, plane, None)
    assert st.scale == pytest.approx(S_TRUE, rel=0.01) and st.converged
    assert np.isnan(est.update(_frame(), T_c_slam, pts, None, None).last_measurement)
    with pytest.raises(ScaleError):
        ScaleConfig(sources='camera_height')
    with pytest.raises(ScaleError, match='sources'):
        ScaleConfig(sources='people,guesswork')
    # a robot's known height (2 %) outweighs a person 20 % off (8 %): 1/0.02^2 vs 1/0.08^2
    both = ScaleEstimator(ScaleConfig(sources='people,camera_height', camera_height_m=1.5, min_person_samples=1,
                                     foot_joint_height_m=0.05, stature_prior=False))
    _, far = _person_of_height(3, 1, 1.2)
    st = both.update(_frame(), T_c_slam, pts, plane, far)
    w_h, w_p = 1 / 0.02 ** 2, 1 / 0.08 ** 2
    expected = np.exp((w_h * np.log(S_TRUE) + w_p * np.log(1.2 * S_TRUE)) / (w_h + w_p))
    assert st.scale == pytest.approx(expected, rel=0.01)
    # a loose prior on a hand-held camera's height converges only with help
    prior = ScaleEstimator(ScaleConfig(sources='camera_height_prior', camera_height_prior_m=1.5,
                                       camera_height_prior_rel_sigma=0.15))
    st = prior.update(_frame(), T_c_slam, pts, plane, None)
    assert st.scale == pytest.approx(S_TRUE, rel=0.01) and not st.converged


def test_floor_is_the_lowest_area_peak_not_a_wall_or_a_table():
    rng = np.random.default_rng(9)
    floor, wall = _scene_points(rng, n_floor=1500)
    table = np.column_stack([rng.uniform(-1, 0, 400), rng.uniform(3, 4, 400), 0.75 + rng.normal(0, 0.004, 400)])
    strays = np.column_stack([rng.uniform(-3, 3, 15), rng.uniform(1, 8, 15), rng.uniform(-1.0, -0.2, 15)])
    pts = _slam_from_world(np.concatenate([floor, wall, table, strays]))
    up_slam = R0.T @ np.array([0, 0, 1.0])
    plane, refined = find_floor(pts, np.zeros((1, 3)), up_slam)
    assert refined and np.degrees(np.arccos(plane.normal @ up_slam)) < 0.5
    assert plane.signed_height(np.zeros(3)) == pytest.approx(1.5 / S_TRUE, rel=0.02)
    # only a wall: no floor
    assert find_floor(_slam_from_world(wall), np.zeros((1, 3)), up_slam) is None
    # the floor along a prior 8 deg off: the sharpest direction recovers the true up
    tilted = rotmat_from_axis_angle(np.array([np.deg2rad(8.0), 0, 0])) @ up_slam
    found = sharpest_floor_direction(pts, np.zeros((1, 3)), tilted, 15.0)
    assert np.degrees(np.arccos(np.clip(found @ up_slam, -1, 1))) < 1.0          # the bins' resolution ...
    again, refined = find_floor(pts, np.zeros((1, 3)), found)
    assert refined and np.degrees(np.arccos(np.clip(again.normal @ up_slam, -1, 1))) < 0.2   # ... then least squares
    # the floor tracker keeps a floor that drops out of the map against a table top (50 % of the camera's
    # height: tune t10 lost its floor to a surface at 33 % this way), takes a floor a scale drift higher
    # (73 %) after floor_keep_searches misses, and a lower one at once
    tracker = FloorTracker(GroundConfig(floor_keep_searches=3))
    only_table = _slam_from_world(np.concatenate([wall, table]))
    for k in range(9):
        p, _ = tracker.update(only_table, np.zeros((1, 3)), up_slam, plane)
        assert p is None, k                                       # never the table
    drifted = _slam_from_world(np.concatenate([floor + np.array([0, 0, 0.4]), wall]))
    for k in range(2):
        assert tracker.update(drifted, np.zeros((1, 3)), up_slam, plane)[0] is None
    p, _ = tracker.update(drifted, np.zeros((1, 3)), up_slam, plane)
    assert p is not None and p.signed_height(np.zeros(3)) * S_TRUE == pytest.approx(1.1, rel=0.02)    # third miss
    p2, _ = tracker.update(pts, np.zeros((1, 3)), up_slam, p)
    assert p2.signed_height(np.zeros(3)) == pytest.approx(1.5 / S_TRUE, rel=0.02)   # the floor again, at once
    # without the height test the table is taken on the third miss
    loose = FloorTracker(GroundConfig(floor_keep_searches=3, floor_min_height_ratio=0.0))
    got = [loose.update(only_table, np.zeros((1, 3)), up_slam, plane)[0] for _ in range(3)]
    assert got[:2] == [None, None] and got[2].signed_height(np.zeros(3)) < 1.0 / S_TRUE


class _GroundTruthDepth(MetricDepthModel):
    """Test backend: exact metric depth of the fake scene's points, zero elsewhere."""

    def __init__(self, depth):
        self.depth = depth

    def predict_depth_m(self, frame):
        return self.depth


def test_depth_model_interface_excludes_people():
    with pytest.raises(ScaleError):
        ScaleEstimator(ScaleConfig(sources='depth_model'))
    with pytest.raises(TypeError):
        MetricDepthModel()
    rng = np.random.default_rng(6)
    floor, wall = _scene_points(rng, n_floor=2000)
    pts = _slam_from_world(np.concatenate([floor, wall]))
    T_c_slam, _ = _camera_and_person(0)
    pc = transform_points(T_c_slam, pts)
    K = INTR.K
    u = np.round(K[0, 0] * pc[:, 0] / pc[:, 2] + K[0, 2]).astype(int)
    v = np.round(K[1, 1] * pc[:, 1] / pc[:, 2] + K[1, 2]).astype(int)
    ok = (pc[:, 2] > 0) & (u >= 0) & (u < 640) & (v >= 0) & (v < 480)
    depth = np.zeros((480, 640), np.float32)
    depth[v[ok], u[ok]] = pc[ok, 2] * S_TRUE
    soft = np.zeros((480, 640), np.float32)
    soft[:, :320] = 1.0                                   # a "person" on the left half ...
    depth_wrong = depth.copy()
    depth_wrong[:, :320] *= 3.0                           # ... where the model is wrong (dolly zoom)
    est = ScaleEstimator(ScaleConfig(sources='depth_model'), _GroundTruthDepth(depth_wrong))
    st = est.update(_frame(), T_c_slam, pts, None, None, soft)
    assert st.scale == pytest.approx(S_TRUE, rel=0.01)


def _walls_with_an_eye_level_band(rng, n=300, n_band=250, band_z=1.2):
    """Side and back walls (x = +-3 m, y = 8 m) with points at all heights, and a dense band of points at
    ``band_z`` (30 cm below the 1.5 m camera) on all three: from the camera, a floor-like peak of area."""
    def wall_points(m, z):
        side = rng.integers(0, 3, m)
        x = np.where(side == 0, -3.0, np.where(side == 1, 3.0, rng.uniform(-3, 3, m)))
        y = np.where(side == 2, 8.0, rng.uniform(2, 8, m))
        return np.column_stack([x, y, z]) + rng.normal(0, 0.004, (m, 3))
    return wall_points(n, rng.uniform(0.3, 3.0, n)), wall_points(n_band, np.full(n_band, band_z))


def test_a_band_at_the_cameras_height_is_no_floor_and_the_real_floor_is_found():
    """Early in a sequence the map may hold no floor points but a band of wall points 10 cm below the
    camera (tune seed 600: ~1.4 degrees below the horizon, 10x too close to the camera, every scale measurement
    10-20x too large). Here a band 30 cm below the camera, seen 3-4 degrees below the horizon, passed as the floor
    5x too close. It is no floor now; the real floor is
    found at the camera's true height once its points are in the map."""
    rng = np.random.default_rng(3)
    walls, band = _walls_with_an_eye_level_band(rng)
    up_slam = R0.T @ np.array([0, 0, 1.0])
    cams = np.zeros((1, 3))
    no_floor = _slam_from_world(np.concatenate([walls, band]))
    edge_on = find_floor(no_floor, cams, up_slam, GroundConfig(floor_min_depression_deg=0.0))
    assert edge_on is not None and edge_on[0].signed_height(np.zeros(3)) == pytest.approx(0.3 / S_TRUE, rel=0.1)
    assert find_floor(no_floor, cams, up_slam) is None
    tracker = FloorTracker()
    assert tracker.update(no_floor, cams, up_slam, None)[0] is None
    floor, _ = _scene_points(rng, n_floor=200)
    with_floor = _slam_from_world(np.concatenate([walls, band, floor]))
    plane, _ = tracker.update(with_floor, cams, up_slam, None)
    assert plane.signed_height(np.zeros(3)) * S_TRUE == pytest.approx(1.5, rel=0.02)
    # the angle it is seen at: atan(camera height / median horizontal distance), scale-free
    Q = _slam_from_world(floor[:, :3])
    r = np.median(np.hypot(floor[:, 0], floor[:, 1]))
    assert floor_depression_deg(Q, cams, up_slam) == pytest.approx(np.degrees(np.arctan2(1.5, r)), abs=0.3)
    assert floor_depression_deg(10 * Q, 10 * cams, up_slam) == pytest.approx(floor_depression_deg(Q, cams, up_slam))


def test_a_stray_point_far_away_changes_neither_floor_nor_direction():
    """A degenerate map (a near-parallax triangulation) can hold a point thousands of scene depths away:
    the floor and the sharpest direction are the same with it (the height histograms are bounded:
    unbounded, this point asked for ~10^11 bins)."""
    rng = np.random.default_rng(9)
    floor, wall = _scene_points(rng, n_floor=1500)
    pts = _slam_from_world(np.concatenate([floor, wall]))
    up_slam = R0.T @ np.array([0, 0, 1.0])
    for stray in (-1e9 * up_slam, 1e9 * up_slam, np.array([3e8, -2e8, -5e8])):
        with_stray = np.vstack([pts, stray])
        plane, _ = find_floor(with_stray, np.zeros((1, 3)), up_slam)
        assert plane.signed_height(np.zeros(3)) == pytest.approx(1.5 / S_TRUE, rel=0.02)
        found = sharpest_floor_direction(with_stray, np.zeros((1, 3)), up_slam, 5.0)
        assert np.degrees(np.arccos(np.clip(found @ up_slam, -1, 1))) < 1.0


def test_each_person_is_scaled_onto_the_floor_by_a_known_camera_height():
    """A robot knows its camera height: the scale is metric, and two people whose HMR depth is off (a short
    person put 20 % too far, a tall one 10 % too near) get size factors that put their feet back on the floor
    and their pelvis where it truly is, in the world output."""
    from onlinehmr_ros.core.common.datatypes import CameraPose
    from onlinehmr_ros.core.common.geometry import quat_wxyz_from_rotmat
    from onlinehmr_ros.core.fusion.world import human_to_world
    pts, plane = _floor_scene(11)
    est = ScaleEstimator(ScaleConfig(sources='people,camera_height', camera_height_m=1.5, min_person_samples=3,
                                     foot_joint_height_m=0.05, person_size=True, stature_prior=False))
    previous = {}
    for k in range(64):                                       # the last frame is camera 7
        T, a = _person_of_height(k % 8, 1, 1.2)
        _, b = _person_of_height(k % 8, 2, 0.9)
        st = est.update(_frame(), T, pts, plane, HumansFrame(k, 'camera', (a.humans[0], b.humans[0])))
        for tid, v in st.person_size.items():               # no jump: at most person_size_rate per frame
            assert abs(np.log(v / previous.get(tid, 1.0))) <= 0.005 + 1e-12
        previous = st.person_size
    assert st.converged and st.scale == pytest.approx(S_TRUE, rel=0.02)
    assert st.person_size[1] == pytest.approx(1 / 1.2, rel=0.02) and st.person_size[2] == pytest.approx(1 / 0.9, rel=0.02)
    assert 'sizes of 2 people' in st.source
    # the world fusion with the true (metric) camera of frame 7 and these sizes: people where they truly are
    T_w_c = invert_transform(T)
    T_w_c[:3, 3] *= S_TRUE
    T_w_c = make_transform(R0, np.zeros(3)) @ T_w_c         # SLAM world -> metric z-up world
    T_w_c[:3, 3] += [0.0, 0.0, 1.5]
    truth = _camera_and_person(7)[1].humans[0].joints       # camera frame, metres
    truth_w = transform_points(T_w_c, truth.astype(np.float64))
    for h, sizes in ((a.humans[0], st.person_size), (b.humans[0], st.person_size), (a.humans[0], {})):
        pose = CameraPose(7, quat_wxyz_from_rotmat(T_w_c[:3, :3]), T_w_c[:3, 3], person_size=sizes)
        w = human_to_world(h, pose)
        err = np.linalg.norm(w.joints[[0, 10, 11]] - truth_w[[0, 10, 11]], axis=1).max()
        if sizes:
            assert err < 0.08 and np.abs(w.joints[[10, 11], 2] - 0.05).max() < 0.05, (h.track_id, err)
            assert w.size_factor == pytest.approx(sizes[h.track_id])
        else:                                                # without the size factor: 20 % of 3.5 m off
            assert err > 0.5 and w.size_factor == 1.0


def test_people_only_sizes_are_relative_and_one_person_is_left_as_fitted():
    """People as the only ruler: each person's size relative to the group (their product is 1); one person alone
    gets k = 1; a person far outside the size range gets no factor."""
    pts, plane = _floor_scene(12)
    cfg = ScaleConfig(min_person_samples=3, foot_joint_height_m=0.05, person_size=True, stature_prior=False)
    alone, pair, odd = ScaleEstimator(cfg), ScaleEstimator(cfg), ScaleEstimator(cfg)
    for k in range(60):
        T, a = _person_of_height(k % 8, 1, 1.2)
        _, b = _person_of_height(k % 8, 2, 0.9)
        _, d = _person_of_height(k % 8, 4, 1.05)
        _, c = _person_of_height(k % 8, 3, 2.0)            # HMR depth 2 x the others' (a child, or a wrong fit)
        st1 = alone.update(_frame(), T, pts, plane, a)
        st2 = pair.update(_frame(), T, pts, plane, HumansFrame(k, 'camera', (a.humans[0], b.humans[0])))
        st3 = odd.update(_frame(), T, pts, plane, HumansFrame(k, 'camera', (a.humans[0], d.humans[0], c.humans[0])))
    assert st1.person_size == {1: pytest.approx(1.0, abs=1e-9)}
    assert st2.person_size[1] / st2.person_size[2] == pytest.approx(0.9 / 1.2, rel=0.01)
    assert st2.person_size[1] * st2.person_size[2] == pytest.approx(1.0, rel=0.01)
    assert set(st3.person_size) == {1, 4} and '1 out of range' in st3.source
    off = ScaleEstimator(dataclasses.replace(cfg, person_size=False))      # the default: no size factors
    assert off.update(_frame(), T, pts, plane, HumansFrame(0, 'camera', (a.humans[0], b.humans[0]))).person_size == {}
