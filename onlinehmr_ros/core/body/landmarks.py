"""Landmark vertex regressors (mediapipe-33, COCO-17 + 6 foot points) per topology.

A regressor row ``r`` (V,) gives a landmark as ``r @ vertices``; rows sum to 1
(affine combinations), so landmarks move rigidly with the body part they sit on.
Rows are built from

* published vertex indices: ``smplx/vertex_ids.py`` of the ``smplx`` package
  (Pavlakos et al., SMPL-X, CVPR 2019; the SMPL/SMPL-H indices are the ones
  SMPLify-X uses to map SMPL to the OpenPose/COCO face and foot keypoints):
  nose, eyes, ears, big/small toes, heels and fingertips;
* the model's own joint regressor rows for joint-centre landmarks (shoulders,
  elbows, wrists, hips, knees, ankles; SMPL-X finger knuckles);
* for SMPL-X, the 51 static face landmarks shipped in the SMPL-X model file
  (``lmk_faces_idx``/``lmk_bary_coords``), in the iBUG 300-W 68-point order
  without the 17 contour points (Sagonas et al., 300 Faces in-the-Wild, 2013;
  names in ``smplx/joint_names.py``): eye corners and mouth corners;
* where a topology has neither (SMPL eye corners, mouth corners, finger
  knuckles), a documented affine approximation from the points above. Those
  landmarks are flagged in the returned ``approximate`` mask so that a fitter
  can down-weight them. :func:`face_and_hand_approximations` is the one place
  they are defined; the open model's generator measures their error against
  its real vertices.
"""
from __future__ import annotations

import numpy as np

from onlinehmr_ros.core.body.model import BodyModelError
from onlinehmr_ros.core.body.skeleton import (COCO_KEYPOINT_NAMES, MEDIAPIPE_LANDMARK_NAMES, SMPL_JOINT_NAMES,
                                              SMPLX_TO_SMPL24)

# smplx/vertex_ids.py, key 'smplh' (SMPL and SMPL-H share the 6890-vertex topology).
SMPL_VERTEX_IDS = {
    'nose': 332, 'reye': 6260, 'leye': 2800, 'rear': 4071, 'lear': 583,
    'rthumb': 6191, 'rindex': 5782, 'rmiddle': 5905, 'rring': 6016, 'rpinky': 6133,
    'lthumb': 2746, 'lindex': 2319, 'lmiddle': 2445, 'lring': 2556, 'lpinky': 2673,
    'LBigToe': 3216, 'LSmallToe': 3226, 'LHeel': 3387, 'RBigToe': 6617, 'RSmallToe': 6624, 'RHeel': 6787,
}
# smplx/vertex_ids.py, key 'smplx' (10475-vertex SMPL-X topology).
SMPLX_VERTEX_IDS = {
    'nose': 9120, 'reye': 9929, 'leye': 9448, 'rear': 616, 'lear': 6,
    'rthumb': 8079, 'rindex': 7669, 'rmiddle': 7794, 'rring': 7905, 'rpinky': 8022,
    'lthumb': 5361, 'lindex': 4933, 'lmiddle': 5058, 'lring': 5169, 'lpinky': 5286,
    'LBigToe': 5770, 'LSmallToe': 5780, 'LHeel': 8846, 'RBigToe': 8463, 'RSmallToe': 8474, 'RHeel': 8635,
}
# Index into SMPL-X's 51 static face landmarks (iBUG-68 minus the contour,
# i.e. iBUG index - 17; names from smplx/joint_names.py).
_SMPLX_FACE51 = {'right_eye_outer': 19, 'right_eye_inner': 22, 'left_eye_inner': 25,
                 'left_eye_outer': 28, 'mouth_right': 31, 'mouth_left': 37}
# SMPL-X joints (smplx/joint_names.py): the knuckles mediapipe marks
# (BlazePose: pinky and index = first knuckle (MCP), thumb = second knuckle).
_SMPLX_KNUCKLES = {'left_index': 25, 'left_pinky': 31, 'left_thumb': 38,
                   'right_index': 40, 'right_pinky': 46, 'right_thumb': 53}

