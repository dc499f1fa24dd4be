"""Synthetic sequences: exact, self-consistent ground truth, determinism, save/load."""
import dataclasses

import numpy as np
import pytest
import torch

from onlinehmr_ros.core.body.loading import BodyModelConfig, load_body_model
from onlinehmr_ros.core.common.geometry import invert_transform, project_points, transform_points
from onlinehmr_ros.eval.synthetic import (GeneratorError, RoomConfig, SequenceConfig, SequenceError,
                                          SyntheticSequence, contact_sheet, generate_sequence,
                                          person_vertices_world)

SMALL = SequenceConfig(num_frames=10, width_px=192, height_px=144, hfov_deg=65.0, num_people=2,
                       camera_kind='handheld', room=RoomConfig(texel_m=0.03))


@pytest.fixture(scope='module')
def body_model():
    torch.set_num_threads(1)
    return load_body_model(BodyModelConfig())


@pytest.fixture(scope='module')
def seq(body_model):
    return generate_sequence(SMALL, seed=3, body_model=body_model)


def test_shapes_and_world_frame(seq):
    n, h, w = 10, 144, 192
    assert seq.frames_rgb.shape == (n, h, w, 3) and seq.frames_rgb.dtype == np.uint8
    assert seq.masks.shape == (n, h, w) and set(np.unique(seq.masks)) <= {0, 1, 2}
    assert seq.T_world_cam.shape == (n, 4, 4) and len(seq.people) == 2
    for p in seq.people:
        assert p.joints_world.shape == (n, 24, 3) and p.keypoints_coco_world.shape == (n, 17, 3)
        # z up: head above pelvis above ankles, pelvis at a standing height
        assert np.all(p.joints_world[:, 15, 2] > p.joints_world[:, 0, 2])
        assert np.all(p.joints_world[:, 0, 2] > p.joints_world[:, 7, 2])
        assert np.all((p.joints_world[:, 0, 2] > 0.6) & (p.joints_world[:, 0, 2] < 1.3))
    frames = list(seq.iter_frames())
    assert [f.index for f in frames] == list(range(n))
    assert frames[3].stamp_ns == round(3 / 30.0 * 1e9) and frames[0].intrinsics == seq.intrinsics


def test_parameters_reproduce_joints_and_feet_touch_the_floor(seq, body_model):
    for k, p in enumerate(seq.people):
        verts = person_vertices_world(seq, body_model, k)
        np.testing.assert_allclose(verts[..., 2].min(axis=1), 0.0, atol=1e-4)
        dt = body_model.dtype
        with torch.no_grad():
            out = body_model(torch.as_tensor(p.betas, dtype=dt).expand(10, -1),
                             torch.as_tensor(p.global_orient_world, dtype=dt),
                             torch.as_tensor(p.body_pose, dtype=dt), torch.as_tensor(p.transl_world, dtype=dt))
        np.testing.assert_allclose(out.joints.numpy(), p.joints_world, atol=1e-4)
        np.testing.assert_allclose(out.keypoints_coco[:, :17].numpy(), p.keypoints_coco_world, atol=1e-4)


def test_masks_agree_with_projected_ground_truth(seq):
    T_cam_world = invert_transform(seq.T_world_cam)
    for k, p in enumerate(seq.people):
        uv, z = project_points(seq.intrinsics.K, transform_points(T_cam_world, p.joints_world))
        for i in range(seq.num_frames):
            vis = p.joints_visible[i]
            if not vis.any():
                continue
            px = np.round(uv[i, vis]).astype(int)
            labels = seq.masks[i, px[:, 1], px[:, 0]]
            # visible joints lie on this person's pixels (a few may fall just outside the silhouette)
            assert np.mean(labels == k + 1) > 0.7
            assert p.mask_area_px[i] == np.count_nonzero(seq.masks[i] == k + 1) > 0
    # the person's pixels differ from the room's: the figure is drawn
    assert any(p.mask_area_px.max() > 200 for p in seq.people)


def test_seed_determinism(seq, body_model):
    again = generate_sequence(SMALL, seed=3, body_model=body_model)
    assert np.array_equal(again.frames_rgb, seq.frames_rgb)
    assert np.array_equal(again.T_world_cam, seq.T_world_cam)
    other = generate_sequence(dataclasses.replace(SMALL, num_frames=4), seed=4, body_model=body_model)
    assert not np.allclose(other.T_world_cam[0], seq.T_world_cam[0])


def test_static_camera_and_bad_config(body_model):
    s = generate_sequence(dataclasses.replace(SMALL, num_frames=4, camera_kind='static', num_people=1), seed=5,
                          body_model=body_model)
    assert np.allclose(s.T_world_cam, s.T_world_cam[0]) and s.camera_kind == 'static'
    with pytest.raises(GeneratorError):
        generate_sequence(dataclasses.replace(SMALL, num_people=5), seed=0, body_model=body_model)


def test_save_load_round_trip(seq, tmp_path):
    out = seq.save(tmp_path / seq.name)
    back = SyntheticSequence.load(out)
    assert back.name == seq.name and back.camera_kind == seq.camera_kind and back.fps == seq.fps
    np.testing.assert_array_equal(back.intrinsics.K, seq.intrinsics.K)
    np.testing.assert_array_equal(back.T_world_cam, seq.T_world_cam)
    np.testing.assert_array_equal(back.masks, seq.masks)
    for a, b in zip(back.people, seq.people):
        for key in ('betas', 'joints_world', 'keypoints_coco_world', 'joints_visible', 'transl_world', 'action'):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    frames = [f.image_rgb for f in back.iter_frames()]
    assert len(frames) == seq.num_frames
    err = np.abs(np.stack(frames).astype(float) - seq.frames_rgb.astype(float)).mean()
    assert err < 15.0                                          # lossy mp4v, same images
    sheet = contact_sheet(back, num=3, columns=3)
    assert sheet.shape == (2 * 144, 3 * 192, 3)
    with pytest.raises(SequenceError):
        SyntheticSequence.load(tmp_path / 'nothing')


def test_evaluating_ground_truth_gives_zero_errors(seq):
    """The generator's ground truth through the evaluation harness: every error is zero."""
    from eval_fakes import record_from_truth

    from onlinehmr_ros.eval.evaluation import evaluate_record
    r = evaluate_record(seq, record_from_truth(seq))
    assert r['tracking']['idf1'] == 1.0 and r['tracking']['id_switches'] == 0
    assert r['tracking']['coverage'] == 100.0 and r['tracking']['false_positives'] == 0
    for kind, row in r['rows'].items():
        for key in ('mpjpe', 'pa_mpjpe', 'w_mpjpe100', 'wa_mpjpe100'):
            assert row[key] < 0.05, (kind, key, row[key])
        assert abs(row['depth_ratio'] - 1.0) < 1e-5
    assert r['camera']['ate_m'] < 1e-6 and r['camera']['ate_s_m'] < 1e-6
    assert r['camera']['orientation_jump_max_deg'] < 1e-4 and r['camera']['gravity_error_max_deg'] < 1e-4
