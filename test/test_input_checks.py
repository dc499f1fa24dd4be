"""Decisions at a node's door (core.common.input_checks) and what the stamp joins do with a clock restart."""
import numpy as np
import pytest

from onlinehmr_ros.core.common.datatypes import CameraIntrinsics, Frame
from onlinehmr_ros.core.common.errors import InputError
from onlinehmr_ros.core.common.input_checks import (ImageStreamCheck, StampOrder, check_image_size,
                                                    intrinsics_from_calibration)
from onlinehmr_ros.core.fusion.sync import ImageJoin, StampPairer

S = 1_000_000_000


def test_too_small_images_are_refused_with_the_size():
    for w, h in ((1, 480), (640, 0), (15, 100)):
        v = check_image_size(w, h)
        assert not v.accept and v.kind == 'image_too_small' and f'{w}x{h}' in v.reason
    assert check_image_size(16, 16).accept and check_image_size(640, 480).kind == ''


def test_calibration_with_nan_zero_focal_or_zero_size_is_refused():
    K = [500.0, 0, 320, 0, 500, 240, 0, 0, 1]
    intr = intrinsics_from_calibration(K, 640, 480)
    np.testing.assert_array_equal(intr.K, np.reshape(K, (3, 3)))
    with pytest.raises(InputError, match='NaN or infinite'):
        intrinsics_from_calibration([np.nan] + K[1:], 640, 480)
    with pytest.raises(InputError, match='no focal length'):
        intrinsics_from_calibration([0.0] * 9, 640, 480)
    with pytest.raises(InputError, match='size is 0x480'):
        intrinsics_from_calibration(K, 0, 480)


