"""REP-155 mapping in the core: ids, 2D skeleton and ROI against a known camera, the human kinematic
model (body frame, joint values, FK, URDF) against real body-model poses and hand-made postures."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from onlinehmr_ros.core.body import human_description as hd
from onlinehmr_ros.core.body.skeleton import COCO_KEYPOINT_NAMES, SMPL_JOINT_NAMES
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, HumanState
from onlinehmr_ros.core.fusion import hri

J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
K = {n: i for i, n in enumerate(COCO_KEYPOINT_NAMES)}


# ----------------------------------------------------------------------------
# A standing person, built by hand (world frame: z up; facing +x; metres)
# ----------------------------------------------------------------------------
def _standing(yaw_rad: float = 0.0, origin=(0.0, 0.0, 0.0)):
    """(24, 3) joints and (17, 3) keypoints of an upright person, arms hanging, facing yaw."""
    j = np.zeros((24, 3))
    pts = {
        'pelvis': (0, 0, 0.95), 'left_hip': (0, 0.09, 0.9), 'right_hip': (0, -0.09, 0.9),
        'spine1': (0, 0, 1.05), 'left_knee': (0, 0.1, 0.5), 'right_knee': (0, -0.1, 0.5),
        'spine2': (0, 0, 1.18), 'left_ankle': (0, 0.1, 0.08), 'right_ankle': (0, -0.1, 0.08),
        'spine3': (0, 0, 1.3), 'left_foot': (0.1, 0.1, 0.02), 'right_foot': (0.1, -0.1, 0.02),
        'neck': (0, 0, 1.5), 'left_collar': (0, 0.07, 1.42), 'right_collar': (0, -0.07, 1.42),
        'head': (0.0, 0, 1.6), 'left_shoulder': (0, 0.18, 1.42), 'right_shoulder': (0, -0.18, 1.42),
        'left_elbow': (0, 0.2, 1.14), 'right_elbow': (0, -0.2, 1.14), 'left_wrist': (0, 0.2, 0.9),
        'right_wrist': (0, -0.2, 0.9), 'left_hand': (0, 0.2, 0.82), 'right_hand': (0, -0.2, 0.82)}
    for n, p in pts.items():
        j[J[n]] = p
    k = np.zeros((17, 3))
    face = {'nose': (0.1, 0, 1.65), 'left_eye': (0.08, 0.03, 1.68), 'right_eye': (0.08, -0.03, 1.68),
            'left_ear': (0.0, 0.075, 1.65), 'right_ear': (0.0, -0.075, 1.65)}
    for n, p in face.items():
        k[K[n]] = p
    for n in COCO_KEYPOINT_NAMES[5:17]:
        k[K[n]] = j[J[n]]
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return j @ R.T + origin, k @ R.T + origin


def _rot_about(points, centre, axis, angle):
    from scipy.spatial.transform import Rotation
    R = Rotation.from_rotvec(np.asarray(axis, float) * angle).as_matrix()
    return (np.asarray(points) - centre) @ R.T + centre


def _angles(j, k):
    return dict(zip(hd.HUMAN_JOINT_NAMES, hd.joint_angles(j, k, hd.body_frame(j))))


# ----------------------------------------------------------------------------
# Ids
# ----------------------------------------------------------------------------
def test_body_ids_are_valid_ros_tokens_and_invert():
    assert hri.body_id(3) == 'b3' and hri.track_id_of('b3') == 3
    assert hri.body_id(12, 'person_') == 'person_12' and hri.track_id_of('person_12', 'person_') == 12
    for bad in ('', '3', '_x', 'a-b', 'a b'):
        with pytest.raises(hri.HriError, match='not valid'):
            hri.body_id(1, bad)
    with pytest.raises(hri.HriError, match='not a body id'):
        hri.track_id_of('c3')


def test_registry_creates_once_keeps_through_a_gap_and_removes_after_the_timeout():
    reg = hri.BodyRegistry('b', timeout_ns=1_000)
    u = reg.update(0, [0, 1])
    assert (u.tracked, u.new, u.gone) == (['b0', 'b1'], ['b0', 'b1'], [])
    u = reg.update(500, [1])                    # b0 missed once: not tracked, topics kept
    assert (u.tracked, u.new, u.gone) == (['b1'], [], [])
    u = reg.update(1_200, [1, 2])               # b0 unseen for 1.2 us > 1 us: gone
    assert (u.tracked, u.new, u.gone) == (['b1', 'b2'], ['b2'], ['b0'])
    assert reg.known == ['b1', 'b2']


# ----------------------------------------------------------------------------
# 2D
# ----------------------------------------------------------------------------
def _camera_person(j_world, k_world, cam_distance=3.0):
    """The person seen by a camera at x = -cam_distance looking along +x (optical: x right, y down, z fwd)."""
    R_cam_world = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float)
    t = np.array([0.0, 1.0, cam_distance])                 # camera at world (-d, 0, 1), 1 m high

    def to_cam(p):
        return p @ R_cam_world.T + t
    return to_cam(j_world), to_cam(k_world)


def _human(j, k, conf=None, verts=None, tid=4):
    return HumanState(track_id=tid, model='open', betas=np.zeros(10, np.float32), global_orient=np.zeros(3, np.float32),
                      body_pose=np.zeros(69, np.float32), transl=np.zeros(3, np.float32), joints=j.astype(np.float32),
                      joint_confidence=np.full(24, 0.9, np.float32) if conf is None else conf,
                      vertices=np.zeros((0, 3), np.float32) if verts is None else verts,
                      keypoints_coco=k.astype(np.float32), confidence=0.8)


def test_skeleton2d_of_a_person_facing_the_camera():
    j, k = _standing(yaw_rad=np.pi)                          # facing the camera (-x)
    jc, kc = _camera_person(j, k)
    intr = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), 640, 480)
    conf = np.linspace(0.1, 1.0, 24).astype(np.float32)
    sk = hri.skeleton2d(_human(jc, kc, conf), intr)
    assert sk.shape == (18, 3) and sk.dtype == np.float32
    idx = {n: i for i, n in enumerate(hri.SKELETON2D_NAMES)}
    # a person facing the camera has the left shoulder on the image's right
    assert sk[idx['left_shoulder'], 0] > 0.5 > sk[idx['right_shoulder'], 0]
    # the pelvis height (0.9 m) is 0.1 m below the camera at 3 m: v = 240 + 500 * 0.1 / 3
    np.testing.assert_allclose(sk[idx['left_hip'], 1], (240 + 500 * 0.1 / 3.0) / 480, atol=1e-5)
    # hip x: the left hip is 0.09 m to the image right of the centre
    np.testing.assert_allclose(sk[idx['left_hip'], 0], (320 + 500 * 0.09 / 3.0) / 640, atol=1e-5)
    # the neck is the middle of the shoulders; the head points are above it (smaller y)
    np.testing.assert_allclose(sk[idx['neck'], :2], 0.5 * (sk[idx['left_shoulder'], :2] + sk[idx['right_shoulder'], :2]),
                               atol=1e-6)
    assert sk[idx['nose'], 1] < sk[idx['neck'], 1] < sk[idx['left_hip'], 1] < sk[idx['left_ankle'], 1]
    # confidences come from the matching joints
    assert sk[idx['left_elbow'], 2] == pytest.approx(conf[J['left_elbow']])
    assert sk[idx['right_ear'], 2] == pytest.approx(conf[J['head']])
    assert np.all((sk[:, :2] >= 0) & (sk[:, :2] <= 1))


def test_skeleton2d_points_outside_the_image_are_clipped_with_zero_confidence():
    j, k = _standing(yaw_rad=np.pi)
    jc, kc = _camera_person(j, k, cam_distance=0.8)         # too close: head and feet leave the image
    intr = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), 640, 480)
    sk = hri.skeleton2d(_human(jc, kc), intr)
    idx = {n: i for i, n in enumerate(hri.SKELETON2D_NAMES)}
    assert sk[idx['left_ankle'], 1] == 1.0 and sk[idx['left_ankle'], 2] == 0.0
    assert sk[idx['nose'], 1] == 0.0 and sk[idx['nose'], 2] == 0.0
    assert sk[idx['left_hip'], 2] > 0.8                    # still inside


def test_roi_bounds_the_mesh_and_says_so():
    intr = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), 640, 480)
    # a box of vertices 1 m wide, 1.8 m tall, 4 m in front: u in 320 +- 62.5, v in 240 + [-112.5, 112.5]
    verts = np.array([[x, y, 4.0] for x in (-0.5, 0.5) for y in (-0.9, 0.9)], np.float32)
    j, k = _standing()
    roi = hri.region_of_interest(_human(j + [0, 0, 4], k + [0, 0, 4], verts=verts), intr)
    assert roi.source == 'mesh' and roi.c == pytest.approx(0.8)
    np.testing.assert_allclose([roi.xmin, roi.ymin, roi.xmax, roi.ymax],
                               [257.5 / 640, 127.5 / 480, 382.5 / 640, 352.5 / 480], atol=1e-6)
    assert hri.region_of_interest(_human(j + [0, 0, 4], k + [0, 0, 4]), intr).source == 'skeleton'
    behind = _human(j - [0, 0, 4], k - [0, 0, 4], verts=verts - [0, 0, 8])
    assert hri.region_of_interest(behind, intr) is None


# ----------------------------------------------------------------------------
# The human kinematic model
# ----------------------------------------------------------------------------
def test_body_frame_origin_between_the_hips_x_forward_z_up():
    j, _ = _standing(yaw_rad=0.7, origin=(2.0, -1.0, 0.0))
    T = hd.body_frame(j)
    np.testing.assert_allclose(T[:3, 3], 0.5 * (j[J['left_hip']] + j[J['right_hip']]))
    np.testing.assert_allclose(T[:3, 0], [np.cos(0.7), np.sin(0.7), 0.0], atol=1e-12)   # facing yaw 0.7
    np.testing.assert_allclose(T[:3, 2], [0, 0, 1])


def test_standing_person_has_all_joints_near_zero():
    j, k = _standing(yaw_rad=-2.0, origin=(1, 2, 0))
    a = hd.joint_angles(j, k, hd.body_frame(j))
    assert np.abs(a).max() < 0.15, dict(zip(hd.HUMAN_JOINT_NAMES, np.round(a, 3)))


def test_postures_give_the_expected_joint_signs():
    j0, k0 = _standing()
    # left arm raised straight forward
    j = j0.copy()
    j[J['left_elbow']] = j[J['left_shoulder']] + [0.28, 0, 0]
    j[J['left_wrist']] = j[J['left_shoulder']] + [0.52, 0, 0]
    a = _angles(j, k0)
    assert a['l_p_shoulder'] == pytest.approx(np.pi / 2, abs=1e-6)
    assert a['l_y_shoulder'] == pytest.approx(np.pi / 2, abs=1e-6)
    # right arm raised sideways (abduction), elbow bent 90 degrees with the forearm forward
    j = j0.copy()
    j[J['right_elbow']] = j[J['right_shoulder']] + [0, -0.28, 0]
    j[J['right_wrist']] = j[J['right_elbow']] + [0.24, 0, 0]
    a = _angles(j, k0)
    assert a['r_p_shoulder'] == pytest.approx(np.pi / 2, abs=1e-6)
    assert a['r_elbow'] == pytest.approx(np.pi / 2, abs=1e-6)
    # left knee bent 90 degrees (shin backwards), thigh vertical
    j = j0.copy()
    j[J['left_ankle']] = j[J['left_knee']] + [-0.42, 0, 0]
    a = _angles(j, k0)
    assert a['l_knee'] == pytest.approx(-np.pi / 2, abs=1e-6)
    assert abs(a['l_r_hip']) < 1e-6
    # bowing 30 degrees at the hips: the waist leans forward
    mid_hips = 0.5 * (j0[J['left_hip']] + j0[J['right_hip']])
    upper = [J[n] for n in SMPL_JOINT_NAMES if n not in ('pelvis',) and 'hip' not in n and 'knee' not in n
             and 'ankle' not in n and 'foot' not in n]
    j = j0.copy()
    j[upper] = _rot_about(j0[upper], mid_hips, [0, 1, 0], np.deg2rad(30))
    k = _rot_about(k0, mid_hips, [0, 1, 0], np.deg2rad(30))
    k[5:7] = j[[J['left_shoulder'], J['right_shoulder']]]
    a = _angles(j, k)
    assert a['waist'] == pytest.approx(np.deg2rad(30), abs=1e-6)
    assert abs(a['p_head']) < 0.15                 # the head bows with the torso, not on its own
    # head turned 40 degrees to the left (about the neck, z up)
    k = k0.copy()
    k[:5] = _rot_about(k0[:5], j0[J['neck']], [0, 0, 1], np.deg2rad(40))
    a = _angles(j0, k)
    assert a['y_head'] == pytest.approx(np.deg2rad(40), abs=0.1)


def test_limits_pick_the_solution_inside_them():
    """The ZXZ/ZXY decompositions have two solutions; the one within the template's limits is kept."""
    j0, k0 = _standing()
    j = j0.copy()
    j[J['right_elbow']] = j[J['right_shoulder']] + [0.2, -0.2, 0]       # right arm forward-out
    j[J['right_wrist']] = j[J['right_elbow']] + [0.2, -0.05, 0.05]
    a = _angles(j, k0)
    table = {s.name: s.limits for s in hd.joint_table(hd.BodyDimensions.from_height())}
    for n in ('r_y_shoulder', 'r_p_shoulder', 'r_r_shoulder', 'r_elbow'):
        lo, hi = table[n]
        assert lo <= a[n] <= hi, (n, a[n])


