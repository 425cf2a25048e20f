"""Triplets from outfits, the demo shop's outfit rules, and the compatibility metrics."""
from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

import fashion_tf  # noqa: F401
from fashion_tf.data import demo_shop, outfit_rules
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.triplets import (
    hashed_split,
    outfit_table,
    sample_triplets,
    triplet_dataset,
)
from fashion_tf.evaluation import compatibility


def _planned_catalog(n_items=400, seed=0, split_items=True):
    """A demo-shop item table from the outfit planner (no images drawn)."""
    specs = demo_shop._plan_outfits(n_items, np.random.default_rng(seed))
    rows = pd.DataFrame([{
        "item_id": f"i{k:04d}", "image": f"images/i{k:04d}.jpg", "category": demo_shop.category_of(s),
        "outfit_id": s["outfit_id"],
        "outfit_category": outfit_rules.ROLE_OF_GROUP[demo_shop.GARMENTS[s["subtype"]][0]],
        "attr_subtype": s["subtype"], "attr_colour": s["colour"], "attr_texture": s["texture"],
    } for k, s in enumerate(specs)])
    # items split one by one (as the demo shop does) cut through outfits
    rows["split"] = np.random.default_rng(1).choice(["train", "val", "test"], len(rows)) if split_items else "train"
    return types.SimpleNamespace(root="/nonexistent", items=rows), specs


def test_triplets_follow_the_sampling_rules():
    catalog, _ = _planned_catalog()
    table = outfit_table(catalog)
    # item splits cut through outfits, so whole outfits are held out by hash
    assert (table.members.groupby("outfit")["split"].nunique() == 1).all()
    assert set(table.members["split"]) == {"train", "val", "test"}
    assert all(hashed_split(o) == s for o, s in zip(table.members["outfit"], table.members["split"]))
    outfit_of = dict(zip(table.members["item"], table.members["outfit"]))
    split_of = dict(zip(table.members["item"], table.members["split"]))
    cats = table.items["category_index"].to_numpy()
    for split in ("train", "test"):
        rows, outfits = sample_triplets(table, split, np.random.default_rng(3), per_anchor=2)
        assert len(rows) > 50
        for (a, p, n), outfit in zip(rows, outfits):
            assert outfit_of[a] == outfit_of[p] == outfit          # positive: same outfit
            assert cats[p] != cats[a]                              # ... another category
            assert cats[n] == cats[p] and outfit_of[n] != outfit   # negative: positive's category, other outfit
            assert split_of[a] == split_of[p] == split_of[n] == split
    again = sample_triplets(table, "train", np.random.default_rng(3), per_anchor=2)[0]
    np.testing.assert_array_equal(again, sample_triplets(table, "train", np.random.default_rng(3), per_anchor=2)[0])
    compatible = table.compatible_categories()
    names = table.categories
    assert compatible[names.index("tops"), names.index("bottoms")]
    assert not compatible[names.index("tops"), names.index("dresses")]
    assert not compatible.diagonal().any()


def test_catalog_without_outfits_is_refused():
    items = pd.DataFrame({"item_id": ["a"], "image": ["a.jpg"], "category": ["x"], "split": ["train"]})
    with pytest.raises(ValueError, match="no outfit_id column"):
        outfit_table(types.SimpleNamespace(root="/shop", items=items))


def test_demo_outfits_follow_the_documented_rules():
    _, specs = _planned_catalog(600, seed=4)
    by_outfit = pd.DataFrame(specs).groupby("outfit_id")
    for _, outfit in by_outfit:
        role = {outfit_rules.ROLE_OF_GROUP[demo_shop.GARMENTS[s][0]]: c for s, c in zip(outfit["subtype"], outfit["colour"])}
        families = {outfit_rules.family_of(t) for t in outfit["texture"]}
        assert len(families) == 1                                  # one style family
        accent = role.get("tops", role.get("dresses"))
        if accent is None:
            continue  # the last outfit may be cut short
        assert accent in outfit_rules.PALETTE
        if "bottoms" in role:
            assert role["bottoms"] in outfit_rules.PALETTE[accent]
            if "shoes" in role:
                assert role["shoes"] == role["bottoms"]            # shoes follow the bottom
        elif "shoes" in role:
            assert role["shoes"] in outfit_rules.PALETTE[accent]


