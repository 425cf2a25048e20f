"""The ``Index`` base class shared by all retrieval backends (docs/design.md, "Retrieval").

Modelled on tensorflow/similarity's ``search/search.py``: one small abstract class,
backends implement building, searching and their own files. Similarity is cosine by
default: vectors are L2-normalised on ``add`` and on ``search`` and scored by dot
product, as the paper ranks recommendations (section 3: cosine similarity of the
embeddings). ``distance="l2"`` keeps the vectors as they are and ranks by Euclidean
distance, the k-NN of Tuinhof, Pirker & Haltmeier ("Image Based Fashion Product
Recommendation with Deep Learning", section 3.3); scores are then the negative
distances, so higher is closer under either distance.

Rules every backend follows:
- ``k`` larger than the number of items is clipped to it: ``search`` then returns
  ``min(k, len(index))`` columns (never padding), so callers can always use every column.
- Searching an empty index, ``k < 1`` or queries of another dimension raise ``ValueError``.
- Zero vectors stay zero after normalisation (they score 0 against everything).
- Results are sorted by descending score (the exact backend breaks ties by insertion order).
"""
from __future__ import annotations

import abc
import datetime as _dt
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fashion_tf.retrieval import manifest as manifest_lib

RECALL_SAMPLE_QUERIES = 200
DISTANCES = ("cosine", "l2")


UNIT_TOLERANCE = 1e-5  # |squared norm - 1| below which a row counts as already unit length


def l2_normalize(vectors: np.ndarray, copy: bool = True) -> np.ndarray:
    """Row-wise L2 normalisation in float32; zero rows stay zero.

    Embedding models already output unit vectors, so when every row is unit length (or
    zero) within float32 rounding the vectors come back unchanged: with ``copy=False``
    as the same array, without the division and the copy (a search of many queries then
    only pays for the norms; ``batch_retrieve`` relies on this). Otherwise a new array.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    squared = np.einsum("ij,ij->i", vectors, vectors) if vectors.ndim == 2 else None
    if squared is not None and bool(np.all((np.abs(squared - 1) <= UNIT_TOLERANCE) | (squared == 0))):
        return vectors.copy() if copy else np.ascontiguousarray(vectors)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.float32(1e-12))


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k indices that appear in the found top-k, averaged over queries."""
    hits = sum(len(np.intersect1d(f, e)) for f, e in zip(found, exact))
    return hits / max(exact.size, 1)


