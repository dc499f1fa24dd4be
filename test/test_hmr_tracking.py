"""Tracker: stable ids through a synthetic crossing, hysteresis, ids never reused."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.geometry import intrinsics_from_fov, project_points
from onlinehmr_ros.core.hmr.people_tracker import Tracker, TrackerConfig
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation, bbox_from_landmarks

K = intrinsics_from_fov(640, 480, 60.0)


def _skeleton(seed: int) -> np.ndarray:
    """(33, 3) hip-centred landmark cloud, about a person's size (1.7 m tall, y down)."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform([-0.25, -1.0, -0.1], [0.25, 0.8, 0.1], size=(33, 3))
    pts[23], pts[24] = [0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]
    return pts - 0.5 * (pts[23] + pts[24])


def _observation(landmarks_3d: np.ndarray, root_cam: np.ndarray, rng=None, noise_px=0.0) -> PersonObservation:
    uv, _ = project_points(K, landmarks_3d + root_cam)
    if rng is not None:
        uv = uv + rng.normal(scale=noise_px, size=uv.shape)
    vis = np.full(33, 0.9)
    return PersonObservation(landmarks_px=uv, visibility=vis, landmarks_3d_m=landmarks_3d, mask=None,
                             bbox_px=bbox_from_landmarks(uv, vis), score=0.9)


def _run_crossing(depth_a: float, depth_b: float, root_noise_m: float = 0.05, seed: int = 0):
    """Two people walk past each other (boxes overlap for several frames); returns per-frame {id: x}."""
    rng = np.random.default_rng(seed)
    skel_a, skel_b = _skeleton(1), _skeleton(2)
    tracker = Tracker(TrackerConfig())
    history = []
    for f in range(40):
        xa = -1.5 + 0.075 * f
        xb = 1.5 - 0.075 * f
        ra = np.array([xa, 0.3, depth_a])
        rb = np.array([xb, 0.3, depth_b])
        obs = [_observation(skel_a, ra, rng, 1.0), _observation(skel_b, rb, rng, 1.0)]
        order = rng.permutation(2)  # detector order carries no identity
        obs = [obs[i] for i in order]
        roots = np.stack([ra, rb])[order] + rng.normal(scale=root_noise_m, size=(2, 3))
        up = tracker.update(obs, roots)
        history.append({p.track_id: float(p.root_cam_m[0]) for p in up.people})
    return history


@pytest.mark.parametrize('depth_b', [4.0, 5.5])
def test_crossing_keeps_ids(depth_b):
    history = _run_crossing(4.0, depth_b)
    ids = set().union(*history)
    assert ids == {0, 1}, f'expected exactly two track ids, got {ids}'
    # The track that starts on the left must end on the right (no swap at the crossing).
    first, last = history[0], history[-1]
    left_id = min(first, key=first.get)
    assert last[left_id] > 0.9 and all(len(h) == 2 for h in history)
    xs = [h[left_id] for h in history]
    assert np.all(np.diff(xs) > -0.2)


def test_crossing_same_depth_without_root_cue():
    """Boxes + pose + constant-velocity prediction alone keep the ids (no 3D roots given)."""
    rng = np.random.default_rng(3)
    skel_a, skel_b = _skeleton(1), _skeleton(2)
    tracker = Tracker(TrackerConfig())
    owner = {}
    for f in range(40):
        ra = np.array([-1.5 + 0.075 * f, 0.3, 4.0])
        rb = np.array([1.5 - 0.075 * f, 0.3, 4.0])
        obs = [_observation(skel_a, ra, rng, 1.0), _observation(skel_b, rb, rng, 1.0)]
        up = tracker.update(obs)
        for p in up.people:
            owner.setdefault(p.track_id, p.detection_index)
            assert owner[p.track_id] == p.detection_index, f'id swap at frame {f}'
    assert set(owner) == {0, 1}


def test_birth_hysteresis_and_death():
    skel = _skeleton(1)
    tracker = Tracker(TrackerConfig(min_hits=2, max_misses=2))
    root = np.array([0.0, 0.3, 4.0])
    up = tracker.update([_observation(skel, root)], root[None])
    assert [p.track_id for p in up.people] == [0]          # first frame: confirmed at once
    # a one-frame false positive far away is never confirmed
    fp_root = np.array([1.5, 0.3, 6.0])
    up = tracker.update([_observation(skel, root), _observation(_skeleton(9), fp_root)], np.stack([root, fp_root]))
    assert [p.track_id for p in up.people] == [0]
    up = tracker.update([_observation(skel, root)], root[None])
    assert [p.track_id for p in up.people] == [0] and 1 in up.ended_track_ids
    # a newcomer needs two frames
    new_root = np.array([-1.5, 0.3, 3.0])
    obs2 = [_observation(skel, root), _observation(_skeleton(5), new_root)]
    assert [p.track_id for p in tracker.update(obs2, np.stack([root, new_root])).people] == [0]
    assert [p.track_id for p in tracker.update(obs2, np.stack([root, new_root])).people] == [0, 2]
    # nobody for max_misses frames: the tracks survive, then die
    for _ in range(2):
        up = tracker.update([], np.zeros((0, 3)))
        assert up.people == () and up.ended_track_ids == ()
    up = tracker.update([])
    assert set(up.ended_track_ids) == {0, 2} and tracker.num_tracks == 0


def test_ids_are_never_reused():
    skel = _skeleton(1)
    tracker = Tracker(TrackerConfig(min_hits=1, max_misses=0))
    seen = []
    for f in range(6):
        if f % 2 == 0:
            root = np.array([0.0, 0.3, 4.0])
            seen += [p.track_id for p in tracker.update([_observation(skel, root)], root[None]).people]
        else:
            tracker.update([])
    assert seen == [0, 1, 2]


def test_bad_roots_shape_is_rejected():
    with pytest.raises(ValueError, match='roots_cam_m'):
        Tracker().update([_observation(_skeleton(1), np.array([0, 0, 4.0]))], np.zeros((2, 3)))