# Joint-centre landmarks shared by mediapipe and COCO -> SMPL joint name.
_JOINT_LANDMARKS = {
    'left_shoulder': 'left_shoulder', 'right_shoulder': 'right_shoulder',
    'left_elbow': 'left_elbow', 'right_elbow': 'right_elbow',
    'left_wrist': 'left_wrist', 'right_wrist': 'right_wrist',
    'left_hip': 'left_hip', 'right_hip': 'right_hip',
    'left_knee': 'left_knee', 'right_knee': 'right_knee',
    'left_ankle': 'left_ankle', 'right_ankle': 'right_ankle',
}
# Vertex landmarks -> vertex_ids key.
_VERTEX_LANDMARKS = {
    'nose': 'nose', 'left_eye': 'leye', 'right_eye': 'reye', 'left_ear': 'lear', 'right_ear': 'rear',
    'left_big_toe': 'LBigToe', 'left_small_toe': 'LSmallToe', 'left_heel': 'LHeel',
    'right_big_toe': 'RBigToe', 'right_small_toe': 'RSmallToe', 'right_heel': 'RHeel',
    'left_foot_index': 'LBigToe', 'right_foot_index': 'RBigToe',
}


def face_and_hand_approximations() -> dict[str, dict[str, float]]:
    """Affine approximations of landmarks a topology has no vertex for.

    Each landmark is a combination (weights sum to 1) of named points:
    ``nose``, ``leye``/``reye`` (eye centres), ``lear``/``rear``,
    ``<side>_hand``/``<side>_wrist`` (joints) and ``<side[0]>thumb``/``index``/
    ``pinky`` (fingertips).

    * Eye corners and mouth corners: weights fitted by least squares on the
      open model (its nose/eye/ear landmarks -> its eye- and mouth-corner
      vertices, 200 random shapes, rest pose; fit error 0.5-2 mm there; the
      fit is mirror-symmetric), so they carry average human face proportions.
      On SMPL they are applied to SMPL's published nose/eye/ear vertices,
      which may sit a few mm from the open model's, hence "approximate".
    * Hands (no calibration data): MCP knuckles 30 % of the way from the hand
      joint to the fingertip; the thumb's second knuckle half way from the
      wrist to the thumb tip.
    """
    a: dict[str, dict[str, float]] = {}
    for s, o in (('left', 'right'), ('right', 'left')):
        e, eo, ear, earo = s[0] + 'eye', o[0] + 'eye', s[0] + 'ear', o[0] + 'ear'
        a[f'{s}_eye_inner'] = {e: 0.172, eo: 0.684, ear: 0.270, earo: -0.126}
        a[f'{s}_eye_outer'] = {'nose': 0.002, e: 1.061, eo: -0.091, ear: 0.096, earo: -0.068}
        a[f'mouth_{s}'] = {'nose': 2.029, e: -0.620, eo: -0.902, ear: 0.405, earo: 0.088}
        side = s[0]
        a[f'{s}_index'] = {f'{s}_hand': 0.7, f'{side}index': 0.3}
        a[f'{s}_pinky'] = {f'{s}_hand': 0.7, f'{side}pinky': 0.3}
        a[f'{s}_thumb'] = {f'{s}_wrist': 0.5, f'{side}thumb': 0.5}
    return a


def _row_from_points(points: dict[str, float], named_rows: dict[str, np.ndarray]) -> np.ndarray:
    row = sum(w * named_rows[k] for k, w in points.items())
    return np.asarray(row, dtype=np.float64)


