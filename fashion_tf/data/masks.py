"""Foreground masks of a catalog, computed once, cached and judged (paper 3.1, docs/masks.md).

Background augmentation cuts each item out of its shop photo with a foreground mask
and pastes it on a street scene. The mask of every catalog image is estimated once by
:func:`fashion_tf.data.mask_estimate.estimate_mask` (border backdrop model, edges,
GrabCut; see ``docs/masks.md``) and cached as ``masks/<item_id>.png`` (uint8, 0 =
background, 255 = item). Next to the masks, ``masks/confidence.json`` holds each mask's
confidence, area and, for a mask that must not be used, the reason: confidence below
``MIN_CONFIDENCE``, or covering less than ``MIN_AREA`` / more than ``MAX_AREA`` of the
image. :func:`usable_masks` is what the training pipeline reads: an item whose mask is
flagged is never pasted on a background (it still trains as itself), and the pipeline
report counts such items.

Masks are computed in parallel worker processes (one per core by default).

CLI: ``python -m fashion_tf.data.masks --catalog DIR [--workers N] [--force]
[--review review.png]``; ``--review`` draws the masks lowest confidence first.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fashion_tf.data import schema
from fashion_tf.data.mask_estimate import MAX_AREA, MIN_AREA, MIN_CONFIDENCE, MaskResult, estimate_mask

__all__ = ["MAX_AREA", "MIN_AREA", "MIN_CONFIDENCE", "compute_mask", "ensure_masks", "estimate_mask",
           "flagged_masks", "load_confidence", "mask_path", "read_rgb", "read_verdicts", "usable_masks",
           "verdicts_outdated"]

CONFIDENCE_FILE = "confidence.json"  # in masks/: {"version", "items": {item_id: [confidence, area, reason]}}
MASK_VERSION = 5   # bump when estimate_mask changes: cached masks of other versions are recomputed
PARALLEL_MIN = 48  # fewer masks than this are computed in-process (a worker start costs seconds)


def compute_mask(image_rgb_uint8: np.ndarray) -> np.ndarray:
    """The foreground mask (uint8 0/255) of :func:`estimate_mask`, without its verdict."""
    return estimate_mask(image_rgb_uint8).mask


def read_rgb(path: str | Path) -> np.ndarray | None:
    """uint8 RGB of an image file (any format OpenCV reads), or None if unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if data is None or data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def mask_path(item_id: str) -> str:
    """Relative path of an item's cached mask."""
    return f"{schema.MASKS_DIR}/{item_id}.png"


def _mask_one(root: Path, item_id: str, image_rel: str) -> tuple[float, float, str | None]:
    """Estimate, write ``masks/<item_id>.png``; return (confidence, area, reason)."""
    image = read_rgb(root / image_rel)
    if image is None:
        raise ValueError(f"{image_rel}: unreadable image")
    result: MaskResult = estimate_mask(image)
    target = root / mask_path(item_id)
    tmp = target.with_name(target.stem + f".{os.getpid()}.tmp.png")
    if not cv2.imwrite(str(tmp), result.mask, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f"cannot write {tmp}")
    tmp.replace(target)
    return result.confidence, result.area, result.reason


def _mask_chunk(root: str, jobs: list[tuple[str, str]], worker: bool = True) -> list[tuple[str, tuple | None, str | None]]:
    """Masks of several items; per item (item_id, verdict or None, error or None)."""
    if worker:
        cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would fight them
    out = []
    for item_id, image_rel in jobs:
        try:
            out.append((item_id, _mask_one(Path(root), item_id, image_rel), None))
        except Exception as error:  # noqa: BLE001  (one bad image must not stop the catalog)
            out.append((item_id, None, str(error)))
    return out


