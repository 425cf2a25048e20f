"""Top-k retrieval for many queries into a directory of Parquet parts, resumable.

    python tools/batch_retrieve.py --index INDEX_DIR --embeddings queries.parquet \
        --k 10 --out results.parquet
    python tools/batch_retrieve.py --index INDEX_DIR --run runs/v5 --images photos/ \
        --k 10 --out results.parquet

``--out`` is a directory of ``part-NNNNNN.parquet`` files (``pandas.read_parquet(OUT)``
reads it): columns query_id, rank, item_id, score. Killed runs resume where they stopped
when rerun with the same arguments. See fashion_tf/retrieval/batch.py.
"""
from __future__ import annotations

import argparse
import sys

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.retrieval import load_index
from fashion_tf.retrieval.batch import EmbeddingQueries, ImageQueries, batch_retrieve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", required=True, help="index directory (tools/build_index.py)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--embeddings", help="Parquet embedding file of the queries")
    source.add_argument("--run", help="training run directory whose model embeds --images")
    parser.add_argument("--images", help="with --run: image directory or Parquet with 'image' column")
    parser.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    parser.add_argument("--out", required=True, help="output directory of Parquet parts")
    parser.add_argument("--batch-size", type=int, default=10_000, help="queries per part (default 10000)")
    parser.add_argument("--exclude-self", action="store_true",
                        help="drop each query's own item id from its results")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="stop after writing this many new parts (resume later)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    if args.run and not args.images:
        parser.error("--run needs --images (a directory of images or a Parquet listing)")
    if args.k < 1 or args.batch_size < 1:
        parser.error("--k and --batch-size must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.embeddings:
        queries = EmbeddingQueries(args.embeddings, args.batch_size)
        expected_dim = queries.dim if queries.dim > 0 else None
    else:
        from fashion_tf.runs import load_run

        queries = ImageQueries(load_run(args.run), args.images, args.batch_size)
        expected_dim = None
    index = load_index(args.index, expected_fingerprint=queries.fingerprint, expected_dim=expected_dim)
    summary = batch_retrieve(index, queries, args.out, args.k, exclude_self=args.exclude_self,
                             max_batches=args.max_batches, progress=not args.quiet,
                             index_dir=args.index)
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
