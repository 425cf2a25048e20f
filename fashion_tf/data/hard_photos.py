"""Hard product photographs with known silhouettes, to grade the foreground masks.

The demo shop draws saturated garments on a plain light backdrop, which any colour
threshold separates. Real shop photographs are harder in a few recurring ways; each
case here reproduces one of them on top of the demo garments of
:mod:`fashion_tf.data.demo_shop_draw` (so the exact silhouette is known):

* ``light_on_white``: white, cream or pale garments on a white backdrop with a soft
  drop shadow (the shadow is background, the faint garment is not);
* ``cut_by_frame``: the garment is larger than the frame and crosses one or more of
  its sides (jeans cut at the waist and hem, a top filling the frame);
* ``studio_gradient``: a studio backdrop with a strong vertical/radial lightness
  gradient and vignetting, so no single background colour fits the whole border;
* ``fabric_texture``: the garment carries a photographic texture (the brick, grass and
  gravel photographs shipped with scikit-image), full of edges inside the item;
* ``jpeg_q70``: ordinary garments saved at JPEG quality 70 (ringing and blocking
  around every edge);
* ``low_contrast``: the garment differs from its backdrop by only a few CIELAB units,
  plus sensor noise.

Every case draws at twice the target size and downsamples with area interpolation (the
anti-aliased edges of a real photograph); the returned truth is the silhouette at the
target size. :func:`hard_photo` draws one, :func:`hard_set` a seeded set per case,
:func:`write_hard_catalog` a catalog directory (items.parquet, images, true masks)
that ``python -m fashion_tf.data.masks`` and the training pipeline can read.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fashion_tf.data.demo_shop_draw import COLOURS, DETAILS, SHAPES, TEXTURES, render_garment

CASES = ("light_on_white", "cut_by_frame", "studio_gradient", "fabric_texture", "jpeg_q70", "low_contrast")

# White, cream, pale grey, pale pink, pale blue: the garments a colour threshold misses.
LIGHT_COLOURS = ((246, 245, 240), (240, 232, 212), (226, 226, 228), (244, 222, 224), (222, 232, 244))
FABRIC_PHOTOS = ("brick", "grass", "gravel")
JPEG_QUALITY = 70


def _garment(rng: np.random.Generator, size: int, subtype: str | None = None):
    """A demo garment at ``size`` px: (RGB uint8, silhouette uint8 0/255, colour name)."""
    subtype = subtype or str(rng.choice(sorted(SHAPES)))
    colour = str(rng.choice(sorted(COLOURS)))
    texture = str(rng.choice(TEXTURES))
    details = [d for d in DETAILS if rng.random() < 0.5]
    second = str(rng.choice([c for c in sorted(COLOURS) if c != colour]))
    image, mask = render_garment(subtype, colour, texture, details, size, rng, second_colour=second)
    return image, mask, colour


def _lighten(rng: np.random.Generator, garment: np.ndarray) -> np.ndarray:
    """A pale version of a drawn garment: its shading (outline, seams, details) kept
    faintly, ``light - (mean - x) * k``, around a white, cream or pastel colour."""
    light = np.array(LIGHT_COLOURS[int(rng.integers(len(LIGHT_COLOURS)))], np.float32)
    lum = garment.astype(np.float32).mean(axis=-1, keepdims=True)
    return light - (lum.mean() - lum) * rng.uniform(0.08, 0.18)


def _fabric(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random crop of a scikit-image texture photograph, float in about [-1, 1]."""
    from skimage import data

    photo = getattr(data, str(rng.choice(FABRIC_PHOTOS)))().astype(np.float32)
    crop = int(rng.uniform(0.35, 0.9) * photo.shape[0])
    y, x = (int(v) for v in rng.integers(0, photo.shape[0] - crop + 1, 2))
    patch = cv2.resize(photo[y:y + crop, x:x + crop], (size, size), interpolation=cv2.INTER_AREA)
    return (patch - patch.mean()) / (2.5 * patch.std() + 1e-6)


