"""Turn the ``--data`` argument of the CLIs into a labelled catalog (docs/design.md, "Data").

``--data`` may be omitted (the built-in demo shop), a catalog directory
(``items.parquet`` ...), or a plain folder of images with one subfolder per category,
which is imported on the fly into a cache directory, never into the user's folder.
"""
from __future__ import annotations

import os
from pathlib import Path

from fashion_tf.data.catalog import Catalog, load_catalog
from fashion_tf.data.schema import ITEMS_FILE, LABELS_FILE


def resolve_catalog(data: str | os.PathLike | None) -> Catalog:
    """Return a labelled catalog for ``data`` (see module docstring)."""
    from fashion_tf.data.labels import label_catalog, scaled_thresholds

    if data is None:
        from fashion_tf.data.demo_shop import ensure_demo_shop

        root = Path(ensure_demo_shop())
    else:
        root = Path(data)
        if not root.exists():
            raise FileNotFoundError(f"--data {root}: no such directory")
        from fashion_tf.data.tfrecords import is_tfrecords_dir

        if is_tfrecords_dir(root):
            raise NotImplementedError(
                f"--data {root}: training from sharded TFRecords is not implemented yet; pass the "
                "catalog directory they were written from (its fingerprint is in tfrecords.json)")
        if not (root / ITEMS_FILE).exists():
            from fashion_tf.data.importers import catalog_from_path

            root = Path(catalog_from_path(root).root)
    catalog = load_catalog(root)
    if not (root / LABELS_FILE).exists() or not catalog.vocabulary:
        min_count, final_count = scaled_thresholds(len(catalog.items))
        print(f"{root}: no labels.json, extracting labels (min count {min_count}, final count {final_count})")
        catalog = label_catalog(root, min_count=min_count, final_count=final_count)
    if not catalog.vocabulary:
        raise ValueError(f"{root / LABELS_FILE}: the label vocabulary is empty; nothing to train on")
    return catalog

