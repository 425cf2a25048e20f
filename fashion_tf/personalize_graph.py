"""The ``personalize`` serving signature (docs/design.md, "Serving"; *Single-Item Fashion
Recommender*, section 3, eq. 3/4).

One cart per request: ``item_ids`` (DT_STRING [N]), ``ratings`` (DT_FLOAT [N]) and
``k`` (DT_INT32 scalar) -> ``item_ids`` (DT_STRING [k]), ``scores`` (DT_FLOAT [k],
cosine) and ``unknown_items`` (DT_INT32 scalar: cart ids the catalog does not know,
ignored). Items already in the cart are never returned. Built from stock TensorFlow
ops only (a hash table, matrix product, top-k, asserts), so it runs on the official
``tensorflow/serving`` image.

Bad carts fail with INVALID_ARGUMENT and a message naming the problem: ``item_ids``
and ``ratings`` of different lengths, a rating <= 0, no known item, ``k`` outside
1..catalog size. Mixed-cart splitting (``fashion_tf.models.cart_split``) is not in
the graph: the served query is the whole cart's eq. 3 mean through the tower.
"""
from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf

from fashion_tf.models.personalizer import cart_encoder

SIGNATURE = "personalize"


class PersonalizeModule(tf.Module):
    """A trained personalizer (Keras) packaged for TF Serving."""

    def __init__(self, personalizer: tf.keras.Model):
        super().__init__()
        self.personalizer = personalizer
        encoder = cart_encoder(personalizer)
        self.encoder = encoder
        self.catalog_ids = tf.constant(encoder.item_ids)
        self.num_items = len(encoder.item_ids)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="item_ids"),
                                  tf.TensorSpec([None], tf.float32, name="ratings"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def serve_personalize(self, item_ids, ratings, k):
        rows = self.encoder.indices(item_ids)
        known = rows > 0
        unknown = tf.reduce_sum(tf.cast(tf.logical_not(known), tf.int32))
        checks = [
            tf.debugging.assert_equal(tf.size(item_ids), tf.size(ratings),
                                      message="item_ids and ratings must have the same length"),
            tf.debugging.assert_positive(ratings, message="every rating must be > 0"),
            tf.debugging.assert_positive(tf.reduce_sum(tf.cast(known, tf.int32)),
                                         message="the cart has no item of this catalog"),
            tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1"),
            tf.debugging.assert_less_equal(k, self.num_items,
                                           message=f"k must be at most {self.num_items}, the catalog size"),
        ]
        with tf.control_dependencies(checks):
            query = self.personalizer({"item_ids": item_ids[None], "ratings": ratings[None]}, training=False)
            scores = tf.linalg.matvec(self.encoder.catalog_embeddings(), query[0])
            cart_rows = tf.unique(tf.boolean_mask(rows, known) - 1).y
            scores = tf.tensor_scatter_nd_update(
                scores, cart_rows[:, None], tf.fill(tf.shape(cart_rows), float("-inf")))
            # Never more than the items left outside the cart.
            top = tf.math.top_k(scores, k=tf.minimum(k, self.num_items - tf.size(cart_rows)))
        return {"item_ids": tf.gather(self.catalog_ids, top.indices), "scores": top.values,
                "unknown_items": unknown}

    def signatures(self) -> dict:
        """A personalizer-only export: ``personalize``, also as ``serving_default``."""
        function = self.serve_personalize.get_concrete_function()
        return {"serving_default": function, SIGNATURE: function}


def load_personalizer_for(extractor_run, personalizer_dir) -> tf.keras.Model:
    """The personalizer of ``personalizer_dir``, checked to be trained over the
    embeddings of ``extractor_run`` (the same model fingerprint)."""
    from fashion_tf.runs import load_run

    run = load_run(personalizer_dir)
    if run.config.get("kind") != "personalizer":
        raise ValueError(f"--personalizer {personalizer_dir}: not a personalizer run "
                         "(python -m fashion_tf.personalize --run RUN)")
    if run.config.get("extractor_fingerprint") != extractor_run.fingerprint:
        raise ValueError(f"--personalizer {personalizer_dir} was trained over the embeddings of model "
                         f"{run.config.get('extractor_fingerprint')}, not of {extractor_run.path} "
                         f"({extractor_run.fingerprint})")
    return run.model


def export_personalizer_run(run, out: Path, name=None, version=None) -> Path:
    """Write a personalizer run as ``out/NAME/VERSION`` (default name fashion_personalizer)."""
    from fashion_tf.export import next_version
    from fashion_tf.export import write_version_atomically as write_version

    name = name or "fashion_personalizer"
    version = int(version or next_version(out / name))
    assets = {"personalizer_config.json": json.dumps({k: v for k, v in run.config.items() if k != "vocabulary"},
                                                      indent=2)}
    return write_version(PersonalizeModule(run.model), out / name, version, assets)
