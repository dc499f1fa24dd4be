"""Body-model interface: the shipped open model, synthetic SMPL/SMPL-X files, errors, landmarks."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from onlinehmr_ros.core.body.landmarks import SMPL_VERTEX_IDS, SMPLX_VERTEX_IDS, face_and_hand_approximations
from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model, open_body_model_path
from onlinehmr_ros.core.body.model import BodyModel, BodyModelError, BodyModelOutput
from onlinehmr_ros.core.body.skeleton import (COCO_KEYPOINT_NAMES, MEDIAPIPE_LANDMARK_NAMES, SMPL_JOINT_NAMES,
                                              SMPL_JOINT_PARENTS)
from onlinehmr_ros.core.common.geometry import rotmat_aligning_vectors

OPEN_V, OPEN_F = 13718, 27420
# SMPL-X kinematic tree (smplx: 22 body joints, jaw, eyes, 2 x 15 finger joints in chains of 3).
SMPLX_PARENTS = np.array(
    list(SMPL_JOINT_PARENTS[:22]) + [15, 15, 15]
    + [p for base in (20, 21) for f in range(5) for p in (base, 25 + 15 * (base - 20) + 3 * f,
                                                           26 + 15 * (base - 20) + 3 * f)])


@pytest.fixture(scope='module')
def open_model() -> BodyModel:
    return load_body_model(BodyModelConfig())


def _mp(name: str) -> int:
    return MEDIAPIPE_LANDMARK_NAMES.index(name)


def _joint(name: str) -> int:
    return SMPL_JOINT_NAMES.index(name)


# ----------------------------------------------------------------------------
# synthetic, structurally valid model files
# ----------------------------------------------------------------------------
def _synthetic_body(rng: np.random.Generator, V: int, parents: np.ndarray, num_shape: int) -> dict:
    """A random but valid SMPL-format body: joints on a chain, vertices scattered around them.

    Every joint gets a cluster of vertices around it (skinned to it, regressed
    from it), so posing moves each cluster rigidly with its joint.
    """
    J = len(parents)
    joints = np.zeros((J, 3))
    for j in range(1, J):
        joints[j] = joints[parents[j]] + rng.normal(0.0, 0.1, 3)
    owner = np.arange(V) % J
    v_template = joints[owner] + rng.normal(0.0, 0.02, (V, 3))
    J_regressor = np.zeros((J, V))
    J_regressor[owner, np.arange(V)] = 1.0
    J_regressor /= J_regressor.sum(1, keepdims=True)
    weights = np.zeros((V, J))
    weights[np.arange(V), owner] = 1.0
    kintree = np.stack([parents, np.arange(J)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in the SMPL files
    return {
        'v_template': v_template, 'shapedirs': rng.normal(0.0, 0.01, (V, 3, num_shape)),
        'posedirs': np.zeros((V, 3, 9 * (J - 1))), 'J_regressor': J_regressor, 'weights': weights,
        'kintree_table': kintree, 'f': rng.integers(0, V, (200, 3)).astype(np.int64),
    }


def _write_smpl(folder: Path, data: dict, name: str = 'SMPL_NEUTRAL.pkl') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, 'wb') as fh:
        pickle.dump(data, fh)
    return path


def _smplx_data(rng: np.random.Generator) -> dict:
    d = _synthetic_body(rng, 10475, SMPLX_PARENTS, 20)
    d.update(hands_componentsl=np.eye(45), hands_componentsr=np.eye(45), hands_meanl=np.zeros(45),
             hands_meanr=np.zeros(45), lmk_faces_idx=rng.integers(0, 200, 51),
             lmk_bary_coords=np.full((51, 3), 1.0 / 3.0))
    return d


# ----------------------------------------------------------------------------
# the open model
# ----------------------------------------------------------------------------
def test_open_model_file_loads_with_smplx_SMPL_directly():
    import smplx
    from smplx.utils import Struct

    with np.load(open_body_model_path()) as npz:
        data = {k: npz[k] for k in npz.files}
    assert data['v_template'].dtype == np.float32
    smpl = smplx.SMPL(model_path='', data_struct=Struct(**data), num_betas=10)
    out = smpl(betas=torch.zeros(1, 10), body_pose=torch.zeros(1, 69), global_orient=torch.zeros(1, 3))
    assert out.vertices.shape == (1, OPEN_V, 3)
    assert torch.isfinite(out.vertices).all()
    assert open_body_model_path().stat().st_size < 10e6


def test_open_model_counts_and_structure(open_model):
    m = open_model
    assert m.name == 'open' and m.num_vertices == OPEN_V and m.num_betas == 10
    assert m.faces.shape == (OPEN_F, 3) and m.faces.dtype == np.int64
    assert m.faces.min() >= 0 and m.faces.max() < OPEN_V
    assert m.joint_names == SMPL_JOINT_NAMES and np.array_equal(m.joint_parents, SMPL_JOINT_PARENTS)
    assert m.lbs_weights.shape == (OPEN_V, 24)
    torch.testing.assert_close(m.lbs_weights.sum(1), torch.ones(OPEN_V), atol=1e-5, rtol=0)
    assert m.mediapipe_landmark_regressor.shape == (33, OPEN_V)
    assert m.coco_keypoint_regressor.shape == (23, OPEN_V)


def test_open_model_rest_pose_is_a_Y_up_T_pose(open_model):
    out = open_model(**open_model.zero_params(1))
    J = out.joints[0].numpy()
    height = out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min()
    assert 1.4 < float(height) < 2.0  # an adult-ish mean shape, metres, Y up
    assert J[_joint('head'), 1] > J[_joint('pelvis'), 1] > J[_joint('left_ankle'), 1]
    assert J[_joint('left_wrist'), 0] > 0.5 and J[_joint('right_wrist'), 0] < -0.5  # arms out along +/-x
    for side in ('left', 'right'):  # arms horizontal: wrist at shoulder height within 3 cm
        assert abs(J[_joint(f'{side}_wrist'), 1] - J[_joint(f'{side}_shoulder'), 1]) < 0.03
    nose = out.landmarks_mediapipe[0, _mp('nose')].numpy()
    assert nose[2] > J[_joint('head'), 2] + 0.05  # the face looks along +z


def test_open_model_random_shapes_and_poses_give_finite_meshes(open_model):
    g = torch.Generator().manual_seed(0)
    B = 6
    out = open_model(betas=torch.randn(B, 10, generator=g) * 2, global_orient=torch.randn(B, 3, generator=g),
                     body_pose=torch.randn(B, 69, generator=g) * 0.5, transl=torch.randn(B, 3, generator=g))
    assert isinstance(out, BodyModelOutput)
    assert out.vertices.shape == (B, OPEN_V, 3) and out.joints.shape == (B, 24, 3)
    assert out.landmarks_mediapipe.shape == (B, 33, 3) and out.keypoints_coco.shape == (B, 23, 3)
    for t in (out.vertices, out.joints, out.landmarks_mediapipe, out.keypoints_coco):
        assert torch.isfinite(t).all()
    # shape changes the body; posing keeps bone lengths (rigid chain)
    rest = open_model(**open_model.zero_params(1))
    bone = lambda J: (J[..., 1:, :] - J[..., SMPL_JOINT_PARENTS[1:], :]).norm(dim=-1)  # noqa: E731
    same_shape = open_model(betas=torch.zeros(B, 10), global_orient=torch.randn(B, 3, generator=g),
                            body_pose=torch.randn(B, 69, generator=g) * 0.5, transl=torch.zeros(B, 3))
    torch.testing.assert_close(bone(same_shape.joints), bone(rest.joints).expand(B, 23), atol=1e-5, rtol=0)
    assert (out.vertices[0] - rest.vertices[0]).norm(dim=-1).mean() > 0.01


def test_open_model_uses_all_its_shape_components():
    m16 = load_body_model(BodyModelConfig(num_betas=16))
    assert m16.num_betas == 16 and m16.smplx_model.shapedirs.shape[-1] == 16
    p = m16.zero_params(1)
    p['betas'][0, 15] = 3.0
    assert (m16(**p).vertices - m16(**m16.zero_params(1)).vertices).norm(dim=-1).max() > 1e-3
    with pytest.raises(BodyModelError, match='num_betas'):
        load_body_model(BodyModelConfig(num_betas=17))


def test_leading_batch_dims_broadcast_and_translation(open_model):
    p = open_model.zero_params(2, 3)
    p['transl'] = torch.tensor([0.1, -0.2, 0.3]).expand(2, 3, 3)
    p['betas'] = torch.zeros(10)  # broadcasts against (2, 3)
    out = open_model(**p)
    assert out.vertices.shape == (2, 3, OPEN_V, 3) and out.joints.shape == (2, 3, 24, 3)
    rest = open_model(**open_model.zero_params())
    assert rest.vertices.shape == (OPEN_V, 3)
    torch.testing.assert_close(out.joints[1, 2], rest.joints + torch.tensor([0.1, -0.2, 0.3]), atol=1e-5, rtol=0)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_float32_and_float64(open_model, dtype):
    m = load_body_model(BodyModelConfig()).to(dtype)
    g = torch.Generator().manual_seed(1)
    p = {k: v.to(dtype) for k, v in m.zero_params(2).items()}
    p['body_pose'] = (torch.randn(2, 69, generator=g) * 0.4).to(dtype)
    out = m(**p)
    assert out.vertices.dtype == dtype and out.landmarks_mediapipe.dtype == dtype
    ref = open_model(**{k: v.float() for k, v in p.items()})
    torch.testing.assert_close(out.vertices.float(), ref.vertices, atol=1e-4, rtol=0)


def test_landmarks_sit_on_the_right_body_parts(open_model):
    out = open_model(**open_model.zero_params(1))
    J, L, K = out.joints[0], out.landmarks_mediapipe[0], out.keypoints_coco[0]
    near = {  # landmark -> (joint, max distance in m) in the rest pose
        'left_wrist': ('left_wrist', 0.03), 'right_wrist': ('right_wrist', 0.03),
        'left_elbow': ('left_elbow', 0.04), 'left_knee': ('left_knee', 0.04),
        'left_ankle': ('left_ankle', 0.04), 'left_shoulder': ('left_shoulder', 0.06),
        'left_hip': ('left_hip', 0.06), 'nose': ('head', 0.16), 'left_ear': ('head', 0.12),
        'left_index': ('left_hand', 0.06), 'left_heel': ('left_ankle', 0.08),
        'left_foot_index': ('left_foot', 0.09),
    }
    for lm, (joint, tol) in near.items():
        d = float((L[_mp(lm)] - J[_joint(joint)]).norm())
        assert d < tol, f'{lm} is {d * 1000:.0f} mm from {joint}'
    for side in ('left', 'right'):  # landmarks on the correct side of the body (+x is the left)
        s = 1.0 if side == 'left' else -1.0
        for name in MEDIAPIPE_LANDMARK_NAMES:
            if name.startswith(side) or name.endswith(side):
                assert s * float(L[_mp(name)][0]) > 0.005, name
    # COCO and mediapipe agree where they name the same point
    torch.testing.assert_close(K[COCO_KEYPOINT_NAMES.index('left_wrist')], L[_mp('left_wrist')])
    # landmarks follow the body when it moves
    p = open_model.zero_params(1)
    p['body_pose'].view(1, 23, 3)[0, _joint('left_elbow') - 1] = torch.tensor([0.0, -1.2, 0.0])
    bent = open_model(**p)
    d = float((bent.landmarks_mediapipe[0, _mp('left_wrist')] - bent.joints[0, _joint('left_wrist')]).norm())
    assert d < 0.03
    assert float((bent.landmarks_mediapipe[0, _mp('left_wrist')] - L[_mp('left_wrist')]).norm()) > 0.1


def test_input_errors(open_model):
    p = open_model.zero_params(2)
    with pytest.raises(BodyModelError, match=r'body_pose must have shape \(\.\.\., 69\)'):
        open_model(**{**p, 'body_pose': torch.zeros(2, 72)})
    with pytest.raises(BodyModelError, match='betas'):
        open_model(**{**p, 'betas': torch.zeros(2, 9)})
    with pytest.raises(BodyModelError, match='broadcast'):
        open_model(**{**p, 'transl': torch.zeros(3, 3)})
    with pytest.raises(BodyModelError, match='dtype'):
        open_model(**{**p, 'global_orient': torch.zeros(2, 3, dtype=torch.float64)})
    with pytest.raises(BodyModelError, match='torch.Tensor'):
        open_model(**{**p, 'transl': np.zeros((2, 3))})


def test_config_errors(tmp_path):
    with pytest.raises(BodyModelError, match="one of \\('open', 'smpl', 'smplx'\\)"):
        load_body_model(BodyModelConfig(type='star'))
    with pytest.raises(BodyModelError, match='gender'):
        load_body_model(BodyModelConfig(gender='other'))
    with pytest.raises(BodyModelError, match='gender-neutral'):
        load_body_model(BodyModelConfig(gender='male'))
    with pytest.raises(BodyModelError, match='export_open_body_model'):
        load_body_model(BodyModelConfig(path=str(tmp_path / 'missing.npz')))


# ----------------------------------------------------------------------------
# SMPL / SMPL-X from user files
# ----------------------------------------------------------------------------
def test_missing_smpl_and_smplx_files_say_what_and_where(tmp_path):
    with pytest.raises(BodyModelError) as e:
        load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path)))
    msg = str(e.value)
    assert str(tmp_path / 'SMPL_NEUTRAL.pkl') in msg and 'smpl.is.tue.mpg.de' in msg and 'licence' in msg
    with pytest.raises(BodyModelError) as e:
        load_body_model(BodyModelConfig(type='smplx', path=str(tmp_path), gender='female'))
    assert str(tmp_path / 'SMPLX_FEMALE.npz') in str(e.value) and 'smpl-x.is.tue.mpg.de' in str(e.value)
    with pytest.raises(BodyModelError, match='needs body_model.path'):
        load_body_model(BodyModelConfig(type='smpl'))


def test_synthetic_smpl_file_goes_through_the_same_loader(tmp_path):
    rng = np.random.default_rng(0)
    data = _synthetic_body(rng, 6890, SMPL_JOINT_PARENTS, 10)
    _write_smpl(tmp_path / 'smpl', data, 'SMPL_MALE.pkl')  # smplx.create's sub-folder layout
    m = load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path), gender='male'))
    assert m.name == 'smpl' and m.num_vertices == 6890 and m.faces.shape == (200, 3)
    out = m(**m.zero_params(1))
    J = torch.as_tensor(data['J_regressor'] @ data['v_template'], dtype=torch.float32)
    torch.testing.assert_close(out.joints[0], J, atol=1e-5, rtol=0)
    # published vertex ids give the face/foot landmarks
    torch.testing.assert_close(out.landmarks_mediapipe[0, _mp('nose')],
                               out.vertices[0, SMPL_VERTEX_IDS['nose']])
    torch.testing.assert_close(out.keypoints_coco[0, COCO_KEYPOINT_NAMES.index('left_heel')],
                               out.vertices[0, SMPL_VERTEX_IDS['LHeel']])
    torch.testing.assert_close(out.landmarks_mediapipe[0, _mp('left_wrist')], out.joints[0, _joint('left_wrist')])
    assert m.mediapipe_landmark_approximate[_mp('mouth_left')]
    assert not m.mediapipe_landmark_approximate[_mp('nose')]
    # posing a joint rotates its cluster rigidly about the joint
    p = m.zero_params(1)
    p['body_pose'].view(1, 23, 3)[0, _joint('left_knee') - 1] = torch.tensor([1.0, 0.0, 0.0])
    posed = m(**p)
    moved = (posed.vertices[0] - out.vertices[0]).norm(dim=-1) > 1e-6
    assert moved.any() and not moved.all()
    # the same file as .npz, given as a file path
    np.savez(tmp_path / 'smpl.npz', **data)
    m2 = load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path / 'smpl.npz')))
    torch.testing.assert_close(m2(**p).vertices, posed.vertices)


@pytest.mark.parametrize('key,shape,match', [
    ('v_template', (6890, 2), r'v_template must have shape \(\*, 3\)'),
    ('shapedirs', (6890, 3), r'shapedirs must have shape \(6890, 3, \*\)'),
    ('posedirs', (6890, 3, 200), r'posedirs must have shape \(6890, 3, 207\)'),
    ('J_regressor', (23, 6890), r'J_regressor must have shape \(24, 6890\)'),
    ('weights', (6890, 25), r'weights must have shape \(6890, 24\)'),
])
def test_wrong_shapes_raise_clear_errors(tmp_path, key, shape, match):
    data = _synthetic_body(np.random.default_rng(1), 6890, SMPL_JOINT_PARENTS, 10)
    data[key] = np.zeros(shape)
    path = _write_smpl(tmp_path, data)
    with pytest.raises(BodyModelError, match=match) as e:
        load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path)))
    assert str(path) in str(e.value)


def test_structural_errors(tmp_path):
    rng = np.random.default_rng(2)
    data = _synthetic_body(rng, 6890, SMPL_JOINT_PARENTS, 10)
    del data['f']
    _write_smpl(tmp_path / 'a', data)
    with pytest.raises(BodyModelError, match=r"lacks the arrays \['f'\]"):
        load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path / 'a')))
    data = _synthetic_body(rng, 6890, SMPL_JOINT_PARENTS, 10)
    data['kintree_table'][0, 5] = 3
    _write_smpl(tmp_path / 'b', data)
    with pytest.raises(BodyModelError, match='kinematic tree'):
        load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path / 'b')))
    data = _synthetic_body(rng, 6890, SMPL_JOINT_PARENTS, 10)
    _write_smpl(tmp_path / 'c', data)
    with pytest.raises(BodyModelError, match='has 10 shape components but num_betas=11'):
        load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path / 'c'), num_betas=11))
    data = _synthetic_body(rng, 500, SMPL_JOINT_PARENTS, 10)  # not the SMPL topology
    _write_smpl(tmp_path / 'd', data)
    with pytest.raises(BodyModelError, match='outside a mesh of 500 vertices'):
        load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path / 'd')))
    (tmp_path / 'e').mkdir()
    (tmp_path / 'e' / 'SMPL_NEUTRAL.pkl').write_bytes(b'not a pickle')
    with pytest.raises(BodyModelError, match='cannot read'):
        load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path / 'e')))


def test_synthetic_smplx_file_maps_to_smpl24(tmp_path):
    rng = np.random.default_rng(3)
    data = _smplx_data(rng)
    (tmp_path / 'smplx').mkdir()
    np.savez_compressed(tmp_path / 'smplx' / 'SMPLX_NEUTRAL.npz', **data)
    m = load_body_model(BodyModelConfig(type='smplx', path=str(tmp_path)))
    assert m.name == 'smplx' and m.num_vertices == 10475
    out = m(**m.zero_params(2))
    J55 = data['J_regressor'] @ data['v_template']
    J24 = np.concatenate([J55[:22], J55[[28, 43]]])  # hands = left/right_middle1
    torch.testing.assert_close(out.joints[0], torch.as_tensor(J24, dtype=torch.float32), atol=1e-5, rtol=0)
    assert m.lbs_weights.shape == (10475, 24)
    torch.testing.assert_close(m.lbs_weights.sum(1), torch.ones(10475), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.landmarks_mediapipe[0, _mp('left_eye')], out.vertices[0, SMPLX_VERTEX_IDS['leye']])
    torch.testing.assert_close(out.landmarks_mediapipe[0, _mp('left_index')],
                               torch.as_tensor(J55[25], dtype=torch.float32), atol=1e-5, rtol=0)
    assert not m.mediapipe_landmark_approximate.any()
    # the mouth corner is the barycentric face landmark 37 (iBUG 55)
    face = data['f'][data['lmk_faces_idx'][37]]
    torch.testing.assert_close(out.landmarks_mediapipe[0, _mp('mouth_left')], out.vertices[0, face].mean(0))
    p = m.zero_params(1)
    p['body_pose'] = torch.full((1, 69), 0.2)
    assert torch.isfinite(m(**p).vertices).all()
    with pytest.raises(BodyModelError, match='has 10 shape components'):
        load_body_model(BodyModelConfig(type='smplx', path=str(tmp_path), num_betas=16))
    del data['lmk_faces_idx']
    np.savez(tmp_path / 'bad.npz', **data)
    with pytest.raises(BodyModelError, match='lmk_faces_idx'):
        load_body_model(BodyModelConfig(type='smplx', path=str(tmp_path / 'bad.npz')))


def test_affine_approximations_sum_to_one():
    for name, combo in face_and_hand_approximations().items():
        assert abs(sum(combo.values()) - 1.0) < 1e-9, name


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_rotmat_aligning_vectors(dtype):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 7, 3)).astype(dtype)
    R = rotmat_aligning_vectors(a, b)
    assert R.dtype == dtype and R.shape == (7, 3, 3)
    an = a / np.linalg.norm(a, axis=-1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.einsum('nij,nj->ni', R, an), bn, atol=1e-5)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-5)
    opp = rotmat_aligning_vectors(np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -2.0]))
    np.testing.assert_allclose(opp @ [0.0, 0.0, 1.0], [0.0, 0.0, -1.0], atol=1e-12)


@pytest.mark.parametrize('with_posedirs', [True, False])
def test_forward_equals_smplx_SMPL_forward(tmp_path, with_posedirs):
    """The interface poses a model exactly as smplx.SMPL does (pose correctives included)."""
    import smplx
    from smplx.utils import Struct

    rng = np.random.default_rng(6)
    data = _synthetic_body(rng, 6890, SMPL_JOINT_PARENTS, 10)
    if with_posedirs:
        data['posedirs'] = rng.normal(0.0, 0.01, data['posedirs'].shape)
    _write_smpl(tmp_path, data)
    m = load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path)))
    assert m.has_pose_correctives == with_posedirs
    ref = smplx.SMPL(model_path='', data_struct=Struct(**data), num_betas=10)
    g = torch.Generator().manual_seed(7)
    p = {'betas': torch.randn(3, 10, generator=g), 'global_orient': torch.randn(3, 3, generator=g),
         'body_pose': torch.randn(3, 69, generator=g) * 0.5, 'transl': torch.randn(3, 3, generator=g)}
    out = m(**p)
    exp = ref(**p)
    torch.testing.assert_close(out.vertices, exp.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints, exp.joints[:, :24], atol=1e-5, rtol=0)


def test_face_corner_approximations_match_the_open_model(open_model):
    """The affine face-corner rules used for SMPL reproduce the open model's own corner vertices."""
    g = torch.Generator().manual_seed(8)
    p = open_model.zero_params(10)
    p['betas'] = torch.randn(10, 10, generator=g)
    p['global_orient'] = torch.randn(10, 3, generator=g)
    p['body_pose'] = torch.randn(10, 69, generator=g) * 0.3
    L = open_model(**p).landmarks_mediapipe
    pts = {'nose': L[:, _mp('nose')], 'leye': L[:, _mp('left_eye')], 'reye': L[:, _mp('right_eye')],
           'lear': L[:, _mp('left_ear')], 'rear': L[:, _mp('right_ear')]}
    for name, combo in face_and_hand_approximations().items():
        if set(combo) <= set(pts):
            est = sum(w * pts[k] for k, w in combo.items())
            err = (est - L[:, _mp(name)]).norm(dim=-1).max()
            assert err < 0.006, f'{name}: {float(err) * 1000:.1f} mm'


