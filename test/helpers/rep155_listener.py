"""A REP-155 consumer in its own process, using only REP-155 topics (as pyhri / libhri do).

It learns the bodies from /humans/bodies/tracked, subscribes to each body's skeleton2d, roi,
joint_states and urdf when the body appears, reads body_<id> from /tf, and computes the world
position of the wrists and ankles with its own forward kinematics of the URDF it received (no
onlinehmr_ros code). Prints one JSON line when done:

    python rep155_listener.py DURATION_S
"""
import json
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import rclpy
from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from tf2_msgs.msg import TFMessage

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def urdf_fk(urdf: str, positions: dict) -> dict:
    """link -> (4, 4) pose in the root link's frame, from a URDF string and joint positions."""
    root = ET.fromstring(urdf)
    joints = {}
    for j in root.findall('joint'):
        origin = j.find('origin')
        axis = j.find('axis')
        joints[j.find('child').get('link')] = (
            j.get('name'), j.get('type'), j.find('parent').get('link'),
            np.array([float(v) for v in origin.get('xyz').split()]),
            np.array([float(v) for v in origin.get('rpy').split()]),
            None if axis is None else np.array([float(v) for v in axis.get('xyz').split()]))
    poses = {}

    def pose(link):
        if link in poses:
            return poses[link]
        if link not in joints:                        # the root
            poses[link] = np.eye(4)
            return poses[link]
        name, kind, parent, xyz, rpy, axis = joints[link]
        T = np.eye(4)
        T[:3, :3] = Rotation.from_euler('xyz', rpy).as_matrix()
        T[:3, 3] = xyz
        if kind == 'revolute':
            M = np.eye(4)
            M[:3, :3] = Rotation.from_rotvec(axis * positions[name]).as_matrix()
            T = T @ M
        poses[link] = pose(parent) @ T
        return poses[link]

    for link in joints:
        pose(link)
    return poses


def main():
    duration = float(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node('rep155_listener')
    seen = {}             # body id -> what arrived
    tracked_lists = []
    tf = {}               # child frame -> (stamp_ns, parent, T)

    def stamp_ns(h):
        return h.stamp.sec * 1_000_000_000 + h.stamp.nanosec

    def on_tracked(msg: IdsList):
        tracked_lists.append([stamp_ns(msg.header), list(msg.ids)])
        for body in msg.ids:
            if body in seen:
                continue
            b = seen[body] = {'skeleton2d': [], 'roi': [], 'joint_states': [], 'urdf': None, 'fk': []}
            ns = f'/humans/bodies/{body}'
            node.create_subscription(Skeleton2D, f'{ns}/skeleton2d', lambda m, b=b: b['skeleton2d'].append(
                [stamp_ns(m.header), [[p.x, p.y, p.c] for p in m.skeleton]]), 10)
            node.create_subscription(NormalizedRegionOfInterest2D, f'{ns}/roi', lambda m, b=b: b['roi'].append(
                [stamp_ns(m.header), [m.xmin, m.ymin, m.xmax, m.ymax, m.c]]), 10)
            node.create_subscription(JointState, f'{ns}/joint_states', lambda m, b=b: b['joint_states'].append(
                (stamp_ns(m.header), list(m.name), list(m.position))), 10)
            node.create_subscription(String, f'{ns}/urdf', lambda m, b=b: b.__setitem__('urdf', m.data), LATCHED)

    def on_tf(msg: TFMessage):
        for t in msg.transforms:
            T = np.eye(4)
            r, p = t.transform.rotation, t.transform.translation
            T[:3, :3] = Rotation.from_quat([r.x, r.y, r.z, r.w]).as_matrix()
            T[:3, 3] = [p.x, p.y, p.z]
            tf[(t.child_frame_id, stamp_ns(t.header))] = (t.header.frame_id, T)

    node.create_subscription(IdsList, '/humans/bodies/tracked', on_tracked, 10)
    node.create_subscription(TFMessage, '/tf', on_tf, QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    print('listening', flush=True)
    end = time.monotonic() + duration
    graph = []
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    graph = sorted(n for n, _ in node.get_topic_names_and_types() if n.startswith('/humans/'))
    publishers = {n: node.count_publishers(n) for n in graph}
    for body, b in seen.items():
        if b['urdf'] is None:
            continue
        for stamp, names, positions in b['joint_states']:
            key = (f'body_{body}', stamp)
            if key not in tf:
                continue
            parent, T_world_body = tf[key]
            links = urdf_fk(b['urdf'], dict(zip(names, positions)))
            b['fk'].append([stamp, parent, {n: (T_world_body @ links[f'{n}_{body}'])[:3, 3].tolist()
                                            for n in ('l_wrist', 'r_wrist', 'l_ankle', 'r_ankle', 'head')}])
        b['joint_names'] = b['joint_states'][0][1] if b['joint_states'] else []
        b['joint_states'] = len(b['joint_states'])
    print(json.dumps({'tracked': tracked_lists, 'bodies': seen, 'graph': graph, 'publishers': publishers}),
          flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
