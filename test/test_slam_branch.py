"""SlamBranch end to end on the box scene: pose contract, gravity-aligned world, metric scale, EMA.

640x480 (the ground plane of a 320x240 map is too noisy for degree-level gravity checks); one run of
80 frames shared by the tests (about 10 s here).
"""
import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraPose, Frame
from onlinehmr_ros.core.common.geometry import rotmat_from_quat_wxyz, transform_points
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig, compute_soft_mask
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig
from onlinehmr_ros.eval.metrics import camera_ate, jitter
from onlinehmr_ros.eval.synthetic.box_scene import SlamScene

N = 80


@pytest.fixture(scope='module')
def run():
    sc = SlamScene(n_frames=N, width_px=640, height_px=480)
    br = SlamBranch(SlamBranchConfig())
    cfg = SoftMaskConfig()
    outs = []
    for i in range(N):
        rgb, m, _ = sc.render(i)
        outs.append(br.process(Frame(rgb, int(i * 1e9 / sc.fps), sc.intrinsics, i), compute_soft_mask(m, cfg),
                               sc.humans(i)))
    return sc, outs


def test_outputs_follow_the_contract(run):
    sc, outs = run
    first = outs[0]
    assert isinstance(first.pose, CameraPose) and not first.pose.tracking
    assert first.diagnostics.state == 'not_initialised' and first.pose_raw is None
    last = outs[-1]
    assert last.pose.tracking and last.diagnostics.tracking and last.pose.stamp_ns == int((N - 1) * 1e9 / sc.fps)
    assert np.linalg.norm(last.pose.quat_wxyz) == pytest.approx(1.0)
    assert last.map_points_world.ndim == 2 and last.map_points_world.shape[1] == 3 and len(last.map_points_world) > 100
    assert last.diagnostics.n_inliers > 50 and last.diagnostics.n_keyframes >= 3
    assert last.diagnostics.ms_total >= last.diagnostics.ms_slam > 0


def test_trajectory_scale_and_gravity(run):
    sc, outs = run
    idx = [i for i, o in enumerate(outs) if o.pose.tracking]
    raw = np.stack([outs[i].pose_raw.t_world_cam for i in idx])
    gt = np.stack([sc.T_world_cam(i)[:3, 3] for i in idx])
    ate = camera_ate(raw, gt, with_scale=True)
    assert ate.mean < 0.04
    # metric scale: the human ruler agrees with the scale of the best Sim(3) fit to ground truth
    last = outs[-1].diagnostics
    assert last.scale_measured and last.scale_converged
    assert last.scale == pytest.approx(ate.scale, rel=0.08)        # measured: ~4 % (the map drifts in scale)
    measured = [i for i in idx if outs[i].diagnostics.scale_measured]
    metric = np.stack([outs[i].pose.scale * outs[i].pose.t_world_cam for i in measured])
    gt_m = np.stack([sc.T_world_cam(i)[:3, 3] for i in measured])
    assert camera_ate(metric, gt_m, with_scale=False).mean < 0.06           # ATE-S: metres, no scale forgiven
    # gravity: the ground was found and the camera's tilt matches the ground truth (15 deg down)
    assert last.gravity_aligned and not last.gravity_blending
    for i in idx[-20:]:
        R_est = rotmat_from_quat_wxyz(outs[i].pose_raw.quat_wxyz)
        R_gt = sc.T_world_cam(i)[:3, :3]
        tilt_est = np.degrees(np.arcsin(R_est[2, 2]))          # elevation of the optical axis
        tilt_gt = np.degrees(np.arcsin(R_gt[2, 2]))
        assert abs(tilt_est - tilt_gt) < 2.0
        roll_est = np.degrees(np.arcsin(R_est[2, 0]))           # the camera's x axis stays horizontal
        assert abs(roll_est - np.degrees(np.arcsin(R_gt[2, 0]))) < 2.0


def test_fused_feet_stay_on_the_ground(run):
    """M_w = R(q) M_c + s t puts the person's feet at one height and the pelvis 0.85 m above them."""
    sc, outs = run
    feet_z, pelvis_minus_feet = [], []
    for i, o in enumerate(outs):
        d = o.diagnostics
        if not (o.pose.tracking and d.scale_converged and d.gravity_aligned and not d.gravity_blending):
            continue
        j_c = sc.humans(i).humans[0].joints
        j_w = transform_points(o.pose.T_world_cam_m, j_c.astype(np.float64))
        feet_z.append(j_w[[10, 11], 2].mean())
        pelvis_minus_feet.append(j_w[0, 2] - j_w[[10, 11], 2].mean())
    assert len(feet_z) > 20
    assert np.std(feet_z) < 0.05
    assert np.median(pelvis_minus_feet) == pytest.approx(0.85, abs=0.05)


def test_ema_reduces_camera_jitter(run):
    sc, outs = run
    idx = [i for i, o in enumerate(outs) if o.pose.tracking]
    raw = np.stack([outs[i].pose_raw.t_world_cam for i in idx])[:, None]
    ema = np.stack([outs[i].pose.t_world_cam for i in idx])[:, None]
    assert np.mean(jitter(ema, sc.fps)) < 0.85 * np.mean(jitter(raw, sc.fps))     # measured: 0.68
    gt = np.stack([sc.T_world_cam(i)[:3, 3] for i in idx])
    assert camera_ate(ema[:, 0], gt).mean < camera_ate(raw[:, 0], gt).mean + 0.01


def test_branch_survives_a_cut_and_blank_frames():
    """After a cut the branch starts a new segment: EMA and scale start over, nothing crashes."""
    from onlinehmr_ros.core.slam.odometry import SlamConfig
    a = SlamScene(n_frames=40, width_px=320, height_px=240)
    b = SlamScene(n_frames=60, width_px=320, height_px=240, motion='forward', seed=7)
    cfg = SoftMaskConfig(kernel_size_px=7, iterations=2, sigma_px=5.0)
    br = SlamBranch(SlamBranchConfig(slam=SlamConfig(max_lost_frames=4)))
    views = [(a, i) for i in range(35)] + [(None, 0)] * 2 + [(b, i) for i in range(10, 50)]
    outs = []
    for k, (sc, i) in enumerate(views):
        if sc is None:
            rgb, m, humans = np.zeros((240, 320, 3), np.uint8), np.zeros((240, 320), np.float32), None
        else:
            rgb, m, _ = sc.render(i)
            humans = sc.humans(i)
        outs.append(br.process(Frame(rgb, k, a.intrinsics, k), compute_soft_mask(m, cfg), humans))
    d = [o.diagnostics for o in outs]
    assert d[34].tracking and d[34].segment == 0
    assert not d[35].tracking and 'too few usable features' in d[35].status
    assert not outs[35].pose.tracking
    np.testing.assert_array_equal(outs[35].pose.t_world_cam, outs[34].pose.t_world_cam)   # last pose held
    new = [k for k in range(37, len(outs)) if d[k].tracking]
    assert new and d[new[0]].segment == 1 and not d[new[0]].world_continuous
    first = outs[new[0]]
    np.testing.assert_allclose(first.pose.t_world_cam, first.pose_raw.t_world_cam)          # EMA restarted
    assert d[new[0]].scale_samples <= 1                                                      # scale restarted
