"""QoS of the pipeline's topics, and subscriptions that count the messages they lose.

Choices (issue 17, item 8): a camera image is 1.1 MB and a soft mask 1.5 MB, so across
processes every frame is sent in many UDP fragments; with best-effort (sensor-data) QoS a lost
fragment loses the frame (the launch-started graph saw 34 masks of 76 images). The pipeline's
images, masks and CameraInfo are therefore **reliable** on both sides, keep-last 5: nothing is
lost while the subscribers keep up (lockstep replay), and a subscriber that falls behind loses
the oldest frames, not the newest, and counts them (:class:`Subscriptions`, in /diagnostics).
A camera driver that publishes best-effort is incompatible with a reliable subscription: the
node then logs the parameter that switches its subscription to best effort
(``qos_overrides.<topic>.subscription.reliability``, rclpy's QoSOverridingOptions).
"""
from __future__ import annotations

import time
from typing import Callable

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos_overriding_options import QoSOverridingOptions

from onlinehmr_ros.core.common.input_watch import InputWatch
from onlinehmr_ros.core.common.message_loss import SequenceGaps

def reliable_keep_last(depth: int) -> QoSProfile:
    """Reliable, volatile, keep last ``depth``: the pipeline's images and masks, both sides."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth), reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


#: Publishers of images and masks: reliable, keep last 5 (serves reliable pipeline nodes and
#: recorders, and best-effort viewers such as RViz alike).
IMAGE_PUBLISHER_QOS = reliable_keep_last(5)

#: Subscribers of images, masks and CameraInfo in the pipeline: reliable, keep last 5
#: (overridable per topic, see the module docstring).
IMAGE_SUBSCRIBER_QOS = reliable_keep_last(5)

#: Queue depth of the hmr node's images by default (its ``image_queue_depth`` parameter): 1, the slowest
#: stage takes the newest image and never works through stale ones (issue 15): on Megamind at the
#: camera's rate, under load, ``python -m bench.bench_graph --graphs processes --modes recorded --frames
#: 270 --hmr-image-depth 5 1`` gave 15 -> 41 world outputs and latency p50 726 -> 292 ms. The images it
#: skips are counted as lost (/diagnostics). A lockstep replay must skip nothing, also when its
#: acknowledgement times out: :func:`replay_parameters` sets 5 there (``LOCKSTEP_IMAGE_QUEUE_DEPTH``).
NEWEST_IMAGE_QUEUE_DEPTH = 1
LOCKSTEP_IMAGE_QUEUE_DEPTH = 5

#: How long (stamp time, s) slam's image/mask join and fusion's people/pose pairing wait in a lockstep
#: replay (the nodes' ``mask_wait_s`` / ``max_wait_s``, 3 s by default, at most 10): as long as camera_source's
#: default ``lockstep_timeout_s``. Its images are stamped when published ('now'), so in lockstep the stamps
#: advance by the pipeline's processing time, not the camera's: under load one image could take longer than
#: 3 s through mask / hmr and its people were dropped without a pose (two launch-started pipelines at load
#: ~6: 1-2 of vtest's 12 frames, fusion ``dropped_no_pose_in_time``; test_ros_launch).
LOCKSTEP_STAMP_WAIT_S = 10.0


def replay_parameters(rate_mode: str) -> dict[str, dict[str, object]]:
    """Per node, the parameters a replay at camera_source's ``rate_mode`` needs beyond the defaults: for a
    lockstep replay (nothing may be lost) hmr's ``image_queue_depth`` (``LOCKSTEP_IMAGE_QUEUE_DEPTH``) and
    the stamp-time waits of slam and fusion (``LOCKSTEP_STAMP_WAIT_S``); none otherwise (the node's defaults:
    the newest image, 3 s waits). Used by the launch file and the composed runner."""
    if rate_mode != 'lockstep':
        return {}
    return {'hmr': {'image_queue_depth': LOCKSTEP_IMAGE_QUEUE_DEPTH},
            'slam': {'mask_wait_s': LOCKSTEP_STAMP_WAIT_S},
            'fusion': {'max_wait_s': LOCKSTEP_STAMP_WAIT_S}}


#: Latched outputs (body model description): late subscribers get the last message.
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


#: default of the nodes' ``stale_input_s`` parameter: an input silent this long (s) is reported
STALE_INPUT_S = 3.0


class Subscriptions:
    """Creates a node's subscriptions; counts what each one received and lost (:meth:`loss_values`) and
    watches their liveness (:attr:`watch`, core.common.input_watch: an input silent for longer than
    ``stale_after_s``, a publisher replaced after a silence, i.e. a node upstream that restarted)."""

    def __init__(self, node: Node, stale_after_s: float = STALE_INPUT_S):
        self._node = node
        self.gaps: dict[str, SequenceGaps] = {}
        self.watch = InputWatch(stale_after_s)

    @classmethod
    def with_parameters(cls, node: Node, params) -> 'Subscriptions':
        """Subscriptions whose staleness limit is the node's ``stale_input_s`` parameter (declared here on
        ``params``, the node's ``ros.params.NodeParameters``)."""
        return cls(node, params.declare('stale_input_s', STALE_INPUT_S, 'An input heard before and silent for '
                                        'longer than this is reported on /diagnostics (WARN "no <topic> for N '
                                        's"): a node upstream died or stalls (s).', min_value=0.1,
                                        max_value=3600.0, read_only='the watch is built at start-up'))

    def health(self, restart_notes: dict[str, str] | None = None) -> tuple[str, dict[str, object]]:
        """Liveness now: ('no /a for 4 s; /b restarted 2 s ago' or '', diagnostics values per input);
        ``restart_notes``: topic -> what its publisher's restart means here (InputWatch.summary)."""
        now = time.monotonic()
        return self.watch.summary(now, restart_notes), self.watch.values(now)

    @property
    def node(self) -> Node:
        return self._node

    def create(self, msg_type, topic: str, callback: Callable, qos: QoSProfile, overridable: bool = False):
        """``node.create_subscription`` whose callback also feeds a loss counter.

        Args:
            overridable: declare rclpy's ``qos_overrides.<topic>.subscription.{reliability,history,depth}``
                parameters (for topics a third-party driver may publish, e.g. images).
        """
        gaps = SequenceGaps()
        name = self._node.resolve_topic_name(topic)

        def counted(msg, info) -> None:
            gid = info.get('publisher_gid')
            publisher = bytes(gid['data']) if gid else None
            gaps.observe(publisher, info.get('publication_sequence_number'))
            self.watch.observe(name, time.monotonic(), publisher)
            callback(msg)

        events = SubscriptionEventCallbacks(incompatible_qos=lambda event: self._incompatible(topic, overridable))
        kwargs = {'qos_overriding_options': QoSOverridingOptions.with_default_policies()} if overridable else {}
        sub = self._node.create_subscription(msg_type, topic, counted, qos, event_callbacks=events, **kwargs)
        self.gaps[sub.topic_name] = gaps
        return sub

    def _incompatible(self, topic: str, overridable: bool) -> None:
        resolved = self._node.resolve_topic_name(topic)
        hint = (f'; if it publishes best-effort (sensor-data QoS), start this node with '
                f'-p qos_overrides.{resolved}.subscription.reliability:=best_effort') if overridable else ''
        self._node.get_logger().error(f'a publisher of {resolved} offers a QoS this subscription cannot use '
                                      f'(it is reliable){hint}', throttle_duration_sec=10.0)

    @property
    def lost(self) -> int:
        return sum(g.lost for g in self.gaps.values())

    def loss_values(self) -> dict[str, int]:
        """Diagnostics values: ``lost <topic>`` and ``received <topic>`` per subscription."""
        out: dict[str, int] = {}
        for topic, g in self.gaps.items():
            out[f'received {topic}'] = g.received
            out[f'lost {topic}'] = g.lost
        return out