def test_metrics_golden_values_and_oracle_ceiling():
    assert compatibility.triplet_accuracy([0.9, 0.5, 0.2, 0.4], [0.1, 0.5, 0.3, 0.0]) == pytest.approx(2.5 / 4)
    # FITB: scores = candidate row value; answer index 2; a two-way tie gives half credit
    score = np.array([0.0, 1.0, 3.0, 3.0, 2.0])
    scorer = lambda left, right: score[left]
    questions = [(np.array([0]), np.array([1, 4, 2, 3]), 2), (np.array([0]), np.array([4, 1, 2, 0]), 2)]
    assert compatibility.fitb_accuracy(scorer, questions) == pytest.approx((0.5 + 1.0) / 2)
    outfits = [(np.array([2, 3]), 1), (np.array([1, 4]), 0), (np.array([1, 0]), 0)]
    assert compatibility.compatibility_auc(scorer, outfits) == 1.0

    catalog, _ = _planned_catalog(800)
    table = outfit_table(catalog)
    questions = compatibility.draw_questions(table, "test")
    oracle = compatibility.evaluate_scorer(compatibility.oracle_scorer(table), questions)
    assert oracle["triplet_accuracy"] > 0.9 and oracle["fitb_accuracy"] > 0.85 and oracle["compatibility_auc"] > 0.95
    random_scores = np.random.default_rng(0).normal(size=len(table.items))
    chance = compatibility.evaluate_scorer(lambda left, right: random_scores[left] * random_scores[right], questions)
    assert abs(chance["triplet_accuracy"] - 0.5) < 0.15


def test_triplet_dataset_batches_anchors_positives_negatives(tiny_shop):
    table = outfit_table(load_catalog(tiny_shop))
    ds = triplet_dataset(table, "train", image_size=32, batch_size=4, training=True, background_p=0.5, seed=1)
    images, targets = next(iter(ds))
    assert images.shape == (12, 32, 32, 3) and images.dtype.name == "float32"
    labels, categories = targets["style_embedding"].numpy(), targets["category_probs"].numpy()
    assert labels.shape == (12, 2)
    np.testing.assert_array_equal(labels[:, 1], categories)
    np.testing.assert_array_equal(labels[:4, 0], labels[4:8, 0])           # anchor and positive: one outfit
    assert (labels[:4, 0] != labels[8:, 0]).all()                          # negative: another outfit
    np.testing.assert_array_equal(categories[4:8], categories[8:])         # negative: positive's category
    assert (categories[:4] != categories[4:8]).all()
    assert 0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 255


def test_polyvore_catalog_gives_triplets_from_its_outfit_memberships(tmp_path):
    """Polyvore import: categories from the semantic level, memberships from outfits.parquet
    (an item may be in two outfits), the published splits kept (they never cut an outfit)."""
    import json

    import cv2

    from fashion_tf.data.importers import import_polyvore

    src = tmp_path / "polyvore"
    (src / "images").mkdir(parents=True)
    metadata, outfits = {}, {"train.json": [], "valid.json": [], "test.json": []}
    for k in range(8):
        split = "train.json" if k < 6 else ("valid.json" if k == 6 else "test.json")
        items = []
        for role, category_id in (("tops", "11"), ("shoes", "41")):
            item_id = f"{role}{k}"
            metadata[item_id] = {"title": f"{role} {k}", "semantic_category": role, "category_id": category_id}
            cv2.imwrite(str(src / "images" / f"{item_id}.jpg"), np.full((40, 40, 3), 20 * k, np.uint8))
            items.append({"item_id": item_id, "index": len(items) + 1})
        if k == 1:
            items.append({"item_id": "tops0", "index": 3})  # tops0 is in outfits s0 and s1
        outfits[split].append({"set_id": f"s{k}", "items": items})
    (src / "polyvore_item_metadata.json").write_text(json.dumps(metadata))
    (src / "categories.csv").write_text("11,Tops,tops\n41,Ankle Boots,shoes\n")
    (src / "nondisjoint").mkdir()
    for name, data in outfits.items():
        (src / "nondisjoint" / name).write_text(json.dumps(data))
    import_polyvore(src, tmp_path / "catalog")
    table = outfit_table(load_catalog(tmp_path / "catalog"))
    assert table.categories == ["shoes", "tops"]
    ids = table.items["item_id"].to_numpy()
    in_s1 = set(ids[table.members.loc[table.members["outfit"] == "s1", "item"]])
    assert in_s1 == {"tops1", "shoes1", "tops0"}
    rows, outfits_of = sample_triplets(table, "train", np.random.default_rng(0), per_anchor=3)
    members = {o: set(g["item"]) for o, g in table.members.groupby("outfit")}
    for (a, p, n), outfit in zip(rows, outfits_of):
        assert {a, p} <= members[outfit] and n not in members[outfit]
        assert ids[n].rstrip("0123456789") == ids[p].rstrip("0123456789") != ids[a].rstrip("0123456789")
    assert {"s0", "s1"} <= set(outfits_of) and "s7" not in set(outfits_of)
