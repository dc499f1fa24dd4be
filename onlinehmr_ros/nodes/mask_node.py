"""mask: the human soft mask C_soft of every image (OnlineHMR Key Design 4a).

Subscribes:  camera/image_raw (sensor_msgs/Image; mono8, bgr8, rgb8, rgba8, bgra8; reliable, see ros/qos.py)
Publishes:   human/soft_mask (sensor_msgs/Image 32FC1 in [0, 1], stamp and frame of the image)
             /diagnostics    frames, images lost before this node, ms per stage
Topic names are relative (a namespace puts a whole pipeline under it). The threshold and the
soft-mask shape can be changed at run time (`ros2 param set /mask segmentation.threshold 0.6`).
The algorithm is core.mask.segmentation.HumanMaskStage (segmentation, then the
paper's dilation, Gaussian blur and normalisation in core.mask.soft_mask).
"""
from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image

from onlinehmr_ros.core.mask.segmentation import HumanMaskStage, SegmentationConfig
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig
from onlinehmr_ros.ros import convert
from onlinehmr_ros.ros.camera_input import CameraInput, subscribe_camera_image
from onlinehmr_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics
from onlinehmr_ros.ros.params import NodeParameters
from onlinehmr_ros.ros.qos import IMAGE_PUBLISHER_QOS, Subscriptions
from onlinehmr_ros.ros.run import run_node

#: settings the running stage reads at every image (the rest build the segmenter at start-up)
LIVE = ('segmentation.threshold', 'soft_mask.kernel_size_px', 'soft_mask.iterations', 'soft_mask.sigma_px',
        'soft_mask.blur_scale')
RANGES = {'segmentation.threshold': (0.01, 0.99), 'soft_mask.kernel_size_px': (1, 255),
          'soft_mask.iterations': (0, 50), 'soft_mask.sigma_px': (0.0, 200.0), 'soft_mask.blur_scale': (0.05, 1.0)}


class MaskNode(Node):
    def __init__(self, **kwargs):
        super().__init__('mask', **kwargs)
        self.stage = None
        self.params = p = NodeParameters(self)
        self.stage = HumanMaskStage(
            p.declare_config('segmentation', SegmentationConfig(), live=LIVE, ranges=RANGES,
                             on_change=lambda c: setattr(self.stage, 'segmentation', c)),
            p.declare_config('soft_mask', SoftMaskConfig(), live=LIVE, ranges=RANGES,
                             on_change=lambda c: setattr(self.stage, 'soft_mask', c)))
        self.pub = self.create_publisher(Image, 'human/soft_mask', IMAGE_PUBLISHER_QOS)
        self.subs = Subscriptions.with_parameters(self, p)
        subscribe_camera_image(p, self.subs, self._on_image)
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
        stale, liveness = self.subs.health()
        new = cam.incidents.pending()
        level = ERROR if cam.rejected and not cam.frames else (WARN if self.subs.lost or stale or new else OK)
        self.diagnostics.publish(level, ('masking' if cam.frames else 'waiting for images') +
                                 (f' ({self.subs.lost} images lost before this node)' if self.subs.lost else '') +
                                 (f'; {stale}' if stale else '') + ''.join(f'; {n}' for n in new),
                                 {'frames': cam.frames, 'rejected_images': cam.rejected, **cam.incidents.values(),
                                  **self.subs.loss_values(),
                                  **liveness,
                                  **{f'ms_{k}_p50': float(np.median(v)) for k, v in self.stage_ms.items()}})


def main(args=None) -> int:
    return run_node(MaskNode, 'mask', args)


if __name__ == '__main__':
    sys.exit(main())
