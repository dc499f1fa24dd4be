"""Causal body fitting: kinematics equal the body model, accuracy on synthetic people, temporal terms, bad input."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from hmr_fakes import make_fake_body_model, observation_from_landmarks, posed_person, random_pose
from onlinehmr_ros.core.body.kinematics import LandmarkKinematics
from onlinehmr_ros.core.common.datatypes import CameraIntrinsics
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.geometry import similarity_transform_points, umeyama
from onlinehmr_ros.core.hmr.fitting import BodyFitter, FitterConfig, FittingError
from onlinehmr_ros.core.hmr.perception.observation import PersonObservation
from onlinehmr_ros.core.hmr.smoothing import SmoothingConfig

INTR = CameraIntrinsics.from_fov(640, 480, 60.0)


@pytest.fixture(scope='module')
def model():
    return make_fake_body_model()


def _random_person(rng, model, depth=4.0):
    bp = random_pose(rng, 0.25)
    go = np.array([np.pi + rng.normal(scale=0.2), rng.normal(scale=0.5), rng.normal(scale=0.1)])
    be = rng.normal(scale=0.5, size=model.num_betas)
    tr = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.2, 0.3), depth])
    return be, go, bp, tr


def _pa_mpjpe_mm(pred, gt):
    s, R, t = umeyama(pred, gt)
    return 1e3 * np.linalg.norm(similarity_transform_points(s, R, t, pred) - gt, axis=1).mean()


def test_kinematics_match_body_model(model):
    kin = LandmarkKinematics(model)
    rng = np.random.default_rng(0)
    N = 4
    be = rng.normal(size=(N, model.num_betas))
    go, bp, tr = rng.normal(size=(N, 3)), rng.normal(scale=0.4, size=(N, 69)), rng.normal(size=(N, 3))
    L, J = kin(be, go, bp, tr)
    coco = kin.keypoints_coco(be, go, bp, tr)
    with torch.no_grad():
        out = model(*(torch.as_tensor(a, dtype=torch.float32) for a in (be, go, bp, tr)))
    np.testing.assert_allclose(L, out.landmarks_mediapipe.numpy(), atol=2e-5)
    np.testing.assert_allclose(J, out.joints.numpy(), atol=2e-5)
    np.testing.assert_allclose(coco, out.keypoints_coco.numpy(), atol=2e-5)


@pytest.mark.parametrize('pose_correctives_m', [0.0, 0.01])
def test_kinematics_jacobian_equals_central_differences(pose_correctives_m):
    """LandmarkKinematics.jacobian is the derivative of the landmarks and joints (evaluate(), itself checked
    against BodyModel above) with respect to every parameter, at a random pose and shape, with and without
    pose correctives: central differences (h = 1e-6) agree to ~5e-10 m/rad; SMPL-X's 55 joints checked by hand."""
    m = make_fake_body_model(pose_correctives_m=pose_correctives_m)
    assert m.has_pose_correctives == (pose_correctives_m > 0)
    kin = LandmarkKinematics(m)
    B = m.num_betas
    rng = np.random.default_rng(21)
    x = np.concatenate([rng.normal(size=3), rng.normal(scale=0.5, size=69), rng.normal(size=B),
                        rng.normal(size=3) + [0, 0, 4]])
    split = lambda X: (X[..., 72:72 + B], X[..., :3], X[..., 3:72], X[..., 72 + B:])  # noqa: E731
    jac = kin.jacobian(*split(x))
    h, P = 1e-6, x.size
    X = np.concatenate([x + h * np.eye(P), x - h * np.eye(P)])
    ev = kin.evaluate(*split(X), ('mediapipe',))
    at = kin.evaluate(*split(x[None]), ('mediapipe',))
    for name in ('mediapipe', 'joints'):
        np.testing.assert_allclose(jac[name], at[name][0], atol=1e-12)
        numeric = ((ev[name][:P] - ev[name][P:]) / (2 * h)).transpose(1, 2, 0)
        np.testing.assert_allclose(jac['d_' + name], numeric, atol=1e-7)
        assert np.abs(numeric).max() > 0.5      # the derivatives are not all small


