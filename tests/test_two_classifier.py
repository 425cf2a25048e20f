"""The two-classifier model (Tuinhof, Pirker & Haltmeier, "Image Based Fashion Product
Recommendation with Deep Learning") and the Euclidean distance of the indexes."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import fashion_tf  # noqa: F401
from fashion_tf import zoo
from fashion_tf.models import TwoBranchHead, build_two_classifier
from fashion_tf.models.two_classifier import texture_label_indices
from fashion_tf.retrieval import BruteForceIndex, build_index, load_index
from fashion_tf.retrieval.scann_index import _HAVE_SCANN


def test_each_label_comes_from_its_own_branch():
    head = TwoBranchHead(num_labels=3, texture_labels=[2])
    features = tf.constant([[1.0, 2.0, 3.0, 4.0]])  # category half [1, 2], texture half [3, 4]
    head.build(features.shape)
    head.category_kernel.assign(np.ones((2, 3)))
    head.texture_kernel.assign(-np.ones((2, 3)))
    probs = head(features).numpy()[0]
    sigmoid = 1 / (1 + np.exp(-np.array([3.0, 3.0, -7.0])))
    np.testing.assert_allclose(probs, sigmoid, rtol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(head(features)[:, 2])  # a texture label's loss
    category_grad, texture_grad = tape.gradient(loss, [head.category_kernel, head.texture_kernel])
    assert np.all(category_grad.numpy() == 0) and np.any(texture_grad.numpy() != 0)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        TwoBranchHead(num_labels=3, texture_labels=[3])


def test_texture_labels_are_found_in_the_vocabulary():
    assert texture_label_indices(["dress", "striped", "red", "plaid", "shirt"]) == [1, 3]


def test_concatenated_features_and_save_load(tmp_path):
    from zoo_test_case import run_model_saving_test, tiny_batch

    model = build_two_classifier(num_labels=4, image_size=32, backbone="tiny", feature_dim=8,
                                 texture_labels=[1], name="two_classifier_knn")
    images, _ = tiny_batch(32, 4)
    embedding = tf.keras.Model(model.input, model.get_layer("embedding").output)(images).numpy()
    category = tf.keras.Model(model.input, model.get_layer("category_features").output)(images).numpy()
    texture = tf.keras.Model(model.input, model.get_layer("texture_features").output)(images).numpy()
    np.testing.assert_array_equal(embedding, np.concatenate([category, texture], axis=1))
    restored = run_model_saving_test(model, images, tmp_path)
    assert restored.get_layer("label_probs").texture_labels == [1]


@pytest.mark.parametrize("backend", ["brute_force", pytest.param(
    "scann", marks=pytest.mark.skipif(not _HAVE_SCANN, reason="scann not installed"))])
def test_l2_index_ranks_by_euclidean_distance_and_round_trips(backend, tmp_path):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 6)).astype(np.float32) * rng.uniform(0.1, 5, size=(50, 1)).astype(np.float32)
    queries = rng.normal(size=(4, 6)).astype(np.float32)
    distances = np.linalg.norm(queries[:, None] - vectors[None], axis=-1)
    expected = np.argsort(distances, axis=1)[:, :5]
    index = build_index([f"i{i}" for i in range(50)], vectors, backend=backend, distance="l2")
    rows, scores = index.search_indices(queries, 5)
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(-scores, np.take_along_axis(distances, expected, axis=1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(index.vectors, vectors, rtol=1e-6)  # not normalised
    index.save(tmp_path / "index")
    loaded = load_index(tmp_path / "index")
    assert loaded.distance == "l2"
    np.testing.assert_array_equal(loaded.search_indices(queries, 5)[0], expected)
    # the cosine index of the same vectors ranks differently (their norms vary)
    assert not np.array_equal(build_index(range(50), vectors, backend=backend).search_indices(queries, 5)[0],
                              expected)
    if backend == "brute_force":  # shards merge negative distances like cosine scores
        from fashion_tf.retrieval.sharded import ShardedIndex

        sharded = ShardedIndex(shards=3, shard_backend="brute_force", distance="l2")
        sharded.add([f"i{i}" for i in range(50)], vectors).build().save(tmp_path / "sharded")
        np.testing.assert_array_equal(load_index(tmp_path / "sharded").search_indices(queries, 5)[0], expected)
    with pytest.raises(ValueError, match="distance 'manhattan'"):
        BruteForceIndex(distance="manhattan")


def test_trainer_routes_the_demo_vocabulary_and_exports(tiny_shop, tmp_path):
    """A two-classifier run on the tiny shop through the classifier trainer: the texture
    words of the vocabulary go to the texture branch; the run exports and serves."""
    from fashion_tf import export, train
    from fashion_tf.config import config_for
    from fashion_tf.runs import load_run

    zoo.register(zoo.ZooEntry(
        name="zz_test_two_classifier", kind="classifier", description="test", builder=build_two_classifier,
        config={"backbone": "tiny", "feature_dim": 8}, default_image_size=32, background_p=0.0))
    try:
        run_dir = train.train(config_for("zz_test_two_classifier", data=str(tiny_shop), epochs=1, batch_size=16,
                                         out=str(tmp_path / "run")))
        run = load_run(run_dir)
        routed = run.model.get_layer("label_probs").texture_labels
        assert routed and routed == texture_label_indices(run.vocabulary)
        [path] = export.export_run(run_dir, tmp_path / "export", name="two", scann=False)
        similar = tf.saved_model.load(str(path)).signatures["similar"]
        from fashion_tf.data.catalog import load_catalog

        catalog = load_catalog(tiny_shop)
        image = catalog.path(catalog.items["image"].iloc[0]).read_bytes()
        found = similar(images=tf.constant([image]), k=tf.constant(1))["item_ids"].numpy()[0, 0].decode()
        assert found == str(catalog.items["item_id"].iloc[0])  # an item's own picture finds itself first
    finally:
        zoo._REGISTRY.pop("zz_test_two_classifier")
