"""core.common.input_watch: silent inputs, silences that ended, publishers replaced after a silence."""
import pytest

from onlinehmr_ros.core.common.input_watch import InputWatch


def test_a_stream_is_stale_only_after_it_was_heard_and_then_silent_too_long():
    w = InputWatch(stale_after_s=2.0)
    assert w.stale(100.0) == [] and w.summary(100.0) == ''          # never heard: waiting, not stale
    for t in (0.0, 0.5, 1.0):
        w.observe('/image', t, 'cam')
    w.observe('/pose', 1.0, 'slam')
    assert w.stale(2.9) == []                                      # 1.9 s silent: fine
    assert w.stale(3.5) == [('/image', 2.5), ('/pose', 2.5)]
    w.observe('/image', 3.6, 'cam')
    assert w.stale(4.0) == [('/pose', 3.0)]
    assert w.summary(4.0) == 'no /pose for 3 s'
    assert w.silent_s('/pose', 4.0) == pytest.approx(3.0) and w.silent_s('/nothing', 4.0) == 0.0


def test_gaps_are_counted_when_the_stream_comes_back_with_the_longest():
    w = InputWatch(stale_after_s=1.0)
    for t in (0.0, 0.1, 0.2, 5.2, 5.3, 5.4, 7.0, 7.1):   # a 5 s stall, then a 1.6 s one
        w.observe('/mask', t, 'mask')
    s = w.streams['/mask']
    assert (s.gaps, s.longest_gap_s, s.messages, s.restarts) == (2, pytest.approx(5.0), 8, 0)
    v = w.values(7.1)
    assert v['gaps /mask'] == 2 and v['longest_gap_s /mask'] == 5.0 and v['restarts /mask'] == 0
    assert v['silent_s /mask'] == 0.0


def test_a_new_publisher_after_a_silence_is_a_restart_a_second_live_one_is_not():
    w = InputWatch(stale_after_s=2.0, recent_s=10.0)
    w.observe('/pose', 0.0, 'slam#1')
    w.observe('/pose', 1.0, 'slam#1')
    w.observe('/pose', 1.5, 'other')              # joins while slam#1 is alive: not a restart
    assert w.streams['/pose'].restarts == 0
    w.observe('/pose', 2.0, 'slam#1')
    w.observe('/pose', 9.0, 'slam#2')             # everybody silent for 7 s, then a new publisher
    s = w.streams['/pose']
    assert (s.restarts, s.last_restart_s, s.gaps) == (1, 9.0, 1)
    assert w.recent_restarts(10.5) == [('/pose', 1.5)]
    assert w.summary(10.5) == '/pose restarted 2 s ago'
    assert w.summary(12.0) == 'no /pose for 3 s; /pose restarted 3 s ago'
    assert w.summary(10.5, {'/pose': 'a new world frame', '/x': 'y'}) == '/pose restarted 2 s ago (a new world frame)'
    assert w.recent_restarts(19.5) == [] and w.values(19.5)['restarts /pose'] == 1   # old news, still counted
    w.observe('/pose', 10.0, 'slam#1')             # the replaced publisher is forgotten: back after 8 s = new
    assert w.streams['/pose'].restarts == 1        # slam#2 alive 1 s ago: a second publisher, not a restart
    w.observe('/pose', 20.0, 'slam#2')
    assert w.streams['/pose'].restarts == 1        # a publisher seen before that comes back is a stall, not new


def test_the_same_publisher_coming_back_is_a_stall_and_no_publisher_ids_still_count_gaps():
    w = InputWatch(stale_after_s=1.0)
    w.observe('/a', 0.0, 'p')
    w.observe('/a', 6.0, 'p')                      # SIGSTOP / SIGCONT: same publisher
    w.observe('/b', 0.0)
    w.observe('/b', 6.0)
    assert w.streams['/a'].restarts == 0 and w.streams['/a'].gaps == 1
    assert w.streams['/b'].restarts == 0 and w.streams['/b'].gaps == 1


@pytest.mark.parametrize('stale, recent', [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.0)])
def test_rejects_non_positive_windows(stale, recent):
    with pytest.raises(ValueError, match='must be > 0'):
        InputWatch(stale, recent)
