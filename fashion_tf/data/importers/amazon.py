"""Amazon Fashion / Clothing, Shoes & Jewelry (UCSD, McAuley lab): the paper's data.

Reads the 2014, 2018 and 2023 releases as downloaded (``amazon_records`` describes
them), gzip or plain. Image URLs are resolved to local files, because nothing is
downloaded here: by the URL's basename anywhere under the images folder (also
without Amazon's "._SX300_" size suffix), or by "<id>.jpg". Items with no local image
are skipped and counted. Reviews (or the ratings-only CSV files) become interactions:
one per user and item (the first review), rating 1-5, timestamp in seconds.
"""
from __future__ import annotations

import ast
import csv
import json
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from fashion_tf.data.importers import amazon_records as records
from fashion_tf.data.importers.common import (
    IMAGE_EXTENSIONS,
    ImportReport,
    Progress,
    assign_split,
    find_images,
    open_text,
    place_image,
    safe_id,
    write_catalog,
)

_SIZE_SUFFIX = re.compile(r"\._[^./]*_(?=\.[A-Za-z]+$)")
_DATA_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".csv", ".csv.gz", ".gz")


def read_json_lines(path: str | Path,
                    on_error: Callable[[int, str], None] | None = None) -> Iterator[dict]:
    """Records of a JSON-lines file (gzip or plain); Python-literal lines (2014) too.

    ``on_error(line_number, text)`` is called for each line that is no record.
    """
    path = Path(path)
    with open_text(path) as lines:
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                try:
                    record = ast.literal_eval(line)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    record = None
            if isinstance(record, dict):
                yield record
            elif on_error is not None:
                on_error(number, line)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".jsonl", ".json", ".csv"):
        name = name.removesuffix(suffix)
    return name


def find_amazon_files(src: str | Path) -> tuple[Path | None, Path]:
    """(reviews, metadata) in a folder.

    The metadata file's name starts with "meta"; the reviews file is the one named
    after the same category ("meta_X" -> "X", "reviews_X" or "ratings_X", reviews
    before ratings-only CSV), else the only other data file.
    """
    src = Path(src)
    files = sorted(p for p in src.iterdir() if p.is_file() and p.name.endswith(_DATA_SUFFIXES))
    metas = [p for p in files if p.name.lower().startswith("meta")]
    others = [p for p in files if not p.name.lower().startswith("meta")]
    if not metas:
        raise FileNotFoundError(f"{src}: no metadata file (meta_<Category>.json[l][.gz]) "
                                f"found; found {[p.name for p in files]}")
    if len(metas) > 1:
        raise ValueError(f"{src}: several metadata files {[p.name for p in metas]}; "
                         "pass one as --src")
    category = _stem(metas[0]).removeprefix("meta_")
    named = [p for p in others
             if _stem(p) in (category, f"reviews_{category}", f"ratings_{category}")]
    named.sort(key=lambda p: p.name.endswith((".csv", ".csv.gz")))
    if named:
        return named[0], metas[0]
    if len(others) > 1:
        raise ValueError(f"{src}: several review files {[p.name for p in others]} and none "
                         f"named after {metas[0].name}; pass one with --reviews")
    return (others[0] if others else None), metas[0]


def resolve_image(item: str, urls: list[str], index: dict[str, Path]) -> Path | None:
    """The local file of an item: a URL's basename, then "<item id>.<ext>"."""
    for url in urls:
        name = unquote(Path(urlparse(url).path).name)
        for candidate in (name, _SIZE_SUFFIX.sub("", name)):
            if candidate in index:
                return index[candidate]
    for ext in IMAGE_EXTENSIONS:
        if item + ext in index:
            return index[item + ext]
    return None


