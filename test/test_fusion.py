"""World fusion M_w = R(q) M_c + s t, parameter re-expression, stamp pairing, display mesh."""
import numpy as np
import pytest
import torch

from onlinehmr_ros.core.body import display_mesh
from onlinehmr_ros.core.common.datatypes import CameraPose, HumansFrame, HumanState
from onlinehmr_ros.core.common.geometry import quat_wxyz_from_rotmat, rotmat_from_axis_angle, rotmat_from_quat_wxyz
from onlinehmr_ros.core.fusion import sync, world as fusion


def _pose(rng, stamp=5, scale=2.5):
    q = rng.normal(size=4)
    return CameraPose(stamp_ns=stamp, quat_wxyz=q / np.linalg.norm(q), t_world_cam=rng.normal(size=3), scale=scale)


def _human(rng, n_vertices=30):
    f32 = np.float32
    return HumanState(track_id=4, model='open', betas=np.zeros(10, f32), global_orient=rng.normal(size=3).astype(f32),
                      body_pose=np.zeros(69, f32), transl=rng.normal(size=3).astype(f32),
                      joints=rng.normal(size=(24, 3)).astype(f32), joint_confidence=np.ones(24, f32),
                      vertices=rng.normal(size=(n_vertices, 3)).astype(f32),
                      keypoints_coco=rng.normal(size=(17, 3)).astype(f32))


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_points_follow_the_paper_formula(dtype):
    rng = np.random.default_rng(0)
    pose = _pose(rng)
    p = rng.normal(size=(7, 3)).astype(dtype)
    w = fusion.camera_to_world_points(p, pose)
    assert w.dtype == dtype
    # hand-written M_w = R(q) M_c + s t with R from the quaternion (w, x, y, z)
    qw, qx, qy, qz = pose.quat_wxyz
    R = np.array([[1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)],
                  [2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw)],
                  [2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy)]])
    np.testing.assert_allclose(w, p @ R.T + pose.scale * pose.t_world_cam, rtol=1e-5, atol=1e-5)


def test_humans_to_world_moves_everything_and_keeps_identity():
    rng = np.random.default_rng(1)
    pose = _pose(rng)
    h = _human(rng)
    out = fusion.humans_to_world(HumansFrame(5, 'camera', (h,)), pose, 'map')
    (w,) = out.humans
    assert out.frame_id == 'map' and out.stamp_ns == 5 and w.track_id == 4
    for name in ('joints', 'vertices', 'keypoints_coco'):
        np.testing.assert_allclose(getattr(w, name), fusion.camera_to_world_points(getattr(h, name), pose),
                                   atol=1e-5)
    # distances inside a body are preserved (rigid), the scale only moves the translation
    np.testing.assert_allclose(np.linalg.norm(w.joints[1] - w.joints[2]), np.linalg.norm(h.joints[1] - h.joints[2]),
                               rtol=1e-5)
    np.testing.assert_allclose(w.joints[0] - w.transl, h.joints[0] - h.transl, atol=1e-5)  # rest pelvis unchanged


def test_world_parameters_reproduce_the_world_mesh():
    """Posing the body model with the world parameters gives R(q) M_c + s t."""
    from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
    model = load_body_model(BodyModelConfig())
    rng = np.random.default_rng(2)
    betas = torch.tensor(rng.normal(size=(1, model.num_betas)) * 0.5, dtype=torch.float32)
    go = torch.tensor(rng.normal(size=(1, 3)), dtype=torch.float32)
    bp = torch.tensor(rng.normal(size=(1, 69)) * 0.3, dtype=torch.float32)
    tr = torch.tensor([[0.1, -0.2, 3.0]], dtype=torch.float32)
    with torch.no_grad():
        out = model(betas, go, bp, tr)
    f32 = np.float32
    h = HumanState(track_id=1, model=model.name, betas=betas[0].numpy(), global_orient=go[0].numpy(),
                   body_pose=bp[0].numpy(), transl=tr[0].numpy(), joints=out.joints[0].numpy(),
                   joint_confidence=np.ones(24, f32), vertices=out.vertices[0].numpy(),
                   keypoints_coco=out.keypoints_coco[0, :17].numpy())
    pose = _pose(rng, scale=1.7)
    w = fusion.human_to_world(h, pose)
    with torch.no_grad():
        again = model(betas, torch.tensor(w.global_orient[None]), bp, torch.tensor(w.transl[None]))
    np.testing.assert_allclose(again.vertices[0].numpy(), w.vertices, atol=2e-4)


