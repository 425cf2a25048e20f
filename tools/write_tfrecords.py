"""Writes a catalog as sharded TFRecord files with a manifest (fashion_tf/data/tfrecords.py).

    python tools/write_tfrecords.py --catalog cat/hm --out records/hm --shards 64

Each record is one item: the image file's bytes, the item id, multi-hot labels over the
catalog's vocabulary, the split and the mask PNG's bytes (empty without a mask). The
manifest ``tfrecords.json`` lists the shards, their counts, the vocabulary and the
catalog's fingerprint; ``fashion_tf.data.tfrecords.read_tfrecords`` reads them back as a
``tf.data.Dataset`` with parallel interleaved reads.
"""
from __future__ import annotations

import argparse
import sys
import time

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.data.tfrecords import write_tfrecords


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", required=True, help="catalog directory (items.parquet, images)")
    parser.add_argument("--out", required=True, help="directory to write the shards and manifest to")
    parser.add_argument("--shards", type=int, default=16, help="number of TFRecord files (default 16)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    manifest = write_tfrecords(args.catalog, args.out, args.shards)
    print(f"write_tfrecords: {manifest['count']:,} items in {len(manifest['shards'])} shards "
          f"(catalog fingerprint {manifest['catalog_fingerprint']}, {len(manifest['vocabulary'])} labels) "
          f"in {time.perf_counter() - start:.1f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
