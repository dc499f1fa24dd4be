"""Raw image buffers (sensor_msgs/Image layout) -> numpy arrays: the project's one image decoder.

Used by the ROS message conversion (:mod:`onlinehmr_ros.ros.convert`) and by the bag reader of
:mod:`onlinehmr_ros.core.io.sources` (rosbags messages), which carry the same fields: ``data``,
``encoding``, ``width``, ``height``, ``step`` (bytes per row, padding allowed) and ``is_bigendian``.
"""
from __future__ import annotations

import numpy as np

from onlinehmr_ros.core.common.errors import InputError

#: encoding -> (channels, dtype)
ENCODINGS = {
    'mono8': (1, np.uint8), 'rgb8': (3, np.uint8), 'bgr8': (3, np.uint8),
    'rgba8': (4, np.uint8), 'bgra8': (4, np.uint8), '32FC1': (1, np.float32),
}
#: encodings a camera image may have (they convert to RGB)
COLOUR_ENCODINGS = ('mono8', 'bgr8', 'rgb8', 'rgba8', 'bgra8')


class ImageDecodeError(InputError):
    """An image buffer that cannot be decoded (unsupported encoding, too little data)."""


def decode_image(data, encoding: str, width: int, height: int, step: int, is_bigendian: bool = False) -> np.ndarray:
    """An image buffer -> (H, W) or (H, W, C) array in the buffer's own channel order.

    Args:
        data: bytes-like (bytes, array.array, a uint8 numpy array) of at least ``step * height`` bytes.
        encoding: one of :data:`ENCODINGS`.
        width, height: pixels.
        step: bytes per row (>= width * channels * itemsize).
        is_bigendian: byte order of multi-byte pixels.
    Raises:
        ImageDecodeError: unsupported encoding, or too little data for the size.
    """
    if encoding not in ENCODINGS:
        raise ImageDecodeError(f"unsupported image encoding '{encoding}'; supported: {', '.join(ENCODINGS)}")
    channels, dtype = ENCODINGS[encoding]
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1)
    if step < row_bytes or buf.size < step * height:
        raise ImageDecodeError(f'image data too short: {width}x{height} {encoding} needs step >= {row_bytes} and '
                               f'{step * height} bytes, got step {step} and {buf.size} bytes')
    rows = buf[:step * height].astype(np.uint8, copy=False).reshape(height, step)[:, :row_bytes]
    dt = np.dtype(dtype).newbyteorder('>' if is_bigendian else '<')
    arr = np.ascontiguousarray(rows).view(dt).astype(dtype, copy=False)
    return arr.reshape(height, width) if channels == 1 else arr.reshape(height, width, channels)


def _check_colour(encoding: str) -> None:
    if encoding not in COLOUR_ENCODINGS:
        raise ImageDecodeError(f"camera image encoding '{encoding}' is not supported; publish one of "
                               f"{', '.join(COLOUR_ENCODINGS)}")


def to_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    """A decoded colour or mono image -> (H, W, 3) uint8 RGB, as the core's Frame expects.

    Raises:
        ImageDecodeError: for encodings other than :data:`COLOUR_ENCODINGS`.
    """
    _check_colour(encoding)
    if encoding == 'mono8':
        return np.repeat(array[:, :, None], 3, axis=2)
    if encoding == 'rgb8':
        return array
    if encoding == 'bgr8':
        return np.ascontiguousarray(array[:, :, ::-1])
    if encoding == 'rgba8':
        return np.ascontiguousarray(array[:, :, :3])
    return np.ascontiguousarray(array[:, :, 2::-1])  # bgra8


def decode_rgb(data, encoding: str, width: int, height: int, step: int, is_bigendian: bool = False) -> np.ndarray:
    """:func:`decode_image` then :func:`to_rgb` (the encoding is checked first)."""
    _check_colour(encoding)
    return to_rgb(decode_image(data, encoding, width, height, step, is_bigendian), encoding)
