"""slam: human-centric incremental monocular SLAM (OnlineHMR Key Design 4).

Subscribes:  camera/image_raw, camera/camera_info (reliable, see ros/qos.py)
             human/soft_mask      (32FC1 C_soft, paired with the image by stamp)
             human/camera_humans  (HumanMeshArray of the same image, paired by stamp: the people
                                   are the metric ruler of the scale, used when they arrive with
                                   their image's pose; parameter wait_for_humans)
             /tf, /tf_static      what other nodes say about the camera frame (REP-105, below)
Publishes:   slam/camera_pose_state (CameraPoseState: the pose with its tracking state, scale and
                                   whether it converged, gravity; what fusion uses)
             slam/camera_pose (PoseStamped, world frame, position = s * t: the same pose for RViz)
             slam/path        (nav_msgs/Path of the published poses, bounded)
             slam/map         (PointCloud2, map points in metres, world frame)
             slam/scale       (std_msgs/Float64, metres per SLAM unit)
             /tf              hand-held camera: world_frame -> the image's frame_id; on a robot whose
                              TF already owns the camera frame: the correction world_frame (map) ->
                              odom_frame, so that map -> odom -> ... -> camera is the estimate
                              (tf.mode; core.common.tf_tree.plan_camera_tf decides)
             /diagnostics     pose state, inliers, keyframes, scale, gravity, focal estimate, TF plan,
                              messages lost, ms
With `pose_source: tf` the pose comes from the robot's own localisation instead and SLAM is not
started: each image's pose is world_frame -> the image's frame_id looked up in TF at the image's
stamp (core.common.tf_tree.TfCameraPoses: images wait up to tf_wait_s for late odometry, then get
a 'held' pose); the node publishes the same pose topics, no camera TF and no map.
With `resume.file` set the node saves its last pose about once a second and a restarted node
continues that world frame (core.slam.resume; same origin and heading, z up) when the state is
younger than resume.max_age_s; diagnostics say `world_resumed`.
Every output carries the stamp of its image. The algorithm is core.slam.branch.SlamBranch;
parameters are its config fields (slam.*, ema.*, scale.*, ground.*, gravity.*, rotation.*, world.*,
focal.*, see `ros2 param describe`); ema.enabled/alpha/lambda_clamp, publish_untracked_pose,
path_length, map_every_n_frames and hfov_deg can be changed at run time. Frame names default to
the node's namespace ('cam1/world').
"""
from __future__ import annotations

import sys
import time

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Float64

from onlinehmr_ros.core.common.datatypes import HumansFrame
from onlinehmr_ros.core.common.incidents import IncidentLog
from onlinehmr_ros.core.common.input_checks import check_soft_mask
from onlinehmr_ros.core.common.tf_tree import POSE_SOURCES, TF_MODES, TfCameraPoses, TfFrames, namespaced_frame
from onlinehmr_ros.core.fusion.sync import ImageJoin
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig
from onlinehmr_ros.core.slam.resume import load_resume_state, save_resume_state
from onlinehmr_ros.msg import CameraPoseState, HumanMeshArray
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.camera_input import CameraInput, subscribe_camera_image
from onlinehmr_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from onlinehmr_ros.ros.params import BUILT_AT_START, FRAMES_FIXED, NodeParameters
from onlinehmr_ros.ros.qos import IMAGE_SUBSCRIBER_QOS, Subscriptions
from onlinehmr_ros.ros.run import run_node
from onlinehmr_ros.ros.tf import CameraPoseTf, TfListener


