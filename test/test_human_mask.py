"""Mask stage: segmentation -> C_h -> C_soft."""
import cv2
import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.mask.segmentation import HumanMaskStage, HumanSegmenter, SegmentationConfig
from onlinehmr_ros.core.mask.soft_mask import SoftMaskConfig, compute_soft_mask

MEGAMIND = '/usr/share/doc/opencv-doc/examples/data/Megamind.avi'


def _frame(img):
    h, w = img.shape[:2]
    return Frame(img, 0, CameraIntrinsics.from_fov(w, h, 60.0))


class _Disk(HumanSegmenter):
    def probability(self, frame):
        p = np.zeros(frame.image_rgb.shape[:2], np.float32)
        cv2.circle(p, (20, 15), 6, 0.9, -1)
        return p


def test_stage_applies_threshold_then_paper_formula():
    cfg = SoftMaskConfig(kernel_size_px=5, iterations=1, sigma_px=2.0)
    out = HumanMaskStage(soft_mask=cfg, segmenter=_Disk()).process(_frame(np.zeros((30, 40, 3), np.uint8)))
    assert set(np.unique(out.human_mask)) == {0.0, 1.0}
    np.testing.assert_array_equal(out.soft_mask, compute_soft_mask(out.human_mask, cfg))
    assert out.soft_mask.max() == 1.0 and out.soft_mask[0, 39] < 0.01


def test_none_mode_needs_no_segmenter():
    stage = HumanMaskStage(soft_mask=SoftMaskConfig(mode='none'))
    out = stage.process(_frame(np.full((8, 8, 3), 128, np.uint8)))
    assert not out.soft_mask.any() and not out.human_mask.any()


def test_bad_config():
    with pytest.raises(InputError, match='backend'):
        SegmentationConfig(backend='sam2')
    with pytest.raises(InputError, match='threshold'):
        SegmentationConfig(threshold=1.5)


def test_selfie_segmentation_finds_the_person_in_megamind():
    cap = cv2.VideoCapture(MEGAMIND)
    for _ in range(100):
        ok, bgr = cap.read()
    assert ok, 'Megamind.avi missing: install the Debian package opencv-doc (make setup does)'
    stage = HumanMaskStage()
    out = stage.process(_frame(np.ascontiguousarray(bgr[:, :, ::-1])))
    frac = float(out.human_mask.mean())
    assert 0.05 < frac < 0.7, f'person covers {frac:.2f} of the frame'
    assert out.soft_mask.max() == pytest.approx(1.0)
    assert out.soft_mask.mean() > out.human_mask.mean()   # dilation + blur spread the mask
    blank = stage.process(_frame(np.zeros_like(bgr)))
    assert blank.human_mask.mean() < 0.01
    stage.close()
