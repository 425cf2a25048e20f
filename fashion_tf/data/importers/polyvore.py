"""Polyvore Outfits (Vasileva et al. 2018): outfits JSON + item metadata + images.

Layout as distributed::

    polyvore_item_metadata.json   {item_id: {"title", "url_name", "description",
                                             "semantic_category", "category_id", ...}}
    categories.csv                category_id,fine name,semantic category (optional)
    images/<item_id>.jpg
    nondisjoint/ and disjoint/    train.json, valid.json, test.json:
                                  [{"set_id": ..., "items": [{"item_id", "index"}, ...]}]

One catalog row per item of an outfit; ``outfit_id`` is the first outfit (in
train, valid, test order) that holds it, and the split is that file's. Every outfit
membership is also written to ``outfits.parquet`` (outfit_id, item_id, index, split)
for compatibility models. Without split files, a single outfits file may be given;
its outfits are split 80/10/10 by a hash of the set_id so an outfit stays together.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fashion_tf.data import schema
from fashion_tf.data.importers.common import (
    IMAGE_EXTENSIONS,
    ImportReport,
    Progress,
    assign_split,
    place_image,
    safe_id,
    write_catalog,
)

METADATA_FILE = "polyvore_item_metadata.json"
SPLIT_FILES = (("train.json", "train"), ("valid.json", "val"), ("test.json", "test"))


def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def read_categories(path: Path) -> dict[str, tuple[str, str]]:
    """category_id -> (fine name, semantic category) from categories.csv."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row[0].strip(): (row[1].strip(), row[2].strip() if len(row) > 2 else "")
                for row in csv.reader(handle) if len(row) >= 2}


def find_outfit_files(src: Path, version: str) -> list[tuple[Path, str | None]]:
    """(file, split) pairs: version/{train,valid,test}.json, else ./{...}.json."""
    for folder in (src / version, src):
        found = [(folder / name, split) for name, split in SPLIT_FILES if (folder / name).is_file()]
        if found:
            return found
    return []


def _title(meta: dict) -> str:
    title = str(meta.get("title") or "").strip()
    return title or str(meta.get("url_name") or "").replace("-", " ").strip()


def _category(meta: dict, categories: dict[str, tuple[str, str]]) -> str:
    fine, semantic = categories.get(str(meta.get("category_id", "")), ("", ""))
    semantic = str(meta.get("semantic_category") or semantic or "").strip()
    return " > ".join(p for p in (semantic, fine) if p)


def import_polyvore(src: str | Path, out: str | Path, images: str | Path | None = None, *,
                    version: str = "nondisjoint", outfits: str | Path | None = None,
                    image_mode: str = "link", labels: bool = False, min_count: int = 50,
                    final_count: int = 100) -> ImportReport:
    """Import Polyvore Outfits into a catalog directory.

    Args:
        src: the dataset root holding polyvore_item_metadata.json.
        out: the catalog directory to write.
        images: folder of <item_id>.jpg (default ``src/images``).
        version: "nondisjoint" or "disjoint", the sub-folder holding the split files.
        outfits: a single outfits JSON to use instead of the split files.
    """
    src = Path(src)
    metadata_path = src / METADATA_FILE if src.is_dir() else src
    if not metadata_path.is_file():
        raise FileNotFoundError(f"{metadata_path}: Polyvore item metadata not found")
    metadata = _load_json(metadata_path)
    if not isinstance(metadata, dict):
        raise ValueError(f"{metadata_path}: should map item_id -> metadata, "  # noqa: TRY004
                         f"found {type(metadata).__name__}")
    root = metadata_path.parent
    categories = read_categories(root / "categories.csv")
    images = Path(images) if images is not None else root / "images"
    files = [(Path(outfits), None)] if outfits is not None else find_outfit_files(root, version)
    if not files:
        raise FileNotFoundError(f"{root}: no outfits found ({version}/train.json, valid.json, "
                                "test.json); pass outfits=FILE")

    report = ImportReport("polyvore", Path(out))
    rows: dict[str, dict] = {}
    members = []
    progress = Progress("outfits")
    for path, split in files:
        data = _load_json(path)
        if not isinstance(data, list):
            raise ValueError(f"{path}: should be a list of outfits "  # noqa: TRY004
                             "[{\"set_id\": ..., \"items\": [...]}], found {type(data).__name__}")
        for outfit in data:
            progress.step()
            set_id = str(outfit.get("set_id", ""))
            outfit_split = split or assign_split(set_id)
            for entry in outfit.get("items", []):
                item_id = str(entry.get("item_id", ""))
                if item_id not in rows:
                    row = _item_row(item_id, set_id, outfit_split, metadata, categories, images,
                                    report, image_mode)
                    if row is None:
                        continue
                    rows[item_id] = row
                members.append((set_id, safe_id(item_id), int(entry.get("index", 0)), outfit_split))
    progress.done()
    report = write_catalog(report, rows.values(), labels=labels, min_count=min_count,
                           final_count=final_count)
    imported = set(report.catalog.items["item_id"])
    table = pd.DataFrame(members, columns=["outfit_id", "item_id", "index", "split"])
    table = table[table["item_id"].isin(imported)].drop_duplicates(["outfit_id", "item_id"])
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(None),
                   report.out / schema.OUTFITS_FILE)
    return report


def _item_row(item_id: str, set_id: str, split: str, metadata: dict,
              categories: dict[str, tuple[str, str]], images: Path, report: ImportReport,
              image_mode: str) -> dict | None:
    meta = metadata.get(item_id)
    if meta is None:
        report.skipped["item without metadata"] += 1
        return None
    source = next((images / (item_id + ext) for ext in IMAGE_EXTENSIONS
                   if (images / (item_id + ext)).is_file()), None)
    if source is None:
        report.skipped["missing image"] += 1
        return None
    safe = safe_id(item_id)
    return {"item_id": safe, "image": place_image(source, report.out, safe, image_mode),
            "category": _category(meta, categories), "title": _title(meta), "labels": [],
            "split": split, "domain": "shop", "outfit_id": set_id}
