"""Exact search: NumPy matrix products in blocks (docs/design.md, "Retrieval").

Memory stays bounded whatever the catalog size: queries are taken ``query_chunk`` at a
time and the database ``block_rows`` rows at a time, so the largest temporary is a
[query_chunk, block_rows] score matrix (64 MiB with the defaults), and only a running
top-k per query survives between blocks. 1M x 256 items is 1 GiB of vectors plus that.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fashion_tf.retrieval.base import Index

VECTORS_NAME = "vectors.npy"


def _top_k_rows(scores: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Keeps the k best columns of each row (unsorted)."""
    if scores.shape[1] <= k:
        return scores, indices
    part = np.argpartition(scores, scores.shape[1] - k, axis=1)[:, -k:]
    return np.take_along_axis(scores, part, axis=1), np.take_along_axis(indices, part, axis=1)


def exact_top_k(database: np.ndarray, queries: np.ndarray, k: int, *, block_rows: int = 16384,
                query_chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by dot product.

    Args:
        database: float32 [N, D] (normalised for cosine; may be a memory map).
        queries: float32 [Q, D].
        k: neighbours per query, 1 <= k <= N.

    Returns:
        (indices int64 [Q, k], scores float32 [Q, k]) sorted by descending score, ties by
        ascending index.
    """
    n = database.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    out_indices = np.empty((len(queries), k), np.int64)
    out_scores = np.empty((len(queries), k), np.float32)
    for q_start in range(0, len(queries), query_chunk):
        chunk = np.asarray(queries[q_start:q_start + query_chunk], np.float32)
        best_scores = np.empty((len(chunk), 0), np.float32)
        best_indices = np.empty((len(chunk), 0), np.int64)
        for start in range(0, n, block_rows):
            block = np.asarray(database[start:start + block_rows], np.float32)
            scores = chunk @ block.T
            positions = np.broadcast_to(np.arange(start, start + len(block), dtype=np.int64), scores.shape)
            scores, positions = _top_k_rows(scores, positions, k)
            best_scores, best_indices = _top_k_rows(
                np.concatenate([best_scores, scores], axis=1),
                np.concatenate([best_indices, positions], axis=1), k)
        order = np.lexsort((best_indices, -best_scores), axis=-1)
        out_scores[q_start:q_start + len(chunk)] = np.take_along_axis(best_scores, order, axis=1)
        out_indices[q_start:q_start + len(chunk)] = np.take_along_axis(best_indices, order, axis=1)
    return out_indices, out_scores


def l2_top_k(database: np.ndarray, queries: np.ndarray, k: int, **blocks) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by Euclidean distance, as ``exact_top_k`` with scores = -distance.

    ||q - x||^2 = ||q||^2 - 2 (q.x - ||x||^2 / 2): the bracket is a dot product of
    [q, 1] with [x, -||x||^2 / 2], so the blocked dot-product search ranks it exactly.
    """
    database = np.asarray(database, np.float32)
    queries = np.asarray(queries, np.float32)
    half_norms = -0.5 * np.einsum("ij,ij->i", database, database)
    indices, scores = exact_top_k(np.hstack([database, half_norms[:, None]]),
                                  np.hstack([queries, np.ones((len(queries), 1), np.float32)]), k, **blocks)
    squared = np.einsum("ij,ij->i", queries, queries)[:, None] - 2.0 * scores
    return indices, -np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)


def exact_search(database: np.ndarray, queries: np.ndarray, k: int, distance: str = "cosine",
                 **blocks) -> tuple[np.ndarray, np.ndarray]:
    """``exact_top_k`` (dot product of normalised vectors) or ``l2_top_k`` by ``distance``."""
    return (l2_top_k if distance == "l2" else exact_top_k)(database, queries, k, **blocks)


class BruteForceIndex(Index):
    """Exact cosine (or Euclidean) search over all items (the reference every approximate
    index is measured against; fine up to about a million items when queries come in batches).

    Args:
        distance: "cosine" or "l2" (see ``fashion_tf.retrieval.base``).
        block_rows: database rows scored per matrix product.
        query_chunk: queries scored together.
    """

    backend = "brute_force"

    def __init__(self, model_fingerprint: str | None = None, block_rows: int = 16384,
                 query_chunk: int = 1024, distance: str = "cosine"):
        super().__init__(model_fingerprint=model_fingerprint, distance=distance, block_rows=block_rows,
                         query_chunk=query_chunk)
        self._vectors = np.zeros((0, 0), np.float32)

    def _build(self, new_vectors: np.ndarray) -> np.ndarray:
        self._vectors = new_vectors if len(self._vectors) == 0 else np.concatenate(
            [self._vectors, new_vectors])
        return self._vectors

    def _stored_vectors(self) -> np.ndarray:
        return self._vectors

    def _measure_recall(self, vectors: np.ndarray) -> float:
        return 1.0  # exact by construction: the recall sample would compare it with itself

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return exact_search(self._vectors, queries, k, self.distance, block_rows=self.params["block_rows"],
                            query_chunk=self.params["query_chunk"])

    def _save_backend(self, directory: Path) -> dict[str, str]:
        np.save(directory / VECTORS_NAME, np.ascontiguousarray(self._vectors))
        return {"vectors": VECTORS_NAME}

    def _load_backend(self, directory: Path, manifest: dict[str, Any]) -> None:
        path = directory / VECTORS_NAME
        if not path.is_file():
            from fashion_tf.retrieval.manifest import IndexFormatError
            raise IndexFormatError(f"{path}: not found; the index directory is incomplete")
        # A memory map keeps loading instant and lets the OS page a large index in and out.
        try:
            self._vectors = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as error:  # truncated: shorter than its header says
            from fashion_tf.retrieval.manifest import IndexFormatError
            raise IndexFormatError(f"{path}: unreadable ({error}); the index directory is damaged, "
                                   "rebuild it") from None
        if self._vectors.shape != (len(self._ids), self.dim):
            from fashion_tf.retrieval.manifest import IndexFormatError
            raise IndexFormatError(f"{path}: shape {self._vectors.shape}, expected "
                                   f"({len(self._ids)}, {self.dim}) from the manifest")
