"""Fake pipeline runs for the evaluation tests: ground truth of a sequence, perturbed as asked."""
from __future__ import annotations

import numpy as np

from onlinehmr_ros.core.common.geometry import (invert_transform, make_transform, project_points, quat_wxyz_from_rotmat,
                                         rotmat_from_axis_angle, transform_points)
from onlinehmr_ros.eval.evaluation import COCO_FROM_MEDIAPIPE
from onlinehmr_ros.eval.runs import RunRecord
from onlinehmr_ros.eval.tracking_metrics import VISIBLE_MIN_KEYPOINTS


def record_from_truth(seq, world_from_est=np.eye(4), slam_scale=2.0, reported_scale=2.0, depth_scale=1.0, delay=0,
                      swap_at=None, joint_noise=None, drift_deg_per_frame=0.0) -> RunRecord:
    """A run whose people are the ground truth (camera frame) perturbed as asked; camera exact up to
    ``world_from_est`` (estimate world -> true world), in SLAM units of 1/slam_scale m.

    A person is output in the frames where it is visible (as the evaluation defines it), with track id
    10 + index (swapped after ``swap_at``); the mediapipe detections are the true COCO keypoints
    (hip-centred, camera-aligned) and their pixels.
    ``joint_noise``: (confidence (P, F, 24), offsets (P, F, 24, 3)) added to the camera-frame joints.
    """
    n = seq.num_frames
    T_est = invert_transform(world_from_est)[None] @ seq.T_world_cam
    if drift_deg_per_frame:
        drift = rotmat_from_axis_angle(np.outer(np.arange(n) * np.radians(drift_deg_per_frame), [0, 0, 1.0]))
        T_est = make_transform(drift, np.zeros(3)) @ T_est
    T_cw = invert_transform(seq.T_world_cam)
    K = seq.intrinsics.K
    fields = {k: [] for k in ('frame', 'track', 'jc', 'jw', 'cc', 'cw', 'conf', 'df', 'px', 'vis', 'l3')}
    for i in range(n):
        src = max(0, i - delay)
        for b, p in enumerate(seq.people):
            if p.keypoints_coco_visible[i].sum() < VISIBLE_MIN_KEYPOINTS:
                continue
            cc = transform_points(T_cw[src], p.keypoints_coco_world[src].astype(float)) * depth_scale
            jc = transform_points(T_cw[src], p.joints_world[src].astype(float)) * depth_scale
            conf = np.ones(24)
            if joint_noise is not None:
                conf = joint_noise[0][b, i]
                jc = jc + joint_noise[1][b, i]
            tid = 10 + b if swap_at is None or i < swap_at else 11 - b
            fields['frame'].append(i)
            fields['track'].append(tid)
            fields['cc'].append(cc)
            fields['jc'].append(jc)
            fields['cw'].append(transform_points(T_est[i], cc))
            fields['jw'].append(transform_points(T_est[i], jc))
            fields['conf'].append(conf)
            # mediapipe: hip-centred metric landmarks (camera-aligned) and their pixels
            lm3 = np.repeat(cc[11:13].mean(0, keepdims=True), 33, axis=0)
            lm3[list(COCO_FROM_MEDIAPIPE)] = cc
            vis = np.zeros(33)
            vis[list(COCO_FROM_MEDIAPIPE)] = 1.0
            fields['df'].append(i)
            fields['px'].append(project_points(K, lm3)[0])
            fields['vis'].append(vis)
            fields['l3'].append(lm3 - cc[11:13].mean(0))
    a = {k: np.asarray(v) for k, v in fields.items()}
    return RunRecord(sequence=seq.name, quat_wxyz=quat_wxyz_from_rotmat(T_est[:, :3, :3]),
                     t_world_cam=T_est[:, :3, 3] / slam_scale, scale=np.full(n, reported_scale),
                     tracking=np.ones(n, bool), ms_total=np.full(n, 50.0), out_frame=a['frame'], out_track=a['track'],
                     joints_cam=a['jc'], joints_world=a['jw'], coco_cam=a['cc'], coco_world=a['cw'],
                     joint_confidence=a['conf'], det_frame=a['df'], det_landmarks_px=a['px'],
                     det_visibility=a['vis'], det_landmarks_3d_m=a['l3'])
