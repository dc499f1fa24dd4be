"""The whole OnlineHMR pipeline in one process (offline CLI, evaluation, benchmarks, tests).

Per image, strictly causal, constant work per frame::

    frame ──► mask stage (C_h, C_soft) ──► SLAM branch (pose q, t, scale s) ──┐
       └────► camera-space HMR (people M_c per track) ───────────────────────┴─► fusion: M_w = R(q) M_c + s t

The ROS nodes call the same stage classes (``nodes/mask_node.py`` ->
``HumanMaskStage``, ``hmr_node`` -> ``CameraHMR``, ``slam_node`` ->
``SlamBranch``, ``fusion_node`` -> ``WorldFusion``); here they are chained
directly, so the HMR result of an image is available to the SLAM branch's
scale estimate for the same image (the nodes use the latest one received).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from onlinehmr_ros.core.common.datatypes import CameraPose, Frame, HumansFrame
from onlinehmr_ros.core.common.threads import limit_blas_threads
from onlinehmr_ros.core.fusion.world import FusionConfig, WorldFusion
from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig
from onlinehmr_ros.core.mask.segmentation import HumanMaskStage, SegmentationConfig
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig, SlamDiagnostics


@dataclass(frozen=True)
class PipelineConfig:
    """Every stage's settings (see each config's documentation); the body model is ``hmr.body_model``."""

    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    soft_mask: SoftMaskConfig = field(default_factory=SoftMaskConfig)
    hmr: HMRConfig = field(default_factory=HMRConfig)
    slam: SlamBranchConfig = field(default_factory=SlamBranchConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)


@dataclass(frozen=True)
class PipelineOutput:
    """Everything computed from one image."""

    stamp_ns: int
    camera_humans: HumansFrame            # camera optical frame
    camera_pose: CameraPose               # SLAM pose of this image (q, t, s)
    world_humans: HumansFrame             # world frame (empty if the pose could not be used)
    soft_mask: np.ndarray                 # (H, W) float32 C_soft
    map_points_world_m: np.ndarray        # (N, 3) SLAM map in metres, world frame
    slam: SlamDiagnostics
    ended_tracks: tuple[int, ...]
    timings_ms: dict[str, float]


class Pipeline:
    """Chains the stages; ``process(frame)`` once per image, in order."""

    def __init__(self, config: PipelineConfig = PipelineConfig()):
        self.config = config
        self.threads_note = limit_blas_threads()        # process-wide, as a node's main does (core.common.threads)
        self.mask = HumanMaskStage(config.segmentation, config.soft_mask)
        self.hmr = CameraHMR(config.hmr)
        self.slam = SlamBranch(config.slam)
        self.fusion = WorldFusion(config.fusion)

    @property
    def body_model(self):
        return self.hmr.body_model

    def process(self, frame: Frame) -> PipelineOutput:
        t0 = time.perf_counter()
        mask = self.mask.process(frame)
        t1 = time.perf_counter()
        hmr = self.hmr.process(frame)
        t2 = time.perf_counter()
        slam = self.slam.process(frame, mask.soft_mask, hmr.humans)
        t3 = time.perf_counter()
        self.fusion.add_humans(hmr.humans)
        results = self.fusion.add_pose(slam.pose)
        t4 = time.perf_counter()
        if results:
            world, ended = results[-1].world, results[-1].ended_tracks
        else:
            world, ended = HumansFrame(frame.stamp_ns, self.config.fusion.world_frame, ()), ()
        timings = {'mask': 1e3 * (t1 - t0), 'hmr': 1e3 * (t2 - t1), 'slam': 1e3 * (t3 - t2),
                   'fusion': 1e3 * (t4 - t3), 'total': 1e3 * (t4 - t0)}
        timings.update({f'hmr/{k}': v for k, v in hmr.timings_ms.items()})
        return PipelineOutput(frame.stamp_ns, hmr.humans, slam.pose, world, mask.soft_mask,
                              slam.map_points_world_m, slam.diagnostics, ended, timings)

    def close(self) -> None:
        self.mask.close()
        self.hmr.close()