def test_fusion_refuses_mismatched_stamps_and_bad_policies():
    rng = np.random.default_rng(3)
    humans = HumansFrame(5, 'camera', (_human(rng),))
    with pytest.raises(fusion.FusionError, match='cannot be fused'):
        fusion.humans_to_world(humans, _pose(rng, stamp=6))
    with pytest.raises(fusion.FusionError, match='untracked_policy'):
        fusion.FusionConfig(untracked_policy='sometimes')


def test_root_orientation_is_global_orient():
    h = _human(np.random.default_rng(4))
    q = fusion.root_orientation_xyzw(h)
    np.testing.assert_allclose(np.abs(q[[3, 0, 1, 2]]),
                               np.abs(quat_wxyz_from_rotmat(rotmat_from_axis_angle(h.global_orient.astype(float)))),
                               atol=1e-6)


def test_stamp_pairer_pairs_in_any_order_and_drops_late_items():
    p = sync.StampPairer(max_wait_ns=100, max_queue=3)
    assert p.add_left(10, 'h10') == []
    assert p.add_right(10, 'p10') == [(10, 'h10', 'p10')]
    assert p.add_right(20, 'p20') == []            # pose first
    assert p.add_left(20, 'h20') == [(20, 'h20', 'p20')]
    p.add_left(30, 'h30')                          # its pose never comes
    p.add_right(40, 'p40')                         # nobody asks for this one
    assert p.pending == (1, 1)
    assert p.add_left(200, 'h200') == []           # newest stamp 200: 30 and 40 are now too old
    assert p.pending == (1, 0)
    assert (p.stats.paired, p.stats.dropped_left, p.stats.dropped_right) == (2, 1, 1)
    for s in (201, 202, 203, 204):                 # bounded queue
        p.add_left(s, s)
    assert p.pending[0] == 3 and p.stats.dropped_left == 3


def test_decimation_bounds_triangles_and_keeps_original_vertices():
    # a finely tessellated sphere
    n = 60
    th, ph = np.meshgrid(np.linspace(0.01, np.pi - 0.01, n), np.linspace(0, 2 * np.pi, n, endpoint=False),
                         indexing='ij')
    v = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1).reshape(-1, 3)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :], np.roll(idx, -1, 1)[:-1, :], idx[1:, :], np.roll(idx, -1, 1)[1:, :]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
    dm = display_mesh.decimate(v, faces, max_triangles=1000)
    assert 500 <= dm.num_triangles <= 1000
    assert dm.faces.max() < dm.vertex_index.shape[0] and np.all(np.diff(np.sort(dm.vertex_index)) > 0)
    pts = dm.triangle_points(v * 2.0)          # posing the full mesh poses the display mesh exactly
    assert pts.shape == (3 * dm.num_triangles, 3)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 2.0, rtol=1e-9)
    # the decimated surface still covers the sphere: every direction has a display vertex within 0.2
    probe = np.random.default_rng(0).normal(size=(200, 3))
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    kept = v[dm.vertex_index]
    assert np.max(np.min(np.linalg.norm(probe[:, None] - kept[None], axis=2), axis=1)) < 0.2
    full = display_mesh.decimate(v, faces, max_triangles=10**6)
    assert full.num_triangles == faces.shape[0]


