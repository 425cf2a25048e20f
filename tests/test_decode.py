"""Decoding survives odd files; resize_and_pad keeps the aspect ratio (docs/design.md, "Augmentation")."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.data.decode import (
    decode_image,
    decode_mask,
    load_for_model,
    resize_and_pad,
)

RED = (200, 30, 30)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def red_image(mode: str = "RGB") -> Image.Image:
    array = np.zeros((20, 30, 3), np.uint8)
    array[:] = RED
    return Image.fromarray(array).convert(mode)


def test_rgb_jpeg_decodes_to_uint8_rgb():
    out = decode_image(tf.constant(encode(red_image(), "JPEG", quality=95))).numpy()
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out[10, 15], RED, atol=3)


def test_cmyk_jpeg_decodes_to_the_right_rgb_colours():
    data = encode(red_image("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = decode_image(tf.constant(data)).numpy()
    assert out.shape == (20, 30, 3)
    np.testing.assert_allclose(out[10, 15], RED, atol=6)


def test_grayscale_becomes_three_equal_channels():
    out = decode_image(tf.constant(encode(red_image("L"), "PNG"))).numpy()
    gray = np.asarray(red_image("L"))[0, 0]
    assert out.shape == (20, 30, 3)
    assert (out == gray).all()


def test_rgba_is_composited_on_white():
    array = np.zeros((10, 10, 4), np.uint8)
    array[..., :3] = 0  # black, but ...
    array[:, :5, 3] = 0  # ... fully transparent on the left
    array[:, 5:, 3] = 255  # opaque on the right
    out = decode_image(tf.constant(encode(Image.fromarray(array, "RGBA"), "PNG"))).numpy()
    assert (out[:, :5] == 255).all()
    assert (out[:, 5:] == 0).all()


def test_grayscale_with_alpha_is_composited_on_white():
    array = np.zeros((6, 6, 2), np.uint8)
    array[..., 0] = 100
    array[..., 1] = 128  # half transparent: 100 * 0.5 + 255 * 0.5
    out = decode_image(tf.constant(encode(Image.fromarray(array, "LA"), "PNG"))).numpy()
    np.testing.assert_allclose(out, 178, atol=1)


def test_png_named_jpg_is_sniffed_by_content(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(encode(red_image(), "PNG"))
    out = decode_image(tf.io.read_file(str(path))).numpy()
    assert (out == RED).all()


@pytest.mark.parametrize("data", [b"", b"not an image at all", None], ids=["empty", "garbage", "truncated"])
def test_bad_bytes_raise_invalid_argument(data):
    if data is None:
        full = encode(Image.fromarray(np.random.RandomState(0).randint(0, 255, (64, 64, 3), np.uint8)), "JPEG")
        data = full[: len(full) // 2]
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_image(tf.constant(data))


def test_resize_and_pad_keeps_aspect_and_pads_white():
    """A 2:1 (wide) black image fills a 32 px square's width and 16 central rows."""
    image = tf.zeros([20, 40, 3], tf.uint8)
    out = resize_and_pad(image, 32).numpy()
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    assert (out[:8] == 255).all() and (out[24:] == 255).all()
    assert (out[8:24] == 0).all()


def test_resize_and_pad_tall_image_pads_columns():
    image = tf.zeros([40, 10, 3], tf.uint8)
    out = resize_and_pad(image, 16).numpy()
    assert (out[:, :6] == 255).all() and (out[:, 10:] == 255).all()
    assert (out[:, 6:10] == 0).all()


def test_load_for_model_in_a_graph_gives_float_square():
    data = tf.constant(encode(red_image(), "JPEG", quality=95))
    out = tf.function(lambda b: load_for_model(b, 24))(data).numpy()
    assert out.shape == (24, 24, 3)
    assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_allclose(out[12, 12], RED, atol=4)
    assert (out[0] == 255).all()  # 20x30 -> 16x24: two white rows on top


def test_decode_mask_pads_with_zero_and_empty_string_is_empty_mask():
    mask = np.full((10, 20), 255, np.uint8)
    out = decode_mask(tf.constant(encode(Image.fromarray(mask), "PNG")), 20).numpy()
    assert out.shape == (20, 20, 1)
    assert (out[:5] == 0).all() and (out[5:15] == 1).all() and (out[15:] == 0).all()
    assert (decode_mask(tf.constant(""), 8).numpy() == 0).all()
