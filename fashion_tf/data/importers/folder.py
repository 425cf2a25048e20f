"""A plain folder of images, one subfolder per category (docs/design.md, "Data").

``shop/dresses/maxi/navy_striped_dress.jpg`` becomes category "dresses > maxi" and
title "navy striped dress". This is what ``python -m fashion_tf.train --data FOLDER``
imports on the fly.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from fashion_tf.data import schema
from fashion_tf.data.importers.common import (
    IMAGE_EXTENSIONS,
    ImportReport,
    assign_split,
    place_image,
    safe_id,
    write_catalog,
)

_SEPARATORS = re.compile(r"[-_\s]+")


def title_from_filename(stem: str) -> str:
    """"navy_striped-t-shirt_01" -> "navy striped t-shirt 01" (one-letter prefixes stay
    hyphenated, so "t-shirt" survives as one word)."""
    words: list[str] = []
    for part in _SEPARATORS.split(stem):
        if not part:
            continue
        if words and len(words[-1]) == 1 and words[-1].isalpha():
            words[-1] = f"{words[-1]}-{part}"
        else:
            words.append(part)
    return " ".join(words)


def _category_name(folder: str) -> str:
    return " ".join(w for w in _SEPARATORS.split(folder) if w)


def import_folder(src: str | Path, out: str | Path | None = None, *,
                  image_mode: str | None = None, labels: bool = False, min_count: int = 50,
                  final_count: int = 100) -> ImportReport:
    """Import a folder of images (subfolders = category path) into a catalog directory.

    Args:
        src: the image folder.
        out: the catalog directory; default ``src`` itself, with image paths pointing
            at the files where they are (nothing copied).
        image_mode: as in ``place_image``; default "reference" when ``out`` is ``src``,
            else "link".

    Item ids are the file's path below ``src`` without extension, made file-name safe
    ("dresses/maxi/a.jpg" -> "dresses_maxi_a"); splits are 80/10/10 by a hash of the id.
    """
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"image folder {src} does not exist")
    out = Path(out) if out is not None else src
    in_place = out.absolute() == src.absolute()
    image_mode = image_mode or ("reference" if in_place else "link")
    # Folders a catalog writes into itself; never import them as categories.
    own = {schema.IMAGES_DIR, schema.MASKS_DIR, schema.TRUE_MASKS_DIR, schema.QUERY_IMAGES_DIR}
    report = ImportReport("folder", out)
    rows, taken = [], set()
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (
            (in_place and here == src and d in own) or (here / d).absolute() == out.absolute()))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if not name.lower().endswith(IMAGE_EXTENSIONS):
                if not name.endswith((".parquet", ".json", ".csv", ".txt", ".md")):
                    report.skipped["not an image file"] += 1
                continue
            rel = (here / name).relative_to(src)
            item_id = safe_id(rel.with_suffix("").as_posix())
            base, n = item_id, 2
            while item_id in taken:  # "a.jpg" and "a.png" in one folder
                item_id, n = f"{base}-{n}", n + 1
            taken.add(item_id)
            rows.append({
                "item_id": item_id,
                "image": place_image(here / name, out, item_id, image_mode),
                "category": " > ".join(_category_name(p) for p in rel.parent.parts),
                "title": title_from_filename(rel.stem),
                "labels": [],
                "split": assign_split(item_id),
                "domain": "shop",
            })
    return write_catalog(report, rows, labels=labels, min_count=min_count,
                         final_count=final_count)
