"""ScaNN parameters chosen from the catalog size and a recall target, within a time budget.

Guo et al., "Accelerating Large-Scale Inference with Anisotropic Vector Quantization"
(ICML 2020), section 4 (tree partitioning, then anisotropic quantization scoring, then
exact re-ranking of a shortlist). The parameters fall in two groups:

Build time (changing them means rebuilding): ``build_defaults(n)``.
- ``num_leaves`` = sqrt(n) k-means leaves (ScaNN's rule of thumb). Measured at 1M x 256
  (``benchmarks/retrieval.py`` data, spherical leaves with int8 centres, 2000 held-out
  queries, interleaved rounds, load 3-4): 1000 leaves reached recall@10 0.95 searching 3
  of them (reorder 100, recall 0.956) for 143 us of CPU per query, 7,000 queries/s on 2
  cores, where the 2000-leaf index of the earlier default (2 sqrt(n), plain k-means, 48
  leaves) took 242 us, 4,100 queries/s, in the same rounds; 0.99 with 7 leaves and
  reorder 200 (205 us). 4000 leaves were slower still (below). Fewer, larger leaves
  cost less to pick (every query scores every centre) and each scanned leaf is one long
  run of codes. (An earlier study at 200k with plain k-means had preferred 2 sqrt(n)
  by items scored; with spherical leaves and by CPU time at 1M, sqrt(n) wins; 200k was
  not re-measured.) The benchmark with these defaults (1M, 7 interleaved rounds, load
  3-5, ``benchmarks/results/retrieval_scann_try2.json``): tuned to 4 leaves and reorder
  100, recall 0.966 on the held-out queries, 158 us of CPU per query; faiss HNSW (ef 48,
  recall 0.969) 305 us, exact 15,300 us: 1.90x HNSW (1.82-2.01) and 95x exact (86-99)
  by queries/s. At 0.99: 8 leaves, reorder 200, recall 0.994, 2.95x HNSW, 70x exact.
- ``training_sample_size``: 100k points (or all below that) for the k-means tree and
  the AH codebooks, at least 50 per leaf; more only lengthens the build.
- AH ``dims_per_block`` = 2 (4-bit codes, 16 centres per block, i.e. 2 bits per dimension,
  the paper's setting) and ``anisotropic_quantization_threshold`` = 0.2 (the paper's eta
  for unit-norm data).
- cosine (unit vectors): ``spherical`` k-means (unit-length leaf centres) and
  ``quantize_centroids`` (int8 centres for choosing the leaves). Leaves are ranked by the
  query's dot product with their centres; plain k-means centres are means of unit vectors,
  shorter the wider their leaf, so the ranking favoured tight leaves over near ones.
  Measured at 1M x 256 (``benchmarks/retrieval.py`` data, 2000 leaves, 2000 held-out
  queries): recall@10 0.95 needed 48 searched leaves before, 15 after (reorder 100); 0.99
  96 before, 26 after (reorder 200). The CPU time per query fell less, 248 -> 232 us (2
  cores, load ~11): the leaves now chosen are the large ones of dense regions, so about as
  many items are scanned (~24k), and scanning their 64-byte AH codes from memory is most
  of what a query costs (plain k-means index, load ~11: 1 searched leaf ~80 us of CPU per
  query, each further leaf ~3.4 us, 100 more rescored items ~20-30 us). In the benchmark
  (load 4-5): 16 leaves, recall 0.961, 248 us of CPU per query against faiss HNSW's 297 us
  at recall 0.969: 1.2x; at 0.99, 28 leaves and 200 rescored, 2.0x (2000 leaves,
  ``retrieval_scann_try.json``; before the leaf count became sqrt(n)).
- What did not help at 1M x 256 (spherical, int8 centres, same queries): 4-dimensional AH
  blocks (half the code bytes) with float32 rescoring reached 0.95 only with a shortlist of
  400 (25 leaves) and cost 310-335 us of CPU per query against the plain index's 240-258;
  with int8 rescoring (``reorder_dtype="int8"``) they never reached 0.95 with 200 or 400,
  whatever the number of leaves. SOAR spilling (``soar_lambda=1.5``) needed 10 leaves
  instead of 15, but each item is stored in a second leaf too (fuller leaves; its search
  time was not measured) and the build took twice the CPU (286 s against 153 s); not made
  a default. 4000 leaves reached 0.95 with 12 leaves but cost 305-312 us of CPU per
  query against the plain 2000-leaf index's 230-245 (0.99: 24 leaves, reorder 200,
  360-375 us). ScaNN's ``search_batched_parallel`` batch size 1000 instead of 256: with
  2000 leaves within the noise (230-245 against 232-240 us), with 1000 leaves 133-135
  against 143-145 us; kept at 256, since a call with fewer than 2 x 1000 queries would
  then leave one of the two cores idle.

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
import time
from collections.abc import Callable
from typing import Any

import numpy as np

REORDER_CANDIDATES = (50, 100, 200)
TUNING_SAMPLE = 1000
DEFAULT_BUDGET_S = 120.0
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
            "spherical": unit, "quantize_centroids": unit, "soar_lambda": None,
            "reorder_dtype": "float32"}


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
