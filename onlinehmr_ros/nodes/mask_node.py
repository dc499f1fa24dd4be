"""mask: the human soft mask C_soft of every image (OnlineHMR Key Design 4a).

Subscribes:  /camera/image_raw (sensor_msgs/Image; mono8, bgr8, rgb8, rgba8, bgra8), sensor-data QoS
Publishes:   /human/soft_mask (sensor_msgs/Image 32FC1 in [0, 1], stamp and frame of the image)
             /diagnostics
The algorithm is core.mask.segmentation.HumanMaskStage (segmentation, then the
paper's dilation, Gaussian blur and normalisation in core.mask.soft_mask).
"""
from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from onlinehmr_ros.core.mask.segmentation import HumanMaskStage, SegmentationConfig
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.camera_input import CameraInput, subscribe_camera_image
from onlinehmr_ros.ros.diagnostics import ERROR, OK, Diagnostics
from onlinehmr_ros.ros.params import declare_config
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS
from onlinehmr_ros.ros.run import run_node


class MaskNode(Node):
    def __init__(self, **kwargs):
        super().__init__('mask', **kwargs)
        self.stage = HumanMaskStage(declare_config(self, 'segmentation', SegmentationConfig()),
                                    declare_config(self, 'soft_mask', SoftMaskConfig()))
        self.pub = self.create_publisher(Image, '/human/soft_mask', IMAGE_PUBLISHER_QOS)
        subscribe_camera_image(self, self._on_image, qos_profile_sensor_data)
        self.diagnostics = Diagnostics(self, 'soft mask')
        # the mask needs no intrinsics: the Frame contract carries FOV-based ones of the right size
        self.camera = CameraInput(self, hfov_deg=60.0)
        self.stage_ms: dict[str, list[float]] = {}
        self.create_timer(1.0, self._report)

    def _on_image(self, msg: Image) -> None:
        frame = self.camera.frame(msg)
        if frame is None:
            return
        out = self.stage.process(frame)
        self.pub.publish(convert.array_to_image(out.soft_mask, '32FC1', frame.stamp_ns, msg.header.frame_id))
        for k, v in out.timings_ms.items():
            self.stage_ms.setdefault(k, []).append(v)
            del self.stage_ms[k][:-300]

    def _report(self) -> None:
        cam = self.camera
        self.diagnostics.publish(ERROR if cam.rejected and not cam.frames else OK,
                                 'masking' if cam.frames else 'waiting for /camera/image_raw',
                                 {'frames': cam.frames, 'rejected_images': cam.rejected,
                                  **{f'ms_{k}_p50': float(np.median(v)) for k, v in self.stage_ms.items()}})


def main(args=None) -> int:
    return run_node(MaskNode, 'mask', args)


if __name__ == '__main__':
    sys.exit(main())
