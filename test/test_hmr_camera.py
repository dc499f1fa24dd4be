"""CameraHMR end to end with a scripted perception backend: causality, empty frames, bad landmarks, ids."""
import pathlib

import numpy as np
import pytest

from hmr_fakes import ScriptedBackend, make_fake_body_model, observation_from_landmarks, posed_person
from onlinehmr_ros.core.common.datatypes import Frame
from onlinehmr_ros.core.hmr.camera_hmr import CameraHMR, HMRConfig, default_intrinsics
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation

W, H = 320, 240
INTR = default_intrinsics(W, H)
OPENCV_DATA = pathlib.Path('/usr/share/doc/opencv-doc/examples/data')


@pytest.fixture(scope='module')
def model():
    return make_fake_body_model()


def _walker_frames(model, n_frames, rng, people=((-0.8, 0.05), (0.8, -0.05))):
    """Per-frame observations of people walking sideways at 4 m (x0, dx per frame), waving an arm."""
    per_frame = []
    for f in range(n_frames):
        obs = []
        for i, (x0, dx) in enumerate(people):
            bp = np.zeros(69)
            bp[3 * 15 + 2] = 0.8 * np.sin(0.3 * f + i)      # left shoulder swings
            bp[3 * 3] = 0.3 * np.sin(0.2 * f)               # left knee bends
            go = np.array([np.pi, 0.0, 0.0])
            _, L = posed_person(model, np.zeros(model.num_betas), go, bp, np.array([x0 + dx * f, 0.2, 4.0 + i]))
            obs.append(observation_from_landmarks(L, INTR.K, rng, 1.0, 0.01, mask_shape=(H, W)))
        per_frame.append(obs)
    return per_frame


def _frames(n):
    img = np.zeros((H, W, 3), dtype=np.uint8)
    return [Frame(img, stamp_ns=int(f * 33_333_333), intrinsics=INTR, index=f) for f in range(n)]


def _run(model, per_frame, n, config=HMRConfig(estimator='fitting')):   # the fitter's behaviour
    hmr = CameraHMR(config, backend=ScriptedBackend(per_frame), body_model=model)
    return [hmr.process(fr) for fr in _frames(n)]


def test_causal_prefix_gives_identical_results(model):
    per_frame = _walker_frames(model, 10, np.random.default_rng(0))
    full = _run(model, per_frame, 10)
    prefix = _run(model, per_frame, 6)
    for a, b in zip(prefix, full[:6]):
        assert [h.track_id for h in a.humans.humans] == [h.track_id for h in b.humans.humans]
        for ha, hb in zip(a.humans.humans, b.humans.humans):
            for name in ('joints', 'body_pose', 'betas', 'transl', 'joint_confidence', 'vertices'):
                np.testing.assert_array_equal(getattr(ha, name), getattr(hb, name))


def test_two_walkers_keep_their_ids_and_outputs_are_complete(model):
    out = _run(model, _walker_frames(model, 12, np.random.default_rng(1)), 12)
    for o in out:
        assert o.humans.frame_id == 'camera'
        assert [h.track_id for h in o.humans.humans] == [0, 1]
        left = o.humans.humans[0]
        assert left.joints.shape == (24, 3) and left.vertices.shape == (model.num_vertices, 3)
        assert left.keypoints_coco.shape == (17, 3) and left.joint_confidence.shape == (24,)
        assert left.model == 'open' and 0.0 <= left.confidence <= 1.0
        assert o.person_mask.shape == (H, W) and o.person_mask.dtype == np.float32 and o.person_mask.max() == 1.0
        assert set(o.timings_ms) == {'perception', 'tracking', 'fitting', 'total'}
    # track 0 started on the left and walks right; it is 4 m away, track 1 5 m
    x0 = [o.humans.humans[0].root_position[0] for o in out]
    assert x0[-1] > x0[0] + 0.3
    assert abs(out[-1].humans.humans[0].root_position[2] - 4.0) < 0.3
    assert abs(out[-1].humans.humans[1].root_position[2] - 5.0) < 0.3


