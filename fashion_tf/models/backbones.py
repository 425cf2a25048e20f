"""Backbones of the feature extractor (paper Fig. 2; docs/design.md, "The zoo").

A backbone maps a batch of float32 RGB images in [0, 255], shape [B, H, W, 3], to
globally average-pooled features [B, D]. Each backbone carries its own ImageNet
preprocessing inside the graph, so every caller (training, export, recommend) feeds the
same raw pixels (docs/contracts.md).

ImageNet weights come from ``tf.keras.applications``. ``weights="auto"`` uses them when
Keras can get them (downloaded, or cached in ``~/.keras/models``) and otherwise prints one
line and starts from random weights, so the demo and the tests run offline;
``weights="imagenet"`` insists and raises ``WeightsUnavailableError`` instead. With
``FASHION_TF_OFFLINE=1`` nothing is ever downloaded; only Keras' cached file is used.
Whichever happened is readable afterwards with ``weights_used(model)``, so run records
say what a model really started from (docs/design.md, "Weights").
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

OFFLINE_ENV = "FASHION_TF_OFFLINE"

WEIGHT_CHOICES = ("auto", "imagenet", "none")


class WeightsUnavailableError(RuntimeError):
    """``weights="imagenet"`` was asked for and Keras could not load them."""


# Caffe-style ImageNet statistics (tf.keras.applications.imagenet_utils, mode="caffe"):
# the ResNet and VGG weights expect BGR channel order with these means subtracted.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@tf.keras.utils.register_keras_serializable(package="fashion_tf")
class CaffePreprocessing(tf.keras.layers.Layer):
    """RGB [0, 255] -> BGR minus the ImageNet channel means.

    The graph equivalent of ``tf.keras.applications.resnet50.preprocess_input`` (and
    ``vgg16.preprocess_input``), as a layer so it is saved with the model.
    """

    def call(self, images):
        images = tf.cast(images, self.compute_dtype)
        bgr = images[..., ::-1]
        return bgr - tf.constant(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)

    def get_config(self):
        return super().get_config()


def tiny_cnn(weights=None, include_top=False, input_tensor=None, pooling="avg", widths=(16, 32, 64)):
    """A small CNN with the application call signature: the ``tiny`` zoo entry's backbone
    for tests, CI and the laptop demo (not from the paper; no ImageNet weights exist).

    Three blocks of 3x3 stride-2 conv -> BatchNorm -> ReLU, then global average pooling.
    Input [0, 255] is rescaled to [0, 1] inside.
    """
    del include_top, pooling  # always headless and average-pooled, like the callers ask
    x = tf.keras.layers.Rescaling(1.0 / 255.0, name="tiny_rescale")(input_tensor)
    for i, width in enumerate(widths):
        x = tf.keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name=f"tiny_conv{i + 1}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"tiny_bn{i + 1}")(x)
        x = tf.keras.layers.ReLU(name=f"tiny_relu{i + 1}")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="tiny_gap")(x)
    inputs = tf.keras.utils.get_source_inputs(input_tensor)
    model = tf.keras.Model(inputs, x, name="tiny")
    if weights is not None:
        model.load_weights(weights)
    return model


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone: the Keras application, the preprocessing it needs,
    and the file name of its no-top ImageNet weights in the Keras cache."""

    application: Callable[..., tf.keras.Model]
    caffe_preprocessing: bool  # False: the application rescales its input itself
    imagenet_file: str | None  # None: no ImageNet weights exist for this backbone
    min_image_size: int = 32


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec(
        tf.keras.applications.ResNet50, True, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
    "resnet101": BackboneSpec(
        tf.keras.applications.ResNet101, True, "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
    "vgg16": BackboneSpec(
        tf.keras.applications.VGG16, True, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
    # EfficientNet in tf.keras starts with Rescaling + Normalization layers of its own.
    "efficientnetb0": BackboneSpec(tf.keras.applications.EfficientNetB0, False, "efficientnetb0_notop.h5"),
    "efficientnetb3": BackboneSpec(tf.keras.applications.EfficientNetB3, False, "efficientnetb3_notop.h5"),
    "tiny": BackboneSpec(tiny_cnn, False, None, min_image_size=8),
}


def keras_cache_dir() -> Path:
    """The folder where ``tf.keras.utils.get_file`` keeps application weights.

    tf-keras uses ``~/.keras`` (``/tmp/.keras`` when that is missing or not writable),
    not ``KERAS_HOME``; mirror its rule so we can look before anything is fetched.
    """
    base = Path(os.path.expanduser("~")) / ".keras"
    if not os.access(base, os.W_OK):
        base = Path("/tmp/.keras")
    return base / "models"


def _check_imagenet_available(spec: BackboneSpec) -> None:
    """Offline (``FASHION_TF_OFFLINE=1``), raises OSError unless Keras has the weights
    cached. We still pass "imagenet" to Keras then, not the file: Keras checks the file
    hash and, for EfficientNet, adds the ImageNet std rescaling only for "imagenet"."""
    if spec.imagenet_file is None:
        raise OSError("this backbone has no ImageNet weights")
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        cached = keras_cache_dir() / spec.imagenet_file
        if not cached.is_file():
            raise OSError(f"{OFFLINE_ENV} is set and {cached} does not exist")


def build_backbone(
    name: str, image_size: int, weights: str | os.PathLike | None = None
) -> tf.keras.Model:
    """Builds a pooled-feature backbone with its preprocessing inside the graph.

    Args:
        name: one of ``BACKBONES`` ("resnet50", "resnet101", "vgg16", "efficientnetb0",
            "efficientnetb3", and "tiny", a small CNN for tests and demos).
        image_size: side of the square input in pixels (at least 32; 8 for "tiny").
        weights: "auto" (ImageNet when Keras can get them, else random initialisation
            with a one-line notice), "imagenet" (ImageNet or ``WeightsUnavailableError``),
            None or "none" (random), or the path of a weights file for this backbone (no
            top) as written by Keras.

    Returns:
        A ``tf.keras.Model`` named ``name`` mapping float32 [B, S, S, 3] in [0, 255] to
        float32 [B, D] (D = 2048 for ResNets, 1536 for EfficientNetB3, 512 for VGG16).
    """
    key = str(name).lower()
    if key not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    spec = BACKBONES[key]
    if int(image_size) < spec.min_image_size:
        raise ValueError(
            f"backbone {key!r}: image_size {image_size} is too small; expected >= {spec.min_image_size}"
        )

    source = _weights_source(key, spec, weights)

    def make(weights_source):
        image = tf.keras.Input((image_size, image_size, 3), name="image", dtype="float32")
        x = CaffePreprocessing(name="caffe_preprocessing")(image) if spec.caffe_preprocessing else image
        # input_tensor keeps the preprocessing and the application in one flat graph.
        return spec.application(
            weights=weights_source, include_top=False, input_tensor=x, pooling="avg"
        )

    if source == "imagenet":
        try:
            model = make(source)
        except Exception as error:  # noqa: BLE001 - URL/OS/HTTP errors vary by platform
            _unavailable(key, error, strict=str(weights).lower() == "imagenet")
            source = None
            model = make(None)
    else:
        model = make(source)
    model._name = key  # applications name themselves "resnet50", "efficientnetb3", ...
    if source is None:
        _speed_up_batchnorm_statistics(model)
    # Read by the trainer (weights_used) to record the truth and pick the learning rate.
    model.fashion_tf_weights = "none" if source is None else str(source)
    return model


def _weights_source(key: str, spec: BackboneSpec, weights) -> str | None:
    """What to hand Keras: "imagenet", a file path, or None (random initialisation)."""
    if weights is None or str(weights).lower() == "none":
        return None
    choice = str(weights).lower()
    if choice in ("imagenet", "auto"):
        try:
            _check_imagenet_available(spec)
        except OSError as error:
            _unavailable(key, error, strict=choice == "imagenet")
            return None
        return "imagenet"
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"backbone {key!r}: weights file {path} not found; expected one of {WEIGHT_CHOICES} "
            "or the path of a Keras weights file"
        )
    return str(path)


def weights_used(model: tf.keras.Model) -> str:
    """What the backbone inside ``model`` started from: "imagenet", a weights-file path,
    or "none" (random initialisation); "none" for models without such a backbone."""
    for layer in [model, *model.submodules]:
        used = getattr(layer, "fashion_tf_weights", None)
        if used is not None:
            return used
    return "none"


def is_pretrained(model: tf.keras.Model) -> bool:
    """Whether the backbone inside ``model`` started from ImageNet or file weights."""
    return weights_used(model) != "none"


# Keras applications use BatchNormalization momentum 0.99, tuned for ImageNet-length
# training. From scratch on a small catalog (a few hundred steps) the moving statistics
# then still sit near their initial values when training ends, so inference-mode
# features collapse to nearly the same vector for every image (measured on V5 at 64 px
# after 3 epochs: feature spread 0.006 in inference vs 0.40 in training mode).
SCRATCH_BATCHNORM_MOMENTUM = 0.9


def _speed_up_batchnorm_statistics(model: tf.keras.Model) -> None:
    for layer in model.submodules:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = SCRATCH_BATCHNORM_MOMENTUM


def _unavailable(name: str, error: BaseException, strict: bool) -> None:
    """``weights="imagenet"``: raise one line; ``"auto"``: print one line, go on from scratch."""
    reason = " ".join(str(error).split())[:200] or type(error).__name__
    if strict:
        raise WeightsUnavailableError(
            f"ImageNet weights for {name} unavailable ({reason}); pass --weights auto to train "
            "from scratch instead, or put the file in the Keras cache"
        )
    print(f"fashion_tf: ImageNet weights for {name} unavailable ({reason}); training from scratch")
