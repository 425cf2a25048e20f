"""The training augmentation of a batch in one warp: geometry + background + colour.

:func:`fashion_tf.data.augment.standard_augment` followed by
:func:`fashion_tf.data.background.background_augment` warps every image twice. Both
warps are affine, so :func:`augment_batch` composes them into one matrix per image
(output pixel -> geometric-augmented pixel -> catalog pixel) and warps image and mask
once; then it blends the background crops and applies the HSL jitter. Same ranges,
same order (geometry, then paste, then colour; see ``pipeline.py`` for why).

The pasted item's bounding box after the geometric transform is taken from the four
transformed corners of the mask's box, so a rotated item comes out at most a few
per cent smaller than the drawn scale (the box of a rotated box is larger).

``interpolation="nearest"`` (the pipeline's training default) packs the inverted RGB
and the mask as four bytes of one int32 pixel and warps that single channel with
nearest-neighbour sampling: TensorFlow's projective warp recomputes the sampling per
channel, so this is ~5x cheaper than a 4-channel bilinear warp, and it is what
torchvision's RandomAffine does by default. ``"bilinear"`` is the smoother, slower
alternative.
"""
from __future__ import annotations

import tensorflow as tf

from fashion_tf.data.augment import (
    AugmentationRanges,
    color_jitter,
    get_ranges,
    random_affine_transforms,
)
from fashion_tf.data.background import _mask_boxes


def _to_matrix(transforms: tf.Tensor) -> tf.Tensor:
    """``[B, 8]`` projective parameters -> ``[B, 3, 3]``."""
    return tf.reshape(tf.concat([transforms, tf.ones_like(transforms[:, :1])], axis=1), [-1, 3, 3])


# Fill of the packed warp: bytes (255, 255, 255, 0) = white pixel, empty mask.
_PACKED_WHITE = float(255 | 255 << 8 | 255 << 16)


