"""render-bag places camera-space meshes in the world when a bag carries world people without vertices."""
import numpy as np

from onlinehmr_ros.core.common.datatypes import HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import rotmat_from_axis_angle
from onlinehmr_ros.ros.bag_render import _camera_mesh_in_world


def _human(track, joints, vertices):
    z = np.zeros
    return HumanState(track, 'open', z(10), z(3), z(69), z(3), joints, np.ones(24), vertices, z((17, 3)))


def test_world_mesh_from_camera_mesh_and_world_joints():
    rng = np.random.default_rng(3)
    joints_c = rng.normal([0, 0, 4], 0.4, (24, 3))
    verts_c = rng.normal([0, 0, 4], 0.5, (500, 3))
    R = rotmat_from_axis_angle(np.array([-1.4, 0.2, 0.5]))    # an optical camera looking roughly level
    t = np.array([1.0, -2.0, 1.3])
    world = lambda p: p @ R.T + t                              # M_w = R M_c + s t (s t folded into t)
    frame = HumansFrame(7, 'camera', (_human(2, joints_c, verts_c), _human(5, joints_c + 1.0, verts_c)))
    placed = _camera_mesh_in_world(frame, 2, world(joints_c))
    np.testing.assert_allclose(placed, world(verts_c), atol=1e-6)
    # another person's mesh, a frame without the person, or a person without vertices: nothing
    assert _camera_mesh_in_world(frame, 9, world(joints_c)) is None
    assert _camera_mesh_in_world(None, 2, world(joints_c)) is None
    bare = HumansFrame(7, 'camera', (_human(2, joints_c, np.zeros((0, 3))),))
    assert _camera_mesh_in_world(bare, 2, world(joints_c)) is None
