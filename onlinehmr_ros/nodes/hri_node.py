"""hri: the people of the pipeline as REP-155 (ros4hri) bodies, for HRI stacks (pyhri, hri_fullbody users).

Subscribes:  human/camera_humans (HumanMeshArray, camera optical frame): who is tracked, 2D outputs
             camera/camera_info  (image size and intrinsics for the 2D outputs; reliable, see ros/qos.py)
             human/world_humans  (HumanMeshArray, world frame): 3D outputs
Publishes (REP-155, https://ros.org/reps/rep-0155.html; body id = <id_prefix><track_id>, e.g. b3):
             /humans/bodies/tracked              hri_msgs/IdsList, one per processed image
             /humans/bodies/<id>/skeleton2d      hri_msgs/Skeleton2D (18 normalised points)
             /humans/bodies/<id>/roi             hri_msgs/NormalizedRegionOfInterest2D
             /humans/bodies/<id>/joint_states    sensor_msgs/JointState of ros4hri's human_description
                                                 model (names <joint>_<id>, hri_fullbody's order)
             /humans/bodies/<id>/urdf            std_msgs/String, the body's URDF (latched, as hri_fullbody)
             /tf                                 world -> body_<id> (tf.body_frame), and every link
                                                 <link>_<id> (tf.links: what robot_state_publisher would
                                                 send from joint_states + urdf; off by default)
             /diagnostics
Per-body topics are created when a person appears and removed body_timeout_s (stamp time) after
they were last seen. The mapping is in the core: core.fusion.hri (ids, 2D skeleton, ROI,
lifetimes) and core.body.human_description (body frame, joint values, URDF, FK).
"""
from __future__ import annotations

import sys

from hri_msgs.msg import IdsList
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo

from onlinehmr_ros.core.body import human_description as hd
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.fusion import hri
from onlinehmr_ros.msg import HumanMeshArray
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros import hri as rep155
from onlinehmr_ros.ros.diagnostics import OK, WARN, Diagnostics
from onlinehmr_ros.ros.params import BUILT_AT_START, NodeParameters
from onlinehmr_ros.ros.qos import IMAGE_SUBSCRIBER_QOS, LATCHED_QOS, Subscriptions
from onlinehmr_ros.ros.run import run_node
from onlinehmr_ros.ros.tf import TfBroadcaster