def _mask_is_current(mask_file: Path, image_file: Path) -> bool:
    """A cached mask is reused only if it is newer than its image: a replaced image
    (another size or another item) must not keep the old silhouette."""
    try:
        return mask_file.stat().st_mtime_ns >= image_file.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def read_verdicts(catalog_dir: str | Path) -> tuple[str, dict[str, tuple[float, float, str | None]]]:
    """``masks/confidence.json`` read once, as (state, ``item_id -> (confidence, area,
    reason)``): state "missing" (no file), "current" (this mask version) or "outdated"
    (another version, or unreadable); the verdicts only when current."""
    path = Path(catalog_dir) / schema.MASKS_DIR / CONFIDENCE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return "missing", {}
    except (OSError, ValueError):
        return "outdated", {}
    if not isinstance(data, dict) or data.get("version") != MASK_VERSION:
        return "outdated", {}
    return "current", {str(k): (float(v[0]), float(v[1]), v[2]) for k, v in data.get("items", {}).items()}


def load_confidence(catalog_dir: str | Path) -> dict[str, tuple[float, float, str | None]]:
    """``item_id -> (confidence, area, reason)`` from ``masks/confidence.json`` of the
    current mask version (empty when missing, unreadable or of another version)."""
    return read_verdicts(catalog_dir)[1]


def verdicts_outdated(catalog_dir: str | Path) -> bool:
    """True when ``masks/confidence.json`` was written by another mask version: its masks
    and verdicts must be recomputed before use (:func:`load_confidence` ignores them, so
    reading the old masks would paste ones the old version flagged). Masks without a
    confidence file (supplied with the catalog) are not outdated."""
    return read_verdicts(catalog_dir)[0] == "outdated"


def _save_confidence(root: Path, verdicts: dict) -> None:
    path = root / schema.MASKS_DIR / CONFIDENCE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"version": MASK_VERSION, "items": {k: list(v) for k, v in sorted(verdicts.items())}}))
    tmp.replace(path)


def usable_masks(catalog_dir: str | Path, item_ids) -> tuple[set[str], dict[str, str]]:
    """Which of ``item_ids`` may be pasted: (usable ids, {flagged id: reason}).

    A mask without a verdict (computed before confidences existed, or supplied with the
    catalog) counts as usable; :func:`ensure_masks` gives every mask it computes one.
    """
    flagged = flagged_masks(load_confidence(catalog_dir), item_ids)
    return {i for i in item_ids if i not in flagged}, flagged


def flagged_masks(verdicts: dict[str, tuple], item_ids=None) -> dict[str, str]:
    """``{item_id: reason}`` for those of ``item_ids`` (all: None) whose verdict flags
    the mask; ``verdicts`` as :func:`load_confidence` returns them."""
    ids = verdicts if item_ids is None else item_ids
    return {i: verdicts[i][2] for i in ids if i in verdicts and verdicts[i][2]}


