"""Builds a retrieval index from an embedding file and writes it with its manifest.

    python tools/build_index.py --embeddings items.parquet --backend auto --out index/
    python tools/build_index.py --embeddings embeddings_dir/ --shards 8 --out index/

``--embeddings`` is one Parquet embedding file or a directory of them (read in name
order; their model fingerprints must agree). ``--shards N`` builds N indexes over
contiguous ranges of the items (each with its own manifest and recall@10) inside one
sharded index directory whose search merges the shards' top-k
(fashion_tf/retrieval/sharded.py).

Backends: ``scann`` (tree + asymmetric hashing + reorder; exact ScaNN scoring below 20k
items), ``brute`` (exact), ``auto`` (scann when installed). ScaNN parameters not given are
chosen from the catalog size, and the search setting is tuned to ``--target-recall``
within ``--tuning-budget`` seconds (fashion_tf/retrieval/scann_tuning.py). The summary
line reports the chosen setting and the recall@10 against exact search measured at build
time (both also in index/manifest.json).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.retrieval import EmbeddingsFileError, build_index, read_embeddings


def read_embeddings_path(path: str | Path) -> tuple[np.ndarray, np.ndarray, str | None]:
    """``read_embeddings`` for a file, or for every ``*.parquet`` in a directory."""
    path = Path(path)
    if not path.is_dir():
        return read_embeddings(path)
    files = sorted(path.glob("*.parquet"))
    if not files:
        raise EmbeddingsFileError(f"{path}: no *.parquet embedding files in this directory")
    parts = [(file, *read_embeddings(file)) for file in files]
    fingerprints = {fingerprint for _, _, _, fingerprint in parts}
    if len(fingerprints) > 1:
        raise EmbeddingsFileError(f"{path}: embedding files come from different models "
                                  f"(fingerprints {sorted(map(str, fingerprints))}); expected one")
    return (np.concatenate([ids for _, ids, _, _ in parts]),
            np.concatenate([vectors for _, _, vectors, _ in parts]), fingerprints.pop())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embeddings", required=True, help="Parquet embedding file (item_id, embedding) or a directory of them")
    parser.add_argument("--backend", choices=["auto", "scann", "brute"], default="auto")
    parser.add_argument("--out", required=True, help="index directory to write")
    parser.add_argument("--shards", type=int, default=1,
                        help="build this many per-shard indexes and merge their results (default 1)")
    parser.add_argument("--mode", choices=["auto", "tree", "brute_force"], default="auto",
                        help="scann only: force the tree or exact scoring (default: by size)")
    parser.add_argument("--num-leaves", type=int, default=None, help="scann: tree leaves (default sqrt(n))")
    parser.add_argument("--num-leaves-to-search", type=int, default=None,
                        help="scann: leaves per query (default: tuned to --target-recall)")
    parser.add_argument("--reorder", type=int, default=None,
                        help="scann: exact rescoring shortlist for k=10 (default: tuned)")
    parser.add_argument("--target-recall", type=float, default=None, help="scann: recall@10 to tune for (0.95)")
    parser.add_argument("--tuning-budget", type=float, default=None,
                        help="scann: seconds the search-setting tuning may take (default 120)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    print(f"reading {args.embeddings} ...", file=sys.stderr, flush=True)
    ids, vectors, fingerprint = read_embeddings_path(args.embeddings)
    params = {}
    if args.backend != "brute":
        params = {key: value for key, value in {
            "mode": args.mode, "num_leaves": args.num_leaves,
            "num_leaves_to_search": args.num_leaves_to_search,
            "reorder_candidates": args.reorder, "target_recall": args.target_recall,
            "tuning_budget_s": args.tuning_budget}.items()
            if value is not None}
    shards = f"{args.shards} shards of " if args.shards > 1 else ""
    print(f"building {shards}{args.backend} index over {len(ids):,} x {vectors.shape[1]} ...",
          file=sys.stderr, flush=True)
    index = build_index(ids, vectors, backend=args.backend, model_fingerprint=fingerprint,
                        shards=args.shards, **params)
    print(f"saving to {args.out} ...", file=sys.stderr, flush=True)
    index.save(args.out)
    for shard in getattr(index, "shards", []):
        print(f"  shard {shard.location}: {len(shard):,} items recall@10={shard.recall_at_10:.3f}")
    settings = ", ".join(f"{key}={index.params[key]}" for key in
                         ("resolved_mode", "num_leaves", "num_leaves_to_search", "reorder_candidates",
                          "tuned_recall_at_10")
                         if index.params.get(key) is not None)
    print(f"build_index: {index.backend} index of {len(index):,} items x {index.dim} "
          f"(fingerprint {fingerprint}) recall@10={index.recall_at_10:.3f} "
          f"{settings + ' ' if settings else ''}in {time.perf_counter() - start:.1f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
