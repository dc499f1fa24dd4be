"""slam: human-centric incremental monocular SLAM (OnlineHMR Key Design 4).

Subscribes:  /camera/image_raw, /camera/camera_info (sensor-data QoS)
             /human/soft_mask      (32FC1 C_soft, paired with the image by stamp)
             /human/camera_humans  (HumanMeshArray of the same image, paired by stamp: the people
                                    are the metric ruler of the scale; parameter wait_for_humans)
Publishes:   /slam/camera_pose (PoseStamped, world frame, metric: position = s * t)
             /slam/path        (nav_msgs/Path of the published poses, bounded)
             /slam/map         (PointCloud2, map points in metres, world frame)
             /slam/scale       (std_msgs/Float64, metres per SLAM unit)
             /tf               world -> camera optical frame (the image's frame_id)
             /diagnostics      tracking state, inliers, keyframes, scale, ms
Every output carries the stamp of its image. The algorithm is core.slam.branch.SlamBranch;
parameters are its config fields (slam.*, ema.*, scale.*, ground.*, see `ros2 param describe`).
"""
from __future__ import annotations

import sys

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Float64

from onlinehmr_ros.core.common.datatypes import HumansFrame
from onlinehmr_ros.core.fusion.sync import ImageJoin
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig
from onlinehmr_ros.msg import HumanMeshArray
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.camera_input import CameraInput, subscribe_camera_image
from onlinehmr_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from onlinehmr_ros.ros.params import declare, declare_config
from onlinehmr_ros.ros.run import run_node
from onlinehmr_ros.ros.tf import TfBroadcaster


class SlamNode(Node):
    def __init__(self, **kwargs):
        super().__init__('slam', **kwargs)
        config = declare_config(self, '', SlamBranchConfig())
        self.world_frame = declare(self, 'world_frame', 'world', 'World frame id (REP-103, z up once gravity '
                                   'is known).', read_only=True)
        self.use_mask = declare(self, 'use_soft_mask', True, 'Wait for /human/soft_mask of each image (false: '
                                'track on the whole image).', read_only=True)
        self.mask_wait_s = declare(self, 'mask_wait_s', 1.0, 'How long (stamp time) an image waits for its soft '
                                   'mask before being skipped (s).', min_value=0.0, max_value=10.0)
        self.hfov_deg = declare(self, 'hfov_deg', 60.0, 'Field of view assumed when no CameraInfo arrives '
                                '(degrees).', min_value=1.0, max_value=179.0)
        self.wait_humans = declare(self, 'wait_for_humans', config.scale.method == 'human', 'Process each image '
                                   'with the people of the same image (/human/camera_humans, paired by stamp) so '
                                   'that they measure the scale; images whose people do not come within '
                                   'mask_wait_s go on without them.', read_only=True)
        self.hold_untracked = declare(self, 'publish_untracked_pose', True, 'Publish the start pose before '
                                      'initialisation and the last pose while lost (so people stay in the world '
                                      'frame); the diagnostics say when a pose is held.')
        self.path_length = declare(self, 'path_length', 2000, 'Poses kept in /slam/path.', min_value=1,
                                   max_value=10**6)
        self.map_every = declare(self, 'map_every_n_frames', 10, 'Publish /slam/map every n frames.',
                                 min_value=1, max_value=10**6)
        self.branch = SlamBranch(config)
        self.pose_pub = self.create_publisher(PoseStamped, '/slam/camera_pose', 10)
        self.path_pub = self.create_publisher(Path, '/slam/path', 10)
        self.map_pub = self.create_publisher(PointCloud2, '/slam/map', 10)
        self.scale_pub = self.create_publisher(Float64, '/slam/scale', 10)
        self.tf = TfBroadcaster(self)
        self.diagnostics = Diagnostics(self, 'slam')
        self.join: ImageJoin[Image, Image, HumansFrame] = ImageJoin(int(self.mask_wait_s * 1e9), 32, self.use_mask,
                                                                    self.wait_humans)
        self.camera = CameraInput(self, self.hfov_deg)
        self.path = Path()
        self.last = None
        self.stage_ms: dict[str, list[float]] = {'features': [], 'slam': [], 'total': []}
        subscribe_camera_image(self, self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, '/camera/camera_info', self.camera.on_info, qos_profile_sensor_data)
        self.create_subscription(Image, '/human/soft_mask', self._on_mask, qos_profile_sensor_data)
        self.create_subscription(HumanMeshArray, '/human/camera_humans', self._on_humans, 10)
        self.create_timer(1.0, self._report)

    # image (+ mask) (+ people of the same image) -> one SLAM step, in stamp order (core.fusion.sync.ImageJoin)
    def _on_image(self, msg: Image) -> None:
        self._run(self.join.add_image(convert.stamp_to_ns(msg.header.stamp), msg))

    def _on_mask(self, msg: Image) -> None:
        self._run(self.join.add_mask(convert.stamp_to_ns(msg.header.stamp), msg))

    def _on_humans(self, msg: HumanMeshArray) -> None:
        if self.wait_humans:
            self._run(self.join.add_humans(convert.stamp_to_ns(msg.header.stamp), convert.msg_to_humans(msg)))

    def _run(self, joined) -> None:
        for _, image, mask, humans in joined:
            self._process(image, mask, humans)

    def _process(self, image: Image, mask: Image | None, humans: HumansFrame | None) -> None:
        frame = self.camera.frame(image)
        if frame is None:
            return
        soft = None if mask is None else convert.image_to_array(mask)
        out = self.branch.process(frame, soft, humans)
        self.last = d = out.diagnostics
        for k, v in (('features', d.ms_features), ('slam', d.ms_slam), ('total', d.ms_total)):
            self.stage_ms[k].append(v)
            del self.stage_ms[k][:-300]
        if not out.pose.tracking and not self.hold_untracked:
            return
        ps, tf = convert.camera_pose_to_msgs(out.pose, self.world_frame, image.header.frame_id)
        self.pose_pub.publish(ps)
        self.tf.send(tf)
        self.scale_pub.publish(Float64(data=float(out.pose.scale)))
        self.path.header = ps.header
        self.path.poses = (self.path.poses + [ps])[-self.path_length:]
        self.path_pub.publish(self.path)
        if self.camera.frames % self.map_every == 0 and len(out.map_points_world):
            self.map_pub.publish(convert.points_to_cloud(out.map_points_world_m, frame.stamp_ns, self.world_frame))

    def _report(self) -> None:
        d = self.last
        if d is None:
            self.diagnostics.publish(WARN, 'waiting for /camera/image_raw' + (' and /human/soft_mask'
                                     if self.use_mask else ''), {'rejected_images': self.camera.rejected,
                                                                 'images_without_mask': self.join.images_without_mask})
            return
        level = OK if d.tracking else (ERROR if d.state == 'lost' else WARN)
        self.diagnostics.publish(level, d.status + ('' if d.tracking else ' (pose held)'), {
            'state': d.state, 'frames': self.camera.frames, 'features': d.n_features, 'inliers': d.n_inliers,
            'keyframes': d.n_keyframes, 'map_points': d.n_map_points, 'segment': d.segment,
            'world_continuous': d.world_continuous, 'gravity_aligned': d.gravity_aligned, 'scale': d.scale,
            'scale_converged': d.scale_converged, 'scale_source': d.scale_source, 'ms_total': d.ms_total,
            'images_without_mask': self.join.images_without_mask,
            'images_without_humans': self.join.images_without_humans, 'rejected_images': self.camera.rejected})


def main(args=None) -> int:
    return run_node(SlamNode, 'slam', args)


if __name__ == '__main__':
    sys.exit(main())
