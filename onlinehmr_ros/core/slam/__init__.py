"""Masked incremental monocular SLAM (Branch 2 of OnlineHMR), ROS-free.

Entry point for the slam node::

    from onlinehmr_ros.core.slam import SlamBranch, SlamBranchConfig
    branch = SlamBranch(SlamBranchConfig())
    out = branch.process(frame, soft_mask, camera_humans)   # -> SlamOutput (pose, map points, diagnostics)

Parts: :mod:`.features` (masked ORB / XFeat), :mod:`.odometry` (the incremental
monocular SLAM: camera odometry with a local map), :mod:`.optim` (pose refinement,
local BA), :mod:`.rotation` (rotation-only tracking before a map / while lost),
:mod:`.world_frame` (one continuous frame: maps anchored at the current pose),
:mod:`.gravity` (up from vertical lines, the floor, people, a level prior),
:mod:`.ground` (the floor, the gravity-aligned world without jumps), :mod:`.scale`
(metric scale from people, camera height, a depth model), :mod:`.focal`
(focal-length self-calibration), :mod:`.ema` (EMA trajectory correction),
:mod:`.branch` (all of it per frame). Tests and benchmark run on the project's one
synthetic generator, :mod:`onlinehmr_ros.eval.synthetic`.
"""
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig, SlamDiagnostics, SlamOutput, WorldConfig
from onlinehmr_ros.core.slam.features import FeatureBackendError, FeatureConfig
from onlinehmr_ros.core.slam.gravity import GravityConfig
from onlinehmr_ros.core.slam.ground import GroundConfig, GroundPlane
from onlinehmr_ros.core.slam.odometry import SlamConfig

__all__ = ['FeatureBackendError', 'FeatureConfig', 'GravityConfig', 'GroundConfig', 'GroundPlane', 'SlamBranch',
           'SlamBranchConfig', 'SlamConfig', 'SlamDiagnostics', 'SlamOutput', 'WorldConfig']
