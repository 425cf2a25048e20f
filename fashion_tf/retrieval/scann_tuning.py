"""ScaNN parameters chosen from the catalog size and a recall target, within a time budget.

Guo et al., "Accelerating Large-Scale Inference with Anisotropic Vector Quantization"
(ICML 2020), section 4 (tree partitioning, then anisotropic quantization scoring, then
exact re-ranking of a shortlist). The parameters fall in two groups:

Build time (changing them means rebuilding): ``build_defaults(n)``.
- ``num_leaves`` = sqrt(n) k-means leaves (ScaNN's rule of thumb). Measured at 1M x 256
  (``benchmarks/retrieval.py`` data, spherical leaves with float centres, 2000 held-out
  queries, CPU time per query in interleaved rounds, quiet machine): to reach recall@10
  0.95, 500 leaves needed 2 searched (reorder 100, recall 0.964, 111 us), 1000 leaves 3
  (0.954, 91 us; 4 leaves 0.968, 102 us), 2000 leaves more than 8 (0.910 at 8 leaves,
  114 us). Fewer, larger leaves cost less to pick (every query scores every centre) but
  more to scan; sqrt(n) is the best of the three. (An earlier study at 200k with plain
  k-means had preferred 2 sqrt(n) by items scored; 200k was not re-measured.)
- ``training_sample_size``: 100k points (or all below that) for the k-means tree and
  the AH codebooks, at least 50 per leaf. Measured at 1M x 256, 1000 leaves (recall@10 of
  the 2000 held-out queries; CPU per query in interleaved rounds at load 4-7): 50k points
  gave 0.751 at 3 leaves and reorder 100 (0.954 with 100k); 250k gave 0.971 at 2 leaves
  (100k: 0.915) but its leaves hold more items, so 2 leaves cost 94 us of CPU per query,
  about what 4 leaves cost on the 100k index (100 us, recall 0.968), and the build took
  twice as long; 500k gave 0.962 at 2 leaves for four times the build. Not a gain at
  equal recall, so 100k stays.
- ``anisotropic_quantization_threshold``: 0.1, 0.2 and 0.3 gave recall@10 0.967, 0.968
  and 0.963 at 4 leaves and reorder 100 (same data): the paper's 0.2 stays.
- AH ``dims_per_block`` = 2 (4-bit codes, 16 centres per block, i.e. 2 bits per dimension,
  the paper's setting) and ``anisotropic_quantization_threshold`` = 0.2 (the paper's eta
  for unit-norm data; measured below).
- cosine (unit vectors): ``spherical`` k-means (unit-length leaf centres). Leaves are
  ranked by the query's dot product with their centres; plain k-means centres are means
  of unit vectors, shorter the wider their leaf, so the ranking favoured tight leaves over
  near ones. Measured at 1M x 256 (2000 leaves, 2000 held-out queries): recall@10 0.95
  needed 48 searched leaves with plain k-means, 15 with spherical (reorder 100).
- ``quantize_centroids`` off: ScaNN can rank the leaves with int8 copies of their centres,
  but at 1M x 256 with 1000 leaves that made every query 43 us slower (88 against 45 us
  of CPU for 1 leaf and reorder 10; 147 against 103 us at 4 leaves and reorder 100) for
  the same recall (0.966 against 0.968 at 4 leaves). With float centres ScaNN scores a
  batch of queries against all centres as one matrix product. The price is memory: 1000
  x 256 float centres, 1 MB.
- ScaNN's cost per query at 1M x 256, 1000 leaves, float centres (CPU time, quiet
  machine): about 35 us of fixed work (scoring the 1000 centres, building the AH lookup
  tables, the top-k), about 10 us per searched leaf (the AH scan of its ~1000 4-bit
  codes of 64 bytes) and about 0.25 us per rescored shortlist item (one float32
  256-d dot product from memory).
- What did not help at 1M x 256 (spherical, int8 centres, 2000 leaves, same queries):
  4-dimensional AH blocks (half the code bytes) with float32 rescoring reached 0.95 only
  with a shortlist of 400 (25 leaves) and cost 310-335 us of CPU per query against the
  plain index's 240-258; with int8 rescoring (``reorder_dtype="int8"``) they never reached
  0.95 with 200 or 400, whatever the number of leaves. SOAR spilling (``soar_lambda=1.5``)
  needed 10 leaves instead of 15, but each item is stored in a second leaf too (fuller
  leaves; its search time was not measured) and the build took twice the CPU (286 s
  against 153 s); not made a default.

Search batch size (``search_batch_size``): ScaNN's ``search_batched_parallel`` cuts the
queries into batches of this size and its threads take batches one at a time until none
are left. Two costs pull against each other: each batch has fixed work, so small batches
cost CPU, and a call ends only when its last batch does, so uneven batches leave threads
idle at the end of every call. Measured at 1M x 256 (4 leaves, reorder 100, 2 cores,
quiet machine, medians of 5 interleaved rounds): 2000 queries in one call, 18,000
queries/s with batches of 128, 18,900 with 256, 19,900 with 500, 20,300 with 1000 (one
batch per core); 30,000 queries in three calls of 10,000 (as ``batch_retrieve`` searches
its parts), 1.75 s with batches of 1000 (the 10 batches of a call rarely end together)
against 1.41 s with 5000 (one per core) and 1.43 s with 2500. So the default
(``search_batch_size``) gives every thread the same number of equal batches of at most
``MAX_SEARCH_BATCH`` queries (which bounds the memory of a batch's shortlists).

Search time (no rebuild): ``tune_search``. For each reorder shortlist of
``REORDER_CANDIDATES``, the smallest ``num_leaves_to_search`` whose recall@10 on a sample
reaches the target is found by bisection; of the candidates that reach it, the one with
the lowest modelled cost per query wins (``search_cost``: AH lookups over the searched
leaves plus exact rescoring of the shortlist, weighted as measured on a 1M x 256 index).
A model rather than a stopwatch, because on a shared machine timings of a fraction of a
second are noise, and a choice should not depend on what else was running.

"Reaches" means the lower end of the recall's confidence interval (mean minus two
standard errors over the sample queries) is at least the target, so that other queries
from the same catalog reach it too, not only the sample. The sample is database items
used as queries with themselves left out of both the exact and the approximate
neighbours (leave-one-out): the recall is that of a query that is not in the catalog,
like a street photograph, rather than inflated by finding itself. ``budget_s`` bounds
the time spent: after the first candidate, further ones are tried only while time is
left.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

REORDER_CANDIDATES = (50, 100, 200)
TUNING_SAMPLE = 1000
DEFAULT_BUDGET_S = 120.0
MAX_SEARCH_BATCH = 10_000
# Rescoring one shortlist item costs about as much as this many AH block lookups per
# dimension: 1M x 256 index, dims_per_block=2 (128 LUT16 lookups per item), 2 cores:
# 100 more reordered items cost ~16 us per query, 10k more AH-scored items ~24 us.
REORDER_COST_PER_DIM = 29.0

SearchFn = Callable[[np.ndarray, int, int, int], np.ndarray]  # (queries, k, leaves, reorder) -> indices


def default_num_leaves(n: int) -> int:
    return max(1, min(n, round(math.sqrt(n))))


def build_defaults(n: int, distance: str = "cosine") -> dict[str, Any]:
    """Build-time parameters for ``n`` items (see the module docstring for why)."""
    num_leaves = default_num_leaves(n)
    unit = distance == "cosine"
    return {"num_leaves": num_leaves,
            "training_sample_size": min(n, max(100_000, 50 * num_leaves)),
            "dims_per_block": 2, "anisotropic_quantization_threshold": 0.2,
            "spherical": unit, "quantize_centroids": False, "soar_lambda": None,
            "reorder_dtype": "float32"}


def shortlist_size(reorder: int, k: int) -> int:
    """ScaNN's ``pre_reorder_num_neighbors`` for top ``k``: ``reorder`` is the shortlist
    for k=10 and grows in proportion beyond it, never below k."""
    return max(k, round(reorder * max(1.0, k / 10)))


def search_batch_size(num_queries: int, threads: int | None = None) -> int:
    """Queries per ``search_batched_parallel`` batch: the same number of equal batches for
    every thread, each at most ``MAX_SEARCH_BATCH`` (see the module docstring)."""
    threads = threads or os.cpu_count() or 1
    batches = threads * max(1, math.ceil(num_queries / (threads * MAX_SEARCH_BATCH)))
    return max(1, math.ceil(num_queries / batches))


def leave_one_out_sample(vectors: np.ndarray, size: int = TUNING_SAMPLE, k: int = 10,
                         seed: int = 1, distance: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """(row numbers of ``size`` sampled items, their exact top-k neighbours without themselves)."""
    from fashion_tf.retrieval.brute_force import exact_search

    rows = np.random.default_rng(seed).choice(len(vectors), size=min(size, len(vectors)), replace=False)
    k = min(k, len(vectors) - 1)
    exact, _ = exact_search(vectors, vectors[rows], k + 1, distance)
    return rows, _drop_self(exact, rows, k)


def _drop_self(found: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Each row's neighbours without the query item itself (or without the last one when the
    item is not among them), first ``k`` kept."""
    is_self = found == rows[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    return found[~is_self].reshape(len(found), -1)[:, :k]


def sample_recall(search: SearchFn, vectors: np.ndarray, rows: np.ndarray, exact: np.ndarray,
                  leaves: int, reorder: int) -> tuple[float, float]:
    """Leave-one-out recall@k of one search setting on the tuning sample: (mean, lower
    bound = mean - 2 standard errors of the per-query recalls)."""
    k = exact.shape[1]
    found = _drop_self(search(vectors[rows], k + 1, leaves, reorder), rows, k)
    per_query = np.array([len(np.intersect1d(f, e)) / max(len(e), 1) for f, e in zip(found, exact)])
    error = per_query.std(ddof=1) / np.sqrt(len(per_query)) if len(per_query) > 1 else 0.0
    return float(per_query.mean()), float(per_query.mean() - 2 * error)


def search_cost(n: int, dim: int, num_leaves: int, dims_per_block: int, leaves: int, reorder: int) -> float:
    """Modelled work per query, in AH block lookups (see ``REORDER_COST_PER_DIM``)."""
    return leaves * (n / num_leaves) * math.ceil(dim / dims_per_block) + REORDER_COST_PER_DIM * reorder * dim


def tune_search(search: SearchFn, vectors: np.ndarray, num_leaves: int, target: float,
                sample: tuple[np.ndarray, np.ndarray], budget_s: float = DEFAULT_BUDGET_S,
                reorders: tuple[int, ...] = REORDER_CANDIDATES, dims_per_block: int = 2) -> dict[str, Any]:
    """The cheapest (num_leaves_to_search, reorder_candidates) whose sample recall reaches
    ``target`` (lower confidence bound, see the module docstring); when none does, the
    most accurate setting found. Returns the choice, its recall and every candidate tried."""
    start = time.perf_counter()
    rows, exact = sample
    n, dim = vectors.shape
    reorders = tuple(sorted({min(r, n) for r in reorders}))
    tried = []
    for reorder in reorders:
        if tried and time.perf_counter() - start > budget_s:
            break
        measured: dict[int, tuple[float, float]] = {}

        def recall_at(leaves: int, reorder: int = reorder, measured: dict = measured) -> tuple[float, float]:
            measured[leaves] = sample_recall(search, vectors, rows, exact, leaves, reorder)
            return measured[leaves]

        # Grow until the target is reached, then bisect between the last miss and the hit.
        low, high = 0, max(1, math.ceil(0.005 * num_leaves))
        while recall_at(high)[1] < target and high < num_leaves:
            low, high = high, min(num_leaves, math.ceil(high * 1.5))
        reached = measured[high][1] >= target
        while reached and high - low > 1:
            middle = (low + high) // 2
            if recall_at(middle)[1] >= target:
                high = middle
            else:
                low = middle
        tried.append({"num_leaves_to_search": high, "reorder_candidates": reorder,
                      "recall_at_10": measured[high][0], "recall_lower_bound": measured[high][1],
                      "reached": reached,
                      "cost": search_cost(n, dim, num_leaves, dims_per_block, high, reorder)})
    reached = [c for c in tried if c["reached"]]
    if reached:
        best = min(reached, key=lambda c: c["cost"])
    else:
        best = max(tried, key=lambda c: (c["recall_at_10"], -c["reorder_candidates"]))
    return {"num_leaves_to_search": best["num_leaves_to_search"],
            "reorder_candidates": best["reorder_candidates"], "recall_at_10": best["recall_at_10"],
            "recall_lower_bound": best["recall_lower_bound"], "reached": best["reached"],
            "target_recall": target, "sample_queries": len(rows),
            "seconds": time.perf_counter() - start, "candidates": tried}
