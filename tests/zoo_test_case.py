"""Shared checks for zoo models, after keras-hub's ``run_serialization_test`` and
``run_model_saving_test`` (src/tests/test_case.py): every zoo entry goes through them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401  (registers custom objects; conftest imports it before TensorFlow)
from fashion_tf.losses import WeightedMultiLabelLoss, label_weights
from fashion_tf.metrics import all_metrics
from fashion_tf.models import embedding_model


def tiny_batch(image_size: int, num_labels: int, batch_size: int = 2, seed: int = 0):
    """Random [0, 255] images and multi-hot targets with at least one label per image."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(batch_size, image_size, image_size, 3)).astype("float32")
    targets = (rng.uniform(size=(batch_size, num_labels)) < 0.4).astype("float32")
    targets[:, 0] = 1.0
    return images, targets


def run_training_step(model: tf.keras.Model, images, targets) -> float:
    """Compiles with the paper's loss and metrics and runs one train_on_batch."""
    weights = label_weights(targets.mean(axis=0))
    model.compile(
        # Clipped: BatchNorm over a batch of 2 at 1x1 spatial size gives huge gradients.
        # No optimizer slots, so the saved file stays small; eager skips slow tracing.
        optimizer=tf.keras.optimizers.SGD(1e-3, global_clipnorm=1.0),
        loss=WeightedMultiLabelLoss(label_weights=weights),
        metrics=all_metrics(),
        run_eagerly=True,
    )
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = model.train_on_batch(images, targets, return_dict=True)
    after = model.trainable_weights
    changed = sum(not np.array_equal(b, a.numpy()) for b, a in zip(before, after))
    assert changed > 0, "train_on_batch changed no weight: no gradient reached the model"
    assert np.isfinite(logs["loss"]), logs
    assert {"iou", "precision", "recall", "f1"} <= set(logs), logs
    return float(logs["loss"])


def run_serialization_test(model: tf.keras.Model) -> None:
    """get_config -> from_config rebuilds the same architecture (same config, weight shapes)."""
    config = model.get_config()
    rebuilt = model.__class__.from_config(config)
    assert rebuilt.get_config() == config
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


def run_model_saving_test(model: tf.keras.Model, images, directory: Path, atol: float = 1e-5) -> tf.keras.Model:
    """Saves run_dir/model.keras, reloads it with no custom_objects (through zoo.load),
    checks identical predictions."""
    from fashion_tf import zoo

    run_dir = Path(directory)
    model.save(run_dir / zoo.MODEL_FILE)
    restored = zoo.load(run_dir)  # a run directory -> tf.keras.models.load_model(run_dir/model.keras)
    assert type(restored) is type(model) and restored.name == model.name
    expected = model(images, training=False).numpy()
    np.testing.assert_allclose(restored(images, training=False).numpy(), expected, atol=atol)
    return restored


def run_embedding_test(model: tf.keras.Model, images) -> np.ndarray:
    """embedding_model(model) gives float32 unit vectors, one per image."""
    vectors = embedding_model(model)(images, training=False).numpy()
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(images), model.get_layer("embedding").output.shape[-1])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    return vectors
