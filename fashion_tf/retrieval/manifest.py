"""The manifest of an index directory (docs/design.md, "Retrieval").

``DIR/manifest.json`` says what the index is and where it came from, so that a server or
a batch job can refuse an index that does not match its model:

    {"format": "fashion_tf.index", "format_version": 1,
     "backend": "scann" | "brute_force", "distance": "cosine" | "l2",
     "dimension": 256, "count": 1000000, "model_fingerprint": "0123abcd..." | null,
     "params": {...build parameters...},
     "recall_at_10": 0.97, "recall_sample_queries": 200,
     "build_seconds": 81.2, "created": "2026-01-01T00:00:00+00:00",
     "files": {"item_ids": "item_ids.parquet", ...}}

The item ids live in ``item_ids.parquet`` (one string column ``item_id``, row i = vector i).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fashion_tf.format_json import read_format_json

FORMAT = "fashion_tf.index"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ITEM_IDS_NAME = "item_ids.parquet"
REQUIRED_FIELDS = ("backend", "distance", "dimension", "count", "model_fingerprint", "params")

logger = logging.getLogger(__name__)


class IndexMismatchError(ValueError):
    """An index was built from another model (fingerprint) or another dimension."""


class IndexFormatError(ValueError):
    """An index directory is missing files or its manifest is malformed."""


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    path = Path(directory) / MANIFEST_NAME
    path.write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **manifest},
                               indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """Reads and validates ``DIR/manifest.json``; errors name the file and the field."""
    path = Path(directory) / MANIFEST_NAME
    manifest = read_format_json(path, FORMAT, IndexFormatError, f"{directory} is not an index "
                                "directory (build one with tools/build_index.py)")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise IndexFormatError(f"{path}: format_version {manifest['format_version']} is newer than "
                               f"this fashion_tf understands ({FORMAT_VERSION}); upgrade fashion_tf")
    missing = [name for name in REQUIRED_FIELDS if name not in manifest]
    if missing:
        raise IndexFormatError(f"{path}: fields {missing} missing; expected {list(REQUIRED_FIELDS)}")
    if manifest["distance"] not in ("cosine", "l2"):
        raise IndexFormatError(f"{path}: distance {manifest['distance']!r}, expected 'cosine' or 'l2'")
    return manifest


def check_compatible(manifest: dict[str, Any], directory: str | Path,
                     expected_fingerprint: str | None, expected_dim: int | None) -> None:
    """Raises ``IndexMismatchError`` when the index does not belong to the caller's model.

    An index whose manifest has no fingerprint (built from anonymous vectors) is accepted
    with a warning, because there is nothing to compare against.
    """
    built_from = manifest.get("model_fingerprint")
    if expected_fingerprint is not None:
        if built_from is None:
            logger.warning("index at %s records no model fingerprint; cannot check that it "
                           "matches model fingerprint %s", directory, expected_fingerprint)
        elif built_from != expected_fingerprint:
            raise IndexMismatchError(
                f"index at {directory} was built from model fingerprint {built_from} but the "
                f"embeddings come from {expected_fingerprint}; rebuild the index from this "
                "model's embeddings (tools/build_index.py) or use the matching model"
            )
    if expected_dim is not None and int(manifest["dimension"]) != int(expected_dim):
        raise IndexMismatchError(
            f"index at {directory} has dimension {manifest['dimension']} but the embeddings "
            f"have dimension {expected_dim}"
        )
