"""The zoo registry and every registered model (timm's test_models.py pattern): build at
32 px, forward, one training step with the paper's loss and metrics, config round trip,
.keras save/load without custom_objects, unit-norm embeddings."""
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from zoo_test_case import (
    run_embedding_test,
    run_model_saving_test,
    run_serialization_test,
    run_training_step,
    tiny_batch,
)

import fashion_tf  # noqa: F401  (registers custom objects; conftest imports it before TensorFlow)
from fashion_tf import zoo
from fashion_tf.models import backbones, build_backbone, build_feature_extractor

TINY_SIZE = 32
NUM_LABELS = 5


# Keras reads the weights HDF5 out of the .keras zip with many backward seeks, so a save/load
# round trip of a ResNet or EfficientNetB3 costs 10-40 s on 2 cores. It runs for one model of
# each architecture family and custom-object set (CaffePreprocessing: vgg16; shallow branch and
# L2Normalize: tiny; ResNet: v1; EfficientNet with the shallow branch: v5; the two-backbone and
# part/texture models); the others share those classes and layers and are built, trained and
# config-round-tripped without the save. v3 is v2's architecture with heavier augmentation:
# its entry is checked to build exactly v2's model instead of building it again.
_SAVE_REPRESENTATIVES = {"tiny", "vgg16", "part_texture", "v1", "v5", "two_classifier_knn"}
_CHEAP = {"tiny", "vgg16", "part_texture"}
# Image models with the classifier's embedding + label_probs layers (trained by its trainer).
_IMAGE_MODELS = [
    name if name in _CHEAP else pytest.param(name, marks=pytest.mark.slow)
    for name in zoo.list_models(kind="classifier") + zoo.list_models(kind="part_texture")
    if name != "v3"
]


@pytest.mark.parametrize("name", _IMAGE_MODELS)
def test_every_classifier_builds_trains_round_trips_and_reloads(name, tmp_path):
    """One model per case, built once: its checks, a training step (moved BatchNorm statistics
    must survive the save too), the config round trip and, for the representatives, the
    .keras save/load."""
    model = zoo.create_model(name, num_labels=NUM_LABELS, image_size=TINY_SIZE)
    assert model.name == name
    assert model.input_shape == (None, TINY_SIZE, TINY_SIZE, 3)
    assert model.output_shape == (None, NUM_LABELS)
    assert model.get_layer("label_probs").dtype == "float32"
    images, targets = tiny_batch(TINY_SIZE, NUM_LABELS)
    probs = model(images, training=False).numpy()
    assert probs.shape == (2, NUM_LABELS) and np.all((probs >= 0) & (probs <= 1))
    run_training_step(model, images, targets)
    run_serialization_test(model)
    run_embedding_test(model, images)
    if name in _SAVE_REPRESENTATIVES:
        restored = run_model_saving_test(model, images, tmp_path)
        run_embedding_test(restored, images)


def test_v3_is_v2s_architecture_with_heavier_augmentation():
    v2, v3 = zoo.get_entry("v2"), zoo.get_entry("v3")
    assert v3.config == v2.config and v3.default_image_size == v2.default_image_size
    assert (v2.augmentation, v3.augmentation) == ("standard", "heavy")


def test_registry_lists_the_paper_models():
    assert {"v1", "v2", "v3", "v4", "v5", "resnet101_shallow", "vgg16", "tiny",
            "two_classifier_knn"} <= set(zoo.list_models(kind="classifier"))
    assert zoo.list_models(kind="part_texture") == ["part_texture"]
    assert zoo.get_entry("part_texture").paper["deepfashion_in_shop_top20_accuracy"] == pytest.approx(0.784)
    assert zoo.list_models(kind="personalizer") == ["personalizer"]
    entry = zoo.get_entry("v5")
    assert entry.config["backbone"] == "efficientnetb3" and entry.config["shallow_branch"] is True
    assert entry.default_image_size == 300 and entry.paper["ohs"] == pytest.approx(0.80)
    assert zoo.get_entry("v3").augmentation == "heavy"
    assert zoo.get_entry("v2").paper["amazon_fashion_in_shop"] == {"iou": 0.444, "precision": 0.731, "recall": 0.484}


def test_unknown_name_lists_available_models():
    with pytest.raises(KeyError, match="unknown zoo model 'v9'; available: .*v5"):
        zoo.create_model("v9", num_labels=3)
    with pytest.raises(FileNotFoundError, match="neither a model file, a run directory, nor a zoo model"):
        zoo.load("no_such_model_or_path")


def test_classifier_needs_num_labels_and_kind_must_be_known():
    with pytest.raises(ValueError, match="num_labels"):
        zoo.create_model("vgg16")
    with pytest.raises(ValueError, match="kind"):
        zoo.list_models(kind="detector")
    with pytest.raises(ValueError, match="already registered"):
        zoo.register(zoo.get_entry("v1"))


