"""Small ROS participants for the split-graph harness (``bench/split_graph.py``), one per namespace.

    python -m bench.split_graph_probes meshes      # robot side: world meshes coming back
    python -m bench.split_graph_probes humans      # robot side: world_humans and REP-155 ids instead
    python -m bench.split_graph_probes images      # workstation side: images arriving

Each prints one line per event on stdout, times in host nanoseconds (``time.time_ns``; both
namespaces share the host clock, so ``receive - stamp`` is the latency since camera_source
stamped the image):
    ``ready``                             once the participant is up (meshes: once a publisher of
                                          /human/world_mesh was discovered across the link)
    ``m RECV_NS STAMP_NS BYTES``          a /human/world_mesh MarkerArray (stamp of its image), or
                                          (humans) a /human/world_humans HumanMeshArray
    ``h RECV_NS STAMP_NS COUNT``          (humans) a /humans/bodies/tracked IdsList with COUNT ids
    ``i RECV_NS STAMP_NS BYTES KIND``     an image (KIND raw or compressed)
    ``c STAMP_NS``                        a CameraInfo: one per published image (reliable, so it
                                          counts the images sent even when images are lost; the
                                          mesh probe reads it on the robot's side of the link)
Images are read with sensor-data QoS, as the pipeline's nodes read them. Only one participant
per namespace subscribes to a topic, so the link carries each sample once.
"""
from __future__ import annotations

import struct
import sys
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from onlinehmr_ros.ros.marker_cdr import decode_marker_array


def _out(*fields) -> None:
    sys.stdout.write(' '.join(str(f) for f in fields) + '\n')
    sys.stdout.flush()


def _stamp_ns(h) -> int:
    return h.stamp.sec * 1_000_000_000 + h.stamp.nanosec


def _count_camera_info(node) -> None:
    node.create_subscription(CameraInfo, '/camera/camera_info', lambda m: _out('c', _stamp_ns(m.header)),
                             QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    kind = argv[0]
    rclpy.init()
    node = rclpy.create_node(f'split_probe_{kind}')
    if kind == 'meshes':
        def on_mesh(data: bytes) -> None:
            now = time.time_ns()
            markers = decode_marker_array(data)
            if markers:                                   # empty: nobody in the image
                m = markers[0]
                _out('m', now, m.stamp_sec * 1_000_000_000 + m.stamp_nanosec, len(data))
        node.create_subscription(MarkerArray, '/human/world_mesh', on_mesh, 10, raw=True)
        _count_camera_info(node)
        while node.count_publishers('/human/world_mesh') == 0:
            rclpy.spin_once(node, timeout_sec=0.1)
    elif kind == 'humans':
        from hri_msgs.msg import IdsList

        from onlinehmr_ros.msg import HumanMeshArray

        def on_humans(data: bytes) -> None:          # CDR: 4-byte encapsulation, then header.stamp
            sec, nanosec = struct.unpack_from('<iI', data, 4)
            _out('m', time.time_ns(), sec * 1_000_000_000 + nanosec, len(data))
        node.create_subscription(HumanMeshArray, '/human/world_humans', on_humans, 10, raw=True)
        node.create_subscription(IdsList, '/humans/bodies/tracked', lambda m: _out(
            'h', time.time_ns(), _stamp_ns(m.header), len(m.ids)), 10)
        _count_camera_info(node)
        while node.count_publishers('/human/world_humans') == 0:
            rclpy.spin_once(node, timeout_sec=0.1)
    elif kind == 'images':
        node.create_subscription(Image, '/camera/image_raw', lambda m: _out(
            'i', time.time_ns(), _stamp_ns(m.header), len(m.data), 'raw'), qos_profile_sensor_data)
        node.create_subscription(CompressedImage, '/camera/image_raw/compressed', lambda m: _out(
            'i', time.time_ns(), _stamp_ns(m.header), len(m.data), 'compressed'), qos_profile_sensor_data)
        _count_camera_info(node)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    _out('ready')
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
