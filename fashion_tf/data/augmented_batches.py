"""The tail every training input pipeline shares: batch, augment, prefetch (docs/design.md,
"Augmentation").

The catalog reader (:func:`fashion_tf.data.pipeline.catalog_elements`), the TFRecord
reader (:func:`fashion_tf.data.tfrecord_pipeline.tfrecord_elements`) and the triplet
reader (:func:`fashion_tf.data.triplets.triplet_dataset`) all yield ``(image, mask,
label, id)``-shaped elements and augment them here, so the three augment alike.

Augmentation runs on whole batches, after ``.batch()``, as one XLA-compiled function
(:func:`fashion_tf.data.train_augment.augment_batch`): a handful of fused loops per
batch are far cheaper than many tiny per-image ops.

Order of the augmentations, and why: the geometric part of the standard augmentation
(flip, rotation, shear, aspect, shift) warps image and mask together first; then the
item is cut out with the warped mask and pasted onto a background; colour jitter comes
last. Warping after the paste would rotate the background photograph too and leave
white triangles in its corners, a give-away no street photograph has; jittering colour
after the paste changes item and scene together, like a camera's white balance does.
"""
from __future__ import annotations

import tensorflow as tf

from fashion_tf.data.augment_settings import DEFAULT_AUGMENTATION, AugmentationSettings
from fashion_tf.data.background import load_backgrounds
from fashion_tf.data.train_augment import augment_batch, pack_backgrounds


def default_background_files() -> list[str]:
    """The training pool of :mod:`fashion_tf.data.photos` (never shared with queries)."""
    from fashion_tf.data.photos import training_background_files

    return training_background_files()


def augment_batches(
    ds: tf.data.Dataset,
    image_size: int,
    augment: AugmentationSettings,
    *,
    training: bool,
    seed: int | None = None,
    with_ids: bool = True,
) -> tf.data.Dataset:
    """Batches ``(images, masks, labels, ids)`` -> ``(images, labels[, ids])`` augmented
    as ``augment`` says when ``training``.

    ``images`` and ``masks`` are uint8 when ``augment.augments(training)`` (an all-zero
    mask is never pasted); the images come out float32 0-255. ``seed`` makes the
    augmentation reproducible (and the map deterministic); every epoch draws anew.
    """
    def output(images, label, item_id):
        return (images, label, item_id) if with_ids else (images, label)

    if not augment.augments(training):
        return ds.map(lambda images, masks, label, item_id: output(images, label, item_id))
    backgrounds = packed_backgrounds = None
    if augment.pastes(training):
        files = default_background_files() if augment.background_files is None else list(augment.background_files)
        pool = load_backgrounds(files, size=max(256, 2 * image_size), blur_sigma=augment.background_blur)
        backgrounds = tf.constant(pool)
        packed_backgrounds = pack_backgrounds(backgrounds)  # once, not per batch
    strength = augment.augmentation if augment.warps(training) else None
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def apply(batch, batch_seed):
        images, masks, label, item_id = batch
        batch_seed = tf.cast(batch_seed % (2**31 - 1), tf.int32)
        images = augment_batch(images, masks, batch_seed, strength=strength, backgrounds=backgrounds,
                               p=augment.background_p, scale_range=augment.background_scale,
                               interpolation=augment.interpolation, packed_backgrounds=packed_backgrounds)
        return output(images, label, item_id)

    # apply() branches on Python settings only: tracing it as written skips AutoGraph's
    # source transformation, seconds of CPU at every pipeline start.
    deterministic = seed is not None or not training
    return tf.data.Dataset.zip((ds, seeds)).map(tf.autograph.experimental.do_not_convert(apply),
                                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def batch_and_augment(
    ds: tf.data.Dataset,
    image_size: int,
    batch_size: int,
    augment: AugmentationSettings = DEFAULT_AUGMENTATION,
    *,
    training: bool,
    with_ids: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches ``(image, mask, label, item_id)`` elements, then :func:`augment_batches`,
    then prefetches: ``(images float32 [B, S, S, 3] 0-255, labels[, item_ids])``.

    Arguments as in :func:`fashion_tf.data.pipeline.make_dataset`.
    """
    ds = augment_batches(ds.batch(batch_size), image_size, augment, training=training, seed=seed, with_ids=with_ids)
    return ds.prefetch(tf.data.AUTOTUNE)
