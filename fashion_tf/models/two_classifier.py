"""The ``two_classifier_knn`` zoo model: a category classifier and a texture classifier
on the same image, their penultimate features concatenated.

Tuinhof, Pirker & Haltmeier, "Image Based Fashion Product Recommendation with Deep
Learning", section 3: two CNNs are trained separately, one on category type and one on
texture (graphic, plaid, plain, spotted, striped); their softmax layers are removed and
the concatenation F = [F_1, F_2] of the remaining networks is the item feature, ranked
by Euclidean k-NN (``Index(distance="l2")`` in ``fashion_tf.retrieval``).

Here both networks live in one Keras model so the zoo's trainer, export and serving
apply: each branch has its own backbone and penultimate layer, and the sigmoid heads of
``TwoBranchHead`` read one branch each: the texture/pattern labels of the vocabulary come
from the texture head and every other label from the category head. The loss of a label therefore reaches only
its own branch, which keeps the two classifiers separate as in the paper while they
train in one run. ``embedding`` is the concatenation of the two penultimate layers.
"""
from __future__ import annotations

import tensorflow as tf

from fashion_tf.models.backbones import build_backbone
from fashion_tf.models.extractor import EMBEDDING_LAYER, INPUT_NAME, OUTPUT_LAYER

# Texture / pattern words of catalog titles (the paper's five classes plus the demo shop's
# and common retail synonyms); the trainer routes the vocabulary labels among these to the
# texture branch.
TEXTURE_WORDS = ("graphic", "plaid", "plain", "spotted", "striped", "stripe", "dotted", "polka-dot",
                 "print", "printed", "floral", "check", "checked", "checkered", "solid", "camouflage",
                 "leopard", "paisley", "tartan", "herringbone", "houndstooth", "pattern", "patterned")
BRANCHES = ("category", "texture")


def texture_label_indices(vocabulary, words=TEXTURE_WORDS) -> list[int]:
    """Positions of the vocabulary labels that name a texture or pattern."""
    words = set(words)
    return [i for i, label in enumerate(vocabulary) if label in words]


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class TwoBranchHead(tf.keras.layers.Layer):
    """The two classifiers' sigmoid heads on the concatenated features [B, 2F] -> [B, L].

    The category head reads the first F values (the category branch's penultimate
    layer), the texture head the last F; label j comes from the texture head when j is
    in ``texture_labels``, else from the category head, so each label's loss reaches
    only its own branch.
    """

    def __init__(self, num_labels: int, texture_labels=(), **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_labels = int(num_labels)
        self.texture_labels = sorted({int(i) for i in texture_labels})
        bad = [i for i in self.texture_labels if not 0 <= i < self.num_labels]
        if bad:
            raise ValueError(f"TwoBranchHead: texture label indices {bad} outside [0, {self.num_labels})")

    def build(self, input_shape):
        width = int(input_shape[-1])
        if width % 2:
            raise ValueError(f"TwoBranchHead: expected two concatenated feature vectors of equal width, "
                             f"got width {width}")
        half = width // 2
        for branch in BRANCHES:
            setattr(self, f"{branch}_kernel", self.add_weight(
                name=f"{branch}_kernel", shape=(half, self.num_labels), initializer="glorot_uniform"))
            setattr(self, f"{branch}_bias", self.add_weight(
                name=f"{branch}_bias", shape=(self.num_labels,), initializer="zeros"))
        mask = [0.0] * self.num_labels
        for i in self.texture_labels:
            mask[i] = 1.0
        self.texture_mask = tf.constant(mask, tf.float32)
        super().build(input_shape)

    def call(self, features):
        features = tf.cast(features, tf.float32)
        category, texture = tf.split(features, 2, axis=-1)
        category_logits = tf.matmul(category, self.category_kernel) + self.category_bias
        texture_logits = tf.matmul(texture, self.texture_kernel) + self.texture_bias
        return tf.sigmoid(self.texture_mask * texture_logits + (1.0 - self.texture_mask) * category_logits)

    def get_config(self):
        return {**super().get_config(), "num_labels": self.num_labels, "texture_labels": self.texture_labels}


def build_two_classifier(
    num_labels: int | None = None,
    image_size: int = 224,
    backbone: str = "resnet50",
    feature_dim: int = 1024,
    dropout: float = 0.3,
    texture_labels=(),
    weights=None,
    name: str | None = None,
) -> tf.keras.Model:
    """Builds the two-classifier network (see module docstring).

    Args:
        num_labels: label vocabulary size.
        image_size: input side in pixels.
        backbone: backbone of both branches (``fashion_tf.models.backbones.BACKBONES``).
        feature_dim: width of each penultimate layer (the paper's d = 1024), so the
            embedding has 2 * feature_dim values.
        dropout: rate on each branch's pooled features.
        texture_labels: vocabulary positions predicted by the texture branch (the
            trainer fills them from ``TEXTURE_WORDS``); empty: the category branch
            predicts every label and the texture branch stays as initialised.
        weights: backbone weights, as for ``build_backbone``.
        name: model name.
    """
    if num_labels is None or int(num_labels) < 1:
        raise ValueError(f"build_two_classifier: num_labels must be a positive int, got {num_labels!r}")
    image = tf.keras.Input((image_size, image_size, 3), name=INPUT_NAME, dtype="float32")
    features = []
    for branch in BRANCHES:
        net = build_backbone(backbone, image_size, weights=weights)
        net._name = f"{branch}_{net.name}"  # two copies of one backbone need distinct names
        x = tf.keras.layers.Dropout(float(dropout), name=f"{branch}_dropout")(net(image))
        features.append(tf.keras.layers.Dense(int(feature_dim), activation="relu", name=f"{branch}_features")(x))
    embedding = tf.keras.layers.Concatenate(name=EMBEDDING_LAYER)(features)
    probs = TwoBranchHead(int(num_labels), texture_labels, name=OUTPUT_LAYER)(embedding)
    return tf.keras.Model(image, probs, name=name or "two_classifier_knn")
