"""QoS profiles shared by the nodes."""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Publishers of images and masks: reliable, keep last 5. A reliable publisher serves the
#: best-effort (sensor-data QoS) subscribers of the pipeline as well as reliable ones such
#: as the MCAP recorder, which would lose fragments of large images under load otherwise.
IMAGE_PUBLISHER_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.VOLATILE)

#: Latched outputs (body model description): late subscribers get the last message.
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
