"""What every importer shares: ids, splits, image placement, writing the catalog.

An importer turns a public dataset's own layout into a catalog directory
(docs/design.md, "Data"): items.parquet with every required column, images placed under
``images/`` (hard-linked when possible, so nothing is copied twice), and
``import_report.json`` saying what was skipped and why.
"""
from __future__ import annotations

import gzip
import hashlib
import io
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


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic bytes, whatever its name says
    (browsers and download tools sometimes drop or add the ".gz")."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def open_text(path: str | Path) -> io.TextIOBase:
    """A text handle on a plain or gzip file, told apart by its first bytes.

    A UTF-8 byte-order mark, which spreadsheet tools write, is skipped.
    """
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


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


EXAMPLES_PER_REASON = 3


@dataclass
class ImportReport:
    """What an importer did: the catalog it wrote, and what it left out and why.

    ``skipped`` counts source items that did not become catalog rows, by reason;
    ``dropped`` counts source interaction rows (reviews, transactions) that did not
    become interactions, by reason. ``examples`` keeps the first few of each reason
    (a line number, an id) so that a user can look them up in the source files.
    ``details`` holds what the importer found out on its way (the detected layout,
    the files read, how ratings were made).
    """

    format: str
    out: Path
    num_items: int = 0
    num_interactions: int = 0
    skipped: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    interaction_rows_read: int = 0
    details: dict = field(default_factory=dict)
    catalog: Catalog | None = None

    def _example(self, reason: str, example) -> None:
        if example is not None:
            kept = self.examples.setdefault(reason, [])
            if len(kept) < EXAMPLES_PER_REASON:
                kept.append(str(example)[:160])

    def skip(self, reason: str, example=None, count: int = 1) -> None:
        """Count ``count`` source items left out for ``reason``."""
        self.skipped[reason] += count
        self._example(reason, example)

    def drop(self, reason: str, example=None, count: int = 1) -> None:
        """Count ``count`` source interaction rows left out for ``reason``."""
        self.dropped[reason] += count
        self._example(reason, example)

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        splits = ""
        if self.catalog is not None:
            counts = self.catalog.items["split"].value_counts()
            splits = " (" + "/".join(f"{counts.get(s, 0)} {s}" for s in schema.SPLITS) + ")"
        return (f"{self.format}: imported {self.num_items} items{splits}, "
                f"{self.num_interactions} interactions -> {self.out}; "
                f"skipped: {skipped or 'none'}")

    def table(self) -> str:
        """The report as a plain-text table: one line per count, examples beside it."""
        rows: list[tuple[str, int, str]] = [("items imported", self.num_items, "")]
        for reason, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append((f"items skipped: {reason}", n, reason))
        if self.interaction_rows_read or self.num_interactions or self.dropped:
            kept = self.interaction_rows_read - sum(self.dropped.values())
            rows += [("interaction rows read", self.interaction_rows_read, ""),
                     ("interaction rows kept", kept, "")]
            for reason, n in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
                rows.append((f"  dropped: {reason}", n, reason))
            rows.append(("interactions written", self.num_interactions, ""))
        width = max(len(label) for label, _, _ in rows)
        lines = [f"{self.format} import -> {self.out}"]
        for label, n, reason in rows:
            examples = self.examples.get(reason) if reason else None
            shown = f"  e.g. {'; '.join(examples)}" if examples else ""
            lines.append(f"  {label:<{width}} {n:>10}{shown}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        kept = self.interaction_rows_read - sum(self.dropped.values())
        return {"format": self.format, "num_items": self.num_items,
                "skipped": dict(sorted(self.skipped.items())),
                "interactions": {"rows_read": self.interaction_rows_read,
                                 "rows_kept": kept,
                                 "dropped": dict(sorted(self.dropped.items())),
                                 "written": self.num_interactions},
                "num_interactions": self.num_interactions,
                "examples": {k: list(v) for k, v in sorted(self.examples.items())},
                "details": self.details}


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
                  min_count: int = 50, final_count: int = 100, labels_from: str = "titles",
                  attribute_columns: tuple[str, ...] = ()) -> ImportReport:
    """Save the imported rows (sorted by item_id) as a catalog; optionally label it.

    With ``labels``, ``labels_from`` picks the source: "titles" (label extraction from
    category + title, paper section 4.2), "attributes" (the values of
    ``attribute_columns``) or "both" (see ``attribute_labels.label_catalog_from``).
    """
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
        from fashion_tf.data.importers.attribute_labels import label_catalog_from

        catalog = label_catalog_from(report.out, labels_from, attribute_columns,
                                     min_count, final_count)
        report.details["labels_from"] = labels_from
    report.catalog = catalog
    report.num_items = len(catalog.items)
    report.num_interactions = 0 if catalog.interactions is None else len(catalog.interactions)
    (report.out / REPORT_FILE).write_text(
        json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return report
