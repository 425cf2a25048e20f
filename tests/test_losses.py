"""Paper eq. 1-3 (fashion_tf.losses): golden values, gradients, serialization."""
import numpy as np
import pytest
import tensorflow as tf

import fashion_tf  # noqa: F401  (registers custom objects; conftest imports it before TensorFlow)
from fashion_tf.losses import (
    WeightedMultiLabelLoss,
    label_weights,
    label_weights_from_counts,
    soft_f1_and_iou,
    weighted_multilabel_loss,
)

Y_TRUE = np.array([[1, 0, 1], [0, 1, 0]], dtype="float32")
Y_PRED = np.array([[0.8, 0.4, 0.5], [0.2, 0.6, 0.1]], dtype="float32")
FREQUENCIES = [0.5, 0.2, 0.1]


def test_label_weights_follow_eq2():
    """w_i = max_j f_j + 0.01 - f_i with f = (0.5, 0.2, 0.1): max = 0.5, so
    w = (0.5 + 0.01 - 0.5, 0.51 - 0.2, 0.51 - 0.1) = (0.01, 0.31, 0.41)."""
    weights = label_weights(FREQUENCIES)
    assert weights.dtype == np.float32
    np.testing.assert_allclose(weights, [0.01, 0.31, 0.41], atol=1e-7)


def test_label_weights_from_counts_uses_vocabulary_order():
    """counts over 10 items: b 5, a 2, c 1 -> f (vocabulary a, b, c) = (0.2, 0.5, 0.1)
    -> w = (0.31, 0.01, 0.41)."""
    weights = label_weights_from_counts({"b": 5, "a": 2, "c": 1}, ["a", "b", "c"], num_items=10)
    np.testing.assert_allclose(weights, [0.31, 0.01, 0.41], atol=1e-7)


@pytest.mark.parametrize("bad", [[], [0.2, 1.5], [[0.1, 0.2]], [-0.1, 0.3]])
def test_label_weights_reject_bad_frequencies(bad):
    with pytest.raises(ValueError, match="label_weights"):
        label_weights(bad)


def test_label_weights_from_counts_names_missing_label():
    with pytest.raises(ValueError, match="'z'"):
        label_weights_from_counts({"a": 1}, ["a", "z"], num_items=4)


def test_soft_f1_and_iou_golden():
    """Image 1: y = (1, 0, 1), p = (0.8, 0.4, 0.5): tp = 0.8 + 0.5 = 1.3, fp = 0.4,
    fn = 0.2 + 0.5 = 0.7 -> F1 = 2.6 / 3.7, IoU = 1.3 / 2.4.
    Image 2: y = (0, 1, 0), p = (0.2, 0.6, 0.1): tp = 0.6, fp = 0.3, fn = 0.4
    -> F1 = 1.2 / 1.9, IoU = 0.6 / 1.3."""
    f1, iou = soft_f1_and_iou(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(f1.numpy(), [2.6 / 3.7, 1.2 / 1.9], rtol=1e-5)
    np.testing.assert_allclose(iou.numpy(), [1.3 / 2.4, 0.6 / 1.3], rtol=1e-5)


def test_weighted_multilabel_loss_golden_2x3():
    """w = (0.01, 0.31, 0.41) (test above).

    Image 1, BCE per label: -ln 0.8 = 0.223144, -ln 0.6 = 0.510826, -ln 0.5 = 0.693147;
    weighted mean = (0.01*0.223144 + 0.31*0.510826 + 0.41*0.693147) / 3 = 0.444780 / 3
    = 0.148260; (1 - F1)(1 - IoU) = (1.1/3.7)(1.1/2.4) = 0.297297 * 0.458333 = 0.136261;
    loss = 0.148260 * 0.136261 = 0.020202.
    Image 2: -ln 0.8 = 0.223144, -ln 0.6 = 0.510826, -ln 0.9 = 0.105361;
    weighted mean = (0.002231 + 0.158356 + 0.043198) / 3 = 0.067929;
    (1 - F1)(1 - IoU) = (0.7/1.9)(0.7/1.3) = 0.368421 * 0.538462 = 0.198381;
    loss = 0.067929 * 0.198381 = 0.013476.
    Batch mean = (0.020202 + 0.013476) / 2 = 0.016839.
    """
    per_image = weighted_multilabel_loss(Y_TRUE, Y_PRED, label_weights(FREQUENCIES)).numpy()
    np.testing.assert_allclose(per_image, [0.020202, 0.013476], atol=2e-6)
    loss = WeightedMultiLabelLoss(label_weights=label_weights(FREQUENCIES))
    np.testing.assert_allclose(float(loss(Y_TRUE, Y_PRED)), 0.016839, atol=2e-6)


def test_loss_is_near_zero_for_perfect_predictions_and_grows_with_error():
    weights = label_weights(FREQUENCIES)
    perfect = weighted_multilabel_loss(Y_TRUE, Y_TRUE, weights).numpy()
    wrong = weighted_multilabel_loss(Y_TRUE, 1.0 - Y_TRUE, weights).numpy()
    assert np.all(perfect < 1e-6)
    assert np.all(wrong > 1.0)  # ~16 (clipped log) times weight times (1 - 0)(1 - 0)
    assert np.all(weighted_multilabel_loss(Y_TRUE, Y_PRED, weights).numpy() > perfect)


def test_loss_gradient_is_finite_and_points_to_targets():
    """Descending the gradient moves probabilities toward the targets, also at the
    clipping edges 0 and 1."""
    logits = tf.Variable([[1.0, -1.0, 0.0], [-20.0, 20.0, 0.5]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(weighted_multilabel_loss(Y_TRUE, tf.sigmoid(logits), label_weights(FREQUENCIES)))
    grad = tape.gradient(loss, logits).numpy()
    assert np.all(np.isfinite(grad))
    # d loss / d logit < 0 where the target is 1 (raise it), > 0 where it is 0.
    assert grad[0, 0] < 0 and grad[0, 2] < 0 and grad[0, 1] > 0 and grad[1, 2] > 0


def test_loss_config_round_trip_and_registered_name():
    loss = WeightedMultiLabelLoss(label_weights=[0.01, 0.31, 0.41])
    config = loss.get_config()
    assert config["label_weights"] == pytest.approx([0.01, 0.31, 0.41])
    assert tf.keras.utils.get_registered_name(WeightedMultiLabelLoss) == "fashion_tf>WeightedMultiLabelLoss"
    restored = tf.keras.losses.deserialize(tf.keras.losses.serialize(loss))
    assert isinstance(restored, WeightedMultiLabelLoss)
    np.testing.assert_allclose(float(restored(Y_TRUE, Y_PRED)), float(loss(Y_TRUE, Y_PRED)), rtol=1e-6)


def test_loss_rejects_bad_weights():
    with pytest.raises(ValueError, match="label_weights"):
        WeightedMultiLabelLoss(label_weights=[])


def test_compiled_model_with_loss_saves_and_loads_without_custom_objects(tmp_path):
    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="sigmoid")(inputs))
    model.compile("adam", loss=WeightedMultiLabelLoss(label_weights=[0.01, 0.31, 0.41]))
    model.fit(np.ones((2, 4), "float32"), Y_TRUE, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = tf.keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(restored.loss, WeightedMultiLabelLoss)
    np.testing.assert_allclose(restored.loss.label_weights, [0.01, 0.31, 0.41], rtol=1e-6)
