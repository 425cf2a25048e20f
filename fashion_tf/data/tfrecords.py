"""A catalog as sharded TFRecord files, and a ``tf.data`` reader over them.

Reading millions of small image files is slow on network storage; a few hundred large
``tf.train.Example`` files read in parallel are not (the TensorFlow guide "Better
performance with the tf.data API", section "Parallelizing data extraction"). Each
record holds one catalog item:

    item_id  bytes    the catalog's item id
    image    bytes    the image file's bytes as stored (JPEG/PNG, decoded when read)
    labels   float[L] multi-hot over the vocabulary in the manifest
    split    bytes    "train" | "val" | "test"
    mask     bytes    the mask PNG's bytes, b"" when the item has none

The directory holds ``part-00000-of-00004.tfrecord`` ... and ``tfrecords.json``:

    {"format": "fashion_tf.tfrecords", "format_version": 1,
     "catalog_fingerprint": "0123abcd...", "count": 60, "vocabulary": [...],
     "shards": [{"file": "part-00000-of-00004.tfrecord", "count": 15}, ...]}
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fashion_tf.data.catalog import catalog_fingerprint, load_catalog
from fashion_tf.format_json import read_format_json

FORMAT = "fashion_tf.tfrecords"
FORMAT_VERSION = 1
MANIFEST_NAME = "tfrecords.json"


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
    """Writes every item of the catalog at ``catalog_dir`` into ``shards`` TFRecord files
    (contiguous, nearly equal ranges of ``items.parquet``'s rows) under ``out_dir``, with
    the manifest; returns the manifest. ``out_dir`` is replaced atomically."""
    import tensorflow as tf

    from fashion_tf.data.pipeline import multi_hot

    if int(shards) < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    catalog = load_catalog(catalog_dir)
    items = catalog.items.reset_index(drop=True)
    if len(items) == 0:
        raise TFRecordsError(f"{catalog_dir}: the catalog has no items")
    vocabulary = catalog.vocabulary or sorted({label for labels in items["labels"] for label in labels})
    labels = multi_hot(list(items["labels"]), vocabulary)
    masks = items["mask"] if "mask" in items.columns else [None] * len(items)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST_NAME).exists():
        raise FileExistsError(f"{out} exists and is not a TFRecord directory; choose an empty or new directory")
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
                image_path = catalog.path(items.at[row, "image"])
                if not image_path.is_file():
                    raise TFRecordsError(f"{catalog_dir}/items.parquet: item {items.at[row, 'item_id']!r} "
                                         f"image {image_path} not found")
                mask = masks[row]
                mask_bytes = catalog.path(mask).read_bytes() if isinstance(mask, str) and mask and \
                    catalog.path(mask).is_file() else b""
                writer.write(_example(items.at[row, "item_id"], image_path.read_bytes(), labels[row],
                                      items.at[row, "split"], mask_bytes).SerializeToString())
        entries.append({"file": name, "count": len(rows)})
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "catalog_fingerprint": catalog_fingerprint(catalog), "count": len(items),
                "vocabulary": list(vocabulary), "shards": entries}
    (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
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
                   deterministic: bool = False):
    """A ``tf.data.Dataset`` of dicts ``{"item_id", "image", "labels", "split", "mask"}``
    (string scalars, ``labels`` float32 [L]) over the shards of ``directory``, read with
    ``parallel_reads`` shards interleaved (default: all, at most 16) and parsed in
    parallel; ``split`` keeps one split. Order follows the interleave, not the catalog,
    unless ``deterministic`` (then reads are still parallel, results in a fixed order)."""
    import tensorflow as tf

    manifest = read_tfrecords_manifest(directory)
    files = [str(Path(directory) / entry["file"]) for entry in manifest["shards"]]
    spec = {
        "item_id": tf.io.FixedLenFeature([], tf.string),
        "image": tf.io.FixedLenFeature([], tf.string),
        "labels": tf.io.FixedLenFeature([len(manifest["vocabulary"])], tf.float32),
        "split": tf.io.FixedLenFeature([], tf.string),
        "mask": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    }
    cycle = max(1, min(parallel_reads or 16, len(files)))
    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=cycle, num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic)
    dataset = dataset.map(lambda record: tf.io.parse_single_example(record, spec),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if split is not None:
        dataset = dataset.filter(lambda example: tf.equal(example["split"], split))
    return dataset.prefetch(tf.data.AUTOTUNE)
