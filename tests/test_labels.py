"""Label extraction golden cases (paper section 4.2; docs/design.md, "Labels"), phrase
labels on realistic shop titles."""
from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest

import fashion_tf  # noqa: F401
from fashion_tf.data import labels as labels_module
from fashion_tf.data.catalog import load_catalog, save_catalog
from fashion_tf.data.labels import (
    extract_labels,
    label_catalog,
    load_synonyms,
    read_labels,
    singularize,
    tokenize,
)


def table(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["category", "title"])


@pytest.mark.parametrize("plural, singular", [
    ("dresses", "dress"), ("dress", "dress"), ("shoes", "shoe"), ("boots", "boot"),
    ("jeans", "jeans"), ("shorts", "shorts"), ("leggings", "leggings"), ("legging", "leggings"),
    ("accessories", "accessory"), ("hoodies", "hoodie"), ("t-shirts", "t-shirt"),
    ("watches", "watch"), ("boxes", "box"), ("scarves", "scarf"), ("sleeves", "sleeve"),
    ("bikinis", "bikini"), ("sleeveless", "sleeveless"), ("canvas", "canvas"),
    ("girls", "girls"), ("girl", "girls"), ("womens", "women"), ("bras", "bra"),
])
def test_plural_normalization(plural, singular):
    assert singularize(plural) == singular


def test_tokenize_amazon_category_and_shop_title():
    """The store root "Clothing, Shoes & Jewelry" goes; "Women's" -> "women"; "with",
    "new", "2-pack" sizes and numbers go; "T-Shirts" stays one word."""
    tokens = tokenize("Clothing, Shoes & Jewelry > Women > Clothing > Dresses",
                      "New Women's Navy Striped Maxi Dress with Pockets, 2-Pack T-Shirts Size 10")
    assert tokens == ["women", "clothing", "dress", "women", "navy", "striped", "maxi", "dress",
                      "pocket", "t-shirt", "size"]
    assert tokenize("", "Levi’s 501 Jeans &amp; Belts!!") == ["levi", "jeans", "belt"]


def test_count_is_number_of_items_not_occurrences():
    """One item saying "dress" three times counts once: counts are document frequencies."""
    labels, counts = extract_labels(table([("Dresses", "Dress dress dresses")] * 2 +
                                          [("Skirts", "Skirt")]), min_count=1, final_count=2)
    assert counts == {"dress": 2}
    assert labels == [["dress"], ["dress"], []]


def test_both_thresholds_and_synonym_merge():
    """min_count=3, final_count=5:
    "tee" (3 items) and "t-shirt" (3) each pass min_count, merge to "t-shirt" = 6 >= 5;
    "tshirt" (2 items) fails min_count, so it is dropped *before* merging;
    "ribbed" (4) passes min_count but not final_count; "cotton" (5) passes both."""
    rows = ([("Tops", "Cotton Tee")] * 3 + [("Tops", "Cotton T-Shirt")] * 2 +
            [("Tops", "Ribbed T-Shirt")] + [("Tops", "Ribbed Tshirt")] * 2 + [("Tops", "Ribbed")])
    items = table(rows)
    # single words (in a catalog this small "cotton tee" would pass as a phrase)
    labels, counts = extract_labels(items, min_count=3, final_count=5, phrases=False)
    assert counts == {"cotton": 5, "t-shirt": 6, "top": 9}
    assert labels[0] == ["cotton", "t-shirt", "top"]
    assert labels[6] == ["top"]  # "tshirt" was too rare to be merged, "ribbed" too rare to stay
    # With no synonym table, "tee" and "t-shirt" (3 items each) both miss final_count.
    _, plain = extract_labels(items, min_count=3, final_count=5, synonyms={}, phrases=False)
    assert plain == {"cotton": 5, "top": 9}
    # Thresholds of 1 keep everything, merged: 3 tee + 3 t-shirt + 2 tshirt items.
    _, everything = extract_labels(items, min_count=1, final_count=1, phrases=False)
    assert everything == {"cotton": 5, "ribbed": 4, "t-shirt": 8, "top": 9}


def test_synonym_files_json_and_yaml(tmp_path):
    json_file = tmp_path / "syn.json"
    json_file.write_text(json.dumps({"Trainers": "sneakers", "kicks": "sneaker"}))
    yaml_file = tmp_path / "syn.yaml"
    yaml_file.write_text("sneaker:\n  - trainers\n  - kicks\n")
    for path in (json_file, yaml_file):
        table_ = load_synonyms(path)
        assert table_["trainer"] == "sneaker" and table_["kick"] == "sneaker"
        assert table_["tee"] == "t-shirt"  # defaults are kept
        assert "tee" not in load_synonyms(path, include_defaults=False)
    items = table([("Shoes", "Kicks")] * 2 + [("Shoes", "Sneakers")])
    _, counts = extract_labels(items, min_count=1, final_count=3, synonyms=json_file)
    assert counts == {"shoe": 3, "sneaker": 3}
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="bad.json: synonym file should map word"):
        load_synonyms(bad)


