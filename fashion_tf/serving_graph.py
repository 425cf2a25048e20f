"""The serving graph of an exported model (DESIGN.md section 8).

Encoded images (``DT_STRING``: JPEG/PNG bytes) are decoded and resized *in the graph*
with the very function the training pipeline uses for evaluation
(:func:`fashion_tf.data.decode.load_for_model`), so a served model sees the pixels the
Keras model saw. Signatures:

- ``serving_default``: images -> ``embedding`` (L2-normalised), ``label_probs``,
  ``top_labels``;
- ``similar``: images, k -> ``item_ids``, ``scores``, against the catalog embeddings
  held in the graph, by exact matrix product (runs on stock TF Serving) or by a ScaNN
  searcher (needs the Scann ops: google/tf-serving-scann or fashion_tf.serving.server);
- ``personalize`` when a personalizer is given (``fashion_tf.personalize_graph``).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from fashion_tf.data.decode import load_for_model

TOP_LABELS = 5


class ServingModule(tf.Module):
    """A Keras feature extractor plus the catalog, packaged for TF Serving."""

    def __init__(self, model, vocabulary, image_size, item_ids, embeddings, scann_searcher=None, personalizer=None):
        super().__init__()
        if personalizer is not None:
            from fashion_tf.personalize_graph import PersonalizeModule

            self.personalize = PersonalizeModule(personalizer)
        else:
            self.personalize = None
        self.model = model
        self.image_size = int(image_size)
        self.vocabulary = tf.constant(list(vocabulary))
        self.item_ids = tf.constant([str(i) for i in item_ids])
        self.num_items = len(item_ids)
        self.embeddings = tf.constant(np.asarray(embeddings, dtype=np.float32))
        # A ScaNN searcher is a resource; SavedModel can only track its serialized
        # state, from which the graph rebuilds the searcher when it is loaded.
        self.scann_state = scann_searcher.serialize_to_module() if scann_searcher is not None else None
        self.encoder = tf.keras.Model(model.input, [model.get_layer("embedding").output, model.output])

    def _decode(self, images):
        return tf.map_fn(
            lambda encoded: load_for_model(encoded, self.image_size),
            images,
            fn_output_signature=tf.TensorSpec([self.image_size, self.image_size, 3], tf.float32),
        )

    def _embed(self, images):
        features, probs = self.encoder(self._decode(images), training=False)
        return tf.math.l2_normalize(tf.cast(features, tf.float32), axis=-1), tf.cast(probs, tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve_embedding(self, images):
        embedding, probs = self._embed(images)
        top = tf.math.top_k(probs, k=min(TOP_LABELS, int(self.vocabulary.shape[0])))
        return {
            "embedding": embedding,
            "label_probs": probs,
            "top_labels": tf.gather(self.vocabulary, top.indices),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def serve_similar(self, images, k):
        checks = [
            tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1"),
            tf.debugging.assert_less_equal(k, self.num_items,
                                           message=f"k must be at most {self.num_items}, the catalog size"),
        ]
        embedding, _ = self._embed(images)
        with tf.control_dependencies(checks):
            if self.scann_state is not None:
                from scann.scann_ops.py import scann_ops

                searcher = scann_ops.searcher_from_module(self.scann_state)
                indices, scores = searcher.search_batched(embedding, final_num_neighbors=k)
            else:
                scores, indices = tf.math.top_k(tf.matmul(embedding, self.embeddings, transpose_b=True), k=k)
        return {"item_ids": tf.gather(self.item_ids, indices), "scores": scores}

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve_embedding.get_concrete_function(),
            "similar": self.serve_similar.get_concrete_function(),
            **({"personalize": self.personalize.serve_personalize.get_concrete_function()}
               if self.personalize is not None else {}),
        }


def scann_searcher(embeddings: np.ndarray, manifest: dict | None = None):
    """A ScaNN TF searcher over the catalog with the index's build parameters (tree +
    asymmetric hashing + reorder when the index was built that way, else exact)."""
    from scann.scann_ops.py import scann_ops

    params = (manifest or {}).get("params", {})
    builder = scann_ops.builder(np.asarray(embeddings, np.float32), 10, "dot_product")
    tree = params.get("resolved_mode", params.get("mode")) == "tree"
    if (manifest or {}).get("backend") == "scann" and tree and params.get("num_leaves"):
        builder = (
            builder.tree(num_leaves=params["num_leaves"],
                         num_leaves_to_search=params.get("num_leaves_to_search", params["num_leaves"]),
                         training_sample_size=len(embeddings))
            .score_ah(params.get("dims_per_block", 2),
                      anisotropic_quantization_threshold=params.get("anisotropic_quantization_threshold", 0.2))
            .reorder(params.get("reorder_candidates", 100))
        )
    else:
        builder = builder.score_brute_force()
    return builder.build()
