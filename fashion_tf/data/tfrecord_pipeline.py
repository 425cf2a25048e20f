"""Training and evaluation batches read from sharded TFRecords (docs/design.md, "Sharded TFRecords").

The same batches as :func:`fashion_tf.data.pipeline.make_dataset` over the catalog the
records were written from (``tools/write_tfrecords.py``): the records hold the image
bytes, labels and the mask training would paste with, and both readers hand their
``(image, mask, label, item_id)`` elements to the one
:func:`~fashion_tf.data.augmented_batches.batch_and_augment`, so decoding, the standard
warp and the background paste (Mohammadi, Bodaghi & Kalhor, "Single-Item Fashion
Recommender", section 3.1) are the same code. What differs is only how bytes arrive:
shards read in parallel and interleaved (the TensorFlow guide "Better performance with
the tf.data API", "Parallelizing data extraction"), records shuffled through a buffer
instead of a shuffled file list.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tensorflow as tf

from fashion_tf.data.augment_settings import DEFAULT_AUGMENTATION, AugmentationSettings
from fashion_tf.data.augmented_batches import batch_and_augment
from fashion_tf.data.decode import (
    decode_mask_uint8,
    load_for_model,
    load_uint8_for_model,
)
from fashion_tf.data.pipeline import PipelineReport
from fashion_tf.data.tfrecords import (
    MANIFEST_NAME,
    read_tfrecords,
    read_tfrecords_manifest,
)


def tfrecord_elements(
    directory: str | Path,
    split: str | None,
    image_size: int,
    vocabulary: Sequence[str] | None = None,
    *,
    training: bool = False,
    augment: AugmentationSettings = DEFAULT_AUGMENTATION,
    seed: int | None = None,
    parallel_reads: int | None = None,
    shard: tuple[int, int] | None = None,
    manifest: dict[str, Any] | None = None,
) -> tf.data.Dataset:
    """``(image, mask, label, item_id)`` per record of ``split`` (None: all), as
    :func:`fashion_tf.data.pipeline.catalog_elements` gives them for the catalog:
    uint8 image and mask when training augments (an empty mask decodes to zeros and is
    never pasted), float32 image otherwise; shuffled every epoch when ``training``;
    ``shard=(worker, workers)``: this worker's part only (``read_tfrecords``).
    ``manifest``: ``tfrecords.json`` when the caller has read it already."""
    manifest = read_tfrecords_manifest(directory) if manifest is None else manifest
    path = Path(directory) / MANIFEST_NAME
    if vocabulary is not None and list(vocabulary) != list(manifest["vocabulary"]):
        raise ValueError(f"{path}: field 'vocabulary' differs from the vocabulary asked for "
                         f"({len(manifest['vocabulary'])} against {len(vocabulary)} labels)")
    if split is not None and "splits" in manifest and not manifest["splits"].get(split):
        raise ValueError(f"{path}: no records with split == {split!r} (field 'splits': {manifest['splits']})")
    use_background, augmented = augment.pastes(training), augment.augments(training)
    deterministic = seed is not None or not training
    zeros = tf.zeros([image_size, image_size, 1], tf.uint8 if augmented else tf.float32)

    def decode(example):
        encoded = example["image"]
        image = load_uint8_for_model(encoded, image_size) if augmented else load_for_model(encoded, image_size)
        mask = decode_mask_uint8(example["mask"], image_size) if use_background else zeros
        return image, mask, example["labels"], example["item_id"]

    records = read_tfrecords(directory, split, parallel_reads, deterministic=deterministic, shuffle=training,
                             seed=seed, shard=shard, manifest=manifest)
    # The writer kept only images that decode; ignore_errors is the catalog reader's
    # safety net too (a record altered afterwards is skipped, not fatal).
    # decode() branches on Python settings only (AutoGraph would spend seconds converting it).
    return records.map(tf.autograph.experimental.do_not_convert(decode), num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=deterministic).ignore_errors(log_warning=True)


def make_tfrecord_dataset(
    directory: str | Path,
    split: str | None,
    image_size: int,
    batch_size: int,
    vocabulary: Sequence[str] | None = None,
    *,
    training: bool = False,
    augment: AugmentationSettings = DEFAULT_AUGMENTATION,
    with_ids: bool = False,
    seed: int | None = None,
    report: PipelineReport | None = None,
    parallel_reads: int | None = None,
    shard: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """:func:`fashion_tf.data.pipeline.make_dataset` (same arguments and batches) over a
    TFRecord directory; ``report`` gets the writer's skipped images and flagged masks."""
    manifest = read_tfrecords_manifest(directory)  # read once, for the records and the report
    ds = tfrecord_elements(directory, split, image_size, vocabulary, training=training, augment=augment, seed=seed,
                           parallel_reads=parallel_reads, shard=shard, manifest=manifest)
    if report is not None:
        count = manifest["count"] if split is None else manifest.get("splits", {}).get(split, 0)
        report.num_images += int(count)
        report.num_readable += int(count)  # the writer kept only readable images
        report.skipped.update(manifest.get("skipped", {}))
        if augment.pastes(training):
            report.masked_items += int(count)
            report.unusable_masks.update(manifest.get("unusable_masks", {}))
    return batch_and_augment(ds, image_size, batch_size, augment, training=training, with_ids=with_ids, seed=seed)
