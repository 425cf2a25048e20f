"""What every importer shares: ids, splits, image placement, writing the catalog.

An importer turns a public dataset's own layout into a catalog directory
(DESIGN.md section 4): items.parquet with every required column, images placed under
``images/`` (hard-linked when possible, so nothing is copied twice), and
``import_report.json`` saying what was skipped and why.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fashion_tf.data import schema
from fashion_tf.data.catalog import Catalog, save_catalog

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
IMAGE_MODES = ("link", "copy", "symlink", "reference")
REPORT_FILE = "import_report.json"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(text: str) -> str:
    """An id usable as a file name (masks/<item_id>.png): unsafe runs become "_"."""
    return _UNSAFE.sub("_", str(text)).strip("_") or "item"


def assign_split(key: str, fractions: tuple[float, float] = (0.8, 0.9)) -> str:
    """Deterministic 80/10/10 train/val/test split from a hash of ``key``.

    The same key always lands in the same split, across machines and Python versions
    (sha1, not ``hash()``), so re-importing never moves an item between splits.
    """
    bucket = int(hashlib.sha1(str(key).encode("utf-8")).hexdigest()[:8], 16) / 0x100000000
    return "train" if bucket < fractions[0] else "val" if bucket < fractions[1] else "test"


def place_image(source: Path, out: Path, name: str, mode: str = "link") -> str:
    """Put one source image into the catalog; returns its path relative to ``out``.

    Modes: "link" hard-links into images/ (falls back to copying across file systems),
    "copy", "symlink", or "reference" (no file written; the path points at the source).
    """
    if mode not in IMAGE_MODES:
        raise ValueError(f"image mode {mode!r} unknown; expected one of {IMAGE_MODES}")
    source = Path(source)
    if mode == "reference":
        return Path(os.path.relpath(source.absolute(), out.absolute())).as_posix()
    rel = Path(schema.IMAGES_DIR) / (name + source.suffix.lower())
    target = out / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    if mode == "symlink":
        target.symlink_to(source.absolute())
    elif mode == "link":
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    else:
        shutil.copy2(source, target)
    return rel.as_posix()


def find_images(root: Path) -> dict[str, Path]:
    """Basename -> path of every image file under ``root`` (first one found wins)."""
    found: dict[str, Path] = {}
    if root is None or not Path(root).is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.setdefault(name, Path(dirpath) / name)
    return found


@dataclass
class ImportReport:
    """What an importer did: the catalog it wrote and what it skipped, by reason."""

    format: str
    out: Path
    num_items: int = 0
    num_interactions: int = 0
    skipped: Counter = field(default_factory=Counter)
    catalog: Catalog | None = None

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        splits = ""
        if self.catalog is not None:
            counts = self.catalog.items["split"].value_counts()
            splits = " (" + "/".join(f"{counts.get(s, 0)} {s}" for s in schema.SPLITS) + ")"
        return (f"{self.format}: imported {self.num_items} items{splits}, "
                f"{self.num_interactions} interactions -> {self.out}; "
                f"skipped: {skipped or 'none'}")

    def to_json(self) -> dict:
        return {"format": self.format, "num_items": self.num_items,
                "num_interactions": self.num_interactions, "skipped": dict(self.skipped)}


class Progress:
    """A one-line progress counter on stderr for long imports."""

    def __init__(self, label: str, total: int | None = None, every: int = 5000):
        self.label, self.total, self.every, self.count = label, total, every, 0

    def step(self, n: int = 1) -> None:
        self.count += n
        if self.count % self.every == 0:
            total = f"/{self.total}" if self.total else ""
            print(f"\r{self.label}: {self.count}{total}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.count >= self.every:
            print(file=sys.stderr)


def write_catalog(report: ImportReport, rows: Iterable[dict],
                  interactions: pd.DataFrame | None = None, *, labels: bool = False,
                  min_count: int = 50, final_count: int = 100) -> ImportReport:
    """Save the imported rows (sorted by item_id) as a catalog; optionally label it."""
    items = pd.DataFrame(list(rows), columns=None)
    if items.empty:
        raise ValueError(f"{report.format} import found no usable items "
                         f"(skipped: {dict(report.skipped) or 'nothing'}); check --src/--images")
    for column, default in (("labels", None), ("domain", "shop")):
        if column not in items.columns:
            items[column] = [[] for _ in range(len(items))] if column == "labels" else default
    items = items.sort_values("item_id", kind="stable").reset_index(drop=True)
    if interactions is not None:
        interactions = interactions.sort_values(["user_id", "timestamp", "item_id"],
                                                kind="stable").reset_index(drop=True)
    report.out.mkdir(parents=True, exist_ok=True)
    # Tables of an earlier import into the same folder would no longer match these items.
    for stale in (schema.INTERACTIONS_FILE, schema.QUERIES_FILE, schema.LABELS_FILE,
                  schema.OUTFITS_FILE):
        (report.out / stale).unlink(missing_ok=True)
    catalog = save_catalog(items, report.out, interactions=interactions)
    if labels:
        from fashion_tf.data.labels import label_catalog

        catalog = label_catalog(report.out, min_count, final_count)
    report.catalog = catalog
    report.num_items = len(catalog.items)
    report.num_interactions = 0 if catalog.interactions is None else len(catalog.interactions)
    (report.out / REPORT_FILE).write_text(json.dumps(report.to_json(), indent=1) + "\n",
                                          encoding="utf-8")
    return report