def import_amazon(metadata: str | Path, out: str | Path, reviews: str | Path | None = None,
                  images: str | Path | None = None, *, image_mode: str = "link",
                  labels: bool = False, min_count: int = 50, final_count: int = 100,
                  labels_from: str = "titles") -> ImportReport:
    """Import Amazon metadata (+ reviews as interactions) of any release.

    Args:
        metadata: meta_<Category>.json[l][.gz] (or a folder holding it and the
            reviews file).
        out: the catalog directory to write.
        reviews: reviews JSON-lines or ratings-only CSV; default: found next to the
            metadata (``find_amazon_files``).
        images: folder of downloaded images (searched recursively); default
            ``<metadata folder>/images``.
        image_mode: "link", "copy", "symlink" or "reference" (see ``place_image``).
        labels: run label extraction (paper section 4.2) with min_count/final_count.
        labels_from: only "titles": Amazon has no structured attributes.

    Splits are 80/10/10 by a hash of the item id; every item is a "shop" image.
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
    report.details.update(metadata=metadata.name, images=str(images))
    layouts: Counter = Counter()
    rows, seen = [], set()
    progress = Progress("metadata")

    def unreadable(number: int, line: str) -> None:
        report.skip("unreadable line", f"{metadata.name} line {number}: {line[:40]}")

    for meta in read_json_lines(metadata, unreadable):
        progress.step()
        layout = records.metadata_layout(meta)
        layouts[layout] += 1
        item = records.item_id(meta, layout)
        if not item:
            key = "parent_asin" if layout == "2023" else "asin"
            report.skip(f"missing field {key}", f"{records.clean_text(meta.get('title'))[:40]!r}")
            continue
        if item in seen:
            report.skip("duplicate item id", item)
            continue
        seen.add(item)
        source = resolve_image(item, records.image_urls(meta, layout), index)
        if source is None:
            report.skip("no local image", item)
            continue
        rows.append({
            "item_id": item,
            "image": place_image(source, report.out, safe_id(item), image_mode),
            "category": records.category_path(meta, layout),
            "title": records.clean_text(meta.get("title")),
            "labels": [],
            "split": assign_split(item),
            "domain": "shop",
            "brand": records.brand(meta, layout),
        })
    progress.done()
    report.details["layouts"] = dict(sorted(layouts.items()))
    interactions = None
    if reviews is not None:
        reviews = Path(reviews)
        report.details["reviews"] = reviews.name
        item_ids = {r["item_id"] for r in rows}
        if reviews.name.endswith((".csv", ".csv.gz")):
            interactions = read_ratings_csv(reviews, item_ids, report)
        else:
            interactions = read_reviews(reviews, item_ids, report)
    return write_catalog(report, rows, interactions, labels=labels, min_count=min_count,
                         final_count=final_count, labels_from=labels_from)


class _Ratings:
    """Collects one rating per (user, item): the first one, 1-5, of imported items.

    The 2023 Clothing, Shoes and Jewelry reviews file holds 66 million reviews, so a
    review is kept as 33 bytes in typed arrays (user and item as small ints, rating,
    time, record number), each user id string once; repeated reviews are found at the
    end, in one sort.
    """

    def __init__(self, item_ids: set[str], report: ImportReport, where: str):
        self.items = sorted(item_ids)
        self.item_codes = {item: k for k, item in enumerate(self.items)}
        self.report, self.where = report, where  # where: "<file> record" or "<file> line"
        self.users: list[str] = []
        self.user_codes: dict[str, int] = {}
        self.columns = {name: array(code) for name, code in
                        (("user", "q"), ("item", "q"), ("rating", "b"), ("time", "q"),
                         ("number", "q"))}

    def add(self, user: str, item: str, value, timestamp: int, number: int) -> None:
        report = self.report
        report.interaction_rows_read += 1
        item_code = self.item_codes.get(item)
        if item_code is None:
            report.drop("item not imported", f"{self.where} {number}: {item}")
            return
        try:
            rating = round(float(value))
        except (TypeError, ValueError):
            rating = 0
        if not 1 <= rating <= 5:
            report.drop("rating outside 1-5", f"{self.where} {number}: {value!r}")
            return
        user_code = self.user_codes.get(user)
        if user_code is None:
            user_code = self.user_codes[user] = len(self.users)
            self.users.append(user)
        for name, field in (("user", user_code), ("item", item_code), ("rating", rating),
                            ("time", timestamp), ("number", number)):
            self.columns[name].append(field)

    def frame(self) -> pd.DataFrame:
        """The ratings, each (user, item) once: its first review in the file."""
        columns = {name: np.frombuffer(values, dtype=values.typecode)
                   for name, values in self.columns.items()}
        keys = columns["user"] * max(len(self.items), 1) + columns["item"]
        _, first = np.unique(keys, return_index=True)
        repeated = np.setdiff1d(np.arange(len(keys)), first)
        if len(repeated):
            reason = "repeated review of the same item by the same user"
            for k in repeated[:3]:
                self.report.drop(reason, f"{self.where} {columns['number'][k]}", count=0)
            self.report.dropped[reason] += len(repeated)
        first.sort()
        return pd.DataFrame({
            "user_id": pd.Series(np.array(self.users, dtype=object)[columns["user"][first]]
                                 if len(first) else [], dtype=object),
            "item_id": pd.Series(np.array(self.items, dtype=object)[columns["item"][first]]
                                 if len(first) else [], dtype=object),
            "rating": columns["rating"][first].astype(np.int64),
            "timestamp": columns["time"][first].astype(np.int64)})


def read_reviews(path: str | Path, item_ids: set[str], report: ImportReport) -> pd.DataFrame:
    """Ratings of imported items from a reviews JSON-lines file of any layout."""
    path = Path(path)
    ratings = _Ratings(item_ids, report, f"{path.name} record")
    number = 0

    def unreadable(line_number: int, line: str) -> None:
        report.interaction_rows_read += 1
        report.drop("unreadable line", f"{path.name} line {line_number}: {line[:40]}")

    progress = Progress("reviews")
    for number, review in enumerate(read_json_lines(path, unreadable), start=1):
        progress.step()
        fields = records.review_fields(review)
        if fields is None:
            report.interaction_rows_read += 1
            report.drop("missing field user/item/rating", f"{path.name} record {number}")
            continue
        ratings.add(*fields, number=number)
    progress.done()
    return ratings.frame()


def read_ratings_csv(path: str | Path, item_ids: set[str], report: ImportReport,
                     probe_rows: int = 1000) -> pd.DataFrame:
    """Ratings from a ratings-only CSV: 2014 "user,item,rating,timestamp", 2018
    "item,user,rating,timestamp", no header. Which column holds the items is read
    from the rows: the one whose first ``probe_rows`` values name more imported items.
    """
    path = Path(path)
    with open_text(path) as handle:
        probe = [row for _, row in zip(range(probe_rows), csv.reader(handle))]
    hits = [sum(1 for row in probe if len(row) == 4 and row[c] in item_ids) for c in (0, 1)]
    item_col = 0 if hits[0] > hits[1] else 1
    report.details["ratings_columns"] = ("item,user" if item_col == 0 else "user,item") + \
        ",rating,timestamp"
    ratings = _Ratings(item_ids, report, f"{path.name} line")
    with open_text(path) as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if len(row) != 4:
                report.interaction_rows_read += 1
                report.drop("unreadable line", f"{path.name} line {number}: {','.join(row)[:40]}")
                continue
            try:
                timestamp = int(float(row[3]))
            except ValueError:
                timestamp = 0
            ratings.add(row[1 - item_col], row[item_col], row[2], timestamp, number)
    return ratings.frame()
