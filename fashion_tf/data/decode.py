"""Image decoding and model-size resizing shared by every consumer (docs/design.md, "Augmentation").

Training, evaluation, the exported serving graph, ``recommend`` and ``embed`` all call
:func:`load_for_model`, so a picture gives the same pixels wherever it is fed in.

Decoding survives the file kinds real shops serve:

* grayscale (1 channel) and grayscale+alpha (2 channels) become RGB;
* RGBA is composited onto white, since catalog photographs with a transparent
  background are meant to be seen on a page, and a black background (what dropping the
  alpha channel gives for most encoders) would be a fake "dark background" signal;
* CMYK (and YCCK) JPEGs: TensorFlow's libjpeg-turbo converts them to RGB itself,
  including Adobe's inverted CMYK written by Photoshop and PIL (tested);
* a PNG, GIF, BMP or WebP named ``.jpg``: ``tf.io.decode_image`` sniffs the content,
  the extension is never trusted.

Truncated files: TensorFlow's JPEG decoder refuses them ("Premature end of JPEG data")
rather than returning a partly grey picture, because ``try_recover_truncated`` is off
in ``decode_image``. We keep it that way: a truncated product photograph is a broken
training example, and :mod:`fashion_tf.data.pipeline` skips and counts it.
"""
from __future__ import annotations

import tensorflow as tf

WHITE = 255.0


