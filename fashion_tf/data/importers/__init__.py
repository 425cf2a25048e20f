"""Importers: public fashion datasets -> catalog directories (docs/design.md, "Data").

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
from fashion_tf.data.importers import fashion_product_images, hm
from fashion_tf.data.importers.amazon import import_amazon, read_json_lines
from fashion_tf.data.importers.attribute_labels import LABEL_SOURCES
from fashion_tf.data.importers.common import (
    IMAGE_MODES,
    ImportReport,
    assign_split,
    place_image,
    safe_id,
)
from fashion_tf.data.importers.deepfashion import import_deepfashion
from fashion_tf.data.importers.fashion_product_images import (
    import_fashion_product_images,
)
from fashion_tf.data.importers.folder import import_folder, title_from_filename
from fashion_tf.data.importers.hm import import_hm
from fashion_tf.data.importers.hm_transactions import purchases_to_rating
from fashion_tf.data.importers.polyvore import import_polyvore

FORMATS = ("amazon", "fashion-product-images", "hm", "deepfashion", "polyvore", "folder")
# The structured attributes that can seed labels (--labels-from), by format.
ATTRIBUTE_COLUMNS = {"fashion-product-images": fashion_product_images.LABEL_COLUMNS,
                     "hm": hm.LABEL_COLUMNS}

__all__ = [
    "ATTRIBUTE_COLUMNS", "FORMATS", "IMAGE_MODES", "LABEL_SOURCES", "ImportReport", "assign_split",
    "catalog_from_path", "import_amazon", "import_catalog", "import_deepfashion",
    "import_fashion_product_images", "import_folder", "import_hm", "import_polyvore",
    "place_image", "purchases_to_rating", "read_json_lines", "safe_id", "title_from_filename",
]


def import_catalog(format: str, src: str | Path, out: str | Path, images: str | Path | None = None,
                   **options) -> ImportReport:
    """Run the importer named ``format`` (one of ``FORMATS``)."""
    if format == "amazon":
        return import_amazon(src, out, images=images, **options)
    if format == "fashion-product-images":
        return import_fashion_product_images(src, out, images=images, **options)
    if format == "hm":
        return import_hm(src, out, images=images, **options)
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