def _build(V: int, J_regressor: np.ndarray, vertex_ids: dict[str, int],
           exact_face: dict[str, np.ndarray], exact_hand: dict[str, np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if J_regressor.shape[1] != V:
        raise BodyModelError(f'J_regressor has {J_regressor.shape[1]} columns, expected {V} vertices')
    bad = {k: v for k, v in vertex_ids.items() if not 0 <= v < V}
    if bad:
        raise BodyModelError(f'landmark vertex ids {bad} are outside a mesh of {V} vertices '
                             '(is the file of the right model type?)')
    named: dict[str, np.ndarray] = {}
    for k, v in vertex_ids.items():
        r = np.zeros(V)
        r[v] = 1.0
        named[k] = r
    for i, jn in enumerate(SMPL_JOINT_NAMES):
        named[jn] = J_regressor[i].astype(np.float64)

    approx_defs = face_and_hand_approximations()
    rows, approx = {}, {}
    for name in set(MEDIAPIPE_LANDMARK_NAMES) | set(COCO_KEYPOINT_NAMES):
        if name in _VERTEX_LANDMARKS:
            rows[name], approx[name] = named[_VERTEX_LANDMARKS[name]], False
        elif name in _JOINT_LANDMARKS:
            rows[name], approx[name] = named[_JOINT_LANDMARKS[name]], False
        elif name in exact_face:
            rows[name], approx[name] = exact_face[name], False
        elif name in exact_hand:
            rows[name], approx[name] = exact_hand[name], False
        else:
            rows[name], approx[name] = _row_from_points(approx_defs[name], named), True
    mp = np.stack([rows[n] for n in MEDIAPIPE_LANDMARK_NAMES])
    coco = np.stack([rows[n] for n in COCO_KEYPOINT_NAMES])
    approx_mp = np.array([approx[n] for n in MEDIAPIPE_LANDMARK_NAMES])
    return mp, coco, approx_mp


def smpl_regressors(J_regressor: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regressors for the SMPL topology (6890 vertices).

    Args:
        J_regressor: (24, V) the model's joint regressor.
        num_vertices: V.

    Returns:
        ``(mediapipe (33, V), coco (23, V), approximate (33,) bool)``; SMPL's
        eye corners, mouth corners and finger knuckles are approximations.
    """
    return _build(num_vertices, J_regressor, SMPL_VERTEX_IDS, {}, {})


def smplx_regressors(J_regressor: np.ndarray, num_vertices: int, faces: np.ndarray,
                     lmk_faces_idx: np.ndarray, lmk_bary_coords: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regressors for the SMPL-X topology (10475 vertices).

    Args:
        J_regressor: (55, V) SMPL-X joint regressor (body 0-21, then jaw, eyes, fingers).
        num_vertices: V.
        faces: (F, 3) triangles.
        lmk_faces_idx: (51,) face of each static face landmark.
        lmk_bary_coords: (51, 3) barycentric coordinates of each landmark.

    Returns:
        ``(mediapipe (33, V), coco (23, V), approximate (33,) bool)``; nothing
        is approximated on SMPL-X.
    """
    lmk_faces_idx = np.asarray(lmk_faces_idx).reshape(-1).astype(np.int64)
    lmk_bary_coords = np.asarray(lmk_bary_coords, dtype=np.float64).reshape(-1, 3)
    if lmk_faces_idx.shape[0] != 51 or lmk_bary_coords.shape[0] != 51:
        raise BodyModelError(f'SMPL-X static face landmarks must be 51, got {lmk_faces_idx.shape[0]} faces '
                             f'and {lmk_bary_coords.shape[0]} barycentric rows')
    face_rows = {}
    for name, i in _SMPLX_FACE51.items():
        r = np.zeros(num_vertices)
        np.add.at(r, faces[lmk_faces_idx[i]], lmk_bary_coords[i])
        face_rows[name] = r
    hand_rows = {name: J_regressor[j].astype(np.float64) for name, j in _SMPLX_KNUCKLES.items()}
    # the joint rows in SMPL-24 order (hands = the middle1 joints, skeleton.SMPLX_TO_SMPL24)
    return _build(num_vertices, J_regressor[SMPLX_TO_SMPL24], SMPLX_VERTEX_IDS, face_rows, hand_rows)
