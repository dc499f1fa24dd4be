"""SlamBranch on the project's synthetic generator: the world frame a robot needs, checked against ground truth.

The people fed to the branch are the true ones (camera frame, metres): exact rulers, so these tests check
the camera branch alone. One run per sequence, shared by the tests of this module.
"""
import numpy as np
import pytest

from helpers.slam_scenes import soft_mask, true_humans
from onlinehmr_ros.core.common.datatypes import CameraPose, Frame, HumansFrame
from onlinehmr_ros.core.common.geometry import rotmat_from_quat_wxyz, transform_points
from onlinehmr_ros.core.slam.branch import POSE_ROTATION_ONLY, POSE_TRACKING, SlamBranch, SlamBranchConfig
from onlinehmr_ros.core.slam.odometry import SlamConfig
from onlinehmr_ros.eval.camera_metrics import (gravity_errors_deg, orientation_errors_after_best_rotation_deg,
                                               orientation_jumps_deg)
from onlinehmr_ros.eval.metrics import camera_ate, jitter

pytestmark = pytest.mark.slow

#: the fastest a hand-held camera moves here is about 1.2 m/s: 4 cm per frame at 30 fps
MAX_STEP_M = 0.06


def _run(seq, humans=True, config=SlamBranchConfig()):
    br = SlamBranch(config)
    return [br.process(f, soft_mask(seq, i), true_humans(seq, i) if humans else None)
            for i, f in enumerate(seq.iter_frames())]


@pytest.fixture(scope='module')
def handheld(slam_handheld):
    return slam_handheld, _run(slam_handheld)


@pytest.fixture(scope='module')
def static(slam_static):
    return slam_static, _run(slam_static)


def _poses(outs):
    return np.stack([o.pose.T_world_cam_m for o in outs])


def test_pose_contract_and_states(handheld):
    seq, outs = handheld
    first = outs[0]
    assert isinstance(first.pose, CameraPose) and first.pose.state == POSE_ROTATION_ONLY
    assert not first.pose.tracking and not first.pose.scale_converged
    np.testing.assert_allclose(first.pose.T_world_cam_m[:3, 3], 0.0)         # the origin: the first camera
    trk = [i for i, o in enumerate(outs) if o.pose.tracking]
    assert trk and trk[0] <= 30
    assert all(outs[i].pose.state == POSE_ROTATION_ONLY for i in range(trk[0]))   # rotation-only before the map
    last = outs[-1]
    assert last.pose.state == POSE_TRACKING and last.pose.scale_converged and last.pose.gravity_aligned
    assert np.linalg.norm(last.pose.quat_wxyz) == pytest.approx(1.0)
    assert last.map_points_world_m.shape[1] == 3 and len(last.map_points_world_m) > 100
    d = last.diagnostics
    assert d.n_inliers > 50 and d.n_keyframes >= 3 and d.ms_total >= d.ms_slam > 0
    assert d.gravity_weights['vertical_lines'] > 0 and d.gravity_sigma_deg < 1.0


def test_no_jump_of_orientation_or_position_anywhere(handheld):
    """Not at the map's initialisation, not when the scale arrives, not when gravity is corrected."""
    seq, outs = handheld
    T = _poses(outs)
    jumps = orientation_jumps_deg(T[:, :3, :3], seq.T_world_cam[:, :3, :3])
    assert jumps.max() < 1.5, f'orientation jump {jumps.max():.2f} deg at frame {jumps.argmax() + 1}'
    steps = np.linalg.norm(np.diff(T[:, :3, 3], axis=0), axis=1)
    assert steps.max() < MAX_STEP_M, f'camera moved {steps.max():.3f} m in one frame (frame {steps.argmax() + 1})'
    # the orientation before the map (rotation-only tracking) is as good as after
    assert orientation_errors_after_best_rotation_deg(T[:, :3, :3], seq.T_world_cam[:, :3, :3]).mean() < 2.0


