"""Multi-label metrics (fashion_tf.metrics): golden values, accumulation, serialization."""
import numpy as np
import pytest
import tensorflow as tf

import fashion_tf  # noqa: F401  (registers custom objects; conftest imports it before TensorFlow)
from fashion_tf.metrics import (
    MultiLabelF1,
    MultiLabelIoU,
    MultiLabelPrecision,
    MultiLabelRecall,
    all_metrics,
    multilabel_scores,
)

Y_TRUE = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype="float32")
Y_PROB = np.array([[0.9, 0.6, 0.4, 0.1], [0.2, 0.1, 0.0, 0.3], [0.7, 0.2, 0.5, 0.5]], dtype="float32")
# Derivation shared by the golden tests. Thresholded at 0.5 (0.5 counts as predicted):
#   pred = [[1,1,0,0], [0,0,0,0], [1,0,1,1]]
# IoU per image: {0,2} vs {0,1}: 1 / |{0,1,2}| = 1/3; empty vs empty: 1;
#   {0,1} vs {0,2,3}: 1 / |{0,1,2,3}| = 1/4  -> mean (1/3 + 1 + 1/4) / 3 = 19/36.
# Micro counts: TP = 1 + 0 + 1 = 2; FP = 1 (image 1, label 1) + 2 (image 3, labels 2, 3)
#   = 3; FN = 1 (image 1, label 2) + 1 (image 3, label 1) = 2.
# precision = 2/5, recall = 2/4, F1 = 2*2 / (2*2 + 3 + 2) = 4/9.
EXPECTED = {"iou": 19 / 36, "precision": 0.4, "recall": 0.5, "f1": 4 / 9}
CLASSES = {"iou": MultiLabelIoU, "precision": MultiLabelPrecision, "recall": MultiLabelRecall, "f1": MultiLabelF1}


def test_multilabel_scores_golden():
    """See the derivation above EXPECTED."""
    scores = multilabel_scores(Y_TRUE, Y_PROB)
    for key, value in EXPECTED.items():
        assert scores[key] == pytest.approx(value), key
    assert scores["num_items"] == 3
    assert scores["mean_true_labels"] == pytest.approx(4 / 3)
    assert scores["mean_predicted_labels"] == pytest.approx(5 / 3)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_keras_metric_golden_and_accumulates_over_batches(key):
    """Two updates (images 1-2, then image 3) give the same value as the whole set."""
    metric = CLASSES[key]()
    assert metric.name == key
    metric.update_state(Y_TRUE[:2], Y_PROB[:2])
    metric.update_state(Y_TRUE[2:], Y_PROB[2:])
    assert float(metric.result()) == pytest.approx(EXPECTED[key], abs=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_iou_counts_empty_true_and_pred_as_one_and_disjoint_as_zero():
    assert multilabel_scores([[0, 0]], [[0.1, 0.2]])["iou"] == 1.0
    assert multilabel_scores([[1, 0]], [[0.1, 0.9]])["iou"] == 0.0
    metric = MultiLabelIoU()
    metric.update_state([[0, 0], [1, 0]], [[0.1, 0.2], [0.1, 0.9]])
    assert float(metric.result()) == pytest.approx(0.5)


def test_nothing_predicted_gives_zero_precision_not_nan():
    scores = multilabel_scores([[1, 0]], [[0.1, 0.2]])
    assert scores["precision"] == 0.0 and scores["recall"] == 0.0 and scores["f1"] == 0.0


def test_threshold_is_configurable():
    """At threshold 0.8 only 0.9 (image 1, label 0) is predicted: TP 1, FP 0, FN 3."""
    scores = multilabel_scores(Y_TRUE, Y_PROB, threshold=0.8)
    assert scores["precision"] == 1.0 and scores["recall"] == pytest.approx(0.25)
    metric = MultiLabelRecall(threshold=0.8)
    metric.update_state(Y_TRUE, Y_PROB)
    assert float(metric.result()) == pytest.approx(0.25)


def test_sample_weight_zero_ignores_images():
    """Weight 0 on image 3 leaves images 1-2: IoU (1/3 + 1) / 2 = 2/3; TP 1, FP 1."""
    iou, precision = MultiLabelIoU(), MultiLabelPrecision()
    for metric in (iou, precision):
        metric.update_state(Y_TRUE, Y_PROB, sample_weight=[1.0, 1.0, 0.0])
    assert float(iou.result()) == pytest.approx(2 / 3)
    assert float(precision.result()) == pytest.approx(0.5)


def test_multilabel_scores_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="num_items, num_labels"):
        multilabel_scores(Y_TRUE, Y_PROB[:, :3])


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_metric_config_round_trip(key):
    metric = CLASSES[key](threshold=0.3)
    restored = tf.keras.metrics.deserialize(tf.keras.metrics.serialize(metric))
    assert type(restored) is CLASSES[key]
    assert restored.threshold == 0.3 and restored.name == key


def test_compiled_metrics_survive_save_and_load(tmp_path):
    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(4, activation="sigmoid")(inputs))
    model.compile("adam", loss="binary_crossentropy", metrics=all_metrics())
    model.fit(Y_PROB, Y_TRUE, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = tf.keras.models.load_model(tmp_path / "m.keras")
    logs = restored.evaluate(Y_PROB, Y_TRUE, verbose=0, return_dict=True)
    assert {"iou", "precision", "recall", "f1"} <= set(logs)


def test_item_attributes_read_colour_and_texture_from_phrase_labels():
    import pandas as pd

    from fashion_tf.evaluation.retrieval_metrics import item_attributes

    items = pd.DataFrame({"item_id": ["a", "b"], "category": ["Women > Shoes > Flip Flops", "Men > Jeans"],
                          "labels": [["flip-flops", "navy-blue", "polka-dot", "women"], ["jeans", "men"]]})
    attributes = item_attributes(items).set_index("item_id")
    assert attributes.loc["a", ["category", "subtype", "colour", "texture"]].tolist() == [
        "shoes", "flip flops", "navy-blue", "polka-dot"]
    assert attributes.loc["b", ["colour", "texture"]].tolist() == ["unknown", "plain"]
