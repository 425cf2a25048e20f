"""The training augmentation of a batch in one fused kernel: geometry + background + colour.

docs/design.md, "Augmentation", paper sec. 3.1. :func:`fashion_tf.data.augment.standard_augment`
followed by :func:`fashion_tf.data.background.background_augment` warps every image
twice. Both warps are affine, so :func:`augment_batch` composes them into one matrix
per image (output pixel -> geometric-augmented pixel -> catalog pixel), samples image
and mask once, blends the background crop and applies the HSL jitter. Same ranges,
same order (geometry, then paste, then colour; see ``augmented_batches.py`` for why).

Why a hand-written gather kernel instead of ``ImageProjectiveTransformV3`` +
``crop_and_resize`` + element-wise ops (what this module did first): on the 2-core CPU
those ran as ~10 separate passes over float32 ``[B, S, S, C]`` tensors (0.6 ms of CPU per
128 px image, more than a whole OpenCV decode-warp-paste loop). Here the per-image
parameters (a few numbers per image) are computed with ordinary TF ops, and the
per-pixel work is one function of plain TF ops -- source coordinates, ``tf.gather``,
blend, 3x3 colour matrix, clip -- compiled with XLA (``jit_compile=True``), which fuses
it into a couple of loops over the output pixels (about half the CPU time).

Two packing tricks keep the gathers few: image RGB and mask are the four bytes of one
int32 pixel (one gather per sample tap), and the background pool is stored as each
pixel's 2x2 neighbourhood (:func:`pack_backgrounds`, 12 bytes = three int32), so a
bilinear background sample is one gather instead of four.

The pasted item's bounding box after the geometric transform is taken from the four
transformed corners of the mask's box, so a rotated item comes out at most a few
per cent smaller than the drawn scale (the box of a rotated box is larger).

``interpolation="nearest"`` (the pipeline's training default) samples the item once per
output pixel, like torchvision's RandomAffine default; ``"bilinear"`` takes four taps.
The background crop is always bilinear (``crop_and_resize``'s sampling convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from fashion_tf.data.augment import (
    AugmentationRanges,
    color_matrices,
    get_ranges,
    random_affine_transforms,
)
from fashion_tf.data.augment_settings import INTERPOLATIONS
from fashion_tf.data.background import _mask_boxes


def _to_matrix(transforms: tf.Tensor) -> tf.Tensor:
    """``[B, 8]`` projective parameters -> ``[B, 3, 3]``."""
    return tf.reshape(tf.concat([transforms, tf.ones_like(transforms[:, :1])], axis=1), [-1, 3, 3])


def _as_uint8(x: tf.Tensor, scale: float = 1.0) -> tf.Tensor:
    if x.dtype == tf.uint8:
        return x
    return tf.cast(tf.round(tf.clip_by_value(tf.cast(x, tf.float32) * scale, 0.0, 255.0)), tf.uint8)


def pack_backgrounds(pool) -> tf.Tensor:
    """``uint8 [N, H, W, 3]`` pool -> ``int32 [N * H * W, 3]`` of 2x2 neighbourhoods.

    Row ``(n * H + y) * W + x`` holds the RGB bytes of pixels (y, x), (y, x+1),
    (y+1, x), (y+1, x+1) (the last row/column repeated at the border), i.e. all four
    taps of a bilinear sample whose top-left tap is (y, x). Pack once per pool; the
    pipeline does it when it builds the dataset.
    """
    pool = _as_uint8(tf.convert_to_tensor(pool))
    n, height, width = pool.shape[0], pool.shape[1], pool.shape[2]
    padded = tf.pad(pool, [[0, 0], [0, 1], [0, 1], [0, 0]], mode="SYMMETRIC")
    quads = tf.concat([padded[:, :-1, :-1], padded[:, :-1, 1:], padded[:, 1:, :-1], padded[:, 1:, 1:]], axis=-1)
    packed = tf.bitcast(tf.reshape(quads, [-1, 3, 4]), tf.int32)  # [N*H*W, 3]
    return tf.ensure_shape(packed, [None if n is None or height is None or width is None else n * height * width, 3])


def _bytes(words: tf.Tensor) -> tf.Tensor:
    """int32 ``[..., K]`` -> float32 ``[..., 4K]``: the bytes of each word as 0-255 values."""
    as_bytes = tf.bitcast(words, tf.uint8)  # [..., K, 4]
    return tf.cast(tf.reshape(as_bytes, tf.concat([tf.shape(words)[:-1], [-1]], axis=0)), tf.float32)


def _render(images, masks, warp, pasted, bg_quads, bg_index, bg_grid, bg_size, colour, offset,
            interpolation: str, paste: bool, jitter: bool):
    """The per-pixel work: sample item and mask, blend onto the background, colour, clip.

    Args:
        images, masks: uint8 ``[B, S, S, 3]`` and ``[B, S, S, 1]``.
        warp: float32 ``[B, 6]``: output pixel index (x, y) -> source index
            ``(w0 x + w1 y + w2, w3 x + w4 y + w5)``.
        pasted: bool ``[B]``, images composited onto the background.
        bg_quads: :func:`pack_backgrounds` output (unused without ``paste``).
        bg_index: int32 ``[B]`` pool image of each crop.
        bg_grid: float32 ``[B, 4]``: (top, left, step_y, step_x) of the crop in pool pixels.
        bg_size: (H, W) of the pool images.
        colour, offset: ``[B, 3, 3]`` colour matrices and ``[B]`` lightness offsets.

    Returns:
        float32 ``[B, S, S, 3]`` in 0-255.
    """
    batch, size_y, size_x = tf.shape(images)[0], images.shape[1], images.shape[2]
    packed = tf.bitcast(tf.concat([images, masks], axis=-1), tf.int32)  # [B, S, S]: one word per pixel
    xs = tf.range(size_x, dtype=tf.float32)[None, None, :]
    ys = tf.range(size_y, dtype=tf.float32)[None, :, None]
    w = tf.unstack(warp[:, :, None, None], axis=1)  # six [B, 1, 1]
    src_x = w[0] * xs + w[1] * ys + w[2]  # [B, S, S]
    src_y = w[3] * xs + w[4] * ys + w[5]
    first = (tf.range(batch) * (size_y * size_x))[:, None, None]
    flat = tf.reshape(packed, [-1])
    fill = tf.constant([255.0, 255.0, 255.0, 0.0])  # white, no mask

    def tap(ix: tf.Tensor, iy: tf.Tensor) -> tf.Tensor:
        """float32 [B, S, S, 4] at integer source pixels, the fill outside the image."""
        inside = (ix >= 0) & (ix < size_x) & (iy >= 0) & (iy < size_y)
        index = first + tf.clip_by_value(iy, 0, size_y - 1) * size_x + tf.clip_by_value(ix, 0, size_x - 1)
        return tf.where(inside[..., None], _bytes(tf.gather(flat, index)[..., None]), fill)

    if interpolation == "nearest":
        # round half up, as ImageProjectiveTransformV3's NEAREST does for these coordinates
        sample = tap(tf.cast(tf.floor(src_x + 0.5), tf.int32), tf.cast(tf.floor(src_y + 0.5), tf.int32))
    else:
        x0, y0 = tf.floor(src_x), tf.floor(src_y)
        fx, fy = (src_x - x0)[..., None], (src_y - y0)[..., None]
        ix, iy = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
        upper = tap(ix, iy) + fx * (tap(ix + 1, iy) - tap(ix, iy))
        lower = tap(ix, iy + 1) + fx * (tap(ix + 1, iy + 1) - tap(ix, iy + 1))
        sample = upper + fy * (lower - upper)
    out = sample[..., :3]

    if paste:
        height, width = bg_size
        top, left, step_y, step_x = tf.unstack(bg_grid[:, :, None, None], axis=1)  # each [B, 1, 1]
        pool_y = top + step_y * ys  # [B, S, 1]
        pool_x = left + step_x * xs  # [B, 1, S]
        y0, x0 = tf.floor(pool_y), tf.floor(pool_x)
        fy, fx = (pool_y - y0)[..., None], (pool_x - x0)[..., None]
        row = tf.clip_by_value(tf.cast(y0, tf.int32), 0, height - 1)
        col = tf.clip_by_value(tf.cast(x0, tf.int32), 0, width - 1)
        quad = _bytes(tf.gather(bg_quads, (bg_index[:, None, None] * height + row) * width + col))  # [B,S,S,12]
        upper = quad[..., 0:3] + fx * (quad[..., 3:6] - quad[..., 0:3])
        lower = quad[..., 6:9] + fx * (quad[..., 9:12] - quad[..., 6:9])
        scene = upper + fy * (lower - upper)
        alpha = tf.where(pasted[:, None, None, None], sample[..., 3:] / 255.0, 1.0)
        out = scene + alpha * (out - scene)

    if jitter:
        # pixels are row vectors: out_d = sum_c pixel_c * colour[d, c]; written as three
        # broadcast products so XLA fuses it with the rest instead of calling a matmul.
        red, green, blue = tf.unstack(out[..., None], axis=3)  # each [B, S, S, 1]
        m = tf.unstack(colour[:, None, None, :, :], axis=4)  # columns, each [B, 1, 1, 3]
        out = red * m[0] + green * m[1] + blue * m[2]
        out = out + offset[:, None, None, None]
    return tf.clip_by_value(out, 0.0, 255.0)


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
    packed_backgrounds: tf.Tensor | None = None,
    jit_compile: bool = True,
) -> tf.Tensor:
    """Standard + background augmentation of ``[B, S, S, 3]`` images (0-255) in one pass.

    Args:
        images: ``[B, S, S, 3]`` float 0-255 or uint8, static S.
        masks: ``[B, S, S, 1]`` foreground masks, float 0-1 or uint8 0-255 (all zero:
            never pasted).
        seed: stateless seed ``[2]``.
        strength: standard-augmentation ranges ("standard", "heavy") or None for none.
        backgrounds: ``[N, Hb, Wb, 3]`` background pool, or None for no pasting.
        p, scale_range, crop_range: as in ``background_augment``.
        interpolation: "nearest" (fast) or "bilinear" sampling of the item.
        packed_backgrounds: ``pack_backgrounds(backgrounds)``, computed once by callers
            that augment many batches (the pipeline); else packed here.
        jit_compile: compile the whole augmentation with XLA (the default; without it
            the same ops run one by one, ~5x slower, which is only useful for debugging).

    Returns:
        float32 ``[B, S, S, 3]`` in 0-255.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation {interpolation!r} unknown; expected 'nearest' or 'bilinear'")
    images, masks = tf.convert_to_tensor(images), tf.convert_to_tensor(masks)
    size_y, size_x = images.shape[1], images.shape[2]
    if size_y is None or size_x is None:
        raise ValueError(f"augment_batch needs a static image size, got shape {images.shape}")
    ranges = None if strength is None else get_ranges(strength)
    paste = backgrounds is not None and p > 0
    if ranges is None and not paste:
        return tf.cast(images, tf.float32)
    images_u8 = _as_uint8(images)
    masks_u8 = _as_uint8(masks, scale=1.0 if masks.dtype == tf.uint8 else 255.0)
    if paste:
        backgrounds = tf.convert_to_tensor(backgrounds)
        pool_shape = tuple(backgrounds.shape[:3])
        if None in pool_shape:
            raise ValueError(f"augment_batch needs a background pool of static shape, got {backgrounds.shape}")
        bg_quads = pack_backgrounds(backgrounds) if packed_backgrounds is None else packed_backgrounds
    else:
        pool_shape, bg_quads = None, tf.zeros([1, 3], tf.int32)
    config = _Config(ranges, p if paste else 0.0, tuple(scale_range), tuple(crop_range), interpolation, pool_shape)
    augment = _augment_xla if jit_compile else _augment
    out = augment(images_u8, masks_u8, tf.convert_to_tensor(seed), bg_quads, config=config)
    return tf.ensure_shape(out, [None, size_y, size_x, 3])