def test_world_z_is_up(handheld):
    seq, outs = handheld
    g = gravity_errors_deg(_poses(outs)[:, :3, :3], seq.T_world_cam[:, :3, :3])
    # frame 0 starts from the level-camera guess (the camera looks down ~8 deg), phased to the lines' up
    assert g[0] < 12.0 and np.all(np.diff(g[:10]) < 1.0 + 1e-6)
    assert g[20:].max() < 2.0, f'gravity error {g[20:].max():.2f} deg'


def test_metric_scale_and_trajectory(handheld):
    seq, outs = handheld
    T = _poses(outs)
    trk = np.array([o.pose.tracking for o in outs])
    conv = np.array([o.pose.scale_converged for o in outs]) & trk
    path = float(np.sum(np.linalg.norm(np.diff(seq.T_world_cam[trk, :3, 3], axis=0), axis=1)))
    ate = camera_ate(T[trk, :3, 3], seq.T_world_cam[trk, :3, 3], with_scale=True)
    assert ate.mean < 0.02 * path, f'ATE {100 * ate.mean / path:.1f} % of the path'
    # once converged the scale is metric: the Sim(3) fit of those frames needs no rescaling
    ate_c = camera_ate(T[conv, :3, 3], seq.T_world_cam[conv, :3, 3], with_scale=True)
    assert ate_c.scale == pytest.approx(1.0, abs=0.06), f'Sim(3) scale {ate_c.scale:.3f}'
    # before any measurement the scale is a guess and says so
    first = next(i for i, o in enumerate(outs) if o.pose.tracking)
    assert not outs[first].pose.scale_converged and 'people' in outs[-1].diagnostics.scale_source


def test_people_stand_upright_with_their_feet_on_the_floor(handheld):
    """M_w = R(q) M_c + s t with the branch's pose: trunks vertical, feet at one height, the floor's."""
    seq, outs = handheld
    tilt, feet = [], []
    for i, o in enumerate(outs):
        if not o.pose.scale_converged:
            continue
        for h in true_humans(seq, i).humans:
            jw = transform_points(o.pose.T_world_cam_m, h.joints.astype(np.float64))
            trunk = jw[12] - jw[0]
            tilt.append(np.degrees(np.arccos(trunk[2] / np.linalg.norm(trunk))))
            feet.append(jw[[10, 11], 2].min())
    gt_trunk = seq.people[0].joints_world[:, 12] - seq.people[0].joints_world[:, 0]
    gt_tilt = np.degrees(np.arccos(gt_trunk[:, 2] / np.linalg.norm(gt_trunk, axis=1)))
    assert len(tilt) > 50
    assert np.median(tilt) < np.median(gt_tilt) + 1.5
    feet = np.asarray(feet)
    assert feet.std() < 0.03
    # world origin = first camera centre: the floor lies the camera's height below it (ankles ~8 cm above)
    assert np.median(feet) == pytest.approx(-seq.T_world_cam[0, 2, 3] + 0.08, abs=0.08)


def test_ema_reduces_camera_jitter(handheld):
    seq, outs = handheld
    idx = [i for i, o in enumerate(outs) if o.pose.tracking]
    raw = np.stack([outs[i].pose_raw.T_world_cam_m[:3, 3] for i in idx])[:, None]
    ema = np.stack([outs[i].pose.T_world_cam_m[:3, 3] for i in idx])[:, None]
    assert np.mean(jitter(ema, seq.fps)) < 0.85 * np.mean(jitter(raw, seq.fps))
    gt = seq.T_world_cam[idx, :3, 3]
    assert camera_ate(ema[:, 0], gt).mean < camera_ate(raw[:, 0], gt).mean + 0.01


def test_focal_length_is_estimated_from_the_video(handheld):
    seq, outs = handheld
    d = outs[-1].diagnostics
    assert d.focal_pairs >= 5
    assert d.focal_px == pytest.approx(seq.intrinsics.fx, rel=0.13)         # 1-13 % on the tune set


