"""Linear blend skinning: the project's one LBS, and the same LBS evaluated at landmarks for the fitter.

* :func:`skin` poses a whole mesh (PyTorch): ``smplx.lbs.lbs`` assembled from smplx's own
  functions, used by :class:`~onlinehmr_ros.core.body.model.BodyModel` and by the reduced
  model of the training (:mod:`onlinehmr_ros.training.reduced_body`).
* :class:`LandmarkKinematics` evaluates that skinning only at the landmarks, keypoints and
  joints (numpy, float64, many parameter vectors at once): the fitter's inner loop. A test
  checks it against :class:`~onlinehmr_ros.core.body.model.BodyModel`; its
  :meth:`~LandmarkKinematics.jacobian` gives the exact derivatives for the fitter's solver.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from onlinehmr_ros.core.body.skeleton import NUM_SMPL_JOINTS
from onlinehmr_ros.core.common.geometry import rotmat_from_axis_angle, skew_matrix, so3_right_jacobian

if TYPE_CHECKING:  # the model module imports this one
    from onlinehmr_ros.core.body.model import BodyModel


def skin(betas: torch.Tensor, full_pose: torch.Tensor, v_template: torch.Tensor, shapedirs: torch.Tensor,
         posedirs: torch.Tensor | None, J_regressor: torch.Tensor, parents: torch.Tensor,
         lbs_weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SMPL linear blend skinning, ``smplx.lbs.lbs`` built from smplx's own pieces.

    Identical to ``smplx.lbs.lbs(..., pose2rot=True)`` except that
    ``posedirs=None`` skips the pose-corrective term (a model without pose
    correctives, where smplx would multiply by a zero matrix).

    Args:
        betas: (N, B) shape coefficients.
        full_pose: (N, 3J) axis-angle of all J joints, root first.
        v_template: (V, 3); shapedirs: (V, 3, B); posedirs: (9(J-1), 3V) or None;
        J_regressor: (J, V); parents: (J,) with -1 for the root; lbs_weights: (V, J).

    Returns:
        vertices (N, V, 3) and joints (N, J, 3), metres.
    """
    from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes, vertices2joints

    N = max(betas.shape[0], full_pose.shape[0])
    v_shaped = v_template + blend_shapes(betas, shapedirs)
    J = vertices2joints(J_regressor, v_shaped)
    rot_mats = batch_rodrigues(full_pose.reshape(-1, 3)).view(N, -1, 3, 3)
    if posedirs is not None:
        ident = torch.eye(3, dtype=v_shaped.dtype, device=v_shaped.device)
        pose_feature = (rot_mats[:, 1:] - ident).view(N, -1)
        v_posed = v_shaped + torch.matmul(pose_feature, posedirs).view(N, -1, 3)
    else:
        v_posed = v_shaped.expand(N, -1, -1)
    J_transformed, A = batch_rigid_transform(rot_mats, J, parents, dtype=v_shaped.dtype)
    num_joints = J_regressor.shape[0]
    T = torch.matmul(lbs_weights, A.view(N, num_joints, 16)).view(N, -1, 4, 4)
    verts = torch.matmul(T[..., :3, :3], v_posed.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
    return verts, J_transformed


class LandmarkKinematics:
    """Fast batched evaluation of a body model at its landmarks, keypoints and joints (float64 numpy).

    The fitter's inner loop needs the 33 landmarks and 24 joints for ~90
    parameter vectors per solver step (a forward-difference Jacobian). A
    landmark is a fixed linear combination of vertices (``reg @ vertices``) and
    linear blend skinning is linear per vertex, so

    ``landmark_k = sum_j  Rw_j M_kj + w_kj (t_j - Rw_j Jrest_j)``  with
    ``M_kj = sum_v reg_kv W_vj (v_template + S beta + P pose_feature)_v`` and
    ``w_kj = sum_v reg_kv W_vj``,

    where ``M_kj`` is linear in the shape and in the pose feature, so its three
    parts are precomputed once per model for every landmark-joint pair with a
    non-zero ``w_kj``. Joints are the joint regressor folded into the shape space
    (``Jrest = J_reg v_template + (J_reg S) beta``). This is exactly the linear
    blend skinning of ``smplx.lbs`` (shape and pose blend shapes, forward
    kinematics, skinning), evaluated on a few hundred landmark-joint pairs
    instead of the whole mesh; a test checks it against ``BodyModel.forward``.
    """

    def __init__(self, model: BodyModel, min_pair_weight: float = 1e-7):
        m = model.smplx_model
        as64 = lambda x: x.detach().cpu().numpy().astype(np.float64)  # noqa: E731
        J_reg = as64(m.J_regressor)                                  # (J, V)
        self.num_joints = Jn = J_reg.shape[0]
        self.num_betas = B = model.num_betas
        v_t = as64(m.v_template)                                     # (V, 3)
        V = v_t.shape[0]
        sd = as64(m.shapedirs)[:, :, :B]                             # (V, 3, B)
        P = m.posedirs.shape[0]
        pd = as64(m.posedirs).reshape(P, V, 3).transpose(1, 2, 0)   # (V, 3, P)
        W = as64(m.lbs_weights)                                      # (V, J)
        self.J_template = J_reg @ v_t                                # (J, 3)
        self._J_shapedirs_flat = np.einsum('jv,vcb->bjc', J_reg, sd).reshape(B, -1)  # (B, J*3)
        self.parents = m.parents.cpu().numpy().astype(np.int64)
        self.joint_map = model.joint_map.cpu().numpy()
        self._sets = {name: self._pairs(as64(reg), W, v_t, sd, pd, min_pair_weight)
                      for name, reg in (('mediapipe', model.mediapipe_landmark_regressor),
                                        ('coco', model.coco_keypoint_regressor))}
        depth = np.zeros(Jn, dtype=np.int64)
        for i in range(1, Jn):
            depth[i] = depth[self.parents[i]] + 1
        # joints grouped by depth in the tree: each level's parents are already posed
        self._levels = [(np.flatnonzero(depth == d), self.parents[depth == d]) for d in range(1, depth.max() + 1)]
        # for jacobian(): the joints that carry pose parameters (SMPL: 24; SMPL-X: the 22 body joints),
        # which joints each one moves (itself and its descendants), the shape directions of the joints
        self._J_shapedirs = self._J_shapedirs_flat.reshape(B, Jn, 3).transpose(1, 2, 0)   # (J, 3, B)
        self.num_posed = Jn if Jn == NUM_SMPL_JOINTS else 22
        moves = np.eye(Jn, dtype=bool)                               # moves[i, j]: joint i's rotation moves joint j
        for j in range(1, Jn):
            moves[:, j] |= moves[:, self.parents[j]]
        self._moves = moves[:self.num_posed].astype(np.float64)     # (Jp, J)
        for st in self._sets.values():
            # (K * Jp, pairs): row (k, i) sums the pairs of landmark k whose joint moves with joint i
            moved = st['scatter'][:, None, :] * self._moves[:, st['joint']][None]
            st['scatter_moved'] = moved.reshape(-1, len(st['joint']))
            st['w_moved'] = moved @ st['w']                                                    # (K, Jp)

    @staticmethod
    def _pairs(reg, W, v_t, sd, pd, min_pair_weight):
        """Precomputed landmark-joint pairs of one regressor (K, V)."""
        K = reg.shape[0]
        B, P = sd.shape[2], pd.shape[2]
        w = reg @ W                                                  # (K, J)
        ks, js = np.nonzero(np.abs(w) > min_pair_weight)
        M0 = np.zeros((len(ks), 3))
        MS = np.zeros((len(ks), 3, B))
        MP = np.zeros((len(ks), 3, P))
        for j in np.unique(js):
            rows = np.flatnonzero(js == j)
            cols = np.flatnonzero(W[:, j] != 0)
            A = reg[ks[rows]][:, cols] * W[cols, j]                  # (r, v)
            M0[rows] = A @ v_t[cols]
            MS[rows] = np.einsum('rv,vcb->rcb', A, sd[cols])
            MP[rows] = np.einsum('rv,vcp->rcp', A, pd[cols])
        scatter = np.zeros((K, len(ks)))
        scatter[ks, np.arange(len(ks))] = 1.0
        # a model without pose correctives (the open model) has MP == 0: skipped, not multiplied by zeros
        return {'joint': js, 'w': w[ks, js], 'M0': M0, 'MS': MS.transpose(2, 0, 1).reshape(B, -1),
                'MS_pairs': MS, 'MP': MP.transpose(2, 0, 1).reshape(P, -1) if np.any(MP) else None,
                'scatter': scatter, 'row_sum': reg.sum(1)}

    def full_pose(self, global_orient: np.ndarray, body_pose: np.ndarray) -> np.ndarray:
        """(N, J, 3) axis-angle of every model joint (SMPL-X: 21 body joints, the rest at rest)."""
        N = global_orient.shape[0]
        if self.num_joints == NUM_SMPL_JOINTS:
            return np.concatenate([global_orient, body_pose], axis=1).reshape(N, NUM_SMPL_JOINTS, 3)
        rest = np.zeros((N, 3 * (self.num_joints - 22)))
        return np.concatenate([global_orient, body_pose[:, :63], rest], axis=1).reshape(N, self.num_joints, 3)

    def __call__(self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                 transl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, B), (N, 3), (N, 69), (N, 3) -> landmarks (N, 33, 3), joints (N, 24, 3), metres."""
        out = self.evaluate(betas, global_orient, body_pose, transl, ('mediapipe',))
        return out['mediapipe'], out['joints']

    def keypoints_coco(self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                       transl: np.ndarray) -> np.ndarray:
        """(N, 23, 3) COCO-17 + 6 foot keypoints, metres."""
        return self.evaluate(betas, global_orient, body_pose, transl, ('coco',))['coco']

    def _posed(self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray):
        """Forward kinematics of (N,) parameter vectors: local rotations R (N, J, 3, 3), rest joints Jr
        (N, J, 3), world rotations Rw (N, J, 3, 3), posed joints tw (N, J, 3), translations of the
        skinning transforms t_off (N, J, 3)."""
        N = betas.shape[0]
        Jn = self.num_joints
        R = rotmat_from_axis_angle(self.full_pose(global_orient, body_pose))   # (N, J, 3, 3)
        Jr = self.J_template + (betas @ self._J_shapedirs_flat).reshape(N, Jn, 3)
        rel = Jr.copy()
        rel[:, 1:] -= Jr[:, self.parents[1:]]
        Rw = np.empty_like(R)
        tw = np.empty((N, Jn, 3))
        Rw[:, 0] = R[:, 0]
        tw[:, 0] = Jr[:, 0]
        for idx, par in self._levels:
            Rp = Rw[:, par]
            Rw[:, idx] = np.einsum('nkij,nkjl->nkil', Rp, R[:, idx])
            tw[:, idx] = np.einsum('nkij,nkj->nki', Rp, rel[:, idx]) + tw[:, par]
        t_off = tw - np.einsum('njab,njb->nja', Rw, Jr)             # translation of A_j
        return R, Jr, Rw, tw, t_off

    @staticmethod
    def _pair_points(st: dict, betas: np.ndarray, R: np.ndarray, Rw: np.ndarray, t_off: np.ndarray) -> np.ndarray:
        """(N, pairs, 3) skinned landmark-joint pair terms of one landmark set (before the scatter)."""
        N = betas.shape[0]
        M = st['M0'] + (betas @ st['MS']).reshape(N, -1, 3)
        if st['MP'] is not None:
            M = M + ((R[:, 1:] - np.eye(3)).reshape(N, -1) @ st['MP']).reshape(N, -1, 3)
        jj = st['joint']
        return (Rw[:, jj] @ M[..., None])[..., 0] + st['w'][:, None] * t_off[:, jj]

    def evaluate(self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray,
                 sets: tuple[str, ...] = ('mediapipe', 'coco')) -> dict[str, np.ndarray]:
        """Dict with ``joints`` (N, 24, 3) and each of ``sets`` (``mediapipe`` (N, 33, 3), ``coco`` (N, 23, 3))."""
        R, _, Rw, tw, t_off = self._posed(betas, global_orient, body_pose)
        out = {'joints': tw[:, self.joint_map] + transl[:, None, :]}
        for name in sets:
            st = self._sets[name]
            pts = self._pair_points(st, betas, R, Rw, t_off)
            out[name] = st['scatter'] @ pts + st['row_sum'][:, None] * transl[:, None, :]
        return out

    def jacobian(self, betas: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                 transl: np.ndarray) -> dict[str, np.ndarray]:
        """Landmarks and joints of ONE parameter vector and their exact derivatives.

        Args:
            betas (B,), global_orient (3,), body_pose (69,), transl (3,).
        Returns:
            ``mediapipe`` (33, 3), ``joints`` (24, 3) as :meth:`evaluate`, and ``d_mediapipe`` (33, 3, P),
            ``d_joints`` (24, 3, P): derivatives with respect to ``x = (global_orient, body_pose, betas,
            transl)`` (P = 75 + B; SMPL-X's unused body_pose[63:] get zero columns).

        Rotating joint i's axis-angle by ``d`` turns everything joint i moves about joint i's world
        position by ``w = Rw_i J_r(theta_i) d`` (:func:`~onlinehmr_ros.core.common.geometry.so3_right_jacobian`),
        so a landmark pair's share ``pts`` changes by ``w x (pts - w_pair tw_i)``; pose correctives add
        ``Rw_j dM/dtheta_i``. Shape enters linearly through the rest joints and the pairs' ``M``.
        """
        Jn, B, Jp = self.num_joints, self.num_betas, self.num_posed
        P = 3 + 69 + B + 3
        aa = self.full_pose(global_orient[None], body_pose[None])[0]             # (J, 3)
        R, _, Rw, tw, t_off = (v[0] for v in self._posed(betas[None], global_orient[None], body_pose[None]))
        JS = self._J_shapedirs                                                  # (J, 3, B)
        dtw = np.empty((Jn, 3, B))                                              # d tw / d betas
        dtw[0] = JS[0]
        for idx, par in self._levels:
            dtw[idx] = Rw[par] @ (JS[idx] - JS[par]) + dtw[par]
        Jrt = so3_right_jacobian(aa[:Jp])                                       # (Jp, 3, 3)
        Om = Rw[:Jp] @ Jrt                                                      # column a: world axis of d theta_ia
        pose_cols = slice(0, 3 * Jp)
        beta_cols, tr_cols = slice(72, 72 + B), slice(72 + B, P)

        axes = Om.transpose(0, 2, 1)[None]                                      # (1, Jp, 3a, 3)
        jm = self.joint_map
        joints = tw[jm]
        d_joints = np.zeros((len(jm), 3, P))
        arm = (joints[:, None, :] - tw[None, :Jp]) * self._moves[:, jm].T[:, :, None]   # (24, Jp, 3)
        d_joints[:, :, pose_cols] = np.cross(axes, arm[:, :, None, :]).transpose(0, 3, 1, 2).reshape(len(jm), 3, -1)
        d_joints[:, :, beta_cols] = dtw[jm]
        d_joints[:, :, tr_cols] = np.eye(3)

        st = self._sets['mediapipe']
        jj, w = st['joint'], st['w']
        pts = self._pair_points(st, betas[None], R[None], Rw[None], t_off[None])[0]   # (pairs, 3)
        L = st['scatter'] @ pts + st['row_sum'][:, None] * transl
        K = L.shape[0]
        d_L = np.zeros((K, 3, P))
        v = (st['scatter_moved'] @ pts).reshape(K, Jp, 3) - st['w_moved'][:, :, None] * tw[None, :Jp]
        dL_rot = np.cross(axes, v[:, :, None, :]).transpose(0, 1, 3, 2)       # (K, Jp, 3, 3a)
        if st['MP'] is not None:                                                # d vec(R_i) = vec(R_i [J_r e_a]_x)
            dR = np.einsum('iab,icbd->icad', R[1:Jp], skew_matrix(Jrt[1:].transpose(0, 2, 1)))  # (Jp-1, 3a, 3, 3)
            MPr = st['MP'].reshape(Jn - 1, 9, -1, 3)[:Jp - 1]                   # (Jp-1, 9, pairs, 3)
            dM = np.einsum('iepc,iae->ipca', MPr, dR.reshape(Jp - 1, 3, 9))    # (Jp-1, pairs, 3, 3a)
            dL_rot[:, 1:] += np.einsum('kp,pcd,ipda->kica', st['scatter'], Rw[jj], dM)
        d_L[:, :, pose_cols] = dL_rot.transpose(0, 2, 1, 3).reshape(K, 3, -1)
        d_pts = Rw[jj] @ (st['MS_pairs'] - w[:, None, None] * JS[jj]) + w[:, None, None] * dtw[jj]   # (pairs, 3, B)
        d_L[:, :, beta_cols] = (st['scatter'] @ d_pts.reshape(len(jj), -1)).reshape(K, 3, B)
        d_L[:, :, tr_cols] = st['row_sum'][:, None, None] * np.eye(3)
        return {'mediapipe': L, 'joints': joints + transl, 'd_mediapipe': d_L, 'd_joints': d_joints}
