"""ResNet18 and the complete-the-look style model (zoo ``ctl_triplet``; README, "Complete the look").

Almanassra et al., "Image style embedding based Fashion Recommendation System",
section 2.2.3: "ResNet18 with two additional FC-layers on top with a batch
normalization layer in between and a dropout layer, which outputs a set of
128-dimensional style embeddings". ``tf.keras.applications`` has no ResNet18, so it is
built here after He et al., "Deep Residual Learning for Image Recognition", Table 1:
7x7/2 conv, 3x3/2 max pool, four stages of two basic blocks (two 3x3 convs, identity
shortcut, or 1x1/2 conv + BN where the shape changes), global average pooling. At the
standard widths (64, 128, 256, 512) its convolutions and BatchNorms hold 11,176,512
trainable parameters, torchvision's ``resnet18`` without its classifier. ``widths``
narrows it for CPU runs.

Heads: pooled features -> Dense -> BatchNorm -> ReLU -> Dropout -> Dense 128
("embedding") -> L2 normalisation ("style_embedding"); a softmax over the outfit
categories ("category_probs") on the pooled features predicts the query's category
for "complete the look" (which rows to show); the source does not need one because it
knows the category of its catalog queries.
"""
from __future__ import annotations

import os

import tensorflow as tf

from fashion_tf.models.backbones import WeightsUnavailableError
from fashion_tf.models.extractor import EMBEDDING_LAYER, INPUT_NAME, L2Normalize

STYLE_OUTPUT = "style_embedding"
CATEGORY_OUTPUT = "category_probs"
RESNET18_WIDTHS = (64, 128, 256, 512)


def _conv_bn(x, filters, kernel, stride, name, relu=True):
    x = tf.keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                               kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
    return tf.keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def basic_block(x, filters: int, stride: int, name: str):
    """Two 3x3 conv-BN layers plus the shortcut (He et al., Fig. 2 left)."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}_down", relu=False)
    y = _conv_bn(x, filters, 3, stride, f"{name}_1")
    y = _conv_bn(y, filters, 3, 1, f"{name}_2", relu=False)
    y = tf.keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return tf.keras.layers.ReLU(name=f"{name}_out")(y)


def resnet18_features(image, widths=RESNET18_WIDTHS):
    """[B, S, S, 3] in [0, 255] -> pooled features [B, widths[-1]]."""
    if len(widths) != 4:
        raise ValueError(f"resnet18: widths must list 4 stage widths, got {widths!r}")
    x = tf.keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="resnet18_rescale")(image)
    x = _conv_bn(x, int(widths[0]), 7, 2, "resnet18_stem")
    x = tf.keras.layers.MaxPooling2D(3, strides=2, padding="same", name="resnet18_pool")(x)
    for stage, width in enumerate(widths):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            x = basic_block(x, int(width), stride, f"resnet18_stage{stage + 1}_block{block + 1}")
    return tf.keras.layers.GlobalAveragePooling2D(name="resnet18_gap")(x)


def build_resnet18(image_size: int = 224, widths=RESNET18_WIDTHS, name: str = "resnet18") -> tf.keras.Model:
    """The headless, average-pooled ResNet18 as a model (for tests and reuse)."""
    image = tf.keras.Input((image_size, image_size, 3), name=INPUT_NAME, dtype="float32")
    return tf.keras.Model(image, resnet18_features(image, widths), name=name)


def build_style_model(
    num_labels: int | None = None,
    image_size: int = 224,
    widths=RESNET18_WIDTHS,
    hidden_dim: int = 256,
    embedding_dim: int = 128,
    dropout: float = 0.3,
    weights: str | os.PathLike | None = None,
    name: str = "ctl_triplet",
) -> tf.keras.Model:
    """The ``ctl_triplet`` model.

    Args:
        num_labels: number of outfit categories of the category head (required).
        image_size: side of the square input.
        widths: the four ResNet18 stage widths (paper: 64, 128, 256, 512).
        hidden_dim: width of the first FC layer.
        embedding_dim: style embedding size (paper: 128).
        dropout: rate after the first FC layer's BatchNorm and ReLU.
        weights: None/"none"/"auto" (from scratch: Keras has no ImageNet ResNet18),
            or a weights-file path; "imagenet" raises ``WeightsUnavailableError``.

    Returns:
        image [B, S, S, 3] float32 0-255 -> {"style_embedding": [B, 128] unit norm,
        "category_probs": [B, num_labels]}.
    """
    if num_labels is None or int(num_labels) < 1:
        raise ValueError(f"ctl_triplet: num_labels (the number of outfit categories) must be >= 1, got {num_labels!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"ctl_triplet: dropout must be in [0, 1), got {dropout!r}")
    image = tf.keras.Input((image_size, image_size, 3), name=INPUT_NAME, dtype="float32")
    pooled = resnet18_features(image, tuple(widths))
    x = tf.keras.layers.Dense(int(hidden_dim), use_bias=False, name="style_fc1")(pooled)
    # the source found this BatchNorm essential: without it the embeddings collapse
    x = tf.keras.layers.BatchNormalization(name="style_bn")(x)
    x = tf.keras.layers.ReLU(name="style_relu")(x)
    x = tf.keras.layers.Dropout(float(dropout), name="style_dropout")(x)
    x = tf.keras.layers.Dense(int(embedding_dim), name=EMBEDDING_LAYER)(x)
    style = L2Normalize(name=STYLE_OUTPUT)(x)
    category = tf.keras.layers.Dense(int(num_labels), activation="softmax", dtype="float32",
                                     name=CATEGORY_OUTPUT)(pooled)
    model = tf.keras.Model(image, {STYLE_OUTPUT: style, CATEGORY_OUTPUT: category}, name=name)
    if weights == "imagenet":
        raise WeightsUnavailableError("ctl_triplet: Keras has no ImageNet weights for ResNet18; "
                                      "use --weights none (or auto) to train from scratch")
    if weights not in (None, "none", "auto"):
        model.load_weights(str(weights))
    return model
