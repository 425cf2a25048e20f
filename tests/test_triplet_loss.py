"""Triplet loss (margin 0.2) and semi-hard mining: golden values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import fashion_tf  # noqa: F401
from fashion_tf.losses_triplet import (
    TripletAccuracy,
    TripletLoss,
    batch_triplet_loss,
    semi_hard_negatives,
    triplet_loss,
)

A = [1.0, 0.0]
P = [0.6, 0.8]           # ||A - P||^2 = 0.16 + 0.64 = 0.8
N_FAR = [0.0, 1.0]       # ||A - N||^2 = 2.0: beyond the margin -> 0
N_NEAR = [0.8, 0.6]      # ||A - N||^2 = 0.04 + 0.36 = 0.4 -> 0.8 - 0.4 + 0.2 = 0.6
N_EDGE = [-0.6, 0.8]     # ||A - N||^2 = 2.56 + 0.64 = 3.2


def test_golden_values_and_zero_beyond_the_margin():
    anchor = tf.constant([A, A, A])
    positive = tf.constant([P, P, P])
    negative = tf.constant([N_FAR, N_NEAR, N_EDGE])
    np.testing.assert_allclose(triplet_loss(anchor, positive, negative).numpy(), [0.0, 0.6, 0.0], atol=1e-6)
    # a larger margin reaches the far negative: 0.8 - 2.0 + 1.5 = 0.3
    np.testing.assert_allclose(triplet_loss(anchor, positive, negative, margin=1.5).numpy(), [0.3, 1.9, 0.0],
                               atol=1e-6)


def test_semi_hard_picks_the_closest_negative_farther_than_the_positive():
    anchor, positive, sampled = tf.constant([A]), tf.constant([P]), tf.constant([N_NEAR])
    candidates = tf.constant([N_NEAR, N_FAR, [0.2, 0.98], N_EDGE])  # d = 0.4, 2.0, 1.6, 3.2
    all_valid = tf.constant([[True, True, True, True]])
    chosen = semi_hard_negatives(anchor, positive, sampled, candidates, all_valid).numpy()
    np.testing.assert_allclose(chosen, [[0.2, 0.98]])  # d 1.6: the closest with d > d_ap = 0.8
    not_third = tf.constant([[True, True, False, True]])
    np.testing.assert_allclose(semi_hard_negatives(anchor, positive, sampled, candidates, not_third).numpy(), [N_FAR])
    only_hard = tf.constant([[True, False, False, False]])  # nothing semi-hard: keep the sampled one
    np.testing.assert_allclose(semi_hard_negatives(anchor, positive, sampled, candidates, only_hard).numpy(), [N_NEAR])


def test_batch_mining_respects_category_and_outfit():
    # two triplets; images: anchors (rows 0, 1), positives (2, 3), negatives (4, 5)
    embeddings = tf.constant([A, A, P, P, N_NEAR, [0.2, 0.98]])
    # (outfit, category): triplet 0 from outfit 0, triplet 1 from outfit 1, positives of category 5
    labels = tf.constant([[0, 1], [1, 1], [0, 5], [1, 5], [7, 5], [8, 5]])
    plain = batch_triplet_loss(labels, embeddings).numpy()
    np.testing.assert_allclose(plain, [0.6, 0.0], atol=1e-6)  # 0.8 - 1.6 + 0.2 < 0
    mined = batch_triplet_loss(labels, embeddings, mining="semi_hard").numpy()
    # triplet 0: candidates of category 5 outside outfit 0 = rows 3 (d 0.8, not > 0.8), 4 (0.4), 5 (1.6) -> row 5
    np.testing.assert_allclose(mined, [0.0, 0.0], atol=1e-6)
    # make row 5 another category: triplet 0 has no semi-hard candidate left and keeps its own negative
    labels = tf.constant([[0, 1], [1, 1], [0, 5], [1, 5], [7, 5], [8, 6]])
    np.testing.assert_allclose(batch_triplet_loss(labels, embeddings, mining="semi_hard").numpy(), [0.6, 0.0],
                               atol=1e-6)


def test_keras_loss_and_metric_serialize():
    loss = TripletLoss(margin=0.3, mining="semi_hard")
    clone = tf.keras.losses.deserialize(tf.keras.losses.serialize(loss))
    assert isinstance(clone, TripletLoss) and (clone.margin, clone.mining) == (0.3, "semi_hard")
    labels = tf.zeros([6, 2], tf.int64)
    embeddings = tf.constant([A, A, P, P, N_NEAR, N_FAR])
    assert float(TripletLoss()(labels, embeddings)) == pytest.approx((0.6 + 0.0) / 2, abs=1e-6)
    metric = TripletAccuracy()
    metric.update_state(labels, embeddings)
    assert float(metric.result()) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="mining 'hardest' unknown"):
        TripletLoss(mining="hardest")