class SlamNode(Node):
    def __init__(self, **kwargs):
        super().__init__('slam', **kwargs)
        self.params = p = NodeParameters(self)
        self.branch = None
        config = p.declare_config('', SlamBranchConfig(), live=('ema.enabled', 'ema.alpha', 'ema.lambda_clamp'),
                                  on_change=self._new_config)
        world = p.declare('world_frame', None, "World frame of the pose, path, map and TF (REP-103, z up once "
                          "gravity is known). 'map' on a robot (REP-105). Not set: 'world', prefixed by the node's "
                          "namespace ('cam1/world').", value_type=str, read_only=FRAMES_FIXED)
        tf_frames = TfFrames(
            world_frame=world or namespaced_frame('world', self.get_namespace()),
            odom_frame=p.declare('odom_frame', 'odom', "The robot's odometry frame (REP-105): on a robot the "
                                 'correction world_frame -> odom_frame is published.', read_only=FRAMES_FIXED),
            mode=p.declare('tf.mode', 'auto', 'Camera pose in TF: auto (world_to_odom when another node gives the '
                           "image's frame a parent, else world_to_camera), world_to_camera, world_to_odom, none.",
                           choices=TF_MODES, read_only=FRAMES_FIXED),
            detect_s=p.declare('tf.detect_s', 1.0, 'In tf.mode auto: seconds of listening to /tf and /tf_static '
                               'before the first camera transform.', min_value=0.0, max_value=60.0,
                               read_only=BUILT_AT_START))
        self.world_frame = tf_frames.world_frame
        self.pose_source = p.declare('pose_source', 'slam', "Where the camera pose comes from: 'slam' (this "
                                     "node's SLAM branch) or 'tf' (the robot's own localisation: world_frame -> "
                                     "the image's frame in TF at the image's stamp; SLAM is not started).",
                                     choices=POSE_SOURCES, read_only=BUILT_AT_START)
        tf_wait_s = p.declare('tf_wait_s', 0.5, "pose_source tf: how long (stamp time) an image waits for its "
                              "transform before it gets a 'held' pose (s).", min_value=0.0, max_value=10.0,
                              read_only=BUILT_AT_START)
        from_tf = self.pose_source == 'tf'
        self.use_mask = p.declare('use_soft_mask', True, 'Wait for human/soft_mask of each image (false: track on '
                                  'the whole image).', read_only=BUILT_AT_START) and not from_tf
        mask_wait_s = p.declare('mask_wait_s', 3.0, 'How long (stamp time) an image waits for its soft mask '
                                'before being skipped (s).', min_value=0.0, max_value=10.0, read_only=BUILT_AT_START)
        self.camera = CameraInput(self, 60.0)
        self.camera.hfov_deg = p.declare('hfov_deg', 60.0, 'Field of view assumed when no CameraInfo arrives '
                                         '(degrees; a warning says so once).', min_value=1.0, max_value=179.0,
                                         on_change=lambda v: setattr(self.camera, 'hfov_deg', v))
        self.wait_humans = p.declare('wait_for_humans', False, 'true: process each image together with the people of '
                                     'the same image (human/camera_humans, paired by stamp; images whose people do '
                                     'not come within mask_wait_s go on without them). false: process each image '
                                     'at once and use its people when they arrive, with that image\'s pose (the '
                                     'last world.late_people_frames poses are kept): a slow hmr stage then neither '
                                     'delays nor drops camera poses.', read_only=BUILT_AT_START) and not from_tf
        p.declare('publish_untracked_pose', True, 'Also publish poses that are not tracked (rotation-only before '
                  'the map / while lost, or held) on slam/camera_pose and TF; slam/camera_pose_state always '
                  'carries every pose with its state.')
        p.declare('path_length', 2000, 'Poses kept in slam/path.', min_value=1, max_value=10**6)
        p.declare('map_every_n_frames', 10, 'Publish slam/map every n frames.', min_value=1, max_value=10**6)
        self.resume_file = p.declare('resume.file', '', "Save this SLAM's last pose here about once a second; on "
                                     'start, continue the world frame saved there (a respawned slam keeps the '
                                     "robot's world: same origin and heading) if it is younger than "
                                     'resume.max_age_s. Empty: off (a restart starts a new world frame).',
                                     read_only=BUILT_AT_START)
        self.resume_max_age_s = p.declare('resume.max_age_s', 10.0, 'Oldest saved state that is resumed (s): the '
                                          'camera must not have moved far while no SLAM ran.', min_value=0.0,
                                          max_value=3600.0, read_only=BUILT_AT_START)
        self.branch = None if from_tf else SlamBranch(config)
        self.resume_note = 'off'
        if self.branch is not None and self.resume_file:
            state, self.resume_note = load_resume_state(self.resume_file, self.world_frame, time.time(),
                                                        self.resume_max_age_s)
            if state is not None:
                self.branch.resume(state)
            self.get_logger().info(self.resume_note)
        self.resume_error = ''
        self.state_pub = self.create_publisher(CameraPoseState, 'slam/camera_pose_state', 10)
        self.pose_pub = self.create_publisher(PoseStamped, 'slam/camera_pose', 10)
        self.path_pub = self.create_publisher(Path, 'slam/path', 10)
        self.map_pub = self.create_publisher(PointCloud2, 'slam/map', 10)
        self.scale_pub = self.create_publisher(Float64, 'slam/scale', 10)
        if from_tf:     # the robot owns the camera's TF: listen only
            self.camera_tf = None
            self.tf_listener = TfListener(self, on_update=self._poll_tf)
            self.tf_poses = TfCameraPoses(self.tf_listener.buffer, self.world_frame, int(tf_wait_s * 1e9))
        else:
            self.camera_tf = CameraPoseTf(self, tf_frames)
            self.tf_poses = None
        self.diagnostics = Diagnostics(self, 'slam')
        self.join: ImageJoin[Image, Image, HumansFrame] = ImageJoin(int(mask_wait_s * 1e9), 32, self.use_mask,
                                                                    self.wait_humans)
        self.path = Path()
        self.last = None
        self.incidents = IncidentLog()      # the solvers' fallbacks (SlamDiagnostics.incidents)
        self.stage_ms: dict[str, list[float]] = {'features': [], 'slam': [], 'total': []}
        self.subs = Subscriptions.with_parameters(self, p)
        subscribe_camera_image(p, self.subs, self._on_image)
        self.subs.create(CameraInfo, 'camera/camera_info', self.camera.on_info, IMAGE_SUBSCRIBER_QOS,
                         overridable=True)
        self.subs.create(Image, 'human/soft_mask', self._on_mask, IMAGE_SUBSCRIBER_QOS)
        self.subs.create(HumanMeshArray, 'human/camera_humans', self._on_humans, 10)
        self.create_timer(1.0, self._report)

    def _new_config(self, config: SlamBranchConfig) -> None:
        if self.branch is not None:                   # only the EMA settings are live
            self.branch.config = config
            self.branch.ema.config = config.ema

    # image (+ mask) (+ people of the same image) -> one SLAM step, in stamp order (core.fusion.sync.ImageJoin)
    def _on_image(self, msg: Image) -> None:
        stamp = convert.stamp_to_ns(msg.header.stamp)
        if self.camera.admit(stamp):              # duplicates and late images refused before the join
            self._run(self.join.add_image(stamp, msg))

    def _on_mask(self, msg: Image) -> None:
        self._run(self.join.add_mask(convert.stamp_to_ns(msg.header.stamp), msg))

    def _on_humans(self, msg: HumanMeshArray) -> None:
        if self.wait_humans:
            self._run(self.join.add_humans(convert.stamp_to_ns(msg.header.stamp), convert.msg_to_humans(msg)))
        elif self.branch is not None:             # late people: measured with their own image's pose
            self.branch.add_people(convert.msg_to_humans(msg))

    def _run(self, joined) -> None:
        for stamp, image, mask, humans in joined:
            if self.tf_poses is not None:
                self._publish_tf_poses(self.tf_poses.add_image(stamp, image.header.frame_id, image))
            else:
                self._process(image, mask, humans)

    def _poll_tf(self) -> None:
        if self.tf_poses is not None:
            self._publish_tf_poses(self.tf_poses.poll())

    def _publish_tf_poses(self, decided) -> None:
        for image, pose in decided:
            self._publish(pose, image.header.frame_id, 0.0, 0, None)

    def _process(self, image: Image, mask: Image | None, humans: HumansFrame | None) -> None:
        frame = self.camera.frame(image, check_order=False)
        if frame is None:
            return
        soft = None
        if mask is not None:
            try:
                soft, v = convert.image_to_array(mask), None
            except convert.ConversionError as exc:
                soft, v = None, check_soft_mask(None, frame.width_px, frame.height_px, str(exc))
            v = v or check_soft_mask(soft, frame.width_px, frame.height_px)
            if not v.accept:
                self.camera.report(v.kind, v.reason)
                soft = None
        out = self.branch.process(frame, soft, humans)
        self.last = d = out.diagnostics
        for kind, reason in d.incidents:
            self.incidents.record(kind, reason)
        for k, v in (('features', d.ms_features), ('slam', d.ms_slam), ('total', d.ms_total)):
            self.stage_ms[k].append(v)
            del self.stage_ms[k][:-300]
        self._publish(out.pose, image.header.frame_id, d.gravity_sigma_deg, d.segment, out.map_points_world_m)

    def _publish(self, pose, camera_frame: str, gravity_sigma_deg: float, segment: int, map_points_m) -> None:
        self.state_pub.publish(convert.camera_pose_to_state_msg(pose, self.world_frame, camera_frame,
                                                                gravity_sigma_deg, segment))
        if not pose.tracking and not self.params['publish_untracked_pose']:
            return
        ps, _ = convert.camera_pose_to_msgs(pose, self.world_frame, camera_frame)
        self.pose_pub.publish(ps)
        if self.camera_tf is not None:
            self.camera_tf.send(pose.stamp_ns, pose.T_world_cam_m, camera_frame)
        self.scale_pub.publish(Float64(data=float(pose.scale)))
        self.path.header = ps.header
        self.path.poses = (self.path.poses + [ps])[-self.params['path_length']:]
        self.path_pub.publish(self.path)
        if (map_points_m is not None and self.camera.frames % self.params['map_every_n_frames'] == 0
                and len(map_points_m)):
            self.map_pub.publish(convert.points_to_cloud(map_points_m, pose.stamp_ns, self.world_frame))

    def _report(self) -> None:
        if self.tf_poses is not None:
            t = self.tf_poses
            level = OK if t.looked_up and not t.given_up else WARN
            self.diagnostics.publish(level, f'pose from TF ({self.world_frame} -> camera): {t.looked_up} images, '
                                     f'{t.given_up} without a transform in time' +
                                     (f' (last: {t.last_problem})' if t.given_up else ''), {
                'pose_source': 'tf', 'poses_from_tf': t.looked_up, 'images_without_transform': t.given_up,
                'images_waiting': t.pending, 'tf_bad_transforms': self.tf_listener.bad_transforms,
                **self.subs.loss_values()})
            return
        self._save_resume_state()
        d = self.last
        stale, liveness = self.subs.health()
        if d is None:
            self.diagnostics.publish(WARN, 'waiting for images' + (' and soft masks' if self.use_mask else '') +
                                     ''.join(f'; {n}' for n in self.camera.incidents.pending()),
                                     {'rejected_images': self.camera.rejected, **self.camera.incidents.values(),
                                      'images_without_mask': self.join.images_without_mask, **self.subs.loss_values()})
            return
        tf_problem = self.camera_tf.plan is not None and self.camera_tf.plan.problem
        level = OK if d.tracking else (ERROR if d.state == 'held' else WARN)
        new = self.incidents.pending() + self.camera.incidents.pending()
        if level == OK and (tf_problem or self.subs.lost or stale or self.resume_error or new):
            level = WARN
        self.diagnostics.publish(level, d.status + ('; resume state not saved' if self.resume_error else '') +
                                 ''.join(f'; {n}' for n in new) +
                                 (f'; {self.subs.lost} messages lost before this node' if self.subs.lost else '') +
                                 ('; camera not in TF' if tf_problem else '') + (f'; {stale}' if stale else ''), {
            'state': d.state, 'slam_state': d.slam_state, 'frames': self.camera.frames, 'features': d.n_features,
            'inliers': d.n_inliers, 'rotation_inliers': d.rotation_inliers, 'keyframes': d.n_keyframes,
            'map_points': d.n_map_points, 'segment': d.segment, 'gravity_aligned': d.gravity_aligned,
            'gravity_sigma_deg': d.gravity_sigma_deg,
            **{f'gravity_weight_{k}': v for k, v in d.gravity_weights.items()}, 'scale': d.scale,
            'scale_converged': d.scale_converged, 'scale_source': d.scale_source, 'focal_px_estimate': d.focal_px,
            'focal_converged': d.focal_converged, 'focal_pairs': d.focal_pairs, 'ms_total': d.ms_total,
            'intrinsics': self.camera.source, 'images_without_mask': self.join.images_without_mask,
            'world_resumed': self.branch.resumed, 'resume': self.resume_error or self.resume_note,
            'images_without_humans': self.join.images_without_humans, 'rejected_images': self.camera.rejected,
            **{f'late_people_{k}': v for k, v in self.branch.late_people.items()},
            **self.incidents.values(), **self.camera.incidents.values(), **self.camera_tf.diagnostics_values(),
            **self.subs.loss_values(), **liveness})


    def _save_resume_state(self) -> None:
        """resume.file: the last pose, for a successor (core.slam.resume); an unwritable file is said once."""
        if not self.resume_file or self.branch is None:
            return
        state = self.branch.resume_state(self.world_frame, time.time())
        if state is None:
            return
        try:
            save_resume_state(self.resume_file, state)
            self.resume_error = ''
        except InputError as exc:
            if not self.resume_error:
                self.get_logger().error(str(exc))
            self.resume_error = str(exc)


def main(args=None) -> int:
    return run_node(SlamNode, 'slam', args)


if __name__ == '__main__':
    sys.exit(main())