class Index(abc.ABC):
    """Nearest-neighbour index over item embeddings with cosine similarity.

    Args:
        model_fingerprint: fingerprint of the model that made the embeddings (recorded in
            the manifest; ``load`` checks it).
        distance: "cosine" (default) or "l2" (Euclidean; vectors are not normalised).
        **params: backend build parameters (see each backend).
    """

    backend: ClassVar[str]
    # params the build fills in (kept in the manifest, but not constructor arguments).
    BUILD_RESULTS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model_fingerprint: str | None = None, distance: str = "cosine", **params: Any):
        if distance not in DISTANCES:
            raise ValueError(f"distance {distance!r}: expected one of {DISTANCES}")
        self.model_fingerprint = model_fingerprint
        self.distance = distance
        self.params: dict[str, Any] = dict(params)
        self.dim: int | None = None
        self.recall_at_10: float | None = None
        self.build_seconds: float | None = None
        self.location: str = "this index"
        self._ids = np.zeros(0, dtype=object)
        self._ids_arrow: pa.StringArray | None = None
        self._pending_ids: list[np.ndarray] = []
        self._pending_vectors: list[np.ndarray] = []

    # ----------------------------------------------------------------- public API
    def __len__(self) -> int:
        return len(self._ids) + sum(len(ids) for ids in self._pending_ids)

    @property
    def ids(self) -> np.ndarray:
        self._ensure_built()
        return self._ids

    @property
    def vectors(self) -> np.ndarray:
        """The normalised item vectors [N, dim], row i = ``ids[i]`` (e.g. for an exact index
        inside a SavedModel); may be a read-only memory map after ``load``."""
        self._ensure_built()
        return self._stored_vectors()

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> Index:
        """Adds items; ``vectors`` is [N, dim] and is L2-normalised here (cosine). Returns self."""
        ids = np.asarray([str(i) for i in ids], dtype=object)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D [N, dim], got shape {vectors.shape}")
        if len(ids) != vectors.shape[0]:
            raise ValueError(f"{len(ids)} ids but {vectors.shape[0]} vectors; expected one id per vector")
        if self.dim is not None and vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {vectors.shape[1]} but {self.location} "
                             f"has dimension {self.dim}")
        if not np.isfinite(vectors).all():
            bad = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
            raise ValueError(f"vector of item {ids[bad]!r} contains NaN or infinity")
        self.dim = vectors.shape[1]
        self._pending_ids.append(ids)
        self._pending_vectors.append(self._normalize(vectors))
        return self

    def build(self) -> Index:
        """Builds the backend structures from everything added and measures recall@10."""
        if not self._pending_ids:
            return self
        if len(self) == 0:  # only empty batches were added: stay empty (search will say so)
            self._pending_ids, self._pending_vectors = [], []
            return self
        ids = np.concatenate([self._ids, *self._pending_ids])
        unique, counts = np.unique(ids, return_counts=True)
        if len(unique) != len(ids):
            raise ValueError(f"duplicate item ids, e.g. {unique[counts > 1][:3].tolist()}; "
                             "item ids must be unique")
        new_vectors = np.concatenate(self._pending_vectors)
        self._pending_ids, self._pending_vectors = [], []
        start = time.perf_counter()
        vectors = self._build(new_vectors)
        self._ids, self._ids_arrow = ids, None
        self.recall_at_10 = self._measure_recall(vectors)
        self.build_seconds = time.perf_counter() - start
        return self

    def search(self, queries: np.ndarray, k: int = 10, **search_options: Any
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k items for each query.

        Args:
            queries: float [Q, dim] (or [dim] for one query); normalised here.
            k: results per query; clipped to ``len(self)`` (see the module docstring).
            **search_options: backend search settings (``ScannIndex``: num_leaves_to_search,
                reorder_candidates).

        Returns:
            ``(ids [Q, k'] object array of str, scores [Q, k'] float32)`` with
            ``k' = min(k, len(self))``, best first.
        """
        indices, scores = self.search_indices(queries, k, **search_options)
        return self._ids[indices], scores

    def search_indices(self, queries: np.ndarray, k: int = 10, **search_options: Any
                       ) -> tuple[np.ndarray, np.ndarray]:
        """As ``search`` but returns row numbers (int64 [Q, k']) into ``ids`` instead of ids."""
        queries, k = self._prepare_queries(queries, k)
        return self._search(queries, k, **search_options)

    @property
    def ids_arrow(self) -> pa.StringArray:
        """``ids`` as an Arrow string array, built once (fast ``take`` for batch output)."""
        self._ensure_built()
        if self._ids_arrow is None or len(self._ids_arrow) != len(self._ids):
            self._ids_arrow = pa.array(list(self._ids), pa.string())
        return self._ids_arrow

    def save(self, directory: str | Path) -> Path:
        """Writes the index to ``directory`` (replaced atomically when it holds an index)."""
        self._ensure_built()
        if len(self) == 0:
            raise ValueError("cannot save an empty index; add items first")
        directory = Path(directory)
        if directory.exists() and any(directory.iterdir()) and not (
                directory / manifest_lib.MANIFEST_NAME).exists():
            raise FileExistsError(f"{directory} exists and is not an index directory; "
                                  "choose an empty or new directory")
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        pq.write_table(pa.table({"item_id": pa.array(list(self._ids), pa.string())}),
                       tmp / manifest_lib.ITEM_IDS_NAME)
        files = {"item_ids": manifest_lib.ITEM_IDS_NAME, **self._save_backend(tmp)}
        manifest_lib.write_manifest(tmp, {
            "backend": self.backend, "distance": self.distance, "dimension": self.dim,
            "count": len(self), "model_fingerprint": self.model_fingerprint,
            "params": self.params, "recall_at_10": self.recall_at_10,
            "recall_sample_queries": min(RECALL_SAMPLE_QUERIES, len(self)),
            "build_seconds": self.build_seconds, "files": files,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        })
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
        self.location = f"index at {directory}"
        return directory

    @classmethod
    def load(cls, directory: str | Path, expected_fingerprint: str | None = None,
             expected_dim: int | None = None) -> Index:
        """Loads an index saved by ``save``; raises ``IndexMismatchError`` when the manifest's
        model fingerprint or dimension differ from the expected ones."""
        directory = Path(directory)
        manifest = manifest_lib.read_manifest(directory)
        if manifest["backend"] != cls.backend:
            raise manifest_lib.IndexFormatError(
                f"{directory / manifest_lib.MANIFEST_NAME}: backend {manifest['backend']!r}, but "
                f"{cls.__name__} loads {cls.backend!r}; use fashion_tf.retrieval.load_index")
        manifest_lib.check_compatible(manifest, directory, expected_fingerprint, expected_dim)
        arguments = {k: v for k, v in manifest["params"].items() if k not in cls.BUILD_RESULTS}
        try:
            index = cls(model_fingerprint=manifest["model_fingerprint"], distance=manifest["distance"],
                        **arguments)
        except TypeError as error:
            raise manifest_lib.IndexFormatError(
                f"{directory / manifest_lib.MANIFEST_NAME}: params do not fit {cls.__name__} ({error})") from error
        index.params.update(manifest["params"])  # keeps values resolved at build time
        index.dim = int(manifest["dimension"])
        index.recall_at_10 = manifest.get("recall_at_10")
        index.build_seconds = manifest.get("build_seconds")
        index.location = f"index at {directory}"
        ids_path = directory / manifest_lib.ITEM_IDS_NAME
        if not ids_path.is_file():
            raise manifest_lib.IndexFormatError(f"{ids_path}: not found; the index directory is incomplete")
        try:
            index._ids = np.asarray(pq.read_table(ids_path).column("item_id").to_pylist(), dtype=object)
        except (OSError, KeyError, ValueError) as error:  # truncated or foreign file (ArrowInvalid is a ValueError)
            raise manifest_lib.IndexFormatError(f"{ids_path}: unreadable ({str(error).splitlines()[0]}); "
                                                "the index directory is damaged, rebuild it") from None
        if len(index._ids) != int(manifest["count"]):
            raise manifest_lib.IndexFormatError(
                f"{ids_path}: {len(index._ids)} ids but the manifest says count {manifest['count']}")
        index._load_backend(directory, manifest)
        return index

    # ------------------------------------------------------------ backend hooks
    @abc.abstractmethod
    def _build(self, new_vectors: np.ndarray) -> np.ndarray:
        """Indexes ``new_vectors`` (normalised, appended after existing items); returns all
        vectors of the index (used to measure recall)."""

    @abc.abstractmethod
    def _stored_vectors(self) -> np.ndarray:
        """All normalised item vectors in id order."""

    @abc.abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Searches normalised queries; returns (int indices [Q, k], float32 scores [Q, k])."""

    @abc.abstractmethod
    def _save_backend(self, directory: Path) -> dict[str, str]:
        """Writes backend files into ``directory``; returns {role: relative file name}."""

    @abc.abstractmethod
    def _load_backend(self, directory: Path, manifest: dict[str, Any]) -> None:
        """Reads the backend files written by ``_save_backend``."""

    # ------------------------------------------------------------------ helpers
    def _ensure_built(self) -> None:
        if self._pending_ids:
            self.build()

    def _prepare_queries(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        self._ensure_built()
        if len(self) == 0:
            raise ValueError(f"{self.location} is empty; add items before searching")
        queries = np.asarray(queries, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries have shape {queries.shape} (dimension {queries.shape[-1]}) "
                             f"but {self.location} has dimension {self.dim}; expected [Q, {self.dim}]")
        if int(k) < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        # queries are only read: no copy of already-unit queries
        return self._normalize(queries, copy=False), min(int(k), len(self))

    def _normalize(self, vectors: np.ndarray, copy: bool = True) -> np.ndarray:
        if self.distance == "cosine":
            return l2_normalize(vectors, copy=copy)
        return np.array(vectors, np.float32, copy=copy or None)

    def _measure_recall(self, vectors: np.ndarray) -> float:
        """recall@10 against exact search, with up to 200 database vectors as queries."""
        from fashion_tf.retrieval.brute_force import exact_search

        rng = np.random.default_rng(0)
        sample = rng.choice(len(vectors), size=min(RECALL_SAMPLE_QUERIES, len(vectors)), replace=False)
        k = min(10, len(vectors))
        exact, _ = exact_search(vectors, vectors[sample], k, self.distance)
        found, _ = self._search(vectors[sample], k)
        return recall_at_k(found, exact)
