"""Triplet loss with margin 0.2 and optional semi-hard mining (README, "Complete the look").

Almanassra et al., "Image style embedding based Fashion Recommendation System",
section 2.2.4: ``L(A, P, N) = max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0)``
with alpha = 0.2, on L2-normalised 128-d style embeddings (so squared distances lie in
[0, 4]). tensorflow-addons' ``TripletSemiHardLoss`` is gone (the package does not
import on TF 2.20), so both the plain loss and the mining are written here.

Semi-hard mining (Schroff et al., FaceNet, section 3.2, as tfa implemented it): for
each anchor, among the batch's images that may serve as its negative -- same category
as its positive, another outfit -- take the closest one that is still farther than the
positive (``d_an > d_ap``); when there is none, keep the sampled negative.

The Keras loss sees the batch as ``y_pred = [3B, D]`` (anchors, positives, negatives)
and ``y_true = [3B, 2]`` (outfit id, category) per image, which is what
:func:`fashion_tf.data.triplets.triplet_dataset` yields.
"""
from __future__ import annotations

import tensorflow as tf

MARGIN = 0.2
MININGS = ("none", "semi_hard")


def squared_distances(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Row-wise ``||x_i - y_i||^2`` [B]."""
    return tf.reduce_sum(tf.square(tf.cast(x, tf.float32) - tf.cast(y, tf.float32)), axis=-1)


def triplet_loss(anchor, positive, negative, margin: float = MARGIN) -> tf.Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` per triplet, float32 [B]."""
    return tf.nn.relu(squared_distances(anchor, positive) - squared_distances(anchor, negative) + margin)


def semi_hard_negatives(anchor, positive, negative, candidates, valid) -> tf.Tensor:
    """The negative of each anchor after semi-hard mining, [B, D].

    Args:
        anchor, positive, negative: [B, D] embeddings of the sampled triplets.
        candidates: [M, D] embeddings that may replace a negative.
        valid: bool [B, M], True where candidate m may be anchor b's negative.
    """
    anchor = tf.cast(anchor, tf.float32)
    candidates = tf.cast(candidates, tf.float32)
    d_ap = squared_distances(anchor, positive)[:, None]                             # [B, 1]
    d_an = tf.reduce_sum(tf.square(anchor[:, None, :] - candidates[None, :, :]), -1)  # [B, M]
    semi_hard = tf.logical_and(valid, d_an > d_ap)
    masked = tf.where(semi_hard, d_an, tf.fill(tf.shape(d_an), float("inf")))
    best = tf.argmin(masked, axis=1)
    found = tf.reduce_any(semi_hard, axis=1)
    return tf.where(found[:, None], tf.gather(candidates, best), tf.cast(negative, tf.float32))


def batch_triplet_loss(labels, embeddings, margin: float = MARGIN, mining: str = "none") -> tf.Tensor:
    """Triplet loss of a ``[3B, D]`` batch (anchors, positives, negatives), [B].

    ``labels`` [3B, 2] holds (outfit id, category) per image; only mining reads it."""
    if mining not in MININGS:
        raise ValueError(f"triplet loss: mining {mining!r} unknown; expected one of {MININGS}")
    anchor, positive, negative = tf.split(tf.cast(embeddings, tf.float32), 3, axis=0)
    if mining == "semi_hard":
        labels = tf.cast(labels, tf.int64)
        outfit, category = labels[:, 0], labels[:, 1]
        batch = tf.shape(anchor)[0]
        # candidates: every positive and negative of the batch
        cand_outfit, cand_category = outfit[batch:], category[batch:]
        anchor_outfit, positive_category = outfit[:batch], category[batch:2 * batch]
        valid = tf.logical_and(tf.equal(positive_category[:, None], cand_category[None, :]),
                               tf.not_equal(anchor_outfit[:, None], cand_outfit[None, :]))
        negative = semi_hard_negatives(anchor, positive, negative, embeddings[batch:], valid)
    return triplet_loss(anchor, positive, negative, margin)


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class TripletLoss(tf.keras.losses.Loss):
    """Keras wrapper of :func:`batch_triplet_loss` (margin 0.2, optional semi-hard mining)."""

    def __init__(self, margin: float = MARGIN, mining: str = "none", name: str = "triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if mining not in MININGS:
            raise ValueError(f"TripletLoss: mining {mining!r} unknown; expected one of {MININGS}")
        if not float(margin) >= 0:
            raise ValueError(f"TripletLoss: margin must be >= 0, got {margin!r}")
        self.margin, self.mining = float(margin), mining

    def call(self, y_true, y_pred):
        return batch_triplet_loss(y_true, y_pred, self.margin, self.mining)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "mining": self.mining}


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class TripletAccuracy(tf.keras.metrics.MeanMetricWrapper):
    """Share of a batch's triplets with d(a, p) < d(a, n) (the source's accuracy)."""

    def __init__(self, name: str = "triplet_accuracy", **kwargs):
        kwargs.pop("fn", None)
        super().__init__(_triplet_correct, name=name, **kwargs)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _triplet_correct(y_true, y_pred):
    del y_true
    anchor, positive, negative = tf.split(tf.cast(y_pred, tf.float32), 3, axis=0)
    return tf.cast(squared_distances(anchor, positive) < squared_distances(anchor, negative), tf.float32)