def demo_like_items() -> pd.DataFrame:
    """Titles in the demo shop's style; every word planted in a known pattern."""
    rows = []
    garments = [("Women > Clothing > Dresses", "Maxi Dress"), ("Women > Clothing > Skirts", "Mini Skirt"),
                ("Men > Shoes > Boots", "Ankle Boots"), ("Women > Handbags", "Tote Bag")]
    colours, textures = ["Navy", "Red", "Black"], ["Striped", "Dotted", "Plaid"]
    for i, ((category, garment), colour, texture) in enumerate(
            itertools.product(garments, colours, textures)):
        gender = category.split(" > ")[0]
        detail = " with Pockets" if i % 2 else ""
        rows.append((f"Clothing, Shoes & Jewelry > {category}",
                     f"{gender}'s {colour} {texture} {garment}{detail}"))
    return table(rows)


def test_planted_words_are_recovered_on_a_demo_style_catalog():
    items = demo_like_items()  # 36 items: each colour/texture on 12, each garment on 9
    # the paper's single-word recipe (here "maxi" only ever precedes "dress": a phrase)
    labels, counts = extract_labels(items, min_count=3, final_count=6, phrases=False)
    for row, got in zip(items.itertuples(), labels):
        category_words = {singularize(w.lower()) for w in row.category.split(" > ")[1:]}
        title_words = {singularize(w.lower().replace("'s", "")) for w in row.title.split()}
        planted = (category_words | title_words) - {"with", "handbags", "handbag"}
        assert planted <= set(got), (row.title, got)
    assert counts["navy"] == counts["striped"] == 12
    assert counts["dress"] == counts["boot"] == 9
    assert counts["women"] == 27 and counts["men"] == 9
    assert counts["pocket"] == 18
    assert "clothing" in counts and "jewelry" not in counts  # store root dropped
    assert "with" not in counts


def test_label_catalog_writes_labels_json_and_cli(tmp_path, capsys):
    items = demo_like_items()
    n = len(items)
    items = items.assign(item_id=[f"i{k:02d}" for k in range(n)],
                         image=[f"images/i{k:02d}.jpg" for k in range(n)],
                         labels=[[] for _ in range(n)], split="train", domain="shop")
    save_catalog(items, tmp_path)
    catalog = label_catalog(tmp_path, min_count=3, final_count=6, phrases=False)
    data = json.loads((tmp_path / "labels.json").read_text())
    assert data["vocabulary"] == sorted(data["counts"]) == catalog.vocabulary
    assert data["num_items"] == n and data["min_count"] == 3 and data["final_count"] == 6
    assert read_labels(tmp_path) == (data["vocabulary"], data["counts"])
    reloaded = load_catalog(tmp_path)
    assert "navy" in reloaded.items["labels"][0] and reloaded.label_counts["navy"] == 12
    # The CLI relabels with other thresholds and prints a summary.
    assert labels_module.main(["--catalog", str(tmp_path), "--min-count", "10",
                               "--final-count", "12", "--no-phrases"]) == 0
    out = capsys.readouterr().out
    # women 27; clothing (dresses + skirts) 18; pocket 18; 3 colours + 3 textures 12 each.
    assert out.startswith("9 labels; top 9: women (27), clothing (18), pocket (18), black (12)")
    assert read_labels(tmp_path)[1]["navy"] == 12 and "dress" not in read_labels(tmp_path)[0]


def test_missing_columns_and_labels_file(tmp_path):
    with pytest.raises(ValueError, match="items need a 'title' column"):
        extract_labels(pd.DataFrame({"category": ["a"]}))
    with pytest.raises(FileNotFoundError, match="labels.json: not found"):
        read_labels(tmp_path)


def test_scaled_thresholds_shrink_with_the_catalog_up_to_the_papers():
    """1 % / 2 % of the items, at least 2 / 3, at most the paper's 50 / 100 (section 4.2)."""
    from fashion_tf.data.labels import scaled_thresholds

    assert scaled_thresholds(10) == (2, 3)
    assert scaled_thresholds(800) == (8, 16)
    assert scaled_thresholds(163_589) == (50, 100)