@dataclass(frozen=True)
class _Config:
    """The static (trace-time) settings of one augmentation; hashable, so tf.function keys on it."""

    ranges: AugmentationRanges | None
    p: float
    scale_range: tuple[float, float]
    crop_range: tuple[float, float]
    interpolation: str
    pool_shape: tuple[int, int, int] | None  # (N, H, W) of the background pool; None: no paste


def _augment(images: tf.Tensor, masks: tf.Tensor, seed: tf.Tensor, bg_quads: tf.Tensor, config: _Config) -> tf.Tensor:
    """Draws every image's parameters (a few numbers each) and renders the batch.

    ``images``/``masks`` uint8; runs as one XLA computation in :data:`_augment_xla`, so
    the ~100 tiny parameter ops cost no per-op dispatch either.
    """
    size_y, size_x = images.shape[1], images.shape[2]
    ranges, paste = config.ranges, config.pool_shape is not None
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), 10)
    batch = tf.shape(images)[0]

    def uniform(i: int, low: float = 0.0, high: float = 1.0) -> tf.Tensor:
        return tf.random.stateless_uniform([batch], seed=seeds[i], minval=low, maxval=high)

    # Work in continuous coordinates (pixel i spans [i, i + 1)); the kernel uses pixel
    # indices, hence the +-0.5 conjugation at the end.
    half = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    half_inv = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    if ranges is not None:
        geometric_inv = half[None] @ _to_matrix(random_affine_transforms(seeds[0], batch, size_y, size_x, ranges)) @ half_inv[None]
    else:
        geometric_inv = tf.eye(3, batch_shape=[batch])
    transform, pasted = geometric_inv, tf.zeros([batch], tf.bool)
    bg_index, bg_grid, bg_size = tf.zeros([batch], tf.int32), tf.zeros([batch, 4]), (1, 1)
    if paste:
        y0, x0, y1, x1, has_foreground = _mask_boxes(masks, threshold=127)
        corners = tf.stack(
            [tf.stack([x, y, tf.ones_like(x)], axis=1) for x in (x0, x1) for y in (y0, y1)], axis=2
        )  # [B, 3, 4] continuous (x, y, 1)
        moved = _inverse_affine(geometric_inv) @ tf.cast(corners, tf.float32)
        bx0, by0 = tf.reduce_min(moved[:, 0], axis=1), tf.reduce_min(moved[:, 1], axis=1)
        box_w = tf.reduce_max(moved[:, 0], axis=1) - bx0
        box_h = tf.reduce_max(moved[:, 1], axis=1) - by0
        k = uniform(1, *config.scale_range) * float(max(size_y, size_x)) / tf.maximum(tf.maximum(box_w, box_h), 1.0)
        out_left = uniform(2) * (size_x - box_w * k)
        out_top = uniform(3) * (size_y - box_h * k)
        zeros, ones, inv = tf.zeros([batch]), tf.ones([batch]), 1.0 / k
        paste_inv = tf.reshape(
            tf.stack([inv, zeros, bx0 - out_left * inv, zeros, inv, by0 - out_top * inv, zeros, zeros, ones], axis=1),
            [-1, 3, 3],
        )
        pasted = (uniform(4) < config.p) & has_foreground
        transform = tf.where(pasted[:, None, None], geometric_inv @ paste_inv, geometric_inv)

        # One random square crop of one random pool photograph per image, resized to
        # S x S with crop_and_resize's sampling: output i -> top + i * side (H-1)/(S-1).
        count, height, width = config.pool_shape
        bg_index = tf.random.stateless_uniform([batch], seed=seeds[5], minval=0, maxval=count, dtype=tf.int32)
        side = uniform(6, *config.crop_range)
        top, left = uniform(7) * (1.0 - side), uniform(8) * (1.0 - side)
        bg_grid = tf.stack([top * (height - 1), left * (width - 1),
                            side * (height - 1) / max(size_y - 1, 1), side * (width - 1) / max(size_x - 1, 1)], axis=1)
        bg_size = (height, width)

    index_transform = half_inv[None] @ transform @ half[None]
    warp = tf.reshape(index_transform[:, :2, :], [-1, 6])
    if ranges is not None:
        colour, offset = color_matrices(seeds[9], batch, ranges)
    else:
        colour, offset = tf.eye(3, batch_shape=[batch]), tf.zeros([batch])
    return _render(images, masks, warp, pasted, bg_quads, bg_index, bg_grid, bg_size, colour, offset,
                   interpolation=config.interpolation, paste=paste, jitter=ranges is not None)


def _inverse_affine(matrices: tf.Tensor) -> tf.Tensor:
    """Inverse of ``[B, 3, 3]`` affine matrices (last row 0 0 1), in closed form."""
    a, b, tx = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 0, 2]
    c, d, ty = matrices[:, 1, 0], matrices[:, 1, 1], matrices[:, 1, 2]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    zeros, ones = tf.zeros_like(a), tf.ones_like(a)
    rows = [ia, ib, -(ia * tx + ib * ty), ic, id_, -(ic * tx + id_ * ty), zeros, zeros, ones]
    return tf.reshape(tf.stack(rows, axis=1), [-1, 3, 3])


_augment_xla = tf.function(_augment, jit_compile=True, autograph=False)
