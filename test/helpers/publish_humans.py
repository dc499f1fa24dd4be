"""Publisher process for the cross-process test: HumanMeshArray messages with known content."""
import sys
import time

import numpy as np
import rclpy
from std_msgs.msg import Header

from onlinehmr_ros.msg import HumanMesh, HumanMeshArray


def make_message(i: int) -> HumanMeshArray:
    h = HumanMesh(track_id=i, model='open', confidence=0.5)
    h.joints = np.arange(72, dtype=np.float32) + i
    h.joint_confidence = np.linspace(0, 1, 24, dtype=np.float32)
    h.vertices = np.full(3 * 6890, i, np.float32)
    msg = HumanMeshArray(header=Header(frame_id='camera_optical_frame'), humans=[h])
    msg.header.stamp.sec = i
    return msg


def main():
    count = int(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node('humans_publisher')
    pub = node.create_publisher(HumanMeshArray, 'humans', 10)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    for i in range(count):
        pub.publish(make_message(i))
        time.sleep(0.05)
    time.sleep(0.5)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