def _body_model_poses():
    from helpers.body_poses import body_model_poses
    joints, coco, _, action = body_model_poses()
    return joints, coco, action


def _direction(a, b):
    d = b - a
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _angle_deg(u, v):
    return float(np.degrees(np.arccos(np.clip(u @ v, -1.0, 1.0))))


def test_ik_then_fk_reproduces_the_limb_directions_of_real_body_model_poses():
    """Joint values from the open body model's poses (walk, wave, squat, turn), put through the
    model's forward kinematics, point every limb segment where the body model's does: upper arms
    and thighs exactly; forearms and shins exactly once bent by 15 degrees or more, and never
    further off than their bend (a near-straight limb keeps the twist-free hinge)."""
    joints, coco, action = _body_model_poses()
    worst_proximal, worst_bent, pos_err = 0.0, 0.0, []
    bent_seen = 0
    for j, k in zip(joints, coco):
        T = hd.body_frame(j)
        dims = hd.BodyDimensions.measured(j, k)
        links = hd.forward_kinematics(hd.joint_angles(j, k, T), dims)
        world = {n: T @ L for n, L in links.items()}
        for s, side in (('l', 'left'), ('r', 'right')):
            for (link, child, a, b), (dlink, dchild, c) in (
                    ((f'{s}_shoulder', f'{s}_elbow', 'shoulder', 'elbow'), (f'{s}_elbow', f'{s}_wrist', 'wrist')),
                    ((f'{s}_hip', f'{s}_knee', 'hip', 'knee'), (f'{s}_knee', f'{s}_ankle', 'ankle'))):
                true_prox = _direction(j[J[f'{side}_{a}']], j[J[f'{side}_{b}']])
                true_dist = _direction(j[J[f'{side}_{b}']], j[J[f'{side}_{c}']])
                worst_proximal = max(worst_proximal, _angle_deg(
                    _direction(world[link][:3, 3], world[child][:3, 3]), true_prox))
                err = _angle_deg(_direction(world[dlink][:3, 3], world[dchild][:3, 3]), true_dist)
                bend = _angle_deg(true_prox, true_dist)
                if bend >= 15.0:
                    worst_bent = max(worst_bent, err)
                    bent_seen += 1
                else:
                    assert err <= bend + 1e-6, (dlink, err, bend)
            pos_err.append(np.linalg.norm(world[f'{s}_ankle'][:3, 3] - j[J[f'{side}_ankle']]))
        # the head frame looks where the nose is
        nose_dir = k[K['nose']] - world['head'][:3, 3]
        assert nose_dir @ world['head'][:3, 0] > 0.5 * np.linalg.norm(nose_dir)
    assert worst_proximal < 1e-3 and worst_bent < 1e-3, (worst_proximal, worst_bent)   # degrees
    assert bent_seen > 50                                  # knees and elbows did bend (squat, wave)
    # positions also depend on what the model cannot bend (rigid torso, fixed hip offsets)
    assert np.median(pos_err) < 0.03 and np.max(pos_err) < 0.08, (np.median(pos_err), np.max(pos_err))
    assert set(np.unique(action)) >= {0, 2, 3}             # the poses did walk, wave and squat


