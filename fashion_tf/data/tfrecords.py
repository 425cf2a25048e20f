"""A catalog as sharded TFRecord files, and a ``tf.data`` reader over them.

Reading millions of small image files is slow on network storage; a few hundred large
``tf.train.Example`` files read in parallel are not (the TensorFlow guide "Better
performance with the tf.data API", section "Parallelizing data extraction"). Each
record holds one catalog item:

    item_id  bytes    the catalog's item id
    image    bytes    the image file's bytes as stored (JPEG/PNG, decoded when read)
    labels   float[L] multi-hot over the vocabulary in the manifest
    split    bytes    "train" | "val" | "test"
    mask     bytes    the mask PNG's bytes, b"" when the item is never pasted on a background

The directory holds ``part-00000-of-00004.tfrecord`` ..., the catalog's ``labels.json``
and ``tfrecords.json``:

    {"format": "fashion_tf.tfrecords", "format_version": 1,
     "catalog_fingerprint": "0123abcd...", "catalog": "/abs/path/of/the/catalog",
     "count": 60, "vocabulary": [...], "splits": {"test": 12, "train": 36, "val": 12},
     "label_counts": {"train": [7, 12, ...], ...}, "skipped": {item_id: reason},
     "unusable_masks": {item_id: reason},
     "shards": [{"file": "part-00000-of-00004.tfrecord", "count": 15}, ...]}
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fashion_tf.data.catalog import catalog_fingerprint
from fashion_tf.data.schema import LABELS_FILE
from fashion_tf.format_json import read_format_json

FORMAT = "fashion_tf.tfrecords"
FORMAT_VERSION = 1
MANIFEST_NAME = "tfrecords.json"
# Records held in memory for shuffling (beyond it, the shard order adds the randomness).
SHUFFLE_BUFFER = 10_000


class TFRecordsError(ValueError):
    """A TFRecord directory is missing files or its manifest is malformed."""


def shard_file(shard: int, shards: int) -> str:
    return f"part-{shard:05d}-of-{shards:05d}.tfrecord"


def _example(item_id: str, image: bytes, labels: np.ndarray, split: str, mask: bytes):
    import tensorflow as tf

    def bytes_feature(value: bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        "item_id": bytes_feature(item_id.encode("utf-8")),
        "image": bytes_feature(image),
        "labels": tf.train.Feature(float_list=tf.train.FloatList(value=labels.tolist())),
        "split": bytes_feature(split.encode("utf-8")),
        "mask": bytes_feature(mask),
    }))


def write_tfrecords(catalog_dir: str | Path, out_dir: str | Path, shards: int) -> dict[str, Any]:
    """Writes every readable item of the catalog at ``catalog_dir`` into ``shards``
    TFRecord files (contiguous, nearly equal ranges of ``items.parquet``'s rows) under
    ``out_dir``, with the manifest and the catalog's ``labels.json``; returns the manifest.
    ``out_dir`` is replaced atomically.

    The records hold what training from the catalog directory would read
    (``fashion_tf.data.pipeline``): a folder of images is imported and an unlabelled
    catalog labelled first, images that do not decode are left out (listed under
    ``skipped``), missing masks are computed, and an item whose mask the background
    augmentation would not paste with (unreadable, or flagged in
    ``masks/confidence.json``: listed under ``unusable_masks``) gets ``mask`` b"".
    """
    import tensorflow as tf

    from fashion_tf.data.pipeline import (
        PipelineReport,
        multi_hot,
        pasteable_masks,
        readable_items,
    )
    from fashion_tf.training_data import resolve_catalog

    if int(shards) < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    catalog = resolve_catalog(catalog_dir)
    items = catalog.items.reset_index(drop=True)
    if len(items) == 0:
        raise TFRecordsError(f"{catalog_dir}: the catalog has no items")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST_NAME).exists():
        raise FileExistsError(f"{out} exists and is not a TFRecord directory; choose an empty or new directory")
    report = PipelineReport()
    items, paths, _ = readable_items(catalog, items, None, report)
    items = items.reset_index(drop=True)
    masks, _ = pasteable_masks(catalog, items, report)
    vocabulary = list(catalog.vocabulary)
    labels = multi_hot(list(items["labels"]), vocabulary)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    pieces = np.array_split(np.arange(len(items)), min(int(shards), len(items)))
    entries = []
    for number, rows in enumerate(pieces):
        name = shard_file(number, len(pieces))
        with tf.io.TFRecordWriter(str(tmp / name)) as writer:
            for row in rows:
                mask_bytes = Path(masks[row]).read_bytes() if masks[row] else b""
                writer.write(_example(str(items.at[row, "item_id"]), Path(paths[row]).read_bytes(), labels[row],
                                      items.at[row, "split"], mask_bytes).SerializeToString())
        entries.append({"file": name, "count": len(rows)})
    splits = items["split"].astype(str).to_numpy()
    ids_by_path = dict(zip((str(catalog.path(p)) for p in catalog.items["image"]), catalog.items["item_id"]))
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "catalog_fingerprint": catalog_fingerprint(catalog), "catalog": str(Path(catalog.root).resolve()),
                "count": len(items), "vocabulary": vocabulary,
                "splits": {split: int((splits == split).sum()) for split in sorted(set(splits))},
                # Per split, items carrying each label: the trainer's label frequencies
                # (paper eq. 2) without a pass over the images.
                "label_counts": {split: labels[splits == split].sum(axis=0).astype(int).tolist()
                                 for split in sorted(set(splits))},
                "skipped": {str(ids_by_path.get(path, path)): reason for path, reason in report.skipped.items()},
                "unusable_masks": dict(report.unusable_masks),
                "shards": entries}
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.copyfile(Path(catalog.root) / LABELS_FILE, tmp / LABELS_FILE)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return manifest


def read_tfrecords_manifest(directory: str | Path) -> dict[str, Any]:
    """Reads and checks ``DIR/tfrecords.json`` and that every shard it lists exists."""
    path = Path(directory) / MANIFEST_NAME
    manifest = read_format_json(path, FORMAT, TFRecordsError, f"{directory} is not a TFRecord "
                                "directory (write one with tools/write_tfrecords.py)")
    for field in ("catalog_fingerprint", "count", "vocabulary", "shards"):
        if field not in manifest:
            raise TFRecordsError(f"{path}: field {field!r} missing")
    for entry in manifest["shards"]:
        if not (Path(directory) / entry["file"]).is_file():
            raise TFRecordsError(f"{Path(directory) / entry['file']}: shard listed in {path} not found")
    return manifest


def is_tfrecords_dir(directory: str | Path) -> bool:
    return (Path(directory) / MANIFEST_NAME).is_file()


def read_tfrecords(directory: str | Path, split: str | None = None, parallel_reads: int | None = None,
                   deterministic: bool = False, shuffle: bool = False, seed: int | None = None,
                   shard: tuple[int, int] | None = None, manifest: dict[str, Any] | None = None):
    """A ``tf.data.Dataset`` of dicts ``{"item_id", "image", "labels", "split", "mask"}``
    (string scalars, ``labels`` float32 [L]) over the shards of ``directory``, read with
    ``parallel_reads`` shards interleaved (default: all, at most 16) and parsed in
    parallel; ``split`` keeps one split. Order follows the interleave, not the catalog,
    unless ``deterministic`` (then reads are still parallel, results in a fixed order).
    ``shuffle``: the shard order and (through a buffer of up to ``SHUFFLE_BUFFER``
    records) the records are reshuffled every epoch, reproducibly with ``seed``.

    ``shard=(index, count)``: only worker ``index`` of ``count``'s part: every count-th
    shard file from ``index`` on, or, with fewer files than workers, every count-th
    record (then read in a fixed order, the same on every worker). ``manifest``: the
    directory's :func:`read_tfrecords_manifest`, when the caller has it already."""
    import tensorflow as tf

    manifest = read_tfrecords_manifest(directory) if manifest is None else manifest
    files = [str(Path(directory) / entry["file"]) for entry in manifest["shards"]]
    spec = {
        "item_id": tf.io.FixedLenFeature([], tf.string),
        "image": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.FixedLenFeature([len(manifest["vocabulary"])], tf.float32),
        "split": tf.io.FixedLenFeature([], tf.string),
        "mask": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    }
    by_record = shard is not None and len(files) < shard[1]
    if shard is not None and not by_record:
        files = files[shard[0]::shard[1]]
    deterministic = deterministic or by_record
    cycle = max(1, min(parallel_reads or 16, len(files)))
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        tf.data.TFRecordDataset, cycle_length=cycle, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic)
    dataset = dataset.map(lambda record: tf.io.parse_single_example(record, spec),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if by_record:
        dataset = dataset.shard(shard[1], shard[0])
    if split is not None:
        dataset = dataset.filter(lambda example: tf.equal(example["split"], split))
    if shuffle:
        count = manifest["splits"].get(split, 0) if split is not None and "splits" in manifest else manifest["count"]
        dataset = dataset.shuffle(max(1, min(int(count), SHUFFLE_BUFFER)), seed=None if seed is None else seed + 1,
                                  reshuffle_each_iteration=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
