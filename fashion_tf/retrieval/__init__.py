"""Retrieval: nearest items by cosine similarity (or Euclidean distance) of embeddings
(docs/design.md, "Retrieval").

    from fashion_tf.retrieval import build_index, load_index, read_embeddings
    ids, vectors, fingerprint = read_embeddings("items.parquet")
    index = build_index(ids, vectors, backend="auto", model_fingerprint=fingerprint)
    index.save("index/")
    index = load_index("index/", expected_fingerprint=run.fingerprint)
    item_ids, scores = index.search(query_vectors, k=10)

Backends: ``BruteForceIndex`` (exact) and ``ScannIndex`` (tree + AH + reorder; exact
ScaNN scoring below 20k items); ``ShardedIndex`` holds one of them per shard and merges
their top-k (``build_index(..., shards=N)``). ``backend="auto"`` is ScaNN when the scann package is
importable, else brute force.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fashion_tf.retrieval.base import Index, l2_normalize, recall_at_k
from fashion_tf.retrieval.brute_force import BruteForceIndex, exact_search, exact_top_k, l2_top_k
from fashion_tf.retrieval.embeddings_io import (
    EmbeddingsFileError,
    EmbeddingsWriter,
    iter_embeddings,
    read_embeddings,
    write_embeddings,
)
from fashion_tf.retrieval.manifest import (
    IndexFormatError,
    IndexMismatchError,
    read_manifest,
)
from fashion_tf.retrieval.scann_index import _HAVE_SCANN, ScannIndex
from fashion_tf.retrieval.sharded import ShardedIndex

BACKENDS: dict[str, type[Index]] = {"brute_force": BruteForceIndex, "scann": ScannIndex,
                                    "sharded": ShardedIndex}
_ALIASES = {"brute": "brute_force", "exact": "brute_force"}


def _resolve_backend(backend: str) -> type[Index]:
    name = _ALIASES.get(backend, backend)
    if name == "auto":
        name = "scann" if _HAVE_SCANN else "brute_force"
    if name not in BACKENDS:
        raise ValueError(f"unknown index backend {backend!r}; expected one of "
                         f"'auto', 'scann', 'brute' ('brute_force')")
    return BACKENDS[name]


def build_index(ids: Sequence[str], vectors: np.ndarray, backend: str = "auto",
                model_fingerprint: str | None = None, shards: int = 1, **params: Any) -> Index:
    """Builds an index over ``vectors`` [N, dim] with item ``ids``; ``params`` go to the
    backend (see ``ScannIndex`` / ``BruteForceIndex``). ``shards > 1`` builds a
    ``ShardedIndex`` of that many ``backend`` indexes, each given ``params``. Recall@10
    against exact search is measured here and kept in ``index.recall_at_10`` (and in the
    manifest on save)."""
    if shards > 1:
        index: Index = ShardedIndex(model_fingerprint=model_fingerprint, shards=shards,
                                    shard_backend=backend, shard_params=params)
        return index.add(ids, vectors).build()
    index = _resolve_backend(backend)(model_fingerprint=model_fingerprint, **params)
    return index.add(ids, vectors).build()


def load_index(directory: str | Path, expected_fingerprint: str | None = None,
               expected_dim: int | None = None) -> Index:
    """Loads an index directory with the backend its manifest names (a sharded directory
    loads as a ``ShardedIndex`` with all its shards); raises
    ``IndexMismatchError`` when it was built from another model fingerprint or dimension."""
    manifest = read_manifest(directory)
    if manifest["backend"] not in BACKENDS:
        raise IndexFormatError(f"{Path(directory) / 'manifest.json'}: unknown backend "
                               f"{manifest['backend']!r}; expected one of {sorted(BACKENDS)}")
    return BACKENDS[manifest["backend"]].load(directory, expected_fingerprint, expected_dim)


__all__ = [
    "BACKENDS", "BruteForceIndex", "EmbeddingsFileError", "EmbeddingsWriter", "Index",
    "IndexFormatError", "IndexMismatchError", "ScannIndex", "ShardedIndex", "build_index", "exact_search",
    "exact_top_k", "iter_embeddings", "l2_normalize", "l2_top_k", "load_index", "read_embeddings", "read_manifest",
    "recall_at_k", "write_embeddings",
]