def test_measured_dimensions_match_the_skeleton():
    j, k = _standing()
    d = hd.BodyDimensions.measured(j, k)
    assert d.upperarm_length == pytest.approx(np.linalg.norm([0, 0.02, 0.28]))
    assert d.tibia_length == pytest.approx(0.42) and d.thigh_length == pytest.approx(np.hypot(0.01, 0.4))
    assert d.waist_length == pytest.approx(0.18) and d.neck_shoulder_length == pytest.approx(0.18)
    assert d.torso_height == pytest.approx(0.52) and d.head_radius == pytest.approx(0.075)
    with pytest.raises(hd.HumanDescriptionError, match='positive'):
        hd.BodyDimensions.measured(np.zeros((24, 3)), np.zeros((17, 3)))
    with pytest.raises(hd.HumanDescriptionError, match=r'\(24, 3\)'):
        hd.joint_angles(np.zeros((17, 3)), k, np.eye(4))


#: joints of ros4hri human_description's urdf/human-tpl.xacro (humble-devel 2.0.2, 9050b42d):
#: name -> (type, parent, child, axis, lower, upper), transcribed from the template
UPSTREAM_JOINTS = {
    'waist': ('revolute', 'body', 'waist', (0, 1, 0), -0.2, 1.0),
    'torso': ('fixed', 'waist', 'torso', None, None, None),
    'r_head': ('revolute', 'torso', 'r_head', (1, 0, 0), -1.0, 1.0),
    'y_head': ('revolute', 'r_head', 'y_head', (0, 0, 1), -1.4, 1.4),
    'p_head': ('revolute', 'y_head', 'p_head', (0, -1, 0), -1.5, 1.5),
    'head': ('fixed', 'p_head', 'head', None, None, None),
    **{k: v for s, r in (('l', 1), ('r', -1)) for k, v in {
        f'{s}_y_shoulder': ('revolute', 'torso', f'{s}_y_shoulder', (0, 0, -r), -1.1, 1.9),
        f'{s}_p_shoulder': ('revolute', f'{s}_y_shoulder', f'{s}_p_shoulder', (r, 0, 0), -0.4, 3.3),
        f'{s}_r_shoulder': ('revolute', f'{s}_p_shoulder', f'{s}_shoulder', (0, 0, r), -1.7, 1.5),
        f'{s}_elbow': ('revolute', f'{s}_shoulder', f'{s}_elbow', (0, -1, 0), 0.0, 2.5),
        f'{s}_wrist': ('fixed', f'{s}_elbow', f'{s}_wrist', None, None, None),
        f'{s}_y_hip': ('revolute', 'body', f'{s}_y_hip', (0, 0, -1), -0.1, 0.6),
        f'{s}_p_hip': ('revolute', f'{s}_y_hip', f'{s}_p_hip', (r, 0, 0), -0.4, 3.3),
        f'{s}_r_hip': ('revolute', f'{s}_p_hip', f'{s}_hip', (0, -1, 0), -0.4, 0.7),
        f'{s}_knee': ('revolute', f'{s}_hip', f'{s}_knee', (0, -1, 0), -2.5, 0.0),
        f'{s}_ankle': ('fixed', f'{s}_knee', f'{s}_ankle', None, None, None)}.items()},
}


