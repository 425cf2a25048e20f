"""A small SavedModel with the signatures fashion_tf.export writes (DESIGN.md 8).

Used by the serving tests and benchmarks/serving.py until/besides a real export: a
`tf.Module` whose `serving_default` maps encoded images (DT_STRING [None]) to
`embedding` (L2-normalised float32 [None, D]), `label_probs` (float32 [None, L]) and
`top_labels` (string [None, 5]), and whose `similar` maps images and a scalar int32 `k`
to `item_ids` (string [None, k]) and `scores` (float32 [None, k]) with a brute-force
index (catalog embeddings as a constant) in the graph. Images are decoded in the graph
(`tf.io.decode_image`, 3 channels) and resized. The weights are a fixed random
projection (plus optional random conv layers to give it a realistic cost), drawn from
`seed`, so two seeds give two "versions" with different outputs. With `scann=True` the
`similar` index is a ScaNN searcher in the graph (like the NAME_scann export).
"""
from __future__ import annotations

from pathlib import Path

import fashion_tf  # noqa: F401  (before TensorFlow)
import numpy as np
import tensorflow as tf

TOP_LABELS = 5


class FixtureModule(tf.Module):
    def __init__(self, seed=0, image_size=32, dim=16, num_labels=8, num_items=24, conv_channels=(), scann=False):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.image_size = int(image_size)
        channels = 3
        self.kernels = []
        for width in conv_channels:  # 3x3 stride-2 random convs: cost without training
            self.kernels.append(tf.Variable(rng.normal(0, (2 / (9 * channels)) ** 0.5, (3, 3, channels, width))
                                            .astype(np.float32)))
            channels = width
        self.projection = tf.Variable(rng.normal(0, 1, (channels, dim)).astype(np.float32))
        self.label_weights = tf.Variable(rng.normal(0, 3, (dim, num_labels)).astype(np.float32))
        self.vocabulary = tf.constant([f"label_{i:02d}" for i in range(num_labels)])
        catalog = rng.normal(0, 1, (num_items, dim)).astype(np.float32)
        self.catalog = tf.constant(catalog / np.linalg.norm(catalog, axis=1, keepdims=True))
        self.item_ids = tf.constant([f"item_{i:03d}" for i in range(num_items)])
        self.num_items = num_items
        self.scann_state = None
        if scann:  # the NAME_scann variant: a ScaNN searcher (Scann ops) in the graph
            from scann.scann_ops.py import scann_ops

            searcher = scann_ops.builder(self.catalog.numpy(), 10, "dot_product").score_brute_force().build()
            # The searcher's resource handle cannot be saved; its serialized state (a
            # tracked tf.Module of variables) can, and recreates the handle in the graph.
            self.scann_state = searcher.serialize_to_module()

    def _decode(self, images):
        def one(encoded):
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
            return tf.image.resize(tf.cast(image, tf.float32), [self.image_size, self.image_size])

        return tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([self.image_size, self.image_size, 3], tf.float32))

    def _embed(self, images):
        x = self._decode(images) / 255.0 - 0.5
        for kernel in self.kernels:
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
        features = tf.reduce_mean(x, axis=[1, 2])
        embedding = tf.math.l2_normalize(tf.matmul(features, self.projection) + 1e-3, axis=-1)
        probs = tf.sigmoid(tf.matmul(embedding, self.label_weights))
        return embedding, probs

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve_embedding(self, images):
        embedding, probs = self._embed(images)
        top = tf.math.top_k(probs, k=TOP_LABELS)
        return {"embedding": embedding, "label_probs": probs, "top_labels": tf.gather(self.vocabulary, top.indices)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images"), tf.TensorSpec([], tf.int32, name="k")])
    def serve_similar(self, images, k):
        checks = [tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1"),
                  tf.debugging.assert_less_equal(k, self.num_items,
                                                 message=f"k must be at most {self.num_items}, the catalog size")]
        embedding, _ = self._embed(images)
        with tf.control_dependencies(checks):  # else top_k may fail first, with a less clear message
            if self.scann_state is not None:
                from scann.scann_ops.py import scann_ops

                searcher = scann_ops.searcher_from_module(self.scann_state)
                indices, scores = searcher.search_batched(embedding, final_num_neighbors=k)
            else:
                scores, indices = tf.math.top_k(tf.matmul(embedding, self.catalog, transpose_b=True), k=k)
        return {"item_ids": tf.gather(self.item_ids, indices), "scores": scores}


def build_fixture_model(path, seed=0, **kwargs) -> Path:
    """Save a FixtureModule as a SavedModel at `path` (e.g. BASE/1) and return the path."""
    module = FixtureModule(seed=seed, **kwargs)
    options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if module.scann_state is not None else None)
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.serve_embedding.get_concrete_function(),
        "similar": module.serve_similar.get_concrete_function(),
    }, options=options)
    return Path(path)


def png_bytes(seed: int, size: int = 40) -> bytes:
    """A small random RGB image encoded as PNG."""
    import cv2

    image = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()
