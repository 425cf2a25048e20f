"""Diverse recommendation lists from part embeddings (Verma, Anand, Arora & Rai,
"Diversity in Fashion Recommendation using Semantic Parsing", section 3: each part
embedding finds items similar in that part, and the lists are combined so the
recommendations differ from one another instead of repeating one look).

- ``interleave_parts``: per-part top-k lists merged round robin (part 1's best, part
  2's best, ..., then each part's second), skipping items already taken;
- ``maximal_marginal_relevance``: Carbonell & Goldstein's MMR, greedily taking the item
  with the best ``lambda * relevance - (1 - lambda) * max similarity to those taken``.
Both work on the unit-norm part vectors of ``fashion_tf.models.part_texture.split_parts``.
"""
from __future__ import annotations

import numpy as np


def _check(query_parts: np.ndarray, item_parts: np.ndarray, k: int) -> None:
    if query_parts.ndim != 2 or item_parts.ndim != 3 or query_parts.shape != item_parts.shape[1:]:
        raise ValueError(f"expected query parts [K, E] and item parts [N, K, E]; got {query_parts.shape} "
                         f"and {item_parts.shape}")
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def interleave_parts(query_parts: np.ndarray, item_parts: np.ndarray, k: int,
                     exclude=()) -> np.ndarray:
    """Row numbers of ``k`` items (fewer if the catalog is smaller), taking each part's
    next most similar item in turn.

    Args:
        query_parts: float [K, E] unit part vectors of the query.
        item_parts: float [N, K, E] unit part vectors of the catalog.
        k: list length.
        exclude: row numbers never returned (e.g. the query item itself).
    """
    _check(query_parts, item_parts, k)
    scores = np.einsum("nke,ke->kn", item_parts, query_parts)  # [K, N] per-part cosine
    rankings = np.argsort(-scores, axis=1, kind="stable")
    taken, seen = [], {int(i) for i in exclude}
    limit = min(int(k), len(item_parts) - len(seen & set(range(len(item_parts)))))
    cursors = [0] * len(rankings)
    while len(taken) < limit:
        for part, ranking in enumerate(rankings):
            while cursors[part] < len(ranking) and int(ranking[cursors[part]]) in seen:
                cursors[part] += 1
            if cursors[part] < len(ranking) and len(taken) < limit:
                item = int(ranking[cursors[part]])
                taken.append(item)
                seen.add(item)
    return np.asarray(taken, np.int64)


def maximal_marginal_relevance(query: np.ndarray, items: np.ndarray, k: int, lambda_: float = 0.7,
                               candidates: int = 100, exclude=()) -> np.ndarray:
    """Row numbers of ``k`` items chosen by MMR among the ``candidates`` most relevant.

    Args:
        query: float [D] unit vector; items: float [N, D] unit vectors (cosine scores).
        lambda_: 1 = pure relevance (the plain top-k), 0 = pure novelty.
    """
    if not 0.0 <= float(lambda_) <= 1.0:
        raise ValueError(f"lambda_ must be in [0, 1], got {lambda_}")
    relevance = items @ query
    relevance[list(exclude)] = -np.inf
    pool = [int(i) for i in np.argsort(-relevance, kind="stable")[:max(int(candidates), int(k))]
            if np.isfinite(relevance[i])]
    taken: list[int] = []
    while pool and len(taken) < int(k):
        if taken:
            redundancy = (items[pool] @ items[taken].T).max(axis=1)
        else:
            redundancy = np.zeros(len(pool))
        gains = lambda_ * relevance[pool] - (1.0 - lambda_) * redundancy
        taken.append(pool.pop(int(np.argmax(gains))))
    return np.asarray(taken, np.int64)
