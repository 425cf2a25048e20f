"""Standard image augmentation as TensorFlow ops (docs/design.md, "Augmentation").

Ranges follow the fine-tuning recipe of Tuinhof, Pirker & Haltmeier, "Image Based
Fashion Product Recommendation with Deep Learning" (section 3.2):
rotation up to +-8 degrees (their texture model; the category model used +-3), HSL
jitter in [-6, 6], shear factor in [-0.25, 0.25], aspect ratio change in
[0.875, 1.125] and random flips, drawn anew every epoch. Their "vertical flips" are
read as flips about the vertical axis (left <-> right): an upside-down garment is not a
photograph any shop or street query contains. Shift (+-5 %) is ours (docs/design.md, "Augmentation").
The "heavy" strength (zoo v3) roughly triples every range and adds zoom.

Everything is vectorised over a batch: one ``ImageProjectiveTransformV3`` call warps
all images (and their masks, with the same matrix) and one batched 3x3 colour matrix
does the HSL jitter, so the work runs as a few large kernels instead of many small
per-image ops. Single images ``[H, W, C]`` are accepted too.

Randomness is stateless (``tf.random.stateless_*``) and driven by a ``seed`` tensor of
shape ``[2]``; the pipeline feeds a fresh seed per batch from ``Dataset.random``, which
makes a seeded pipeline reproducible while every epoch still draws new augmentations.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import tensorflow as tf

from fashion_tf.data.background import background_augment, load_backgrounds  # noqa: F401


@dataclass(frozen=True)
class AugmentationRanges:
    """Ranges of the standard augmentation; every draw is uniform in +-value or [lo, hi]."""

    rotation_deg: float
    shift_fraction: float
    shear: float
    aspect: tuple[float, float]
    zoom: tuple[float, float]
    hue_deg: float
    saturation: float  # relative change of chroma
    lightness: float  # offset as a fraction of the 0-255 range
    flip: bool = True


STRENGTHS: dict[str, AugmentationRanges] = {
    # Seed 003's ranges; HSL [-6, 6] read as +-6 degrees of hue and +-6 % saturation
    # and lightness.
    "standard": AugmentationRanges(
        rotation_deg=8.0, shift_fraction=0.05, shear=0.25, aspect=(0.875, 1.125),
        zoom=(1.0, 1.0), hue_deg=6.0, saturation=0.06, lightness=0.06,
    ),
    "heavy": AugmentationRanges(
        rotation_deg=20.0, shift_fraction=0.12, shear=0.35, aspect=(0.75, 1.33),
        zoom=(0.8, 1.15), hue_deg=18.0, saturation=0.3, lightness=0.15,
    ),
}


def get_ranges(strength: str | AugmentationRanges) -> AugmentationRanges:
    """Looks up a named strength ("standard" or "heavy")."""
    if isinstance(strength, AugmentationRanges):
        return strength
    if strength not in STRENGTHS:
        raise ValueError(f"augmentation strength {strength!r} unknown; expected one of {sorted(STRENGTHS)}")
    return STRENGTHS[strength]


def new_seed() -> tf.Tensor:
    """A random stateless seed ``[2]`` for callers that do not pass one."""
    return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)


def _uniform(seed: tf.Tensor, shape, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def random_affine_transforms(
    seed: tf.Tensor, batch_size: tf.Tensor, height: int, width: int, ranges: AugmentationRanges
) -> tf.Tensor:
    """Draws one flip/rotation/shear/aspect/zoom/shift per image, about the image centre.

    Returns:
        ``float32 [B, 8]`` transforms in ``ImageProjectiveTransformV3``'s convention:
        they map *output* pixel coordinates to *input* coordinates.
    """
    seeds = tf.random.experimental.stateless_split(seed, 7)
    shape = [batch_size]
    angle = _uniform(seeds[0], shape, -1.0, 1.0) * ranges.rotation_deg * math.pi / 180.0
    shear = _uniform(seeds[1], shape, -ranges.shear, ranges.shear)
    log_aspect = _uniform(seeds[2], shape, math.log(ranges.aspect[0]), math.log(ranges.aspect[1]))
    zoom = _uniform(seeds[3], shape, ranges.zoom[0], ranges.zoom[1])
    shift = _uniform(seeds[4], [batch_size, 2], -ranges.shift_fraction, ranges.shift_fraction)
    if ranges.flip:
        flip = tf.where(_uniform(seeds[5], shape, 0.0, 1.0) < 0.5, -1.0, 1.0)
    else:
        flip = tf.ones(shape)
    # Forward map (input -> output) about the centre: A = zoom * R(angle) * Shear * Aspect * Flip.
    scale_x = zoom * tf.exp(log_aspect / 2.0) * flip
    scale_y = zoom * tf.exp(-log_aspect / 2.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # R @ [[1, shear], [0, 1]] @ diag(scale_x, scale_y)
    a00 = cos * scale_x
    a01 = (cos * shear - sin) * scale_y
    a10 = sin * scale_x
    a11 = (sin * shear + cos) * scale_y
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    tx, ty = shift[:, 0] * width, shift[:, 1] * height
    # input = C + A^-1 (output - C - t)
    ox, oy = cx + tx, cy + ty
    b0 = cx - i00 * ox - i01 * oy
    b1 = cy - i10 * ox - i11 * oy
    zeros = tf.zeros(shape)
    return tf.stack([i00, i01, b0, i10, i11, b1, zeros, zeros], axis=1)


def apply_transforms(images: tf.Tensor, transforms: tf.Tensor, fill_value: float = 0.0) -> tf.Tensor:
    """Warps ``[B, H, W, C]`` float images with ``[B, 8]`` transforms, bilinear, constant fill."""
    height, width = images.shape[1], images.shape[2]
    output_shape = tf.shape(images)[1:3] if height is None or width is None else tf.constant([height, width])
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=output_shape,
        fill_value=tf.constant(fill_value, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    warped.set_shape(images.shape)
    return warped


# RGB <-> YIQ: hue is the angle and saturation the length of (I, Q), so a hue rotation
# plus chroma scaling is one exact 3x3 matrix per image.
@functools.cache
def _yiq_matrices() -> tuple[tf.Tensor, tf.Tensor]:
    """(RGB->YIQ, YIQ->RGB), made eagerly on first use, not at import: a TensorFlow op
    at import would start TensorFlow's runtime before a MultiWorkerMirroredStrategy
    can be created (fashion_tf/distribute.py)."""
    with tf.init_scope():
        rgb_to_yiq = tf.constant(
            [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
            tf.float32,
        )
        return rgb_to_yiq, tf.linalg.inv(rgb_to_yiq)


def color_matrices(seed: tf.Tensor, batch, ranges: AugmentationRanges) -> tuple[tf.Tensor, tf.Tensor]:
    """Draws the HSL jitter of ``batch`` images: ``[B, 3, 3]`` RGB matrices, ``[B]`` offsets.

    Hue rotation and chroma scaling in YIQ space (one exact 3x3 matrix per image), plus a
    lightness offset in 0-255 units; applied as ``pixel @ matrix^T + offset``.
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    hue = _uniform(seeds[0], [batch], -1.0, 1.0) * ranges.hue_deg * math.pi / 180.0
    chroma = 1.0 + _uniform(seeds[1], [batch], -ranges.saturation, ranges.saturation)
    offset = _uniform(seeds[2], [batch], -ranges.lightness, ranges.lightness) * 255.0
    cos, sin = tf.cos(hue) * chroma, tf.sin(hue) * chroma
    one, zero = tf.ones([batch]), tf.zeros([batch])
    rotation = tf.reshape(tf.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], axis=1), [-1, 3, 3])
    rgb_to_yiq, yiq_to_rgb = _yiq_matrices()
    matrix = tf.matmul(tf.matmul(yiq_to_rgb[None], rotation), rgb_to_yiq[None])  # [B, 3, 3]
    return matrix, offset


