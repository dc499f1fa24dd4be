"""Raw image buffers (sensor_msgs/Image layout) -> numpy arrays: the project's one image decoder;
and the codec of compressed images (sensor_msgs/CompressedImage layout: ``format`` + ``data``).

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


# ----------------------------------------------------------------------------
# Compressed images (image_transport's "compressed" transport)
# ----------------------------------------------------------------------------
#: codecs of image_transport's compressed plugin that :func:`encode_compressed` writes
COMPRESSED_CODECS = ('jpeg', 'png')
#: encodings :func:`encode_compressed` takes (colour goes into the codec as bgr8, mono8 as mono8)
COMPRESSIBLE_ENCODINGS = ('mono8', 'rgb8', 'bgr8')


def encode_compressed(array: np.ndarray, encoding: str, codec: str = 'jpeg', jpeg_quality: int = 80,
                      png_level: int = 3) -> tuple[str, bytes]:
    """(H, W[, 3]) uint8 array -> (``format``, ``data``) of a sensor_msgs/CompressedImage.

    ``format`` is what compressed_image_transport writes (ros-perception/image_transport_plugins,
    compressed_publisher.cpp): ``"<encoding>; jpeg compressed bgr8"`` for colour, ``"mono8; jpeg
    compressed mono8"``, ``"<encoding>; png compressed bgr8"``, ``"mono8; png compressed "``; colour
    goes into the codec in BGR order, so image_transport subscribers (and cv2.imdecode) read it back.

    Raises:
        ImageDecodeError: an encoding other than mono8/rgb8/bgr8, a codec other than jpeg/png, or
            an array that does not fit the encoding.
    """
    if encoding not in COMPRESSIBLE_ENCODINGS:
        raise ImageDecodeError(f"cannot compress encoding '{encoding}'; use one of {', '.join(COMPRESSIBLE_ENCODINGS)}")
    if codec not in COMPRESSED_CODECS:
        raise ImageDecodeError(f"unknown compression codec '{codec}'; use one of {', '.join(COMPRESSED_CODECS)}")
    a = np.asarray(array)
    colour = encoding != 'mono8'
    if a.dtype != np.uint8 or a.ndim != (3 if colour else 2) or (colour and a.shape[2] != 3):
        raise ImageDecodeError(f'array of shape {a.shape} and dtype {a.dtype} does not fit encoding {encoding}')
    import cv2
    bgr = np.ascontiguousarray(a[:, :, ::-1] if encoding == 'rgb8' else a)
    if codec == 'jpeg':
        ok, buf = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        target = 'bgr8' if colour else 'mono8'
    else:
        ok, buf = cv2.imencode('.png', bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
        target = 'bgr8' if colour else ''
    if not ok:
        raise ImageDecodeError(f'{codec} encoding of a {a.shape} image failed')
    return f'{encoding}; {codec} compressed {target}', buf.tobytes()


def unit_float_to_mono8(array: np.ndarray) -> np.ndarray:
    """(H, W) float image with values in [0, 1] (a soft mask, 32FC1) -> (H, W) uint8 mono8, 0..255.

    Rounds to the nearest of 256 levels (error <= 1/510) and clips values outside [0, 1];
    NaN becomes 0.

    Raises:
        ImageDecodeError: not a 2-D array.
    """
    a = np.asarray(array, np.float32)
    if a.ndim != 2:
        raise ImageDecodeError(f'a unit-float image must be (H, W); got shape {a.shape}')
    return np.rint(np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)


def decode_compressed_rgb(data, fmt: str) -> np.ndarray:
    """``data`` and ``format`` (``fmt``) of a CompressedImage (JPEG or PNG) -> (H, W, 3) uint8 RGB.

    The part of ``format`` before ';' is the original encoding; "compressed bgr..." (or an old
    format string without ';') means the codec holds BGR, otherwise RGB, as
    compressed_image_transport's subscriber decides.

    Raises:
        ImageDecodeError: data that does not decode, or not an 8-bit 1- or 3-channel image.
    """
    import cv2
    buf = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else data.tobytes(), np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageDecodeError(f"compressed image (format '{fmt}', {buf.size} bytes) does not decode")
    if img.dtype != np.uint8:
        raise ImageDecodeError(f"compressed image (format '{fmt}') decodes to {img.dtype}; only 8-bit images "
                               'are supported')
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[:, :, :3]
    if img.shape[2] != 3:
        raise ImageDecodeError(f'compressed image decodes to {img.shape[2]} channels')
    _, _, tail = fmt.partition(';')
    codec_holds_bgr = not tail or 'compressed bgr' in tail
    return np.ascontiguousarray(img[:, :, ::-1]) if codec_holds_bgr else img
