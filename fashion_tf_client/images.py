"""Images for the model server: encoded bytes as they are, numpy pixels as PNG.

The served signatures take encoded JPEG/PNG bytes and decode them in the graph, so a
client never resizes anything. Pixel arrays are written as PNG with the standard
library's zlib (PNG, RFC 2083: signature, IHDR, one zlib-compressed IDAT of
filter-type-0 scanlines, IEND): lossless, so the server sees exactly these pixels, and
no image library is needed on the client side.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: gray, RGB, RGBA


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 [H, W] (gray), [H, W, 1], [H, W, 3] (RGB) or [H, W, 4] (RGBA) -> PNG bytes."""
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (1, 3, 4)):
        raise ValueError(f"an image array must be uint8 [H, W], [H, W, 3] or [H, W, 4], got {pixels.dtype} "
                         f"{list(pixels.shape)}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    if height == 0 or width == 0:
        raise ValueError(f"an image array must not be empty, got {list(pixels.shape)}")
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    # Each scanline starts with its filter type; 0 = none.
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * channels)], axis=1)
    return (_PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + _chunk(b"IEND", b""))


def encode_image(image) -> bytes:
    """bytes (JPEG/PNG) as they are; a path -> its bytes; an RGB/gray uint8 array -> PNG."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, Path)):
        return Path(image).read_bytes()
    if isinstance(image, np.ndarray):
        return png_bytes(image)
    raise TypeError(f"an image is bytes, a file path or a uint8 numpy array, got {type(image).__name__}")
