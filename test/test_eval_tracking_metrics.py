"""CLEAR-MOT / IDF1 of the harness on hand-computed cases (ID swap, misses, don't-care people)."""
import math

import numpy as np
import pytest

from onlinehmr_ros.eval.tracking_metrics import (FrameInput, TrackingMetricsError, evaluate_tracking,
                                                 normalised_keypoint_distance)

FPS = 30.0


def _frames(assign, n=10, visible=None, extra=None):
    """Two people 0 and 1; ``assign(i)`` -> {hypothesis id: person} for frame i; distance 0.1 where assigned."""
    out = []
    for i in range(n):
        a = assign(i)
        hyp = np.array(sorted(a), int)
        d = np.full((len(hyp), 2), np.inf)
        for r, h in enumerate(hyp):
            d[r, a[h]] = 0.1
        vis = np.ones(2, bool) if visible is None else visible(i)
        out.append(FrameInput(np.array([0, 1]), vis, hyp, d))
    return out


def test_perfect_tracks():
    r = evaluate_tracking(_frames(lambda i: {7: 0, 8: 1}), FPS)
    assert r.idf1 == 1.0 and r.id_switches == 0 and r.mota == 1.0 and r.coverage == 100.0
    assert r.matches[3] == {0: 7, 1: 8}


def test_id_swap_halves_idf1_and_counts_two_switches():
    # frames 0-4: 7 -> person 0, 8 -> person 1; frames 5-9 swapped
    r = evaluate_tracking(_frames(lambda i: {7: 0, 8: 1} if i < 5 else {7: 1, 8: 0}), FPS)
    # IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN) = 2*10 / (20 + 10 + 10) = 0.5
    assert r.idf1 == pytest.approx(0.5)
    assert r.id_switches == 2
    assert r.mota == pytest.approx(1.0 - 2 / 20)                      # MOTA = 1 - (FN + FP + IDSW) / GT
    assert r.coverage == 100.0                                         # every visible person-frame matched
    # 2 switches over 20 visible person-frames = 20/30 s = 1/90 min
    assert r.id_switches_per_person_minute == pytest.approx(2 / (20 / FPS / 60))
    assert r.matches[7] == {0: 8, 1: 7}


def test_swap_late_in_the_sequence_costs_less():
    # the swap after 8 of 10 frames: IDTP 16 -> IDF1 = 32 / (32 + 4 + 4) = 0.8
    r = evaluate_tracking(_frames(lambda i: {7: 0, 8: 1} if i < 8 else {7: 1, 8: 0}), FPS)
    assert r.idf1 == pytest.approx(0.8) and r.id_switches == 2


def test_misses_fragmentation_and_false_positive():
    # person 0 is missed in frames 3-5 (a fragmented track), a spurious hypothesis 9 in frame 6
    def assign(i):
        a = {8: 1}
        if not 3 <= i <= 5:
            a[7] = 0
        return a
    frames = _frames(assign)
    frames[6] = FrameInput(np.array([0, 1]), np.ones(2, bool), np.array([7, 8, 9]),
                           np.array([[0.1, np.inf], [np.inf, 0.1], [np.inf, np.inf]]))
    r = evaluate_tracking(frames, FPS)
    assert r.coverage == pytest.approx(100 * 17 / 20)
    assert r.fragmentations == 1 and r.id_switches == 0 and r.false_positives == 1
    assert r.mota == pytest.approx(1 - (3 + 1) / 20)


def test_dont_care_person_neither_counts_nor_makes_false_positives():
    # person 1 is only partly in view (not visible) in frames 0-4: its hypothesis is ignored there
    r = evaluate_tracking(_frames(lambda i: {7: 0, 8: 1}, visible=lambda i: np.array([True, i >= 5])), FPS)
    assert r.visible_person_frames == 15 and r.false_positives == 0 and r.coverage == 100.0 and r.idf1 == 1.0
    assert 1 not in r.matches[2]


def test_threshold_rejects_far_matches():
    frames = _frames(lambda i: {7: 0, 8: 1})
    for f in frames:
        f.distance[f.distance == 0.1] = 0.6                            # further than half a body height
    r = evaluate_tracking(frames, FPS)
    assert r.coverage == 0.0 and r.false_positives == 20


def test_normalised_keypoint_distance_hand_case():
    gt = np.zeros((1, 3, 2))
    gt[0, :, 1] = [100.0, 150.0, 300.0]                                # 200 px tall
    pred = gt.copy()
    pred[0, 0, 0] += 40.0                                              # one keypoint 40 px off
    pred[0, 2, 0] += 1000.0                                            # a far keypoint that is not compared
    d = normalised_keypoint_distance(pred, gt, np.array([[True, True, False]]))
    np.testing.assert_allclose(d, [[(40.0 / 2) / 200.0]])
    assert math.isinf(normalised_keypoint_distance(pred, gt, np.zeros((1, 3), bool))[0, 0])
    with pytest.raises(TrackingMetricsError):
        normalised_keypoint_distance(pred[:, :2], gt, np.ones((1, 3), bool))
