"""The multi-label feature extractor (paper Fig. 2, section III; docs/design.md, "The zoo").

image [0, 255] -> backbone (own preprocessing, global average pooling)
              \\-> shallow branch (optional, same image)
-> concatenate -> dropout -> Dense "embedding" (ReLU) -> Dense "label_probs" (sigmoid)

The paper extracts its recommendation features "from the layer before the last
(classification) layer": that is the ReLU output of the "embedding" layer. Similar
items are ranked by cosine similarity, so ``embedding_model`` L2-normalises it.
"""
from __future__ import annotations

import os

import tensorflow as tf

from fashion_tf.models import shallow as shallow_lib
from fashion_tf.models.backbones import build_backbone

EMBEDDING_LAYER = "embedding"
OUTPUT_LAYER = "label_probs"
INPUT_NAME = "image"


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class L2Normalize(tf.keras.layers.Layer):
    """Scales each vector along ``axis`` to unit L2 norm (an all-zero vector stays 0).

    Computes in float32 even under mixed precision so cosine scores are exact enough
    for ranking and stable across export.
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        return tf.math.l2_normalize(tf.cast(inputs, tf.float32), axis=self.axis, epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def build_feature_extractor(
    backbone: str = "efficientnetb3",
    num_labels: int | None = None,
    image_size: int = 300,
    shallow_branch: bool = False,
    embedding_dim: int = 512,
    dropout: float = 0.3,
    weights: str | os.PathLike | None = None,
    name: str | None = None,
    shallow_filters: tuple[int, ...] = (32, 64),
) -> tf.keras.Model:
    """Builds the paper's multi-label classifier whose penultimate layer is the embedding.

    Args:
        backbone: a name from ``fashion_tf.models.backbones.BACKBONES``.
        num_labels: size of the label vocabulary (paper: 1102).
        image_size: side of the square input in pixels.
        shallow_branch: add the VisNet-style shallow branch in parallel (V2, V3, V5).
        embedding_dim: width of the "embedding" layer.
        dropout: rate applied to the concatenated pooled features.
        weights: backbone weights: "imagenet", None/"none", or a weights-file path
            (see ``build_backbone``).
        name: model name (default "<backbone>[_shallow]").
        shallow_filters: conv widths of the shallow branch.

    Returns:
        A functional ``tf.keras.Model``: input "image" float32 [B, S, S, 3] in [0, 255]
        -> "label_probs" float32 [B, num_labels] (float32 also under mixed precision).
    """
    if num_labels is None or int(num_labels) < 1:
        raise ValueError(f"build_feature_extractor: num_labels must be a positive int, got {num_labels!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"build_feature_extractor: dropout must be in [0, 1), got {dropout!r}")
    image = tf.keras.Input((image_size, image_size, 3), name=INPUT_NAME, dtype="float32")
    features = build_backbone(backbone, image_size, weights=weights)(image)
    if shallow_branch:
        shallow = shallow_lib.shallow_branch(image, filters=tuple(shallow_filters))
        features = tf.keras.layers.Concatenate(name="concat_features")([features, shallow])
    x = tf.keras.layers.Dropout(float(dropout), name="feature_dropout")(features)
    x = tf.keras.layers.Dense(int(embedding_dim), activation="relu", name=EMBEDDING_LAYER)(x)
    probs = tf.keras.layers.Dense(int(num_labels), activation="sigmoid", dtype="float32", name=OUTPUT_LAYER)(x)
    default_name = f"{backbone}_shallow" if shallow_branch else str(backbone)
    return tf.keras.Model(image, probs, name=name or default_name)


def embedding_model(model: tf.keras.Model) -> tf.keras.Model:
    """image -> L2-normalised "embedding" features [B, embedding_dim] float32.

    Shares weights with ``model`` (a built or loaded feature extractor); used for
    recommendations (cosine similarity) and exported next to the label head.
    """
    try:
        features = model.get_layer(EMBEDDING_LAYER).output
    except ValueError as error:
        raise ValueError(
            f"model {model.name!r} has no layer named {EMBEDDING_LAYER!r}; expected a model built by "
            "fashion_tf.models.build_feature_extractor"
        ) from error
    normalized = L2Normalize(name="embedding_l2")(features)
    return tf.keras.Model(model.inputs, normalized, name=f"{model.name}_embedding")