def test_overrides_and_load_by_name_build_a_fresh_model():
    model = zoo.load("vgg16", num_labels=3, image_size=TINY_SIZE, embedding_dim=16)
    assert model.get_layer("embedding").units == 16 and model.output_shape == (None, 3)


def test_load_run_dir_without_model_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.keras"):
        zoo.load(tmp_path)


def test_new_kinds_register_with_their_own_builder():
    """A later kind (e.g. the personalizer) plugs in without touching create_model."""

    def build_personalizer(embedding_dim=8, name=None):
        cart = tf.keras.Input((embedding_dim,), name="cart")
        return tf.keras.Model(cart, tf.keras.layers.Dense(embedding_dim)(cart), name=name)

    entry = zoo.ZooEntry(
        name="_test_personalizer", kind="personalizer", description="test", builder=build_personalizer,
        config={"embedding_dim": 4}, default_image_size=None,
    )
    zoo.register(entry)
    try:
        assert "_test_personalizer" in zoo.list_models(kind="personalizer")
        model = zoo.create_model("_test_personalizer")
        assert model.input_shape == (None, 4) and model.name == "_test_personalizer"
    finally:
        zoo._REGISTRY.pop("_test_personalizer")


def test_cards_match_the_registry():
    """zoo/<name>.yaml is generated from the registry (tools/zoo_cards.py); stale cards fail."""
    for name in zoo.list_models():
        path = zoo.CARDS_DIR / f"{name}.yaml"
        assert path.is_file(), f"{path} missing: run `python tools/zoo_cards.py`"
        card = zoo.read_card(name)
        assert path.read_text() == zoo.card_text(name, card.get("measured")), (
            f"{path} is stale: run `python tools/zoo_cards.py`"
        )
        assert "measured" in card


def test_imagenet_weights_unavailable_auto_falls_back_imagenet_fails(tmp_path, monkeypatch, capsys):
    """No cached weights and offline: "auto" prints one line and builds a randomly
    initialised model that says so; "imagenet" raises instead."""
    (tmp_path / ".keras" / "models").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(backbones.OFFLINE_ENV, "1")
    assert backbones.keras_cache_dir() == tmp_path / ".keras" / "models"
    model = build_feature_extractor("vgg16", num_labels=3, image_size=TINY_SIZE, weights="auto")
    assert model.output_shape == (None, 3)
    assert backbones.weights_used(model) == "none" and not backbones.is_pretrained(model)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fashion_tf:")]
    assert len(lines) == 1
    assert lines[0].startswith("fashion_tf: ImageNet weights for vgg16 unavailable (")
    assert lines[0].endswith("; training from scratch") and "does not exist" in lines[0]
    with pytest.raises(backbones.WeightsUnavailableError, match="ImageNet weights for vgg16 unavailable"):
        build_backbone("vgg16", TINY_SIZE, weights="imagenet")


def test_backbone_loads_weights_from_a_file(tmp_path):
    first = build_backbone("vgg16", TINY_SIZE, weights=None)
    first.save_weights(tmp_path / "vgg16.h5")
    second = build_backbone("vgg16", TINY_SIZE, weights=tmp_path / "vgg16.h5")
    assert backbones.weights_used(second) == str(tmp_path / "vgg16.h5")
    images, _ = tiny_batch(TINY_SIZE, 1)
    np.testing.assert_allclose(second(images).numpy(), first(images).numpy(), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        build_backbone("vgg16", TINY_SIZE, weights=tmp_path / "missing.h5")


def test_backbone_preprocessing_matches_keras_caffe_preprocess():
    """The in-graph preprocessing equals tf.keras.applications.resnet50.preprocess_input."""
    images, _ = tiny_batch(TINY_SIZE, 1)
    layer = backbones.CaffePreprocessing()
    expected = tf.keras.applications.resnet50.preprocess_input(images.copy())
    np.testing.assert_allclose(layer(images).numpy(), expected, atol=1e-4)


def test_bad_backbone_arguments_are_named():
    with pytest.raises(ValueError, match="unknown backbone 'resnet9'.*efficientnetb3"):
        build_backbone("resnet9", TINY_SIZE)
    with pytest.raises(ValueError, match="too small"):
        build_backbone("vgg16", 16)


def test_embedding_model_requires_an_embedding_layer():
    from fashion_tf.models import embedding_model

    inputs = tf.keras.Input((3,))
    with pytest.raises(ValueError, match="no layer named 'embedding'"):
        embedding_model(tf.keras.Model(inputs, tf.keras.layers.Dense(2)(inputs)))


def test_mixed_precision_keeps_float32_outputs():
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_feature_extractor("vgg16", num_labels=3, image_size=TINY_SIZE, shallow_branch=True)
        from fashion_tf.models import embedding_model

        images, _ = tiny_batch(TINY_SIZE, 3)
        assert model(images).dtype == tf.float32
        assert embedding_model(model)(images).dtype == tf.float32
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def test_paths_are_repository_relative():
    assert zoo.CARDS_DIR == Path(__file__).resolve().parent.parent / "zoo"
