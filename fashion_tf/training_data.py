"""Turn the ``--data`` argument of the CLIs into a labelled catalog (docs/design.md, "Data").

``--data`` may be omitted (the built-in demo shop), a catalog directory
(``items.parquet`` ...), or a plain folder of images with one subfolder per category,
which is imported on the fly into a cache directory, never into the user's folder.
The classifier trainer also takes a directory of sharded TFRecords
(``tools/write_tfrecords.py``) through :func:`resolve_training_data`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from fashion_tf.data.catalog import Catalog, catalog_fingerprint, load_catalog
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
            raise ValueError(
                f"--data {root} is a TFRecord directory, which only the classifier models train from "
                "(the records hold items, not outfits or users); pass the catalog directory they were "
                "written from (field 'catalog' of tfrecords.json)")
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



@dataclasses.dataclass
class TrainingData:
    """What a trainer reads, whether ``--data`` is a catalog or a TFRecord directory.

    Attributes:
        root: the directory the data resolved to (the records' directory for TFRecords).
        vocabulary: label order of the multi-hot targets.
        fingerprint: the catalog's (TFRecords carry the one of the catalog they hold).
        split_sizes: items per split.
        train_label_counts: training items carrying each label.
        catalog: the catalog, None for TFRecords.
        facts: what config.json records about the data beyond ``data``.
    """

    root: Path
    vocabulary: list[str]
    fingerprint: str
    split_sizes: dict[str, int]
    train_label_counts: np.ndarray
    catalog: Catalog | None = None
    facts: dict = dataclasses.field(default_factory=dict)

    @property
    def labels_file(self) -> Path:
        return self.root / LABELS_FILE

    def label_frequencies(self) -> np.ndarray:
        """Fraction of training items carrying each label: the f_i of Mohammadi, Bodaghi &
        Kalhor, "Single-Item Fashion Recommender", eq. 2."""
        if not self.split_sizes.get("train"):
            source = ITEMS_FILE if self.catalog is not None else "tfrecords.json"
            raise ValueError(f"{self.root / source}: no rows with split == 'train'")
        return (self.train_label_counts / self.split_sizes["train"]).astype(np.float32)

    def dataset(self, split: str, image_size: int, batch_size: int, **options):
        """``make_dataset`` (catalog) or ``make_tfrecord_dataset`` (TFRecords) of ``split``."""
        if self.catalog is not None:
            from fashion_tf.data.pipeline import make_dataset

            return make_dataset(self.catalog, split, image_size, batch_size, self.vocabulary, **options)
        from fashion_tf.data.tfrecord_pipeline import make_tfrecord_dataset

        return make_tfrecord_dataset(self.root, split, image_size, batch_size, self.vocabulary, **options)


def resolve_training_data(data: str | os.PathLike | None) -> TrainingData:
    """:func:`resolve_catalog`, or the manifest of a TFRecord directory."""
    from fashion_tf.data.pipeline import multi_hot
    from fashion_tf.data.tfrecords import is_tfrecords_dir, read_tfrecords_manifest

    if data is not None and is_tfrecords_dir(data):
        root = Path(data)
        manifest = read_tfrecords_manifest(root)
        for field in ("splits", "label_counts"):
            if field not in manifest:
                raise ValueError(f"{root / 'tfrecords.json'}: field {field!r} missing; write the records again "
                                 "with tools/write_tfrecords.py")
        if not (root / LABELS_FILE).is_file():
            raise FileNotFoundError(f"{root / LABELS_FILE}: not found; write the records again with "
                                    "tools/write_tfrecords.py")
        counts = manifest["label_counts"].get("train", [0] * len(manifest["vocabulary"]))
        return TrainingData(root, list(manifest["vocabulary"]), manifest["catalog_fingerprint"],
                            {k: int(v) for k, v in manifest["splits"].items()}, np.asarray(counts, np.float64),
                            facts={"data_format": "tfrecords", "catalog": manifest.get("catalog")})
    catalog = resolve_catalog(data)
    vocabulary = list(catalog.vocabulary)
    items = catalog.items
    train = items[items["split"] == "train"]
    return TrainingData(Path(catalog.root), vocabulary, catalog_fingerprint(catalog),
                        {k: int(v) for k, v in items["split"].value_counts().items()},
                        multi_hot(train["labels"].tolist(), vocabulary).sum(axis=0).astype(np.float64),
                        catalog=catalog)
