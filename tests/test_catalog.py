"""Catalog schema validation, save/load round trip and fingerprint (docs/design.md, "Data")."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import fashion_tf  # noqa: F401
from fashion_tf.data.catalog import (
    Catalog,
    CatalogError,
    catalog_fingerprint,
    load_catalog,
    save_catalog,
)


def make_items(n: int = 6) -> pd.DataFrame:
    splits = ["train", "train", "train", "val", "test", "train"]
    return pd.DataFrame({
        "item_id": [f"item{i}" for i in range(n)],
        "image": [f"images/item{i}.jpg" for i in range(n)],
        "category": ["Women > Dresses"] * n,
        "title": [f"Navy dress {i}" for i in range(n)],
        "labels": [["dress", "navy"] if i % 2 else ["dress"] for i in range(n)],
        "split": [splits[i % len(splits)] for i in range(n)],
        "domain": ["shop"] * (n - 1) + ["street"],
    })


def make_interactions() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["item0", "item1", "item2"],
                         "rating": [5, 3, 1], "timestamp": [1400000000, 1400000100, 1500000000]})


def write_items(tmp_path, items: pd.DataFrame):
    """Write a table as-is (bypassing save_catalog's validation) to test load errors."""
    items.to_parquet(tmp_path / "items.parquet", index=False)
    return tmp_path


def test_round_trip_keeps_every_table(tmp_path):
    items = make_items()
    items["outfit_id"] = ["o1", "o1", None, "o2", None, "o2"]
    queries = pd.DataFrame({"query_id": ["q1"], "image": ["queries/q1.jpg"], "item_id": ["item3"]})
    saved = save_catalog(items, tmp_path, interactions=make_interactions(), queries=queries)
    loaded = load_catalog(tmp_path)
    assert isinstance(loaded, Catalog) and len(loaded) == 6
    assert loaded.items["item_id"].tolist() == items["item_id"].tolist()
    assert loaded.items["labels"].tolist() == items["labels"].tolist()
    assert isinstance(loaded.items["labels"][0], list)
    assert loaded.items["outfit_id"].tolist() == ["o1", "o1", None, "o2", None, "o2"]
    assert loaded.interactions["rating"].tolist() == [5, 3, 1]
    assert loaded.queries["item_id"].tolist() == ["item3"]
    assert saved.items.equals(loaded.items)
    assert loaded.path("images/item0.jpg") == (tmp_path / "images/item0.jpg").absolute()
    assert loaded.split("train")["item_id"].tolist() == ["item0", "item1", "item2", "item5"]
    assert loaded.split("val")["item_id"].tolist() == ["item3"]
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        loaded.split("valid")


def test_save_is_deterministic(tmp_path):
    save_catalog(make_items(), tmp_path / "a", interactions=make_interactions())
    save_catalog(make_items(), tmp_path / "b", interactions=make_interactions())
    for name in ("items.parquet", "interactions.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_catalog_keeps_vocabulary_and_counts(tmp_path):
    catalog = Catalog(tmp_path, make_items(), vocabulary=["dress", "navy"],
                      label_counts={"dress": 6, "navy": 3})
    loaded = save_catalog(catalog, tmp_path)
    assert loaded.vocabulary == ["dress", "navy"]
    assert loaded.label_counts == {"dress": 6, "navy": 3}
    data = json.loads((tmp_path / "labels.json").read_text())
    assert data["num_items"] == 6


def test_fingerprint_is_16_hex_and_tracks_data():
    items = make_items()
    base = catalog_fingerprint(Catalog(".", items))
    assert len(base) == 16 and int(base, 16) >= 0
    shuffled = items.sample(frac=1.0, random_state=0)
    assert catalog_fingerprint(Catalog(".", shuffled)) == base  # row order is irrelevant
    for column, value in (("split", "test"), ("image", "images/other.jpg"),
                          ("labels", ["skirt"]), ("item_id", "renamed")):
        changed = items.copy()
        changed.at[0, column] = value
        assert catalog_fingerprint(Catalog(".", changed)) != base, column


def test_missing_directory_and_items_file(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")
    with pytest.raises(CatalogError, match=r"items\.parquet: not found"):
        load_catalog(tmp_path)


def test_missing_required_column_names_file_column_and_expectation(tmp_path):
    write_items(tmp_path, make_items().drop(columns=["split"]))
    with pytest.raises(CatalogError) as err:
        load_catalog(tmp_path)
    assert "items.parquet: missing required column 'split' (expected one of train/val/test)" \
        in str(err.value)


def test_mistyped_labels_column(tmp_path):
    items = make_items()
    items["labels"] = 3
    write_items(tmp_path, items)
    with pytest.raises(CatalogError, match=r"items\.parquet: column 'labels' should be list of "
                                           r"str, found int64"):
        load_catalog(tmp_path)


def test_mistyped_str_column(tmp_path):
    items = make_items()
    items["title"] = 1.5
    write_items(tmp_path, items)
    with pytest.raises(CatalogError, match=r"items\.parquet: column 'title' should be str, "
                                           r"found float64"):
        load_catalog(tmp_path)


def test_duplicate_item_id(tmp_path):
    items = make_items()
    items.loc[3, "item_id"] = "item0"
    write_items(tmp_path, items)
    with pytest.raises(CatalogError, match=r"items\.parquet: column 'item_id' should be unique, "
                                           r"found 1 duplicate\(s\), e\.g\. 'item0'"):
        load_catalog(tmp_path)


def test_split_outside_train_val_test(tmp_path):
    items = make_items()
    items.loc[2, "split"] = "valid"
    write_items(tmp_path, items)
    with pytest.raises(CatalogError, match=r"items\.parquet: column 'split' should be one of "
                                           r"train/val/test, found \['valid'\]"):
        load_catalog(tmp_path)


def test_bad_domain(tmp_path):
    items = make_items()
    items.loc[0, "domain"] = "studio"
    write_items(tmp_path, items)
    with pytest.raises(CatalogError, match=r"column 'domain' should be one of shop/street"):
        load_catalog(tmp_path)


def test_rating_outside_1_to_5(tmp_path):
    save_catalog(make_items(), tmp_path)
    interactions = make_interactions()
    interactions.loc[1, "rating"] = 7
    interactions.to_parquet(tmp_path / "interactions.parquet", index=False)
    with pytest.raises(CatalogError, match=r"interactions\.parquet: column 'rating' should be "
                                           r"between 1 and 5, found 7"):
        load_catalog(tmp_path)


def test_float_rating_is_a_type_error(tmp_path):
    interactions = make_interactions().astype({"rating": "float64"})
    with pytest.raises(CatalogError, match=r"interactions\.parquet: column 'rating' should be "
                                           r"int, found float64"):
        save_catalog(make_items(), tmp_path, interactions=interactions)


def test_interaction_of_unknown_item(tmp_path):
    interactions = make_interactions()
    interactions.loc[0, "item_id"] = "ghost"
    with pytest.raises(CatalogError, match=r"interactions\.parquet: column 'item_id' should name "
                                           r"items of items\.parquet, found 1 unknown id\(s\), "
                                           r"e\.g\. 'ghost'"):
        save_catalog(make_items(), tmp_path, interactions=interactions)


def test_item_label_outside_vocabulary(tmp_path):
    save_catalog(make_items(), tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps({"vocabulary": ["dress"], "counts": {}}))
    with pytest.raises(CatalogError, match=r"items\.parquet: column 'labels' should only hold "
                                           r"labels of labels\.json, found \['navy'\]"):
        load_catalog(tmp_path)


def test_corrupt_labels_json(tmp_path):
    save_catalog(make_items(), tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps({"vocabulary": "dress"}))
    with pytest.raises(CatalogError, match=r"labels\.json: field 'vocabulary' should be a list"):
        load_catalog(tmp_path)
