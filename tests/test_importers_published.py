"""The published data sets (Amazon 2014/2023, Fashion Product Images, H&M), each on a
fixture written in its exact format (``published_fixtures.py``); Amazon 2018 is in
test_importers.py. Ends with a tiny training run on an imported catalog."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import cv2
import pandas as pd
import published_fixtures as published
import pytest

import fashion_tf  # noqa: F401
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.importers import (
    import_amazon,
    import_fashion_product_images,
    import_hm,
    purchases_to_rating,
)
from fashion_tf.data.importers.attribute_labels import label_catalog_from
from fashion_tf.training_data import resolve_catalog

ROOT = Path(__file__).resolve().parent.parent


def day(date: str) -> int:
    return int(pd.Timestamp(date, tz="UTC").timestamp())


def import_cli():
    spec = importlib.util.spec_from_file_location("import_catalog",
                                                  ROOT / "tools" / "import_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- Amazon

def test_amazon_2014_python_literals_gzip_and_ratings_csv(tmp_path):
    src = published.amazon_2014(tmp_path / "amazon14")
    report = import_amazon(src, tmp_path / "cat")
    items = report.catalog.items.set_index("item_id")
    assert list(items.index) == ["0000031887", "0123456479"]
    assert items.loc["0000031887", "category"] == \
        "Clothing, Shoes & Jewelry > Girls > Clothing > Active > Active Skirts"
    assert items.loc["0000031887", "title"] == "Ballet Dress-Up Fairy Tutu"
    assert items.loc["0000031887", "brand"] == "Boutique Cutie"
    assert report.details["layouts"] == {"2014": 3}
    assert report.skipped == {"no local image": 1}
    assert report.examples["no local image"] == ["1608299953"]
    assert report.catalog.interactions.values.tolist() == [
        ["A1KLRMWW2FWPL4", "0000031887", 5, 1297468800],
        ["A2G5TCU2WDFZ65", "0123456479", 4, 1358553600]]
    assert report.dropped == {"item not imported": 1}
    with pytest.raises(ValueError, match="no structured attributes; use titles"):
        label_catalog_from(tmp_path / "cat", "attributes", ())

    # Ratings-only CSV files: 2014 user,item,... and 2018 item,user,...; no header.
    rows = [("A1", "0000031887", 5.0, 1297468800), ("A2", "0123456479", 2.0, 1358553600),
            ("A2", "1608299953", 1.0, 1358553601)]
    for name, item_first in (("ratings_Clothing_Shoes_and_Jewelry.csv", False),
                             ("Clothing_Shoes_and_Jewelry.csv", True)):
        csv_path = published.amazon_ratings_csv(tmp_path / name, item_first, rows)
        report = import_amazon(src, tmp_path / "cat", reviews=csv_path)
        assert report.details["ratings_columns"] == \
            ("item,user" if item_first else "user,item") + ",rating,timestamp"
        assert report.catalog.interactions.values.tolist() == [
            ["A1", "0000031887", 5, 1297468800], ["A2", "0123456479", 2, 1358553600]]
        assert report.dropped == {"item not imported": 1}


def test_amazon_2023_parent_asin_image_objects_millisecond_timestamps(tmp_path):
    src = published.amazon_2023(tmp_path / "amazon23")
    report = import_amazon(src, tmp_path / "cat")
    items = report.catalog.items.set_index("item_id")
    assert list(items.index) == ["B08BHN9PK5", "B08R39MRDW"]
    # No category path in the record: main_category; the MAIN image's hi_res file.
    assert items.loc["B08BHN9PK5", "category"] == "AMAZON FASHION"
    assert items.loc["B08R39MRDW", "category"] == \
        "Clothing, Shoes & Jewelry > Women > Clothing > Pants"
    assert items.loc["B08BHN9PK5", "brand"] == "GiveGift"
    image = cv2.imread(str(report.catalog.path(items.loc["B08BHN9PK5", "image"])))
    original = cv2.imread(str(src / "images" / "81XlFXImFrS.jpg"))
    assert (image == original).all()
    assert report.details["layouts"] == {"2023": 4}
    assert report.skipped == {"no local image": 1, "missing field parent_asin": 1}
    # The reviews file is gzip under a plain .jsonl name; timestamps were milliseconds.
    assert report.catalog.interactions.values.tolist() == [
        ["AGBFYI2DDIKXC5Y4FARTYDTQBMFQ", "B08BHN9PK5", 5, 1578528394],
        ["AGBFYI2DDIKXC5Y4FARTYDTQBMFQ", "B08R39MRDW", 4, 1608426246]]
    assert report.dropped == {"item not imported": 1, "missing field user/item/rating": 1}
    assert report.examples["missing field user/item/rating"] == ["Amazon_Fashion.jsonl record 4"]


def test_amazon_folder_with_unrelated_review_files_is_a_clear_error(tmp_path):
    src = published.amazon_2023(tmp_path / "amazon23")
    (src / "Beauty.jsonl").write_text("{}\n")
    (src / "Amazon_Fashion.jsonl").rename(src / "Fashion_reviews.jsonl")
    with pytest.raises(ValueError, match=r"several review files .* pass one with --reviews"):
        import_amazon(src, tmp_path / "cat")


# ----------------------------------------------------------------------------- Fashion Product Images

def test_fashion_product_images_keeps_unquoted_commas_and_attributes(tmp_path):
    """Labels from attributes with final_count 2: over the 8 imported items, the values
    on >= 2 items are apparel (6), casual (6), men (5), topwear (4), summer (4),
    bottomwear, fall, black, women and t-shirt (2 each; "Tshirts" -> "t-shirt" via the
    synonym table); "NA" is no label, "Shirts" (1 item) is dropped."""
    published.fashion_product_images(tmp_path / "download")
    report = import_fashion_product_images(tmp_path / "download", tmp_path / "cat", labels=True,
                                           labels_from="attributes", min_count=2, final_count=2)
    items = report.catalog.items.set_index("item_id")
    assert list(items.index) == ["11305", "15970", "21379", "39386", "42419", "53759",
                                 "53781", "59263"]
    assert items.loc["11305", "title"] == "Puma Men's Ferrari Track Jacket, Red"
    assert items.loc["42419", "title"] == "Gini and Jony Girls Knit, White, Top"
    assert report.details["names_with_unquoted_commas"] == 2
    assert items.loc["15970", "category"] == "Men > Apparel > Topwear > Shirts"
    assert items.loc["15970", ["baseColour", "season", "year", "usage"]].tolist() == [
        "Navy Blue", "Fall", "2011", "Casual"]
    assert pd.isna(items.loc["53781", "year"]) and items.loc["53781", "usage"] == "NA"
    assert report.skipped == {"no image": 1, "unreadable line": 1}
    assert report.examples["unreadable line"] == ["styles.csv line 11: 1855,Men,Apparel,Topwear"]
    assert report.examples["no image"] == ["39403 (39403.jpg not in images/)"]
    catalog = load_catalog(tmp_path / "cat")
    assert catalog.vocabulary == ["apparel", "black", "bottomwear", "casual", "fall", "men",
                                  "summer", "t-shirt", "topwear", "women"]
    labels = catalog.items.set_index("item_id")["labels"]
    assert labels["11305"] == ["apparel", "men", "summer", "t-shirt", "topwear"]
    assert labels["53781"] == ["black", "women"]


def test_fashion_product_images_small_variant_through_the_cli(tmp_path, capsys):
    published.fashion_product_images(tmp_path / "small", small=True)
    out, report_path = tmp_path / "cat", tmp_path / "report.json"
    assert import_cli().main([
        "--format", "fashion-product-images", "--src", str(tmp_path / "small"), "--out",
        str(out), "--labels-from", "both", "--min-count", "2", "--final-count", "2",
        "--report", str(report_path)]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"items imported +8\n", printed)
    assert re.search(r"items skipped: no image +1  e\.g\. 39403", printed)
    assert "labels from both:" in printed
    catalog = load_catalog(out)
    image = cv2.imread(str(catalog.path(catalog.items["image"][0])))
    assert image.shape == (80, 60, 3)
    # "both": the attribute labels plus words of the titles ("puma" is in two titles).
    assert {"apparel", "t-shirt", "puma"} <= set(catalog.vocabulary)
    saved = json.loads(report_path.read_text())
    assert saved["skipped"] == {"no image": 1, "unreadable line": 1}
    assert saved == json.loads((out / "import_report.json").read_text())


def test_fashion_product_images_wrong_header_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "styles.csv").write_text("id,gender,category\n1,Men,Shirts\n")
    with pytest.raises(ValueError, match=r"styles.csv: header should be id,gender,"
                                         r"masterCategory,.*found 'id,gender,category'"):
        import_fashion_product_images(tmp_path, tmp_path / "cat")
    assert import_cli().main(["--format", "fashion-product-images", "--src", str(tmp_path),
                              "--out", str(tmp_path / "cat")]) == 2
    assert "error: " in capsys.readouterr().err


# ----------------------------------------------------------------------------- H&M

def test_hm_articles_transactions_and_report(tmp_path):
    src = published.hm(tmp_path / "hm")
    report = import_hm(src, tmp_path / "cat")
    items = report.catalog.items.set_index("item_id")
    assert list(items.index) == ["0108775015", "0108775044", "0110065001", "0176209023"]
    assert items.loc["0108775015", "category"] == "Ladieswear > Garment Upper body > Vest top"
    assert items.loc["0108775015", "title"] == "Strap top"
    assert items.loc["0108775015", "colour_group_name"] == "Black"
    assert items.loc["0176209023", "detail_desc"] == \
        'Short skirt in sturdy jersey with a "tulip" hem.'
    assert items.loc["0110065001", "detail_desc"].startswith("Microfibre T-shirt bra with "
                                                             "underwired, moulded,")
    # Colour variants of one product share a split.
    assert items.loc["0108775015", "split"] == items.loc["0108775044", "split"]
    assert report.skipped == {"no image": 1}
    assert report.examples["no image"] == ["0111565001 (no 011/0111565001.jpg)"]
    inter = report.catalog.interactions
    c0, c1, c2 = published.CUSTOMERS
    assert inter[["user_id", "item_id", "rating", "timestamp", "purchases"]].values.tolist() == [
        [c0, "0110065001", 4, day("2018-09-20"), 1],
        [c0, "0108775015", 5, day("2020-06-02"), 2],  # bought twice: rating 5, last day
        [c1, "0108775044", 4, day("2020-06-03"), 1],
        [c2, "0176209023", 4, day("2020-06-05"), 1]]
    assert report.interaction_rows_read == 10
    assert report.dropped == {"unreadable row": 3, "article not imported": 2}
    assert [e.split(":")[0] for e in report.examples["unreadable row"]] == [
        "transactions_train.csv line 9", "transactions_train.csv line 10",
        "transactions_train.csv line 11"]
    table = report.table()
    assert re.search(r"interaction rows read +10\n", table)
    assert re.search(r"interaction rows kept +5\n", table)
    assert re.search(r"dropped: article not imported +2  e\.g\. transactions_train\.csv "
                     r"line 6: 2020-06-03,00007d2de826\.\.,0111565001", table)
    assert re.search(r"interactions written +4$", table)


def test_hm_since_chunks_and_ids_without_leading_zeros(tmp_path):
    src = published.hm(tmp_path / "hm")
    whole = import_hm(src, tmp_path / "whole", since="2020-06-01").catalog.interactions
    assert whole["item_id"].tolist() == ["0108775015", "0108775044", "0176209023"]
    assert whole["purchases"].tolist() == [1, 1, 1]  # the 2018 purchase is before --since
    # Read two rows at a time: the same interactions, the same counts.
    report = import_hm(src, tmp_path / "chunked", since="2020-06-01", chunk_rows=2)
    pd.testing.assert_frame_equal(report.catalog.interactions, whole)
    assert report.dropped == {"before --since": 2, "unreadable row": 3,
                              "article not imported": 2}
    # Files re-saved by a tool that read the ids as numbers: the zeros come back.
    for name in ("articles.csv", "transactions_train.csv"):
        text = (src / name).read_text()
        (src / name).write_text(re.sub(r"(^|,)0(\d{9})(?=,|$)", r"\g<1>\2", text, flags=re.MULTILINE))
    assert "\n108775015,0108775," in (src / "articles.csv").read_text()
    stripped = import_hm(src, tmp_path / "stripped", since="2020-06-01")
    assert list(stripped.catalog.items["item_id"]) == \
        ["0108775015", "0108775044", "0110065001", "0176209023"]
    pd.testing.assert_frame_equal(stripped.catalog.interactions, whole)
    with pytest.raises(ValueError, match=r"--since 'June': expected a date like 2020-06-01"):
        import_hm(src, tmp_path / "x", since="June")


def test_purchases_to_rating():
    assert purchases_to_rating([1, 2, 3, 40]).tolist() == [4, 5, 5, 5]


def test_hm_missing_published_column_is_a_clear_error(tmp_path):
    (tmp_path / "articles.csv").write_text("article_id,prod_name\n0108775015,Strap top\n")
    with pytest.raises(ValueError, match=r"articles.csv: missing column\(s\) "
                                         r"\['product_type_name',"):
        import_hm(tmp_path, tmp_path / "cat")


# ----------------------------------------------------------------------------- training

def test_imported_catalogs_train(tmp_path):
    """`python -m fashion_tf.train --data CATALOG` on an imported Fashion Product Images
    catalog (tiny model, 1 epoch, 32 px); the H&M and Amazon 2023 catalogs through the
    catalog resolution the trainer starts with (labels extracted on the fly)."""
    published.fashion_product_images(tmp_path / "fpi", extra=32)
    fpi = import_fashion_product_images(tmp_path / "fpi", tmp_path / "fpi_cat", labels=True,
                                        labels_from="attributes", final_count=3).catalog
    hm = import_hm(published.hm(tmp_path / "hm", extra=20), tmp_path / "hm_cat").catalog
    amazon = import_amazon(published.amazon_2023(tmp_path / "a23", extra=20),
                           tmp_path / "a23_cat").catalog
    for catalog in (hm, amazon):
        resolved = resolve_catalog(catalog.root)
        assert resolved.vocabulary and (resolved.items["split"] == "train").any()
        assert sum(map(len, resolved.items["labels"])) > len(resolved.items)

    # The CLI's own entry point and argv, in this process (TensorFlow is loaded once).
    from fashion_tf import train

    run = tmp_path / "run"
    assert train.main(["--data", str(fpi.root), "--model", "tiny", "--epochs", "1",
                       "--image-size", "32", "--batch-size", "16", "--weights", "none",
                       "--background-p", "0", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "finished" and config["vocabulary"] == fpi.vocabulary
    assert json.loads((run / "metrics.json").read_text())["num_images"] > 0
