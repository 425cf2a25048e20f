"""The tf.data input pipeline (docs/design.md, "Augmentation").

list -> shuffle (training) -> parallel read + decode + resize/pad (AUTOTUNE) -> batch ->
(training) standard geometric augmentation + background paste (one composed warp) ->
colour jitter -> prefetch. Everything from the batching on is shared with the other
readers (:mod:`fashion_tf.data.augmented_batches`, which also says why that order); what
the augmentation does is one :class:`~fashion_tf.data.augment_settings.AugmentationSettings`.

Per-image cost on a 2-core CPU is dominated by fixed per-op overhead, not pixels (a
128 px JPEG decodes in ~0.1 ms; every ``tf.cond`` inside a tf.data function costs tens
of microseconds). So in training the uint8 loader stays branch-free where it can:
files the pre-check (below) found to be JPEGs already at model size, with masks at
model size, are read by :func:`_read_at_model_size`; all others by the general decoder
(format sniffing, reduced-scale JPEG decoding, aspect-preserving resize and pad). The
two shuffled streams are merged by a shuffled choice sequence, i.e. one uniformly
random order. Evaluation always uses the general float decoder, the same pixels as
the serving graph (``decode.load_for_model``).

Unreadable files: a TensorFlow decode error inside a tf.data graph cannot be caught per
element, so :func:`fashion_tf.data.image_check.check_files` decodes every file once beforehand with the very same
decoder (:func:`fashion_tf.data.decode.decode_image`) in a thread pool and drops the
bad ones, counting them in a :class:`PipelineReport`; it also records each file's
decoded size and whether it is a JPEG (for the fast path above). Masks are checked the
same way; an unreadable mask means "no mask" (the item is kept, never pasted). Verdicts
are cached in the catalog directory (``.image_check.json``, keyed by path, size and mtime), so later runs
only decode new or changed files. ``Dataset.ignore_errors`` stays on as a last safety
net for files that change after the check.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from fashion_tf.data import schema
from fashion_tf.data.augment_settings import DEFAULT_AUGMENTATION, AugmentationSettings
from fashion_tf.data.augmented_batches import batch_and_augment
from fashion_tf.data.decode import (
    decode_mask,
    decode_mask_uint8,
    load_for_model,
    load_uint8_for_model,
)
from fashion_tf.data.image_check import CHECK_CACHE_FILE, check_files, check_images

__all__ = ["CHECK_CACHE_FILE", "PipelineReport", "check_files", "check_images", "image_files_dataset",
           "make_dataset", "multi_hot"]

logger = logging.getLogger(__name__)


@dataclass
class PipelineReport:
    """What a pipeline left out or patched up.

    ``skipped``: absolute path -> reason (unreadable images, left out);
    ``unusable_masks``: item_id -> reason (flagged masks: the item trains as itself but
    is never pasted on a background); ``masked_items``: items whose mask was looked at.
    """

    skipped: dict[str, str] = field(default_factory=dict)
    num_images: int = 0
    notes: list[str] = field(default_factory=list)
    unusable_masks: dict[str, str] = field(default_factory=dict)
    masked_items: int = 0
    num_readable: int = 0

    def summary(self) -> str:
        text = f"{self.num_images - len(self.skipped)} of {self.num_images} images usable, {len(self.skipped)} skipped"
        if self.masked_items:
            text += f"; {self.mask_summary()}"
        return text

    def mask_summary(self, examples: int = 3) -> str:
        """E.g. "12 of 560 items have no usable mask (never pasted on a background), e.g. ..."."""
        shown = ", ".join(f"{k} ({v})" for k, v in list(self.unusable_masks.items())[:examples])
        return (f"{len(self.unusable_masks)} of {self.masked_items} items have no usable mask "
                f"(never pasted on a background)" + (f", e.g. {shown}" if shown else ""))


def multi_hot(labels_lists: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """``float32 [N, L]``: 1 where item n carries vocabulary label l; unknown labels ignored."""
    position = {label: i for i, label in enumerate(vocabulary)}
    out = np.zeros((len(labels_lists), len(vocabulary)), np.float32)
    for row, labels in enumerate(labels_lists):
        for label in [] if labels is None else labels:
            if label in position:
                out[row, position[label]] = 1.0
    return out


def _as_catalog(catalog):
    """A ``Catalog`` as is; a directory through ``load_catalog``."""
    if hasattr(catalog, "items") and hasattr(catalog, "root"):
        return catalog
    from fashion_tf.data.catalog import load_catalog

    return load_catalog(catalog)


def _mask_paths(catalog, items: pd.DataFrame, report: PipelineReport | None = None) -> list[str]:
    """Absolute mask path per row ("" = not pasted), computing missing masks on demand.

    Masks that ``masks/confidence.json`` flags (low confidence, too small or too large)
    come back as "": such an item is never pasted on a background. They are counted in
    ``report``.
    """
    from fashion_tf.data.masks import ensure_masks, flagged_masks, read_verdicts

    def column() -> list[str]:
        values = items["mask"] if "mask" in items.columns else pd.Series([None] * len(items), index=items.index)
        return [str(Path(catalog.root) / v) if isinstance(v, str) and v else "" for v in values]

    paths = column()
    state, verdicts = read_verdicts(catalog.root)  # once: both the version check and the flags
    flags = flagged_masks(verdicts)
    # Masks of another mask version are recomputed too: their verdicts are not read, so
    # using them as they are would paste masks that version flagged.
    if not all(p and os.path.exists(p) for p in paths) or state == "outdated":
        masked = ensure_masks(catalog.root)
        flags = masked.mask_report["flagged"]  # the verdicts it has just written
        by_id = masked.items.set_index("item_id")["mask"]
        items = items.assign(mask=[by_id.get(i) for i in items["item_id"]])
        paths = [p if p and os.path.exists(p) else "" for p in column()]
    ids = [str(i) for i in items["item_id"]]
    flagged = {i: flags[i] for i, p in zip(ids, paths) if p and i in flags}
    if report is not None:
        report.masked_items += len(ids)
        report.unusable_masks.update(flagged)
        if flagged:
            logger.warning("%s: %s", catalog.root, report.mask_summary())
    return ["" if i in flagged else p for i, p in zip(ids, paths)]


def readable_items(catalog, items: pd.DataFrame, split: str | None, report: PipelineReport):
    """(items, image paths, check entries) without the rows whose image does not decode
    (recorded in ``report``); raises when none is left."""
    paths = [str(Path(catalog.root) / p) for p in items["image"]]
    checked = check_files(paths, Path(catalog.root) / CHECK_CACHE_FILE)
    skipped = {path: entry[0] for path, entry in checked.items() if entry[0] is not None}
    report.num_images += len(paths)
    report.skipped.update(skipped)
    if skipped:
        logger.warning("%s: skipping %d unreadable image(s), e.g. %s", catalog.root, len(skipped), next(iter(skipped.items())))
    keep = np.array([p not in skipped for p in paths], bool)
    if not keep.any():
        raise ValueError(f"{catalog.root}: none of the {len(paths)} images of split {split!r} is readable")
    return items[keep], [p for p, k in zip(paths, keep) if k], checked


def pasteable_masks(catalog, items: pd.DataFrame, report: PipelineReport) -> tuple[list[str], dict[str, list]]:
    """Per row, the mask file the background augmentation pastes the item with ("" when
    it is never pasted: no mask, an unreadable one, or one ``masks/confidence.json``
    flags), and the check entries of those files."""
    mask_paths = _mask_paths(catalog, items, report)
    readable = _check_masks(mask_paths, Path(catalog.root) / CHECK_CACHE_FILE, report)
    return [m if m in readable else "" for m in mask_paths], readable


# ---------------------------------------------------------------- datasets

def _read_image_and_mask(path, mask_path, size: int, with_mask: bool, as_uint8: bool):
    """One catalog image (and mask) at model size; uint8 when it goes on to augmentation.

    uint8 quarters what flows through batching, and the augmentation packs image and
    mask into one int32 pixel (``train_augment.py``); images already at model size
    skip the resize (``decode.fit_uint8``).
    """
    encoded = tf.io.read_file(path)
    image = load_uint8_for_model(encoded, size) if as_uint8 else load_for_model(encoded, size)
    if not with_mask:
        return image, tf.zeros([size, size, 1], tf.uint8 if as_uint8 else tf.float32)
    def read_mask():
        return tf.io.read_file(mask_path)

    def no_mask():  # an item without a mask is never pasted on a background
        return tf.constant("")

    encoded_mask = tf.cond(tf.strings.length(mask_path) > 0, read_mask, no_mask)
    mask = decode_mask_uint8(encoded_mask, size) if as_uint8 else decode_mask(encoded_mask, size)
    return image, mask


def _read_at_model_size(path, mask_path, size: int, with_mask: bool):
    """:func:`_read_image_and_mask` (uint8) for a JPEG and mask already ``size x size``.

    Same pixels, but no ``tf.cond``/``switch_case``: inside a tf.data function every
    conditional is a nested function call costing tens of microseconds, about as much
    as decoding a 128 px JPEG, so the catalog files the pre-check found to be at model
    size (:func:`_is_at_model_size`) take this straight-line path. ``ensure_shape``
    turns a file changed since the check into an error that ``ignore_errors`` skips.
    """
    image = tf.ensure_shape(tf.io.decode_jpeg(tf.io.read_file(path), channels=3), [size, size, 3])
    if not with_mask:
        return image, tf.zeros([size, size, 1], tf.uint8)
    mask = tf.io.decode_image(tf.io.read_file(mask_path), channels=1, expand_animations=False)
    return image, tf.ensure_shape(mask, [size, size, 1])


def make_dataset(
    catalog,
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
    shard: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """Batches of ``(images float32 [B, S, S, 3] 0-255, multi_hot float32 [B, L])``.

    Args:
        catalog: a ``Catalog`` or a catalog directory.
        split: "train", "val", "test" or None for all rows.
        image_size: side S of the square model input.
        vocabulary: label order of the multi-hot vectors; default: the catalog's.
        training: shuffle, and augment as ``augment`` says, when True.
        augment: standard and background augmentation of training batches.
        with_ids: also yield the ``item_id`` strings ``[B]``.
        seed: makes order and augmentation reproducible (and the map deterministic).
        report: a :class:`PipelineReport` to fill with skipped files.
        shard: ``(worker, workers)``: only every workers-th row from ``worker`` on
            (multi-worker training, ``fashion_tf.distribute.distribute_dataset``).
    """
    ds = catalog_elements(catalog, split, image_size, vocabulary, training=training, augment=augment, seed=seed,
                          report=report, shard=shard)
    return batch_and_augment(ds, image_size, batch_size, augment, training=training, with_ids=with_ids, seed=seed)


def catalog_elements(
    catalog,
    split: str | None,
    image_size: int,
    vocabulary: Sequence[str] | None = None,
    *,
    training: bool = False,
    augment: AugmentationSettings = DEFAULT_AUGMENTATION,
    seed: int | None = None,
    report: PipelineReport | None = None,
    shard: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """:func:`make_dataset` before batching: ``(image, mask, label, item_id)`` per item
    (see :func:`~fashion_tf.data.augmented_batches.augment_batches` for the dtypes),
    shuffled when ``training``."""
    report = PipelineReport() if report is None else report
    catalog = _as_catalog(catalog)
    items = catalog.items
    if split is not None:
        items = items[items["split"] == split]
    if len(items) == 0:
        raise ValueError(f"{Path(catalog.root) / schema.ITEMS_FILE}: no rows with split == {split!r}")
    if shard is not None:
        items = items.iloc[shard[0]::shard[1]]
    if vocabulary is None:
        vocabulary = getattr(catalog, "vocabulary", None)
        if vocabulary is None:
            raise ValueError(f"{catalog.root}: no vocabulary given and no {schema.LABELS_FILE}; label the catalog first")

    items, paths, checked = readable_items(catalog, items, split, report)
    report.num_readable += len(paths)
    use_background, augmented = augment.pastes(training), augment.augments(training)
    mask_paths, mask_checked = pasteable_masks(catalog, items, report) if use_background else ([""] * len(paths), {})
    labels = multi_hot(list(items["labels"]), vocabulary)
    ids = [str(i) for i in items["item_id"]]
    rows = (np.array(paths), np.array(mask_paths), labels, np.array(ids))
    deterministic = seed is not None or not training

    def general(path, mask_path, label, item_id):
        image, mask = _read_image_and_mask(path, mask_path, image_size, use_background, augmented)
        return image, mask, label, item_id

    def at_model_size(path, mask_path, label, item_id):
        image, mask = _read_at_model_size(path, mask_path, image_size, use_background)
        return image, mask, label, item_id

    if augmented:
        # Training reads files already at model size with a branch-free function (see
        # _read_at_model_size); everything else takes the general decoder.
        fast = np.array([_is_at_model_size(checked[p], image_size, jpeg=True) and (not use_background or _is_at_model_size(
            mask_checked.get(m), image_size)) for p, m in zip(paths, mask_paths)], bool)
    else:
        fast = np.zeros(len(paths), bool)
    logger.info("%s: %d of %d files read at model size (branch-free reader)", catalog.root, int(fast.sum()), len(fast))
    streams, choices = [], np.where(fast, 0, 1)
    for group, loader in ((fast, at_model_size), (~fast, general)):
        if group.any():
            ds = tf.data.Dataset.from_tensor_slices(tuple(column[group] for column in rows))
            if training:
                ds = ds.shuffle(int(group.sum()), seed=_offset(seed, len(streams)), reshuffle_each_iteration=True)
            # The loaders branch on Python settings only (no AutoGraph conversion needed).
            ds = ds.map(tf.autograph.experimental.do_not_convert(loader), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=deterministic)
            streams.append(ds.ignore_errors(log_warning=True))
    if len(streams) == 1:
        ds = streams[0]
    else:
        # A shuffled sequence of stream choices interleaves the two shuffled streams into
        # a uniformly random order (training) or restores the catalog order (evaluation).
        choice = tf.data.Dataset.from_tensor_slices(choices.astype(np.int64))
        if training:
            choice = choice.shuffle(len(choices), seed=_offset(seed, 2), reshuffle_each_iteration=True)
        ds = tf.data.Dataset.choose_from_datasets(streams, choice, stop_on_empty_dataset=False)
    return ds


def _offset(seed: int | None, k: int) -> int | None:
    """A distinct seed per shuffle of one pipeline (None stays None: fresh randomness)."""
    return None if seed is None else seed + k


def _is_at_model_size(entry: list | None, size: int, jpeg: bool = False) -> bool:
    """A :func:`check_files` entry for a readable file that decodes to exactly size x size.

    Images must also be JPEGs: ``decode_for_size`` then decodes them at full scale
    (ratio 1) with ``decode_jpeg`` and ``fit_uint8`` passes them through, so the fast
    reader gives identical pixels. Masks (decoded with ``decode_image``) may be any format.
    """
    if entry is None or entry[0] is not None or entry[1] != size or entry[2] != size:
        return False
    return entry[3] or not jpeg


def _check_masks(mask_paths: Sequence[str], cache_file, report: PipelineReport) -> dict[str, list]:
    """Check entries of the readable masks; an unreadable mask means "no mask" (never pasted)."""
    checked = check_files([m for m in mask_paths if m], cache_file)
    bad = {m: entry[0] for m, entry in checked.items() if entry[0] is not None}
    if bad:
        note = f"{len(bad)} unreadable mask(s) ignored (item kept, never pasted), e.g. {next(iter(bad.items()))}"
        logger.warning(note)
        report.notes.append(note)
    return {m: entry for m, entry in checked.items() if entry[0] is None}


def image_files_dataset(
    paths: Sequence[str], image_size: int, batch_size: int, report: PipelineReport | None = None
) -> tf.data.Dataset:
    """Batches of ``(images float32 [B, S, S, 3], paths [B])`` for arbitrary image files.

    Unreadable files are skipped (and recorded in ``report`` when given); order is kept.
    """
    paths = [str(p) for p in paths]
    skipped = check_images(paths)
    if report is not None:
        report.num_images += len(paths)
        report.skipped.update(skipped)
    for path, reason in skipped.items():
        logger.warning("%s: skipped (%s)", path, reason)
    good = [p for p in paths if p not in skipped]
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(good, tf.string) if good else tf.zeros([0], tf.string))
    ds = ds.map(lambda p: (load_for_model(tf.io.read_file(p), image_size), p), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.ignore_errors(log_warning=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)
