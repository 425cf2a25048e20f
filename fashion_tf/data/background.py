"""Background augmentation, the paper's main contribution (paper sec. 3.1, docs/design.md, "Augmentation").

Catalog photographs show an item on a plain (mostly white) background; street queries
show it in front of everything else. With probability ``p`` per image per epoch the item
is cut out with its cached foreground mask, cropped to the mask's bounding box, scaled
so that its longer side is ``scale * image_size`` (scale drawn from ``scale_range``),
and pasted at a random position onto a random square crop of a random photograph from
the background pool. Everything is TensorFlow ops inside the tf.data graph, vectorised
over a batch: one ``ImageProjectiveTransformV3`` call places every item and one
``crop_and_resize`` call cuts every background crop.

The background pool is a ``uint8 [N, size, size, 3]`` tensor decoded once by
:func:`load_backgrounds`. Its "complexity" is controlled there: which photographs
(``fashion_tf.data.photos``), and an optional Gaussian blur (a blurred background is an
easier, out-of-focus street scene), plus the scale range of the pasted item.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)


def load_backgrounds(files: Sequence[str], size: int = 256, blur_sigma: float = 0.0) -> np.ndarray:
    """Decodes background photographs once into a ``uint8 [N, size, size, 3]`` RGB pool.

    Each photo is resized so its shorter side is ``size`` and centre-cropped to a square;
    the augmentation later takes random sub-crops of it. Unreadable files are skipped
    with a warning.

    Args:
        files: image paths (JPEG, PNG, ...).
        size: side of each pooled square; keep it >= 2x the model input so that the
            smallest random crops (half the side) are not upsampled.
        blur_sigma: Gaussian blur in pixels of the pool (0 = sharp); higher is easier.

    Raises:
        ValueError: when no file could be read.
    """
    pool = []
    for path in files:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            logger.warning("background %s: unreadable, skipped", path)
            continue
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        height, width = image.shape[:2]
        scale = size / min(height, width)
        new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
        image = cv2.resize(image, new_size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        top = (image.shape[0] - size) // 2
        left = (image.shape[1] - size) // 2
        image = image[top : top + size, left : left + size]
        if blur_sigma > 0:
            image = cv2.GaussianBlur(image, (0, 0), blur_sigma)
        pool.append(image)
    if not pool:
        raise ValueError(f"no readable background image among {len(files)} files (first: {list(files)[:3]})")
    return np.stack(pool).astype(np.uint8)


def _mask_boxes(masks: tf.Tensor, threshold: float = 0.5) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Bounding boxes of ``[B, H, W, 1]`` masks: (y0, x0, y1, x1) exclusive ends, has_fg.

    ``threshold``: foreground is ``mask > threshold`` (0.5 for 0-1 masks, 127 for uint8).
    """
    foreground = masks[..., 0] > tf.constant(threshold, masks.dtype)
    rows = tf.reduce_any(foreground, axis=2)  # [B, H]
    cols = tf.reduce_any(foreground, axis=1)  # [B, W]
    height = tf.shape(rows)[1]
    width = tf.shape(cols)[1]
    y0 = tf.argmax(tf.cast(rows, tf.int32), axis=1, output_type=tf.int32)
    y1 = height - tf.argmax(tf.cast(rows[:, ::-1], tf.int32), axis=1, output_type=tf.int32)
    x0 = tf.argmax(tf.cast(cols, tf.int32), axis=1, output_type=tf.int32)
    x1 = width - tf.argmax(tf.cast(cols[:, ::-1], tf.int32), axis=1, output_type=tf.int32)
    return y0, x0, y1, x1, tf.reduce_any(rows, axis=1)


