"""Catalog cleaning (paper section 4.2, docs/design.md, "Data").

Drops, in this order of checks, items whose image is
  missing      - the file does not exist;
  unreadable   - zero bytes, not decodable by OpenCV, or a JPEG/PNG cut short;
  tiny         - shorter side < ``min_side`` px (paper: 64);
  empty        - near-constant pixels (grey-level std < ``min_std``): a blank placeholder;
  duplicate    - a near-duplicate of an earlier item: difference hashes (dHash, 64 bits)
                 within ``hash_distance`` bits *and* 16x16 colour thumbnails that differ
                 nowhere by more than ``color_tolerance``. dHash alone sees only grey
                 gradients: a red and a blue shirt of one cut, or a plain and a striped
                 one, or one with a pocket, hash alike (distance 0-1) but must all stay;
                 re-encoded or resized copies differ by < 13 per thumbnail pixel.
The first of a group of duplicates (in item_id order) is kept. Interactions and
queries of dropped items are dropped with them. Writes cleaning_report.csv
(item_id, image, reason, detail).

CLI: ``python -m fashion_tf.data.cleaning --catalog DIR [--min-side 64]``.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fashion_tf.data import schema
from fashion_tf.data.catalog import Catalog, load_catalog, save_catalog

REASONS = ("missing", "unreadable", "tiny", "empty", "duplicate")
REPORT_COLUMNS = ["item_id", "image", "reason", "detail"]


def is_truncated(data: bytes) -> bool:
    """True for a JPEG without its end marker or a PNG without its IEND chunk.

    Some OpenCV builds decode a cut-off JPEG into a grey-filled image with only a
    warning, so the bytes are checked directly.
    """
    if data[:3] == b"\xff\xd8\xff":
        # The end-of-image marker, allowing for padding some writers append after it.
        return b"\xff\xd9" not in data[-1024:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-16:]
    return False


def read_image(path: Path) -> tuple[np.ndarray | None, str]:
    """(BGR image, "") or (None, why it cannot be used)."""
    if not path.is_file():
        return None, "missing"
    data = path.read_bytes()
    if not data:
        return None, "unreadable: zero bytes"
    if is_truncated(data):
        return None, "unreadable: truncated file"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None, "unreadable: not a decodable image"
    return image, ""


def dhash(image_bgr: np.ndarray, size: int = 8) -> int:
    """Difference hash: sign of horizontal gradients of a (size+1) x size grey thumbnail."""
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def color_thumbnail(image_bgr: np.ndarray, size: int = 16) -> np.ndarray:
    return cv2.resize(image_bgr, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def _max_pixel_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest per-pixel difference (channel mean, 0-255) of two thumbnails: a local
    change such as a pocket shows here even when the mean difference is tiny."""
    return float(np.abs(a - b).mean(axis=2).max())


class _DuplicateFinder:
    """Near-duplicate lookup by multi-index hashing: two 64-bit hashes within d bits
    agree exactly on at least one of d+1 disjoint bit chunks (pigeonhole), so only
    items sharing a chunk are compared. Scales to large catalogs."""

    def __init__(self, distance: int, color_tolerance: float):
        self.distance, self.color_tolerance = distance, color_tolerance
        chunks = distance + 1
        bounds = [int(b) for b in np.linspace(0, 64, chunks + 1)]
        self.masks = [(((1 << (hi - lo)) - 1) << lo, lo) for lo, hi in itertools.pairwise(bounds)]
        self.buckets: list[dict[int, list[int]]] = [defaultdict(list) for _ in self.masks]
        self.hashes: list[int] = []
        self.thumbs: list[np.ndarray] = []
        self.ids: list[str] = []

    def find_or_add(self, item_id: str, hash_value: int, thumb: np.ndarray) -> str | None:
        """The id of a kept near-duplicate, or None (and the item is kept)."""
        seen = set()
        for (mask, _), bucket in zip(self.masks, self.buckets):
            for index in bucket.get(hash_value & mask, ()):
                if index in seen:
                    continue
                seen.add(index)
                if (self.hashes[index] ^ hash_value).bit_count() <= self.distance and \
                        _max_pixel_difference(self.thumbs[index], thumb) <= self.color_tolerance:
                    return self.ids[index]
        index = len(self.hashes)
        self.hashes.append(hash_value)
        self.thumbs.append(thumb)
        self.ids.append(item_id)
        for (mask, _), bucket in zip(self.masks, self.buckets):
            bucket[hash_value & mask].append(index)
        return None


