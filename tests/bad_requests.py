"""Hostile and malformed inputs for the model server, shared by the tests and
benchmarks/reliability.py: small decompression bombs (header-declared sizes far above
what is sent) and a Hypothesis strategy over malformed Predict requests."""
from __future__ import annotations

import struct
import zlib

import numpy as np
from hypothesis import strategies as st

from fashion_tf_client import messages as pb
from fashion_tf_client.images import _chunk
from fashion_tf_client.tensors import make_tensor_proto

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid grayscale PNG of zeros: a few tens of KB that decode to width x height bytes
    (20000 x 20000: 49 KB on the wire, 400 MB decoded as gray, 1.2 GB as RGB)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    total = (width + 1) * height  # per row: filter byte 0 + one gray byte per pixel, all zeros
    # Deflate 1 MiB of zeros once, ended by a full flush (byte-aligned, no back-references
    # across it), and repeat those bytes: a valid stream without compressing 400 MB.
    step = 1 << 20
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = block.compress(bytes(step)) + block.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    rest = tail.compress(bytes(total % step)) + tail.flush()
    adler = ((total % 65521) << 16) | 1  # Adler-32 of zeros: a = 1, b = length mod 65521
    data = b"\x78\xda" + chunk * (total // step) + rest + struct.pack(">I", adler)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int, seed: int = 0) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to declare width x height."""
    import cv2

    pixels = np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    data = bytearray(cv2.imencode(".jpg", pixels)[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_declaring(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"\x3b"


def bmp_declaring(width: int, height: int) -> bytes:
    return b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, width, -height) + b"\x00" * 28


def webp_declaring(width: int, height: int) -> bytes:
    chunk = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (width - 1).to_bytes(3, "little") \
        + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def tensor(value, dtype=None):
    return make_tensor_proto(np.asarray(value, dtype=dtype) if dtype is not None else value)


def malformed_requests(model: str, good_image: bytes, catalog_size: int, max_request_pixels: int):
    """Hypothesis strategy of (what, PredictRequest, expected status names) for requests a
    server must refuse (an empty batch may also be answered with zero rows);
    ``max_request_pixels``: the server's --max_request_pixels, which batches of medium
    images exceed together."""
    images = lambda batch: tensor(np.array(batch, dtype=object))

    def request(inputs, signature="serving_default", name=model, version=None):
        message = pb.PredictRequest()
        message.model_spec.name = name
        message.model_spec.signature_name = signature
        if version is not None:
            message.model_spec.version.value = version
        for key, value in inputs.items():
            message.inputs[key].CopyFrom(value)
        return message

    invalid, not_found, exhausted = ("INVALID_ARGUMENT",), ("NOT_FOUND",), ("RESOURCE_EXHAUSTED",)
    junk = st.binary(min_size=0, max_size=300)
    # Cut inside the image data (the last 12 bytes are the IEND chunk): never decodable.
    truncated = st.integers(1, max(1, len(good_image) - 13)).map(lambda n: good_image[:n])
    bomb_side = st.integers(5000, 60000)
    bombs = st.one_of(
        bomb_side.map(lambda s: jpeg_declaring(s, s)), bomb_side.map(lambda s: gif_declaring(s, s)),
        bomb_side.map(lambda s: bmp_declaring(s, s)), st.integers(5000, 16384).map(lambda s: webp_declaring(s, s)),
        st.just(png_bomb(6000, 6000)),
    )
    # Medium images, each under the per-image limit (4096 x 4096), as many as it takes to
    # go over the request's limit together.
    medium = st.integers(1500, 4096).map(
        lambda side: [jpeg_declaring(side, side, i) for i in range(max_request_pixels // (side * side) + 1)])
    return st.one_of(
        junk.map(lambda b: ("random bytes", request({"images": images([b])}), invalid)),
        truncated.map(lambda b: ("truncated image", request({"images": images([good_image, b])}), invalid)),
        bombs.map(lambda b: ("bomb header", request({"images": images([b])}), exhausted)),
        bombs.map(lambda b: ("bomb header (similar)",
                             request({"images": images([b]), "k": tensor(np.int32(1))}, "similar"), exhausted)),
        medium.map(lambda batch: ("medium images over the request's pixels", request({"images": images(batch)}),
                                  exhausted)),
        st.sampled_from([np.float32, np.int64, np.uint8]).map(
            lambda d: ("wrong dtype", request({"images": tensor(np.zeros(2, d))}), invalid)),
        st.integers(2, 4).map(lambda r: ("wrong rank",
                                         request({"images": images(np.full((1,) * r, good_image, dtype=object))}),
                                         invalid)),
        st.integers(-(2**31), 0).map(lambda k: ("k <= 0", request({"images": images([good_image]),
                                                                   "k": tensor(np.int32(k))}, "similar"), invalid)),
        st.integers(catalog_size + 1, 2**31 - 1).map(
            lambda k: ("k > catalog", request({"images": images([good_image]), "k": tensor(np.int32(k))}, "similar"),
                       invalid)),
        st.just(("k of wrong rank", request({"images": images([good_image]), "k": tensor(np.int32([3, 4]))},
                                            "similar"), invalid)),
        st.text(min_size=1, max_size=20).filter(lambda s: s not in ("serving_default", "similar", "personalize")).map(
            lambda s: ("unknown signature", request({"images": images([good_image])}, s), invalid)),
        st.text(min_size=1, max_size=20).filter(lambda s: s != model).map(
            lambda s: ("unknown model", request({"images": images([good_image])}, name=s), not_found)),
        st.sampled_from(["../" + model, "/" + model, model + "/1", ".."]).map(
            lambda s: ("model path", request({"images": images([good_image])}, name=s), not_found)),
        st.integers(2, 2**62).map(lambda v: ("unknown version",
                                             request({"images": images([good_image])}, version=v), not_found)),
        st.just(("missing input", request({}), invalid)),
        # Zero rows: answered with zero rows, or refused (the batching queue refuses it).
        st.just(("empty batch", request({"images": images(np.zeros(0, dtype=object))}), ("OK", "INVALID_ARGUMENT"))),
    )
