"""Zoo model building blocks: backbones, shallow branch, feature extractor, and later the
personalizer, compatibility (triplet) and part/texture models.

Importing this package registers every custom layer with Keras (``fashion_tf`` imports
it), so ``tf.keras.models.load_model(path)`` needs no ``custom_objects``.
"""
from fashion_tf.models.backbones import BACKBONES, CaffePreprocessing, build_backbone
from fashion_tf.models.extractor import (
    L2Normalize,
    build_feature_extractor,
    embedding_model,
)
from fashion_tf.models.part_texture import build_part_texture
from fashion_tf.models.resnet18 import build_resnet18, build_style_model
from fashion_tf.models.shallow import shallow_branch
from fashion_tf.models.texture_encoding import PartAttention, TextureEncoding
from fashion_tf.models.two_classifier import TwoBranchHead, build_two_classifier

__all__ = [
    "BACKBONES",
    "CaffePreprocessing",
    "L2Normalize",
    "PartAttention",
    "TextureEncoding",
    "TwoBranchHead",
    "build_backbone",
    "build_feature_extractor",
    "build_part_texture",
    "build_resnet18",
    "build_style_model",
    "build_two_classifier",
    "embedding_model",
    "shallow_branch",
]
