"""A small SavedModel with the signatures fashion_tf.export writes (docs/design.md, "Serving").

Used by the serving tests and benchmarks/serving.py besides a real export: the very
`fashion_tf.serving_graph.ServingModule` the export writes, around a small random Keras
model, so its `serving_default` maps encoded images (DT_STRING [None]) to
`embedding` (L2-normalised float32 [None, D]), `label_probs` (float32 [None, L]) and
`top_labels` (string [None, 5]), and whose `similar` maps images and a scalar int32 `k`
to `item_ids` (string [None, k]) and `scores` (float32 [None, k]) with a brute-force
index (catalog embeddings as a constant) in the graph. Images are decoded in the graph
and resized as in training. The weights are random (plus optional random conv layers
to give it a realistic cost), drawn from `seed`, so two seeds give two "versions"
with different outputs. With `scann=True` the
`similar` index is a ScaNN searcher in the graph (like the NAME_scann export).
"""
from __future__ import annotations

from pathlib import Path

import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)

# isort: split
import numpy as np
import tensorflow as tf

from fashion_tf.serving_graph import ServingModule, brute_force_scann_state


def fixture_keras_model(seed=0, image_size=32, dim=16, num_labels=8, conv_channels=()) -> tf.keras.Model:
    """A random (untrained) feature extractor with the zoo's layer names: random 3x3
    stride-2 convs give it a realistic cost, ``embedding`` and ``label_probs`` the head."""
    init = tf.keras.initializers
    image = tf.keras.Input((image_size, image_size, 3), name="image")
    x = tf.keras.layers.Rescaling(1 / 255.0, offset=-0.5)(image)
    for i, width in enumerate(conv_channels):
        x = tf.keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu",
                                   kernel_initializer=init.HeNormal(seed=seed * 100 + i))(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    embedding = tf.keras.layers.Dense(dim, name="embedding", bias_initializer=init.Constant(1e-3),
                                      kernel_initializer=init.RandomNormal(0, 1, seed=seed * 100 + 50))(x)
    probs = tf.keras.layers.Dense(num_labels, activation="sigmoid", name="label_probs",
                                  kernel_initializer=init.RandomNormal(0, 3, seed=seed * 100 + 51))(embedding)
    return tf.keras.Model(image, probs)


def build_fixture_model(path, seed=0, image_size=32, dim=16, num_labels=8, num_items=24, conv_channels=(),
                        scann=False, item_ids=None) -> Path:
    """Save the production serving graph around the fixture model at ``path`` (e.g. BASE/1);
    ``seed`` draws weights and catalog, so two seeds are two versions with other outputs.
    ``item_ids``: the catalog's ids (default item_000, item_001, ...)."""
    if item_ids is not None:
        num_items = len(item_ids)
    rng = np.random.default_rng(seed)
    catalog = rng.normal(0, 1, (num_items, dim)).astype(np.float32)
    catalog /= np.linalg.norm(catalog, axis=1, keepdims=True)
    module = ServingModule(
        fixture_keras_model(seed, image_size, dim, num_labels, conv_channels),
        vocabulary=[f"label_{i:02d}" for i in range(num_labels)], image_size=image_size,
        item_ids=list(item_ids) if item_ids is not None else [f"item_{i:03d}" for i in range(num_items)],
        embeddings=catalog,
        scann_state=brute_force_scann_state(catalog) if scann else None,
    )
    options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if scann else None)
    tf.saved_model.save(module, str(path), signatures=module.signatures(), options=options)
    return Path(path)


def png_bytes(seed: int, size: int = 40) -> bytes:
    """A small random RGB image encoded as PNG."""
    import cv2

    image = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()
