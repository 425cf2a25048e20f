"""The serving graph of a style embedding run (``ctl_triplet``; README, "Complete the look").

Same conventions as :mod:`fashion_tf.serving_graph` (encoded images decoded in the
graph with the evaluation decoder; stock TensorFlow ops only, so it runs on the
official ``tensorflow/serving`` image). Signatures:

- ``serving_default``: images [N] -> ``embedding`` [N, D] (the unit-norm style
  embedding, so ``Client.embed`` works as for the extractors),
  ``category_probs`` [N, C], ``category`` [N] (the most probable category);
- ``complete_the_look``: ``images`` [1] (one encoded image), ``k`` (int32),
  ``category`` (string; "" = predicted by the model) -> ``categories`` [C'] (the
  categories worn with the query's in the training outfits), ``item_ids`` [C', k] and
  ``scores`` [C', k] (cosine, best first, per category), ``query_category`` [].
  An unknown category, a request without exactly one image, an undecodable image or
  k above the smallest recommended category's item count fail with INVALID_ARGUMENT.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from fashion_tf.data.decode import load_for_model
from fashion_tf.models.resnet18 import CATEGORY_OUTPUT, STYLE_OUTPUT

SIGNATURE = "complete_the_look"


class StyleServingModule(tf.Module):
    """A ctl_triplet model plus the catalog's style embeddings, packaged for TF Serving."""

    def __init__(self, model, categories, compatible, image_size, item_ids, item_categories, embeddings):
        super().__init__()
        self.model = model
        self.image_size = int(image_size)
        self.categories = tf.constant([str(c) for c in categories])
        self._unknown_category = ("unknown category; expected '' (predict it) or one of "
                                  + ", ".join(str(c) for c in categories))
        self.compatible = tf.constant(np.asarray(compatible, bool))
        self.item_ids = tf.constant([str(i) for i in item_ids])
        self.item_categories = tf.constant(np.asarray(item_categories, np.int64))
        self.embeddings = tf.constant(np.asarray(embeddings, np.float32))

    def _embed(self, images):
        decoded = tf.map_fn(lambda encoded: load_for_model(encoded, self.image_size), images,
                            fn_output_signature=tf.TensorSpec([self.image_size, self.image_size, 3], tf.float32))
        out = self.model(decoded, training=False)
        return tf.cast(out[STYLE_OUTPUT], tf.float32), tf.cast(out[CATEGORY_OUTPUT], tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve_embedding(self, images):
        style, probs = self._embed(images)
        return {"embedding": style, "category_probs": probs,
                "category": tf.gather(self.categories, tf.argmax(probs, axis=1))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images"),
                                  tf.TensorSpec([], tf.int32, name="k"),
                                  tf.TensorSpec([], tf.string, name="category")])
    def serve_complete_the_look(self, images, k, category):
        known = tf.reduce_any(tf.equal(self.categories, category))
        checks = [
            tf.debugging.assert_equal(tf.size(images), 1, message="complete_the_look takes exactly one image"),
            tf.debugging.assert_equal(tf.logical_or(tf.equal(category, ""), known), True,
                                      message=self._unknown_category),
            tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1"),
        ]
        with tf.control_dependencies(checks):
            style, probs = self._embed(images)
        given = tf.argmax(tf.cast(tf.equal(self.categories, category), tf.int32), output_type=tf.int64)
        query = tf.where(tf.equal(category, ""), tf.argmax(probs[0], output_type=tf.int64), given)
        targets = tf.where(tf.gather(self.compatible, query))[:, 0]                      # [C']
        in_category = tf.equal(self.item_categories[None, :], targets[:, None])          # [C', N]
        fewest = tf.reduce_min(tf.reduce_sum(tf.cast(in_category, tf.int32), axis=1))
        with tf.control_dependencies([tf.debugging.assert_less_equal(
                k, fewest, message="k exceeds the item count of a recommended category")]):
            scores = tf.linalg.matvec(self.embeddings, style[0])                         # [N]
            masked = tf.where(in_category, scores[None, :], tf.fill(tf.shape(in_category), -np.inf))
            top = tf.math.top_k(masked, k=k)
        return {"categories": tf.gather(self.categories, targets), "item_ids": tf.gather(self.item_ids, top.indices),
                "scores": top.values, "query_category": tf.gather(self.categories, query)}

    def signatures(self) -> dict:
        return {"serving_default": self.serve_embedding.get_concrete_function(),
                SIGNATURE: self.serve_complete_the_look.get_concrete_function()}


def style_serving_module(run, catalog=None) -> StyleServingModule:
    """The module for a finished ctl_triplet run over its catalog (or ``catalog``)."""
    from fashion_tf.complete_the_look import require_style_run, style_catalog
    from fashion_tf.embed import run_catalog

    require_style_run(run)
    catalog = catalog if catalog is not None else run_catalog(run, None)
    table, embeddings = style_catalog(run, catalog)
    categories = list(run.config["categories"])
    item_categories = [categories.index(c) if c in categories else -1 for c in table.items["outfit_category"]]
    return StyleServingModule(run.model, categories, run.config["compatible_categories"], run.image_size,
                              table.items["item_id"].astype(str).tolist(), item_categories, embeddings)
