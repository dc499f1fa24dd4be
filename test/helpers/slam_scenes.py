"""Sequences of the project's one synthetic generator for the SLAM tests, and their ground truth as
pipeline inputs (soft masks, camera-frame people)."""
from __future__ import annotations

import numpy as np

from onlinehmr_ros.core.common.datatypes import HumansFrame, HumanState
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig, compute_soft_mask

MASK_CFG = SoftMaskConfig()


def soft_mask(seq, i: int, cfg: SoftMaskConfig = MASK_CFG) -> np.ndarray:
    """(H, W) C_soft of frame i from the ground-truth person labels."""
    return compute_soft_mask((seq.masks[i] > 0).astype(np.float32), cfg)


def true_humans(seq, i: int, stamp_ns: int | None = None) -> HumansFrame:
    """The ground-truth people of frame i in the camera optical frame (metres): exact metric rulers.

    Joint confidence is 1 for joints that are visible (in the image, not hidden), 0 otherwise.
    """
    T_cam_world = np.linalg.inv(seq.T_world_cam[i])
    humans = []
    for k, p in enumerate(seq.people):
        vis = p.joints_visible[i]
        if vis.sum() < 6:
            continue
        j = p.joints_world[i] @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
        kp = p.keypoints_coco_world[i] @ T_cam_world[:3, :3].T + T_cam_world[:3, 3]
        humans.append(HumanState(k + 1, 'open', p.betas.astype(np.float32), np.zeros(3, np.float32),
                                 np.zeros(69, np.float32), j[0].astype(np.float32), j.astype(np.float32),
                                 vis.astype(np.float32), np.zeros((0, 3), np.float32), kp.astype(np.float32)))
    return HumansFrame(seq.stamp_ns(i) if stamp_ns is None else stamp_ns, 'camera', tuple(humans))


def frames(seq):
    """All frames of a sequence as a list (pipeline Frames)."""
    return list(seq.iter_frames())
