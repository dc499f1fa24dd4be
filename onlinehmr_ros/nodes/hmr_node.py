"""hmr: camera-space body meshes of every person, causally (OnlineHMR branch 1).

Subscribes:  camera/image_raw (mono8, bgr8, rgb8, rgba8, bgra8), camera/camera_info (reliable, see ros/qos.py)
Publishes:   human/camera_humans (HumanMeshArray in the image's optical frame, stamp of the image;
                                  an empty array when nobody is seen)
             human/body_model    (BodyModelInfo: faces, joint names and parents; latched)
             human/debug_image   (rgb8 overlay of the fitted meshes, while publish_debug_image and subscribed)
             /diagnostics        per-stage ms, people tracked, images lost before this node; with estimator
                                 learned: the tracks / person-frames the domain gate estimated by fitting
The algorithm is core.hmr.camera_hmr.CameraHMR (perception -> tracking -> causal fitting);
its settings are parameters (max_people, small_people, perception.*, appearance.*, tracker.*,
fitter.*, body_model.*; `ros2 param describe /hmr <name>`). Tracks that end (unseen for
tracker.track_timeout_s) are listed in the message's ended_track_ids.
"""
from __future__ import annotations

import sys
import threading

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from onlinehmr_ros.core.common.datatypes import HumansFrame
from onlinehmr_ros.core.common.incidents import IncidentLog
from onlinehmr_ros.core.fusion.world import root_orientation_xyzw
from onlinehmr_ros.core.hmr.camera_hmr import DEFAULT_HFOV_DEG, CameraHMR, HMRConfig
from onlinehmr_ros.core.hmr.staged import StagedHMR
from onlinehmr_ros.core.io.visualize import overlay_humans
from onlinehmr_ros.msg import BodyModelInfo, HumanMeshArray
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.camera_input import CameraInput, subscribe_camera_image
from onlinehmr_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from onlinehmr_ros.ros.params import NodeParameters
from onlinehmr_ros.ros.qos import (IMAGE_PUBLISHER_QOS, IMAGE_SUBSCRIBER_QOS, LATCHED_QOS, NEWEST_IMAGE_QUEUE_DEPTH,
                                   Subscriptions, reliable_keep_last)
from onlinehmr_ros.ros.run import run_node


