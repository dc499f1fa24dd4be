"""Room ray casting, camera paths, procedural motion and the rasteriser (no body model needed)."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.common.geometry import look_at_T_world_cam
from onlinehmr_ros.core.io.raster import Mesh, RasterError, render_meshes
from onlinehmr_ros.eval.synthetic.camera_motion import CameraMotionConfig, CameraMotionError, camera_trajectory
from onlinehmr_ros.eval.synthetic.human_motion import ACTION_CODES, Act, MotionError, Walk, plan_to_motion
from onlinehmr_ros.eval.synthetic.scene import Room, RoomConfig, SceneError

INTR = CameraIntrinsics.from_fov(160, 120, 60.0)


@pytest.fixture(scope='module')
def room():
    return Room(RoomConfig(width_m=6.0, depth_m=8.0, height_m=3.0, texel_m=0.02), np.random.default_rng(0))


def test_room_depth_is_exact(room):
    eye = np.array([0.0, -1.0, 1.5])
    T = look_at_T_world_cam(eye, np.array([0.0, 3.0, 1.5]))          # straight at the wall y = +4
    rgb, depth = room.render(INTR, T)
    assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8
    np.testing.assert_allclose(depth[60, 80], 5.0, rtol=1e-6)         # principal point pixel
    np.testing.assert_allclose(depth[60, :], 5.0, rtol=1e-6)         # a fronto-parallel wall has constant depth
    T_down = look_at_T_world_cam(eye, eye + np.array([0.0, 1.0, -1.0]))  # 45 deg down: the floor 1.5 m below
    _, depth = room.render(INTR, T_down)
    np.testing.assert_allclose(depth[60, 80], 1.5 * np.sqrt(2), rtol=1e-6)
    assert rgb.std() > 20                                               # textured, not flat
    with pytest.raises(SceneError):
        room.render(INTR, look_at_T_world_cam(np.array([0.0, 10.0, 1.0]), np.zeros(3)))


def test_static_and_moving_cameras():
    rng = np.random.default_rng(1)
    n, fps = 150, 30.0
    targets = np.tile([0.0, 3.0, 1.0], (n, 1))
    room_min, room_max = np.array([-4.0, -4.5, 0.0]), np.array([4.0, 4.5, 3.0])
    T = camera_trajectory(CameraMotionConfig(kind='static'), n, fps, rng, np.array([0.0, -3.5, 1.5]),
                          targets, room_min, room_max)
    assert np.allclose(T, T[0])
    for kind in ('handheld', 'robot'):
        T = camera_trajectory(CameraMotionConfig(kind=kind), n, fps, rng, np.array([0.0, -3.5, 1.5]),
                              targets, room_min, room_max)
        R = T[:, :3, :3]
        assert np.allclose(R @ np.swapaxes(R, 1, 2), np.eye(3), atol=1e-9)
        c = T[:, :3, 3]
        length = np.linalg.norm(np.diff(c[:, :2], axis=0), axis=1).sum()
        assert 0.9 <= length <= 3.3, length                          # 1-3 m path (plus sway)
        assert np.linalg.norm(np.diff(c, axis=0), axis=1).max() * fps < 2.0   # walking pace
        to_target = targets - c
        to_target /= np.linalg.norm(to_target, axis=1, keepdims=True)
        assert np.all(np.einsum('fi,fi->f', R[:, :, 2], to_target) > np.cos(np.deg2rad(15)))
        if kind == 'robot':
            assert np.ptp(c[:, 2]) < 1e-9                            # fixed height
    with pytest.raises(CameraMotionError):
        camera_trajectory(CameraMotionConfig(kind='drone'), n, fps, rng, np.zeros(3), targets, room_min, room_max)


def test_walk_turn_wave_squat_plan():
    rng = np.random.default_rng(2)
    fps = 30.0
    plan = [Walk((2.0, 0.0), 1.0), Act('turn', 1.0, np.pi / 2), Act('wave', 2.0), Act('squat', 2.0)]
    m = plan_to_motion(plan, (0.0, 0.0), 0.0, 210, fps, rng)
    assert m.body_pose.shape == (210, 69) and m.ground_xy.shape == (210, 2)
    np.testing.assert_allclose(m.ground_xy[-1], [2.0, 0.0], atol=1e-3)   # reached the target
    np.testing.assert_allclose(m.heading_rad[-1], np.pi / 2, atol=1e-3)   # turned left
    speed = np.linalg.norm(np.diff(m.ground_xy, axis=0), axis=1) * fps
    assert speed.max() < 1.1 and speed[20:40].min() > 0.9                 # walks at about 1 m/s, no jumps
    pose = m.body_pose.reshape(-1, 23, 3)
    squat = m.action == ACTION_CODES['squat']
    knee = np.linalg.norm(pose[:, 3], axis=1)                               # left knee (joint 4)
    assert knee[squat].max() > np.deg2rad(100) and knee[m.action == ACTION_CODES['turn']].max() < np.deg2rad(20)
    wave = m.action == ACTION_CODES['wave']
    elbow = pose[:, 18]                                                     # right elbow (joint 19)
    assert np.linalg.norm(elbow[wave], axis=1).max() > np.deg2rad(60)
    with pytest.raises(MotionError):
        plan_to_motion([Act('dance', 1.0)], (0, 0), 0.0, 10, fps, rng)


def _cube(centre, size):
    v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * size / 2 + centre
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = []
    for a, b, c, d in quads:
        faces += [(a, b, c), (a, c, d)]
    return v, np.array(faces)


def test_raster_projects_and_occludes():
    T = look_at_T_world_cam(np.zeros(3), np.array([0.0, 5.0, 0.0]))       # looking along +y, z up
    bg = np.full((120, 160, 3), 7, np.uint8)
    bg_depth = np.full((120, 160), 50.0, np.float32)
    v1, f1 = _cube(np.array([0.0, 5.0, 0.0]), 1.0)                        # far cube, 1 m
    v2, f2 = _cube(np.array([0.3, 3.0, 0.0]), 0.4)                        # near cube, in front of it
    meshes = [Mesh(v1, f1, np.full((8, 3), 0.8), 1), Mesh(v2, f2, np.full((8, 3), 0.3), 2)]
    f = INTR.fx
    # far cube alone: front face at depth 4.5, half-size 0.5 -> a square of side 2 f 0.5 / 4.5 pixels
    _, labels_alone, _ = render_meshes(bg, bg_depth, INTR, T, meshes[:1])
    expected = (2 * f * 0.5 / 4.5) ** 2
    assert abs(np.count_nonzero(labels_alone) - expected) < 0.05 * expected
    rgb, labels, depth = render_meshes(bg, bg_depth, INTR, T, meshes)
    assert labels[60, 80] == 1 and labels[5, 5] == 0 and np.all(rgb[5, 5] == 7)
    np.testing.assert_allclose(depth[60, 80], 4.5, atol=0.3)
    # near cube: centre projects to u = 80 + f * 0.3 / 3; it covers the far cube there
    u2 = int(round(80 + f * 0.3 / 3.0))
    assert labels[60, u2] == 2 and depth[60, u2] < 3.0
    # outward faces must be kept regardless of winding: flipping the faces changes nothing
    _, labels_flipped, _ = render_meshes(bg, bg_depth, INTR, T, [Mesh(v1, f1[:, ::-1], np.full((8, 3), 0.8), 1),
                                                                   Mesh(v2, f2[:, ::-1], np.full((8, 3), 0.3), 2)])
    assert np.array_equal(labels, labels_flipped)
    # a background nearer than the mesh hides it
    _, labels_hidden, _ = render_meshes(bg, np.full((120, 160), 2.0, np.float32), INTR, T, meshes[:1])
    assert not np.any(labels_hidden)
    with pytest.raises(RasterError):
        render_meshes(bg, bg_depth, INTR, T, [Mesh(v1, f1, np.full((8, 3), 0.8), 0)])
