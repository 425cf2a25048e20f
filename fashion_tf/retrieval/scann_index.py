"""ScaNN backend: tree partitioning + anisotropic asymmetric hashing + exact reordering.

Guo et al., "Accelerating Large-Scale Inference with Anisotropic Vector Quantization"
(ICML 2020); built with ``scann_ops_pybind`` the way TFRS's ``layers/factorized_top_k.ScaNN``
builds its searcher. Defaults are scaled to the number of items n (DESIGN.md section 7):

- ``num_leaves`` = round(sqrt(n)) k-means leaves (about sqrt(n) items each);
- ``num_leaves_to_search``: when not given, tuned at build time: starting from 2% of the
  leaves, multiplied by 1.5 until recall@10 on the build-time sample (200 database vectors
  as queries, compared with exact search) reaches ``target_recall`` (0.95); if all leaves
  are searched and recall is still short, the reorder budget is doubled;
- AH with ``dims_per_block=2`` and ``anisotropic_quantization_threshold=0.2`` (the values
  of the ScaNN paper and README), 16 centres per block (LUT16);
- ``reorder_candidates=100``: AH shortlist rescored exactly in float32. This is for k=10;
  for other k the shortlist is ``reorder_candidates * max(1, k / 10)`` (at least k).

Below ``brute_force_below`` items (20,000) ``mode="auto"`` uses ScaNN's exact brute-force
scorer instead: a tree over so few points saves nothing and only loses recall. Pass
``mode="tree"`` to force partitioning (tests do, at n=5000).

If a query's searched leaves hold fewer than k items, ScaNN pads with NaN; those queries
are searched again over all leaves, so results always have k real items.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from fashion_tf.retrieval.base import Index, recall_at_k
from fashion_tf.retrieval.manifest import IndexFormatError

try:
    from scann.scann_ops.py import scann_ops_pybind

    _HAVE_SCANN = True
except ImportError:  # scann is pinned in setup.py, but keep the error at the point of use
    _HAVE_SCANN = False

SCANN_DIR = "scann"
BRUTE_FORCE_BELOW = 20_000


def _require_scann() -> None:
    if not _HAVE_SCANN:
        raise ImportError("The scann library is not installed: `pip install scann==1.4.2` "
                          "(or use backend='brute').")


def default_num_leaves(n: int) -> int:
    return max(1, round(math.sqrt(n)))


class ScannIndex(Index):
    """Approximate cosine search with ScaNN (see the module docstring for the defaults).

    Args:
        mode: "auto" (tree below/above ``brute_force_below`` items), "tree" or "brute_force".
        num_leaves: k-means leaves of the tree; None = round(sqrt(n)).
        num_leaves_to_search: leaves searched per query; None = tuned to ``target_recall``.
        dims_per_block: AH dimensions per 4-bit code (2 = 2 bits per dimension).
        anisotropic_quantization_threshold: AVQ threshold eta (ScaNN paper: 0.2 for
            normalised data).
        reorder_candidates: AH shortlist size rescored exactly, for k=10.
        target_recall: recall@10 the tuning aims at.
        training_sample_size: points used to train the tree and the AH codebooks.
        training_threads: 0 = all cores.
    """

    backend = "scann"
    BUILD_RESULTS = ("resolved_mode", "tuned_recall_at_10")

    def __init__(self, model_fingerprint: str | None = None, mode: str = "auto",
                 num_leaves: int | None = None, num_leaves_to_search: int | None = None,
                 dims_per_block: int = 2, anisotropic_quantization_threshold: float = 0.2,
                 reorder_candidates: int = 100, target_recall: float = 0.95,
                 training_sample_size: int = 100_000, training_threads: int = 0,
                 brute_force_below: int = BRUTE_FORCE_BELOW):
        _require_scann()
        if mode not in ("auto", "tree", "brute_force"):
            raise ValueError(f"mode must be 'auto', 'tree' or 'brute_force', got {mode!r}")
        super().__init__(
            model_fingerprint=model_fingerprint, mode=mode, num_leaves=num_leaves,
            num_leaves_to_search=num_leaves_to_search, dims_per_block=dims_per_block,
            anisotropic_quantization_threshold=anisotropic_quantization_threshold,
            reorder_candidates=reorder_candidates, target_recall=target_recall,
            training_sample_size=training_sample_size, training_threads=training_threads,
            brute_force_below=brute_force_below)
        self._searcher = None
        self._all_vectors: np.ndarray | None = None
        self._directory: Path | None = None
        self._has_vectors = True  # False after load: ScaNN keeps the vectors, we do not

    @property
    def searcher(self):
        """The underlying ``scann_ops_pybind.ScannSearcher`` (for direct use, e.g. benchmarks)."""
        self._ensure_built()
        return self._searcher

    # ------------------------------------------------------------------ building
    def _build(self, new_vectors: np.ndarray) -> np.ndarray:
        if len(self._ids) and not self._has_vectors:
            raise ValueError(f"{self.location} was loaded from disk and cannot take new items; "
                             "rebuild it from the full embedding file (tools/build_index.py)")
        if len(self._ids):
            new_vectors = np.concatenate([self._all_vectors, new_vectors])
        vectors = np.ascontiguousarray(new_vectors, np.float32)
        n = len(vectors)
        p = self.params
        tree = p["mode"] == "tree" or (p["mode"] == "auto" and n >= p["brute_force_below"])
        p["resolved_mode"] = "tree" if tree else "brute_force"
        builder = scann_ops_pybind.builder(vectors, 10, "dot_product")
        builder.set_n_training_threads(p["training_threads"] or os.cpu_count() or 1)
        tune = False
        if tree:
            num_leaves = p["num_leaves"] or default_num_leaves(n)
            num_leaves = min(num_leaves, n)
            tune = p["num_leaves_to_search"] is None
            if tune:
                p["num_leaves_to_search"] = min(num_leaves, max(1, math.ceil(0.02 * num_leaves)))
            p["num_leaves"] = num_leaves
            builder = builder.tree(
                num_leaves=num_leaves, num_leaves_to_search=p["num_leaves_to_search"],
                training_sample_size=min(n, p["training_sample_size"]),
                min_partition_size=max(1, min(50, n // (2 * num_leaves))))
            builder = builder.score_ah(
                p["dims_per_block"],
                anisotropic_quantization_threshold=p["anisotropic_quantization_threshold"],
                training_sample_size=min(n, p["training_sample_size"]))
            builder = builder.reorder(p["reorder_candidates"])
        else:
            builder = builder.score_brute_force()
        self._searcher = builder.build()
        self._all_vectors = vectors
        if tune:
            self._tune(vectors)
        return vectors

    def _stored_vectors(self) -> np.ndarray:
        if self._all_vectors is None and self._directory is not None:
            # ScaNN serializes the float32 vectors it rescores with, in datapoint order.
            path = self._directory / SCANN_DIR / "dataset.npy"
            if not path.is_file():
                raise IndexFormatError(f"{path}: not found; this ScaNN index keeps no float vectors")
            self._all_vectors = np.load(path, mmap_mode="r")
        return self._all_vectors

    def _tune(self, vectors: np.ndarray) -> None:
        """Grows num_leaves_to_search (then the reorder budget) until the build-time recall
        sample reaches target_recall; search-time parameters only, so no rebuild."""
        from fashion_tf.retrieval.brute_force import exact_top_k

        p = self.params
        rng = np.random.default_rng(1)
        sample = vectors[rng.choice(len(vectors), size=min(200, len(vectors)), replace=False)]
        k = min(10, len(vectors))
        exact, _ = exact_top_k(vectors, sample, k)
        while True:
            found, _ = self._search(sample, k)
            recall = recall_at_k(found, exact)
            if recall >= p["target_recall"]:
                break
            if p["num_leaves_to_search"] < p["num_leaves"]:
                p["num_leaves_to_search"] = min(p["num_leaves"],
                                                math.ceil(p["num_leaves_to_search"] * 1.5))
            elif p["reorder_candidates"] < len(vectors):
                p["reorder_candidates"] *= 2
            else:
                break
        p["tuned_recall_at_10"] = recall

    # ----------------------------------------------------------------- searching
    def _search(self, queries: np.ndarray, k: int, num_leaves_to_search: int | None = None,
                reorder_candidates: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``search(..., num_leaves_to_search=, reorder_candidates=)`` override the tuned
        settings for one call (benchmarks sweep them without rebuilding)."""
        p = self.params
        if p.get("resolved_mode") == "tree":
            leaves = num_leaves_to_search or p["num_leaves_to_search"]
            reorder = reorder_candidates or p["reorder_candidates"]
            pre = max(k, round(reorder * max(1.0, k / 10)))
            indices, scores = self._searcher.search_batched_parallel(
                queries, final_num_neighbors=k, pre_reorder_num_neighbors=pre,
                leaves_to_search=leaves)
            short = np.flatnonzero(np.isnan(scores).any(axis=1))
            if len(short):  # too few items in the searched leaves: search them all
                indices[short], scores[short] = self._searcher.search_batched(
                    queries[short], final_num_neighbors=k,
                    pre_reorder_num_neighbors=max(pre, len(self._ids)),
                    leaves_to_search=p["num_leaves"])
        else:
            indices, scores = self._searcher.search_batched_parallel(queries, final_num_neighbors=k)
        return indices.astype(np.int64), scores.astype(np.float32, copy=False)

    # ---------------------------------------------------------------- persistence
    def _save_backend(self, directory: Path) -> dict[str, str]:
        (directory / SCANN_DIR).mkdir()
        # relative paths: the directory can be moved or copied into a SavedModel's assets.
        self._searcher.serialize(str(directory / SCANN_DIR), relative_path=True)
        return {"scann": SCANN_DIR}

    def _load_backend(self, directory: Path, manifest: dict[str, Any]) -> None:
        path = directory / SCANN_DIR
        if not (path / "scann_assets.pbtxt").is_file():
            raise IndexFormatError(f"{path}/scann_assets.pbtxt: not found; the index directory "
                                   "is incomplete")
        self._searcher = scann_ops_pybind.load_searcher(str(path))
        self._directory = directory
        self._has_vectors = False
        if self._searcher.size() != len(self._ids):
            raise IndexFormatError(f"{path}: ScaNN searcher holds {self._searcher.size()} items "
                                   f"but {directory}/item_ids.parquet has {len(self._ids)}")