def test_world_fusion_pairs_moves_and_reports_ended_tracks():
    rng = np.random.default_rng(5)
    wf = fusion.WorldFusion(fusion.FusionConfig(world_frame='world', max_wait_ns=1000, untracked_policy='drop'))
    h1, h2 = _human(rng), _human(rng)
    h2 = HumanState(**{**h2.__dict__, 'track_id': 9})
    assert wf.add_humans(HumansFrame(10, 'camera', (h1, h2))) == []
    (r,) = wf.add_pose(_pose(rng, stamp=10))
    assert r.world.frame_id == 'world' and [h.track_id for h in r.world.humans] == [4, 9] and r.ended_tracks == ()
    # a person missing from one image is not ended (the tracker may still re-identify them) ...
    (r2,) = wf.add_pose(_pose(rng, stamp=20)) or wf.add_humans(HumansFrame(20, 'camera', (h1,)))
    assert r2.ended_tracks == ()
    # ... the tracker's end is reported once, even when its image is dropped (no pose in time)
    assert wf.add_humans(HumansFrame(25, 'camera', (h1,), ended_track_ids=(9,))) == []
    (r2b,) = wf.add_pose(_pose(rng, stamp=26)) or wf.add_humans(HumansFrame(26, 'camera', (h1,)))
    assert r2b.ended_tracks == (9,)
    lost = CameraPose(stamp_ns=30, quat_wxyz=np.array([1.0, 0, 0, 0]), t_world_cam=np.zeros(3), tracking=False,
                      state='rotation_only')
    assert wf.add_pose(lost) == [] and wf.add_humans(HumansFrame(30, 'camera', (h1,))) == []
    assert wf.no_pose == 1 and wf.dropped == {'rotation_only': 1} and wf.fused == {'tracking': 3}
    assert wf.stats.paired == 4


@pytest.mark.parametrize('policy, used', [('use', {'rotation_only', 'held'}), ('rotation_only', {'rotation_only'}),
                                          ('drop', set())])
def test_untracked_policy_decides_which_poses_place_people(policy, used):
    """A rotation-only pose (orientation measured, position held) and a held one, per policy."""
    rng = np.random.default_rng(8)
    h = _human(rng)
    R = rotmat_from_axis_angle(np.array([0.0, 0.3, 0.0]))
    wf = fusion.WorldFusion(fusion.FusionConfig(untracked_policy=policy))
    placed = {}
    for stamp, state in ((1, 'rotation_only'), (2, 'held')):
        pose = CameraPose(stamp, quat_wxyz_from_rotmat(R), np.array([0.5, 0, 0]), scale=2.0, tracking=False,
                          state=state)
        wf.add_humans(HumansFrame(stamp, 'camera', (h,)))
        for r in wf.add_pose(pose):
            placed[state] = r.world.humans[0].joints
    assert set(placed) == used
    for joints in placed.values():     # placed with the pose as it is: R p + s t
        np.testing.assert_allclose(joints, h.joints @ R.T + np.array([1.0, 0, 0]), atol=1e-5)
    assert wf.untracked == len(used) and wf.no_pose == 2 - len(used)


def test_stamp_pairer_hands_back_expired_left_items():
    p = sync.StampPairer(max_wait_ns=10, max_queue=8)
    p.add_left(1, 'a')
    p.add_left(2, 'b')
    assert p.pop_expired_left() == []
    p.add_right(2, 'B')
    p.add_left(30, 'c')          # 1 is now too old
    assert p.pop_expired_left() == [(1, 'a')] and p.pop_expired_left() == []


def test_tf_frames_put_each_person_at_its_joints_with_the_body_orientation_on_the_pelvis():
    rng = np.random.default_rng(7)
    a, b = _human(rng), _human(rng)
    b = HumanState(**{**b.__dict__, 'track_id': 9})
    world = HumansFrame(3, 'world', (a, b))
    names = tuple(f'j{i}' for i in range(24))
    frames = fusion.human_tf_frames(world, names)
    assert [f[0] for f in frames] == ['human_4/j0', 'human_9/j0']            # pelvis only by default
    child, t, q = frames[0]
    np.testing.assert_allclose(t, a.joints[0], atol=1e-6)
    R_q = rotmat_from_quat_wxyz(np.asarray(q)[[3, 0, 1, 2]])                # the body's orientation
    np.testing.assert_allclose(R_q, rotmat_from_axis_angle(a.global_orient.astype(float)), atol=1e-6)
    every = fusion.human_tf_frames(world, names, all_joints=True)
    assert len(every) == 48 and every[5][0] == 'human_4/j5'
    np.testing.assert_allclose(every[5][1], a.joints[5], atol=1e-6)
    np.testing.assert_array_equal(every[5][2], [0, 0, 0, 1])