def test_stamp_order_refuses_duplicates_and_late_messages_and_takes_a_restart():
    order = StampOrder('image', restart_back_s=1.0)
    kinds = [(v.accept, v.kind) for v in (order.check(s) for s in
             (10 * S, 10 * S + 100, 10 * S + 100, 10 * S + 50, 10 * S + 200, 9 * S + 300, 2 * S, 2 * S + 10,
              2 * S + 10))]
    assert kinds == [(True, ''), (True, ''), (False, 'duplicate_stamp'), (False, 'out_of_order_stamp'),
                     (True, ''), (False, 'out_of_order_stamp'),          # < 1 s back: late, not a restart
                     (True, 'stamp_jump_back'), (True, ''), (False, 'duplicate_stamp')]
    assert order.newest_ns == 2 * S + 10
    # a loop shorter than restart_back_s: the third late stamp in a row is taken as the restart
    short = StampOrder('image', restart_back_s=1.0, restart_after_late=3)
    stamps = [k * S // 10 for k in range(5)] * 2                         # a 0.5 s clip played twice
    assert [(v.accept, v.kind) for v in map(short.check, stamps)][5:] == [
        (False, 'out_of_order_stamp'), (False, 'out_of_order_stamp'), (True, 'stamp_jump_back'), (True, ''), (True, '')]


def test_image_stream_check_reports_a_resolution_change_once_and_keeps_size_on_refusals():
    chk = ImageStreamCheck()
    assert chk.check(1, 640, 480).kind == ''
    assert not chk.check(2, 1, 480).accept                                  # too small: size unchanged
    assert not chk.check(1, 320, 240).accept                                # duplicate: size unchanged
    v = chk.check(3, 320, 240)
    assert v.accept and v.kind == 'resolution_change' and '640x480 to 320x240' in v.reason
    assert chk.check(4, 320, 240).kind == ''
    assert chk.check(None, 320, 240).accept                                 # order checked elsewhere


def test_stamp_pairer_keeps_pairing_after_both_streams_loop():
    """A 3 s bag played twice. Every pair of the second pass is made (before: the second pass was dropped until
    its stamps came within max_wait of the first pass's newest one - 25 of its 30 pairs)."""
    p = StampPairer(max_wait_ns=S // 2, max_queue=64)
    pairs = []
    for loop in range(2):
        for k in range(30):
            s = 10 * S + k * S // 10
            pairs += p.add_left(s, ('humans', loop, k))
            pairs += p.add_right(s, ('pose', loop, k))
    assert len(pairs) == 60 and p.stats.clock_restarts == 1
    assert [a[2] for _, a, _ in pairs[30:]] == list(range(30)) and all(a[1] == 1 for _, a, _ in pairs[30:])


def test_stamp_pairer_restarts_only_when_both_streams_went_back():
    p = StampPairer(max_wait_ns=S // 2)
    for k in range(5):                                                  # both at 20 s
        p.add_left(20 * S + k, k)
        p.add_right(20 * S + k, k)
    assert p.add_left(20 * S + S // 10, 'waits') == []                 # its pose is late
    assert p.add_right(5 * S, 'pose after the loop') == []              # the pose stream looped, humans not yet
    assert p.stats.clock_restarts == 0 and p.pending == (1, 1)         # nothing dropped meanwhile
    dropped = p.stats.dropped_left
    assert p.add_left(5 * S, 'humans after the loop') == [(5 * S, 'humans after the loop', 'pose after the loop')]
    assert p.stats.clock_restarts == 1 and p.stats.dropped_left == dropped + 1   # the old timeline's item
    assert p.pending == (0, 0)
    # a late item of one stream (within max_wait) is not a restart
    p.add_left(5 * S + S // 10, 'a')
    p.add_left(5 * S + S // 20, 'late')
    assert p.stats.clock_restarts == 1


def test_image_join_survives_a_bag_loop():
    j = ImageJoin(max_wait_ns=S // 2, use_mask=True, use_humans=True)
    done = []
    for loop in range(2):
        for k in range(6):
            s = 30 * S + k * S // 10
            done += j.add_image(s, f'img{loop}{k}')
            done += j.add_mask(s, 'm')
            done += j.add_humans(s, 'h')
    assert [d[1] for d in done] == [f'img{loop}{k}' for loop in range(2) for k in range(6)]
    assert all(d[3] == 'h' for d in done)


def test_slam_restarts_its_initialisation_on_a_resolution_change():
    from onlinehmr_ros.core.slam.odometry import MonocularSlam
    rng = np.random.default_rng(0)
    slam = MonocularSlam()

    def frame(w, h, i):
        img = (rng.random((h, w)) > 0.5).astype(np.uint8) * 255
        rgb = np.repeat(img[:, :, None], 3, axis=2)
        return Frame(rgb, i, CameraIntrinsics.from_fov(w, h, 60.0), i)

    r0 = slam.process(frame(320, 240, 0))
    assert r0.incidents == () and slam._init_ref is not None
    r1 = slam.process(frame(160, 120, 1))
    assert [k for k, _ in r1.incidents] == ['slam_restart_resolution_change']
    assert '320x240 to 160x120' in r1.incidents[0][1]
    assert r1.T_map_cam is None and r1.segment == 0                  # no map yet: initialisation restarts
    assert slam._init_ref is None or slam._init_ref[1].keypoints_px[:, 0].max() < 160
    assert slam.process(frame(160, 120, 2)).incidents == ()


def test_a_soft_mask_that_does_not_fit_its_image_is_not_used():
    from onlinehmr_ros.core.common.input_checks import check_soft_mask
    assert check_soft_mask(np.zeros((48, 64), np.float32), 64, 48).accept
    for mask, why in ((np.zeros((24, 32), np.float32), '32x24 but the image is 64x48'),
                      (np.full((48, 64), np.nan, np.float32), 'NaN'), (None, 'missing')):
        v = check_soft_mask(mask, 64, 48)
        assert not v.accept and v.kind == 'mask_unusable' and why in v.reason and 'without a mask' in v.reason
    assert 'too short' in check_soft_mask(None, 64, 48, 'image data too short').reason
