"""camera_source's start gate (core.io.start_gate): the first image waits for the graph downstream."""
import pytest

from onlinehmr_ros.core.io.sources import SourceError
from onlinehmr_ros.core.io.start_gate import ANY, GraphEdge, StartGate

PIPELINE = ['human/soft_mask: mask -> slam', 'human/camera_humans: hmr -> slam, fusion',
            'slam/camera_pose_state: slam -> fusion']


class Graph:
    """A ROS graph as the replaying node sees it: topic -> (publishing nodes, subscribing nodes)."""

    def __init__(self):
        self.pubs: dict[str, set] = {}
        self.subs: dict[str, set] = {}
        self.calls = 0

    def connect(self, topic, pub=None, sub=None):
        if pub:
            self.pubs.setdefault(topic, set()).add(pub)
        if sub:
            self.subs.setdefault(topic, set()).add(sub)

    def __call__(self, topic):
        self.calls += 1
        return set(self.pubs.get(topic, ())), set(self.subs.get(topic, ()))


def test_parse_and_reject():
    e = GraphEdge.parse(' human/camera_humans :hmr->  slam,fusion ')
    assert e == GraphEdge('human/camera_humans', 'hmr', ('slam', 'fusion'))
    for bad in ('human/camera_humans hmr -> slam', 'topic: hmr', 'topic: -> slam', ': hmr -> slam', 'topic: hmr ->'):
        with pytest.raises(SourceError, match='wait_for_graph'):
            GraphEdge.parse(bad)


def test_first_image_waits_for_every_connection_then_settles():
    gate = StartGate([GraphEdge.parse(e) for e in PIPELINE], settle_s=1.0)
    g = Graph()
    # the nodes come up one by one; fusion's pose subscription is the last connection
    g.connect('human/soft_mask', 'mask', 'slam')
    g.connect('human/camera_humans', 'hmr', 'slam')
    g.connect('slam/camera_pose_state', 'slam')
    assert not gate.ready(0.0, g)
    assert gate.missing == ['hmr -> fusion on human/camera_humans', 'slam -> fusion on slam/camera_pose_state']
    g.connect('human/camera_humans', sub='fusion')
    assert not gate.ready(5.0, g) and gate.missing == ['slam -> fusion on slam/camera_pose_state']
    g.connect('slam/camera_pose_state', sub='fusion')
    assert not gate.ready(10.0, g) and gate.missing == []         # connected: the settle time starts
    assert not gate.ready(10.9, g)
    calls = g.calls
    assert gate.ready(11.0, g)
    assert g.calls == calls, 'once connected, the graph is not queried again'


def test_a_missing_publisher_is_named_and_any_publisher_will_do():
    gate = StartGate([GraphEdge.parse('human/world_humans: * -> camera_source')], settle_s=0.0)
    g = Graph()
    g.connect('human/world_humans', sub='camera_source')
    assert not gate.ready(0.0, g) and gate.missing == ['* -> camera_source on human/world_humans']
    g.connect('human/world_humans', pub='someone_elses_fusion')
    assert gate.ready(0.1, g)
    # a named publisher must be that node, not any other
    gate = StartGate([GraphEdge('slam/camera_pose_state', 'slam', ('fusion',))], settle_s=0.0)
    g = Graph()
    g.connect('slam/camera_pose_state', 'other_slam', 'fusion')
    assert not gate.ready(0.0, g) and gate.missing == ['slam -> fusion on slam/camera_pose_state']
    assert ANY == '*'


def test_no_connections_no_wait_and_bad_settle():
    assert StartGate([], settle_s=0.0).ready(0.0, Graph())
    with pytest.raises(SourceError):
        StartGate([], settle_s=-1.0)