def decode_for_size(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """Like :func:`decode_image`, but JPEGs are decoded at a reduced DCT scale.

    libjpeg-turbo can decode at 1/2, 1/4 or 1/8 of full size while decoding (the
    scaled inverse DCT averages each block, i.e. an area filter), several times
    faster than a full decode. We take the largest reduction that keeps the longer
    side >= ``size``, so the final resize still only shrinks. Other formats are
    decoded fully.
    """

    def jpeg() -> tf.Tensor:
        shape = tf.io.extract_jpeg_shape(encoded)
        longer = tf.maximum(shape[0], shape[1])
        # ratio r = 2**steps in {1, 2, 4, 8}: the largest with longer / r >= size
        # (counted with three comparisons; a few ops fewer than a log2 per image).
        steps = tf.add_n([tf.cast(longer >= r * size, tf.int32) for r in (2, 4, 8)])
        branches = [lambda r=r: tf.io.decode_jpeg(encoded, channels=3, ratio=r) for r in (1, 2, 4, 8)]
        return tf.switch_case(steps, branches)

    is_jpeg = tf.equal(tf.strings.substr(encoded, 0, 3), b"\xff\xd8\xff")
    image = tf.cond(is_jpeg, jpeg, lambda: decode_image(encoded))
    image.set_shape([None, None, 3])
    return image


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """Decodes an encoded image (JPEG, PNG, GIF, BMP, WebP) to uint8 RGB ``[H, W, 3]``.

    Args:
        encoded: scalar ``tf.string`` with the file's bytes.

    Returns:
        ``uint8`` tensor ``[H, W, 3]``. Alpha is composited onto white, grayscale is
        repeated into three channels. Raises ``InvalidArgumentError`` for undecodable
        bytes (callers that must not fail prescan files; see ``image_check.check_images``).
    """
    # channels=0 keeps the alpha channel so that it can be composited onto white;
    # CMYK JPEGs still come out as 3-channel RGB (libjpeg converts them).
    image = tf.io.decode_image(encoded, channels=0, expand_animations=False, dtype=tf.uint8)
    channels = tf.shape(image)[-1]

    def gray() -> tf.Tensor:
        return tf.repeat(image[..., :1], 3, axis=-1)

    def gray_alpha() -> tf.Tensor:
        return _composite_on_white(tf.repeat(image[..., :1], 3, axis=-1), image[..., 1:2])

    def rgb() -> tf.Tensor:
        return image[..., :3]

    def rgba() -> tf.Tensor:
        return _composite_on_white(image[..., :3], image[..., 3:4])

    # channels is 1..4; switch_case index is channels - 1.
    out = tf.switch_case(tf.clip_by_value(channels - 1, 0, 3), [gray, gray_alpha, rgb, rgba])
    out.set_shape([None, None, 3])
    return out


def _composite_on_white(rgb: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    alpha = tf.cast(alpha, tf.float32) / 255.0
    mixed = tf.cast(rgb, tf.float32) * alpha + WHITE * (1.0 - alpha)
    return tf.cast(tf.round(mixed), tf.uint8)


def resize_and_pad(image: tf.Tensor, size: int, pad_value: float = WHITE) -> tf.Tensor:
    """Aspect-preserving resize so the longer side is ``size``, centred on a square.

    Args:
        image: ``[H, W, C]`` tensor of any numeric dtype (uint8 0-255 or float 0-255).
        size: side of the square output in pixels.
        pad_value: fill of the padding; white (255) for product photographs, 0 for masks.

    Returns:
        ``float32 [size, size, C]`` in the input's value range (0-255).
    """
    shape = tf.shape(image)
    height = tf.cast(shape[0], tf.float32)
    width = tf.cast(shape[1], tf.float32)
    scale = float(size) / tf.maximum(height, width)
    new_height = tf.clip_by_value(tf.cast(tf.round(height * scale), tf.int32), 1, size)
    new_width = tf.clip_by_value(tf.cast(tf.round(width * scale), tf.int32), 1, size)
    # Shrinking uses the area (box) filter: plain bilinear downscaling aliases fine
    # textures (stripes, checks) that labels depend on, and area is ~4x cheaper than
    # antialiased bilinear. Enlarging (small images) uses bilinear.
    target = tf.stack([new_height, new_width])
    image = tf.cast(image, tf.float32)
    resized = tf.cond(
        scale < 1.0,
        lambda: tf.image.resize(image, target, method="area"),
        lambda: tf.image.resize(image, target, method="bilinear"),
    )
    resized = tf.clip_by_value(resized, 0.0, 255.0)
    top = (size - new_height) // 2
    left = (size - new_width) // 2
    paddings = [[top, size - new_height - top], [left, size - new_width - left], [0, 0]]
    padded = tf.pad(resized, paddings, constant_values=pad_value)
    channels = image.shape[-1]
    padded.set_shape([size, size, channels])
    return padded


def load_for_model(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """Decode + :func:`resize_and_pad`: encoded bytes -> ``float32 [size, size, 3]`` 0-255."""
    return resize_and_pad(decode_for_size(encoded, size), size)


def fit_uint8(image: tf.Tensor, size: int, pad_value: float = WHITE) -> tf.Tensor:
    """:func:`resize_and_pad` for the training pipeline: ``uint8`` in, ``uint8 [size, size, C]`` out.

    An image that is already ``size x size`` passes through untouched (resizing it to
    its own size would be an identity, but still a float round trip over every pixel);
    otherwise it is resized and padded, then rounded back to uint8, the same pixels
    :func:`load_for_model` gives up to that rounding.
    """
    shape = tf.shape(image)
    channels = image.shape[-1]
    fitted = tf.cond(
        (shape[0] == size) & (shape[1] == size),
        lambda: image,
        lambda: tf.cast(tf.round(resize_and_pad(image, size, pad_value)), tf.uint8),
    )
    fitted.set_shape([size, size, channels])
    return fitted


def load_uint8_for_model(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """Encoded bytes -> ``uint8 [size, size, 3]``: :func:`load_for_model` kept in uint8."""
    return fit_uint8(decode_for_size(encoded, size), size)


def decode_mask_uint8(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """:func:`decode_mask` kept in ``uint8 [size, size, 1]`` 0-255 (training pipeline)."""

    def read() -> tf.Tensor:
        mask = tf.io.decode_image(encoded, channels=1, expand_animations=False)
        return fit_uint8(mask, size, pad_value=0.0)

    mask = tf.cond(tf.strings.length(encoded) > 0, read, lambda: tf.zeros([size, size, 1], tf.uint8))
    mask.set_shape([size, size, 1])
    return mask


def decode_mask(encoded: tf.Tensor, size: int) -> tf.Tensor:
    """Decodes a cached foreground mask (PNG, 0/255) to ``float32 [size, size, 1]`` in 0-1.

    Resized and padded exactly like its image (padding is background, 0), so mask and
    image stay aligned pixel for pixel. An empty string gives an all-zero mask, which
    the background augmentation treats as "no foreground known: leave the image alone".
    """

    def read() -> tf.Tensor:
        mask = tf.io.decode_image(encoded, channels=1, expand_animations=False)
        return resize_and_pad(mask, size, pad_value=0.0) / 255.0

    def empty() -> tf.Tensor:
        return tf.zeros([size, size, 1], tf.float32)

    mask = tf.cond(tf.strings.length(encoded) > 0, read, empty)
    mask.set_shape([size, size, 1])
    return mask
