"""fusion: camera-space humans + SLAM camera pose -> people in the world frame.

Subscribes:  human/camera_humans     (HumanMeshArray, camera optical frame)
             slam/camera_pose_state  (CameraPoseState: pose, tracking state, scale; world frame)
Publishes:   human/world_mesh    (visualization_msgs/MarkerArray, numpy-encoded bytes:
                                  one TRIANGLE_LIST per person, skeleton, DELETE on track end)
             human/world_humans  (HumanMeshArray in the world frame)
             /tf                 world_frame -> <person_frame_prefix><id>/pelvis (and joints, optional):
                                 people stay under the world (map) frame
             /diagnostics        frames, drops (per pose state), latency, messages lost before this node
The algorithm (M_w = R(q) M_c + s t, stamp pairing, which poses to use, the TF frames) is
core.fusion.world. Marker and TF options can be changed at run time; frame names default to the
node's namespace.
"""
from __future__ import annotations

import sys
import time

import numpy as np
from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from onlinehmr_ros.core.body.display_mesh import display_mesh_for
from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.fusion.world import (UNTRACKED_POLICIES, FusionConfig, FusionResult, WorldFusion,
                                             human_tf_frames, root_orientation_xyzw)
from onlinehmr_ros.core.common.incidents import IncidentLog
from onlinehmr_ros.core.common.input_checks import StampOrder
from onlinehmr_ros.core.common.tf_tree import namespaced_frame
from onlinehmr_ros.msg import CameraPoseState, HumanMeshArray
from onlinehmr_ros.ros import convert, markers
from onlinehmr_ros.ros.diagnostics import OK, WARN, Diagnostics
from onlinehmr_ros.ros.marker_cdr import encode_marker_array
from onlinehmr_ros.ros.params import BUILT_AT_START, FRAMES_FIXED, NodeParameters
from onlinehmr_ros.ros.qos import Subscriptions
from onlinehmr_ros.ros.run import run_node
from onlinehmr_ros.ros.tf import TfBroadcaster