def test_urdf_has_the_upstream_tree_with_the_id_suffix():
    d = hd.BodyDimensions.from_height(1.7)
    root = ET.fromstring(hd.urdf_xml('b7', d))
    assert root.tag == 'robot' and root.get('name') == 'human_b7'
    joints = {}
    for e in root.findall('joint'):
        axis = e.find('axis')
        lim = e.find('limit')
        joints[e.get('name')] = (e.get('type'), e.find('parent').get('link'), e.find('child').get('link'),
                                 None if axis is None else tuple(float(v) for v in axis.get('xyz').split()),
                                 None if lim is None else float(lim.get('lower')),
                                 None if lim is None else float(lim.get('upper')))
    expected = {f'{n}_b7': (t, f'{p}_b7', f'{c}_b7', None if a is None else tuple(map(float, a)), lo, hi)
                for n, (t, p, c, a, lo, hi) in UPSTREAM_JOINTS.items()}
    assert joints == expected
    links = {e.get('name') for e in root.findall('link')}
    assert links == {'body_b7'} | {c for (_, _, c, _, _, _) in joints.values()}
    revolute = [n[:-3] for n, v in joints.items() if v[0] == 'revolute']
    assert sorted(revolute) == sorted(hd.HUMAN_JOINT_NAMES)
    # the elbow sits one upper arm below the shoulder, as in the template
    el = next(e for e in root.findall('joint') if e.get('name') == 'l_elbow_b7')
    np.testing.assert_allclose([float(v) for v in el.find('origin').get('xyz').split()], [0, 0, -d.upperarm_length],
                               rtol=1e-5)