def _pack(images: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
    """RGB and mask as the 4 bytes of one int32 pixel ``[B, H, W]`` (a free bitcast)."""
    rgba = tf.concat([_as_uint8(images), _as_uint8(masks, scale=255.0)], axis=-1)
    return tf.bitcast(rgba, tf.int32)


def _unpack(packed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    rgba = tf.bitcast(packed, tf.uint8)  # [B, H, W, 4]
    return rgba[..., :3], rgba[..., 3:]


def _as_uint8(x: tf.Tensor, scale: float = 1.0) -> tf.Tensor:
    if x.dtype == tf.uint8:
        return x
    return tf.cast(tf.round(tf.clip_by_value(x * scale, 0.0, 255.0)), tf.uint8)


def augment_batch(
    images: tf.Tensor,
    masks: tf.Tensor,
    seed: tf.Tensor,
    *,
    strength: str | AugmentationRanges | None = "standard",
    backgrounds: tf.Tensor | None = None,
    p: float = 0.5,
    scale_range: tuple[float, float] = (0.4, 0.9),
    crop_range: tuple[float, float] = (0.5, 1.0),
    interpolation: str = "nearest",
) -> tf.Tensor:
    """Standard + background augmentation of ``[B, S, S, 3]`` images (0-255) in one warp.

    Args:
        images: ``[B, S, S, 3]`` float 0-255 or uint8, static S.
        masks: ``[B, S, S, 1]`` foreground masks, float 0-1 or uint8 0-255 (all zero:
            never pasted). uint8 inputs make the nearest warp's packing free.
        seed: stateless seed ``[2]``.
        strength: standard-augmentation ranges ("standard", "heavy") or None for none.
        backgrounds: ``[N, Hb, Wb, 3]`` background pool, or None for no pasting.
        p, scale_range, crop_range: as in ``background_augment``.
        interpolation: "nearest" (packed, fast) or "bilinear".

    Returns:
        float32 ``[B, S, S, 3]`` in 0-255.
    """
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation {interpolation!r} unknown; expected 'nearest' or 'bilinear'")
    size_y, size_x = images.shape[1], images.shape[2]
    if size_y is None or size_x is None:
        raise ValueError(f"augment_batch needs a static image size, got shape {images.shape}")
    seeds = tf.random.experimental.stateless_split(seed, 10)
    batch = tf.shape(images)[0]
    ranges = None if strength is None else get_ranges(strength)
    paste = backgrounds is not None and p > 0

    def uniform(i: int, low: float = 0.0, high: float = 1.0) -> tf.Tensor:
        return tf.random.stateless_uniform([batch], seed=seeds[i], minval=low, maxval=high)

    # Work in continuous coordinates (pixel i spans [i, i + 1)); the warp op uses pixel
    # indices, hence the +-0.5 conjugation at the end.
    half = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    half_inv = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    eye = tf.eye(3, batch_shape=[batch])
    if ranges is not None:
        geometric_inv = half[None] @ _to_matrix(random_affine_transforms(seeds[0], batch, size_y, size_x, ranges)) @ half_inv[None]
    else:
        geometric_inv = eye
    transform = geometric_inv
    if paste:
        y0, x0, y1, x1, has_foreground = _mask_boxes(_as_float(masks, 1 / 255.0))
        corners = tf.stack(
            [tf.stack([x, y, tf.ones_like(x)], axis=1) for x in (x0, x1) for y in (y0, y1)], axis=2
        )  # [B, 3, 4] continuous (x, y, 1)
        moved = tf.linalg.inv(geometric_inv) @ tf.cast(corners, tf.float32)
        bx0, by0 = tf.reduce_min(moved[:, 0], axis=1), tf.reduce_min(moved[:, 1], axis=1)
        box_w = tf.reduce_max(moved[:, 0], axis=1) - bx0
        box_h = tf.reduce_max(moved[:, 1], axis=1) - by0
        k = uniform(1, *scale_range) * float(max(size_y, size_x)) / tf.maximum(tf.maximum(box_w, box_h), 1.0)
        out_left = uniform(2) * (size_x - box_w * k)
        out_top = uniform(3) * (size_y - box_h * k)
        zeros, ones, inv = tf.zeros([batch]), tf.ones([batch]), 1.0 / k
        paste_inv = tf.reshape(
            tf.stack([inv, zeros, bx0 - out_left * inv, zeros, inv, by0 - out_top * inv, zeros, zeros, ones], axis=1),
            [-1, 3, 3],
        )
        pasted = (uniform(4) < p) & has_foreground
        transform = tf.where(pasted[:, None, None], geometric_inv @ paste_inv, geometric_inv)

    if ranges is not None or paste:
        index_transform = half_inv[None] @ transform @ half[None]
        params = tf.reshape(index_transform, [-1, 9])[:, :8]
        if interpolation == "nearest":
            source, fill = _pack(images, masks)[..., None], _PACKED_WHITE
        else:
            source, fill = tf.concat([255.0 - _as_float(images), _as_float(masks, 1 / 255.0)], axis=-1), 0.0
        warped = tf.raw_ops.ImageProjectiveTransformV3(
            images=source, transforms=params, output_shape=tf.constant([size_y, size_x]),
            fill_value=tf.constant(fill, tf.float32), interpolation=interpolation.upper(), fill_mode="CONSTANT",
        )
        if interpolation == "nearest":
            images, masks = _unpack(warped[..., 0])
        else:
            images, masks = 255.0 - warped[..., :3], warped[..., 3:]
        images.set_shape([None, size_y, size_x, 3])

    if paste:
        pool_size = tf.shape(backgrounds)[0]
        index = tf.random.stateless_uniform([batch], seed=seeds[5], minval=0, maxval=pool_size, dtype=tf.int32)
        side = uniform(6, *crop_range)
        top, left = uniform(7) * (1.0 - side), uniform(8) * (1.0 - side)
        boxes = tf.stack([top, left, top + side, left + side], axis=1)
        scene = tf.image.crop_and_resize(backgrounds, boxes, index, [size_y, size_x])
        alpha = tf.where(pasted[:, None, None, None], _as_float(masks, 1 / 255.0), 1.0)
        images = scene + alpha * (_as_float(images) - scene)

    images = _as_float(images)
    if ranges is not None:
        images = color_jitter(images, seeds[9], ranges)
    return images


def _as_float(x: tf.Tensor, scale_uint8: float = 1.0) -> tf.Tensor:
    """uint8 (0-255) -> float32 times ``scale_uint8``; float tensors pass unchanged."""
    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) * scale_uint8 if scale_uint8 != 1.0 else tf.cast(x, tf.float32)
    return x
