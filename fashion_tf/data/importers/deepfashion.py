"""DeepFashion In-shop Clothes Retrieval (Liu et al. 2016), from list_eval_partition.txt.

The partition file, as distributed in ``Eval/``::

    52712
    image_name item_id evaluation_status
    img/WOMEN/Dresses/id_00000002/02_1_front.jpg id_00000002 train

One catalog row per image. The category comes from the path ("Women > Dresses"), the
title from the path words; the source's split is kept: "train" products stay in train
(a ``val_fraction`` of them, by product, goes to val so that no product is in both),
"query" and "gallery" images go to test. ``product_id``, ``evaluation_status`` and
``view`` ("front", "side", ...) are kept as extra columns for in-shop retrieval.
"""
from __future__ import annotations

from pathlib import Path

from fashion_tf.data.importers.common import (
    ImportReport,
    Progress,
    assign_split,
    place_image,
    safe_id,
    write_catalog,
)

PARTITION_FILE = "list_eval_partition.txt"
_STATUS_TO_SPLIT = {"train": "train", "query": "test", "gallery": "test"}


def find_partition(src: str | Path) -> Path:
    """list_eval_partition.txt in ``src``, ``src/Eval`` or ``src/Anno`` (or ``src`` itself)."""
    src = Path(src)
    for candidate in (src, src / PARTITION_FILE, src / "Eval" / PARTITION_FILE,
                      src / "Anno" / PARTITION_FILE):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{src}: no {PARTITION_FILE} (looked in ., Eval/, Anno/)")


def read_partition(path: Path) -> list[tuple[str, str, str]]:
    """(image_name, product_id, evaluation_status) rows, checking the header."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 2 or lines[1].split() != ["image_name", "item_id", "evaluation_status"]:
        raise ValueError(f"{path.name}: line 2 should be the header 'image_name item_id "
                         f"evaluation_status', found {lines[1] if len(lines) > 1 else 'nothing'!r}")
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[2] not in _STATUS_TO_SPLIT:
            raise ValueError(f"{path.name}: line {number} should be 'image_name item_id "
                             f"train|query|gallery', found {line!r}")
        rows.append((fields[0], fields[1], fields[2]))
    declared = lines[0].strip()
    if declared.isdigit() and int(declared) != len(rows):
        raise ValueError(f"{path.name}: line 1 declares {declared} images, found {len(rows)} rows")
    return rows


def _image_root(partition: Path, first_image: str, images: Path | None) -> Path:
    candidates = [images] if images is not None else []
    candidates += [partition.parent, partition.parent.parent, partition.parent.parent / "Img",
                   partition.parent / "Img"]
    for root in candidates:
        if root is not None and (root / first_image).is_file():
            return root
    return candidates[0] if images is not None else partition.parent.parent / "Img"


def _words(folder: str) -> str:
    return " ".join(w for w in folder.replace("-", "_").split("_") if w)


def import_deepfashion(src: str | Path, out: str | Path, images: str | Path | None = None, *,
                       val_fraction: float = 0.1, image_mode: str = "link",
                       labels: bool = False, min_count: int = 50,
                       final_count: int = 100) -> ImportReport:
    """Import DeepFashion In-shop into a catalog directory.

    Args:
        src: the dataset root (holding Eval/ and Img/) or the partition file.
        out: the catalog directory to write.
        images: the folder that ``image_name`` paths ("img/...") are relative to;
            found automatically next to the partition file when omitted.
        val_fraction: share of train products moved to val (by a hash of the product id).
    """
    partition = find_partition(src)
    rows_in = read_partition(partition)
    root = _image_root(partition, rows_in[0][0] if rows_in else "", Path(images) if images else None)
    report = ImportReport("deepfashion", Path(out))
    rows = []
    progress = Progress("images", len(rows_in))
    for image_name, product_id, status in rows_in:
        progress.step()
        source = root / image_name
        if not source.is_file():
            report.skipped["missing image"] += 1
            continue
        parts = Path(image_name).parts
        # img/<GENDER>/<Category>/<product>/<file>; tolerate a missing "img/" prefix.
        parts = parts[1:] if parts and parts[0].lower() == "img" else parts
        gender, category = (parts[0], parts[1]) if len(parts) >= 4 else ("", "")
        stem = Path(image_name).stem
        split = _STATUS_TO_SPLIT[status]
        if split == "train" and val_fraction > 0:
            split = assign_split(product_id, (1.0 - val_fraction, 1.0))
        item_id = safe_id(str(Path(*parts).with_suffix("")))
        rows.append({
            "item_id": item_id,
            "image": place_image(source, report.out, item_id, image_mode),
            "category": " > ".join(_words(p).title() for p in (gender, category) if p),
            "title": f"{_words(gender).title()} {_words(category)}".strip(),
            "labels": [],
            "split": split,
            "domain": "shop",
            "product_id": product_id,
            "evaluation_status": status,
            "view": stem.split("_")[-1] if "_" in stem else "",
        })
    progress.done()
    return write_catalog(report, rows, labels=labels, min_count=min_count,
                         final_count=final_count)
