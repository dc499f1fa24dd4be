"""Names, orders and trees of the skeletons and landmark sets the project uses (a leaf: numpy only).

* SMPL-24 joints (every body model's joints are returned in this order);
* the 33 mediapipe (BlazePose) pose landmarks of the perception backend;
* COCO-17 keypoints plus the 6 COCO-WholeBody foot points;
* the SMPL-X -> SMPL-24 joint map.

SMPL-X mapping to SMPL-24 (documented choice, :data:`SMPLX_TO_SMPL24`):
    SMPL-X joints 0-21 are the SMPL body joints 0-21 with the same names and
    kinematic tree. SMPL's hand joints 22/23 (``left_hand``/``right_hand``)
    have no SMPL-X counterpart; they are taken as SMPL-X's ``left_middle1`` /
    ``right_middle1`` (the base of the middle finger, joints 28/43), which lie
    on the same wrist-to-knuckle axis as SMPL's hand joints. SMPL-X's jaw, eyes
    and fingers stay at zero rotation (flat hands, closed mouth); the rotations
    given for SMPL joints 22/23 (the last 6 values of ``body_pose``) are not
    used for SMPL-X, since SMPL-X articulates the fingers instead of one hand
    joint. For ``lbs_weights`` (V, 24) the SMPL-X jaw/eye weights are merged
    into ``head`` and the finger weights into ``left_hand``/``right_hand``.
"""
from __future__ import annotations

import numpy as np

#: SMPL's 24 joints, in SMPL order (Loper et al., SMPL, SIGGRAPH Asia 2015;
#: same names as ``smplx.joint_names.SMPL_JOINT_NAMES``).
SMPL_JOINT_NAMES: tuple[str, ...] = (
    'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee',
    'spine2', 'left_ankle', 'right_ankle', 'spine3', 'left_foot', 'right_foot',
    'neck', 'left_collar', 'right_collar', 'head', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hand', 'right_hand',
)
#: Parent of each SMPL joint (-1 for the root), SMPL's ``kintree_table[0]``.
SMPL_JOINT_PARENTS: np.ndarray = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21],
    dtype=np.int64)
NUM_SMPL_JOINTS = 24
NUM_BODY_JOINTS = 23  # the joints of body_pose (every SMPL joint but the root)
NUM_BODY_POSE = 69    # 23 joints x 3 axis-angle values

#: The 33 mediapipe (BlazePose) pose landmarks, in mediapipe's order
#: (``mediapipe.solutions.pose.PoseLandmark``). Left/right are the person's.
MEDIAPIPE_LANDMARK_NAMES: tuple[str, ...] = (
    'nose', 'left_eye_inner', 'left_eye', 'left_eye_outer', 'right_eye_inner',
    'right_eye', 'right_eye_outer', 'left_ear', 'right_ear', 'mouth_left',
    'mouth_right', 'left_shoulder', 'right_shoulder', 'left_elbow',
    'right_elbow', 'left_wrist', 'right_wrist', 'left_pinky', 'right_pinky',
    'left_index', 'right_index', 'left_thumb', 'right_thumb', 'left_hip',
    'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
    'left_heel', 'right_heel', 'left_foot_index', 'right_foot_index',
)
NUM_MEDIAPIPE_LANDMARKS = 33
#: mediapipe landmark indices of the hips (their mean is the origin of mediapipe's 3D landmarks)
MEDIAPIPE_LEFT_HIP, MEDIAPIPE_RIGHT_HIP = 23, 24

#: COCO-17 keypoints followed by the 6 COCO-WholeBody foot points.
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle', 'left_big_toe', 'left_small_toe', 'left_heel',
    'right_big_toe', 'right_small_toe', 'right_heel',
)

#: SMPL-X joint index of each SMPL-24 joint (smplx.joint_names.JOINT_NAMES: 0-21 body, 22 jaw,
#: 23/24 eyes, 25-39 left hand, 40-54 right hand; 28/43 = left/right_middle1).
SMPLX_TO_SMPL24 = np.array(list(range(22)) + [28, 43], dtype=np.int64)
SMPLX_NUM_JOINTS = 55

#: SMPL-24 chains whose bones span a standing body from the pelvis up to the head joint and down to the
#: ankles: pelvis-spine1-spine2-spine3-neck-head, and each leg's hip-knee-ankle
SPINE_CHAIN: tuple[int, ...] = (0, 3, 6, 9, 12, 15)
LEG_CHAINS: tuple[tuple[int, ...], ...] = ((1, 4, 7), (2, 5, 8))


def skeleton_height(joints: np.ndarray) -> np.ndarray:
    """Length of a body's vertical bone chains from its SMPL-24 joints: the spine chain plus the mean of
    the two legs (:data:`SPINE_CHAIN`, :data:`LEG_CHAINS`), in the joints' unit.

    A body model poses its joints by rigid motions along the tree, so bone lengths, and this sum, do not
    depend on the pose: it measures the body's size from posed joints. It is proportional to the
    stature (head top to sole) within a body model's shape space: the open model's stature is
    1.144 x this with 0.7 % spread (log-sd over 2000 shapes drawn as the generator draws them).

    Args:
        joints: (..., 24, 3) SMPL-24 joints.
    Returns:
        (...,) the length.
    """
    j = np.asarray(joints, dtype=np.float64)
    if j.shape[-2:] != (NUM_SMPL_JOINTS, 3):
        raise ValueError(f'skeleton_height needs (..., {NUM_SMPL_JOINTS}, 3) joints, got {j.shape}')

    def chain(idx):
        return np.linalg.norm(np.diff(j[..., list(idx), :], axis=-2), axis=-1).sum(axis=-1)

    return chain(SPINE_CHAIN) + sum(chain(leg) for leg in LEG_CHAINS) / len(LEG_CHAINS)