def shop_titles(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Titles as Myntra and Amazon write them: brand, gender, colour, fit, article type;
    colours and article types that are phrases ("Navy Blue", "Flip Flops") next to
    single-word ones ("Blue", "Jeans"), in both shops' word orders."""
    import random

    rng = random.Random(seed)
    brands = ["Roadster", "HRX by Hrithik Roshan", "Puma", "Nike", "Adidas", "Levis", "Mango",
              "Allen Solly", "Bata", "Woodland", "Jockey", "Hanes", "Sparx", "Campus"]
    genders = ["Men", "Women", "Boys", "Girls", "Unisex"]
    colours = ["Black", "White", "Blue", "Red", "Grey", "Maroon", "Pink", "Green", "Navy Blue", "Off White"]
    fits = ["", "", "Solid", "Printed", "Striped", "Slim Fit", "Regular Fit"]
    articles = [("Topwear", "T-shirt"), ("Topwear", "Shirt"), ("Topwear", "Sweatshirt"),
                ("Bottomwear", "Jeans"), ("Bottomwear", "Track Pants"), ("Bottomwear", "Shorts"),
                ("Footwear", "Flip Flops"), ("Footwear", "Casual Shoes"), ("Footwear", "Sports Shoes"),
                ("Footwear", "Mary Jane Flats"), ("Dress", "Dress"), ("Topwear", "Kurta")]
    rows = []
    for i in range(n):
        brand, gender, colour, fit = (rng.choice(brands), rng.choice(genders), rng.choice(colours),
                                      rng.choice(fits))
        group, article = rng.choice(articles)
        if i % 3:  # Myntra: "Roadster Men Navy Blue Slim Fit Jeans"
            title = " ".join(w for w in (brand, gender, colour, fit, article) if w)
            rows.append((f"Apparel > {group}", title))
        else:  # Amazon: "Hanes Women's Slim Fit Jeans, Navy Blue, Large"
            title = f"{brand} {gender}'s {fit + ' ' if fit else ''}{article}, {colour}, Size {rng.choice('SML')}"
            rows.append((f"Clothing, Shoes & Jewelry > {gender} > {group}", title))
    rows.append(("Footwear", "Puma Unisex Black Flip-Flops"))  # the hyphenated spelling
    return table(rows)


def test_phrases_on_shop_titles_become_one_label():
    items = shop_titles()
    labels, counts = extract_labels(items, min_count=8, final_count=16)
    vocabulary = set(counts)
    assert {"navy-blue", "off-white", "flip-flops", "track-pants", "casual-shoe", "sport-shoe",
            "slim-fit", "regular-fit"} <= vocabulary, sorted(vocabulary)
    assert "mary-jane-flat" in vocabulary  # a triple: "mary jane" first, then "flat"
    # words also used alone stay labels; words only ever inside a phrase are none
    assert {"blue", "white", "black", "jeans", "t-shirt", "shirt", "men", "women"} <= vocabulary
    assert not vocabulary & {"navy", "off", "flip", "flop", "track", "mary", "jane", "casual"}
    # chance neighbours are no phrase: gender + colour, brand + gender, colour + article
    phrases = {label for label in vocabulary if "-" in label} - {"t-shirt"}
    assert phrases == {"navy-blue", "off-white", "flip-flops", "track-pants", "casual-shoe", "sport-shoe",
                       "slim-fit", "regular-fit", "mary-jane-flat", "allen-solly", "hrithik-roshan"}
    for row, got in zip(items.itertuples(), labels):
        if " Navy Blue" in row.title:
            assert "navy-blue" in got and "blue" not in got, (row.title, got)
        if "Flip" in row.title:
            assert "flip-flops" in got, (row.title, got)  # "Flip Flops" and "Flip-Flops" alike
        if row.title.endswith("Blue Jeans") and "Navy" not in row.title:
            assert {"blue", "jeans"} <= set(got)
    # the paper's single words when phrases are off, or under a stricter threshold
    _, single = extract_labels(items, min_count=8, final_count=16, phrases=False)
    assert {"navy", "flip", "flop", "track"} <= set(single) and "navy-blue" not in single
    _, strict = extract_labels(items, min_count=8, final_count=16, phrase_threshold=0.95)
    assert "navy-blue" not in strict and "navy" in strict
    with pytest.raises(ValueError, match="phrase_threshold"):
        extract_labels(items, phrase_threshold=0.0)


def test_phrase_label_spelling_and_synonyms():
    from fashion_tf.data.labels import label_of, load_synonyms
    from fashion_tf.data.phrases import npmi

    synonyms = load_synonyms()
    assert label_of(["navy", "grey"], synonyms) == "navy-gray"
    assert label_of(["flip", "flop"], synonyms) == "flip-flops" == label_of(["flip-flops"], synonyms)
    assert label_of(["track", "pants"], synonyms) == "track-pants"
    assert label_of(["tee"], synonyms) == "t-shirt"
    # npmi: 1 for words seen only together, about 0 for independent ones
    assert npmi(10, 10, 10, 1000, discount=0) == pytest.approx(1.0)
    assert npmi(1, 100, 100, 10_000, discount=0) == pytest.approx(0.0, abs=1e-9)
    assert npmi(5, 10, 20, 1000) < npmi(10, 10, 20, 1000) < 1.0
    # the discount: two rare words seen together twice are no longer a sure phrase
    assert npmi(2, 2, 3, 300, discount=0) > 0.9 and npmi(2, 2, 3, 300) < 0.7
    assert npmi(1, 1, 1, 300) == -1.0
