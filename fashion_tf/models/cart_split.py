"""Mixed carts: split a cart into uniform sub-carts and recommend for each.

*Single-Item Fashion Recommender*, section 3: "carts should be uniform and from the
same fashion categories. One way is to break a user's main cart into multiple smaller
uniform carts [...] K-Splits [...] cluster similar items together"; section 6 names
k-means and k-splits. A cart mixing dresses and sneakers has a mean embedding that is
neither, so its nearest items are neither either.

Here the cart's unit-norm item embeddings are clustered with k-means (cosine geometry:
unit vectors, centroids re-normalised) for k = 2..max_clusters, and k is chosen by the
silhouette score (cosine distance). The silhouette is relative: it finds "clusters"
in any tight group's noise, so a split must also be real in absolute terms, every
pair of sub-cart centroids at most ``max_centroid_cosine`` alike; a cart with no such
split scoring ``min_silhouette`` or more is treated as uniform. Carts are a handful of items, so both are
written in numpy (deterministic farthest-point initialisation, no random restarts):
tens of microseconds per cart where scikit-learn's KMeans costs milliseconds, which
matters when every test user of a shop is scored.

Recommendations are drawn per sub-cart (each its own eq. 3 mean through the tower)
and interleaved, the sub-cart with the largest rating total first.
"""
from __future__ import annotations

import numpy as np

DEFAULT_MAX_CLUSTERS = 3
DEFAULT_MIN_SILHOUETTE = 0.25
DEFAULT_MAX_CENTROID_COSINE = 0.6
_ITERATIONS = 20


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def spherical_kmeans(vectors: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Cluster labels [n] of unit vectors into k groups (cosine k-means).

    Initialisation is deterministic: the heaviest item first, then repeatedly the item
    farthest from every chosen centre."""
    unit = _unit(np.asarray(vectors, np.float64))
    weights = np.ones(len(unit)) if weights is None else np.asarray(weights, np.float64)
    centres = [int(np.argmax(weights))]
    for _ in range(1, k):
        similarity = (unit @ unit[centres].T).max(axis=1)
        similarity[centres] = np.inf
        centres.append(int(np.argmin(similarity)))
    centroids = unit[centres]
    labels = np.full(len(unit), -1)
    for _ in range(_ITERATIONS):
        new_labels = np.argmax(unit @ centroids.T, axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for c in range(k):
            members = labels == c
            if members.any():  # an emptied cluster keeps its old centre
                centroids[c] = _unit((weights[members, None] * unit[members]).sum(axis=0, keepdims=True))[0]
    return labels


def silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient with cosine distance (as sklearn.metrics.silhouette_score
    with metric="cosine"); a point alone in its cluster scores 0."""
    unit = _unit(np.asarray(vectors, np.float64))
    distance = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    clusters = np.unique(labels)
    if len(clusters) < 2 or len(clusters) >= len(labels):
        return float("nan")
    scores = np.zeros(len(labels))
    for i in range(len(labels)):
        own = labels == labels[i]
        if own.sum() == 1:
            continue
        a = distance[i, own].sum() / (own.sum() - 1)
        b = min(distance[i, labels == c].mean() for c in clusters if c != labels[i])
        scores[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(scores.mean())


def _centroid_cosine(vectors: np.ndarray, labels: np.ndarray) -> float:
    """The largest cosine between two cluster centroids."""
    unit = _unit(np.asarray(vectors, np.float64))
    centroids = _unit(np.stack([unit[labels == c].mean(axis=0) for c in np.unique(labels)]))
    similarity = centroids @ centroids.T
    return float(similarity[~np.eye(len(centroids), dtype=bool)].max())


def split_cart(vectors: np.ndarray, ratings: np.ndarray, max_clusters: int = DEFAULT_MAX_CLUSTERS,
               min_silhouette: float = DEFAULT_MIN_SILHOUETTE,
               max_centroid_cosine: float = DEFAULT_MAX_CENTROID_COSINE) -> list[np.ndarray]:
    """Positions of the cart's items per uniform sub-cart, largest rating total first.

    Args:
        vectors: the cart items' embeddings [n, D].
        ratings: their ratings [n] (> 0).
        max_clusters: the largest k tried.
        min_silhouette: below this best silhouette the cart stays whole.
        max_centroid_cosine: sub-carts whose centroids are more alike than this are
            one taste, not two.
    """
    ratings = np.asarray(ratings, np.float64)
    whole = [np.arange(len(ratings))]
    best_score, best_labels = min_silhouette, None
    for k in range(2, min(max_clusters, len(ratings) - 1) + 1):
        labels = spherical_kmeans(vectors, k, ratings)
        if len(np.unique(labels)) < k or _centroid_cosine(vectors, labels) > max_centroid_cosine:
            continue
        score = silhouette(vectors, labels)
        if score > best_score:
            best_score, best_labels = score, labels
    if best_labels is None:
        return whole
    groups = [np.flatnonzero(best_labels == c) for c in np.unique(best_labels)]
    return sorted(groups, key=lambda g: (-ratings[g].sum(), int(g[0])))


def interleave(rankings: list[np.ndarray], scores: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Round-robin merge of ranked lists (best first), skipping repeats, up to k items."""
    chosen, chosen_scores, seen = [], [], set()
    positions = [0] * len(rankings)
    while len(chosen) < k and any(p < len(r) for p, r in zip(positions, rankings)):
        for which, ranking in enumerate(rankings):
            while positions[which] < len(ranking) and ranking[positions[which]] in seen:
                positions[which] += 1
            if positions[which] < len(ranking) and len(chosen) < k:
                item = ranking[positions[which]]
                seen.add(item)
                chosen.append(item)
                chosen_scores.append(scores[which][positions[which]])
                positions[which] += 1
    return np.asarray(chosen), np.asarray(chosen_scores, dtype=np.float32)