class HmrNode(Node):
    def __init__(self, **kwargs):
        super().__init__('hmr', **kwargs)
        self.params = p = NodeParameters(self)
        config = p.declare_config('', HMRConfig())
        self.camera = CameraInput(self, DEFAULT_HFOV_DEG)
        self.camera.hfov_deg = p.declare(
            'hfov_deg', DEFAULT_HFOV_DEG, 'Horizontal field of view (degrees) assumed while no CameraInfo has '
            'arrived; depth scales with the focal length.', min_value=1.0, max_value=179.0,
            on_change=lambda v: setattr(self.camera, 'hfov_deg', v))
        p.declare('publish_debug_image', True, 'Publish the fitted meshes drawn over the image on '
                  'human/debug_image (rendered only while someone subscribes).')
        p.declare('camera_humans.vertices', True, 'Include the full mesh in human/camera_humans (fusion needs it '
                  'for the world mesh).')
        self.hmr = CameraHMR(config)
        m = self.hmr.body_model
        self.humans_pub = self.create_publisher(HumanMeshArray, 'human/camera_humans', 10)
        self.model_pub = self.create_publisher(BodyModelInfo, 'human/body_model', LATCHED_QOS)
        self.model_pub.publish(convert.body_model_info_msg(m.name, m.faces, m.num_vertices, m.joint_names,
                                                           m.joint_parents))
        self.debug_pub = self.create_publisher(Image, 'human/debug_image', IMAGE_PUBLISHER_QOS)
        self.diagnostics = Diagnostics(self, 'camera-space HMR')
        self.people = 0
        self.lost = 0
        self.perception: dict = {}
        self.incidents = IncidentLog()      # fitting fallbacks and failures (core.hmr.camera_hmr.HMROutput)
        self.gated = self.hmr.gate is not None   # estimator learned: the domain gate's fallback to fitting
        self.fallback_tracks = 0            # tracks on fitting in the last image
        self.fallback_person_frames = 0     # person-frames on fitting since the start
        self.learned_person_frames = 0      # person-frames the domain gate decided since the start
        self.stage_ms: dict[str, list[float]] = {}
        self.subs = Subscriptions.with_parameters(self, p)
        depth = p.declare('image_queue_depth', NEWEST_IMAGE_QUEUE_DEPTH, 'Images queued for this node (keep last '
                          'N): 1 takes the newest image and skips stale ones when the node falls behind a live '
                          'camera (skipped images count as lost in /diagnostics); a lockstep replay needs more '
                          '(the launch file and onlinehmr_pipeline set 5 with rate_mode lockstep).',
                          min_value=1, max_value=100, read_only='the subscription is made at start-up')
        self.staged = None
        self._lock = threading.Lock()           # the output's counters: written by the estimation thread if staged
        if p.declare('staged', False, 'Perceive each image while the previous one is estimated, in two threads '
                     '(core.hmr.staged.StagedHMR): more images per second where a second core is free, the same '
                     'results; images the stages cannot keep up with are dropped oldest first (image_queue_depth '
                     'wait before each stage) and counted as images_dropped_by_stages in /diagnostics.',
                     read_only='the stages are started at start-up'):
            self.staged = StagedHMR(self.hmr, self._publish, self._on_stage_error, depth=depth)
        subscribe_camera_image(p, self.subs, self._on_image, qos=reliable_keep_last(depth))
        self.subs.create(CameraInfo, 'camera/camera_info', self.camera.on_info, IMAGE_SUBSCRIBER_QOS,
                         overridable=True)
        self.create_timer(1.0, self._report)
        self.get_logger().info(f'body model {m.name} ({m.num_vertices} vertices), up to {config.max_people} '
                               f'people, small-people tiles {config.small_people}, tracks end after '
                               f'{config.tracker.track_timeout_s:g} s unseen')

    def _on_image(self, msg: Image) -> None:
        frame = self.camera.frame(msg)
        if frame is None:
            return
        if self.staged is None:
            return self._publish(frame, self.hmr.process(frame), msg.header.frame_id)
        self.staged.submit(frame, msg.header.frame_id)

    def _on_stage_error(self, stamp_ns: int, exc: Exception) -> None:
        self.get_logger().error(f'image stamped {stamp_ns} ns: {type(exc).__name__}: {exc}')
        with self._lock:
            self.incidents.record('stage_error', f'{type(exc).__name__}: {exc}')

    def _publish(self, frame, out, frame_id: str) -> None:
        """Publish one image's people (and the debug image) and update the counters of /diagnostics."""
        rgb, intr = frame.image_rgb, frame.intrinsics
        humans = HumansFrame(frame.stamp_ns, frame_id, out.humans.humans, out.humans.ended_track_ids)
        self.humans_pub.publish(convert.humans_to_msg(humans, [root_orientation_xyzw(p) for p in humans.humans],
                                                      self.params['camera_humans.vertices']))
        if self.params['publish_debug_image'] and self.debug_pub.get_subscription_count() > 0:   # costs ms
            overlay = overlay_humans(rgb, humans, intr, self.hmr.body_model.faces)
            self.debug_pub.publish(convert.array_to_image(overlay, 'rgb8', frame.stamp_ns, frame_id))
        with self._lock:
            for kind, reason in out.incidents:
                self.incidents.record(kind, reason)
            self.people = len(humans.humans)
            self.lost = len(out.lost_track_ids)
            self.perception = out.perception_stats
            self.fallback_tracks = len(out.fallback_tracks)
            self.fallback_person_frames += self.fallback_tracks
            self.learned_person_frames += len(out.gate)
            for k, v in out.timings_ms.items():
                self.stage_ms.setdefault(k, []).append(v)
                del self.stage_ms[k][:-300]

    def destroy_node(self):
        if self.staged is not None:
            self.staged.close()
        return super().destroy_node()

    def _report(self) -> None:
        with self._lock:
            self._report_locked()

    def _report_locked(self) -> None:
        cam = self.camera
        if not cam.frames:
            self.diagnostics.publish(ERROR if cam.rejected else WARN, 'waiting for images' +
                                     ''.join(f'; {n}' for n in cam.incidents.pending()),
                                     {'rejected_images': cam.rejected, **cam.incidents.values()})
            return
        stale, liveness = self.subs.health()
        values = {'frames': cam.frames, 'people_tracked': self.people, 'people_lost_kept': self.lost,
                  'rejected_images': cam.rejected, 'intrinsics': cam.source, **self.incidents.values(),
                  **cam.incidents.values(), **self.subs.loss_values(), **liveness}
        values.update({f'perception_{k}': v for k, v in self.perception.items()})
        values['estimator'] = self.hmr.config.estimator
        if self.staged is not None:
            values['images_dropped_by_stages'] = self.staged.dropped
        if self.gated:
            values.update({'learned_fallback_tracks': self.fallback_tracks,
                           'learned_fallback_person_frames': self.fallback_person_frames,
                           'learned_gated_person_frames': self.learned_person_frames})
        values.update({f'ms_{k}_p50': float(np.median(v)) for k, v in self.stage_ms.items()})
        lost = self.subs.lost
        new = self.incidents.pending() + cam.incidents.pending()
        fallback = (f'; {self.fallback_tracks} of them estimated by fitting (out of the learned model\'s domain)'
                    if self.fallback_tracks else '')
        self.diagnostics.publish(WARN if lost or stale or new else OK, f'{self.people} people{fallback}' +
                                 (f' ({lost} messages lost before this node)' if lost else '') +
                                 (f'; {stale}' if stale else '') + ''.join(f'; {n}' for n in new), values)


def main(args=None) -> int:
    return run_node(HmrNode, 'hmr', args)


if __name__ == '__main__':
    sys.exit(main())
