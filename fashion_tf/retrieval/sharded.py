"""Sharded index: one index per shard of the catalog, every shard searched, top-k merged.

One ScaNN index must fit one machine's memory; splitting the items into N shards lets each
shard be built (and later served) on its own, the way ScaNN's authors scale past one host
(Guo et al., "Accelerating Large-Scale Inference with Anisotropic Vector Quantization",
ICML 2020, section 5: the database is partitioned and partial results merged).

Items are split into N contiguous, nearly equal ranges in insertion order, so a shard's
row r is the sharded index's row ``offset + r``. ``search`` asks every shard for its own
top-``min(k, shard size)`` and keeps the best k of the union, ties broken by row as the
exact backend does; with exact shards the result is therefore the exact top-k.

Directory layout: the usual ``manifest.json`` (backend ``"sharded"``) and ``item_ids.parquet``,
plus one complete index directory per shard, ``shard-00000-of-00004/`` ... (each with its
own manifest and measured recall@10), listed in the manifest's ``files``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fashion_tf.retrieval.base import Index
from fashion_tf.retrieval.manifest import IndexFormatError


def shard_name(shard: int, shards: int) -> str:
    return f"shard-{shard:05d}-of-{shards:05d}"


def merge_top_k(indices: list[np.ndarray], scores: list[np.ndarray], k: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Merges per-shard results (global row indices) into the best k per query, sorted by
    descending score and ascending row (the exact backend's order)."""
    all_indices = np.concatenate(indices, axis=1)
    all_scores = np.concatenate(scores, axis=1)
    order = np.lexsort((all_indices, -all_scores), axis=-1)[:, :k]
    return np.take_along_axis(all_indices, order, axis=1), np.take_along_axis(all_scores, order, axis=1)


class ShardedIndex(Index):
    """An index made of ``shards`` sub-indexes of backend ``shard_backend``.

    Args:
        shards: number of shards (>= 1); fewer when there are fewer items.
        shard_backend: backend of each shard: "auto", "scann" or "brute" (see
            ``fashion_tf.retrieval.build_index``).
        shard_params: build parameters passed to every shard.
    """

    backend = "sharded"

    def __init__(self, model_fingerprint: str | None = None, shards: int = 2,
                 shard_backend: str = "auto", shard_params: dict[str, Any] | None = None,
                 distance: str = "cosine"):
        from fashion_tf.retrieval import (
            _resolve_backend,  # the registry imports this module
        )

        if int(shards) < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self._shard_cls = _resolve_backend(shard_backend)
        super().__init__(model_fingerprint=model_fingerprint, distance=distance, shards=int(shards),
                         shard_backend=self._shard_cls.backend, shard_params=dict(shard_params or {}))
        self.shards: list[Index] = []
        self._offsets = np.zeros(0, np.int64)

    def _build(self, new_vectors: np.ndarray) -> np.ndarray:
        if self.shards:
            raise ValueError("a sharded index is built once; build a new one to add items")
        pieces = np.array_split(np.arange(len(new_vectors)), min(self.params["shards"], len(new_vectors)))
        ids = self._building_ids  # Index.build sets self._ids only after _build
        for rows in pieces:
            shard = self._shard_cls(model_fingerprint=self.model_fingerprint, distance=self.distance,
                                    **self.params["shard_params"])
            # vectors are already normalised; normalising again is a no-op up to rounding.
            self.shards.append(shard.add(ids[rows], new_vectors[rows]).build())
        self._offsets = np.array([rows[0] for rows in pieces], np.int64)
        return new_vectors

    def build(self) -> Index:
        """As ``Index.build``; remembers the ids so ``_build`` can hand each shard its own."""
        if self._pending_ids:
            self._building_ids = np.concatenate([self._ids, *self._pending_ids])
        return super().build()

    def _stored_vectors(self) -> np.ndarray:
        return np.concatenate([np.asarray(shard.vectors) for shard in self.shards])

    def _search(self, queries: np.ndarray, k: int, **search_options: Any
                ) -> tuple[np.ndarray, np.ndarray]:
        indices, scores = [], []
        for shard, offset in zip(self.shards, self._offsets):
            found, found_scores = shard._search(queries, min(k, len(shard)), **search_options)
            indices.append(found + offset)
            scores.append(found_scores)
        return merge_top_k(indices, scores, k)

    def _save_backend(self, directory: Path) -> dict[str, str]:
        names = {}
        for number, shard in enumerate(self.shards):
            name = shard_name(number, len(self.shards))
            shard.save(directory / name)
            names[f"shard_{number:05d}"] = name
        return names

    def _load_backend(self, directory: Path, manifest: dict[str, Any]) -> None:
        from fashion_tf.retrieval import load_index

        names = [manifest["files"][role] for role in sorted(manifest["files"]) if role.startswith("shard_")]
        if not names:
            raise IndexFormatError(f"{directory / 'manifest.json'}: lists no shards")
        self.shards, offsets, total = [], [], 0
        for name in names:
            path = directory / name
            if not path.is_dir():
                raise IndexFormatError(f"{path}: shard {name} not found; the sharded index at "
                                       f"{directory} is incomplete")
            shard = load_index(path, expected_dim=self.dim)
            if shard.model_fingerprint != self.model_fingerprint:
                raise IndexFormatError(f"{path}: shard built from model fingerprint "
                                       f"{shard.model_fingerprint}, but {directory} says "
                                       f"{self.model_fingerprint}")
            if not np.array_equal(shard._ids, self._ids[total:total + len(shard)]):
                raise IndexFormatError(f"{path}: item ids differ from rows {total}.. of "
                                       f"{directory}/item_ids.parquet")
            offsets.append(total)
            total += len(shard)
            self.shards.append(shard)
        if total != len(self._ids):
            raise IndexFormatError(f"{directory}: shards hold {total} items but the manifest "
                                   f"says {len(self._ids)}")
        self._offsets = np.array(offsets, np.int64)