def test_rep155_bodies_publish_plan():
    """2D for every tracked body (none without intrinsics), 3D only for bodies that exist, the URDF
    once per body (its lengths fixed when first seen), an error instead of a crash on a bad skeleton."""
    intr = CameraIntrinsics(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), 640, 480)
    j, k = _standing(yaw_rad=np.pi)
    jc, kc = _camera_person(j, k)
    bodies = hri.Rep155Bodies('b', timeout_ns=1_000)
    update, out2d = bodies.camera_frame((_human(jc, kc, tid=2),), 0, intr)
    assert update.new == ['b2'] and [o.body for o in out2d] == ['b2'] and out2d[0].roi.source == 'skeleton'
    assert bodies.camera_frame((_human(jc, kc, tid=2),), 100, None)[1] == []
    first = bodies.world_frame((_human(j, k, tid=2), _human(j, k, tid=9)))      # 9: never seen by a camera
    assert [o.body for o in first] == ['b2'] and first[0].first and not first[0].error
    taller = j * [1, 1, 1.1]
    again = bodies.world_frame((_human(taller, k, tid=2),))
    assert not again[0].first and again[0].dimensions == first[0].dimensions
    bad = j.copy()
    bad[J['left_hip']] = bad[J['right_hip']]
    bad[J['left_shoulder']] = bad[J['right_shoulder']]
    assert 'degenerate' in bodies.world_frame((_human(bad, k, tid=2),))[0].error
    update, _ = bodies.camera_frame((), 5_000, intr)                             # b2 gone: forgotten
    assert update.gone == ['b2'] and bodies.world_frame((_human(j, k, tid=2),)) == []