class HriNode(Node):
    def __init__(self, **kwargs):
        super().__init__('hri', **kwargs)
        self.params = p = NodeParameters(self)
        prefix = hri.check_id_prefix(p.declare(
            'id_prefix', 'b', 'Body ids are <id_prefix><track_id> (the track_id of human/world_humans); a letter '
            'first: ROS names may not start with a digit.', read_only='ids must not change while bodies are tracked'))
        timeout_s = p.declare('body_timeout_s', 1.0, 'Remove the topics of a body not seen for this long (stamp '
                              'time, s).', min_value=0.0, max_value=600.0, read_only=BUILT_AT_START)
        p.declare('hfov_deg', 60.0, 'Field of view for the 2D outputs when CameraInfo has no focal length '
                  "(degrees; use the hmr node's value).", min_value=1.0, max_value=179.0)
        p.declare('tf.body_frame', True, 'Broadcast <world> -> body_<id> (REP-155 body frame: between the hips, x '
                  'forward, z up).')
        p.declare('tf.links', False, 'Also broadcast every link of the body model (<link>_<id>), as '
                  'robot_state_publisher would from joint_states and urdf; leave off when one runs per body.')
        self.bodies = hri.Rep155Bodies(prefix, int(timeout_s * 1e9))
        self.tracked_pub = self.create_publisher(IdsList, rep155.TRACKED_TOPIC, 10)
        self.pubs: dict[str, dict] = {}           # body id -> sub-topic -> publisher
        self.tf = TfBroadcaster(self)
        self.diagnostics = Diagnostics(self, 'REP-155 bodies')
        self.camera_info: CameraInfo | None = None
        self.counts = {'images': 0, 'world_frames': 0, 'no_camera_info': 0, 'roi_from_skeleton': 0,
                       'skeleton_errors': 0, 'outside_joint_limits': 0}
        self.subs = Subscriptions(self)
        self.subs.create(CameraInfo, 'camera/camera_info', self._on_info, IMAGE_SUBSCRIBER_QOS, overridable=True)
        self.subs.create(HumanMeshArray, 'human/camera_humans', self._on_camera_humans, 10)
        self.subs.create(HumanMeshArray, 'human/world_humans', self._on_world_humans, 10)
        self.create_timer(1.0, self._report)

    def _on_info(self, msg: CameraInfo) -> None:
        self.camera_info = msg

    def _intrinsics(self) -> CameraIntrinsics | None:
        info = self.camera_info
        if info is None or not info.width or not info.height:
            return None
        try:
            return convert.camera_info_to_intrinsics(info)
        except convert.ConversionError:      # uncalibrated: the field of view the hmr node also assumes
            return CameraIntrinsics.from_fov(info.width, info.height, self.params['hfov_deg'])

    def _on_camera_humans(self, msg: HumanMeshArray) -> None:
        frame = convert.msg_to_humans(msg)
        intr = self._intrinsics()
        update, outputs = self.bodies.camera_frame(frame.humans, frame.stamp_ns, intr)
        for body in update.gone:
            for pub in self.pubs.pop(body, {}).values():
                self.destroy_publisher(pub)
        for body in update.new:
            self.pubs[body] = {sub: self.create_publisher(t, rep155.body_topic(body, sub),
                                                          LATCHED_QOS if sub == 'urdf' else 10)
                               for sub, t in rep155.BODY_TOPICS.items()}
        self.tracked_pub.publish(rep155.ids_list_msg(update.tracked, frame.stamp_ns, frame.frame_id))
        self.counts['images'] += 1
        self.counts['no_camera_info'] += intr is None
        for out in outputs:
            pubs = self.pubs[out.body]
            pubs['skeleton2d'].publish(rep155.skeleton2d_msg(out.skeleton, frame.stamp_ns, frame.frame_id))
            if out.roi is not None:
                self.counts['roi_from_skeleton'] += out.roi.source == 'skeleton'
                pubs['roi'].publish(rep155.roi_msg(out.roi, frame.stamp_ns, frame.frame_id))

    def _on_world_humans(self, msg: HumanMeshArray) -> None:
        frame = convert.msg_to_humans(msg)
        self.counts['world_frames'] += 1
        transforms = []
        for out in self.bodies.world_frame(frame.humans):
            if out.error:
                self.counts['skeleton_errors'] += 1
                self.get_logger().warning(f'{out.body}: {out.error}', throttle_duration_sec=5.0)
                continue
            pubs = self.pubs[out.body]
            if out.first:
                pubs['urdf'].publish(rep155.urdf_msg(hd.urdf_xml(out.body, out.dimensions)))
            self.counts['outside_joint_limits'] += out.outside_limits
            pubs['joint_states'].publish(rep155.joint_state_msg(out.body, out.angles, frame.stamp_ns, frame.frame_id))
            if self.params['tf.body_frame']:
                links = hd.parent_transforms(out.angles, out.dimensions) if self.params['tf.links'] else None
                transforms += rep155.body_transforms(out.body, out.T_frame_body, frame.frame_id, frame.stamp_ns, links)
        self.tf.send(transforms)

    def _report(self) -> None:
        c = self.counts
        problems = []
        if c['no_camera_info']:
            problems.append(f"{c['no_camera_info']} images without camera/camera_info: no skeleton2d/roi for them")
        if self.subs.lost:
            problems.append(f'{self.subs.lost} messages lost before this node')
        if c['roi_from_skeleton']:
            problems.append('roi bounds the skeleton, not the mesh (camera_humans.vertices is off on hmr)')
        if c['skeleton_errors']:
            problems.append(f"{c['skeleton_errors']} skeletons the body model could not be fitted to")
        level = WARN if problems else OK
        message = '; '.join(problems) or (f'{len(self.pubs)} bodies' if c['images'] else
                                          'waiting for camera humans')
        self.diagnostics.publish(level, message, {'bodies': len(self.pubs), **c, **self.subs.loss_values()})


def main(args=None) -> int:
    return run_node(HriNode, 'hri', args)


if __name__ == '__main__':
    sys.exit(main())
