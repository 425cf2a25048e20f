"""Foreground masks of catalog images with OpenCV contours (paper 3.1, docs/design.md, "Augmentation").

Shop photographs show one item on a plain, light background. The mask is found once
per image and cached as ``masks/<item_id>.png`` (uint8, 0 = background, 255 = item);
background augmentation then cuts the item out with it.

:func:`compute_mask`:
  1. estimate the background colour as the median of the border pixels;
  2. measure each pixel's colour distance to it in CIELAB, with lightness
     down-weighted so that soft shadows (darker, same hue) stay background;
  3. threshold above the border's own noise (JPEG ringing, gradients);
  4. close small gaps and open away specks (elliptic kernels ~2 % of the size);
  5. keep contours larger than ``min_area`` of the image (the largest always) and
     fill them, so textures, white buttons or dots inside the item are foreground,
     except holes that are large and background-coloured (a bag handle's loop).

When the border is not plain (a lifestyle photo), or nothing stands out, the whole
image is returned as foreground: pasting it onto a background then changes nothing,
which is the safe failure.

CLI: ``python -m fashion_tf.data.masks --catalog DIR [--workers N] [--force]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fashion_tf.data import schema

LIGHTNESS_WEIGHT = 0.8   # shadows change lightness mostly; colour changes count fully
MIN_THRESHOLD = 14.0     # Lab distance units
PLAIN_BORDER_SPREAD = 25.0  # above this 90th-percentile border distance: not a plain background


def _lab(image_rgb: np.ndarray) -> np.ndarray:
    """Float CIELAB with L in [0, 100] and a, b roughly in [-128, 127]."""
    lab = cv2.cvtColor(image_rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return lab


def _border(array: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([array[:width].reshape(-1, *array.shape[2:]),
                           array[-width:].reshape(-1, *array.shape[2:]),
                           array[:, :width].reshape(-1, *array.shape[2:]),
                           array[:, -width:].reshape(-1, *array.shape[2:])])


def _distance(lab: np.ndarray, reference: np.ndarray) -> np.ndarray:
    diff = lab - reference
    diff[..., 0] *= LIGHTNESS_WEIGHT
    return np.sqrt(np.sum(diff * diff, axis=-1))


def compute_mask(image_rgb_uint8: np.ndarray, min_area: float = 0.01,
                 hole_area: float = 0.03) -> np.ndarray:
    """Foreground mask of a product photo on a plain light background.

    Args:
        image_rgb_uint8: uint8 RGB [H, W, 3] (grayscale [H, W] is accepted).
        min_area: contours smaller than this fraction of the image are dropped.
        hole_area: background-coloured holes at least this fraction of the image are
            kept as holes; smaller ones are filled.

    Returns:
        uint8 [H, W] with values 0 and 255.
    """
    image = np.asarray(image_rgb_uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8:
        raise ValueError(f"compute_mask expects uint8 RGB [H, W, 3], got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image[:, :, :3])
    h, w = image.shape[:2]
    full = np.full((h, w), 255, np.uint8)
    if min(h, w) < 8:
        return full

    lab = _lab(image)
    width = max(1, min(h, w) // 50)
    border = _border(lab, width)
    background = np.median(border, axis=0)
    border_distance = _distance(border, background)
    spread = float(np.percentile(border_distance, 90))
    if spread > PLAIN_BORDER_SPREAD:
        return full
    threshold = max(MIN_THRESHOLD, float(np.percentile(border_distance, 99.5)) + 6.0)
    binary = (_distance(lab, background) > threshold).astype(np.uint8) * 255

    k = max(3, (min(h, w) // 50) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    small = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, small)

    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return full
    hierarchy = hierarchy[0]
    areas = np.array([cv2.contourArea(c) for c in contours])
    outer = [i for i in range(len(contours)) if hierarchy[i][3] < 0]
    largest = max(outer, key=lambda i: areas[i])
    keep = [i for i in outer if areas[i] >= min_area * h * w or i == largest]
    mask = np.zeros((h, w), np.uint8)
    cv2.drawContours(mask, [contours[i] for i in keep], -1, 255, thickness=-1)
    # Re-open large holes (children of kept contours): a handle loop shows background.
    holes = [contours[i] for i in range(len(contours))
             if hierarchy[i][3] in keep and areas[i] >= hole_area * h * w]
    if holes:
        cv2.drawContours(mask, holes, -1, 0, thickness=-1)
        cv2.drawContours(mask, holes, -1, 255, thickness=1)  # the hole's rim is foreground
    return mask


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


def _mask_one(root: Path, item_id: str, image_rel: str) -> str:
    image = read_rgb(root / image_rel)
    if image is None:
        raise ValueError(f"{image_rel}: unreadable image")
    target = root / mask_path(item_id)
    tmp = target.with_name(target.stem + ".tmp.png")
    if not cv2.imwrite(str(tmp), compute_mask(image), [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f"cannot write {tmp}")
    tmp.replace(target)
    return mask_path(item_id)


def _mask_is_current(mask_file: Path, image_file: Path) -> bool:
    """A cached mask is reused only if it is newer than its image: a replaced image
    (another size or another item) must not keep the old silhouette."""
    try:
        return mask_file.stat().st_mtime_ns >= image_file.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def ensure_masks(catalog_dir: str | Path, workers: int | None = None, force: bool = False,
                 progress: bool = False):
    """Compute the missing masks of a catalog once; fill ``mask``; save items.parquet.

    A mask file newer than its image is reused (unless ``force``). Images that cannot
    be read get no mask (``mask`` = None) and are counted as failed; the pipeline
    treats an item without a mask as "no background augmentation".

    Returns the reloaded ``Catalog``; its ``mask_report`` attribute is
    ``{"computed": n, "reused": m, "failed": {item_id: reason}}``.
    """
    from fashion_tf.data.catalog import load_catalog, save_catalog

    root = Path(catalog_dir)
    catalog = load_catalog(root)
    items = catalog.items.copy()
    (root / schema.MASKS_DIR).mkdir(parents=True, exist_ok=True)
    masks: list[str | None] = [None] * len(items)
    todo = []
    reused = 0
    for row, (item_id, image_rel) in enumerate(zip(items["item_id"], items["image"])):
        if not force and _mask_is_current(root / mask_path(item_id), catalog.path(image_rel)):
            masks[row] = mask_path(item_id)
            reused += 1
        else:
            todo.append((row, item_id, image_rel))

    failed: dict[str, str] = {}
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:  # cv2 releases the GIL
        futures = [(row, item_id, pool.submit(_mask_one, root, item_id, rel))
                   for row, item_id, rel in todo]
        for done, (row, item_id, future) in enumerate(futures, 1):
            try:
                masks[row] = future.result()
            except Exception as error:
                failed[item_id] = str(error)
            if progress and (done % 200 == 0 or done == len(futures)):
                print(f"\rmasks {done}/{len(futures)} ({time.monotonic() - start:.1f}s)",
                      end="", file=sys.stderr, flush=True)
    if progress and futures:
        print(file=sys.stderr)

    old = [m if isinstance(m, str) else None for m in items.get("mask", [None] * len(items))]
    if "mask" not in items.columns or old != masks:
        items["mask"] = pd.Series(masks, index=items.index, dtype=object)
        catalog.items = items
        catalog = save_catalog(catalog, root)
    catalog.mask_report = {"computed": len(todo) - len(failed), "reused": reused, "failed": failed}
    return catalog


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.data.masks",
        description="Compute and cache the foreground masks of a catalog (masks/<item_id>.png).")
    parser.add_argument("--catalog", required=True, help="catalog directory (holds items.parquet)")
    parser.add_argument("--workers", type=int, default=None, help="threads (default: CPU count)")
    parser.add_argument("--force", action="store_true", help="recompute existing masks")
    args = parser.parse_args(argv)
    catalog = ensure_masks(args.catalog, workers=args.workers, force=args.force, progress=True)
    report = catalog.mask_report
    for item_id, reason in list(report["failed"].items())[:10]:
        print(f"failed {item_id}: {reason}", file=sys.stderr)
    print(f"masks: computed {report['computed']}, reused {report['reused']}, "
          f"failed {len(report['failed'])} -> {Path(args.catalog) / schema.MASKS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
