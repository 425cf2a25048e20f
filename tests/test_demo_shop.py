"""The demo shop generator and the background photo pools (docs/design.md, "Data")."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf.data import demo_shop, photos, schema
from fashion_tf.data.catalog import load_catalog

SMALL = {"items": 40, "users": 8, "image_size": 64}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shops(tmp_path_factory):
    """Two shops with seed 0 and one with seed 1."""
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        out[name] = demo_shop.generate_demo_shop(tmp_path_factory.mktemp(name), seed=seed, **SMALL)
    return out


def test_same_seed_gives_identical_bytes(shops):
    a, b = _files(shops["a"]), _files(shops["b"])
    assert sorted(a) == sorted(b)
    different = [name for name in a if a[name] != b[name]]
    assert different == []
    # Everything the tables point to was written.
    assert sum(name.startswith("images/") for name in a) == SMALL["items"]
    assert sum(name.startswith("true_masks/") for name in a) == SMALL["items"]
    assert sum(name.startswith("masks/") and name.endswith(".png") for name in a) == SMALL["items"]
    # ... and each mask's confidence beside them (never-paste decisions are reproducible too).
    assert "masks/confidence.json" in a


def test_different_seed_gives_a_different_shop(shops):
    a, c = _files(shops["a"]), _files(shops["c"])
    assert a["items.parquet"] != c["items.parquet"]
    assert a["images/item00000.jpg"] != c["images/item00000.jpg"]


def test_schema_splits_outfits_and_titles(shops):
    catalog = load_catalog(shops["a"])
    items = catalog.items
    assert list(items.columns) == list(schema.ITEM_COLUMNS) + list(demo_shop.ATTRIBUTE_COLUMNS)
    assert len(items) == SMALL["items"] and items["item_id"].is_unique
    assert set(items["split"]) == {"train", "val", "test"}
    counts = items["split"].value_counts()
    assert counts["val"] == counts["test"] == 6 and counts["train"] == 28
    assert set(items["domain"]) == {"shop"}
    assert all(isinstance(v, str) and v for v in items["outfit_id"])
    assert items.groupby("outfit_id").size().max() <= 4
    for row in items.itertuples():
        assert row.category.startswith("Clothing, Shoes & Jewelry > ")
        assert row.title.split()[0] in ("Women's", "Men's")
        assert (shops["a"] / row.image).is_file()
        assert row.mask == f"masks/{row.item_id}.png" and (shops["a"] / row.mask).is_file()


def test_interactions_five_to_seven_per_user(shops):
    ratings = load_catalog(shops["a"]).interactions
    assert list(ratings.columns) == list(schema.INTERACTION_COLUMNS)
    per_user = ratings.groupby("user_id").size()
    assert len(per_user) == SMALL["users"]
    assert per_user.between(5, 7).all()
    assert ratings["rating"].between(1, 5).all()
    assert not ratings.duplicated(["user_id", "item_id"]).any()
    assert pd.api.types.is_integer_dtype(ratings["timestamp"])


def test_users_rate_their_taste_higher():
    """Hidden taste drives ratings: 1.5 + 2 (group match) + 1.5 (colour match) + noise,
    so items of a liked group average about 2 points more than unrelated items."""
    specs = demo_shop._plan_outfits(300, np.random.default_rng(7))
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(300)]})
    ratings, tastes = demo_shop._users(items, specs, 40, np.random.default_rng(3))
    by_id = {f"i{k}": s for k, s in enumerate(specs)}
    group_match = np.array([demo_shop.GARMENTS[by_id[r.item_id]["subtype"]][0] in tastes[r.user_id][0]
                            for r in ratings.itertuples()])
    colour_match = np.array([by_id[r.item_id]["colour"] == tastes[r.user_id][1]
                             for r in ratings.itertuples()])
    liked = ratings["rating"][group_match & ~colour_match].mean()
    unrelated = ratings["rating"][~group_match & ~colour_match].mean()
    assert liked - unrelated > 1.5
    assert ratings["rating"][~group_match & ~colour_match].max() <= 3
    assert group_match.mean() > 0.3  # users mostly rate what they like


def test_queries_show_test_items_on_query_photos(shops):
    catalog = load_catalog(shops["a"])
    queries = catalog.queries
    assert list(queries.columns) == list(schema.QUERY_COLUMNS)
    test_ids = set(catalog.items.loc[catalog.items["split"] == "test", "item_id"])
    assert set(queries["item_id"]) == test_ids
    for row in queries.itertuples():
        image = (shops["a"] / row.image)
        assert image.is_file() and image.stat().st_size > 500


def test_labels_recover_planted_words(shops):
    catalog = load_catalog(shops["a"])
    vocabulary = set(catalog.vocabulary)
    info = json.loads((shops["a"] / schema.LABELS_FILE).read_text())
    assert (info["min_count"], info["final_count"]) == demo_shop.label_thresholds(SMALL["items"])
    synonyms = {"grey": "gray"}
    planted_hits = planted_total = 0
    for row in catalog.items.itertuples():
        colour = row.title.split()[1].lower()
        planted = [synonyms.get(colour, colour)]
        for word in planted:
            if word in vocabulary:
                planted_total += 1
                planted_hits += word in row.labels
        assert set(row.labels) <= vocabulary
    assert planted_total >= 0.7 * SMALL["items"]  # most colours are frequent enough
    assert planted_hits == planted_total
    assert {"women", "shoe", "solid"} <= vocabulary or {"men", "shoe", "solid"} <= vocabulary


def test_ensure_demo_shop_reuses_a_complete_shop(tmp_path):
    out = tmp_path / "shop"
    params = {"items": 12, "users": 3, "seed": 5, "image_size": 48}
    first = demo_shop.ensure_demo_shop(out, **params)
    marker = first / demo_shop.COMPLETE_FILE
    stamp = marker.stat().st_mtime_ns
    (first / "images" / "item00000.jpg").write_bytes(b"sentinel")  # reused => untouched
    demo_shop.ensure_demo_shop(out, **params)
    assert marker.stat().st_mtime_ns == stamp
    assert (first / "images" / "item00000.jpg").read_bytes() == b"sentinel"
    # Other parameters regenerate.
    demo_shop.ensure_demo_shop(out, **{**params, "seed": 6})
    assert (first / "images" / "item00000.jpg").read_bytes() != b"sentinel"
    assert json.loads(marker.read_text())["seed"] == 6


def test_ensure_demo_shop_default_goes_to_the_cache(isolated_cache):
    path = demo_shop.ensure_demo_shop(items=8, users=2, seed=0, image_size=40)
    assert Path(path).is_relative_to(isolated_cache)
    assert (Path(path) / demo_shop.COMPLETE_FILE).is_file()


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="image_size >= 32"):
        demo_shop.generate_demo_shop(tmp_path, items=4, users=1, image_size=16)


def test_cli_prints_a_summary(tmp_path, capsys):
    assert demo_shop.main(["--out", str(tmp_path), "--items", "10", "--users", "2",
                           "--seed", "3", "--image-size", "40"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("demo shop: 10 items,") and "2 queries" in line


def test_a_shop_without_users_has_no_interactions(tmp_path):
    demo_shop.generate_demo_shop(tmp_path, items=10, users=0, seed=3, image_size=40)
    catalog = load_catalog(tmp_path)
    assert catalog.interactions is None and len(catalog.items) == 10


def test_photo_pools_never_share_a_photograph():
    train, query = photos.background_photos("train"), photos.background_photos("query")
    assert len(train) >= 3 and len(query) >= 2
    for a in train:
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
        for b in query:
            assert a.shape != b.shape or not np.array_equal(a, b)
    with pytest.raises(ValueError, match="unknown background pool"):
        photos.background_photos("test")


def test_training_background_files_written_once(tmp_path):
    paths = photos.training_background_files(tmp_path)
    assert len(paths) == len(photos.background_photos("train"))
    assert all(Path(p).is_relative_to(tmp_path / "backgrounds" / "train") for p in paths)
    from fashion_tf.data.masks import read_rgb

    first = read_rgb(paths[0])
    assert first is not None and first.shape[2] == 3
    stamps = [Path(p).stat().st_mtime_ns for p in paths]
    assert photos.training_background_files(tmp_path) == paths
    assert [Path(p).stat().st_mtime_ns for p in paths] == stamps


def test_random_crop_shape_and_determinism():
    photo = photos.background_photos("query")[0]
    a = photos.random_crop(photo, 50, 70, np.random.default_rng(1))
    b = photos.random_crop(photo, 50, 70, np.random.default_rng(1))
    assert a.shape == (50, 70, 3) and np.array_equal(a, b)
