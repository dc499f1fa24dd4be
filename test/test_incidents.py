"""IncidentLog: what a node reports on /diagnostics about the fallbacks and rejections of its core."""
from onlinehmr_ros.core.common.incidents import IncidentLog


def test_pending_names_each_new_kind_once_with_its_newest_reason():
    log = IncidentLog()
    assert log.pending() == [] and log.values() == {}
    log.record('pose_refinement_fallback', 'rank 4 of 6')
    log.record('pose_refinement_fallback', 'rank 5 of 6')
    log.record('fit_failure', 'diverged')
    assert log.pending() == ['pose_refinement_fallback x2: rank 5 of 6', 'fit_failure x1: diverged']
    assert log.pending() == []                                     # reported: the next report is clean
    log.record('fit_failure', 'too few landmarks')
    assert log.pending() == ['fit_failure x1: too few landmarks']
    assert log.values() == {'pose_refinement_fallback': 2, 'fit_failure': 2}
    assert log.total() == 4 and log.total('fit_failure') == 2 and log.total('other') == 0


def test_record_says_when_to_log_one_line_per_kind_and_period():
    log = IncidentLog(log_every_s=10.0)
    assert log.record('duplicate_stamp', 'x', now_s=100.0)          # the first of its kind is logged
    assert not any(log.record('duplicate_stamp', 'x', now_s=100.0 + k) for k in range(1, 10))   # a burst: silent
    assert log.record('image_too_small', 'y', now_s=101.0)          # another kind has its own period
    assert log.record('duplicate_stamp', 'x', now_s=110.5)          # the period passed
    assert log.values() == {'duplicate_stamp': 11, 'image_too_small': 1}