def _waving_walker(model, rng, frames=40):
    be = rng.normal(scale=0.5, size=model.num_betas)
    gts, obs = [], []
    for f in range(frames):
        bp = np.zeros(69)
        bp[3 * 15 + 2] = 0.9 * np.sin(2 * np.pi * f / 24)          # left shoulder, 1 Hz at 24 fps
        bp[3 * 3] = 0.4 * np.sin(2 * np.pi * f / 30)               # left knee
        J, L = posed_person(model, be, np.array([np.pi, 0.3, 0.0]), bp, np.array([-0.6 + 0.03 * f, 0.2, 4.0]))
        gts.append(J)
        obs.append(observation_from_landmarks(L, INTR.K, rng, noise_px=1.5, noise_3d_m=0.015))
    return np.stack(gts), obs


def test_analytic_jacobian_fits_as_accurately_as_forward_differences(model):
    """The default analytic Jacobian gives the solver the same steps as forward differences: a new track (15
    iterations) and a waving, walking person tracked (iterations_tracking a frame) are as accurate against the
    ground truth. Measured (seeds 1, 7; analytic / forward differences): MPJPE 18.34 / 18.34 mm (new tracks),
    15.95 / 15.95 mm (tracking)."""
    rng = np.random.default_rng(1)
    first = {'analytic': [], 'forward_difference': []}
    for k in range(6):
        be, go, bp, tr = _random_person(rng, model)
        J, L = posed_person(model, be, go, bp, tr)
        obs = observation_from_landmarks(L, INTR.K, rng, noise_px=1.0, noise_3d_m=0.01)
        for name in first:
            fit = BodyFitter(model, replace(_UNFILTERED, jacobian=name)).fit(k, obs, INTR, frame_counter=0)
            first[name].append(1e3 * np.linalg.norm(fit.joints - J, axis=1).mean())
    gts, obs = _waving_walker(model, np.random.default_rng(7))
    track = {}
    for name in first:
        fitter = BodyFitter(model, replace(_UNFILTERED, jacobian=name))
        fits = np.stack([fitter.fit(0, o, INTR, f).joints for f, o in enumerate(obs)]).astype(np.float64)
        track[name] = 1e3 * np.linalg.norm(fits[5:] - gts[5:], axis=-1).mean()
    a, f = np.mean(first['analytic']), np.mean(first['forward_difference'])
    assert abs(a - f) < 0.5 and a < 22.0, first
    assert abs(track['analytic'] - track['forward_difference']) < 0.5 and track['analytic'] < 20.0, track


def test_alignments_without_an_analytic_jacobian_say_so():
    with pytest.raises(InputError, match="jacobian='forward_difference'"):
        FitterConfig(align_3d='scale')
    assert FitterConfig(align_3d='similarity', jacobian='forward_difference').jacobian == 'forward_difference'


def test_fit_accuracy_on_synthetic_people(model):
    """Pose the model, project its landmarks with 1 px / 1 cm noise, recover the joints.

    Measured on this fake (seed 1, 8 people): MPJPE about 14 mm, PA-MPJPE about 10 mm;
    the thresholds leave ~1.5x margin. Without noise the fit is exact to < 2 mm.
    """
    rng = np.random.default_rng(1)
    fitter = BodyFitter(model)
    mpjpe, pa = [], []
    for k in range(8):
        be, go, bp, tr = _random_person(rng, model)
        J, L = posed_person(model, be, go, bp, tr)
        obs = observation_from_landmarks(L, INTR.K, rng, noise_px=1.0, noise_3d_m=0.01)
        fit = fitter.fit(k, obs, INTR, frame_counter=0)
        mpjpe.append(1e3 * np.linalg.norm(fit.joints - J, axis=1).mean())
        pa.append(_pa_mpjpe_mm(fit.joints.astype(np.float64), J))
    assert np.mean(mpjpe) < 22.0, mpjpe
    assert np.mean(pa) < 16.0, pa


def test_noise_free_fit_reproduces_the_landmarks(model):
    """Without noise the landmarks are matched to ~4 mm (the priors pull a little); the joints to ~1 cm (the split of a
    rotation between spine1/2/3 is not observed by any landmark and is set by the pose prior)."""
    rng = np.random.default_rng(2)
    be, go, bp, tr = _random_person(rng, model)
    J, L = posed_person(model, be, go, bp, tr)
    fit = BodyFitter(model, FitterConfig(iterations_first=30)).fit(0, observation_from_landmarks(L, INTR.K),
                                                                     INTR, 0)
    assert 1e3 * np.linalg.norm(fit.landmarks - L, axis=1).mean() < 6.0
    assert 1e3 * np.linalg.norm(fit.joints - J, axis=1).mean() < 15.0
    assert np.all(fit.joint_confidence > 0.8)


