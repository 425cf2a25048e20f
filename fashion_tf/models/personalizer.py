"""The personalizer: a user's rating-weighted cart -> a query in item space.

Mohammadi, Bodaghi & Kalhor, *Single-Item Fashion Recommender*, section 3 (Fig. 3): the
feature extractor's item embeddings of the items a user bought are averaged, weighted
by the user's ratings (eq. 3),

    cart = sum_i r_i e_i / sum_i r_i,

and a second, dense network maps the cart vector to a query in the same space (eq. 4);
recommendations are the catalog items with the highest cosine to that query, never an
item already in the cart.

The Keras model takes a batch of carts padded with ``""`` (ids) and ``0`` (ratings):
``item_ids`` string [B, L], ``ratings`` float32 [B, L] -> ``query`` float32 [B, D]
(unit norm). The catalog embeddings live inside it as a frozen table, so the saved
model is the whole personalizer and scores carts on its own. Ids the catalog does not
know, and padding, weigh nothing.

The tower is residual, ``query = cart + MLP(cart)``, with the MLP's last layer
initialised to zero: an untrained personalizer recommends exactly what the plain cart
mean does, and training (``fashion_tf.personalize``) can only move away from that
baseline when the held-out purchases say so.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from fashion_tf.models.extractor import L2Normalize

PADDING_ID = ""
# A cart's rating total below this counts as "no known item" (ratings are > 0).
_MIN_TOTAL_RATING = 1e-12


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class CartEncoder(tf.keras.layers.Layer):
    """Eq. 3: (item_ids [B, L], ratings [B, L]) -> rating-weighted mean embedding [B, D].

    Holds the catalog: ``item_ids`` (config) and their unit-norm embeddings (a frozen
    weight, row 0 = unknown/padding = zeros). A cart with no known item gives zeros.
    """

    def __init__(self, item_ids: Sequence[str], embedding_dim: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.item_ids = [str(i) for i in item_ids]
        if len(set(self.item_ids)) != len(self.item_ids):
            raise ValueError("CartEncoder: item_ids must be unique")
        if PADDING_ID in self.item_ids:
            raise ValueError("CartEncoder: the empty string is the padding id and cannot be an item id")
        self.embedding_dim = int(embedding_dim)
        # Row 0 is "not in the catalog": lookups of padding and unknown ids land there.
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.item_ids, tf.string),
                tf.range(1, len(self.item_ids) + 1, dtype=tf.int64)),
            default_value=0)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="item_embeddings", shape=(len(self.item_ids) + 1, self.embedding_dim),
            initializer="zeros", trainable=False)
        super().build(input_shape)

    def set_item_embeddings(self, vectors: np.ndarray) -> None:
        """Load the catalog embeddings ([N, D], row i = item_ids[i]); stored L2-normalised."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(self.item_ids), self.embedding_dim):
            raise ValueError(f"CartEncoder: item embeddings must be [{len(self.item_ids)}, {self.embedding_dim}], "
                             f"got {list(vectors.shape)}")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.maximum(norms, 1e-12)
        if not self.built:
            self.build(None)
        self.embeddings.assign(np.concatenate([np.zeros((1, self.embedding_dim), np.float32), unit]))

    def indices(self, item_ids):
        """Catalog rows (1-based; 0 = unknown or padding) of string ids, any shape."""
        return self.table.lookup(item_ids)

    def catalog_embeddings(self):
        """The unit-norm catalog embeddings [N, D] (row i = item_ids[i])."""
        return self.embeddings[1:]

    def call(self, inputs):
        item_ids, ratings = inputs
        index = self.indices(item_ids)
        weights = tf.cast(ratings, tf.float32) * tf.cast(index > 0, tf.float32)
        vectors = tf.gather(self.embeddings, index)
        total = tf.reduce_sum(weights, axis=1, keepdims=True)
        weighted = tf.einsum("bl,bld->bd", weights, vectors)
        return tf.math.divide_no_nan(weighted, tf.where(total > _MIN_TOTAL_RATING, total, 0.0))

    def get_config(self):
        return {**super().get_config(), "item_ids": list(self.item_ids), "embedding_dim": self.embedding_dim}


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class CartTower(tf.keras.layers.Layer):
    """Eq. 4: cart [B, D] -> query [B, D] = cart + MLP(cart), the MLP's output zero at start."""

    def __init__(self, embedding_dim: int, hidden_units: Sequence[int] = (256,), dropout: float = 0.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.embedding_dim = int(embedding_dim)
        self.hidden_units = [int(u) for u in hidden_units]
        self.dropout = float(dropout)
        self.hidden = [tf.keras.layers.Dense(u, activation="relu", name=f"hidden_{i}")
                       for i, u in enumerate(self.hidden_units)]
        self.drop = tf.keras.layers.Dropout(self.dropout) if self.dropout > 0 else None
        # Zero output layer: the untrained tower is the identity (plain cart mean).
        self.delta = tf.keras.layers.Dense(self.embedding_dim, kernel_initializer="zeros",
                                           bias_initializer="zeros", name="delta")

    def call(self, cart, training=None):
        hidden = cart
        for layer in self.hidden:
            hidden = layer(hidden)
        if self.drop is not None:
            hidden = self.drop(hidden, training=training)
        return cart + self.delta(hidden)

    def get_config(self):
        return {**super().get_config(), "embedding_dim": self.embedding_dim,
                "hidden_units": list(self.hidden_units), "dropout": self.dropout}


def build_personalizer(item_ids: Sequence[str] | None = None, item_embeddings: np.ndarray | None = None,
                       hidden_units: Sequence[int] = (256,), dropout: float = 0.0, name: str = "personalizer",
                       **_unused) -> tf.keras.Model:
    """The personalizer over a catalog: (item_ids [B, L] str, ratings [B, L]) -> query [B, D].

    Args:
        item_ids: the catalog's item ids, [N].
        item_embeddings: their embeddings from a trained feature extractor, [N, D].
        hidden_units: widths of the tower's hidden layers (paper eq. 4's dense network).
        dropout: dropout after the hidden layers while training.
    """
    if item_ids is None or item_embeddings is None:
        raise ValueError("a personalizer needs item_ids=[N] and item_embeddings=[N, D] (a trained extractor's "
                         "catalog embeddings); python -m fashion_tf.personalize --run RUN trains one")
    vectors = np.asarray(item_embeddings, dtype=np.float32)
    ids = tf.keras.Input(shape=(None,), dtype=tf.string, name="item_ids")
    ratings = tf.keras.Input(shape=(None,), dtype=tf.float32, name="ratings")
    encoder = CartEncoder(item_ids, vectors.shape[1], name="cart")
    cart = encoder([ids, ratings])
    query = CartTower(vectors.shape[1], hidden_units, dropout, name="tower")(cart)
    query = L2Normalize(name="query")(query)
    model = tf.keras.Model({"item_ids": ids, "ratings": ratings}, query, name=name)
    encoder.set_item_embeddings(vectors)
    return model


def cart_encoder(model: tf.keras.Model) -> CartEncoder:
    return model.get_layer("cart")


def pad_carts(carts: Sequence[Sequence[tuple[str, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """[(item_id, rating), ...] per cart -> (ids [B, L] object, ratings [B, L] float32),
    padded with "" and 0."""
    length = max((len(c) for c in carts), default=0)
    ids = np.full((len(carts), max(length, 1)), PADDING_ID, dtype=object)
    ratings = np.zeros((len(carts), max(length, 1)), dtype=np.float32)
    for row, cart in enumerate(carts):
        for column, (item_id, rating) in enumerate(cart):
            ids[row, column] = str(item_id)
            ratings[row, column] = float(rating)
    return ids, ratings


def score_carts(model: tf.keras.Model, ids: np.ndarray, ratings: np.ndarray, exclude_ids: np.ndarray | None = None,
                batch_size: int = 1024) -> np.ndarray:
    """Cosine of every catalog item to each cart's query, [B, N] float32. The items of
    ``exclude_ids`` (default: the cart's own, [B, L'] padded with "") get -inf, so they
    are never recommended."""
    encoder = cart_encoder(model)
    catalog = encoder.catalog_embeddings()
    exclude_ids = ids if exclude_ids is None else exclude_ids
    out = []
    for start in range(0, len(ids), batch_size):
        batch = slice(start, start + batch_size)
        query = model({"item_ids": tf.constant(ids[batch].astype(str)),
                       "ratings": tf.constant(ratings[batch], tf.float32)}, training=False)
        scores = tf.matmul(query, catalog, transpose_b=True).numpy()
        out.append(exclude_cart_items(scores, encoder.indices(tf.constant(exclude_ids[batch].astype(str))).numpy()))
    return np.concatenate(out) if out else np.zeros((0, len(encoder.item_ids)), np.float32)


def exclude_cart_items(scores: np.ndarray, cart_rows: np.ndarray) -> np.ndarray:
    """Set the scores of each cart's items (1-based catalog rows, 0 = none) to -inf."""
    rows, columns = np.nonzero(cart_rows > 0)
    scores[rows, cart_rows[rows, columns] - 1] = -np.inf
    return scores


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(column indices [B, k], scores [B, k]) of the k best scores per row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    return best, np.take_along_axis(scores, best, axis=1)


def recommend(model: tf.keras.Model, carts: Sequence[Sequence[tuple[str, float]]], k: int = 10,
              split_carts: bool = True, max_clusters: int | None = None,
              min_silhouette: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k catalog items per cart, never one already in the cart.

    Args:
        carts: per user, [(item_id, rating), ...]; unknown ids are ignored.
        split_carts: split mixed carts into uniform sub-carts (``cart_split``) and
            interleave their recommendations; off: one eq. 3 mean per cart.

    Returns:
        (item ids [B, k] object, cosine scores [B, k] float32); k is at most the catalog
        size, and a row runs out ("" ids, -inf scores) when its cart leaves fewer items.
    """
    from fashion_tf.models import cart_split

    encoder = cart_encoder(model)
    catalog_ids = np.asarray(encoder.item_ids, dtype=object)
    k = min(int(k), len(catalog_ids))
    ids, ratings = pad_carts(carts)
    if not split_carts:
        best, scores = top_k(score_carts(model, ids, ratings), k)
        return catalog_ids[best], scores
    rows = encoder.indices(tf.constant(ids.astype(str))).numpy()
    table = encoder.embeddings.numpy()
    sub_carts, owners = [], []
    for cart, (cart_rows, cart_ratings) in enumerate(zip(rows, ratings)):
        known = np.flatnonzero(cart_rows > 0)
        groups = cart_split.split_cart(
            table[cart_rows[known]], cart_ratings[known],
            **{k_: v for k_, v in (("max_clusters", max_clusters), ("min_silhouette", min_silhouette)) if v is not None},
        ) if len(known) else [known]
        for group in groups:
            sub_carts.append([(ids[cart, known[g]], cart_ratings[known[g]]) for g in group])
            owners.append(cart)
    sub_ids, sub_ratings = pad_carts(sub_carts)
    scores = score_carts(model, sub_ids, sub_ratings, exclude_ids=ids[owners])
    best, best_scores = top_k(scores, k)
    out_ids = np.full((len(carts), k), PADDING_ID, dtype=object)
    out_scores = np.full((len(carts), k), -np.inf, dtype=np.float32)
    owners = np.asarray(owners)
    for cart in range(len(carts)):
        mine = np.flatnonzero(owners == cart)
        merged, merged_scores = cart_split.interleave([best[m] for m in mine], [best_scores[m] for m in mine], k)
        out_ids[cart, :len(merged)] = catalog_ids[merged]
        out_scores[cart, :len(merged)] = merged_scores
    return out_ids, out_scores
