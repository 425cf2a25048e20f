"""Multi-label metrics of the paper (sections 4.1-4.2, Table 2; docs/design.md, "The zoo").

Predictions are thresholded at 0.5. Definitions (chosen here where the paper is silent):

- IoU: per image ``|pred AND true| / |pred OR true|``, averaged over images. An image
  with no true and no predicted label scores 1 (nothing to find, nothing claimed).
  This is the paper's "IOU" (44.4% for ResNet50 on Amazon Fashion).
- precision, recall, F1: micro-averaged, i.e. from true/false positive and false
  negative counts summed over all images and labels, as Keras' own Precision/Recall do.
  When nothing is predicted precision is 0; when nothing is true recall is 0.

The Keras metrics accumulate over batches (reset with ``reset_state``); the numpy
``multilabel_scores`` computes the same numbers at once for metrics.json and baselines.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

DEFAULT_THRESHOLD = 0.5


def _binarize(y_true, y_pred, threshold):
    y_true = tf.cast(tf.cast(y_true, tf.float32) > 0.5, tf.float32)
    y_pred = tf.cast(tf.cast(y_pred, tf.float32) >= threshold, tf.float32)
    return y_true, y_pred


def _safe_ratio(numerator, denominator):
    return tf.math.divide_no_nan(numerator, denominator)


class _ThresholdedMetric(tf.keras.metrics.Metric):
    """Shared threshold handling and config of the multi-label metrics."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, name: str | None = None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.threshold = float(threshold)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class _MicroCountsMetric(_ThresholdedMetric):
    """Accumulates micro true positive / false positive / false negative counts."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, name: str | None = None, dtype=None, **kwargs):
        super().__init__(threshold=threshold, name=name, dtype=dtype, **kwargs)
        self.true_positives = self.add_weight(name="true_positives", initializer="zeros")
        self.false_positives = self.add_weight(name="false_positives", initializer="zeros")
        self.false_negatives = self.add_weight(name="false_negatives", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _binarize(y_true, y_pred, self.threshold)
        weight = 1.0 if sample_weight is None else tf.reshape(tf.cast(sample_weight, tf.float32), [-1, 1])
        self.true_positives.assign_add(tf.reduce_sum(weight * y_true * y_pred))
        self.false_positives.assign_add(tf.reduce_sum(weight * (1.0 - y_true) * y_pred))
        self.false_negatives.assign_add(tf.reduce_sum(weight * y_true * (1.0 - y_pred)))

    def reset_state(self):
        for variable in (self.true_positives, self.false_positives, self.false_negatives):
            variable.assign(0.0)


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class MultiLabelPrecision(_MicroCountsMetric):
    """Micro precision = TP / (TP + FP) at ``threshold``."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, name: str = "precision", **kwargs):
        super().__init__(threshold=threshold, name=name, **kwargs)

    def result(self):
        return _safe_ratio(self.true_positives, self.true_positives + self.false_positives)


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class MultiLabelRecall(_MicroCountsMetric):
    """Micro recall = TP / (TP + FN) at ``threshold``."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, name: str = "recall", **kwargs):
        super().__init__(threshold=threshold, name=name, **kwargs)

    def result(self):
        return _safe_ratio(self.true_positives, self.true_positives + self.false_negatives)


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class MultiLabelF1(_MicroCountsMetric):
    """Micro F1 = 2 TP / (2 TP + FP + FN) at ``threshold``."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, name: str = "f1", **kwargs):
        super().__init__(threshold=threshold, name=name, **kwargs)

    def result(self):
        tp2 = 2.0 * self.true_positives
        return _safe_ratio(tp2, tp2 + self.false_positives + self.false_negatives)


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class MultiLabelIoU(_ThresholdedMetric):
    """Mean over images of ``|pred AND true| / |pred OR true|`` (1 when both are empty)."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, name: str = "iou", **kwargs):
        super().__init__(threshold=threshold, name=name, **kwargs)
        self.iou_sum = self.add_weight(name="iou_sum", initializer="zeros")
        self.weight_sum = self.add_weight(name="weight_sum", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _binarize(y_true, y_pred, self.threshold)
        intersection = tf.reduce_sum(y_true * y_pred, axis=-1)
        union = tf.reduce_sum(tf.maximum(y_true, y_pred), axis=-1)
        iou = tf.where(union > 0, _safe_ratio(intersection, union), tf.ones_like(union))
        weight = tf.ones_like(iou) if sample_weight is None else tf.reshape(tf.cast(sample_weight, tf.float32), [-1])
        self.iou_sum.assign_add(tf.reduce_sum(weight * iou))
        self.weight_sum.assign_add(tf.reduce_sum(weight))

    def result(self):
        return _safe_ratio(self.iou_sum, self.weight_sum)

    def reset_state(self):
        self.iou_sum.assign(0.0)
        self.weight_sum.assign(0.0)


def all_metrics(threshold: float = DEFAULT_THRESHOLD) -> list[tf.keras.metrics.Metric]:
    """Fresh instances of the four metrics, for ``model.compile(metrics=...)``."""
    return [
        MultiLabelIoU(threshold),
        MultiLabelPrecision(threshold),
        MultiLabelRecall(threshold),
        MultiLabelF1(threshold),
    ]


def multilabel_scores(y_true, y_prob, threshold: float = DEFAULT_THRESHOLD) -> dict[str, float]:
    """Numpy version of the four metrics over a whole evaluation set.

    Args:
        y_true: [N, C] multi-hot targets.
        y_prob: [N, C] probabilities (or 0/1 predictions).
        threshold: a label is predicted when its probability is >= threshold.

    Returns:
        ``{"iou", "precision", "recall", "f1"}`` as floats in [0, 1], plus ``"num_items"``
        and the mean numbers of true and predicted labels per image.
    """
    t = np.asarray(y_true, dtype=np.float64) > 0.5
    p = np.asarray(y_prob, dtype=np.float64) >= threshold
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(
            f"multilabel_scores: y_true {t.shape} and y_prob {p.shape} must both be [num_items, num_labels]"
        )
    intersection = (t & p).sum(axis=1)
    union = (t | p).sum(axis=1)
    per_image_iou = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
    tp = float((t & p).sum())
    fp = float((~t & p).sum())
    fn = float((t & ~p).sum())

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else 0.0

    return {
        "iou": float(per_image_iou.mean()) if len(t) else 0.0,
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "num_items": len(t),
        "mean_true_labels": float(t.sum(axis=1).mean()) if len(t) else 0.0,
        "mean_predicted_labels": float(p.sum(axis=1).mean()) if len(t) else 0.0,
    }
