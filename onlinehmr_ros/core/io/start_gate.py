"""When a replay may send its first image: once the graph downstream is connected (ROS-free).

Nodes started as separate processes (``ros2 launch``) discover each other over a few hundred
milliseconds to seconds; a message published before a subscriber has matched its publisher is
lost to it (volatile topics). A replay that starts at once loses its first images somewhere in
the graph: not only at the image readers, but also between them (fusion that has not yet matched
slam's pose publisher drops the people of the first images). :class:`StartGate` holds the first
image until every listed connection is seen in the ROS graph, then ``settle_s`` more (the nodes
match each other's endpoints in parallel with this node seeing them).

A connection is written ``'<topic>: <publisher> -> <subscriber>[, <subscriber> ...]'`` with node
names in the replaying node's namespace and a topic name relative to it (``'*'`` as the publisher:
any node). The launch file lists the pipeline's own connections (see launch/pipeline.launch.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from onlinehmr_ros.core.io.sources import SourceError

ANY = '*'


@dataclass(frozen=True)
class GraphEdge:
    """One connection: ``publisher`` (a node name or ``'*'``) publishes ``topic`` to each of ``subscribers``."""
    topic: str
    publisher: str
    subscribers: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> 'GraphEdge':
        """``'human/camera_humans: hmr -> slam, fusion'`` -> GraphEdge.

        Raises:
            SourceError: not of that form (the parameter is named in the message).
        """
        topic, sep, rest = text.partition(':')
        pub, arrow, subs = rest.partition('->')
        names = tuple(s.strip() for s in subs.split(',') if s.strip())
        if not sep or not arrow or not topic.strip() or not pub.strip() or not names:
            raise SourceError(f"wait_for_graph entry '{text}': write '<topic>: <publisher> -> <subscriber>[, ...]' "
                              "(node names in this node's namespace, e.g. 'slam/camera_pose_state: slam -> fusion')")
        return cls(topic.strip(), pub.strip(), names)

    def missing(self, publishers: set[str], subscribers: set[str]) -> list[str]:
        """What the graph lacks for this connection: ``['hmr -> fusion on human/camera_humans', ...]``."""
        if self.publisher != ANY and self.publisher not in publishers or self.publisher == ANY and not publishers:
            return [f'{self.publisher} -> {", ".join(self.subscribers)} on {self.topic}']
        return [f'{self.publisher} -> {s} on {self.topic}' for s in self.subscribers if s not in subscribers]


class StartGate:
    """Holds the first image until every connection is seen (see the module docstring).

    Args:
        edges: the connections to wait for.
        settle_s: seconds to wait once all are seen (>= 0).
    """

    def __init__(self, edges: Iterable[GraphEdge], settle_s: float = 1.0):
        if settle_s < 0:
            raise SourceError(f'settle time must be >= 0 s, got {settle_s}')
        self.edges = list(edges)
        self.settle_s = float(settle_s)
        self.connected_at_s: float | None = None
        self.missing: list[str] = []

    def ready(self, now_s: float, endpoints: Callable[[str], tuple[set[str], set[str]]]) -> bool:
        """True once every connection was seen ``settle_s`` ago.

        Args:
            now_s: a monotonic clock (s).
            endpoints: topic -> (names of its publishing nodes, names of its subscribing nodes), in
                this namespace. Not called again once everything was seen (a node that leaves later
                does not hold the stream: the graph's own /diagnostics say so).
        """
        if self.connected_at_s is None:
            self.missing = [m for e in self.edges for m in e.missing(*endpoints(e.topic))]
            if self.missing:
                return False
            self.connected_at_s = now_s
        return now_s - self.connected_at_s >= self.settle_s
