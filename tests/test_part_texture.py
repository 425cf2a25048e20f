"""The part/texture model (Verma et al., "Diversity in Fashion Recommendation using
Semantic Parsing"): its layers, diverse lists, and the whole train -> evaluate -> export
path on the tiny shop."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import fashion_tf  # noqa: F401
from fashion_tf import zoo
from fashion_tf.evaluation.diversity import in_shop_top_k_accuracy, intra_list_diversity
from fashion_tf.models import PartAttention, TextureEncoding
from fashion_tf.models.part_texture import num_parts_of, split_parts
from fashion_tf.retrieval.diverse import interleave_parts, maximal_marginal_relevance

SMALL = {"stem_widths": [8, 16], "descriptor_dim": 8, "num_parts": 3, "num_codes": 4, "part_dim": 6}


def test_texture_encoding_residuals_on_a_hand_made_input():
    """Two descriptors sitting on the two codewords: each is assigned softly, mostly to
    its own codeword, and the residual sums come out as computed by hand."""
    layer = TextureEncoding(num_codes=2)
    descriptors = tf.constant([[[0.0, 0.0], [2.0, 0.0]]])
    layer.build(descriptors.shape)
    layer.codewords.assign([[0.0, 0.0], [2.0, 0.0]])
    layer.smoothing.assign([1.0, 1.0])
    # a(x1 -> c2) = a(x2 -> c1) = e^-4 / (1 + e^-4); every other residual is 0
    weak = np.exp(-4.0) / (1.0 + np.exp(-4.0))
    expected = np.array([[[[2.0 * weak, 0.0], [-2.0 * weak, 0.0]]]])
    np.testing.assert_allclose(layer(descriptors).numpy(), expected, rtol=1e-5)
    # part weights scale each position's contribution: only x2 in part 0, only x1 in part 1
    parts = layer([descriptors, tf.constant([[[0.0, 1.0], [1.0, 0.0]]])]).numpy()
    np.testing.assert_allclose(parts[0, 0], [[2.0 * weak, 0.0], [0.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(parts[0, 1], [[0.0, 0.0], [-2.0 * weak, 0.0]], atol=1e-7)
    assert TextureEncoding.from_config(layer.get_config()).num_codes == 2
    with pytest.raises(ValueError, match="num_codes must be >= 1"):
        TextureEncoding(num_codes=0)


def test_part_attention_sums_to_one_over_positions():
    features = tf.random.stateless_normal((2, 4, 5, 7), seed=(1, 2))
    weights = PartAttention(num_parts=3)(features).numpy()
    assert weights.shape == (2, 20, 3) and (weights > 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="num_parts must be >= 1"):
        PartAttention(num_parts=0)


def test_model_shapes_parts_and_save_load(tmp_path):
    from zoo_test_case import run_model_saving_test, tiny_batch

    model = zoo.create_model("part_texture", num_labels=5, image_size=32, **SMALL)
    images, _ = tiny_batch(32, 5)
    assert model.get_layer("part_embeddings").output.shape[1:] == (3, 6)
    assert model.get_layer("embedding").output.shape[-1] == 18 and model.output_shape == (None, 5)
    assert num_parts_of(model) == 3
    restored = run_model_saving_test(model, images, tmp_path)
    assert num_parts_of(restored) == 3
    with pytest.raises(ValueError, match="trains from scratch"):
        zoo.create_model("part_texture", num_labels=5, image_size=32, weights="imagenet", **SMALL)


def test_split_parts_normalises_each_part():
    parts = split_parts(np.arange(1, 13, dtype=np.float32).reshape(2, 6), 3)
    assert parts.shape == (2, 3, 2)
    np.testing.assert_allclose(np.linalg.norm(parts, axis=-1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="cannot be cut into 4 equal parts"):
        split_parts(np.zeros((2, 6)), 4)


def test_interleaving_takes_each_parts_best_in_turn():
    # 2 parts in 2-D; items 0-1 match the query's part 0, items 2-3 its part 1
    query = np.array([[1.0, 0.0], [0.0, 1.0]])
    items = np.array([
        [[1.0, 0.0], [1.0, 0.0]],   # part 0 exact, part 1 orthogonal
        [[0.9, 0.436], [1.0, 0.0]],
        [[0.0, 1.0], [0.0, 1.0]],   # part 1 exact
        [[0.0, 1.0], [0.436, 0.9]],
    ])
    assert interleave_parts(query, items, 4).tolist() == [0, 2, 1, 3]
    assert interleave_parts(query, items, 3, exclude=[0]).tolist() == [1, 2, 3]
    assert interleave_parts(query, items, 10).tolist() == [0, 2, 1, 3]  # clipped to the catalog
    with pytest.raises(ValueError, match=r"query parts \[K, E\]"):
        interleave_parts(query[0], items, 2)


def test_mmr_trades_relevance_for_novelty():
    items = np.array([[1.0, 0.0], [0.995, 0.0998], [0.6, 0.8]])
    query = np.array([1.0, 0.0])
    assert maximal_marginal_relevance(query, items, 2, lambda_=1.0).tolist() == [0, 1]
    assert maximal_marginal_relevance(query, items, 2, lambda_=0.3).tolist() == [0, 2]
    with pytest.raises(ValueError, match="lambda_"):
        maximal_marginal_relevance(query, items, 2, lambda_=2.0)


def test_intra_list_diversity_and_in_shop_top_k():
    attributes = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["top", "top", "dress"],
                               "subtype": ["t", "t", "d"], "colour": ["red", "red", "red"],
                               "texture": ["plain", "plain", "plain"]})
    # a-b differ on nothing; a-c and b-c differ on 2 of 4 attributes
    assert intra_list_diversity(np.array([["a", "b"]]), attributes) == 0.0
    assert intra_list_diversity(np.array([["a", "b", "c"]]), attributes) == pytest.approx((0 + 0.5 + 0.5) / 3)
    items = pd.DataFrame({"item_id": ["q1", "q2", "g1", "g2"], "product_id": ["p1", "p2", "p1", "p3"],
                          "evaluation_status": ["query", "query", "gallery", "gallery"]})
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    # q1 finds g1 (its product) first; q2's product is not in the gallery
    assert in_shop_top_k_accuracy(items["item_id"], vectors, items, k=1) == {
        "top1_accuracy": 0.5, "num_queries": 2, "num_gallery": 2}
    assert in_shop_top_k_accuracy(items["item_id"], vectors, items.drop(columns="product_id")) is None


@pytest.fixture(scope="module")
def part_run(tiny_shop, tmp_path_factory):
    from fashion_tf import train

    out = tmp_path_factory.mktemp("runs") / "part_texture"
    assert train.main(["--model", "part_texture", "--data", str(tiny_shop), "--epochs", "1",
                       "--image-size", "32", "--batch-size", "16", "--out", str(out)]) == 0
    return out


def test_trains_evaluates_with_diversity_and_exports(part_run, tiny_shop, tmp_path):
    from fashion_tf import export
    from fashion_tf.data.catalog import load_catalog
    from fashion_tf.data.decode import load_for_model
    from fashion_tf.evaluate import evaluate_run
    from fashion_tf.runs import load_run

    run = load_run(part_run)
    assert run.config["kind"] == "part_texture" and num_parts_of(run.model) == 4
    result = evaluate_run(run)
    diversity = result["diversity"]
    assert 0.0 <= diversity["ild@10"] <= 1.0 and 0.0 <= diversity["part_interleaved_ild@10"] <= 1.0
    assert diversity["num_queries"] == result["in_shop"]["num_queries"] > 0
    assert result["in_shop_top20"] is None  # the demo shop has one image per product

    [path] = export.export_run(part_run, tmp_path, name="parts", scann=False)
    loaded = tf.saved_model.load(str(path))
    catalog = load_catalog(tiny_shop)
    encoded = [catalog.path(p).read_bytes() for p in catalog.queries["image"].iloc[:2]]
    served = loaded.signatures["serving_default"](images=tf.constant(encoded))
    images = tf.stack([load_for_model(tf.constant(b), run.image_size) for b in encoded])
    np.testing.assert_allclose(served["embedding"].numpy(), run.embedding_model(images).numpy(), atol=1e-5)
    similar = loaded.signatures["similar"](images=tf.constant(encoded[:1]), k=tf.constant(3))
    assert similar["item_ids"].shape == (1, 3)
    assert {i.decode() for i in similar["item_ids"].numpy()[0]} <= set(catalog.items["item_id"].astype(str))