def _backdrop(rng: np.random.Generator, size: int, level: float, gradient: float = 0.0,
              vignette: float = 0.0) -> np.ndarray:
    """Light backdrop: ``level`` grey, a linear gradient (+-gradient/2 in a random
    direction) and a radial darkening of ``vignette`` at the corners; float RGB."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) * gradient
    radial = -vignette * (xx ** 2 + yy ** 2) * 2.0
    tint = rng.uniform(-3, 3, 3).astype(np.float32)
    return level + (ramp + radial)[..., None] + tint


def _shadow(rng: np.random.Generator, mask: np.ndarray, strength: float) -> np.ndarray:
    """Multiplicative soft drop shadow (1 = no shadow) cast down-right of the silhouette."""
    size = mask.shape[0]
    shift = rng.uniform(0.02, 0.05, 2) * size
    moved = cv2.warpAffine((mask > 0).astype(np.float32), np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]),
                           (size, size))
    blurred = cv2.GaussianBlur(moved, (0, 0), size * rng.uniform(0.015, 0.03))
    return 1.0 - strength * blurred


def _finish(canvas: np.ndarray, mask2x: np.ndarray, size: int, rng: np.random.Generator,
            noise: float = 1.5, quality: int | None = 92):
    """Downsample the 2x canvas, add sensor noise, JPEG round trip; (image, truth)."""
    image = cv2.resize(np.clip(canvas, 0, 255).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    image = image + rng.normal(0, noise, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if quality is not None:
        _, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    truth = cv2.resize(mask2x, (size, size), interpolation=cv2.INTER_AREA)
    return image, np.where(truth >= 128, 255, 0).astype(np.uint8)


def _compose(garment: np.ndarray, mask: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    inside = (mask > 0)[..., None]
    return np.where(inside, garment.astype(np.float32), backdrop)


def hard_photo(case: str, rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """One hard product photo of ``case`` (see :data:`CASES`).

    Returns ``(image uint8 RGB [size, size, 3], true silhouette uint8 0/255 [size, size])``.
    """
    if case not in CASES:
        raise ValueError(f"unknown hard case {case!r}; expected one of {CASES}")
    big = 2 * size
    if case == "cut_by_frame":
        # Draw larger than the frame and cut a window out of it: the garment crosses
        # one to three sides (never all four, or there would be no backdrop left).
        zoom = rng.uniform(1.25, 1.6)
        canvas_size = round(float(big * zoom))  # round(float) is an int; of a NumPy 1.x scalar it is not
        image, mask, _ = _garment(rng, canvas_size, str(rng.choice(["jeans", "chinos", "maxi dress", "tank top",
                                                                     "t-shirt", "jacket", "a-line skirt"])))
        _, xs = np.nonzero(mask)
        cy = int(np.clip(rng.uniform(0.35, 0.65) * canvas_size - big / 2, 0, canvas_size - big))
        cx = int(np.clip((xs.min() + xs.max()) / 2 - big / 2 + rng.uniform(-0.12, 0.12) * big, 0, canvas_size - big))
        image, mask = image[cy:cy + big, cx:cx + big], mask[cy:cy + big, cx:cx + big]
        backdrop = _backdrop(rng, big, rng.uniform(232, 250), gradient=rng.uniform(0, 8))
        return _finish(_compose(image, mask, backdrop), mask, size, rng)

    image, mask, _ = _garment(rng, big)
    garment = image.astype(np.float32)
    if case == "light_on_white":
        # Keep the drawing's shading (outline, seams, details) but lift it towards a
        # pale colour: 255 - (255 - x) * k leaves a faint version of every detail.
        garment = _lighten(rng, garment)
        backdrop = _backdrop(rng, big, rng.uniform(244, 253), gradient=rng.uniform(0, 4))
        backdrop = backdrop * _shadow(rng, mask, rng.uniform(0.08, 0.16))[..., None]
        return _finish(_compose(garment, mask, backdrop), mask, size, rng, noise=1.0)
    if case == "studio_gradient":
        if rng.random() < 0.4:  # a pale garment on a mid-grey backdrop
            garment = _lighten(rng, garment)
        backdrop = _backdrop(rng, big, rng.uniform(185, 225), gradient=rng.uniform(50, 80),
                             vignette=rng.uniform(25, 45))
        return _finish(_compose(garment, mask, backdrop), mask, size, rng)
    if case == "fabric_texture":
        palette = list(COLOURS.values()) + list(LIGHT_COLOURS)  # about a third pale
        base = np.array(palette[int(rng.integers(len(palette)))], np.float32)
        fabric = _fabric(rng, big)[..., None]
        strength = rng.uniform(0.25, 0.5)  # luminance modulation of the photo texture
        garment = base * (1.0 + strength * fabric) + 50.0 * strength * fabric
        backdrop = _backdrop(rng, big, rng.uniform(232, 250), gradient=rng.uniform(0, 10))
        return _finish(_compose(garment, mask, backdrop), mask, size, rng)
    if case == "jpeg_q70":
        if rng.random() < 0.35:
            garment = _lighten(rng, garment)
        backdrop = _backdrop(rng, big, rng.uniform(228, 250), gradient=rng.uniform(0, 10))
        return _finish(_compose(garment, mask, backdrop), mask, size, rng, quality=JPEG_QUALITY)
    # low_contrast: pull the garment towards the backdrop until only a few Lab units
    # of difference remain (details scale down with it).
    level = rng.uniform(170, 215)
    backdrop = _backdrop(rng, big, level, gradient=rng.uniform(0, 8))
    target = rng.uniform(14, 22)  # mean RGB distance garment - backdrop after pulling
    offset = garment - level
    distance = float(np.sqrt((offset[mask > 0] ** 2).sum(axis=-1)).mean()) + 1e-6
    garment = level + offset * min(1.0, target / distance)
    return _finish(_compose(garment, mask, backdrop), mask, size, rng, noise=2.0)


def hard_set(case: str, count: int, seed: int = 0, size: int = 128):
    """``count`` photos of one case, reproducible from ``seed``: lists (images, truths)."""
    rng = np.random.default_rng([seed, CASES.index(case) if case in CASES else -1])
    pairs = [hard_photo(case, rng, size) for _ in range(count)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def write_hard_catalog(out, per_case: int = 4, seed: int = 0, size: int = 128) -> Path:
    """A catalog directory of hard photos: ``images/``, ``true_masks/`` and items.parquet
    (category ``hard``, the case as its label, split ``train``); no masks yet."""
    import pandas as pd

    from fashion_tf.data import schema

    out = Path(out)
    (out / schema.IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    (out / schema.TRUE_MASKS_DIR).mkdir(parents=True, exist_ok=True)
    rows = []
    for case in CASES:
        images, truths = hard_set(case, per_case, seed, size)
        for index, (image, truth) in enumerate(zip(images, truths)):
            item_id = f"{case}_{index:03d}"
            cv2.imwrite(str(out / schema.IMAGES_DIR / f"{item_id}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(out / schema.TRUE_MASKS_DIR / f"{item_id}.png"), truth)
            rows.append({"item_id": item_id, "image": f"{schema.IMAGES_DIR}/{item_id}.png", "category": "hard",
                         "title": case.replace("_", " "), "labels": [case], "split": "train", "domain": "shop"})
    pd.DataFrame(rows).to_parquet(out / schema.ITEMS_FILE)
    return out