def color_jitter(images: tf.Tensor, seed: tf.Tensor, ranges: AugmentationRanges) -> tf.Tensor:
    """HSL jitter: hue rotation, saturation scaling, lightness offset; ``[B, H, W, 3]`` 0-255."""
    matrix, offset = color_matrices(seed, tf.shape(images)[0], ranges)
    # pixels are row vectors: out = pixel @ matrix^T
    out = tf.einsum("bhwc,bdc->bhwd", images, matrix) + offset[:, None, None, None]
    return tf.clip_by_value(out, 0.0, 255.0)


def standard_augment(
    image: tf.Tensor,
    mask: tf.Tensor | None = None,
    seed: tf.Tensor | None = None,
    strength: str | AugmentationRanges = "standard",
    geometric: bool = True,
    color: bool = True,
):
    """Random flip, rotation, shift, shear, aspect change (and zoom) plus HSL jitter.

    Args:
        image: float ``[H, W, 3]`` or ``[B, H, W, 3]`` in 0-255.
        mask: optional float mask ``[..., H, W, 1]`` in 0-1; it gets the same geometric
            transform as its image (fill 0) and no colour change.
        seed: stateless seed ``[2]``; drawn at random when None.
        strength: "standard" (Tuinhof et al.'s ranges) or "heavy" (zoo v3).
        geometric, color: switch the two halves, so that the pipeline can run colour
            jitter after pasting onto a background.

    Returns:
        The augmented image (float32 0-255, same shape), or ``(image, mask)`` when a
        mask was given. Areas moved into view are white for the image, 0 for the mask.
    """
    ranges = get_ranges(strength)
    image = tf.convert_to_tensor(image)
    mask = None if mask is None else tf.convert_to_tensor(mask)
    seed = new_seed() if seed is None else seed
    geometric_seed, color_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    single = image.shape.rank == 3
    images = tf.cast(image[None] if single else image, tf.float32)
    masks = None if mask is None else tf.cast(mask[None] if single else mask, tf.float32)
    if geometric:
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None:
            raise ValueError(f"standard_augment needs a static image size, got shape {images.shape}")
        transforms = random_affine_transforms(geometric_seed, tf.shape(images)[0], height, width, ranges)
        # Warp 255 - image so that the constant fill 0 comes out white, and warp the mask
        # in the same call so both see exactly the same sampling.
        stacked = 255.0 - images if masks is None else tf.concat([255.0 - images, masks], axis=-1)
        warped = apply_transforms(stacked, transforms, fill_value=0.0)
        images = 255.0 - warped[..., :3]
        if masks is not None:
            masks = warped[..., 3:]
    if color:
        images = color_jitter(images, color_seed, ranges)
    if single:
        images = images[0]
        masks = None if masks is None else masks[0]
    return images if masks is None else (images, masks)
