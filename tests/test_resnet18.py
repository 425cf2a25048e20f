"""ResNet18 built here, and the ctl_triplet style model: shapes, sizes, save/load."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401
from fashion_tf import zoo
from fashion_tf.losses_triplet import TripletLoss
from fashion_tf.models.resnet18 import build_resnet18


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_resnet18_has_torchvisions_parameter_count_and_shape():
    model = build_resnet18(image_size=64)
    # torchvision resnet18: 11,689,512 parameters, of which its 512 x 1000 + 1000 classifier
    # is not part of the headless backbone
    assert _trainable(model) == 11_689_512 - 513_000
    assert model.output_shape == (None, 512)
    convs = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert len(convs) == 1 + 16 + 3  # stem, 8 blocks x 2, 3 projection shortcuts
    out = model(np.zeros((2, 64, 64, 3), np.float32))
    assert out.shape == (2, 512)


def test_ctl_triplet_outputs_unit_embeddings_and_round_trips(tmp_path):
    model = zoo.create_model("ctl_triplet", num_labels=6, image_size=32, widths=[8, 8, 16, 16])
    assert zoo.get_entry("ctl_triplet").kind == "style_embedding"
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    out = model(images, training=False)
    assert out["style_embedding"].shape == (3, 128) and out["category_probs"].shape == (3, 6)
    np.testing.assert_allclose(np.linalg.norm(out["style_embedding"], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["category_probs"].numpy().sum(axis=1), 1.0, atol=1e-5)
    model.compile("adam", loss={"style_embedding": TripletLoss(mining="semi_hard"),
                                "category_probs": "sparse_categorical_crossentropy"})
    model.save(tmp_path / "ctl.keras")
    loaded = tf.keras.models.load_model(tmp_path / "ctl.keras")  # no custom_objects
    again = loaded(images, training=False)
    np.testing.assert_allclose(again["style_embedding"], out["style_embedding"], atol=1e-6)
    assert isinstance(loaded.loss["style_embedding"], TripletLoss)
    assert loaded.loss["style_embedding"].mining == "semi_hard"