def test_static_camera_gets_a_gravity_up_world_from_the_first_frames(static):
    """No map ever: the orientation is tracked rotation-only, z is up from the scene's vertical lines."""
    seq, outs = static
    assert all(o.pose.state == POSE_ROTATION_ONLY and not o.pose.tracking for o in outs)
    T = _poses(outs)
    g = gravity_errors_deg(T[:, :3, :3], seq.T_world_cam[:, :3, :3])
    assert g[10:].max() < 1.0
    assert orientation_jumps_deg(T[:, :3, :3], seq.T_world_cam[:, :3, :3]).max() < 1.5
    np.testing.assert_allclose(T[:, :3, 3], 0.0, atol=1e-9)                  # the position is held
    tilt = []
    for i in range(10, len(outs)):
        for h in true_humans(seq, i).humans:
            trunk = rotmat_from_quat_wxyz(outs[i].pose.quat_wxyz) @ (h.joints[12] - h.joints[0]).astype(float)
            tilt.append(np.degrees(np.arccos(trunk[2] / np.linalg.norm(trunk))))
    assert np.median(tilt) < 6.0


def test_a_cut_keeps_one_world_and_carries_the_scale(slam_handheld, slam_robot):
    """After a cut the new map is anchored at the pose reached meanwhile: orientation and position go on
    without a jump and the new map starts with the old map's metric scale (from the scene depth)."""
    a, b = slam_handheld, slam_robot
    br = SlamBranch(SlamBranchConfig(slam=SlamConfig(max_lost_frames=4)))
    outs = []
    for i, f in zip(range(80), a.iter_frames()):
        outs.append(br.process(f, soft_mask(a, i), true_humans(a, i)))
    n_a = len(outs)
    sigma_old = outs[-1].pose.scale
    for i, f in enumerate(b.iter_frames()):
        stamp = a.stamp_ns(n_a + i)
        outs.append(br.process(Frame(f.image_rgb, stamp, f.intrinsics, n_a + i), soft_mask(b, i),
                               true_humans(b, i, stamp)))
    d = [o.diagnostics for o in outs]
    new = [k for k in range(n_a, len(outs)) if d[k].tracking]
    assert new and d[new[0]].segment == 1
    k0 = new[0]
    step = np.linalg.norm(outs[k0].pose.T_world_cam_m[:3, 3] - outs[k0 - 1].pose.T_world_cam_m[:3, 3])
    assert step < MAX_STEP_M
    T = _poses(outs)
    rel = rotmat_from_quat_wxyz(outs[k0].pose_raw.quat_wxyz) @ rotmat_from_quat_wxyz(outs[k0 - 1].pose_raw.quat_wxyz).T
    assert np.degrees(np.arccos(np.clip((np.trace(rel) - 1) / 2, -1, 1))) < 3.0
    # the carried scale puts the new map's scene at the old map's metric depth: the trajectory of the
    # robot part is metric (Sim(3) scale near 1) although its people arrive only later
    idx = np.array([k for k in new if not outs[k].pose.scale_converged])
    if len(idx) >= 10:
        gt = b.T_world_cam[idx - n_a, :3, 3]
        assert camera_ate(T[idx, :3, 3], gt).scale == pytest.approx(1.0, abs=0.35)
    assert np.isfinite(sigma_old) and all(np.isfinite(o.pose.scale) for o in outs)


def test_no_people_no_scale_but_a_pose(slam_handheld):
    """Without rulers the pose is provisional (scale_converged False) but still continuous and up."""
    seq = slam_handheld
    br = SlamBranch(SlamBranchConfig())
    outs = [br.process(f, soft_mask(seq, i), HumansFrame(seq.stamp_ns(i), 'camera', ()))
            for i, f in zip(range(60), seq.iter_frames())]
    assert any(o.pose.tracking for o in outs) and not any(o.pose.scale_converged for o in outs)
    assert 'people: nobody' in outs[-1].diagnostics.scale_source