class FusionNode(Node):
    def __init__(self, **kwargs):
        super().__init__('fusion', **kwargs)
        self.params = p = NodeParameters(self)
        world = p.declare('world_frame', None, "Frame of the world-space output (the slam node's world_frame). "
                          "Not set: 'world', prefixed by the node's namespace ('cam1/world').", value_type=str,
                          read_only=FRAMES_FIXED)
        self.config = FusionConfig(
            world_frame=world or namespaced_frame('world', self.get_namespace()),
            max_wait_ns=int(1e9 * p.declare('max_wait_s', 3.0, 'How long (stamp time) humans wait for their camera '
                                            'pose before being dropped (s).', min_value=0.0, max_value=10.0,
                                            read_only=BUILT_AT_START)),
            max_queue=p.declare('max_queue', 64, 'Bound of each pairing queue.', min_value=1, max_value=10000,
                                read_only=BUILT_AT_START),
            untracked_policy=p.declare('untracked_policy', 'use', 'People of images without a tracked camera '
                                       'pose: use (place them with the rotation-only or held pose), rotation_only '
                                       '(drop only held poses), drop (tracked poses only; a static camera then '
                                       'gives no world output).', choices=UNTRACKED_POLICIES,
                                       read_only=BUILT_AT_START))
        prefix = p.declare('person_frame_prefix', None, "TF frames of person <id> are '<prefix><id>/<joint>'. Not "
                           "set: 'human_', prefixed by the node's namespace ('cam1/human_').", value_type=str,
                           read_only=FRAMES_FIXED)
        self.person_prefix = prefix if prefix is not None else namespaced_frame('human_', self.get_namespace())
        p.declare('marker_lifetime_s', 0.5, 'Marker lifetime, so stale people vanish (s).', min_value=0.0,
                  max_value=60.0)
        p.declare('markers.skeleton', True, 'Also publish a LINE_LIST skeleton per person.')
        p.declare('markers.joints', False, 'Also publish joint spheres per person.')
        max_tri = p.declare('markers.max_triangles', 7000, 'Triangles of the decimated RViz mesh.', min_value=100,
                            max_value=100000, read_only='the display mesh is decimated once at start-up')
        p.declare('tf.joints', False, 'Broadcast every joint as a TF frame, not only the pelvis.')
        p.declare('world_humans.vertices', True, 'Include the full mesh in human/world_humans.')
        model = load_body_model(p.declare_config('body_model', BodyModelConfig()))
        self.display = display_mesh_for(model, max_tri)
        self.model_name = model.name
        self.joint_parents = np.asarray(model.joint_parents)
        self.joint_names = model.joint_names

        self.fusion = WorldFusion(self.config)
        self.mesh_pub = self.create_publisher(MarkerArray, 'human/world_mesh', 10)
        self.humans_pub = self.create_publisher(HumanMeshArray, 'human/world_humans', 10)
        self.tf = TfBroadcaster(self)
        self.diagnostics = Diagnostics(self, 'world fusion')
        self.subs = Subscriptions.with_parameters(self, p)
        humans_sub = self.subs.create(HumanMeshArray, 'human/camera_humans', self._on_humans, 10)
        pose_sub = self.subs.create(CameraPoseState, 'slam/camera_pose_state', self._on_pose, 10)
        # what a restarted publisher means here (/diagnostics; a restarted slam may resume its world: resume.file)
        self.restart_notes = {pose_sub.topic_name: 'a new SLAM: a new world frame unless it resumed the old one '
                                                    "(slam's resume.file and its diagnostics)",
                              humans_sub.topic_name: 'a new tracker: track ids start again'}
        self.pose_topic = pose_sub.topic_name
        # duplicate / late stamps refused, a clock jump back (bag loop) taken (core.common.input_checks)
        self.order = {'humans': StampOrder('camera humans'), 'pose': StampOrder('camera pose')}
        self.incidents = IncidentLog()
        self.published = 0
        self.latency_ms: list[float] = []
        self.bytes_published = 0
        self.create_timer(1.0, self._report)
        self.get_logger().info(f'fusing into frame {self.config.world_frame}; display mesh '
                               f'{self.display.num_triangles} triangles ({model.faces.shape[0]} in the model)')

    def _admit(self, stream: str, stamp) -> bool:
        v = self.order[stream].check(convert.stamp_to_ns(stamp))
        if v.kind and self.incidents.record(f'{stream}_{v.kind}', v.reason, time.monotonic()):
            self.get_logger().warning(f'{v.reason} [{stream}_{v.kind}: counted on /diagnostics, logged once per '
                                      f'{self.incidents.log_every_s:g} s]')
        return v.accept

    def _on_humans(self, msg: HumanMeshArray) -> None:
        if not self._admit('humans', msg.header.stamp):
            return
        try:
            humans = convert.msg_to_humans(msg)
        except convert.ConversionError as exc:
            if self.incidents.record('humans_invalid', str(exc), time.monotonic()):
                self.get_logger().error(str(exc))
            return
        wrong = {h.model for h in humans.humans} - {self.model_name}
        if wrong:
            self.get_logger().error(f'humans computed with body model {wrong}, but this node uses '
                                    f"'{self.model_name}': set the same body_model.type on every node")
            return
        self._publish(self.fusion.add_humans(humans))

    def _on_pose(self, msg: CameraPoseState) -> None:
        if not self._admit('pose', msg.header.stamp):
            return
        try:
            pose = convert.state_msg_to_camera_pose(msg)
        except convert.ConversionError as exc:
            self.get_logger().error(str(exc), throttle_duration_sec=5.0)
            return
        self._publish(self.fusion.add_pose(pose))

    def _publish(self, results: list[FusionResult]) -> None:
        for r in results:
            frame, stamp = r.world.frame_id, r.world.stamp_ns
            data = []
            for tid in r.ended_tracks:
                data += markers.delete_markers(tid, frame, stamp)
            for h in r.world.humans:
                data += markers.human_markers(h, self.display, self.joint_parents, frame, stamp,
                                              self.params['marker_lifetime_s'], self.params['markers.skeleton'],
                                              self.params['markers.joints'])
            payload = encode_marker_array(data)
            self.mesh_pub.publish(payload)
            quats = [root_orientation_xyzw(h) for h in r.world.humans]
            self.humans_pub.publish(convert.humans_to_msg(r.world, quats, self.params['world_humans.vertices']))
            self.tf.send([convert.transform_msg(r.world.stamp_ns, r.world.frame_id, child, t, q)
                          for child, t, q in human_tf_frames(r.world, self.joint_names, self.params['tf.joints'],
                                                             self.person_prefix)])
            self.published += 1
            self.bytes_published += len(payload)
            self.latency_ms.append((self.get_clock().now().nanoseconds - stamp) * 1e-6)
            self.latency_ms = self.latency_ms[-300:]

    def _report(self) -> None:
        s = self.fusion.stats
        lat = np.asarray(self.latency_ms) if self.latency_ms else np.zeros(1)
        lost = self.subs.lost
        stale, liveness = self.subs.health(self.restart_notes)
        new = self.incidents.pending()
        self.diagnostics.publish(WARN if s.dropped_left or lost or stale or new else OK,
                                 ('fusing' if self.published else 'waiting for camera humans and camera poses') +
                                 (f' ({lost} messages lost before this node)' if lost else '') +
                                 (f'; {stale}' if stale else '') + ''.join(f'; {n}' for n in new),
                                 {'frames_published': self.published, 'dropped_no_pose_in_time': s.dropped_left,
                                  **self.incidents.values(), 'clock_restarts': s.clock_restarts,
                                  'world_frame_restarts': liveness.get(f'restarts {self.pose_topic}', 0), **liveness,
                                  'dropped_not_tracking': self.fusion.no_pose, 'unused_poses': s.dropped_right,
                                  'untracked_policy': self.config.untracked_policy,
                                  **{f'fused_{k}': n for k, n in self.fusion.fused.items()},
                                  **{f'dropped_{k}': n for k, n in self.fusion.dropped.items()},
                                  'latency_ms_p50': float(np.percentile(lat, 50)),
                                  'latency_ms_p95': float(np.percentile(lat, 95)),
                                  'marker_bytes_total': self.bytes_published, **self.subs.loss_values()})


def main(args=None) -> int:
    return run_node(FusionNode, 'fusion', args)


if __name__ == '__main__':
    sys.exit(main())
