"""The three published layouts of the Amazon review data, told apart by their records.

2014 (McAuley et al., "Image-based recommendations on styles and substitutes")::

    meta_Clothing_Shoes_and_Jewelry.json.gz   Python-literal lines:
        {'asin': ..., 'title': ..., 'imUrl': url, 'categories': [[path], [path]], 'brand': ...}
    reviews_Clothing_Shoes_and_Jewelry[_5].json.gz
        {"reviewerID", "asin", "overall": 5.0, "unixReviewTime": s, ...}
    ratings_Clothing_Shoes_and_Jewelry.csv    user,item,rating,timestamp (no header)

2018 (Ni, Li & McAuley, "Justifying recommendations using distantly-labeled reviews")::

    meta_AMAZON_FASHION.json.gz    {"asin", "title", "category": [path],
                                    "imageURL"/"imageURLHighRes": [urls] or url, "brand"}
    meta_Clothing_Shoes_and_Jewelry.json.gz   the same, images under "image": [urls]
    AMAZON_FASHION[_5].json.gz     reviews as in 2014 ("overall", "reviewerID", ...)
    AMAZON_FASHION.csv             item,user,rating,timestamp (no header)
  titles carry HTML entities ("Women&#39;s", sometimes escaped twice).

2023 (Hou et al., "Bridging language and items for retrieval and recommendation")::

    meta_Amazon_Fashion.jsonl      {"parent_asin", "title", "main_category",
                                    "categories": [path], "store",
                                    "images": [{"thumb", "large", "hi_res", "variant"}]}
    Amazon_Fashion.jsonl           {"user_id", "parent_asin", "asin", "rating": 5.0,
                                    "timestamp": ms}

Every file may be gzip or plain, whatever its name; each record is read by the
layout its own keys show, so concatenated or renamed files still import.
"""
from __future__ import annotations

import html
import re

LAYOUTS = ("2014", "2018", "2023")
_TAG = re.compile(r"<[^>]*>")
# A Unix time in seconds stays below 1e11 until the year 5138; larger ones are ms.
_MS_THRESHOLD = 10 ** 11


def metadata_layout(record: dict) -> str:
    """"2014", "2018" or "2023" from a metadata record's keys."""
    if "parent_asin" in record or isinstance(record.get("images"), list):
        return "2023"
    if "imUrl" in record or "categories" in record:
        return "2014"
    return "2018"


def review_layout(record: dict) -> str:
    """"2023" for reviews keyed by user_id/parent_asin/rating, else "2014/2018"."""
    return "2023" if "user_id" in record or "parent_asin" in record else "2014/2018"


def clean_text(text) -> str:
    """Title text without HTML entities (unescaped until stable), tags or runs of spaces."""
    text = str(text or "")
    for _ in range(3):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return " ".join(_TAG.sub(" ", text).split())


def item_id(record: dict, layout: str) -> str:
    """The id reviews refer to: ``parent_asin`` in 2023, ``asin`` before."""
    key = "parent_asin" if layout == "2023" else "asin"
    return str(record.get(key) or "").strip()


def category_path(record: dict, layout: str) -> str:
    """"Clothing, Shoes & Jewelry > Women > Clothing > Dresses" in any layout.

    2014 lists several paths (``categories``); the first is the item's own. 2023
    records of some categories have no path; then ``main_category`` stands alone.
    """
    if layout == "2023":
        category = record.get("categories") or [record.get("main_category") or ""]
    elif layout == "2014":
        categories = record.get("categories") or []
        category = categories[0] if categories and isinstance(categories[0], list) else categories
    else:
        category = record.get("category") or []
    if isinstance(category, str):
        category = [category]
    parts = [clean_text(c) for c in category if isinstance(c, str) and "<" not in c]
    # Some 2018 records carry HTML fragments in the category list; those were dropped.
    return " > ".join(p for p in parts if p)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [v for v in value or [] if isinstance(v, str) and v.strip()]


def image_urls(record: dict, layout: str) -> list[str]:
    """Image URLs, the main image first and larger sizes before smaller ones."""
    if layout == "2023":
        images = [i for i in record.get("images") or [] if isinstance(i, dict)]
        images.sort(key=lambda i: str(i.get("variant") or "").upper() != "MAIN")
        return [u for i in images for key in ("hi_res", "large", "thumb")
                for u in _strings(i.get(key))]
    if layout == "2014":
        return _strings(record.get("imUrl"))
    return [u for key in ("imageURLHighRes", "imageURL", "image") for u in _strings(record.get(key))]


def brand(record: dict, layout: str) -> str | None:
    """The brand ("brand" before 2023, the "store" after)."""
    value = record.get("store" if layout == "2023" else "brand")
    return clean_text(value) or None if value else None


def review_fields(record: dict) -> tuple[str, str, object, int] | None:
    """(user, item, rating value, timestamp in seconds) of a review, or None when a
    field is missing. 2023 timestamps are milliseconds; values above 1e11 are read as
    milliseconds in any layout."""
    if review_layout(record) == "2023":
        fields = (record.get("user_id"), record.get("parent_asin") or record.get("asin"),
                  record.get("rating"), record.get("timestamp"))
    else:
        fields = (record.get("reviewerID"), record.get("asin"), record.get("overall"),
                  record.get("unixReviewTime"))
    user, item, rating, timestamp = fields
    if not user or not item or rating is None:
        return None
    try:
        timestamp = int(float(timestamp or 0))
    except (TypeError, ValueError):
        timestamp = 0
    if timestamp >= _MS_THRESHOLD:
        timestamp //= 1000
    return str(user), str(item), rating, timestamp
