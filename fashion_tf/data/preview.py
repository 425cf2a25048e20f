"""A picture of what the input pipeline feeds a model (docs/design.md, "Augmentation").

Rows: catalog images, their cached masks, standard-augmented versions,
background-augmented versions (p=1, with standard augmentation) and, when the catalog
has them, street queries. Every picture goes through the same functions as training.

    python -m fashion_tf.data.preview --catalog DIR --out preview.png [--n 8] [--size 128]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)
from fashion_tf.data.augmented_batches import default_background_files
from fashion_tf.data.background import load_backgrounds
from fashion_tf.data.decode import decode_mask, load_for_model
from fashion_tf.data.pipeline import _as_catalog, _mask_paths, check_images
from fashion_tf.data.train_augment import augment_batch


def preview_rows(catalog, n: int = 8, size: int = 128, seed: int = 0, background_files=None) -> list[tuple[str, np.ndarray]]:
    """``[(row title, uint8 [n, size, size, 3])]`` for the preview grid."""
    catalog = _as_catalog(catalog)
    items = catalog.items
    paths = [str(Path(catalog.root) / p) for p in items["image"]]
    bad = check_images(paths)
    items = items[[p not in bad for p in paths]].head(n)
    images = tf.stack([load_for_model(tf.io.read_file(str(Path(catalog.root) / p)), size) for p in items["image"]])
    mask_files = _mask_paths(catalog, items)
    masks = tf.stack([decode_mask(tf.io.read_file(m) if m else tf.constant(""), size) for m in mask_files])
    pool = tf.constant(load_backgrounds(default_background_files() if background_files is None else background_files, 2 * size))
    seed_tensor = tf.constant([seed, 1])
    standard = augment_batch(images, masks, seed_tensor, strength="standard")
    background = augment_batch(images, masks, seed_tensor + 1, strength="standard", backgrounds=pool, p=1.0)
    rows = [
        ("catalog", images.numpy()),
        ("mask", np.repeat(masks.numpy() * 255.0, 3, axis=-1)),
        ("standard aug", standard.numpy()),
        ("background aug (p=1)", background.numpy()),
    ]
    queries = getattr(catalog, "queries", None)
    if queries is not None and len(queries):
        query_images = [load_for_model(tf.io.read_file(str(Path(catalog.root) / p)), size) for p in queries["image"].head(n)]
        rows.append(("street queries", tf.stack(query_images).numpy()))
    return [(title, np.clip(np.round(row), 0, 255).astype(np.uint8)) for title, row in rows]


def draw_grid(rows: list[tuple[str, np.ndarray]], size: int, gap: int = 4, label_width: int = 170) -> np.ndarray:
    """Rows of tiles with their title on the left, as an RGB uint8 picture."""
    columns = max(len(row) for _, row in rows)
    height = len(rows) * (size + gap) + gap
    width = label_width + columns * (size + gap) + gap
    canvas = np.full((height, width, 3), 235, np.uint8)
    for r, (title, row) in enumerate(rows):
        top = gap + r * (size + gap)
        cv2.putText(canvas, title, (6, top + size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        for c, tile in enumerate(row):
            left = label_width + gap + c * (size + gap)
            canvas[top : top + size, left : left + size] = tile
    return canvas


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description="Grid of catalog images, masks, augmentations and queries.")
    parser.add_argument("--catalog", required=True, help="catalog directory")
    parser.add_argument("--out", default="preview.png")
    parser.add_argument("--n", type=int, default=8, help="images per row")
    parser.add_argument("--size", type=int, default=128, help="model input size in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = preview_rows(args.catalog, args.n, args.size, args.seed)
    grid = draw_grid(rows, args.size)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {out}")
    print(f"wrote {out}: {len(rows)} rows x {args.n} images at {args.size} px")
    return out


if __name__ == "__main__":
    main()
