"""A review sheet of a catalog's foreground masks, lowest confidence first.

``python -m fashion_tf.data.masks --catalog DIR --review review.png`` draws it so that a
person can check a real catalog in a minute: each tile shows the photo with the
background dimmed and the mask's outline (green: used for background augmentation,
red: flagged, never pasted), under it the item id, the confidence and the share of the
image the mask covers. The doubtful masks come first; if the first rows look right,
the rest will.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

TILE = 160
CAPTION = 30
USED, FLAGGED = (40, 170, 60), (220, 40, 40)


def _fit(image: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    """Resize so the longer side is ``side``; pad to a square (white / 0 for masks)."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    resized = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)
    pad_value = 255 if image.ndim == 3 else 0
    out = np.full((side, side) + image.shape[2:], pad_value, image.dtype)
    top, left = (side - resized.shape[0]) // 2, (side - resized.shape[1]) // 2
    out[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return out


def review_tile(image: np.ndarray, mask: np.ndarray, caption: list[str], used: bool) -> np.ndarray:
    """One tile: the photo with its background dimmed, the mask outline and a caption."""
    photo = _fit(image, TILE, cv2.INTER_AREA)
    if mask.shape[:2] != image.shape[:2]:  # a stale mask: show it stretched rather than crash
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    mask = _fit(mask, TILE, cv2.INTER_NEAREST) > 127
    colour = USED if used else FLAGGED
    tile = photo.astype(np.float32)
    tile[~mask] = tile[~mask] * 0.35 + 0.65 * 90.0  # dim and grey the background
    tile = tile.astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(tile, contours, -1, colour, 2)
    strip = np.full((CAPTION, TILE, 3), 255, np.uint8)
    for line, text in enumerate(caption[:2]):
        cv2.putText(strip, text[:26], (3, 12 + 14 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    colour if line == 1 else (0, 0, 0), 1, cv2.LINE_AA)
    framed = np.concatenate([tile, strip], axis=0)
    return cv2.copyMakeBorder(framed, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def draw_review(catalog_dir, out, count: int = 48, columns: int = 8) -> Path:
    """Write a PNG of up to ``count`` masked images, lowest confidence first.

    Reads the masks and ``masks/confidence.json`` written by ``ensure_masks``; items
    without a mask are left out. Returns the written path.
    """
    from fashion_tf.data.catalog import load_catalog
    from fashion_tf.data.masks import load_confidence, read_rgb

    root = Path(catalog_dir)
    items = load_catalog(root).items
    verdicts = load_confidence(root)
    rows = [r for r in items.itertuples() if isinstance(getattr(r, "mask", None), str)]
    if not rows:
        raise ValueError(f"{root}: no masks to review; run python -m fashion_tf.data.masks --catalog {root}")
    rows.sort(key=lambda r: verdicts.get(r.item_id, (1.0,))[0])
    tiles = []
    for row in rows[:count]:
        image = read_rgb(root / row.image)
        mask = cv2.imread(str(root / row.mask), cv2.IMREAD_GRAYSCALE)
        if image is None or mask is None:
            continue
        confidence, area, reason = verdicts.get(row.item_id, (float("nan"), float((mask > 127).mean()), None))
        status = f"conf {confidence:.2f} area {area:.0%}" + ("" if reason is None else " FLAGGED")
        tiles.append(review_tile(image, mask, [str(row.item_id), status], reason is None))
    if not tiles:
        raise ValueError(f"{root}: none of the masked images could be read")
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    sheet = np.concatenate([np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)],
                           axis=0)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {out}")
    return out