#: the fitter alone: the output filter (core/hmr/smoothing, on by default) is tested in test_hmr_smoothing
_UNFILTERED = FitterConfig(smoothing=SmoothingConfig(enabled=False))


def _jitter_mm(joints):
    """Mean |third difference| of pelvis-relative joints, mm per frame^3."""
    rel = joints - joints[:, :1]
    return 1e3 * np.linalg.norm(np.diff(rel, n=3, axis=0), axis=-1).mean()


def test_temporal_terms_halve_jitter_of_a_still_person(model):
    rng = np.random.default_rng(3)
    be, go, bp, tr = _random_person(rng, model)
    _, L = posed_person(model, be, go, bp, tr)
    obs = [observation_from_landmarks(L, INTR.K, rng, noise_px=1.5, noise_3d_m=0.015) for _ in range(25)]
    out = {}
    for name, cfg in (('with', _UNFILTERED), ('without', _UNFILTERED.without_temporal_terms())):
        fitter = BodyFitter(model, cfg)
        out[name] = np.stack([fitter.fit(0, o, INTR, f).joints for f, o in enumerate(obs)])
    assert _jitter_mm(out['with']) < 0.5 * _jitter_mm(out['without'])


def test_shape_estimate_settles(model):
    rng = np.random.default_rng(4)
    be, go, bp, tr = _random_person(rng, model)
    _, L = posed_person(model, be, go, bp, tr)
    fitter = BodyFitter(model)
    betas = np.stack([fitter.fit(0, observation_from_landmarks(L, INTR.K, rng, 1.5, 0.015), INTR, f).betas
                      for f in range(30)])
    early = np.abs(np.diff(betas[1:6], axis=0)).mean()
    late = np.abs(np.diff(betas[-6:], axis=0)).mean()
    assert late < 0.5 * early


def test_nan_and_off_image_landmarks_are_dropped(model):
    rng = np.random.default_rng(5)
    be, go, bp, tr = _random_person(rng, model)
    J, L = posed_person(model, be, go, bp, tr)
    obs = observation_from_landmarks(L, INTR.K)
    uv = obs.landmarks_px.copy()
    l3 = obs.landmarks_3d_m.copy()
    uv[15] = np.nan            # left wrist: NaN in 2D
    l3[15] = np.nan            # and in 3D
    uv[16] = [5000.0, -300.0]  # right wrist: outside the image
    bad = PersonObservation(landmarks_px=uv, visibility=obs.visibility, landmarks_3d_m=l3, mask=None,
                            bbox_px=obs.bbox_px, score=obs.score)
    fit = BodyFitter(model).fit(0, bad, INTR, 0)
    for arr in (fit.joints, fit.body_pose, fit.transl, fit.joint_confidence, fit.landmarks):
        assert np.all(np.isfinite(arr))
    assert np.isnan(fit.residual_2d_px[15]) and np.isnan(fit.residual_2d_px[16])
    assert 1e3 * np.linalg.norm(fit.joints[:20] - J[:20], axis=1).mean() < 10.0


def test_unusable_observation_raises(model):
    obs = PersonObservation(landmarks_px=np.full((33, 2), np.nan), visibility=np.ones(33),
                            landmarks_3d_m=np.zeros((33, 3)), mask=None, bbox_px=np.zeros(4), score=1.0)
    with pytest.raises(FittingError, match='usable 2D landmarks'):
        BodyFitter(model).fit(0, obs, INTR, 0)


def test_occluded_joints_get_low_confidence(model):
    rng = np.random.default_rng(6)
    be, go, bp, tr = _random_person(rng, model)
    _, L = posed_person(model, be, go, bp, tr)
    vis = np.full(33, 0.95)
    vis[[13, 15, 17, 19, 21]] = 0.05   # left elbow, wrist and hand unseen
    fit = BodyFitter(model).fit(0, observation_from_landmarks(L, INTR.K, rng, 1.0, 0.01, visibility=vis), INTR, 0)
    left_arm = fit.joint_confidence[[18, 20, 22]]
    assert np.all(left_arm < 0.1) and np.all(fit.joint_confidence[[0, 4, 5, 19, 21]] > 0.5)


