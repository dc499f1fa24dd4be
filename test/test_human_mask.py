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
    """A disk of radius 6 px (probability 0.9 > threshold): C_h is that disk; dilating it once by a
    5 px ellipse grows it to radius 8; a Gaussian blur (sigma 2) of a disk of radius 4 sigma keeps
    its centre at ~1 (normalised to exactly 1) and puts its edge near one half - checked radially
    against those numbers, not against the function the stage calls."""
    cfg = SoftMaskConfig(kernel_size_px=5, iterations=1, sigma_px=2.0)
    out = HumanMaskStage(soft_mask=cfg, segmenter=_Disk()).process(_frame(np.zeros((30, 40, 3), np.uint8)))
    yy, xx = np.mgrid[0:30, 0:40]
    r = np.hypot(xx - 20, yy - 15)
    np.testing.assert_array_equal(out.human_mask, (r <= 6.0).astype(np.float32))     # cv2.circle's disk
    soft = out.soft_mask
    assert soft.max() == 1.0 and soft[15, 20] == 1.0
    assert soft[r <= 4].min() > 0.95                                                  # 2 sigma inside the edge
    edge = soft[(r > 7.5) & (r < 8.5)]
    assert 0.3 < edge.mean() < 0.6                                                    # the blurred step
    assert soft[r >= 8 + 3 * 2.0].max() < 0.02                                        # 3 sigma outside
    profile = soft[15, 20:40]                                                         # radially non-increasing
    assert np.all(np.diff(profile) <= 1e-6)
    # a blurred edge, not a step: one sigma inside ~0.84, one sigma outside ~0.16 (Gaussian CDF)
    assert 0.7 < profile[6] < 0.95 and 0.08 < profile[10] < 0.3


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


def test_config_edges_found_by_mutation_testing():
    """Boundaries that scripts/mutation_test.py showed untested."""
    c = np.zeros((21, 21), np.float32)
    c[10, 10] = 1.0
    # no dilation when iterations == 0, whatever the kernel (and 0 iterations is a valid config)
    hard = compute_soft_mask(c, SoftMaskConfig(kernel_size_px=5, iterations=0, sigma_px=0.0, mode='hard'))
    assert hard.sum() == 1.0
    # a 5 px ellipse grows one pixel into a plus-shaped 5x5 blob
    grown = compute_soft_mask(c, SoftMaskConfig(kernel_size_px=5, iterations=1, sigma_px=0.0, mode='hard'))
    assert grown[8:13, 8:13].sum() == grown.sum() and 13 <= grown.sum() <= 25
    for bad in (dict(sigma_px=float('nan')), dict(sigma_px=-1.0), dict(iterations=-1)):
        with pytest.raises(InputError):
            SoftMaskConfig(**bad)
    with pytest.raises(InputError):
        compute_soft_mask(np.zeros((4, 4, 1), np.float32), SoftMaskConfig())     # not (H, W)
    with pytest.raises(InputError):
        compute_soft_mask(np.zeros((0, 4), np.float32), SoftMaskConfig())        # empty


def test_reduced_resolution_blur_stays_within_a_few_percent_of_the_exact_formula():
    """The default blur runs at half resolution (SoftMaskConfig.blur_scale): checked against the exact
    formula (blur_scale=1) on two people of a 640x480 image, and against the Gaussian profile itself."""
    c = np.zeros((480, 640), np.uint8)
    cv2.ellipse(c, (250, 260), (70, 190), 0, 0, 360, 1, -1)
    cv2.rectangle(c, (470, 120), (520, 420), 1, -1)
    exact = compute_soft_mask(c, SoftMaskConfig(blur_scale=1.0))
    for scale, max_err in ((0.5, 0.05), (0.25, 0.12)):
        fast = compute_soft_mask(c, SoftMaskConfig(blur_scale=scale))
        err = np.abs(fast - exact)
        assert fast.max() == pytest.approx(1.0) and fast.min() >= 0.0
        assert err.max() < max_err and err.mean() < 2e-3, (scale, err.max(), err.mean())
    # the blurred edge still follows the Gaussian: far from everyone (> 4 sigma past the dilation) it is 0,
    # deep inside a person it is 1, and the profile falls monotonically across the silhouette edge
    fast = compute_soft_mask(c, SoftMaskConfig())
    assert fast[260, 250] == pytest.approx(1.0, abs=0.02) and fast[20, 20] < 1e-3
    row = fast[260, 250:470]                           # from the first person's centre to the second's edge gap
    edge = row[:150]
    assert np.all(np.diff(edge) <= 1e-6), 'the profile rises away from the person'
    # a narrow blur (sigma 2 px) would lose its shape at half resolution: it runs at full resolution
    narrow = SoftMaskConfig(kernel_size_px=5, iterations=1, sigma_px=2.0)
    np.testing.assert_array_equal(compute_soft_mask(c, narrow),
                                  compute_soft_mask(c, SoftMaskConfig(kernel_size_px=5, iterations=1, sigma_px=2.0,
                                                                      blur_scale=1.0)))
