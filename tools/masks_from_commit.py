"""Foreground masks of a catalog computed by the mask code of an earlier commit.

For a before/after comparison of background augmentation (paper 3.1): the masks a
catalog would have had with an older version of ``fashion_tf/data/masks.py``, written
as ``OUT/<item_id>.png`` (uint8 0/255), so ``tools/background_ablation.py --masks-from
OUT`` can train on them while everything else stays current. The old module is read
from git history (``git show COMMIT:fashion_tf/data/masks.py``) into a temporary file
and only its ``compute_mask(image_rgb_uint8)`` is called; it must not import other
mask modules of this package (those would be today's versions, not the commit's).

The default commit is the last one with the contour masks (border median colour,
CIELAB threshold, contours filled; the whole image when the border is not plain): the
parent of the commit that replaced them by the backdrop model, edges and GrabCut of
``docs/masks.md``. Those masks have no confidence, so every one of them is used, as
that version did. ``OUT/source.json`` records the commit and, where the catalog has
true silhouettes (``true_masks/``, the demo shop), the masks' mean IoU against them.

    python tools/masks_from_commit.py --catalog DIR --out /tmp/contour_masks
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fashion_tf.data import schema
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.mask_cues import iou
from fashion_tf.data.masks import read_rgb

CONTOUR_COMMIT = "fffbeb0^"  # parent of "Foreground masks that hold on real product photos"
MODULE = "fashion_tf/data/masks.py"


def load_old_masks_module(commit: str, repo: Path):
    """The commit's ``fashion_tf/data/masks.py`` as a module, and the commit's full hash."""
    full = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{commit}^{{commit}}"],
                          capture_output=True, text=True, check=False)
    if full.returncode != 0:
        raise ValueError(f"--commit {commit!r}: not a commit of {repo} ({full.stderr.strip()})")
    source = subprocess.run(["git", "-C", str(repo), "show", f"{full.stdout.strip()}:{MODULE}"],
                            capture_output=True, text=True, check=False)
    if source.returncode != 0:
        raise ValueError(f"--commit {commit!r}: has no {MODULE} ({source.stderr.strip()})")
    if re.search(r"^\s*from fashion_tf\.data\.mask\w", source.stdout, re.MULTILINE):
        raise ValueError(f"--commit {commit!r}: its {MODULE} imports other mask modules, which would "
                         "be loaded in today's version; pick a commit whose masks.py is self-contained")
    folder = Path(tempfile.mkdtemp(prefix="old_masks_"))
    path = folder / "old_masks.py"
    path.write_text(source.stdout)
    spec = importlib.util.spec_from_file_location(f"old_masks_{full.stdout.strip()[:10]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "compute_mask", None)):
        raise TypeError(f"--commit {commit!r}: {MODULE} has no compute_mask(image)")
    return module, full.stdout.strip()


def write_masks(catalog_dir: Path, out: Path, commit: str = CONTOUR_COMMIT, repo: Path | None = None) -> dict:
    """Every catalog image's mask by the commit's ``compute_mask``; returns source.json's content."""
    module, full = load_old_masks_module(commit, repo or Path(__file__).resolve().parents[1])
    catalog = load_catalog(catalog_dir)
    out.mkdir(parents=True, exist_ok=True)
    scores, failed = [], {}
    for item_id, image_rel in zip(catalog.items["item_id"], catalog.items["image"]):
        image = read_rgb(catalog.path(image_rel))
        if image is None:
            failed[str(item_id)] = f"{image_rel}: unreadable image"
            continue
        mask = module.compute_mask(image)
        if not cv2.imwrite(str(out / f"{item_id}.png"), mask):
            raise OSError(f"cannot write {out / f'{item_id}.png'}")
        truth = cv2.imread(str(Path(catalog_dir) / schema.TRUE_MASKS_DIR / f"{item_id}.png"), cv2.IMREAD_GRAYSCALE)
        if truth is not None and truth.shape == mask.shape:
            scores.append(iou(mask, truth))
    record = {"commit": full, "asked": commit, "module": MODULE, "catalog": str(Path(catalog_dir).resolve()),
              "masks": len(catalog.items) - len(failed), "failed": failed,
              "mean_iou_vs_true_masks": round(float(np.mean(scores)), 4) if scores else None,
              "true_masks_compared": len(scores)}
    (out / "source.json").write_text(json.dumps(record, indent=1))
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=None, help="catalog directory (default: the demo shop)")
    parser.add_argument("--out", required=True, type=Path, help="folder for <item_id>.png and source.json")
    parser.add_argument("--commit", default=CONTOUR_COMMIT,
                        help=f"commit whose {MODULE} computes the masks (default: {CONTOUR_COMMIT}, the contour masks)")
    args = parser.parse_args(argv)
    if args.catalog is None:
        from fashion_tf.data.demo_shop import ensure_demo_shop

        args.catalog = ensure_demo_shop()
    record = write_masks(Path(args.catalog), args.out, args.commit)
    print(f"{record['masks']} masks of {record['commit'][:10]} -> {args.out}"
          + (f"; mean IoU vs true masks {record['mean_iou_vs_true_masks']:.3f}"
             if record["mean_iou_vs_true_masks"] is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
