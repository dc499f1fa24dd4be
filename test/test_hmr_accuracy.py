"""Accuracy of the camera-space HMR stage on rendered frames, against the generator's ground truth.

The fixtures ``test/data/replay_t01.npz`` (1 person, hand-held camera, tune seed 50) and
``replay_t06.npz`` (2 people and a pillar, static camera, tune seed 300) hold 150 frames of a
rendered tune-set sequence: the real mediapipe detections of the rendered images (2D landmarks,
visibilities, metric 3D landmarks), the true camera path and the true people (no images). They
were written by :func:`onlinehmr_ros.eval.hmr_breakdown.save_replay_fixture` from the detection
cache of ``python -m onlinehmr_ros.eval.hmr_breakdown --set tune --cache /work/cache/sequences``.

The HMR stage (the pipeline's own tracker; the fitter, ``estimator='fitting'``, in ``scored``; the learned HMR
with its domain gate in the learned tests) replays the detections and is
scored by the evaluation harness with people placed by the true camera (``gt_camera`` row of
``onlinehmr eval``). Thresholds are the figures measured when the test was written plus a margin,
so a regression of the fit, the temporal terms or the confidences fails here. The error is against
the true body, never against the model's own vertices.
"""
from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / 'data'

# fixture -> (PA-MPJPE ceiling mm, depth ratio range); measured 47.8 / 1.10 and 63.5 / 0.98
CASES = {
    't01': (55.0, (0.9, 1.2)),
    't06': (72.0, (0.88, 1.08)),
}


@pytest.fixture(scope='module', params=sorted(CASES))
def scored(request, open_body_model):
    from onlinehmr_ros.core.hmr.camera_hmr import HMRConfig
    from onlinehmr_ros.eval.evaluation import evaluate_record
    from onlinehmr_ros.eval.hmr_breakdown import (CONDITIONS, associate, camera_truth, load_replay_fixture,
                                                  run_condition)
    seq, dets = load_replay_fixture(DATA / f'replay_{request.param}.npz')
    truth = camera_truth(seq, open_body_model)
    ids = associate(dets, truth)
    rec = run_condition(seq, dets, ids, truth, CONDITIONS['pipeline'], HMRConfig(max_people=4, estimator='fitting'),
                        open_body_model)
    return request.param, evaluate_record(seq, rec)['rows']


@pytest.mark.slow
def test_pose_accuracy_and_coverage(scored):
    name, rows = scored
    own, base = rows['gt_camera'], rows['baseline']
    assert own['coverage'] >= 95.0
    assert own['pa_mpjpe'] <= CASES[name][0], own['pa_mpjpe']
    # the body-model fit must not be worse than the landmarks it is fitted to
    assert own['pa_mpjpe'] <= base['pa_mpjpe'] + 2.0, (own['pa_mpjpe'], base['pa_mpjpe'])


@pytest.mark.slow
def test_depth_of_people(scored):
    name, rows = scored
    lo, hi = CASES[name][1]
    assert lo <= rows['gt_camera']['depth_ratio'] <= hi, rows['gt_camera']['depth_ratio']


@pytest.mark.slow
def test_temporal_terms_smooth_without_lag(scored):
    _, rows = scored
    own, base = rows['gt_camera'], rows['baseline']
    # measured 44.5 / 66.0 and 39.3 / 71.2 (m/s^2); jitter 355 / 915 and 185 / 546
    assert own['accel'] <= 0.8 * base['accel'], (own['accel'], base['accel'])
    assert own['jitter'] <= 0.5 * base['jitter'], (own['jitter'], base['jitter'])
    lag = own['lag_frames']
    assert lag != lag or abs(lag) <= 2.0, lag          # NaN: too little motion to measure a lag


@pytest.mark.slow
def test_joint_confidence_ranks_errors(scored):
    _, rows = scored
    own = rows['gt_camera']
    assert own['conf_spearman'] <= -0.3, own['conf_spearman']
    assert own['conf_err_least_confident_third'] >= 1.5 * own['conf_err_most_confident_third']


# the learned estimator (learned causal HMR, domain-gated, its own output filter) on the same replayed detections:
# fixture -> (PA-MPJPE ceiling mm, depth ratio range); measured 26.0 / 1.13 and 29.9 / 1.01 (35.4 / 1.02 with the
# previous learned_smoothing), every person-frame on
# the network (fitting: 46.8 and 61.8 mm; the landmarks themselves: 52.7 and 64.9; the checkpoint shipped before,
# trained on simulated landmarks only: 42.9 / 1.20 and 49.9 / 1.06, so it fails here)
LEARNED_CASES = {
    't01': (32.0, (0.95, 1.3)),
    't06': (42.0, (0.9, 1.2)),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(LEARNED_CASES))
def test_learned_estimator_against_the_true_bodies(name, open_body_model):
    """The learned estimator (HMRConfig.estimator='learned', packaged checkpoint) on rendered frames' real detections:
    its error against the true bodies, not its shape or a depth range (issue 16: the old test only
    checked shapes and 0.3 < z < 10 m)."""
    from onlinehmr_ros.core.hmr.camera_hmr import HMRConfig
    from onlinehmr_ros.eval.evaluation import evaluate_record
    from onlinehmr_ros.eval.hmr_breakdown import (CONDITIONS, associate, camera_truth, load_replay_fixture,
                                                  run_condition)
    seq, dets = load_replay_fixture(DATA / f'replay_{name}.npz')
    truth = camera_truth(seq, open_body_model)
    rec = run_condition(seq, dets, associate(dets, truth), truth, CONDITIONS['pipeline'],
                        HMRConfig(max_people=4, estimator='learned'), open_body_model)
    rows = evaluate_record(seq, rec)['rows']
    own, base = rows['gt_camera'], rows['baseline']
    ceiling, (lo, hi) = LEARNED_CASES[name]
    assert own['coverage'] >= 95.0
    assert own['pa_mpjpe'] <= ceiling, own['pa_mpjpe']
    assert own['pa_mpjpe'] <= base['pa_mpjpe'] - 5.0, (own['pa_mpjpe'], base['pa_mpjpe'])   # beats its input
    assert lo <= own['depth_ratio'] <= hi, own['depth_ratio']
    # its output passes through its causal output filter: smooth against the true motion (Accel, m/s^2:
    # 3.9 / 4.9, Jitter 24 / 53 (10 m/s^3), lag 1.2 / 1.6 frames, PA-MPJPE 26.3 / 29.8 with the two-stage filter
    # (s28); one stage: 4.0 / 5.1, 32 / 68, 1.1 / 1.6, 26.0 / 29.9; the one before: 3.7 / 4.7, 79 / 145, 1.7 / 1.1;
    # without the filter 17.8 / 20.2, the landmarks themselves 66.0 / 71.2)
    assert own['accel'] <= 0.15 * base['accel'], (own['accel'], base['accel'])
