"""The one image decoder/encoder (core/io/images.py): wrong arrays are refused, data survives a round trip."""
import numpy as np
import pytest

from onlinehmr_ros.core.io.images import (ImageDecodeError, decode_compressed_rgb, decode_rgb, encode_compressed,
                                          unit_float_to_mono8)


@pytest.mark.parametrize('array, encoding', [
    (np.zeros((4, 5, 3), np.float32), 'rgb8'),      # wrong dtype
    (np.zeros((4, 5), np.uint8), 'rgb8'),           # colour encoding, grey array
    (np.zeros((4, 5, 3), np.uint8), 'mono8'),       # grey encoding, colour array
    (np.zeros((4, 5, 4), np.uint8), 'bgr8'),        # four channels
])
def test_encode_refuses_arrays_that_do_not_fit(array, encoding):
    with pytest.raises(ImageDecodeError):
        encode_compressed(array, encoding)


def test_png_round_trip_is_exact_and_keeps_rgb_order():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    fmt, data = encode_compressed(rgb, 'rgb8', 'png')
    assert fmt == 'rgb8; png compressed bgr8'
    np.testing.assert_array_equal(decode_compressed_rgb(data, fmt), rgb)
    raw = decode_rgb(rgb[:, :, ::-1].tobytes(), 'bgr8', 7, 6, 21)
    np.testing.assert_array_equal(raw, rgb)


def test_unit_float_to_mono8():
    m = np.array([[0.0, 0.5, 1.0], [np.nan, -3.0, 7.0]], np.float32)
    np.testing.assert_array_equal(unit_float_to_mono8(m), [[0, 128, 255], [0, 0, 255]])
    with pytest.raises(ImageDecodeError):
        unit_float_to_mono8(np.zeros((2, 2, 1)))
