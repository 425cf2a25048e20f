"""The serving graph of an exported model (docs/design.md, "Serving").

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

The ScaNN searcher in the graph is the index that was built and measured, not a new
one: ``scann_state_from_index`` turns the files a ``ScannIndex`` saved (tree,
asymmetric-hashing codebook, codes, float vectors for reordering) into the tensors of
ScaNN's TensorFlow ops, and the graph searches with the index's tuned
``num_leaves_to_search`` and reorder budget, so served results and recall are the
index's (Guo et al., "Accelerating Large-Scale Inference with Anisotropic Vector
Quantization", section 4: the tree, AH scoring and reordering stages).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from fashion_tf.data.decode import load_for_model

TOP_LABELS = 5
# ScaNN's TF searcher state, in the order of scann_ops.ScannState: (asset type in
# scann_assets.pbtxt, dtype, numpy file?). Absent parts are empty scalars, as
# scann_ops.scann_to_tensors returns them.
_SCANN_STATE = (
    (None, tf.string, False),  # scann_config.pb, always present
    ("PARTITIONER", tf.string, False),
    ("TOKENIZATION_NPY", tf.int32, True),
    ("AH_CENTERS", tf.string, False),
    ("AH_DATASET_NPY", tf.uint8, True),
    ("INT8_DATASET_NPY", tf.int8, True),
    ("INT8_MULTIPLIERS_NPY", tf.float32, True),
    ("INT8_NORMS_NPY", tf.float32, True),
    ("DATASET_NPY", tf.float32, True),
)


class ServingModule(tf.Module):
    """A Keras feature extractor plus the catalog, packaged for TF Serving.

    ``scann_state``: a ``scann_ops.ScannState`` (``scann_state_from_index`` or
    ``brute_force_scann_state``); ``scann_search``: the index's search-time settings
    (``num_leaves_to_search``, ``reorder_candidates``) for a tree index, else None.
    """

    def __init__(self, model, vocabulary, image_size, item_ids, embeddings, scann_state=None,
                 scann_search: dict | None = None, embed=None, personalizer=None):
        super().__init__()
        if personalizer is not None:
            from fashion_tf.personalize_graph import PersonalizeModule

            self.personalize = PersonalizeModule(personalizer)
        else:
            self.personalize = None
        self.image_size = int(image_size)
        self.vocabulary = tf.constant(list(vocabulary))
        self.item_ids = tf.constant([str(i) for i in item_ids])
        self.num_items = len(item_ids)
        # A ScaNN searcher is a resource; SavedModel can only track its state, from
        # which the graph rebuilds the searcher when it is loaded. The ScaNN variant
        # searches that state only, so it does not carry a second copy of the vectors.
        self.scann_state = scann_state
        self.scann_search = dict(scann_search or {})
        if scann_state is None:
            self.embeddings = tf.constant(np.asarray(embeddings, dtype=np.float32))
        # Only the model's variables are tracked, not the Keras model: tracking it would
        # make SavedModel trace and save every Keras layer's call functions too, which
        # doubled the time to export EfficientNetB3 and to load the export.
        self.embed = embed or embedding_function(model, self.image_size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve_embedding(self, images):
        embedding, probs = self.embed(images)
        top = tf.math.top_k(probs, k=min(TOP_LABELS, int(self.vocabulary.shape[0])))
        return {
            "embedding": embedding,
            "label_probs": probs,
            "top_labels": tf.gather(self.vocabulary, top.indices),
        }

    def _scann_search(self, embedding, k):
        from scann.scann_ops.py import scann_ops

        searcher = scann_ops.searcher_from_module(self.scann_state)
        if not self.scann_search:
            return searcher.search_batched(embedding, final_num_neighbors=k)
        # ScannIndex._search: the reorder shortlist grows with k beyond 10.
        reorder = float(self.scann_search["reorder_candidates"])
        pre = tf.maximum(k, tf.cast(tf.round(reorder * tf.maximum(1.0, tf.cast(k, tf.float32) / 10.0)), tf.int32))
        indices, scores = searcher.search_batched(embedding, final_num_neighbors=k, pre_reorder_num_neighbors=pre,
                                                  leaves_to_search=int(self.scann_search["num_leaves_to_search"]))
        # Fewer than k items in the searched leaves: search them all, as the index does.
        short = tf.reduce_any(tf.math.is_nan(scores), axis=1)

        def search_all_leaves():
            every_indices, every_scores = searcher.search_batched(
                embedding, final_num_neighbors=k, pre_reorder_num_neighbors=tf.maximum(pre, self.num_items),
                leaves_to_search=int(self.scann_search["num_leaves"]))
            return (tf.where(short[:, None], every_indices, indices),
                    tf.where(short[:, None], every_scores, scores))

        return tf.cond(tf.reduce_any(short), search_all_leaves, lambda: (indices, scores))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def serve_similar(self, images, k):
        checks = [
            tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1"),
            tf.debugging.assert_less_equal(k, self.num_items,
                                           message=f"k must be at most {self.num_items}, the catalog size"),
        ]
        embedding, _ = self.embed(images)
        with tf.control_dependencies(checks):
            if self.scann_state is not None:
                indices, scores = self._scann_search(embedding, k)
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


class _Embed(tf.Module):
    """encoded images -> (L2-normalised embedding, label probabilities), one tf.function
    that both signatures call, so the model's graph is traced and stored once."""

    def __init__(self, model, image_size: int):
        super().__init__()
        encoder = tf.keras.Model(model.input, [model.get_layer("embedding").output, model.output])
        self.image_size = int(image_size)
        self._call_encoder = encoder.__call__  # a bound method: the Keras model stays untracked
        self.model_variables = list(encoder.variables)

    def _decode(self, images):
        return tf.map_fn(
            lambda encoded: load_for_model(encoded, self.image_size),
            images,
            fn_output_signature=tf.TensorSpec([self.image_size, self.image_size, 3], tf.float32),
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def __call__(self, images):
        features, probs = self._call_encoder(self._decode(images), training=False)
        return tf.math.l2_normalize(tf.cast(features, tf.float32), axis=-1), tf.cast(probs, tf.float32)


def embedding_function(model, image_size: int) -> _Embed:
    """The shared embed function of ``ServingModule`` (pass one to several modules, e.g.
    the exact and the ScaNN variant of one export, to trace the model once)."""
    return _Embed(model, image_size)


def brute_force_scann_state(embeddings: np.ndarray):
    """ScaNN's exact scoring over the catalog (the ScaNN variant of an exact index)."""
    from scann.scann_ops.py import scann_ops

    searcher = scann_ops.builder(np.asarray(embeddings, np.float32), 10, "dot_product").score_brute_force().build()
    return searcher.serialize_to_module()


def scann_state_from_index(index_dir: str | Path):
    """The TF searcher state of the ScaNN index saved in ``index_dir`` (its ``scann/``
    folder, written by ``ScannSearcher.serialize``), without rebuilding or retraining it."""
    from scann.scann_ops.py import scann_ops

    folder = Path(index_dir) / "scann"
    assets_file = folder / "scann_assets.pbtxt"
    if not assets_file.is_file():
        raise FileNotFoundError(f"{assets_file}: not found; expected a ScaNN index directory "
                                "(tools/build_index.py --backend scann)")
    text = assets_file.read_text()
    assets = dict(re.findall(r'asset_type:\s*(\w+)\s+asset_path:\s*"([^"]+)"', text))
    tensors = []
    for asset_type, dtype, is_numpy in _SCANN_STATE:
        path = folder / ("scann_config.pb" if asset_type is None else assets.get(asset_type, ""))
        if not path.is_file():
            tensors.append(tf.zeros([], dtype) if dtype != tf.string else tf.constant("", tf.string))
        elif is_numpy:
            tensors.append(tf.constant(np.load(path).astype(dtype.as_numpy_dtype)))
        else:
            tensors.append(tf.constant([path.read_bytes()], tf.string))
    return scann_ops.ScannState(tensors)
