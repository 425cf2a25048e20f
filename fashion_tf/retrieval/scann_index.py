"""ScaNN backend: tree partitioning + anisotropic asymmetric hashing + exact reordering.

Guo et al., "Accelerating Large-Scale Inference with Anisotropic Vector Quantization"
(ICML 2020); built with ``scann_ops_pybind`` the way TFRS's ``layers/factorized_top_k.ScaNN``
builds its searcher. Parameters not given are chosen from the number of items n and the recall target
(``scann_tuning.py`` says how and why):

- build time: ``num_leaves`` = sqrt(n) k-means leaves (for cosine: spherical k-means),
  a training sample of 100k points, AH with
  ``dims_per_block=2`` and ``anisotropic_quantization_threshold=0.2`` (the ScaNN paper's
  values), 16 centres per block (LUT16), float32 rescoring;
- search time, tuned after the build on a leave-one-out sample of the items within
  ``tuning_budget_s``: ``num_leaves_to_search`` and ``reorder_candidates`` (the AH
  shortlist rescored exactly in float32, for k=10; for other k it is
  ``reorder_candidates * max(1, k / 10)``, at least k), the cheapest pair reaching
  ``target_recall`` (0.95). The choice, its sample recall and the candidates tried are
  kept in ``params`` (and so in the manifest). Queries are searched on all cores, each
  core given the same number of equal batches (``scann_tuning.search_batch_size``).

Below ``brute_force_below`` items (20,000) ``mode="auto"`` uses ScaNN's exact brute-force
scorer instead: a tree over so few points saves nothing and only loses recall. Pass
``mode="tree"`` to force partitioning (tests do, at n=5000).

If a query's searched leaves hold fewer than k items, ScaNN pads with NaN; those queries
are searched again over all leaves, so results always have k real items.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from fashion_tf.retrieval import scann_tuning
from fashion_tf.retrieval.base import Index
from fashion_tf.retrieval.manifest import IndexFormatError

try:
    from scann.scann_ops.py import scann_ops_pybind
    from scann.scann_ops.py.scann_builder import ReorderType

    _HAVE_SCANN = True
except ImportError:  # scann is pinned in setup.py, but keep the error at the point of use
    _HAVE_SCANN = False

SCANN_DIR = "scann"
REORDER_DTYPES = ("float32", "int8")
FLOAT_VECTORS = "float_vectors.npy"
BRUTE_FORCE_BELOW = 20_000


def _require_scann() -> None:
    if not _HAVE_SCANN:
        raise ImportError("The scann library is not installed: `pip install scann==1.4.2` "
                          "(or use backend='brute').")


class ScannIndex(Index):
    """Approximate cosine search with ScaNN (see the module docstring for the defaults).

    Args:
        mode: "auto" (tree below/above ``brute_force_below`` items), "tree" or "brute_force".
        num_leaves: k-means leaves of the tree; None = sqrt(n).
        num_leaves_to_search: leaves searched per query; None = tuned to ``target_recall``.
        dims_per_block: AH dimensions per 4-bit code (2 = 2 bits per dimension).
        anisotropic_quantization_threshold: AVQ threshold eta (ScaNN paper: 0.2 for
            normalised data).
        reorder_candidates: AH shortlist size rescored exactly, for k=10; None = tuned
            together with ``num_leaves_to_search`` (100 when that is given).
        target_recall: recall@10 the tuning aims at.
        training_sample_size: points used to train the tree and the AH codebooks; None =
            100k (at least 50 per leaf).
        training_threads: 0 = all cores.
        search_batch_size: queries per work unit of ScaNN's multi-threaded batch search;
            None = the same number of equal batches per core, each at most 10,000
            queries (``scann_tuning.search_batch_size``).
        tuning_budget_s: seconds the search-time tuning may take (the leave-one-out
            sample's exact neighbours included); at least one reorder size is always tried.
        tuning_sample: items used as leave-one-out queries by the tuning.
        spherical: spherical k-means (unit-length leaf centres); None = True for cosine.
        quantize_centroids: rank leaves with int8 centres; None = False (slower here,
            see ``scann_tuning``).
        soar_lambda: SOAR spilling of each item to a second leaf (ScaNN's
            ``soar_lambda``); None = off.
        reorder_dtype: "float32" or "int8" rescoring of the shortlist; None = float32.
    """

    backend = "scann"
    BUILD_RESULTS = ("resolved_mode", "tuned_recall_at_10", "tuning")

    def __init__(self, model_fingerprint: str | None = None, mode: str = "auto",
                 num_leaves: int | None = None, num_leaves_to_search: int | None = None,
                 dims_per_block: int = 2, anisotropic_quantization_threshold: float = 0.2,
                 reorder_candidates: int | None = None, target_recall: float = 0.95,
                 training_sample_size: int | None = None, training_threads: int = 0,
                 brute_force_below: int = BRUTE_FORCE_BELOW, search_batch_size: int | None = None,
                 tuning_budget_s: float = scann_tuning.DEFAULT_BUDGET_S,
                 tuning_sample: int = scann_tuning.TUNING_SAMPLE, distance: str = "cosine",
                 spherical: bool | None = None, quantize_centroids: bool | None = None,
                 soar_lambda: float | None = None, reorder_dtype: str | None = None):
        _require_scann()
        if mode not in ("auto", "tree", "brute_force"):
            raise ValueError(f"mode must be 'auto', 'tree' or 'brute_force', got {mode!r}")
        super().__init__(
            model_fingerprint=model_fingerprint, distance=distance, mode=mode, num_leaves=num_leaves,
            num_leaves_to_search=num_leaves_to_search, dims_per_block=dims_per_block,
            anisotropic_quantization_threshold=anisotropic_quantization_threshold,
            reorder_candidates=reorder_candidates, target_recall=target_recall,
            training_sample_size=training_sample_size, training_threads=training_threads,
            brute_force_below=brute_force_below, search_batch_size=search_batch_size,
            tuning_budget_s=tuning_budget_s, tuning_sample=tuning_sample, spherical=spherical,
            quantize_centroids=quantize_centroids, soar_lambda=soar_lambda, reorder_dtype=reorder_dtype)
        if reorder_dtype not in (None, *REORDER_DTYPES):
            raise ValueError(f"reorder_dtype must be one of {sorted(REORDER_DTYPES)}, got {reorder_dtype!r}")
        self._searcher = None
        self._all_vectors: np.ndarray | None = None
        self._directory: Path | None = None
        self._has_vectors = True  # False after load: ScaNN keeps the vectors, we do not
        self._tuning_sample: tuple[np.ndarray, np.ndarray] | None = None

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
        builder = scann_ops_pybind.builder(vectors, 10, "squared_l2" if self.distance == "l2" else "dot_product")
        builder.set_n_training_threads(p["training_threads"] or os.cpu_count() or 1)
        tune = False
        if tree:
            defaults = scann_tuning.build_defaults(n, self.distance)
            num_leaves = min(p["num_leaves"] or defaults["num_leaves"], n)
            sample_size = min(n, p["training_sample_size"] or defaults["training_sample_size"])
            tune = p["num_leaves_to_search"] is None
            p.update(num_leaves=num_leaves, training_sample_size=sample_size)
            for key in ("spherical", "quantize_centroids", "soar_lambda", "reorder_dtype"):
                if p.get(key) is None:
                    p[key] = defaults[key]
            if self.distance != "cosine" and (p["spherical"] or p["soar_lambda"]):
                raise ValueError("spherical partitioning and SOAR spilling need unit vectors scored by "
                                 f"dot product (distance='cosine'), not distance={self.distance!r}")
            builder = builder.tree(
                num_leaves=num_leaves,
                num_leaves_to_search=p["num_leaves_to_search"] or max(1, math.ceil(0.02 * num_leaves)),
                training_sample_size=sample_size,
                min_partition_size=max(1, min(50, n // (2 * num_leaves))),
                spherical=bool(p["spherical"]), quantize_centroids=bool(p["quantize_centroids"]),
                soar_lambda=p["soar_lambda"] or None)
            builder = builder.score_ah(
                p["dims_per_block"],
                # anisotropic quantization is for inner products; NaN switches it off for l2
                anisotropic_quantization_threshold=(p["anisotropic_quantization_threshold"]
                                                    if self.distance == "cosine" else float("nan")),
                training_sample_size=sample_size)
            builder = builder.reorder(p["reorder_candidates"] or 100, quantize=(
                ReorderType.INT8 if p["reorder_dtype"] == "int8" else ReorderType.FLOAT32))
            if not tune and p["reorder_candidates"] is None:
                p["reorder_candidates"] = 100
        else:
            builder = builder.score_brute_force()
        self._searcher = builder.build()
        self._all_vectors = vectors
        self._tuning_sample = None
        if tune:
            tuned = self.tuned_search(p["target_recall"])
            p.update(num_leaves_to_search=tuned["num_leaves_to_search"],
                     reorder_candidates=tuned["reorder_candidates"],
                     tuned_recall_at_10=tuned["recall_at_10"], tuning=tuned)
        return vectors

    def tuned_search(self, target_recall: float, budget_s: float | None = None) -> dict[str, Any]:
        """The cheapest search setting (num_leaves_to_search, reorder_candidates) reaching
        ``target_recall`` on the leave-one-out tuning sample (``scann_tuning.tune_search``);
        changes nothing: pass the setting to ``search`` or put it in ``params``. A
        ``reorder_candidates`` given to the constructor is kept fixed."""
        self._ensure_built()
        p = self.params
        if p.get("resolved_mode") != "tree":
            raise ValueError(f"{self.location} scores exactly (mode {p.get('resolved_mode')!r}); "
                             "there is no search setting to tune")
        start = time.perf_counter()
        budget = p["tuning_budget_s"] if budget_s is None else budget_s
        vectors = self._stored_vectors()
        if self._tuning_sample is None:
            self._tuning_sample = scann_tuning.leave_one_out_sample(vectors, p["tuning_sample"],
                                                                   distance=self.distance)
        fixed = p["reorder_candidates"] if "tuning" not in p and p.get("reorder_candidates") else None

        def search(queries, k, leaves, reorder):
            return self._search(queries, k, num_leaves_to_search=leaves, reorder_candidates=reorder)[0]

        return scann_tuning.tune_search(
            search, vectors, p["num_leaves"], target_recall, self._tuning_sample,
            budget_s=budget - (time.perf_counter() - start),
            reorders=(fixed,) if fixed else scann_tuning.REORDER_CANDIDATES,
            dims_per_block=p["dims_per_block"])

    def _stored_vectors(self) -> np.ndarray:
        if self._all_vectors is None and self._directory is not None:
            # ScaNN serializes the float32 vectors it rescores with, in datapoint order; an
            # index rescoring in int8 keeps them beside ScaNN's files (``_save_backend``).
            path = self._directory / SCANN_DIR / "dataset.npy"
            if not path.is_file():
                path = self._directory / FLOAT_VECTORS
            if not path.is_file():
                raise IndexFormatError(f"{path}: not found; this ScaNN index keeps no float vectors")
            self._all_vectors = np.load(path, mmap_mode="r")
        return self._all_vectors

    # ----------------------------------------------------------------- searching
    def _search(self, queries: np.ndarray, k: int, num_leaves_to_search: int | None = None,
                reorder_candidates: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``search(..., num_leaves_to_search=, reorder_candidates=)`` override the tuned
        settings for one call (benchmarks sweep them without rebuilding)."""
        p = self.params
        if p.get("resolved_mode") == "tree":
            leaves = num_leaves_to_search or p["num_leaves_to_search"]
            reorder = reorder_candidates or p["reorder_candidates"]
            pre = scann_tuning.shortlist_size(reorder, k)
            indices, scores = self._searcher.search_batched_parallel(
                queries, final_num_neighbors=k, pre_reorder_num_neighbors=pre,
                leaves_to_search=leaves, batch_size=self.search_batch_size(len(queries)))
            short = np.flatnonzero(np.isnan(scores).any(axis=1))
            if len(short):  # too few items in the searched leaves: search them all
                indices[short], scores[short] = self._searcher.search_batched(
                    queries[short], final_num_neighbors=k,
                    pre_reorder_num_neighbors=max(pre, len(self._ids)),
                    leaves_to_search=p["num_leaves"])
        else:
            indices, scores = self._searcher.search_batched_parallel(queries, final_num_neighbors=k)
        if self.distance == "l2":  # ScaNN gives squared distances; the Index contract is -distance
            scores = -np.sqrt(np.maximum(scores, 0.0))
        return indices.astype(np.int64), scores.astype(np.float32, copy=False)

    def search_batch_size(self, num_queries: int) -> int:
        """Queries per ScaNN work unit for a call with ``num_queries`` queries."""
        return self.params.get("search_batch_size") or scann_tuning.search_batch_size(num_queries)

    # ---------------------------------------------------------------- persistence
    def _save_backend(self, directory: Path) -> dict[str, str]:
        (directory / SCANN_DIR).mkdir()
        # relative paths: the directory can be moved or copied into a SavedModel's assets.
        self._searcher.serialize(str(directory / SCANN_DIR), relative_path=True)
        if not (directory / SCANN_DIR / "dataset.npy").is_file():
            # int8 rescoring: ScaNN keeps only the quantized vectors, but ``vectors`` and a
            # later ``tuned_search`` need the float ones.
            np.save(directory / FLOAT_VECTORS, np.asarray(self._stored_vectors()))
            return {"scann": SCANN_DIR, "vectors": FLOAT_VECTORS}
        return {"scann": SCANN_DIR}

    def _load_backend(self, directory: Path, manifest: dict[str, Any]) -> None:
        path = directory / SCANN_DIR
        if not (path / "scann_assets.pbtxt").is_file():
            raise IndexFormatError(f"{path}/scann_assets.pbtxt: not found; the index directory "
                                   "is incomplete")
        try:
            self._searcher = scann_ops_pybind.load_searcher(str(path))
        except (RuntimeError, ValueError, OSError) as error:  # a truncated or missing searcher file
            raise IndexFormatError(f"{path}: the ScaNN searcher files are unreadable "
                                   f"({str(error).splitlines()[0] if str(error) else type(error).__name__}); "
                                   "the index directory is damaged, rebuild it") from None
        self._directory = directory
        self._has_vectors = False
        if self._searcher.size() != len(self._ids):
            raise IndexFormatError(f"{path}: ScaNN searcher holds {self._searcher.size()} items "
                                   f"but {directory}/item_ids.parquet has {len(self._ids)}")