def test_a_restarted_slam_resumes_the_world_frame(handheld, tmp_path):
    """A SLAM that dies at frame 100 leaves its state (core.slam.resume); a new branch that resumes it
    continues the same world: the camera goes on from the saved pose (no jump of position or heading, in
    a world where the camera has walked and turned since the start), the people stay where they were. A
    new branch that does not resume starts a world of its own at the camera: off by the path so far."""
    from onlinehmr_ros.core.slam.resume import load_resume_state, save_resume_state

    seq, full = handheld
    cut = 100
    before = SlamBranch(SlamBranchConfig())
    for i, f in zip(range(cut), seq.iter_frames()):
        before.process(f, soft_mask(seq, i), true_humans(seq, i))
    path = tmp_path / 'slam_state.npz'
    save_resume_state(path, before.resume_state('world', wall_s=1000.0))
    state, why = load_resume_state(path, 'world', now_wall_s=1002.0, max_age_s=10.0)
    assert state is not None, why
    T_before = full[cut - 1].pose.T_world_cam_m
    moved = np.linalg.norm(T_before[:3, 3] - full[0].pose.T_world_cam_m[:3, 3])
    assert moved > 0.5, f'the camera moved only {moved:.2f} m before the cut: the test could not tell'

    def run_from_cut(resume):
        br = SlamBranch(SlamBranchConfig())
        if resume:
            br.resume(state)
        return [br.process(f, soft_mask(seq, i), true_humans(seq, i))
                for i, f in enumerate(seq.iter_frames()) if i >= cut]

    def heading_deg(T):
        return np.degrees(np.arctan2(T[1, 2], T[0, 2]))

    for resume in (True, False):
        after = run_from_cut(resume)
        T0 = after[0].pose.T_world_cam_m
        step = np.linalg.norm(T0[:3, 3] - T_before[:3, 3])
        turn = abs((heading_deg(T0) - heading_deg(T_before) + 180) % 360 - 180)
        # over the rest of the sequence the resumed world stays the old one (the old branch's poses,
        # which ran on without the cut, within what a new map's provisional scale lets drift)
        T = _poses(after)
        off = np.linalg.norm(T[:, :3, 3] - _poses(full[cut:])[:, :3, 3], axis=1)
        if resume:
            assert after[0].diagnostics is not None and step < MAX_STEP_M and turn < 3.0, (step, turn)
            assert np.median(off) < 0.2, f'the resumed world drifts from the old one: median {np.median(off):.2f} m'
        else:
            assert step > 0.5 and np.median(off) > 0.5, 'a new world at the camera must differ here (else the test is blind)'


def test_people_that_arrive_after_their_image_measure_the_same_scale(handheld):
    """A slam node that does not wait for the people of each image gets them later (add_people): measured
    with their own image's pose, they give the same metric scale and world as people that came with the
    image (here 3 images late, as from an hmr stage slower than the camera)."""
    seq, with_people = handheld
    br = SlamBranch(SlamBranchConfig())
    late, lag = [], 3
    for i, f in enumerate(seq.iter_frames()):
        late.append(br.process(f, soft_mask(seq, i), None))
        if i >= lag:
            br.add_people(true_humans(seq, i - lag))
    assert br.late_people['used'] > 0.6 * len(late) and br.late_people['no_image'] == 0, br.late_people
    conv = [k for k, o in enumerate(late) if o.pose.scale_converged]
    assert conv and conv[0] < 0.7 * len(late), 'no metric scale from late people'
    T, T_ref = _poses(late), _poses(with_people)
    s_late = camera_ate(T[conv, :3, 3], seq.T_world_cam[conv, :3, 3]).scale
    s_ref = camera_ate(T_ref[conv, :3, 3], seq.T_world_cam[conv, :3, 3]).scale
    assert s_late == pytest.approx(s_ref, rel=0.05) and s_late == pytest.approx(1.0, abs=0.1), (s_late, s_ref)
    # without people at all the scale never converges: the late people are what measured it
    br_none = SlamBranch(SlamBranchConfig())
    none = [br_none.process(f, soft_mask(seq, i), None) for i, f in zip(range(len(late)), seq.iter_frames())]
    assert not any(o.pose.scale_converged for o in none)
    # people of an image never processed are counted, not used
    assert br.add_people(HumansFrame(1, 'camera', ())) == 'no_image'
