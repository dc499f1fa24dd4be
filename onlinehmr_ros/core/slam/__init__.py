"""Masked incremental monocular SLAM (Branch 2 of OnlineHMR), ROS-free.

Entry point for the slam node::

    from onlinehmr_ros.core.slam import SlamBranch, SlamBranchConfig
    branch = SlamBranch(SlamBranchConfig())
    out = branch.process(frame, soft_mask, camera_humans)   # -> SlamOutput (pose, map points, diagnostics)

Parts: :mod:`.features` (masked ORB / XFeat), :mod:`.odometry` (the incremental
monocular SLAM: camera odometry with a local map), :mod:`.optim` (pose refinement,
local BA), :mod:`.ground` (ground plane, gravity-aligned world), :mod:`.ema` (EMA
trajectory correction), :mod:`.scale` (metric scale), :mod:`.branch` (SLAM + world +
EMA + scale). The fast synthetic scene of the SLAM tests and benchmark is
:mod:`onlinehmr_ros.eval.synthetic.box_scene`.
"""
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig, SlamDiagnostics, SlamOutput
from onlinehmr_ros.core.slam.features import FeatureBackendError, FeatureConfig
from onlinehmr_ros.core.slam.ground import GroundConfig, GroundPlane
from onlinehmr_ros.core.slam.odometry import SlamConfig

__all__ = ['FeatureBackendError', 'FeatureConfig', 'GroundConfig', 'GroundPlane', 'SlamBranch', 'SlamBranchConfig',
           'SlamConfig', 'SlamDiagnostics', 'SlamOutput']
