"""Diversity and in-shop top-k accuracy of recommendation lists (Verma, Anand, Arora &
Rai, "Diversity in Fashion Recommendation using Semantic Parsing", section 4).

- ``intra_list_diversity``: mean over the pairs of a list of the share of attributes
  (category, subtype, colour, texture) on which the two items differ, averaged over
  lists. Attributes, not embeddings, so lists of different models are comparable.
- ``in_shop_top_k_accuracy``: the DeepFashion In-shop protocol: each "query" image
  searches the "gallery" images; a hit when one of the top k shows the same product
  (``product_id``). Catalogs without those columns (the demo shop) have no such pairs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from fashion_tf.evaluation.retrieval_metrics import ATTRIBUTES


def intra_list_diversity(result_ids: np.ndarray, attributes: pd.DataFrame) -> float:
    """Mean pairwise attribute disagreement within each row of ``result_ids`` [Q, k]."""
    table = attributes.set_index("item_id")
    values = np.stack([table[name].reindex(np.asarray(result_ids).ravel()).to_numpy()
                       .reshape(np.shape(result_ids)) for name in ATTRIBUTES], axis=-1)  # [Q, k, A]
    k = values.shape[1]
    if k < 2:
        raise ValueError(f"intra-list diversity needs lists of at least 2 items, got {k}")
    differ = (values[:, :, None, :] != values[:, None, :, :]).mean(axis=-1)  # [Q, k, k]
    pairs = k * (k - 1)
    return float((differ.sum(axis=(1, 2)) / pairs).mean())


def in_shop_top_k_accuracy(ids: np.ndarray, vectors: np.ndarray, items: pd.DataFrame, k: int = 20,
                           distance: str = "cosine") -> dict | None:
    """Top-k accuracy of query images against gallery images (None without the columns)."""
    if not {"product_id", "evaluation_status"} <= set(items.columns):
        return None
    from fashion_tf.retrieval import BruteForceIndex

    status = items.set_index(items["item_id"].astype(str))["evaluation_status"]
    product = items.set_index(items["item_id"].astype(str))["product_id"].astype(str)
    ids = np.asarray(ids).astype(str)
    gallery = np.flatnonzero(status.reindex(ids).to_numpy() == "gallery")
    queries = np.flatnonzero(status.reindex(ids).to_numpy() == "query")
    if len(gallery) == 0 or len(queries) == 0:
        return None
    gallery_index = BruteForceIndex(distance=distance)
    gallery_index.add(ids[gallery], vectors[gallery])
    found, _ = gallery_index.search(vectors[queries], k)
    hits = product.reindex(found.ravel()).to_numpy().reshape(found.shape) == \
        product.reindex(ids[queries]).to_numpy()[:, None]
    return {f"top{k}_accuracy": float(hits.any(axis=1).mean()), "num_queries": len(queries),
            "num_gallery": len(gallery)}


def diversity_scores(ids: np.ndarray, vectors: np.ndarray, attributes: pd.DataFrame, query_ids,
                     num_parts: int = 1, k: int = 10) -> dict:
    """Intra-list diversity and category precision of each query item's top-k (itself
    excluded): the plain cosine list, and for part models (``num_parts`` > 1) the
    per-part interleaved list (``fashion_tf.retrieval.diverse.interleave_parts``)."""
    from fashion_tf.models.part_texture import split_parts
    from fashion_tf.retrieval.base import l2_normalize
    from fashion_tf.retrieval.brute_force import exact_top_k
    from fashion_tf.retrieval.diverse import interleave_parts

    ids = np.asarray(ids).astype(str)
    position = {item_id: i for i, item_id in enumerate(ids)}
    rows = np.array([position[q] for q in query_ids if q in position])
    unit = l2_normalize(vectors)
    found, _ = exact_top_k(unit, unit[rows], min(k + 1, len(ids)))
    plain = np.array([[r for r in row if r != q][:k] for row, q in zip(found, rows)])
    lists = {"": plain}
    if num_parts > 1:
        parts = split_parts(vectors, num_parts)
        lists["part_interleaved_"] = np.array([interleave_parts(parts[q], parts, k, exclude=[q]) for q in rows])
    category = attributes.set_index("item_id")["category"]
    scores = {"num_queries": len(rows)}
    for prefix, result_rows in lists.items():
        result_ids = ids[result_rows]
        scores[f"{prefix}ild@{k}"] = intra_list_diversity(result_ids, attributes)
        hits = category.reindex(result_ids.ravel()).to_numpy().reshape(result_ids.shape) == \
            category.reindex(ids[rows]).to_numpy()[:, None]
        scores[f"{prefix}category_precision@{k}"] = float(hits.mean())
    return scores
