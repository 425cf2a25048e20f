"""Amazon Fashion / Clothing, Shoes & Jewelry (UCSD, McAuley lab), the paper's data.

Reads the JSON-lines files as distributed (optionally .gz):
  reviews:  {"overall": 5.0, "reviewerID": "A1..", "asin": "B00..", "unixReviewTime": 1.4e9, ...}
  metadata: {"asin", "title", "category": [...] (2018) or "categories": [[...]] (2014),
             "imageURLHighRes"/"imageURL": [urls] (2018) or "imUrl": url (2014), "brand"}
Older metadata files hold Python dict literals rather than JSON; both are read.
Image URLs are resolved to local files, because nothing is downloaded here: by the URL's
basename anywhere under the images folder (also without Amazon's "._SX300_" size
suffix), or by "<asin>.jpg". Items with no local image are skipped and counted.
"""
from __future__ import annotations

import ast
import gzip
import html
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from fashion_tf.data.importers.common import (
    IMAGE_EXTENSIONS,
    ImportReport,
    Progress,
    assign_split,
    find_images,
    place_image,
    safe_id,
    write_catalog,
)

_SIZE_SUFFIX = re.compile(r"\._[^./]*_(?=\.[A-Za-z]+$)")


def read_json_lines(path: str | Path, skipped: Counter | None = None) -> Iterator[dict]:
    """Records of a JSON-lines file (.gz or plain); Python-literal lines are accepted."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                try:
                    record = ast.literal_eval(line)
                except (ValueError, SyntaxError):
                    if skipped is not None:
                        skipped[f"unparseable line in {path.name}"] += 1
                    continue
            if isinstance(record, dict):
                yield record


def find_amazon_files(src: str | Path) -> tuple[Path | None, Path]:
    """(reviews, metadata) in a folder: the metadata file's name starts with "meta"."""
    src = Path(src)
    if src.is_file():
        return None, src
    files = sorted(p for p in src.iterdir()
                   if p.is_file() and p.name.lower().endswith((".json", ".json.gz", ".jsonl",
                                                               ".jsonl.gz")))
    metas = [p for p in files if p.name.lower().startswith("meta")]
    reviews = [p for p in files if not p.name.lower().startswith("meta")]
    if not metas:
        raise FileNotFoundError(f"{src}: no metadata file (meta_*.json[.gz]) found; "
                                f"found {[p.name for p in files]}")
    return (reviews[0] if reviews else None), metas[0]


def category_path(meta: dict) -> str:
    """"Clothing, Shoes & Jewelry > Women > Clothing > Dresses" from either format."""
    category = meta.get("category")
    if not category:
        categories = meta.get("categories") or []
        category = categories[0] if categories and isinstance(categories[0], list) else categories
    parts = [html.unescape(str(c)).strip() for c in (category or []) if isinstance(c, str)]
    # Some 2018 records carry HTML fragments in the category list.
    return " > ".join(p for p in parts if p and "<" not in p)


def image_urls(meta: dict) -> list[str]:
    """Image URLs, largest first (2018 "imageURLHighRes", "imageURL"; 2014 "imUrl")."""
    urls: list[str] = []
    for key in ("imageURLHighRes", "imageURL", "imUrl"):
        value = meta.get(key) or []
        urls.extend([value] if isinstance(value, str) else [u for u in value if isinstance(u, str)])
    return urls


def resolve_image(asin: str, urls: list[str], index: dict[str, Path]) -> Path | None:
    """The local file of an item: a URL's basename, then "<asin>.<ext>"."""
    for url in urls:
        name = unquote(Path(urlparse(url).path).name)
        for candidate in (name, _SIZE_SUFFIX.sub("", name)):
            if candidate in index:
                return index[candidate]
    for ext in IMAGE_EXTENSIONS:
        if asin + ext in index:
            return index[asin + ext]
    return None


def import_amazon(metadata: str | Path, out: str | Path, reviews: str | Path | None = None,
                  images: str | Path | None = None, *, image_mode: str = "link",
                  labels: bool = False, min_count: int = 50,
                  final_count: int = 100) -> ImportReport:
    """Import Amazon Fashion metadata (+ reviews as interactions) into a catalog directory.

    Args:
        metadata: meta_*.json[.gz] (or a folder holding it and the reviews file).
        out: the catalog directory to write.
        reviews: the reviews file; ratings become interactions.parquet.
        images: folder of downloaded images (searched recursively); default
            ``<metadata folder>/images``.
        image_mode: "link", "copy", "symlink" or "reference" (see ``place_image``).
        labels: run label extraction (paper section 4.2) with min_count/final_count.

    Splits are 80/10/10 by a hash of the asin; every item is a "shop" image.
    """
    metadata = Path(metadata)
    if metadata.is_dir():
        found_reviews, metadata = find_amazon_files(metadata)
        reviews = reviews if reviews is not None else found_reviews
    if not metadata.is_file():
        raise FileNotFoundError(f"Amazon metadata file {metadata} not found")
    images = Path(images) if images is not None else metadata.parent / "images"
    index = find_images(images)
    report = ImportReport("amazon", Path(out))
    rows, seen = [], set()
    progress = Progress("metadata")
    for meta in read_json_lines(metadata, report.skipped):
        progress.step()
        asin = str(meta.get("asin") or "").strip()
        if not asin:
            report.skipped["metadata without asin"] += 1
            continue
        if asin in seen:
            report.skipped["duplicate asin"] += 1
            continue
        seen.add(asin)
        source = resolve_image(asin, image_urls(meta), index)
        if source is None:
            report.skipped["no local image"] += 1
            continue
        rows.append({
            "item_id": asin,
            "image": place_image(source, report.out, safe_id(asin), image_mode),
            "category": category_path(meta),
            "title": html.unescape(str(meta.get("title") or "")).strip(),
            "labels": [],
            "split": assign_split(asin),
            "domain": "shop",
        })
    progress.done()
    interactions = None
    if reviews is not None:
        interactions = read_reviews(reviews, {r["item_id"] for r in rows}, report.skipped)
    return write_catalog(report, rows, interactions, labels=labels, min_count=min_count,
                         final_count=final_count)


def read_reviews(path: str | Path, item_ids: set[str], skipped: Counter) -> pd.DataFrame:
    """Ratings of imported items: user_id, item_id, rating (int 1-5), timestamp (s).

    A user's repeated review of the same item keeps the first one.
    """
    records, seen = [], set()
    progress = Progress("reviews")
    for review in read_json_lines(path, skipped):
        progress.step()
        user, asin, overall = review.get("reviewerID"), review.get("asin"), review.get("overall")
        if user is None or asin is None or overall is None:
            skipped["review missing reviewerID/asin/overall"] += 1
            continue
        if asin not in item_ids:
            skipped["review of a skipped item"] += 1
            continue
        try:
            rating = round(float(overall))
        except (TypeError, ValueError):
            rating = 0
        if not 1 <= rating <= 5:
            skipped["review rating outside 1-5"] += 1
            continue
        if (user, asin) in seen:
            skipped["duplicate review"] += 1
            continue
        seen.add((user, asin))
        records.append((str(user), str(asin), rating, int(review.get("unixReviewTime") or 0)))
    progress.done()
    return pd.DataFrame(records, columns=["user_id", "item_id", "rating", "timestamp"]).astype(
        {"rating": "int64", "timestamp": "int64"})
