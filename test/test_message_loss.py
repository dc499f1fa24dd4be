"""core.common.message_loss: gaps in publication sequence numbers are the messages a subscriber missed."""
from onlinehmr_ros.core.common.message_loss import SequenceGaps


def test_counts_gaps_per_publisher_from_its_first_message():
    g = SequenceGaps()
    assert [g.observe('a', s) for s in (5, 6, 9, 10)] == [0, 0, 2, 0]     # joined at 5: 1-4 were not ours
    assert [g.observe('b', s) for s in (1, 3)] == [0, 1]                  # a second publisher, own numbering
    assert g.observe('a', 14) == 3
    assert (g.received, g.lost, g.unnumbered) == (7, 6, 0)


def test_restarted_publisher_and_middleware_without_numbers():
    g = SequenceGaps()
    g.observe('a', 40)
    assert g.observe('a', 1) == 0 and g.observe('a', 2) == 0           # restarted: counting starts over
    assert g.observe('c', None) == 0 and g.unnumbered == 1 and g.lost == 0