def test_temporal_terms_follow_motion_without_losing_accuracy(model):
    """A waving, walking person: the temporal terms cut jitter and do not cost accuracy (no lag blow-up).

    Measured (seed 7): jitter 21 vs 50 mm/frame^3, MPJPE 16.0 vs 17.9 mm with vs without the terms;
    lambda_a = 2 and a root weight of 3 give 31 mm (the arm lags), which this test catches.
    """
    gts, obs = _waving_walker(model, np.random.default_rng(7))
    res = {}
    for name, cfg in (('with', _UNFILTERED), ('without', _UNFILTERED.without_temporal_terms())):
        fitter = BodyFitter(model, cfg)
        res[name] = np.stack([fitter.fit(0, o, INTR, f).joints for f, o in enumerate(obs)]).astype(np.float64)
    err = {k: 1e3 * np.linalg.norm(v[5:] - gts[5:], axis=-1).mean() for k, v in res.items()}
    assert _jitter_mm(res['with']) < 0.5 * _jitter_mm(res['without'])
    assert err['with'] < 1.1 * err['without'], err


@pytest.mark.parametrize('seed', [11, 12])
def test_temporal_terms_follow_uneven_steps_by_their_stamps(model, seed):
    """An hmr node that takes the newest image fits at uneven times (here 1-4 frames of a 30 fps camera apart, at
    random): the acceleration terms extrapolate the last step by the stamps and weigh the residual as the
    acceleration it means, so the fit is about as accurate as on every frame. Measured (seeds 11, 12): 18.1 / 19.1 mm
    against 14.8 / 19.7 on every frame; the even-step terms (before) 39.5 / 45.7 mm."""
    rng = np.random.default_rng(seed)
    be = rng.normal(scale=0.5, size=model.num_betas)
    uneven = np.concatenate([[0], np.cumsum(rng.choice([1, 2, 3, 4], size=59))])
    err = {}
    for name, frames in (('every frame', np.arange(60)), ('uneven', uneven)):
        fitter = BodyFitter(model, _UNFILTERED)
        fits, gts = [], []
        for k, f in enumerate(frames):
            bp = np.zeros(69)
            bp[3 * 15 + 2] = 0.9 * np.sin(2 * np.pi * f / 30)         # left shoulder, 1 Hz
            bp[3 * 3] = 0.4 * np.sin(2 * np.pi * f / 30)              # left knee
            J, L = posed_person(model, be, np.array([np.pi, 0.3, 0.0]), bp,
                                np.array([-1.0 + 0.012 * f, 0.2, 4.0 + 0.006 * f]))
            obs = observation_from_landmarks(L, INTR.K, rng, noise_px=1.5, noise_3d_m=0.015)
            fits.append(fitter.fit(0, obs, INTR, k, stamp_ns=int(f * 1e9 / 30)).joints)
            gts.append(J)
        err[name] = 1e3 * np.linalg.norm(np.stack(fits)[5:] - np.stack(gts)[5:], axis=-1).mean()
    assert err['uneven'] < 1.35 * err['every frame'], err


def test_hidden_torso_falls_back_visibly_and_still_fits(model):
    """A new track whose shoulders and hips have no 3D landmarks starts from 'upright, facing the camera':
    the result says so (FitResult.fallback), and the fit from the 2D landmarks is still accurate."""
    rng = np.random.default_rng(7)
    fitter = BodyFitter(model, FitterConfig(iterations_first=30))
    be, go, bp, tr = _random_person(rng, model)
    J, L = posed_person(model, be, go, bp, tr)
    obs = observation_from_landmarks(L, INTR.K)
    ok = fitter.fit(0, obs, INTR, 0)
    assert ok.fallback == ''                                        # a visible torso: no fallback
    l3 = obs.landmarks_3d_m.copy()
    l3[[11, 12, 23, 24]] = np.nan                                   # torso not seen in 3D
    hidden = PersonObservation(landmarks_px=obs.landmarks_px, visibility=obs.visibility, landmarks_3d_m=l3,
                               mask=None, bbox_px=obs.bbox_px, score=obs.score)
    fit = fitter.fit(1, hidden, INTR, 0)
    assert 'torso not visible' in fit.fallback and '0 of 4' in fit.fallback
    assert 1e3 * np.linalg.norm(fit.joints - J, axis=1).mean() < 20.0       # measured 9 mm (torso seen: 6 mm)
    assert abs(fit.transl[2] - tr[2]) < 0.15
    # a tracked person (the previous solution is the start) has no fallback even without a torso
    assert fitter.fit(1, hidden, INTR, 1).fallback == ''
