"""The saved SLAM state (core.slam.resume) and the yaw + offset that continues a z-up world
(geometry.yaw_aligning_cameras); the whole resume on a rendered sequence is in test_slam_branch.py."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import look_at_T_world_cam, transform_points, yaw_aligning_cameras
from onlinehmr_ros.core.slam.resume import SlamResumeState, load_resume_state, save_resume_state


def _yaw(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    return T


@pytest.mark.parametrize('yaw_deg, pitch_target_z', [(0.0, 1.5), (73.0, 0.8), (-150.0, 2.5)])
def test_yaw_and_offset_move_the_camera_onto_its_pose_in_the_other_world(yaw_deg, pitch_target_z):
    rng = np.random.default_rng(3)
    # one camera (tilted down or up), seen in two z-up worlds that differ by a heading and an offset
    T_a = look_at_T_world_cam(np.array([2.0, -1.0, 1.6]), np.array([5.0, 2.0, pitch_target_z]))
    T_b_a = _yaw(yaw_deg)
    T_b_a[:3, 3] = [0.4, -3.0, 0.2]
    T_b = T_b_a @ T_a
    T_a_b = yaw_aligning_cameras(T_a, T_b)
    np.testing.assert_allclose(T_a_b @ T_b, T_a, atol=1e-9)
    # a rotation about z only: points keep their height differences
    P = rng.normal(size=(5, 3))
    np.testing.assert_allclose(np.diff(transform_points(T_a_b, P)[:, 2]), np.diff(P[:, 2]), atol=1e-9)


def test_a_camera_looking_straight_down_gets_its_heading_from_the_image_x_axis():
    T_a = look_at_T_world_cam(np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 0.0]), up_world=np.array([1.0, 0, 0]))
    T_b = _yaw(40.0) @ T_a
    np.testing.assert_allclose(yaw_aligning_cameras(T_a, T_b) @ T_b, T_a, atol=1e-9)


def _state(**kw):
    T = _yaw(30.0)
    T[:3, 3] = [1.0, 2.0, 1.5]
    base = dict(world_frame='world', T_world_cam_m=T, scene_depth_m=4.2, scale_converged=True, stamp_ns=123,
                saved_wall_s=1000.0)
    return SlamResumeState(**(base | kw))


def test_saved_state_round_trip_and_when_it_is_not_resumed(tmp_path):
    path = tmp_path / 'sub' / 'slam.npz'
    save_resume_state(path, _state())
    state, why = load_resume_state(path, 'world', 1003.0, 10.0)
    assert state is not None and 'resuming' in why
    np.testing.assert_array_equal(state.T_world_cam_m, _state().T_world_cam_m)
    assert (state.scene_depth_m, state.scale_converged, state.stamp_ns) == (4.2, True, 123)
    save_resume_state(path, _state(scene_depth_m=None))
    assert load_resume_state(path, 'world', 1003.0, 10.0)[0].scene_depth_m is None
    # too old, from the future, another world frame, missing, not a state: a new world, with the reason
    for args, words in ((('world', 1011.0, 10.0), 'saved 11 s ago'), (('world', 990.0, 10.0), 'saved -10 s ago'),
                        (('cam2/world', 1001.0, 10.0), "world frame 'world'")):
        state, why = load_resume_state(path, *args)
        assert state is None and words in why, why
    assert load_resume_state(tmp_path / 'none.npz', 'world', 0.0, 10.0)[0] is None
    for junk in (b'not a zip', path.read_bytes()[:200]):          # garbage, a state cut short by a crash
        (tmp_path / 'junk.npz').write_bytes(junk)
        state, why = load_resume_state(tmp_path / 'junk.npz', 'world', 0.0, 10.0)
        assert state is None and 'not a readable' in why


def test_an_unwritable_state_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(InputError, match='resume.file'):
        save_resume_state(blocker / 'slam.npz', _state())