def _run(root: Path, todo: list[tuple[int, str, str]], workers: int, progress: bool):
    """Yield (row, item_id, verdict, error) for every job, in worker processes when worth it."""
    jobs = [(item_id, rel) for _, item_id, rel in todo]
    rows = {item_id: row for row, item_id, _ in todo}
    start = time.monotonic()
    if workers <= 1 or len(jobs) < PARALLEL_MIN:
        results = (r for job in jobs for r in _mask_chunk(str(root), [job], worker=False))
        pool = None
    else:
        # spawn, not fork: the parent may hold TensorFlow's threads and locks.
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        size = max(1, min(64, len(jobs) // (4 * workers)))
        futures = [pool.submit(_mask_chunk, str(root), jobs[i:i + size]) for i in range(0, len(jobs), size)]
        results = (r for future in futures for r in future.result())
    try:
        for done, (item_id, verdict, error) in enumerate(results, 1):
            if progress and (done % 200 == 0 or done == len(jobs)):
                print(f"\rmasks {done}/{len(jobs)} ({time.monotonic() - start:.1f}s)",
                      end="", file=sys.stderr, flush=True)
            yield rows[item_id], item_id, verdict, error
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if progress and jobs:
        print(file=sys.stderr)


def ensure_masks(catalog_dir: str | Path, workers: int | None = None, force: bool = False,
                 progress: bool = False):
    """Compute the missing masks of a catalog once; fill ``mask``; save items.parquet.

    A mask file newer than its image and with a verdict of the current version in
    ``masks/confidence.json`` is reused (unless ``force``). Images that cannot be read
    get no mask (``mask`` = None) and are counted as failed; the pipeline treats an item
    without a mask, or with a flagged one, as "no background augmentation".

    Args:
        workers: worker processes (default: the CPU count).

    Returns the reloaded ``Catalog``; its ``mask_report`` attribute is
    ``{"computed": n, "reused": m, "failed": {item_id: reason}, "flagged": {item_id: reason}}``.
    """
    from fashion_tf.data.catalog import load_catalog, save_catalog

    root = Path(catalog_dir)
    catalog = load_catalog(root)
    items = catalog.items.copy()
    (root / schema.MASKS_DIR).mkdir(parents=True, exist_ok=True)
    known = load_confidence(root)
    masks: list[str | None] = [None] * len(items)
    verdicts: dict[str, tuple] = {}
    todo = []
    for row, (item_id, image_rel) in enumerate(zip(items["item_id"], items["image"])):
        if not force and item_id in known and _mask_is_current(root / mask_path(item_id), catalog.path(image_rel)):
            masks[row] = mask_path(item_id)
            verdicts[item_id] = known[item_id]
        else:
            todo.append((row, item_id, image_rel))
    reused = len(items) - len(todo)

    failed: dict[str, str] = {}
    workers = workers or os.cpu_count() or 1
    for row, item_id, verdict, error in _run(root, todo, workers, progress):
        if error is None:
            masks[row] = mask_path(item_id)
            verdicts[item_id] = verdict
        else:
            failed[item_id] = error
    if todo or set(known) != set(verdicts):
        _save_confidence(root, verdicts)

    old = [m if isinstance(m, str) else None for m in items.get("mask", [None] * len(items))]
    if "mask" not in items.columns or old != masks:
        items["mask"] = pd.Series(masks, index=items.index, dtype=object)
        catalog.items = items
        catalog = save_catalog(catalog, root)
    flagged = flagged_masks(verdicts)
    catalog.mask_report = {"computed": len(todo) - len(failed), "reused": reused, "failed": failed,
                           "flagged": flagged}
    return catalog


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.data.masks",
        description="Compute, cache and judge the foreground masks of a catalog (masks/<item_id>.png, "
                    "masks/confidence.json).")
    parser.add_argument("--catalog", required=True, help="catalog directory (holds items.parquet)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    parser.add_argument("--force", action="store_true", help="recompute existing masks")
    parser.add_argument("--review", default=None, metavar="PNG",
                        help="also draw the images with their masks and confidences, lowest first")
    parser.add_argument("--review-count", type=int, default=48, help="images on the review sheet")
    args = parser.parse_args(argv)
    catalog = ensure_masks(args.catalog, workers=args.workers, force=args.force, progress=True)
    report = catalog.mask_report
    for item_id, reason in list(report["failed"].items())[:10]:
        print(f"failed {item_id}: {reason}", file=sys.stderr)
    total = len(catalog.items)
    flagged = report["flagged"]
    print(f"masks: computed {report['computed']}, reused {report['reused']}, "
          f"failed {len(report['failed'])} -> {Path(args.catalog) / schema.MASKS_DIR}")
    examples = ", ".join(f"{k} ({v})" for k, v in list(flagged.items())[:3])
    print(f"{len(flagged)} of {total} items have no usable mask (never pasted on a background)"
          + (f", e.g. {examples}" if flagged else ""))
    if args.review:
        from fashion_tf.data.mask_review import draw_review

        path = draw_review(args.catalog, args.review, count=args.review_count)
        print(f"review sheet: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
