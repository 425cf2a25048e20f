"""The personalizer's baselines of *Single-Item Fashion Recommender*, Fig. 11 (section 4.4).

- popularity: the most purchased items of the training interactions;
- collaborative filtering: matrix factorisation on user and item ids, trained with
  TensorFlow Recommenders' ``Retrieval`` task (in-batch softmax) on the same earlier
  purchases the personalizer learns from; it sees ids only, no image.

Both rank every catalog item for each test user and never return an item of the
user's cart, exactly like the personalizer, so Recall@K compares like with like.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_recommenders as tfrs

from fashion_tf.models.personalizer import exclude_cart_items, top_k


def _cart_rows(carts, item_ids) -> np.ndarray:
    """1-based catalog rows of each cart's items, [U, L] padded with 0."""
    position = {str(i): n + 1 for n, i in enumerate(item_ids)}
    rows = np.zeros((len(carts), max((len(c) for c in carts), default=1) or 1), dtype=np.int64)
    for u, cart in enumerate(carts):
        for j, (item, _) in enumerate(cart):
            rows[u, j] = position.get(str(item), 0)
    return rows


def popularity_rankings(train_interactions: pd.DataFrame, item_ids, carts, k: int) -> np.ndarray:
    """Top-k item ids [U, k]: purchase counts, ties broken by catalog order."""
    ids = np.asarray([str(i) for i in item_ids], dtype=object)
    counts = train_interactions["item_id"].astype(str).value_counts()
    scores = counts.reindex(ids).fillna(0).to_numpy(np.float32)
    scores = np.broadcast_to(scores, (len(carts), len(ids))).copy()
    best, _ = top_k(exclude_cart_items(scores, _cart_rows(carts, ids)), k)
    return ids[best]


class MatrixFactorization(tfrs.Model):
    """User and item id embeddings whose dot product scores a purchase (two id towers)."""

    def __init__(self, users, items, dim: int, temperature: float | None = None):
        super().__init__()
        self.user_model = tf.keras.Sequential([
            tf.keras.layers.StringLookup(vocabulary=list(users), mask_token=None),
            tf.keras.layers.Embedding(len(users) + 1, dim)])
        self.item_model = tf.keras.Sequential([
            tf.keras.layers.StringLookup(vocabulary=list(items), mask_token=None),
            tf.keras.layers.Embedding(len(items) + 1, dim)])
        self.task = tfrs.tasks.Retrieval(temperature=temperature, remove_accidental_hits=True)

    def compute_loss(self, features, training=False):
        # logQ correction: in-batch negatives are drawn by popularity, so without it the
        # factorisation learns to push popular items down (Yi et al., RecSys 2019).
        return self.task(self.user_model(features["user_id"]), self.item_model(features["item_id"]),
                         candidate_ids=features["item_id"], compute_metrics=False,
                         candidate_sampling_probability=features["probability"])


def matrix_factorization_rankings(train_interactions: pd.DataFrame, item_ids, users, carts, k: int,
                                  dim: int = 32, epochs: int = 10, batch_size: int = 256,
                                  learning_rate: float = 0.1, seed: int = 0) -> np.ndarray:
    """Top-k item ids [U, k] for ``users`` from a matrix factorisation of the training
    purchases (TFRS two id towers, in-batch softmax with logQ correction, Adagrad as in
    the TFRS retrieval tutorial)."""
    tf.keras.utils.set_random_seed(seed)
    ids = np.asarray([str(i) for i in item_ids], dtype=object)
    table = train_interactions.astype({"user_id": str, "item_id": str})
    model = MatrixFactorization(sorted(set(table["user_id"]) | set(map(str, users))), ids.tolist(), dim)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate))
    probability = table["item_id"].map(table["item_id"].value_counts(normalize=True)).to_numpy(np.float32)
    data = tf.data.Dataset.from_tensor_slices({"user_id": table["user_id"].to_numpy(str),
                                               "item_id": table["item_id"].to_numpy(str), "probability": probability})
    model.fit(data.shuffle(len(table), seed=seed).batch(batch_size), epochs=epochs, verbose=0)
    user_vectors = model.user_model(tf.constant([str(u) for u in users])).numpy()
    item_vectors = model.item_model(tf.constant(ids.astype(str))).numpy()
    scores = user_vectors @ item_vectors.T
    best, _ = top_k(exclude_cart_items(scores, _cart_rows(carts, ids)), k)
    return ids[best]