def _pickle_with_fake_chumpy(data: dict, chumpy_keys: tuple[str, ...], path: Path) -> None:
    """Pickle ``data`` with some arrays wrapped in a class from a module named ``chumpy.ch``,
    as the original SMPL files do, without needing chumpy itself."""
    import sys
    import types

    module = types.ModuleType('chumpy.ch')

    class Ch:  # pickled state: {'x': array, ...} as chumpy's Ch
        def __init__(self, x):
            self.x = x
            self._cache = {}

    Ch.__module__ = 'chumpy.ch'
    Ch.__qualname__ = 'Ch'
    module.Ch = Ch
    saved = {k: sys.modules.get(k) for k in ('chumpy', 'chumpy.ch')}
    sys.modules['chumpy'] = types.ModuleType('chumpy')
    sys.modules['chumpy.ch'] = module
    try:
        wrapped = {k: (Ch(v) if k in chumpy_keys else v) for k, v in data.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(wrapped, protocol=2))
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_original_smpl_pickles_with_chumpy_arrays_load_without_chumpy(tmp_path):
    import importlib.util

    assert importlib.util.find_spec('chumpy') is None  # the test is about not needing it
    rng = np.random.default_rng(9)
    data = _synthetic_body(rng, 6890, SMPL_JOINT_PARENTS, 10)
    _pickle_with_fake_chumpy(data, ('shapedirs', 'v_template'), tmp_path / 'SMPL_NEUTRAL.pkl')
    m = load_body_model(BodyModelConfig(type='smpl', path=str(tmp_path)))
    torch.testing.assert_close(m.smplx_model.shapedirs, torch.as_tensor(data['shapedirs'], dtype=torch.float32))

    sx = _smplx_data(rng)
    _pickle_with_fake_chumpy(sx, ('shapedirs', 'posedirs'), tmp_path / 'x' / 'SMPLX_NEUTRAL.pkl')
    mx = load_body_model(BodyModelConfig(type='smplx', path=str(tmp_path / 'x')))
    J55 = sx['J_regressor'] @ sx['v_template']
    torch.testing.assert_close(mx(**mx.zero_params(1)).joints[0, :22],
                               torch.as_tensor(J55[:22], dtype=torch.float32), atol=1e-5, rtol=0)
