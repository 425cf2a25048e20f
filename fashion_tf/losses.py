"""The paper's weighted multi-label loss (eq. 1-3; docs/design.md, "The zoo").

eq. 2: each label i gets the weight ``w_i = max_j f_j + 0.01 - f_i`` where ``f_i`` is the
fraction of training items that carry label i, so rare labels weigh most and the most
frequent one still weighs 0.01.

eq. 1: weighted binary cross-entropy, averaged over the labels C:
``L_wbce = -1/|C| * sum_i w_i * (y_i log p_i + (1 - y_i) log(1 - p_i))``.

eq. 3: ``L = L_wbce * (1 - F1_soft) * (1 - IoU_soft)`` where F1 and IoU are computed from the
probabilities without thresholding ("not quantized"), so they are differentiable and the
loss shrinks as predictions approach the targets.

Choice made here (the paper does not say): the soft F1 and IoU are per image, from soft
counts over that image's labels, and the product is taken per image before Keras
averages over the batch, so ``sample_weight`` works as usual:
``tp = sum_i y_i p_i``, ``fp = sum_i (1 - y_i) p_i``, ``fn = sum_i y_i (1 - p_i)``,
``F1_soft = 2 tp / (2 tp + fp + fn + eps)``, ``IoU_soft = tp / (tp + fp + fn + eps)``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

EPSILON = 1e-7


def label_weights(frequencies: Sequence[float] | np.ndarray) -> np.ndarray:
    """Per-label weights of paper eq. 2: ``w_i = max_j f_j + 0.01 - f_i``.

    Args:
        frequencies: [num_labels] fraction of training items carrying each label, in [0, 1].

    Returns:
        float32 [num_labels] weights, all >= 0.01.
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"label_weights: frequencies must be a non-empty 1-D array, got shape {f.shape}")
    if not np.all(np.isfinite(f)) or f.min() < 0.0 or f.max() > 1.0:
        raise ValueError(
            "label_weights: frequencies must be fractions of items in [0, 1] "
            f"(got min {f.min()!r}, max {f.max()!r}); divide label counts by the number of items"
        )
    return (f.max() + 0.01 - f).astype(np.float32)


def label_weights_from_counts(
    counts: Mapping[str, int], vocabulary: Sequence[str], num_items: int
) -> np.ndarray:
    """``label_weights`` from labels.json's ``counts`` and ``num_items`` (vocabulary order)."""
    if int(num_items) <= 0:
        raise ValueError(f"label_weights_from_counts: num_items must be positive, got {num_items!r}")
    missing = [label for label in vocabulary if label not in counts]
    if missing:
        raise ValueError(f"label_weights_from_counts: counts has no entry for labels {missing[:5]}")
    return label_weights([counts[label] / float(num_items) for label in vocabulary])


def soft_f1_and_iou(y_true: tf.Tensor, y_pred: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-image soft F1 and soft IoU from probabilities (no threshold), each [B]."""
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    tp = tf.reduce_sum(y_true * y_pred, axis=-1)
    fp = tf.reduce_sum((1.0 - y_true) * y_pred, axis=-1)
    fn = tf.reduce_sum(y_true * (1.0 - y_pred), axis=-1)
    f1 = 2.0 * tp / (2.0 * tp + fp + fn + EPSILON)
    iou = tp / (tp + fp + fn + EPSILON)
    return f1, iou


def weighted_multilabel_loss(y_true, y_pred, label_weights) -> tf.Tensor:
    """Paper eq. 1-3 per image: ``L_wbce * (1 - F1_soft) * (1 - IoU_soft)``.

    Args:
        y_true: [B, C] multi-hot targets (0/1).
        y_pred: [B, C] sigmoid probabilities.
        label_weights: [C] weights from ``label_weights`` (eq. 2).

    Returns:
        float32 [B] loss per image (Keras averages it over the batch).
    """
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.clip_by_value(tf.cast(y_pred, tf.float32), EPSILON, 1.0 - EPSILON)
    weights = tf.cast(tf.convert_to_tensor(label_weights), tf.float32)
    bce = -(y_true * tf.math.log(y_pred) + (1.0 - y_true) * tf.math.log(1.0 - y_pred))
    wbce = tf.reduce_mean(weights * bce, axis=-1)
    f1, iou = soft_f1_and_iou(y_true, y_pred)
    return wbce * (1.0 - f1) * (1.0 - iou)


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class WeightedMultiLabelLoss(tf.keras.losses.Loss):
    """Keras wrapper of ``weighted_multilabel_loss`` holding the label weights (eq. 2).

    Args:
        label_weights: [num_labels] weights, e.g. ``label_weights(frequencies)``.
    """

    def __init__(self, label_weights: Sequence[float], name: str = "weighted_multilabel_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        weights = np.asarray(label_weights, dtype=np.float32)
        if weights.ndim != 1 or weights.size == 0:
            raise ValueError(
                f"WeightedMultiLabelLoss: label_weights must be a non-empty 1-D list, got shape {weights.shape}"
            )
        self.label_weights = weights

    def call(self, y_true, y_pred):
        return weighted_multilabel_loss(y_true, y_pred, self.label_weights)

    def get_config(self):
        return {**super().get_config(), "label_weights": [float(w) for w in self.label_weights]}
