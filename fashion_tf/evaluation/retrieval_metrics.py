"""Retrieval metrics with ground truth (docs/design.md, "Evaluation").

Agreement metrics ask whether a recommended item shares an attribute (category,
subtype, colour, texture) with the query; exact-item metrics ask whether the one
catalog item a street photo shows is among the top k (street-to-shop retrieval).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

COLOUR_WORDS = frozenset((
    "black", "white", "grey", "gray", "red", "blue", "navy", "green", "yellow", "pink", "purple", "orange",
    "brown", "beige", "khaki", "olive", "teal", "maroon", "burgundy", "cream", "ivory", "tan", "gold", "silver",
    "multi",
))
TEXTURE_WORDS = frozenset((
    "striped", "stripe", "dotted", "dot", "polka", "plaid", "check", "checked", "print", "printed", "floral",
    "solid", "plain",
))
ATTRIBUTES = ("category", "subtype", "colour", "texture")


def _first_word(labels, vocabulary_words: frozenset, default: str) -> str:
    """The first label that is one of ``vocabulary_words`` or a phrase containing one
    ("navy-blue", "polka-dot": phrase labels, fashion_tf.data.phrases)."""
    for label in labels:
        if label in vocabulary_words or any(part in vocabulary_words for part in label.split("-")):
            return label
    return default


def item_attributes(items: pd.DataFrame) -> pd.DataFrame:
    """Per-item category, subtype, colour and texture.

    Catalogs that know them (the demo shop) carry ``attr_<name>`` columns; otherwise
    category and subtype come from the last two levels of the category path and colour
    and texture from the item's labels.
    """
    out = pd.DataFrame({"item_id": items["item_id"].astype(str).values})
    paths = items["category"].astype(str).str.split(">").apply(lambda parts: [p.strip() for p in parts])
    derived = {
        "category": paths.apply(lambda p: p[-2] if len(p) > 1 else p[-1]),
        "subtype": paths.apply(lambda p: p[-1]),
        "colour": items["labels"].apply(lambda ls: _first_word(ls, COLOUR_WORDS, "unknown")),
        "texture": items["labels"].apply(lambda ls: _first_word(ls, TEXTURE_WORDS, "plain")),
    }
    for name in ATTRIBUTES:
        column = f"attr_{name}"
        out[name] = (items[column] if column in items else derived[name]).astype(str).str.lower().values
    return out


def agreement_at_k(query_values: np.ndarray, result_values: np.ndarray, k: int) -> float:
    """Mean over queries of the share of the top-k results with the query's value
    (precision@k of attribute agreement). result_values: [Q, >=k]."""
    hits = result_values[:, :k] == query_values[:, None]
    return float(hits.mean()) if hits.size else float("nan")


def average_precision_at_k(query_values: np.ndarray, result_values: np.ndarray, k: int) -> float:
    """mAP@k of attribute agreement: precision at each relevant rank, averaged over the
    relevant results in the top k, then over queries (0 for a query with none)."""
    hits = (result_values[:, :k] == query_values[:, None]).astype(np.float64)
    cumulative = np.cumsum(hits, axis=1)
    ranks = np.arange(1, hits.shape[1] + 1)
    precision = cumulative / ranks
    relevant = hits.sum(axis=1)
    per_query = np.where(relevant > 0, (precision * hits).sum(axis=1) / np.maximum(relevant, 1), 0.0)
    return float(per_query.mean()) if len(per_query) else float("nan")


def recall_at_k(true_ids: np.ndarray, result_ids: np.ndarray, ks) -> dict[int, float]:
    """Exact-item recall@k: share of queries whose true item is in the top k."""
    found = result_ids == np.asarray(true_ids)[:, None]
    return {int(k): float(found[:, :k].any(axis=1).mean()) for k in ks}
