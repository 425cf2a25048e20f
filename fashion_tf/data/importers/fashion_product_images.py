"""Fashion Product Images (Aggarwal, Kaggle; Myntra's catalog), full and small variants.

Layout as downloaded and unzipped::

    fashion-dataset/styles.csv      id,gender,masterCategory,subCategory,articleType,
                                    baseColour,season,year,usage,productDisplayName
    fashion-dataset/images/<id>.jpg (the small variant: myntradataset/images/<id>.jpg,
                                     60x80 px, next to the same styles.csv)

The published styles.csv is not quoted: a few product names hold commas
("Puma Men's Ferrari Track Jacket, Red") and so have more than ten fields. Those rows
are kept, the fields after the ninth joined back into the name, where a strict CSV
reader drops them. Some rows have empty fields (year, usage, baseColour); a few ids
have no image, and are skipped.

Category = gender > masterCategory > subCategory > articleType; the structured
attributes stay as columns with their published names and can seed the labels
(``attribute_labels``); they are kept as the published text (year too), an empty
field as a missing value. Splits are 80/10/10 by a hash of the id.
"""
from __future__ import annotations

import csv
from pathlib import Path

from fashion_tf.data.importers.common import (
    ImportReport,
    Progress,
    assign_split,
    open_text,
    place_image,
    safe_id,
    write_catalog,
)

STYLES_FILE = "styles.csv"
COLUMNS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour",
           "season", "year", "usage", "productDisplayName")
CATEGORY_COLUMNS = ("gender", "masterCategory", "subCategory", "articleType")
# year says when the item was listed, not what it looks like: no label.
LABEL_COLUMNS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour",
                 "season", "usage")


def find_styles(src: str | Path) -> Path:
    """styles.csv: ``src`` itself, in it, or in a folder up to two levels below it
    (the zips unpack into fashion-dataset/ or myntradataset/)."""
    src = Path(src)
    if src.is_file():
        return src
    for pattern in (STYLES_FILE, f"*/{STYLES_FILE}", f"*/*/{STYLES_FILE}"):
        found = sorted(src.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError(f"{src}: no {STYLES_FILE} found (looked in it and two levels "
                            "below); pass the file or its folder as --src")


def read_styles(path: Path, report: ImportReport):
    """(line number, dict of the ten fields) per usable row of styles.csv."""
    with open_text(path) as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        if tuple(header[:len(COLUMNS)]) != COLUMNS:
            raise ValueError(f"{path}: header should be {','.join(COLUMNS)}; found "
                             f"{','.join(header)!r}")
        rejoined = 0
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(COLUMNS):
                report.skip("unreadable line", f"{path.name} line {number}: {','.join(row)[:50]}")
                continue
            if len(row) > len(COLUMNS):
                # The unquoted commas of productDisplayName: join them back.
                row = row[:len(COLUMNS) - 1] + [",".join(row[len(COLUMNS) - 1:])]
                rejoined += 1
            yield number, dict(zip(COLUMNS, (v.strip() for v in row)))
    report.details["names_with_unquoted_commas"] = rejoined


def import_fashion_product_images(src: str | Path, out: str | Path,
                                  images: str | Path | None = None, *,
                                  image_mode: str = "link", labels: bool = False,
                                  min_count: int = 50, final_count: int = 100,
                                  labels_from: str = "both") -> ImportReport:
    """Import Fashion Product Images (full or small) into a catalog directory.

    Args:
        src: the unzipped download, its fashion-dataset/ or myntradataset/ folder,
            or styles.csv.
        out: the catalog directory to write.
        images: the folder of <id>.jpg; default ``images/`` next to styles.csv.
        image_mode: as in ``place_image``.
        labels: label the catalog at import, from ``labels_from`` ("titles",
            "attributes" or "both"; see ``attribute_labels``).
    """
    styles = find_styles(src)
    images = Path(images) if images is not None else styles.parent / "images"
    report = ImportReport("fashion-product-images", Path(out))
    report.details.update(styles=str(styles), images=str(images))
    rows, seen = [], set()
    progress = Progress("styles")
    for number, fields in read_styles(styles, report):
        progress.step()
        item = fields["id"]
        if not item.isdigit():
            report.skip("missing field id" if not item else "unreadable line",
                        f"{styles.name} line {number}: id {item!r}")
            continue
        if item in seen:
            report.skip("duplicate id", item)
            continue
        seen.add(item)
        source = images / f"{item}.jpg"
        if not source.is_file():
            report.skip("no image", f"{item} ({source.name} not in {images.name}/)")
            continue
        attributes = {c: fields[c] or None for c in COLUMNS[1:-1]}
        rows.append({
            "item_id": item,
            "image": place_image(source, report.out, safe_id(item), image_mode),
            "category": " > ".join(fields[c] for c in CATEGORY_COLUMNS if fields[c]),
            "title": " ".join(fields["productDisplayName"].split()),
            "labels": [],
            "split": assign_split(item),
            "domain": "shop",
            **attributes,
        })
    progress.done()
    return write_catalog(report, rows, labels=labels, min_count=min_count,
                         final_count=final_count, labels_from=labels_from,
                         attribute_columns=LABEL_COLUMNS)
