"""The shallow branch of the feature extractor (paper Fig. 2; docs/design.md, "The zoo").

VisNet (Shankar et al. 2017), which paper [7] follows and the paper adopts, runs a few
wide-stride convolutions on the raw image in parallel with the deep network: the deep
network's features are abstract, the shallow ones keep colour and texture, which the
paper's Table I shows as higher texture/colour scores for V2 and V5.

The branch is built from stock Keras layers inside the caller's functional graph, so it
saves and loads with the model and needs no custom object.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def shallow_branch(
    images: tf.Tensor,
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 8,
    strides: int = 4,
    pool_size: int = 3,
    pool_strides: int = 2,
    name: str = "shallow",
) -> tf.Tensor:
    """Adds the shallow branch to a functional graph.

    Per block: Conv(k, stride s, "same") -> BatchNorm -> ReLU, with a max pool between
    blocks (VisNet's "conv 8x8 stride 4, max pool" pattern); the last block is globally
    average-pooled. At 224 px: 224 -> 56 -> 28 -> 7 -> GAP; at 32 px: 32 -> 8 -> 4 -> 1.

    Args:
        images: float32 [B, H, W, 3] in [0, 255].
        filters: output channels of each conv block (len = number of blocks).
        kernel_size, strides: of every conv.
        pool_size, pool_strides: of the max pool between conv blocks.
        name: prefix of the layer names.

    Returns:
        [B, filters[-1]] pooled shallow features.
    """
    if not filters:
        raise ValueError("shallow_branch: filters must name at least one conv block")
    x = tf.keras.layers.Rescaling(1.0 / 255.0, name=f"{name}_rescale")(images)
    for i, width in enumerate(filters):
        if i > 0:
            x = tf.keras.layers.MaxPooling2D(
                pool_size, strides=pool_strides, padding="same", name=f"{name}_pool{i}"
            )(x)
        x = tf.keras.layers.Conv2D(
            int(width), kernel_size, strides=strides, padding="same", use_bias=False,
            name=f"{name}_conv{i + 1}",
        )(x)
        x = tf.keras.layers.BatchNormalization(name=f"{name}_bn{i + 1}")(x)
        x = tf.keras.layers.ReLU(name=f"{name}_relu{i + 1}")(x)
    return tf.keras.layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
