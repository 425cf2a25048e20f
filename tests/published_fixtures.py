"""Small copies of the published fashion data sets, in their exact formats and quirks.

Field names, orders, encodings and quirks follow the files as downloaded: Amazon 2014
(Python-literal metadata), 2018 (``image`` lists in category files, HTML entities) and
2023 (``images`` objects, millisecond timestamps, gzip under a plain name); Fashion
Product Images' unquoted styles.csv; H&M's zero-padded ids and quoted descriptions.
"""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import cv2
import numpy as np

AMAZON_2014_URL = "http://ecx.images-amazon.com/images/I/"
AMAZON_2018_URL = "https://images-na.ssl-images-amazon.com/images/I/"
AMAZON_2023_URL = "https://m.media-amazon.com/images/I/"


def write_image(path: Path, seed: int, size=(40, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def write_lines(path: Path, lines: list[str], gzipped: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if gzipped:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- Amazon 2014

def amazon_2014(root: Path) -> Path:
    """meta_Clothing_Shoes_and_Jewelry.json.gz (Python literals), 5-core reviews gz."""
    meta = [
        {"asin": "0000031887", "title": "Ballet Dress-Up Fairy Tutu",
         "price": 6.79, "imUrl": AMAZON_2014_URL + "314qZjYe%2BBL._SY300_.jpg",
         "related": {"also_bought": ["0000031852"]}, "brand": "Boutique Cutie",
         "categories": [["Clothing, Shoes & Jewelry", "Girls", "Clothing", "Active",
                         "Active Skirts"], ["Clothing, Shoes & Jewelry", "Novelty"]]},
        {"asin": "0123456479", "title": "SHINING IMAGE HUGE PINK LEATHER JEWELRY BOX",
         "imUrl": AMAZON_2014_URL + "413tGhqo2vL._SY300_.jpg",
         "categories": [["Clothing, Shoes & Jewelry", "Women", "Accessories",
                         "Jewelry Accessories", "Jewelry Boxes & Organizers"]]},
        {"asin": "1608299953", "title": "No picture downloaded",
         "imUrl": AMAZON_2014_URL + "51nAnotthere.jpg", "categories": [["Women"]]},
    ]
    write_lines(root / "meta_Clothing_Shoes_and_Jewelry.json.gz", [str(m) for m in meta],
                gzipped=True)
    reviews = [
        {"reviewerID": "A1KLRMWW2FWPL4", "asin": "0000031887", "reviewerName": "Amazon Customer",
         "helpful": [0, 0], "reviewText": "Lovely tutu.", "overall": 5.0,
         "summary": "Great tutu", "unixReviewTime": 1297468800, "reviewTime": "02 12, 2011"},
        {"reviewerID": "A2G5TCU2WDFZ65", "asin": "0123456479", "helpful": [1, 1],
         "reviewText": "Pretty box.", "overall": 4.0, "summary": "Nice",
         "unixReviewTime": 1358553600, "reviewTime": "01 19, 2013"},
        {"reviewerID": "A2G5TCU2WDFZ65", "asin": "1608299953", "overall": 2.0,
         "unixReviewTime": 1358553601, "reviewTime": "01 19, 2013"},
    ]
    write_lines(root / "reviews_Clothing_Shoes_and_Jewelry_5.json.gz",
                [json.dumps(r) for r in reviews], gzipped=True)
    write_image(root / "images" / "314qZjYe+BL.jpg", 21)  # the URL's %2B unquoted
    write_image(root / "images" / "413tGhqo2vL.jpg", 22)
    return root


def amazon_ratings_csv(path: Path, item_first: bool, rows: list[tuple[str, str, float, int]]):
    """Ratings-only CSV, no header: 2014 user,item,rating,time; 2018 item,user,rating,time."""
    lines = [f"{i},{u},{r},{t}" if item_first else f"{u},{i},{r},{t}" for u, i, r, t in rows]
    return write_lines(path, lines)


# ----------------------------------------------------------------------------- Amazon 2018

def amazon_2018_category_record() -> dict:
    """A Clothing_Shoes_and_Jewelry 2018 record: images under "image", double-escaped
    entities and an HTML fragment in "category"."""
    return {"category": ["Clothing, Shoes &amp; Jewelry", "Women", "Clothing", "Dresses",
                         '<span class="a-size-small">Casual</span>'],
            "tech1": "", "description": ["Flowy dress"], "fit": "",
            "title": "Women&amp;#39;s Floral Wrap Dress", "also_buy": [], "tech2": "",
            "brand": "Floerns", "feature": [], "rank": "5,202 in Clothing", "also_view": [],
            "main_cat": "<img src=\"x\" alt=\"AMAZON FASHION\"/>", "similar_item": "",
            "date": "", "price": "$21.99", "asin": "B07BHQ9Q5X",
            "image": [AMAZON_2018_URL + "41mVrqVFZlL._SR38,50_.jpg"]}


# ----------------------------------------------------------------------------- Amazon 2023

def amazon_2023(root: Path, extra: int = 0) -> Path:
    """meta_Amazon_Fashion.jsonl (plain), Amazon_Fashion.jsonl gzip under a plain name;
    ``extra`` more items (dresses and boots) for a catalog large enough to label."""
    meta = [
        {"main_category": "AMAZON FASHION", "title": "YUEDGE 5 Pairs Men's Moisture Control "
         "Cushioned Dry Fit Casual Athletic Crew Socks", "average_rating": 4.6,
         "rating_number": 16, "features": [], "description": [], "price": None,
         "images": [{"thumb": AMAZON_2023_URL + "41+cCfaVOFS._AC_SR38,50_.jpg",
                     "large": AMAZON_2023_URL + "41+cCfaVOFS._AC_.jpg",
                     "variant": "MAIN",
                     "hi_res": AMAZON_2023_URL + "81XlFXImFrS._AC_UL1500_.jpg"},
                    {"thumb": AMAZON_2023_URL + "51zzz._AC_SR38,50_.jpg",
                     "large": AMAZON_2023_URL + "51zzz._AC_.jpg", "variant": "PT01",
                     "hi_res": None}],
         "videos": [], "store": "GiveGift", "categories": [],
         "details": {"Package Dimensions": "10 x 8 x 1 inches"},
         "parent_asin": "B08BHN9PK5", "bought_together": None},
        {"main_category": "AMAZON FASHION", "title": "DouBCQ Women's Palazzo Lounge Wide Leg "
         "Casual Flowy Pants", "average_rating": 4.1, "rating_number": 7,
         "images": [{"thumb": AMAZON_2023_URL + "31sO8kUJ2xL._AC_SR38,50_.jpg",
                     "large": AMAZON_2023_URL + "31sO8kUJ2xL._AC_.jpg", "variant": "MAIN",
                     "hi_res": None}],
         "store": "DouBCQ", "categories": ["Clothing, Shoes & Jewelry", "Women", "Clothing",
                                           "Pants"],
         "details": {}, "parent_asin": "B08R39MRDW"},
        {"main_category": "AMAZON FASHION", "title": "Image never downloaded", "images": [],
         "store": "", "categories": [], "parent_asin": "B0BRKWYRMN"},
        {"main_category": "AMAZON FASHION", "title": "A record without its id", "images": []},
    ]
    for k in range(extra):
        kind, name = [("Dresses", "Wrap Dress"), ("Boots", "Ankle Boot")][k % 2]
        meta.append({"main_category": "AMAZON FASHION", "title": f"Women's {name} {k}",
                     "images": [{"thumb": None, "large": AMAZON_2023_URL + f"X{k}._AC_.jpg",
                                 "variant": "MAIN", "hi_res": None}],
                     "categories": ["Clothing, Shoes & Jewelry", "Women", kind],
                     "parent_asin": f"B0EXTRA{k:03d}"})
        write_image(root / "images" / f"X{k}.jpg", 100 + k)
    write_lines(root / "meta_Amazon_Fashion.jsonl", [json.dumps(m) for m in meta])
    reviews = [
        {"rating": 5.0, "title": "Pretty locket", "text": "I think this locket is",
         "images": [], "asin": "B08BHN9PK5A", "parent_asin": "B08BHN9PK5",
         "user_id": "AGBFYI2DDIKXC5Y4FARTYDTQBMFQ", "timestamp": 1578528394489,
         "helpful_vote": 3, "verified_purchase": True},
        {"rating": 4.0, "title": "Comfy", "text": "Nice pants", "images": [],
         "asin": "B08R39MRDW", "parent_asin": "B08R39MRDW",
         "user_id": "AGBFYI2DDIKXC5Y4FARTYDTQBMFQ", "timestamp": 1608426246701,
         "helpful_vote": 0, "verified_purchase": True},
        {"rating": 1.0, "title": "No", "text": "", "images": [], "asin": "B0BRKWYRMN",
         "parent_asin": "B0BRKWYRMN", "user_id": "AFQLNQNQYFWQZPJQZS6V3NZU4QBQ",
         "timestamp": 1672531200000, "helpful_vote": 0, "verified_purchase": False},
        {"rating": 3.0, "title": "no user", "asin": "B08R39MRDW", "parent_asin": "B08R39MRDW",
         "timestamp": 1672531200000},
    ]
    # Named .jsonl but gzip inside: a download tool kept the name and not the suffix.
    write_lines(root / "Amazon_Fashion.jsonl", [json.dumps(r) for r in reviews], gzipped=True)
    write_image(root / "images" / "81XlFXImFrS.jpg", 31)
    write_image(root / "images" / "31sO8kUJ2xL.jpg", 32)
    return root


# ----------------------------------------------------------------------------- Fashion Product Images

STYLES_HEADER = ("id,gender,masterCategory,subCategory,articleType,baseColour,season,year,"
                 "usage,productDisplayName")
STYLES_ROWS = [
    "15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt",
    "39386,Men,Apparel,Bottomwear,Jeans,Blue,Summer,2012,Casual,Peter England Men Party Blue Jeans",
    "59263,Women,Accessories,Watches,Watches,Silver,Winter,2016,Casual,Titan Women Silver Watch",
    ("21379,Men,Apparel,Bottomwear,Track Pants,Black,Fall,2011,Casual,"
    "Manchester United Men Solid Black Track Pants"),
    "53759,Men,Apparel,Topwear,Tshirts,Grey,Summer,2012,Casual,Puma Men Grey T-shirt",
    # Unquoted commas in the last field, as published.
    "11305,Men,Apparel,Topwear,Tshirts,Red,Summer,2011,Sports,Puma Men's Ferrari Track Jacket, Red",
    "42419,Girls,Apparel,Topwear,Tops,White,Summer,2012,Casual,Gini and Jony Girls Knit, White, Top",
    # Empty year and usage.
    ("53781,Women,Personal Care,Fragrance,Perfume and Body Mist,Black,Spring,,NA,"
    "Davidoff Women Cool Water Perfume"),
    # Listed, never photographed (the published set has a few such ids).
    "39403,Women,Apparel,Topwear,Kurtas,Beige,Summer,2012,Ethnic,Biba Women Beige Kurta",
    "1855,Men,Apparel,Topwear",  # cut short
]


def fashion_product_images(root: Path, extra: int = 0, small: bool = False) -> Path:
    """fashion-dataset/styles.csv + images/<id>.jpg (small: myntradataset/, 60x80 px)."""
    folder = root / ("myntradataset" if small else "fashion-dataset")
    rows = list(STYLES_ROWS)
    kinds = [("Men", "Topwear", "Tshirts", "Navy Blue"), ("Women", "Topwear", "Tops", "White"),
             ("Men", "Bottomwear", "Jeans", "Blue"), ("Women", "Bottomwear", "Skirts", "Black")]
    for k in range(extra):
        gender, sub, article, colour = kinds[k % len(kinds)]
        rows.append(f"{60000 + k},{gender},Apparel,{sub},{article},{colour},Summer,2012,Casual,"
                    f"Roadster {gender} {colour} {article}")
    write_lines(folder / "styles.csv", [STYLES_HEADER] + rows)
    size = (80, 60) if small else (48, 40)
    for k, row in enumerate(rows):
        item = row.split(",")[0]
        if item not in ("39403", "1855"):
            write_image(folder / "images" / f"{item}.jpg", k, size)
    return folder


# ----------------------------------------------------------------------------- H&M

ARTICLES_HEADER = [
    "article_id", "product_code", "prod_name", "product_type_no", "product_type_name",
    "product_group_name", "graphical_appearance_no", "graphical_appearance_name",
    "colour_group_code", "colour_group_name", "perceived_colour_value_id",
    "perceived_colour_value_name", "perceived_colour_master_id", "perceived_colour_master_name",
    "department_no", "department_name", "index_code", "index_name", "index_group_no",
    "index_group_name", "section_no", "section_name", "garment_group_no", "garment_group_name",
    "detail_desc"]
ARTICLES = [
    ["0108775015", "0108775", "Strap top", "253", "Vest top", "Garment Upper body", "1010016",
     "Solid", "09", "Black", "4", "Dark", "5", "Black", "1676", "Jersey Basic", "A",
     "Ladieswear", "1", "Ladieswear", "16", "Womens Everyday Basics", "1002", "Jersey Basic",
     "Jersey top with narrow shoulder straps."],
    ["0108775044", "0108775", "Strap top", "253", "Vest top", "Garment Upper body", "1010016",
     "Solid", "10", "White", "3", "Light", "9", "White", "1676", "Jersey Basic", "A",
     "Ladieswear", "1", "Ladieswear", "16", "Womens Everyday Basics", "1002", "Jersey Basic",
     "Jersey top with narrow shoulder straps."],
    ["0110065001", "0110065", "OP T-shirt(Idro)", "306", "Bra", "Underwear", "1010016",
     "Solid", "09", "Black", "4", "Dark", "5", "Black", "1339", "Clean Lingerie", "B",
     "Lingeries/Tights", "1", "Ladieswear", "61", "Womens Lingerie", "1017",
     "Under-, Nightwear", ("Microfibre T-shirt bra with underwired, moulded, lightly padded "
     "cups that shape the bust and provide good support. Narrow adjustable shoulder straps "
     "and a narrow hook-and-eye fastening at the back. Without visible seams for greater "
     "discretion.")],
    ["0111565001", "0111565", "20 den 1p Stockings", "304", "Underwear Tights",
     "Socks & Tights", "1010016", "Solid", "09", "Black", "4", "Dark", "5", "Black", "3608",
     "Tights basic", "B", "Lingeries/Tights", "1", "Ladieswear", "62", ("Womens Nightwear, "
     "Socks & Tigh"), "1021", "Socks and Tights", ""],  # empty detail_desc
    ["0176209023", "0176209", "Gaffa", "275", "Skirt", "Garment Lower body", "1010016",
     "Solid", "13", "Beige", "2", "Medium Dusty", "11", "Beige", "1722", "Jersey inactive from s1",
     "A", "Ladieswear", "1", "Ladieswear", "15", "Womens Everyday Collection", "1005",
     "Jersey Fancy", "Short skirt in sturdy jersey with a \"tulip\" hem."],
]
CUSTOMERS = ["000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318",
             "00007d2de826758b65a93dd24ce629ed66842531df6699338c5570910a014cc2",
             "00083cda041544b2fbb0e0d2905ad17da7cf1007526fb4c73235dccbbc132280"]


def _extra_article(k: int) -> list[str]:
    """A strap top or a skirt of a new product (its own product_code, hence split)."""
    article = list(ARTICLES[k % 2 * 4])
    product = int(article[1]) + 1 + k
    article[:2] = [f"{product:07d}001", f"{product:07d}"]
    return article


def hm(root: Path, extra: int = 0) -> Path:
    """articles.csv, transactions_train.csv and images/<3 digits>/<10 digits>.jpg;
    ``extra`` more articles, each bought once, for a catalog large enough to label."""
    root.mkdir(parents=True, exist_ok=True)
    articles = [list(a) for a in ARTICLES]
    for k in range(extra):
        articles.append(_extra_article(k))
    with (root / "articles.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)  # quotes only the fields that need it, as published
        writer.writerow(ARTICLES_HEADER)
        writer.writerows(articles)
    for k, article in enumerate(articles):
        if article[0] != "0111565001":  # an article without a photograph
            write_image(root / "images" / article[0][:3] / f"{article[0]}.jpg", 40 + k)
    c0, c1, c2 = CUSTOMERS
    lines = ["t_dat,customer_id,article_id,price,sales_channel_id",
             f"2018-09-20,{c0},0108775015,0.0508474576271186,2",
             f"2018-09-20,{c0},0110065001,0.0305084745762711,2",
             f"2020-06-02,{c0},0108775015,0.0508474576271186,2",  # bought again
             f"2020-06-03,{c1},0108775044,0.0169491525423728,1",
             f"2020-06-03,{c1},0111565001,0.0084576271186440,1",  # article without image
             f"2020-06-04,{c2},0999999999,0.0101694915254237,2",  # not in articles.csv
             f"2020-06-05,{c2},0176209023,0.0338813559322033,2",
             "2020-06-05,,0176209023,0.03,2",  # no customer
             "not a date,{c2},0176209023,0.03,2".replace("{c2}", c2),
             f"2020-06-06,{c2}"]  # cut short
    for k in range(extra):
        lines.append(f"2020-07-01,{CUSTOMERS[k % 3]},{_extra_article(k)[0]},0.02,2")
    write_lines(root / "transactions_train.csv", lines)
    return root
