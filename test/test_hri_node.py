"""The hri node, checked by a consumer in another process that reads only REP-155 topics.

Two people of the open body model (one walking, waving, squatting; one standing, who leaves
half-way) are fed to the node as the pipeline would (camera-space and world-space
HumanMeshArray, CameraInfo). The consumer (helpers/rep155_listener.py) discovers the bodies from
/humans/bodies/tracked, reads skeleton2d, roi, joint_states and the URDF, and places the wrists
and ankles in the world with its own forward kinematics of that URDF and the body_<id> TF frame.
"""
import json
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('hri_msgs')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402

from onlinehmr_ros.core.body.human_description import HUMAN_JOINT_NAMES  # noqa: E402
from onlinehmr_ros.core.body.skeleton import SMPL_JOINT_NAMES  # noqa: E402
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, HumansFrame, HumanState  # noqa: E402
from onlinehmr_ros.core.fusion import hri  # noqa: E402
from onlinehmr_ros.msg import HumanMeshArray  # noqa: E402
from onlinehmr_ros.ros import convert  # noqa: E402
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS  # noqa: E402

LISTENER = pathlib.Path(__file__).parent / 'helpers' / 'rep155_listener.py'
J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
#: world -> camera optical frame: camera at (-3, 0, 1.2) looking along +x
R_CAM_WORLD = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float)
C_WORLD = np.array([-3.0, 0.0, 1.2])
INTR = CameraIntrinsics(np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]]), 640, 480)
FRAMES, LEAVES_AT, PERIOD_NS = 30, 15, 100_000_000


def _state(tid, joints, coco, verts):
    return HumanState(track_id=tid, model='open', betas=np.zeros(10, np.float32), global_orient=np.zeros(3, np.float32),
                      body_pose=np.zeros(69, np.float32), transl=np.zeros(3, np.float32),
                      joints=joints.astype(np.float32), joint_confidence=np.full(24, 0.9, np.float32),
                      vertices=verts.astype(np.float32), keypoints_coco=coco.astype(np.float32), confidence=0.7)


def _to_cam(p):
    return (p - C_WORLD) @ R_CAM_WORLD.T


@pytest.fixture(scope='module')
def people():
    from helpers.body_poses import body_model_poses
    from onlinehmr_ros.eval.synthetic.human_motion import Act
    walker = body_model_poses(FRAMES, start_xy=(0.0, 0.3), heading_rad=np.pi - 0.3)
    stander = body_model_poses(FRAMES, start_xy=(2.0, -1.2), heading_rad=np.pi, plan=[Act('idle', 10.0)], seed=2)
    return {0: walker, 5: stander}


