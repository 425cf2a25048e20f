"""The `personalize` signature: exported == Keras, and Client.personalize against a started
server, bad carts included (docs/design.md, "Serving"; paper eq. 3/4)."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from server_process import start_server, stop_server
from serving_fixtures import fixture_keras_model

from fashion_tf.models.personalizer import build_personalizer, recommend
from fashion_tf.serving import Client, InvalidArgumentError
from fashion_tf.serving_graph import ServingModule

NUM_ITEMS, DIM = 20, 8
CART = [("item_003", 5.0), ("item_011", 2.0), ("no_such_item", 4.0)]


def trained_personalizer(seed=0) -> tf.keras.Model:
    """A personalizer over a random catalog whose tower is not the identity."""
    rng = np.random.default_rng(seed)
    model = build_personalizer([f"item_{i:03d}" for i in range(NUM_ITEMS)], rng.normal(size=(NUM_ITEMS, DIM)),
                               hidden_units=(16,))
    tower = model.get_layer("tower")
    tower.hidden[0].kernel.assign(rng.normal(size=(DIM, 16)))
    tower.delta.kernel.assign(rng.normal(size=(16, DIM)))
    return model


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """An extractor export with the personalize signature (as `export --personalizer RUN`)."""
    personalizer = trained_personalizer()
    base = tmp_path_factory.mktemp("repo") / "fashion"
    module = ServingModule(fixture_keras_model(image_size=32, dim=DIM), [f"l{i}" for i in range(4)], 32,
                           [f"item_{i:03d}" for i in range(NUM_ITEMS)],
                           personalizer.get_layer("cart").catalog_embeddings().numpy(), personalizer=personalizer)
    tf.saved_model.save(module, str(base / "1"), signatures=module.signatures())
    return base, personalizer


def test_exported_signature_equals_the_keras_model(export_dir):
    base, personalizer = export_dir
    served = tf.saved_model.load(str(base / "1")).signatures["personalize"]
    out = served(item_ids=tf.constant([i for i, _ in CART]), ratings=tf.constant([r for _, r in CART]),
                 k=tf.constant(5))
    ids, scores = recommend(personalizer, [CART], k=5, split_carts=False)
    assert [b.decode() for b in out["item_ids"].numpy()] == ids[0].tolist()
    np.testing.assert_allclose(out["scores"].numpy(), scores[0], atol=1e-5)
    assert int(out["unknown_items"]) == 1


def test_client_personalize_against_a_started_server(export_dir, tmp_path):
    base, personalizer = export_dir
    process, target = start_server("fashion", tmp_path / "server.log", "--model_name", "fashion",
                                   "--model_base_path", str(base), "--file_system_poll_wait_seconds", "0")
    try:
        with Client(target, timeout=30, model="fashion") as client:
            expected, scores = recommend(personalizer, [CART], k=4, split_carts=False)
            result = client.personalize(dict(CART), k=4)
            assert result.item_ids.tolist() == expected[0].tolist() and result.unknown_items == 1
            np.testing.assert_allclose(result.scores, scores[0], atol=1e-5)
            ids, _, unknown = client.personalize(CART[:2], k=4)  # a list of pairs works too
            assert ids.tolist() == expected[0].tolist() and unknown == 0
            assert not {"item_003", "item_011"} & set(client.personalize(CART, k=NUM_ITEMS).item_ids)

            bad_carts = [
                ({"nothing": 3.0, "known": 1.0}, 3, "no item of this catalog"),
                ({"item_003": 0.0}, 3, "every rating must be > 0"),
                ({"item_003": -2.0, "item_004": 1.0}, 3, "every rating must be > 0"),
                ({}, 3, "no item of this catalog"),
                ({"item_003": 4.0}, NUM_ITEMS + 1, f"k must be at most {NUM_ITEMS}"),
                ({"item_003": 4.0}, 0, "'k' must be at least 1"),
            ]
            for cart, k, message in bad_carts:
                with pytest.raises(InvalidArgumentError, match=message):
                    client.personalize(cart, k=k)
            with pytest.raises(InvalidArgumentError, match="item_ids and ratings must have the same length"):
                client.predict({"item_ids": np.array([b"item_003", b"item_004"], dtype=object),
                                "ratings": np.array([4.0], np.float32), "k": np.int32(2)}, "personalize")
            # the server stayed up and still answers
            assert client.personalize(dict(CART), k=4).item_ids.tolist() == expected[0].tolist()
    finally:
        stop_server(process)
