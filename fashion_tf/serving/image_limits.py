"""Refuse decompression bombs before the graph decodes them: image size from the header.

A served signature decodes its encoded images in the graph, and a decoder allocates
``width x height x channels`` bytes for what the header declares -- a 20000 x 20000 PNG
of zeros is a few tens of KB on the wire and 1.2 GB once decoded. So the server reads the
declared size from each image's header (a few bytes, nothing is decompressed) and refuses
images above ``--max_image_pixels`` before any decoding starts.

Headers read, for the formats ``tf.io.decode_image`` accepts:

- PNG: the IHDR chunk, which the PNG specification (RFC 2083, 4.1.1) requires first;
- JPEG: the first start-of-frame segment (SOF0..SOF15 but DHT/JPG/DAC), found by walking
  the marker segments (ITU T.81, B.1.1);
- GIF: the logical screen size (GIF89a, 18), which is what TF's decoder allocates;
- BMP: the DIB header's width and |height| (BITMAPCOREHEADER or later);
- WebP: the VP8X canvas, the VP8L header or the VP8 key-frame header (RFC 9649).

Bytes in none of these formats pass through: the graph's decoder refuses them with
"Unknown image file format", and a header too short to read is left to it too (it
cannot allocate what it cannot read either).

Two limits, both answered RESOURCE_EXHAUSTED (HTTP 429) -- the request is well formed,
it asks for more memory than the server grants: ``--max_image_pixels`` per image, and
``--max_request_pixels`` for all the images of one request together, so a batch of many
medium images (each under the first limit) cannot add up to gigabytes either.
"""
from __future__ import annotations

import struct

import grpc
import numpy as np

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096  # 16.8 MP: a 12 MP phone photo passes, bombs do not
# 67 MP in one request: 40 product photos of 1.6 MP, or four images at the per-image limit;
# about 200 MB as decoded RGB bytes.
DEFAULT_MAX_REQUEST_PIXELS = 4 * DEFAULT_MAX_IMAGE_PIXELS

_SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _png(data: bytes):
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _gif(data: bytes):
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp(data: bytes):
    if len(data) < 26:
        return None
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # BITMAPCOREHEADER: 16-bit unsigned sizes
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # negative height: rows stored top-down


def _webp(data: bytes):
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg(data: bytes):
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:  # garbage between segments: libjpeg skips to the next 0xFF, so do we
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers: no length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF_MARKERS:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def declared_size(data: bytes) -> tuple[str, tuple[int, int] | None] | None:
    """(format, (width, height) or None when the header is cut short) of encoded image
    bytes, from the header only; None when the bytes are in no format the server decodes."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG", _png(data)
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG", _jpeg(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF", _gif(data)
    if data[:2] == b"BM":
        return "BMP", _bmp(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP", _webp(data)
    return None


def is_image_input(key: str, dtype: int) -> bool:
    """Whether a signature input carries encoded images: the string inputs fashion_tf's
    exports name ``images`` (personalize's string ``item_ids`` are not images)."""
    from fashion_tf_client import messages as pb

    return dtype == pb.DT_STRING and "image" in key.lower()


def check_image_pixels(key: str, array: np.ndarray, max_pixels: int) -> int:
    """Declared pixels of all the images in ``array`` (their sum); raise RequestError
    (RESOURCE_EXHAUSTED) for the first image whose header declares more than
    ``max_pixels`` pixels (``max_pixels <= 0``: no per-image limit)."""
    from fashion_tf.serving.predictor import RequestError

    total = 0
    for index, item in enumerate(np.asarray(array, dtype=object).reshape(-1)):
        if not isinstance(item, (bytes, bytearray)):
            continue
        found = declared_size(bytes(item))  # segment jumps: a JPEG's SOF may follow 64 KB of EXIF
        if found is None or found[1] is None:
            continue
        fmt, (width, height) = found
        if 0 < max_pixels < width * height:
            raise RequestError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"input '{key}' image {index}: the {fmt} header declares {width} x {height} = {width * height} "
                f"pixels, over the limit of {max_pixels} (--max_image_pixels); send a smaller image "
                "(the model sees it resized anyway)")
        total += width * height
    return total


def check_request_pixels(total: int, images: int, max_total: int) -> None:
    """Raise RequestError (RESOURCE_EXHAUSTED) when one request's ``images`` declare
    ``total`` pixels, more than ``max_total`` (``max_total <= 0``: no limit)."""
    from fashion_tf.serving.predictor import RequestError

    if 0 < max_total < total:
        raise RequestError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the request's {images} images declare {total} pixels in all, over the limit of {max_total} "
            "per request (--max_request_pixels); send fewer images per request")
