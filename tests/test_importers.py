"""Every importer on a small fixture in its real format, written here (docs/design.md, "Data")."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from published_fixtures import amazon_2018_category_record

import fashion_tf  # noqa: F401
from fashion_tf.data import schema
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.importers import (
    assign_split,
    catalog_from_path,
    import_amazon,
    import_catalog,
    import_deepfashion,
    import_folder,
    import_polyvore,
    title_from_filename,
)

ROOT = Path(__file__).resolve().parent.parent


def write_image(path: Path, seed: int, size=(40, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def test_assign_split_is_deterministic_and_80_10_10():
    splits = [assign_split(f"item{i}") for i in range(4000)]
    assert splits == [assign_split(f"item{i}") for i in range(4000)]
    shares = pd.Series(splits).value_counts(normalize=True)
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["val"] - 0.1) < 0.02
    assert abs(shares["test"] - 0.1) < 0.02


# ----------------------------------------------------------------------------- Amazon

AMAZON_URL = "https://images-na.ssl-images-amazon.com/images/I/"


@pytest.fixture
def amazon_src(tmp_path) -> Path:
    """UCSD 2018 metadata (strict JSON; the fashion file's imageURL lists and a category
    file's "image" list), a 2014-style Python-literal line, gzip reviews."""
    src = tmp_path / "amazon"
    meta = [
        json.dumps({"asin": "B001", "title": "Women&#39;s Navy Maxi Dress",
                    "category": ["Clothing, Shoes & Jewelry", "Women", "Clothing", "Dresses"],
                    "imageURL": [AMAZON_URL + "71aaa._SS40_.jpg"],
                    "imageURLHighRes": [AMAZON_URL + "71aaa.jpg"], "brand": "Acme"}),
        # Resolved through the size-suffix-free basename of the small image URL.
        json.dumps({"asin": "B002", "title": "Men's Leather Boots",
                    "category": ["Clothing, Shoes & Jewelry", "Men", "Shoes", "Boots"],
                    "imageURL": [AMAZON_URL + "41bbb._SS40_.jpg"]}),
        # Python-literal record (older dumps), 2014 "categories" and "imUrl"; image <asin>.jpg.
        str({"asin": "B003", "title": "Girls' Tutu Skirt",
             "categories": [["Clothing, Shoes & Jewelry", "Girls", "Skirts"], ["Novelty"]],
             "imUrl": "http://ecx.images-amazon.com/images/I/zzz.jpg"}),
        json.dumps({"asin": "B004", "title": "No image here", "category": ["Women"],
                    "imageURL": [AMAZON_URL + "missing.jpg"]}),
        json.dumps({"asin": "B001", "title": "duplicate record"}),
        json.dumps(amazon_2018_category_record()),
        "this line is not a record",
    ]
    src.mkdir()
    (src / "meta_AMAZON_FASHION.json").write_text("\n".join(meta) + "\n")
    reviews = [
        {"overall": 5.0, "reviewerID": "U1", "asin": "B001", "unixReviewTime": 1400000000,
         "reviewTime": "05 13, 2014", "verified": True},
        {"overall": 3.0, "reviewerID": "U1", "asin": "B002", "unixReviewTime": 1400000500},
        {"overall": 4.0, "reviewerID": "U2", "asin": "B003", "unixReviewTime": 1500000000},
        {"overall": 2.0, "reviewerID": "U2", "asin": "B004", "unixReviewTime": 1500000001},
        {"overall": 1.0, "reviewerID": "U1", "asin": "B001", "unixReviewTime": 1600000000},
    ]
    with gzip.open(src / "AMAZON_FASHION.json.gz", "wt") as handle:
        handle.write("\n".join(json.dumps(r) for r in reviews) + "\n")
    write_image(src / "images" / "71aaa.jpg", 1)
    write_image(src / "images" / "sub" / "41bbb.jpg", 2)
    write_image(src / "images" / "B003.jpg", 3)
    write_image(src / "images" / "41mVrqVFZlL.jpg", 4)
    return src


def test_amazon_import(amazon_src, tmp_path):
    out = tmp_path / "catalog"
    report = import_amazon(amazon_src, out)
    catalog = load_catalog(out)
    items = catalog.items.set_index("item_id")
    assert list(items.index) == ["B001", "B002", "B003", "B07BHQ9Q5X"]
    assert items.loc["B001", "title"] == "Women's Navy Maxi Dress"
    # The category file's layout: "image" list, entities escaped twice, an HTML fragment.
    assert items.loc["B07BHQ9Q5X", "title"] == "Women's Floral Wrap Dress"
    assert items.loc["B07BHQ9Q5X", "category"] == \
        "Clothing, Shoes & Jewelry > Women > Clothing > Dresses"
    assert items.loc["B07BHQ9Q5X", "brand"] == "Floerns"
    assert items.loc["B001", "category"] == "Clothing, Shoes & Jewelry > Women > Clothing > Dresses"
    assert items.loc["B003", "category"] == "Clothing, Shoes & Jewelry > Girls > Skirts"
    assert items.loc["B002", "image"] == "images/B002.jpg"
    assert all(catalog.path(p).is_file() for p in items["image"])
    assert (items["domain"] == "shop").all() and all(v == [] for v in items["labels"])
    assert [items.loc[a, "split"] for a in items.index] == [assign_split(a) for a in items.index]
    assert report.skipped == {"no local image": 1, "duplicate item id": 1, "unreadable line": 1}
    assert report.examples["unreadable line"] == [
        "meta_AMAZON_FASHION.json line 7: this line is not a record"]
    assert report.examples["no local image"] == ["B004"]
    assert report.dropped == {"item not imported": 1,
                              "repeated review of the same item by the same user": 1}
    assert report.details["layouts"] == {"2014": 1, "2018": 5}
    inter = catalog.interactions
    assert inter[["user_id", "item_id", "rating", "timestamp"]].values.tolist() == [
        ["U1", "B001", 5, 1400000000], ["U1", "B002", 3, 1400000500],
        ["U2", "B003", 4, 1500000000]]
    assert str(inter["rating"].dtype) == "int64"
    saved = json.loads((out / "import_report.json").read_text())
    assert saved["num_items"] == 4 and saved["interactions"] == {
        "rows_read": 5, "rows_kept": 3, "written": 3,
        "dropped": {"item not imported": 1,
                    "repeated review of the same item by the same user": 1}}
    assert "imported 4 items" in report.summary()


def test_amazon_without_any_image_is_a_clear_error(amazon_src, tmp_path):
    with pytest.raises(ValueError, match="amazon import found no usable items.*no local image"):
        import_amazon(amazon_src / "meta_AMAZON_FASHION.json", tmp_path / "c",
                      images=tmp_path / "empty")


# ----------------------------------------------------------------------------- DeepFashion

def write_deepfashion(root: Path, rows: list[tuple[str, str, str]], skip_image: str = "") -> None:
    lines = [str(len(rows)), "image_name item_id evaluation_status"]
    lines += [f"{name} {pid} {status}" for name, pid, status in rows]
    (root / "Eval").mkdir(parents=True)
    (root / "Eval" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    for k, (name, _, _) in enumerate(rows):
        if name != skip_image:
            write_image(root / "Img" / name, k)


DEEPFASHION_ROWS = [
    ("img/WOMEN/Dresses/id_00000002/02_1_front.jpg", "id_00000002", "train"),
    ("img/WOMEN/Dresses/id_00000002/02_2_side.jpg", "id_00000002", "train"),
    ("img/WOMEN/Blouses_Shirts/id_00000007/01_1_front.jpg", "id_00000007", "train"),
    ("img/MEN/Denim/id_00000080/01_1_front.jpg", "id_00000080", "query"),
    ("img/MEN/Denim/id_00000080/01_2_side.jpg", "id_00000080", "gallery"),
    ("img/MEN/Denim/id_00000081/01_7_additional.jpg", "id_00000081", "gallery"),
]


def test_deepfashion_import(tmp_path):
    src = tmp_path / "inshop"
    write_deepfashion(src, DEEPFASHION_ROWS, skip_image=DEEPFASHION_ROWS[-1][0])
    report = import_deepfashion(src, tmp_path / "catalog", image_mode="copy")
    items = load_catalog(tmp_path / "catalog").items.set_index("item_id")
    assert len(items) == 5 and report.skipped == {"missing image": 1}
    row = items.loc["WOMEN_Dresses_id_00000002_02_1_front"]
    assert (row["category"], row["title"], row["product_id"], row["view"]) == (
        "Women > Dresses", "Women Dresses", "id_00000002", "front")
    assert items.loc["WOMEN_Blouses_Shirts_id_00000007_01_1_front", "category"] == \
        "Women > Blouses Shirts"
    by_status = items.groupby("evaluation_status")["split"].agg(set).to_dict()
    assert by_status["query"] == {"test"} and by_status["gallery"] == {"test"}
    # train products stay in train, or move whole to val (no product in both).
    for pid in ("id_00000002", "id_00000007"):
        assert set(items.loc[items["product_id"] == pid, "split"]) == {
            assign_split(pid, (0.9, 1.0))}
    all_train = import_deepfashion(src / "Eval" / "list_eval_partition.txt", tmp_path / "c2",
                                   images=src / "Img", val_fraction=0.0).catalog.items
    assert sorted(all_train["split"]) == ["test", "test", "train", "train", "train"]


def test_deepfashion_bad_header_is_a_clear_error(tmp_path):
    (tmp_path / "list_eval_partition.txt").write_text("1\nimage item status\nimg/a.jpg id train\n")
    with pytest.raises(ValueError, match="list_eval_partition.txt: line 2 should be the header"):
        import_deepfashion(tmp_path, tmp_path / "out")


# ----------------------------------------------------------------------------- Polyvore

def test_polyvore_import(tmp_path):
    src = tmp_path / "polyvore_outfits"
    metadata = {
        "101": {"url_name": "navy-striped-top", "description": "", "title": "",
                "semantic_category": "tops", "category_id": "11"},
        "102": {"title": "Black Leather Ankle Boots", "url_name": "x",
                "semantic_category": "shoes", "category_id": "41"},
        "103": {"title": "Red Tote", "semantic_category": "bags", "category_id": "37"},
        "104": {"title": "Missing image", "semantic_category": "tops", "category_id": "11"},
        "105": {"title": "Gold Hoop Earrings", "semantic_category": "jewellery",
                "category_id": "99"},
    }
    src.mkdir()
    (src / "polyvore_item_metadata.json").write_text(json.dumps(metadata))
    (src / "categories.csv").write_text("11,Tops,tops\n41,Ankle Boots,shoes\n37,Tote Bags,bags\n")
    for k, item_id in enumerate(["101", "102", "103", "105"]):
        write_image(src / "images" / f"{item_id}.jpg", k)
    outfits = {
        "train.json": [{"set_id": "s1", "items": [{"item_id": "101", "index": 1},
                                                  {"item_id": "102", "index": 2},
                                                  {"item_id": "104", "index": 3}]}],
        "valid.json": [{"set_id": "s2", "items": [{"item_id": "103", "index": 1},
                                                  {"item_id": "999", "index": 2}]}],
        "test.json": [{"set_id": "s3", "items": [{"item_id": "105", "index": 1},
                                                 {"item_id": "101", "index": 2}]}],
    }
    (src / "nondisjoint").mkdir()
    for name, data in outfits.items():
        (src / "nondisjoint" / name).write_text(json.dumps(data))
    report = import_polyvore(src, tmp_path / "catalog")
    items = load_catalog(tmp_path / "catalog").items.set_index("item_id")
    assert list(items.index) == ["101", "102", "103", "105"]
    assert report.skipped == {"missing image": 1, "item without metadata": 1}
    assert items.loc["101", "title"] == "navy striped top"  # from url_name
    assert items.loc["101", "category"] == "tops > Tops"
    assert items.loc["105", "category"] == "jewellery"  # category id not in categories.csv
    assert items["outfit_id"].to_dict() == {"101": "s1", "102": "s1", "103": "s2", "105": "s3"}
    assert items["split"].to_dict() == {"101": "train", "102": "train", "103": "val",
                                        "105": "test"}
    members = pd.read_parquet(tmp_path / "catalog" / schema.OUTFITS_FILE)
    assert sorted(map(tuple, members[["outfit_id", "item_id", "index"]].values.tolist())) == [
        ("s1", "101", 1), ("s1", "102", 2), ("s2", "103", 1), ("s3", "101", 2), ("s3", "105", 1)]


# ----------------------------------------------------------------------------- folder

@pytest.fixture
def photo_folder(tmp_path) -> Path:
    src = tmp_path / "photos"
    write_image(src / "dresses" / "maxi" / "navy_striped-t-shirt_01.jpg", 1)
    write_image(src / "dresses" / "maxi" / "red_dotted_dress.png", 2)
    write_image(src / "shoes" / "black-leather-boot.jpg", 3)
    write_image(src / "loose photo.jpg", 4)
    (src / "notes.txt").write_text("not an image")
    (src / "shoes" / "sizes.doc").write_text("not an image")
    return src


def test_title_from_filename():
    assert title_from_filename("navy_striped-t-shirt_01") == "navy striped t-shirt 01"
    assert title_from_filename("black--leather  boot") == "black leather boot"


def test_folder_import_in_place(photo_folder):
    report = import_folder(photo_folder)
    catalog = load_catalog(photo_folder)
    items = catalog.items.set_index("item_id")
    assert list(items.index) == ["dresses_maxi_navy_striped-t-shirt_01",
                                 "dresses_maxi_red_dotted_dress", "loose_photo",
                                 "shoes_black-leather-boot"]
    assert items.loc["dresses_maxi_red_dotted_dress", "category"] == "dresses > maxi"
    assert items.loc["dresses_maxi_red_dotted_dress", "image"] == "dresses/maxi/red_dotted_dress.png"
    assert items.loc["loose_photo", "category"] == ""
    assert items.loc["shoes_black-leather-boot", "title"] == "black leather boot"
    assert report.skipped == {"not an image file": 1}
    assert not (photo_folder / "images").exists()  # referenced in place, nothing copied
    # Re-importing in place ignores the catalog's own files.
    assert len(import_folder(photo_folder).catalog) == 4


def test_catalog_from_path_imports_a_plain_folder_into_the_cache(photo_folder, tmp_path):
    catalog = catalog_from_path(photo_folder, cache_dir=tmp_path / "cache")
    assert len(catalog) == 4 and str(catalog.root).startswith(str(tmp_path / "cache"))
    assert all(catalog.path(p).is_file() for p in catalog.items["image"])
    assert catalog_from_path(catalog.root).items.equals(catalog.items)
    with pytest.raises(ValueError, match="unknown catalog format 'csv'"):
        import_catalog("csv", photo_folder, tmp_path / "x")


def test_import_cli_with_labels(photo_folder, tmp_path):
    out = tmp_path / "cat"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "import_catalog.py"), "--format", "folder",
         "--src", str(photo_folder), "--out", str(out), "--labels", "--min-count", "2",
         "--final-count", "2"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "folder: imported 4 items" in result.stdout
    catalog = load_catalog(out)
    assert catalog.vocabulary == ["dress", "maxi"]  # words on >= 2 items
    assert all((out / p).is_file() for p in catalog.items["image"])
    assert catalog.items.set_index("item_id")["labels"]["dresses_maxi_red_dotted_dress"] == \
        ["dress", "maxi"]
