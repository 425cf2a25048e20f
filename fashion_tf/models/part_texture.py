"""The ``part_texture`` zoo model: part attention + texture encoding, one embedding per part.

Verma, Anand, Arora & Rai, "Diversity in Fashion Recommendation using Semantic
Parsing", section 3: a CNN feature map, a learned spatial attention over K garment parts
and a texture encoding layer (Deep TEN) give one embedding per part; recommendations
then combine the parts so the list is diverse (``fashion_tf.retrieval.diverse``).

image [0, 255] -> conv stem (feature map) -> 1x1 conv (descriptor width)
  -> PartAttention [B, N, K] (softmax over positions)
  -> TextureEncoding [B, K, codes, D] -> L2 per part (Deep TEN's normalisation)
  -> shared Dense per part [B, K, part_dim] "part_embeddings"
  -> Flatten "embedding" [B, K * part_dim] -> Dense "label_probs" (sigmoid)

The model presents the zoo's standard ``embedding`` layer and ``label_probs`` head, so
the classifier trainer trains it (multi-label loss as for V1-V5, instead of the source's
in-shop pair training) and evaluation, export and serving work unchanged; the part
embeddings are the ``embedding`` vector cut into K equal slices (``split_parts``).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from fashion_tf.models.extractor import (
    EMBEDDING_LAYER,
    INPUT_NAME,
    OUTPUT_LAYER,
    L2Normalize,
)
from fashion_tf.models.texture_encoding import PartAttention, TextureEncoding

PART_EMBEDDINGS_LAYER = "part_embeddings"
ATTENTION_LAYER = "part_attention"


def build_part_texture(
    num_labels: int | None = None,
    image_size: int = 224,
    stem_widths: tuple[int, ...] = (32, 64, 128),
    descriptor_dim: int = 64,
    num_parts: int = 4,
    num_codes: int = 8,
    part_dim: int = 64,
    dropout: float = 0.2,
    weights=None,
    name: str | None = None,
) -> tf.keras.Model:
    """Builds the part/texture network (see module docstring).

    Args:
        num_labels: label vocabulary size of the training head.
        image_size: input side in pixels (>= 8).
        stem_widths: conv widths of the stride-2 stem (one block each).
        descriptor_dim: width of the local descriptors fed to the texture encoding.
        num_parts: K, parts attended to (the source uses garment parts such as sleeves,
            collar, body).
        num_codes: codewords of the texture encoding.
        part_dim: width of each part embedding.
        dropout: rate before the label head.
        weights: only None/"none"/"auto" (the stem has no pretrained weights).
        name: model name.

    Returns:
        ``tf.keras.Model`` "image" [B, S, S, 3] -> "label_probs" [B, num_labels].
    """
    if num_labels is None or int(num_labels) < 1:
        raise ValueError(f"build_part_texture: num_labels must be a positive int, got {num_labels!r}")
    if weights not in (None, "none", "auto"):
        raise ValueError(f"build_part_texture: weights {weights!r}: the part/texture stem trains from "
                         "scratch; expected None, 'none' or 'auto'")
    if not stem_widths:
        raise ValueError("build_part_texture: stem_widths must name at least one conv block")
    image = tf.keras.Input((image_size, image_size, 3), name=INPUT_NAME, dtype="float32")
    x = tf.keras.layers.Rescaling(1.0 / 255.0, name="stem_rescale")(image)
    for i, width in enumerate(stem_widths):
        x = tf.keras.layers.Conv2D(int(width), 3, strides=2, padding="same", use_bias=False,
                                   name=f"stem_conv{i + 1}")(x)
        # momentum 0.9: short from-scratch schedules (see backbones.SCRATCH_BATCHNORM_MOMENTUM)
        x = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"stem_bn{i + 1}")(x)
        x = tf.keras.layers.ReLU(name=f"stem_relu{i + 1}")(x)
    x = tf.keras.layers.Conv2D(int(descriptor_dim), 1, name="descriptors_conv")(x)
    attention = PartAttention(num_parts, name=ATTENTION_LAYER)(x)
    descriptors = tf.keras.layers.Reshape((-1, int(descriptor_dim)), name="descriptors")(x)
    encoded = TextureEncoding(num_codes, name="texture_encoding")([descriptors, attention])
    encoded = tf.keras.layers.Reshape((int(num_parts), int(num_codes) * int(descriptor_dim)),
                                      name="part_encodings")(encoded)
    encoded = L2Normalize(name="part_encodings_l2")(encoded)
    parts = tf.keras.layers.Dense(int(part_dim), activation="relu", name=PART_EMBEDDINGS_LAYER)(encoded)
    embedding = tf.keras.layers.Flatten(name=EMBEDDING_LAYER)(parts)
    x = tf.keras.layers.Dropout(float(dropout), name="embedding_dropout")(embedding)
    probs = tf.keras.layers.Dense(int(num_labels), activation="sigmoid", dtype="float32", name=OUTPUT_LAYER)(x)
    return tf.keras.Model(image, probs, name=name or "part_texture")


def num_parts_of(model: tf.keras.Model) -> int:
    """K of a part/texture model (1 for any other model: its embedding is one part)."""
    try:
        return int(model.get_layer(ATTENTION_LAYER).num_parts)
    except ValueError:
        return 1


def split_parts(vectors: np.ndarray, num_parts: int) -> np.ndarray:
    """[N, K * E] embeddings -> [N, K, E] part embeddings, each L2-normalised."""
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or vectors.shape[1] % int(num_parts):
        raise ValueError(f"embeddings of shape {vectors.shape} cannot be cut into {num_parts} equal parts")
    parts = vectors.reshape(len(vectors), int(num_parts), -1)
    return parts / np.maximum(np.linalg.norm(parts, axis=-1, keepdims=True), 1e-12)