def test_nobody_gives_empty_output(model):
    out = _run(model, [[] for _ in range(3)], 3)
    for o in out:
        assert o.humans.humans == () and o.num_detections == 0
        assert o.person_mask.shape == (H, W) and not o.person_mask.any()


def test_nan_landmarks_never_reach_the_mesh(model):
    rng = np.random.default_rng(2)
    per_frame = _walker_frames(model, 4, rng, people=((0.0, 0.0),))
    for f, obs in enumerate(per_frame):
        o = obs[0]
        uv = o.landmarks_px.copy()
        uv[[13, 15, 25]] = np.nan
        per_frame[f] = [PersonObservation(uv, o.visibility, o.landmarks_3d_m, o.mask, o.bbox_px, o.score)]
    out = _run(model, per_frame, 4)
    for o in out:
        assert len(o.humans.humans) == 1
        h = o.humans.humans[0]
        assert np.all(np.isfinite(h.vertices)) and np.all(np.isfinite(h.joints)) and np.isfinite(h.confidence)


def test_unplaceable_person_is_reported_not_raised(model):
    hopeless = PersonObservation(landmarks_px=np.full((33, 2), -50.0), visibility=np.ones(33),
                                 landmarks_3d_m=np.zeros((33, 3)), mask=None,
                                 bbox_px=np.array([-60, -60, -40, -40.0]), score=1.0)
    out = _run(model, [[hopeless]], 1)
    assert out[0].humans.humans == () and out[0].fit_failures == (0,)
    assert [k for k, _ in out[0].incidents] == ['fit_failure']         # reported with the fitter's reason
    assert 'usable 2D landmarks' in out[0].incidents[0][1]


def test_torso_fallback_is_an_incident_and_the_person_is_still_output(model):
    per_frame = _walker_frames(model, 3, np.random.default_rng(4), people=((0.0, 0.02),))
    for f in range(3):
        o = per_frame[f][0]
        l3 = o.landmarks_3d_m.copy()
        l3[[11, 12, 23, 24]] = np.nan                                   # shoulders and hips not seen in 3D
        per_frame[f] = [PersonObservation(o.landmarks_px, o.visibility, l3, o.mask, o.bbox_px, o.score)]
    out = _run(model, per_frame, 3)
    assert all(len(o.humans.humans) == 1 for o in out)
    kinds = [[k for k, _ in o.incidents] for o in out]
    assert kinds[0] == ['orientation_fallback'] and 'torso not visible' in out[0].incidents[0][1]
    assert kinds[1:] == [[], []]                                        # tracked afterwards: no new start
    assert abs(float(out[2].humans.humans[0].joints[0, 2]) - 4.0) < 0.3  # at the walker's depth


def test_mediapipe_on_basketball_image():
    """Real perception (BlazePose detect-then-follow, 2 people) and the open body model on opencv-doc's basketball1.png."""
    cv2 = pytest.importorskip('cv2')
    pytest.importorskip('mediapipe')
    path = OPENCV_DATA / 'basketball1.png'
    if not path.is_file():
        pytest.skip('opencv-doc sample media not installed (make setup installs them)')
    img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    intr = default_intrinsics(img.shape[1], img.shape[0])
    from onlinehmr_ros.core.hmr.perception.follow import FollowConfig
    cfg = HMRConfig(max_people=3, perception=FollowConfig(min_detection_score=0.2, segmentation=True))
    with CameraHMR(cfg) as hmr:
        out = hmr.process(Frame(img, 0, intr))
    assert len(out.humans.humans) >= 1
    for h in out.humans.humans:
        assert np.all(np.isfinite(h.vertices)) and 1.0 < h.root_position[2] < 10.0
        # the person is upright: head above pelvis in the image (y down)
        assert h.joints[15, 1] < h.joints[0, 1]
    assert out.person_mask.max() > 0.5
