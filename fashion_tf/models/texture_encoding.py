"""Part attention and the texture encoding layer of the ``part_texture`` zoo model.

Verma, Anand, Arora & Rai, "Diversity in Fashion Recommendation using Semantic
Parsing", section 3: a learned spatial attention picks K parts of the garment, and a
texture encoding layer (Zhang, Xue & Dana, "Deep TEN: Texture Encoding Network",
section 2, the residual encoding layer) describes each part's texture with residuals to
learnable codewords, softly assigned. Each part's encoding becomes one part embedding.
"""
from __future__ import annotations

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class PartAttention(tf.keras.layers.Layer):
    """Spatial attention maps of ``num_parts`` parts: a 1x1 convolution scores every
    position for every part and a softmax over the positions turns the scores into
    weights that sum to one per part (so each part is a weighted average of places).

    Input float [B, H, W, D]; output float32 [B, H*W, num_parts].
    """

    def __init__(self, num_parts: int = 4, **kwargs):
        super().__init__(**kwargs)
        if int(num_parts) < 1:
            raise ValueError(f"PartAttention: num_parts must be >= 1, got {num_parts!r}")
        self.num_parts = int(num_parts)

    def build(self, input_shape):
        depth = int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(depth, self.num_parts),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.num_parts,), initializer="zeros")
        super().build(input_shape)

    def call(self, features):
        shape = tf.shape(features)
        flat = tf.reshape(features, [shape[0], shape[1] * shape[2], features.shape[-1]])
        scores = tf.einsum("bnd,dp->bnp", tf.cast(flat, tf.float32), self.kernel) + self.bias
        return tf.nn.softmax(scores, axis=1)

    def get_config(self):
        return {**super().get_config(), "num_parts": self.num_parts}


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class TextureEncoding(tf.keras.layers.Layer):
    """Deep TEN's residual encoding, one encoding per attention part.

    For descriptors x_i (the N positions of a feature map), codewords c_k and smoothing
    factors s_k (both learned), the soft assignment is
    ``a_ik = softmax_k(-s_k * ||x_i - c_k||^2)`` and codeword k's encoding of part p is
    ``e_pk = sum_i w_ip * a_ik * (x_i - c_k)``, with w the part attention (Deep TEN's
    plain sum over positions is the case of one part with all weights 1).

    Call with ``[descriptors [B, N, D], part_weights [B, N, P]]`` or with descriptors
    alone (one part, weights 1). Output float32 [B, P, num_codes, D].
    """

    def __init__(self, num_codes: int = 8, **kwargs):
        super().__init__(**kwargs)
        if int(num_codes) < 1:
            raise ValueError(f"TextureEncoding: num_codes must be >= 1, got {num_codes!r}")
        self.num_codes = int(num_codes)

    def build(self, input_shape):
        descriptor_shape = input_shape[0] if isinstance(input_shape, list | tuple) and isinstance(
            input_shape[0], list | tuple | tf.TensorShape) else input_shape
        depth = int(descriptor_shape[-1])
        # Deep TEN initialises codewords uniformly in +-1/sqrt(K*D) and the smoothing
        # factors in a unit interval; ours are kept positive by the minus sign above.
        limit = 1.0 / (self.num_codes * depth) ** 0.5
        self.codewords = self.add_weight(
            name="codewords", shape=(self.num_codes, depth),
            initializer=tf.keras.initializers.RandomUniform(-limit, limit))
        self.smoothing = self.add_weight(
            name="smoothing", shape=(self.num_codes,),
            initializer=tf.keras.initializers.RandomUniform(0.0, 1.0))
        super().build(input_shape)

    def call(self, inputs):
        if isinstance(inputs, list | tuple):
            descriptors, weights = inputs
        else:
            descriptors, weights = inputs, None
        x = tf.cast(descriptors, tf.float32)
        if weights is None:
            weights = tf.ones_like(x[..., :1])
        weights = tf.cast(weights, tf.float32)
        # ||x_i - c_k||^2 without materialising the [B, N, K, D] residuals
        distances = (tf.reduce_sum(x * x, axis=-1, keepdims=True)
                     - 2.0 * tf.einsum("bnd,kd->bnk", x, self.codewords)
                     + tf.reduce_sum(self.codewords * self.codewords, axis=-1))
        assignment = tf.nn.softmax(-self.smoothing * distances, axis=-1)  # [B, N, K]
        # sum_i w_ip a_ik (x_i - c_k) = sum_i w_ip a_ik x_i - (sum_i w_ip a_ik) c_k
        weighted_x = tf.einsum("bnp,bnk,bnd->bpkd", weights, assignment, x)
        mass = tf.einsum("bnp,bnk->bpk", weights, assignment)
        return weighted_x - mass[..., None] * self.codewords

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes}
