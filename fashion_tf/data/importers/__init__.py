"""Importers: public fashion datasets -> catalog directories (DESIGN.md section 4).

Each writes items.parquet (every required column; 80/10/10 hash splits unless the
source has its own), images under images/, import_report.json, and optionally runs
label extraction. ``import_catalog(format, src, out, ...)`` dispatches by name;
``tools/import_catalog.py`` is the CLI.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fashion_tf.data import schema
from fashion_tf.data.importers.amazon import import_amazon, read_json_lines
from fashion_tf.data.importers.common import (
    IMAGE_MODES,
    ImportReport,
    assign_split,
    place_image,
    safe_id,
)
from fashion_tf.data.importers.deepfashion import import_deepfashion
from fashion_tf.data.importers.folder import import_folder, title_from_filename
from fashion_tf.data.importers.polyvore import import_polyvore

FORMATS = ("amazon", "deepfashion", "polyvore", "folder")

__all__ = [
    "FORMATS", "IMAGE_MODES", "ImportReport", "assign_split", "catalog_from_path",
    "import_amazon", "import_catalog", "import_deepfashion", "import_folder",
    "import_polyvore", "place_image", "read_json_lines", "safe_id", "title_from_filename",
]


def import_catalog(format: str, src: str | Path, out: str | Path, images: str | Path | None = None,
                   **options) -> ImportReport:
    """Run the importer named ``format`` ("amazon", "deepfashion", "polyvore", "folder")."""
    if format == "amazon":
        return import_amazon(src, out, images=images, **options)
    if format == "deepfashion":
        return import_deepfashion(src, out, images=images, **options)
    if format == "polyvore":
        return import_polyvore(src, out, images=images, **options)
    if format == "folder":
        if images is not None:
            raise ValueError("--images does not apply to --format folder; pass the folder as --src")
        return import_folder(src, out, **options)
    raise ValueError(f"unknown catalog format {format!r}; expected one of {', '.join(FORMATS)}")


def catalog_from_path(path: str | Path, cache_dir: str | Path | None = None, **options):
    """A Catalog from a catalog directory, or from a plain image folder imported on the fly.

    A folder without items.parquet is imported (images referenced in place, nothing
    copied) into ``<cache>/imported/<hash of its path>``, where the cache is
    ``cache_dir``, ``$FASHION_TF_CACHE`` or ``~/.cache/fashion_tf``.
    """
    from fashion_tf.data.catalog import load_catalog

    path = Path(path)
    if (path / schema.ITEMS_FILE).is_file():
        return load_catalog(path)
    cache = Path(cache_dir or os.environ.get("FASHION_TF_CACHE") or
                 Path.home() / ".cache" / "fashion_tf")
    key = hashlib.sha1(str(path.absolute()).encode("utf-8")).hexdigest()[:12]
    options.setdefault("image_mode", "reference")
    return import_folder(path, cache / "imported" / key, **options).catalog
