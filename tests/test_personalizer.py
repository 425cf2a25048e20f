"""The personalizer (paper eq. 3/4), its cart split, mixed-cart splitting, baselines and CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fashion_tf.data.carts import leave_last_out
from fashion_tf.evaluation.cart_baselines import (
    matrix_factorization_rankings,
    popularity_rankings,
)
from fashion_tf.models import cart_split
from fashion_tf.models.personalizer import (
    CartEncoder,
    build_personalizer,
    pad_carts,
    recommend,
)


def _unit(rows):
    rows = np.asarray(rows, np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _query(model, cart):
    ids, ratings = pad_carts([cart])
    return model({"item_ids": tf.constant(ids.astype(str)), "ratings": tf.constant(ratings)}).numpy()[0]


def test_eq3_cart_is_the_rating_weighted_mean_of_known_items():
    """Items a=(1,0), b=(0,1), c=(0.6,0.8); cart a rated 4, b rated 1, an unknown id rated
    5, and padding. Unknown and padding weigh nothing, so
    cart = (4*(1,0) + 1*(0,1)) / (4+1) = (0.8, 0.2). A cart of only unknown ids is 0."""
    encoder = CartEncoder(["a", "b", "c"], 2)
    encoder.set_item_embeddings(np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32))
    ids = tf.constant([["a", "b", "nope", ""], ["nope", "", "", ""]])
    ratings = tf.constant([[4.0, 1.0, 5.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(encoder([ids, ratings]).numpy(), [[0.8, 0.2], [0.0, 0.0]], atol=1e-7)


def test_untrained_tower_is_the_plain_cart_mean():
    rng = np.random.default_rng(0)
    vectors = _unit(rng.normal(size=(12, 6)))
    ids = [f"i{n}" for n in range(12)]
    model = build_personalizer(ids, vectors, hidden_units=(16,))
    cart = [("i1", 5.0), ("i4", 2.0), ("i7", 1.0)]
    mean = (5 * vectors[1] + 2 * vectors[4] + vectors[7]) / 8
    np.testing.assert_allclose(_query(model, cart), mean / np.linalg.norm(mean), atol=1e-6)
    found, scores = recommend(model, [cart], k=9, split_carts=False)
    cosine = vectors @ (mean / np.linalg.norm(mean))
    expected = [ids[i] for i in np.argsort(-cosine) if ids[i] not in ("i1", "i4", "i7")]
    assert list(found[0]) == expected
    np.testing.assert_allclose(scores[0], np.sort(cosine[[int(e[1:]) for e in expected]])[::-1], atol=1e-6)


@pytest.mark.parametrize("split_carts", [False, True])
def test_cart_items_are_never_recommended(split_carts):
    rng = np.random.default_rng(1)
    vectors = _unit(rng.normal(size=(10, 4)))
    model = build_personalizer([f"i{n}" for n in range(10)], vectors)
    cart = [("i0", 3.0), ("i3", 4.0), ("i5", 1.0), ("i0", 2.0)]
    found, scores = recommend(model, [cart], k=7, split_carts=split_carts)
    assert sorted(found[0]) == ["i1", "i2", "i4", "i6", "i7", "i8", "i9"]
    assert np.isfinite(scores).all()


def _planted_catalog():
    """Five items around direction x, five around y, five on the diagonal between."""
    rng = np.random.default_rng(2)
    x, y = np.eye(8)[0], np.eye(8)[1]
    centres = [x] * 5 + [y] * 5 + [(x + y) / np.sqrt(2)] * 5
    vectors = _unit(np.array(centres) + rng.normal(0, 0.05, (15, 8)))
    ids = [f"x{n}" for n in range(5)] + [f"y{n}" for n in range(5)] + [f"d{n}" for n in range(5)]
    return ids, vectors


def test_mixed_cart_is_split_and_recommended_per_cluster():
    """A cart of two x items and two y items: its mean points at the diagonal items,
    which are neither; split, each half recommends its own kind, interleaved."""
    from sklearn.metrics import silhouette_score

    ids, vectors = _planted_catalog()
    cart_rows = [0, 1, 5, 6]
    groups = cart_split.split_cart(vectors[cart_rows], np.array([3.0, 3.0, 2.0, 2.0]))
    assert [list(g) for g in groups] == [[0, 1], [2, 3]]  # the x half has the larger rating total
    labels = cart_split.spherical_kmeans(vectors[cart_rows], 2)
    assert cart_split.silhouette(vectors[cart_rows], labels) == pytest.approx(
        silhouette_score(vectors[cart_rows], labels, metric="cosine"), abs=1e-6)
    uniform = [0, 1, 2, 3]
    assert len(cart_split.split_cart(vectors[uniform], np.ones(4))) == 1

    model = build_personalizer(ids, vectors)
    cart = [(ids[r], rating) for r, rating in zip(cart_rows, [3.0, 3.0, 2.0, 2.0])]
    whole, _ = recommend(model, [cart], k=4, split_carts=False)
    split, _ = recommend(model, [cart], k=4, split_carts=True)
    assert all(i.startswith("d") for i in whole[0])
    assert [i[0] for i in split[0]] == ["x", "y", "x", "y"]


def test_interleave_skips_repeats_and_stops_at_k():
    """Round robin: 1 (first list), 2 (second list, so its score .6), the first list
    skips its 2 (taken) for 3, then 4."""
    merged, scores = cart_split.interleave([np.array([1, 2, 3]), np.array([2, 4])],
                                           [np.array([.9, .8, .7]), np.array([.6, .5])], k=4)
    assert merged.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(scores, [.9, .6, .7, .5], rtol=1e-6)


def test_save_and_load_round_trip_without_custom_objects(tmp_path):
    rng = np.random.default_rng(3)
    model = build_personalizer([f"i{n}" for n in range(7)], rng.normal(size=(7, 5)), hidden_units=(8,))
    tower = model.get_layer("tower")
    tower.hidden[0].kernel.assign(rng.normal(size=(5, 8)))
    tower.delta.kernel.assign(rng.normal(size=(8, 5)))  # a "trained" tower, not the identity
    cart = [("i2", 4.0), ("i6", 1.0), ("unknown", 3.0)]
    model.save(tmp_path / "p.keras")
    loaded = tf.keras.models.load_model(tmp_path / "p.keras")
    np.testing.assert_allclose(_query(loaded, cart), _query(model, cart), atol=1e-6)
    assert loaded.get_layer("cart").item_ids == model.get_layer("cart").item_ids
    assert recommend(loaded, [cart], 3, False)[0].tolist() == recommend(model, [cart], 3, False)[0].tolist()


def _interactions():
    rows = [("u1", "a", 5, 30), ("u1", "b", 4, 10), ("u1", "c", 2, 20), ("u1", "zz", 5, 40),
            ("u2", "c", 3, 1), ("u2", "d", 1, 2), ("u2", "a", 4, 3), ("u2", "b", 2, 4),
            ("u3", "a", 5, 1), ("u3", "b", 5, 2)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_leave_last_out_holds_out_the_last_known_purchase():
    split = leave_last_out(_interactions(), known_items=["a", "b", "c", "d"], val_fraction=0.0)
    # u1's last purchase "zz" is not in the catalog; u3 has only two purchases
    assert split.test.users == ["u1", "u2"]
    assert split.test.positives == ["a", "b"]
    assert split.test.carts == [[("b", 4.0), ("c", 2.0)], [("c", 3.0), ("d", 1.0), ("a", 4.0)]]
    for user, cart, positive in zip(split.train.users, split.train.carts, split.train.positives):
        held_out = dict(zip(split.test.users, split.test.positives))[user]
        assert positive != held_out and held_out not in [i for i, _ in cart] and positive not in [i for i, _ in cart]
    assert len(split.train) == 2 + 3
    assert sorted(split.train_interactions["item_id"]) == ["a", "b", "c", "c", "d"]


def test_popularity_and_matrix_factorisation_rank_outside_the_cart():
    split = leave_last_out(_interactions(), known_items=["a", "b", "c", "d", "e"], val_fraction=0.0)
    items = ["a", "b", "c", "d", "e"]
    # training purchases: c twice, then a, b, d once (ties in catalog order), e never
    assert popularity_rankings(split.train_interactions, items, [[], [("c", 1.0)]], 3).tolist() == [
        ["c", "a", "b"], ["a", "b", "d"]]
    found = matrix_factorization_rankings(split.train_interactions, items, split.test.users, split.test.carts, 2,
                                          dim=4, epochs=2)
    assert found.shape == (2, 2)
    for row, cart in zip(found, split.test.carts):
        assert not set(row) & {i for i, _ in cart}


def test_personalize_cli_writes_a_loadable_run(tiny_run, tmp_path, capsys):
    from fashion_tf import personalize
    from fashion_tf.runs import load_run

    out = tmp_path / "pers"
    args = ["--run", str(tiny_run), "--epochs", "2", "--batch-size", "8", "--hidden-units", "16", "--out", str(out)]
    assert personalize.main(args) == 0
    assert "test Recall@10" in capsys.readouterr().out
    run = load_run(out)
    assert run.config["kind"] == "personalizer" and run.config["extractor_fingerprint"] == load_run(tiny_run).fingerprint
    metrics = json.loads((out / "metrics.json").read_text())
    curve = metrics["recall_at_k"]["personalizer"]
    assert len(curve) == 60 and all(0 <= v <= 1 for v in curve.values())
    assert list(curve.values()) == sorted(curve.values())
    assert (out / "history.csv").read_text().count("\n") >= 2
    assert personalize.main(args) == 2  # a finished run is not overwritten silently
    assert "already holds a finished run of personalizer" in capsys.readouterr().err


def test_zoo_builds_the_personalizer_from_a_catalog():
    from fashion_tf import zoo

    with pytest.raises(ValueError, match="needs item_ids"):
        zoo.create_model("personalizer")
    model = zoo.create_model("personalizer", item_ids=["a", "b"], item_embeddings=np.eye(2), hidden_units=[4])
    assert model.name == "personalizer" and model.get_layer("tower").hidden_units == [4]


def test_train_cli_points_to_the_personalizer_command(tmp_path, capsys):
    from fashion_tf import train

    assert train.main(["--model", "personalizer", "--out", str(tmp_path / "p")]) == 2
    assert "python -m fashion_tf.personalize --run RUN" in capsys.readouterr().err
