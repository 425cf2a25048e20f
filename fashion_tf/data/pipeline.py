"""The tf.data input pipeline (DESIGN.md section 5).

list -> shuffle (training) -> parallel read + decode + resize/pad (AUTOTUNE) -> batch ->
(training) standard geometric augmentation + background paste (one composed warp) ->
colour jitter -> prefetch.

Augmentation runs on whole batches, after ``.batch()``
(:func:`fashion_tf.data.train_augment.augment_batch`): one projective-warp kernel,
one crop-and-resize and one colour matrix per batch are far cheaper than many tiny
per-image ops.

Order of the augmentations, and why: the geometric part of the standard augmentation
(flip, rotation, shear, aspect, shift) warps image and mask together first; then the
item is cut out with the warped mask and pasted onto a background; colour jitter comes
last. Warping after the paste would rotate the background photograph too and leave
white triangles in its corners, a give-away no street photograph has; jittering colour
after the paste changes item and scene together, like a camera's white balance does.

Unreadable files: a TensorFlow decode error inside a tf.data graph cannot be caught per
element, so :func:`check_images` decodes every file once beforehand with the very same
decoder (:func:`fashion_tf.data.decode.decode_image`) in a thread pool and drops the
bad ones, counting them in a :class:`PipelineReport`. Verdicts are cached in the
catalog directory (``.image_check.json``, keyed by path, size and mtime), so later runs
only decode new or changed files. ``Dataset.ignore_errors`` stays on as a last safety
net for files that change after the check.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import tensorflow as tf

from fashion_tf.data import schema
from fashion_tf.data.background import load_backgrounds
from fashion_tf.data.decode import decode_image, decode_mask, load_for_model
from fashion_tf.data.train_augment import augment_batch

logger = logging.getLogger(__name__)

CHECK_CACHE_FILE = ".image_check.json"
AUGMENTATIONS = ("none", "standard", "heavy")


@dataclass
class PipelineReport:
    """What a pipeline left out or patched up. ``skipped``: absolute path -> reason."""

    skipped: dict[str, str] = field(default_factory=dict)
    num_images: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{self.num_images - len(self.skipped)} of {self.num_images} images usable, {len(self.skipped)} skipped"


def multi_hot(labels_lists: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """``float32 [N, L]``: 1 where item n carries vocabulary label l; unknown labels ignored."""
    position = {label: i for i, label in enumerate(vocabulary)}
    out = np.zeros((len(labels_lists), len(vocabulary)), np.float32)
    for row, labels in enumerate(labels_lists):
        for label in [] if labels is None else labels:
            if label in position:
                out[row, position[label]] = 1.0
    return out


# ---------------------------------------------------------------- checking the files

@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def _decoded_shape(encoded: tf.Tensor) -> tf.Tensor:
    return tf.shape(decode_image(encoded))


def _decoder_message(message: str) -> str:
    """The decoder's own words from a graph error ("jpeg::Uncompress failed. ...")."""
    # The text is "Graph execution error: ... <traceback> ...\n<reason>\n\t [[{{node ...}}]] ...".
    lines = [line.strip() for line in message.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("[[") or "{{node" in line:
            before = [text for text in lines[:i] if text]
            if before:
                return re.sub(r"\{\{[^}]*\}\}", "", before[-1]).strip()[:200]
    return re.sub(r"\{\{[^}]*\}\}", "", lines[0] if lines else "decode failed").strip()[:200]


def _check_one(path: str) -> str | None:
    """None when ``path`` decodes with the pipeline's decoder, else a short reason."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    if not data:
        return "empty file"
    try:
        _decoded_shape(tf.constant(data))
    except tf.errors.InvalidArgumentError as error:
        return "not a decodable image: " + _decoder_message(error.message)
    return None


def check_images(paths: Sequence[str], cache_file: str | os.PathLike | None = None, workers: int | None = None) -> dict[str, str]:
    """Decodes every file once; returns ``{path: reason}`` for those that fail.

    Args:
        paths: image file paths.
        cache_file: JSON file of earlier verdicts keyed by path with (size, mtime_ns);
            unchanged files are not decoded again. None: no cache.
        workers: decoding threads (TF decoding releases the GIL); default: CPU count.
    """
    cache: dict = {}
    if cache_file is not None and Path(cache_file).exists():
        try:
            cache = json.loads(Path(cache_file).read_text())
        except (OSError, ValueError):
            cache = {}
    stamps: dict[str, list] = {}
    todo = []
    for path in paths:
        try:
            stat = os.stat(path)
            stamps[path] = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            stamps[path] = [-1, -1]
        entry = cache.get(path)
        if entry is None or entry[:2] != stamps[path]:
            todo.append(path)
    if todo:
        with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
            for path, reason in zip(todo, pool.map(_check_one, todo)):
                cache[path] = stamps[path] + [reason]
        if cache_file is not None:
            try:
                Path(cache_file).write_text(json.dumps(cache))
            except OSError as error:  # read-only catalog: checking again next time is fine
                logger.debug("cannot write %s: %s", cache_file, error)
    return {path: cache[path][2] for path in paths if cache[path][2] is not None}


# ---------------------------------------------------------------- catalog and masks

def _as_catalog(catalog):
    """A ``Catalog`` as is; a directory through ``load_catalog`` (or items.parquet alone)."""
    if hasattr(catalog, "items") and hasattr(catalog, "root"):
        return catalog
    root = Path(catalog)
    try:
        from fashion_tf.data.catalog import load_catalog
    except ImportError:
        load_catalog = None
    if load_catalog is not None:
        return load_catalog(root)
    items_file = root / schema.ITEMS_FILE
    if not items_file.exists():
        raise FileNotFoundError(f"{items_file}: no such file; expected a catalog directory with {schema.ITEMS_FILE}")
    vocabulary = None
    if (root / schema.LABELS_FILE).exists():
        vocabulary = json.loads((root / schema.LABELS_FILE).read_text())["vocabulary"]
    return SimpleNamespace(root=root, items=pd.read_parquet(items_file), vocabulary=vocabulary)


def _fallback_mask(image_rgb: np.ndarray) -> np.ndarray:
    """Plain-background mask (DESIGN.md sec. 5) used only when masks.py is unavailable."""
    import cv2

    border = np.concatenate([image_rgb[0], image_rgb[-1], image_rgb[:, 0], image_rgb[:, -1]])
    background = np.median(border, axis=0)
    distance = np.abs(image_rgb.astype(np.int16) - background.astype(np.int16)).max(axis=2)
    mask = (distance > 20).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    large = [c for c in contours if cv2.contourArea(c) >= 0.01 * mask.size]
    cv2.drawContours(filled, large, -1, 255, thickness=cv2.FILLED)
    return filled


def _mask_paths(catalog, items: pd.DataFrame, report: PipelineReport) -> list[str]:
    """Absolute mask path per row ("" = no mask), computing missing masks on demand."""
    def column() -> list[str]:
        values = items["mask"] if "mask" in items.columns else pd.Series([None] * len(items), index=items.index)
        return [str(Path(catalog.root) / v) if isinstance(v, str) and v else "" for v in values]

    paths = column()
    if all(p and os.path.exists(p) for p in paths):
        return paths
    try:
        from fashion_tf.data.masks import ensure_masks
    except ImportError:
        ensure_masks = None
    if ensure_masks is not None:
        refreshed = ensure_masks(catalog.root)
        by_id = refreshed.items.set_index("item_id")["mask"]
        catalog = refreshed
        items = items.assign(mask=[by_id.get(i) for i in items["item_id"]])
        paths = column()
    else:
        import cv2

        report.notes.append("fashion_tf.data.masks unavailable: masks computed by the pipeline's fallback")
        (Path(catalog.root) / schema.MASKS_DIR).mkdir(exist_ok=True)
        for row, (item_id, image) in enumerate(zip(items["item_id"], items["image"])):
            if paths[row] and os.path.exists(paths[row]):
                continue
            target = Path(catalog.root) / schema.MASKS_DIR / f"{item_id}.png"
            if not target.exists():
                bgr = cv2.imread(str(Path(catalog.root) / image), cv2.IMREAD_COLOR)
                if bgr is None:
                    continue
                cv2.imwrite(str(target), _fallback_mask(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            paths[row] = str(target)
    return [p if p and os.path.exists(p) else "" for p in paths]


def default_background_files() -> list[str]:
    """The training pool of :mod:`fashion_tf.data.photos` (never shared with queries)."""
    from fashion_tf.data.photos import training_background_files

    return training_background_files()


# ---------------------------------------------------------------- datasets

def _read_image_and_mask(path, mask_path, size: int, with_mask: bool, as_uint8: bool):
    """One catalog image (and mask) at model size; uint8 when it goes on to augmentation.

    uint8 halves what flows through batching and lets the augmentation pack image and
    mask into one int32 pixel for free (``train_augment.py``).
    """
    image = load_for_model(tf.io.read_file(path), size)
    if as_uint8:
        image = tf.cast(tf.round(image), tf.uint8)
    if not with_mask:
        return image, tf.zeros([size, size, 1], tf.uint8 if as_uint8 else tf.float32)
    encoded_mask = tf.cond(tf.strings.length(mask_path) > 0, lambda: tf.io.read_file(mask_path), lambda: tf.constant(""))
    mask = decode_mask(encoded_mask, size)
    if as_uint8:
        mask = tf.cast(tf.round(mask * 255.0), tf.uint8)
    return image, mask


def make_dataset(
    catalog,
    split: str | None,
    image_size: int,
    batch_size: int,
    vocabulary: Sequence[str] | None = None,
    *,
    training: bool = False,
    augmentation: str = "standard",
    background_p: float = 0.5,
    background_files: Sequence[str] | None = None,
    background_scale: tuple[float, float] = (0.4, 0.9),
    background_blur: float = 0.0,
    interpolation: str = "nearest",
    with_ids: bool = False,
    seed: int | None = None,
    report: PipelineReport | None = None,
) -> tf.data.Dataset:
    """Batches of ``(images float32 [B, S, S, 3] 0-255, multi_hot float32 [B, L])``.

    Args:
        catalog: a ``Catalog`` or a catalog directory.
        split: "train", "val", "test" or None for all rows.
        image_size: side S of the square model input.
        vocabulary: label order of the multi-hot vectors; default: the catalog's.
        training: shuffle and augment (standard + background) when True.
        augmentation: "none", "standard" or "heavy" (zoo v3).
        background_p: probability per image per epoch of background augmentation
            (paper 3.1); 0 disables it (and mask reading).
        background_files: background photographs; default
            ``fashion_tf.data.photos.training_background_files()``.
        background_scale: item size range on the background (fraction of S).
        background_blur: Gaussian sigma (pool pixels) blurring the backgrounds.
        interpolation: warp sampling of the augmentation, "nearest" (fast) or
            "bilinear" (see ``train_augment.py``).
        with_ids: also yield the ``item_id`` strings ``[B]``.
        seed: makes order and augmentation reproducible (and the map deterministic).
        report: a :class:`PipelineReport` to fill with skipped files.
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation {augmentation!r} unknown; expected one of {AUGMENTATIONS}")
    report = PipelineReport() if report is None else report
    catalog = _as_catalog(catalog)
    items = catalog.items
    if split is not None:
        items = items[items["split"] == split]
    if len(items) == 0:
        raise ValueError(f"{Path(catalog.root) / schema.ITEMS_FILE}: no rows with split == {split!r}")
    if vocabulary is None:
        vocabulary = getattr(catalog, "vocabulary", None)
        if vocabulary is None:
            raise ValueError(f"{catalog.root}: no vocabulary given and no {schema.LABELS_FILE}; label the catalog first")

    paths = [str(Path(catalog.root) / p) for p in items["image"]]
    skipped = check_images(paths, Path(catalog.root) / CHECK_CACHE_FILE)
    report.num_images += len(paths)
    report.skipped.update(skipped)
    if skipped:
        logger.warning("%s: skipping %d unreadable image(s), e.g. %s", catalog.root, len(skipped), next(iter(skipped.items())))
    keep = np.array([p not in skipped for p in paths], bool)
    if not keep.any():
        raise ValueError(f"{catalog.root}: none of the {len(paths)} images of split {split!r} is readable")
    items = items[keep]
    paths = [p for p, k in zip(paths, keep) if k]

    use_background = training and background_p > 0
    use_standard = training and augmentation != "none"
    mask_paths = _mask_paths(catalog, items, report) if use_background else [""] * len(paths)
    labels = multi_hot(list(items["labels"]), vocabulary)
    ids = [str(i) for i in items["item_id"]]

    augmented = use_background or use_standard
    deterministic = seed is not None or not training
    ds = tf.data.Dataset.from_tensor_slices((paths, mask_paths, labels, ids))
    if training:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)

    def load(path, mask_path, label, item_id):
        image, mask = _read_image_and_mask(path, mask_path, image_size, use_background, augmented)
        return image, mask, label, item_id

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    ds = ds.ignore_errors(log_warning=True)
    ds = ds.batch(batch_size)

    if use_background or use_standard:
        backgrounds = None
        if use_background:
            files = default_background_files() if background_files is None else list(background_files)
            pool = load_backgrounds(files, size=max(256, 2 * image_size), blur_sigma=background_blur)
            backgrounds = tf.constant(pool)
        strength = augmentation if use_standard else None
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

        def augment(batch, batch_seed):
            images, masks, label, item_id = batch
            batch_seed = tf.cast(batch_seed % (2**31 - 1), tf.int32)
            images = augment_batch(images, masks, batch_seed, strength=strength, backgrounds=backgrounds,
                                   p=background_p, scale_range=background_scale, interpolation=interpolation)
            return images, masks, label, item_id

        ds = tf.data.Dataset.zip((ds, seeds)).map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)

    if with_ids:
        ds = ds.map(lambda images, masks, label, item_id: (images, label, item_id))
    else:
        ds = ds.map(lambda images, masks, label, item_id: (images, label))
    return ds.prefetch(tf.data.AUTOTUNE)


def image_files_dataset(
    paths: Sequence[str], image_size: int, batch_size: int, report: PipelineReport | None = None
) -> tf.data.Dataset:
    """Batches of ``(images float32 [B, S, S, 3], paths [B])`` for arbitrary image files.

    Unreadable files are skipped (and recorded in ``report`` when given); order is kept.
    """
    paths = [str(p) for p in paths]
    skipped = check_images(paths)
    if report is not None:
        report.num_images += len(paths)
        report.skipped.update(skipped)
    for path, reason in skipped.items():
        logger.warning("%s: skipped (%s)", path, reason)
    good = [p for p in paths if p not in skipped]
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(good, tf.string) if good else tf.zeros([0], tf.string))
    ds = ds.map(lambda p: (load_for_model(tf.io.read_file(p), image_size), p), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.ignore_errors(log_warning=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)