def test_rep155_consumer_sees_bodies_skeletons_and_kinematics(rclpy_context, people):
    from onlinehmr_ros.nodes.hri_node import HriNode
    listener = subprocess.Popen([sys.executable, str(LISTENER), '12'], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == 'listening'
        node = HriNode(context=rclpy_context, parameter_overrides=[Parameter('body_timeout_s', value=0.5)])
        feeder = rclpy.create_node('feeder', context=rclpy_context)
        info_pub = feeder.create_publisher(CameraInfo, '/camera/camera_info', IMAGE_PUBLISHER_QOS)
        cam_pub = feeder.create_publisher(HumanMeshArray, '/human/camera_humans', 10)
        world_pub = feeder.create_publisher(HumanMeshArray, '/human/world_humans', 10)
        ex = SingleThreadedExecutor(context=rclpy_context)
        ex.add_node(node)
        ex.add_node(feeder)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and node.count_subscribers('/humans/bodies/tracked') == 0:
            ex.spin_once(timeout_sec=0.05)
        expected_2d = {}
        for i in range(FRAMES):
            stamp = i * PERIOD_NS
            here = [t for t in people if t == 0 or i < LEAVES_AT]
            world = [_state(t, people[t][0][i], people[t][1][i], people[t][2][i]) for t in here]
            cam = [_state(t, _to_cam(people[t][0][i]), _to_cam(people[t][1][i]), _to_cam(people[t][2][i]))
                   for t in here]
            for h in cam:
                expected_2d[(hri.body_id(h.track_id), stamp)] = hri.skeleton2d(h, INTR)
            quats = [np.array([0, 0, 0, 1.0])] * len(here)
            info_pub.publish(convert.intrinsics_to_camera_info(INTR, stamp, 'camera_optical_frame'))
            for _ in range(3):
                ex.spin_once(timeout_sec=0.01)
            cam_pub.publish(convert.humans_to_msg(HumansFrame(stamp, 'camera_optical_frame', tuple(cam)), quats))
            world_pub.publish(convert.humans_to_msg(HumansFrame(stamp, 'world', tuple(world)), quats))
            t_end = time.monotonic() + 0.1
            while time.monotonic() < t_end:
                ex.spin_once(timeout_sec=0.01)
        out = json.loads(listener.communicate(timeout=60)[0].strip().splitlines()[-1])
        ex.shutdown()
        node.destroy_node()
        feeder.destroy_node()
    finally:
        if listener.poll() is None:
            listener.kill()
    print('REP-155 topics seen by the consumer (rclpy graph):', *out['graph'], sep='\n  ')

    # ids: the track ids of /human/world_humans with the prefix; b5 leaves after frame 14
    tracked = {stamp: ids for stamp, ids in out['tracked']}
    assert tracked, 'nothing on /humans/bodies/tracked'
    for stamp, ids in tracked.items():
        assert ids == (['b0', 'b5'] if stamp < LEAVES_AT * PERIOD_NS else ['b0'])
    assert set(out['bodies']) == {'b0', 'b5'}
    # b5's topics are gone (no publisher) once it was unseen for body_timeout_s; b0's remain
    assert out['publishers']['/humans/bodies/b5/skeleton2d'] == 0
    assert out['publishers']['/humans/bodies/b0/skeleton2d'] == 1
    for sub in ('roi', 'skeleton2d', 'joint_states', 'urdf'):
        assert f'/humans/bodies/b0/{sub}' in out['graph']

    for body, b in out['bodies'].items():
        assert b['skeleton2d'] and b['roi'] and b['joint_states'] and b['urdf'], (body, {k: bool(v) for k, v in b.items()})
        assert b['joint_names'] == [f'{n}_{body}' for n in HUMAN_JOINT_NAMES]
        for stamp, points in b['skeleton2d']:
            np.testing.assert_allclose(points, expected_2d[(body, stamp)], atol=1e-6)
        for stamp, (xmin, ymin, xmax, ymax, c) in b['roi']:
            sk = np.asarray(expected_2d[(body, stamp)])
            inside = sk[:, 2] > 0
            assert 0 <= xmin <= sk[inside, 0].min() and sk[inside, 0].max() <= xmax <= 1   # the box holds the body
            assert 0 <= ymin <= sk[inside, 1].min() and sk[inside, 1].max() <= ymax <= 1
            assert c == pytest.approx(0.7)
        # the consumer's own FK of the URDF + joint_states + body_<id> TF lands on the person's joints
        assert len(b['fk']) >= 5, f'{body}: joint states with a body_{body} transform: {len(b["fk"])}'
        track = hri.track_id_of(body)
        for stamp, parent, pos in b['fk']:
            assert parent == 'world'
            joints = people[track][0][stamp // PERIOD_NS]
            for link, smpl in (('l_wrist', 'left_wrist'), ('r_wrist', 'right_wrist'), ('l_ankle', 'left_ankle'),
                               ('r_ankle', 'right_ankle')):
                err = np.linalg.norm(np.asarray(pos[link]) - joints[J[smpl]])
                assert err < 0.05, f'{body} {link} at {stamp}: {err:.3f} m off'
