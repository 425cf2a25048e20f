"""fashion_tf: a Keras/TensorFlow model zoo for image-based fashion recommendation.

Implements Mohammadi, Bodaghi & Kalhor, "Single-Item Fashion Recommender: Towards
Cross-Domain Recommendations" (feature extractors V1-V5, weighted multi-label loss,
background augmentation, personalizer, objective-guided human score) and the further
zoo entries described in docs/design.md.

TensorFlow Recommenders needs Keras 2, so ``tf.keras`` must be tf-keras, not Keras 3.
``TF_USE_LEGACY_KERAS=1`` has to be in the environment *before* TensorFlow is first
imported; we set it here and verify that it took effect.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _no_gpu_driver() -> bool:
    """No NVIDIA driver on this machine (no /proc/driver/nvidia, no /dev/nvidia0...)."""
    import glob

    return not (os.path.exists("/proc/driver/nvidia") or glob.glob("/dev/nvidia[0-9]*"))


# TensorFlow's C++ log: warnings off (2) everywhere; without a GPU driver errors too (3),
# because TensorFlow then logs "failed call to cuInit" as an error on every start. With
# a driver, level 2 keeps real CUDA errors visible. A value the user set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if _no_gpu_driver() else "2")

import tensorflow as tf

__version__ = "0.1.0"


def _check_keras_version() -> None:
    # With the legacy switch honoured, tf.keras is the tf_keras package (Keras 2).
    module = tf.keras.layers.Dense.__module__
    if not module.startswith("tf_keras"):
        raise ImportError(
            f"fashion_tf needs Keras 2 (tf-keras) as tf.keras, but tf.keras is {module.split('.')[0]} "
            "(Keras 3). "
            "TensorFlow was imported before fashion_tf with TF_USE_LEGACY_KERAS unset: "
            "`export TF_USE_LEGACY_KERAS=1` or import fashion_tf first, and "
            "`pip install tf-keras==2.20.*`."
        )


_check_keras_version()

from fashion_tf import keras_loading

keras_loading.install()

# Importing these registers every custom layer, loss and metric with Keras, so that
# tf.keras.models.load_model(path) works with no custom_objects.
from fashion_tf import losses, losses_triplet, metrics, models  # noqa: F401
