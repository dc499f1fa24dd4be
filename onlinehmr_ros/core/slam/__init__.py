"""Masked incremental monocular SLAM (Branch 2 of OnlineHMR), ROS-free.

Entry point for the slam node::

    from onlinehmr_ros.core.slam import SlamBranch, SlamBranchConfig
    branch = SlamBranch(SlamBranchConfig())
    out = branch.process(frame, soft_mask, camera_humans)   # -> SlamOutput (pose, map points, diagnostics)

Parts: :mod:`.features` (masked ORB / XFeat), :mod:`.tracker` (the incremental
SLAM), :mod:`.optim` (pose refinement, local BA), :mod:`.ground` (ground plane,
gravity-aligned world), :mod:`.branch` (SLAM + world + EMA + scale),
:mod:`.box_scene` (a fast synthetic scene for tests and the benchmark).
"""
from onlinehmr_ros.core.slam.branch import SlamBranch, SlamBranchConfig, SlamDiagnostics, SlamOutput
from onlinehmr_ros.core.slam.features import FeatureBackendError, FeatureConfig
from onlinehmr_ros.core.slam.ground import GroundConfig, GroundPlane
from onlinehmr_ros.core.slam.odometry import SlamConfig

__all__ = ['FeatureBackendError', 'FeatureConfig', 'GroundConfig', 'GroundPlane', 'SlamBranch', 'SlamBranchConfig',
           'SlamConfig', 'SlamDiagnostics', 'SlamOutput']