def background_augment(
    image: tf.Tensor,
    mask: tf.Tensor,
    backgrounds: tf.Tensor,
    p: float = 0.5,
    scale_range: tuple[float, float] = (0.4, 0.9),
    seed: tf.Tensor | None = None,
    crop_range: tuple[float, float] = (0.5, 1.0),
) -> tuple[tf.Tensor, tf.Tensor]:
    """Pastes the masked item onto a random background crop with probability ``p``.

    Args:
        image: float ``[H, W, 3]`` or ``[B, H, W, 3]`` in 0-255.
        mask: float ``[..., H, W, 1]`` foreground mask in 0-1 (cached masks / 255).
            Images whose mask is empty are left unchanged (no foreground known).
        backgrounds: ``[N, Hb, Wb, 3]`` pool (uint8 or float 0-255), see
            :func:`load_backgrounds`.
        p: probability per image of being pasted onto a background.
        scale_range: the item's longer side in the result, as a fraction of the image side.
        seed: stateless seed ``[2]``; drawn at random when None.
        crop_range: side of the random background crop as a fraction of the pool side.

    Returns:
        ``(image, mask)``: the composited image (float32 0-255) and the item's mask in
        its new place (unchanged for images that were not augmented).
    """
    image = tf.convert_to_tensor(image)
    mask = tf.convert_to_tensor(mask)
    if p <= 0:
        return tf.cast(image, tf.float32), tf.cast(mask, tf.float32)
    single = image.shape.rank == 3
    images = tf.cast(image[None] if single else image, tf.float32)
    masks = tf.cast(mask[None] if single else mask, tf.float32)
    seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32) if seed is None else seed
    seeds = tf.random.experimental.stateless_split(seed, 8)
    batch = tf.shape(images)[0]
    size_y, size_x = images.shape[1], images.shape[2]
    if size_y is None or size_x is None:
        raise ValueError(f"background_augment needs a static image size, got shape {images.shape}")

    def uniform(i: int, low: float, high: float, shape=None) -> tf.Tensor:
        return tf.random.stateless_uniform([batch] if shape is None else shape, seed=seeds[i], minval=low, maxval=high)

    y0, x0, y1, x1, has_foreground = _mask_boxes(masks)
    y0, x0 = tf.cast(y0, tf.float32), tf.cast(x0, tf.float32)
    box_h = tf.cast(y1, tf.float32) - y0
    box_w = tf.cast(x1, tf.float32) - x0
    longer = tf.maximum(tf.maximum(box_h, box_w), 1.0)
    # k: output pixels per input pixel, so that the longer box side becomes scale * side.
    k = uniform(0, scale_range[0], scale_range[1]) * float(max(size_y, size_x)) / longer
    out_top = uniform(1, 0.0, 1.0) * (size_y - box_h * k)
    out_left = uniform(2, 0.0, 1.0) * (size_x - box_w * k)
    # Output pixel centre (x + 0.5) maps to input x0 + (x + 0.5 - out_left) / k, index - 0.5.
    inv = 1.0 / k
    zeros = tf.zeros([batch])
    transforms = tf.stack(
        [inv, zeros, x0 - 0.5 + (0.5 - out_left) * inv, zeros, inv, y0 - 0.5 + (0.5 - out_top) * inv, zeros, zeros],
        axis=1,
    )
    placed = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.concat([images, masks], axis=-1),
        transforms=transforms,
        output_shape=tf.constant([size_y, size_x]),
        fill_value=tf.constant(0.0),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    placed.set_shape([None, size_y, size_x, 4])
    item, item_mask = placed[..., :3], placed[..., 3:]

    # One random square crop of one random pool photograph per image.
    pool_size = tf.shape(backgrounds)[0]
    index = tf.random.stateless_uniform([batch], seed=seeds[3], minval=0, maxval=pool_size, dtype=tf.int32)
    side = uniform(4, crop_range[0], crop_range[1])
    top = uniform(5, 0.0, 1.0) * (1.0 - side)
    left = uniform(6, 0.0, 1.0) * (1.0 - side)
    boxes = tf.stack([top, left, top + side, left + side], axis=1)
    scene = tf.image.crop_and_resize(backgrounds, boxes, index, [size_y, size_x])

    composite = item_mask * item + (1.0 - item_mask) * scene
    apply = (uniform(7, 0.0, 1.0) < p) & has_foreground
    apply = apply[:, None, None, None]
    out_images = tf.where(apply, composite, images)
    out_masks = tf.where(apply, item_mask, masks)
    if single:
        return out_images[0], out_masks[0]
    return out_images, out_masks