def clean_catalog(catalog_or_dir: Catalog | str | Path, min_side: int = 64,
                  hash_distance: int = 4, color_tolerance: float = 20.0, min_std: float = 2.0,
                  write: bool = True, verbose: bool = True) -> tuple[Catalog, pd.DataFrame]:
    """Drop unusable and duplicate images from a catalog (paper section 4.2).

    Args:
        catalog_or_dir: a Catalog or a catalog directory.
        min_side: smallest accepted image side in pixels (paper: 64).
        hash_distance: largest dHash Hamming distance (of 64 bits) for a near-duplicate.
        color_tolerance: largest per-pixel difference (0-255) of 16x16 colour
            thumbnails for a near-duplicate.
        min_std: images whose grey levels have a smaller standard deviation are empty.
        write: save the cleaned tables and cleaning_report.csv into the catalog directory.
        verbose: print the counts per reason.

    Returns:
        (cleaned Catalog, report DataFrame with columns item_id, image, reason, detail).
    """
    catalog = catalog_or_dir if isinstance(catalog_or_dir, Catalog) else load_catalog(catalog_or_dir)
    items = catalog.items.sort_values("item_id", kind="stable")
    finder = _DuplicateFinder(hash_distance, color_tolerance)
    dropped: list[tuple[str, str, str, str]] = []
    total = len(items)
    for number, (item_id, rel) in enumerate(zip(items["item_id"], items["image"]), start=1):
        if verbose and sys.stderr.isatty() and number % 500 == 0:
            print(f"\rcleaning {number}/{total}", end="", file=sys.stderr, flush=True)
        image, problem = read_image(catalog.path(rel))
        if image is None:
            reason, _, detail = problem.partition(": ")
            dropped.append((item_id, rel, reason, detail))
            continue
        height, width = image.shape[:2]
        if min(height, width) < min_side:
            dropped.append((item_id, rel, "tiny", f"{width}x{height} px < {min_side}"))
            continue
        std = float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).std())
        if std < min_std:
            dropped.append((item_id, rel, "empty", f"grey std {std:.2f} < {min_std}"))
            continue
        original = finder.find_or_add(item_id, dhash(image), color_thumbnail(image))
        if original is not None:
            dropped.append((item_id, rel, "duplicate", f"near-duplicate of {original}"))
    if verbose and sys.stderr.isatty() and total >= 500:
        print(file=sys.stderr)

    report = pd.DataFrame(dropped, columns=REPORT_COLUMNS)
    gone = set(report["item_id"])
    keep = ~catalog.items["item_id"].isin(gone)
    cleaned = Catalog(catalog.root, catalog.items[keep].reset_index(drop=True),
                      _without(catalog.interactions, gone), _without(catalog.queries, gone),
                      catalog.vocabulary, _recount(catalog, keep))
    if write:
        root = Path(catalog.root)
        cleaned = save_catalog(cleaned, root)
        report.to_csv(root / schema.CLEANING_REPORT_FILE, index=False)
    if verbose:
        counts = report["reason"].value_counts()
        by_reason = ", ".join(f"{counts.get(r, 0)} {r}" for r in REASONS)
        print(f"cleaning: kept {len(cleaned.items)}/{len(catalog.items)} items; dropped {by_reason}")
    return cleaned, report


def _without(table: pd.DataFrame | None, gone: set[str]) -> pd.DataFrame | None:
    if table is None:
        return None
    return table[~table["item_id"].isin(gone)].reset_index(drop=True)


def _recount(catalog: Catalog, keep: pd.Series) -> dict[str, int] | None:
    if catalog.vocabulary is None:
        return None
    counts = dict.fromkeys(catalog.vocabulary, 0)
    for labels in catalog.items.loc[keep, "labels"]:
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.data.cleaning",
        description="Drop missing, unreadable, tiny, empty and near-duplicate images "
                    "(paper section 4.2); writes cleaning_report.csv.")
    parser.add_argument("--catalog", required=True, help="catalog directory (items.parquet)")
    parser.add_argument("--min-side", type=int, default=64, help="smallest image side in px")
    parser.add_argument("--hash-distance", type=int, default=4,
                        help="largest dHash Hamming distance for a near-duplicate")
    parser.add_argument("--color-tolerance", type=float, default=20.0,
                        help="largest per-pixel difference (0-255) of 16x16 thumbnails "
                             "for a near-duplicate")
    parser.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    args = parser.parse_args(argv)
    clean_catalog(args.catalog, args.min_side, args.hash_distance,
                              args.color_tolerance, write=not args.dry_run)
    if not args.dry_run:
        print(f"report -> {Path(args.catalog) / schema.CLEANING_REPORT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
