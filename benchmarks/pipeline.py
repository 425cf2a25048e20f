"""Input pipeline throughput: tf.data vs a Python/OpenCV loop vs EfficientNetB3 training.

One run measures, at the same image size (128 px by default) and on the same catalog
with the same cached masks and background photographs:

1. ``tf.data``: :func:`fashion_tf.data.pipeline.make_dataset` with training=True,
   standard augmentation and background augmentation (p=0.5): read, decode,
   resize/pad, flip/rotate/shear/aspect/shift, paste on a background, HSL jitter;
   steady state (one iterator over several epochs, timed after its first batch), and,
   for reference, with a new iterator per epoch (each start costs ~0.1-0.25 s of CPU on
   the calling thread, a lot next to a 512-image epoch).
2. ``loop``: a single-threaded per-image Python/OpenCV loop doing the same work
   (cv2.imread with the same reduced-scale JPEG decoding as the tf.data side,
   INTER_AREA resize + white pad, one warpAffine each for image and mask,
   bounding-box cut-out, resize, random background crop, alpha blend, HSV jitter).
3. ``training``: images/s of a short fit of EfficientNetB3(weights=None) + sigmoid head
   on random data (steps after warm-up), i.e. what the pipeline has to keep up with.

All four are timed in interleaved rounds (``benchmarks/measure.py``): per-round images/s,
per-round ratios ``ratio_vs_loop`` (tf.data / loop, target >= 1.6) and
``ratio_vs_training`` (tf.data / training, target >= 5), medians and spread, written to
``benchmarks/results/pipeline.json`` with the CPU ms per image of each round (a measure
of the work each side does that depends little on other jobs' load; tf.data needs both
cores to win, the loop uses one).

    python benchmarks/pipeline.py [--image-size 128] [--items 512] [--batch-size 64]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from measure import Comparison, Report, fmt, log, timed
from PIL import Image

# isort: off
import fashion_tf  # noqa: F401  (Keras 2 as tf.keras)
import tensorflow as tf  # after fashion_tf, which sets TF_USE_LEGACY_KERAS
# isort: on
from fashion_tf.data import schema
from fashion_tf.data.augment import STRENGTHS
from fashion_tf.data.augment_settings import AugmentationSettings
from fashion_tf.data.pipeline import make_dataset

REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.json"


# ---------------------------------------------------------------- data

def synthetic_catalog(root: Path, items: int, side: int = 256, seed: int = 0) -> Path:
    """A catalog of textured garment-like shapes on white JPEGs with exact masks."""
    if (root / schema.ITEMS_FILE).exists():
        return root
    rng = np.random.default_rng(seed)
    (root / schema.IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    (root / schema.MASKS_DIR).mkdir(exist_ok=True)
    rows = []
    for i in range(items):
        height, width = side, int(side * rng.uniform(0.66, 1.0))
        image = np.full((height, width, 3), 255, np.uint8)
        mask = np.zeros((height, width), np.uint8)
        centre = (width // 2, height // 2)
        axes = (int(width * rng.uniform(0.25, 0.45)), int(height * rng.uniform(0.3, 0.45)))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, cv2.FILLED)
        stripes = (np.arange(width)[None, :] // rng.integers(4, 16)) % 2
        colour = rng.integers(0, 220, 3)
        texture = np.where(stripes[..., None], colour, 255 - colour).astype(np.uint8)
        image[mask > 0] = np.broadcast_to(texture, image.shape)[mask > 0]
        name = f"{i:05d}"
        cv2.imwrite(str(root / schema.IMAGES_DIR / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(root / schema.MASKS_DIR / f"{name}.png"), mask)
        rows.append({"item_id": name, "image": f"images/{name}.jpg", "category": "dress", "title": name,
                         "labels": ["dress", "striped" if i % 2 else "plain"], "split": "train", "domain": "shop",
                         "mask": f"masks/{name}.png"})
    pd.DataFrame(rows).to_parquet(root / schema.ITEMS_FILE)
    (root / schema.LABELS_FILE).write_text(json.dumps({"vocabulary": ["dress", "plain", "striped"],
                                                       "counts": {}, "num_items": items}))
    return root


def benchmark_catalog(items: int) -> tuple[Path, str]:
    """The demo shop when it can be built, else a synthetic catalog."""
    try:
        from fashion_tf.data.demo_shop import ensure_demo_shop
        from fashion_tf.data.masks import ensure_masks

        root = Path(ensure_demo_shop(items=items))
        ensure_masks(root)
        return root, "demo shop"
    except Exception as error:  # noqa: BLE001 (any failure of the demo shop: fall back)
        print(f"demo shop unavailable ({type(error).__name__}: {error}); using a synthetic catalog")
        from fashion_tf.data.photos import default_cache_dir

        return synthetic_catalog(default_cache_dir() / f"benchmark_catalog_{items}", items), "synthetic"


# ---------------------------------------------------------------- 1. tf.data

def tf_data_methods(catalog: Path, size: int, batch: int, backgrounds: list[str], p: float, epochs: int,
                    items: int):
    """The training dataset, built once; returns two methods measuring images/s:

    ``steady``: ``epochs`` catalog passes of one iterator over the repeated dataset, timed
    from its first batch on, as a long training run sees it (``fit`` on a repeated dataset
    with ``steps_per_epoch``). A new iterator per round, deleted at its end: a kept one
    would fill its buffers while the other methods run and then be timed emptying them.
    ``new_iterator``: a new iterator per epoch, timed from its creation, what ``fit`` does
    on a finite dataset; each start costs ~0.1-0.25 s of CPU on the calling thread
    (building the iterator tree and instantiating its functions), serial with everything
    else, a lot next to a 512-image epoch.
    """
    from fashion_tf.data.catalog import load_catalog

    cat = load_catalog(catalog)
    augment = AugmentationSettings(augmentation="standard", background_p=p, background_files=backgrounds)
    ds = make_dataset(cat, None, size, batch, cat.vocabulary, training=True, augment=augment)
    batches_per_round = epochs * math.ceil(items / batch)
    for _ in ds.take(3):  # warm-up: tracing, XLA compilation, thread pools, file cache
        pass

    def measure(pull) -> dict:
        start, cpu = time.perf_counter(), time.process_time()
        count = pull()
        seconds = time.perf_counter() - start
        return {"value": count / seconds, "cpu_ms_per_image": 1e3 * (time.process_time() - cpu) / count}

    def steady_state() -> dict:
        iterator = iter(ds.repeat())  # dropped on return: its buffers do not fill between rounds
        next(iterator)  # start-up, not timed
        return measure(lambda: sum(int(next(iterator)[0].shape[0]) for _ in range(batches_per_round)))

    def new_iterator_per_epoch() -> dict:
        return measure(lambda: sum(int(images.shape[0]) for _ in range(epochs) for images, _ in ds))

    return steady_state, new_iterator_per_epoch


# ---------------------------------------------------------------- 2. OpenCV loop

class OpenCVAugmenter:
    """The same augmentation as the tf.data pipeline, per image, with OpenCV/NumPy."""

    def __init__(self, backgrounds: list[str], size: int, p: float, scale=(0.4, 0.9), seed: int = 0):
        self.size, self.p, self.scale = size, p, scale
        self.ranges = STRENGTHS["standard"]
        self.rng = np.random.default_rng(seed)
        pool_side = max(256, 2 * size)
        self.pool = []
        for path in backgrounds:
            photo = cv2.imread(path, cv2.IMREAD_COLOR)
            h, w = photo.shape[:2]
            s = pool_side / min(h, w)
            photo = cv2.resize(photo, (max(pool_side, round(w * s)), max(pool_side, round(h * s))), interpolation=cv2.INTER_AREA)
            self.pool.append(photo[:pool_side, :pool_side])

    def resize_pad(self, image: np.ndarray, value: int) -> np.ndarray:
        h, w = image.shape[:2]
        s = self.size / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        top, left = (self.size - nh) // 2, (self.size - nw) // 2
        return cv2.copyMakeBorder(image, top, self.size - nh - top, left, self.size - nw - left,
                                  cv2.BORDER_CONSTANT, value=(value, value, value))

    def read_reduced(self, path: str) -> np.ndarray:
        """JPEG decoded at 1/2, 1/4 or 1/8 scale when still >= size, as the tf.data side does."""
        with Image.open(path) as header:  # reads the header only
            longer = max(header.size)
            is_jpeg = header.format == "JPEG"
        ratio = 1
        while is_jpeg and ratio < 8 and longer / (ratio * 2) >= self.size:
            ratio *= 2
        return cv2.imread(path, REDUCED[ratio])

    def affine(self) -> np.ndarray:
        r, rng, c = self.ranges, self.rng, (self.size - 1) / 2
        angle = math.radians(rng.uniform(-r.rotation_deg, r.rotation_deg))
        shear = rng.uniform(-r.shear, r.shear)
        aspect = math.exp(rng.uniform(math.log(r.aspect[0]), math.log(r.aspect[1])))
        flip = -1.0 if rng.random() < 0.5 else 1.0
        sx, sy = math.sqrt(aspect) * flip, 1 / math.sqrt(aspect)
        cos, sin = math.cos(angle), math.sin(angle)
        a = np.array([[cos * sx, (cos * shear - sin) * sy], [sin * sx, (sin * shear + cos) * sy]])
        t = rng.uniform(-r.shift_fraction, r.shift_fraction, 2) * self.size
        offset = np.array([c, c]) + t - a @ np.array([c, c])
        return np.hstack([a, offset[:, None]])

    def __call__(self, image_path: str, mask_path: str) -> np.ndarray:
        size, rng = self.size, self.rng
        image = self.resize_pad(self.read_reduced(image_path), 255)
        mask = self.resize_pad(cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE), 0)
        m = self.affine()
        image = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
        mask = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
        if rng.random() < self.p:
            x, y, w, h = cv2.boundingRect((mask > 127).astype(np.uint8))
            if w > 0 and h > 0:
                k = rng.uniform(*self.scale) * size / max(w, h)
                nw, nh = max(1, round(w * k)), max(1, round(h * k))
                item = cv2.resize(image[y:y + h, x:x + w], (nw, nh), interpolation=cv2.INTER_LINEAR)
                alpha = cv2.resize(mask[y:y + h, x:x + w], (nw, nh), interpolation=cv2.INTER_LINEAR)
                photo = self.pool[rng.integers(len(self.pool))]
                side = int(photo.shape[0] * rng.uniform(0.5, 1.0))
                top, left = rng.integers(0, photo.shape[0] - side + 1, 2)
                scene = cv2.resize(photo[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_LINEAR)
                oy, ox = int(rng.uniform(0, size - nh + 1)), int(rng.uniform(0, size - nw + 1))
                region = scene[oy:oy + nh, ox:ox + nw]
                a = alpha[:region.shape[0], :region.shape[1], None].astype(np.float32) / 255.0
                region[:] = (item[:region.shape[0], :region.shape[1]] * a + region * (1.0 - a)).astype(np.uint8)
                image = scene
        r = self.ranges
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(rng.uniform(-r.hue_deg, r.hue_deg) / 2)) % 180  # OpenCV hue: 0-179
        hsv[..., 1] += int(rng.uniform(-r.saturation, r.saturation) * 255)
        hsv[..., 2] += int(rng.uniform(-r.lightness, r.lightness) * 255)
        image = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32)


def loop_method(catalog: Path, size: int, backgrounds: list[str], p: float, limit: int):
    """A method measuring images/s of one pass of the OpenCV loop over the catalog."""
    items = pd.read_parquet(catalog / schema.ITEMS_FILE).head(limit)
    pairs = [(str(catalog / i), str(catalog / m)) for i, m in zip(items["image"], items["mask"])]
    augmenter = OpenCVAugmenter(backgrounds, size, p)
    for pair in pairs[:16]:  # warm-up
        augmenter(*pair)

    def measure() -> dict:
        start, cpu = time.perf_counter(), time.process_time()
        for pair in pairs:
            augmenter(*pair)
        return {"value": len(pairs) / (time.perf_counter() - start),
                "cpu_ms_per_image": 1e3 * (time.process_time() - cpu) / len(pairs)}

    return measure


# ---------------------------------------------------------------- 3. training

def training_method(size: int, batch: int, labels: int, steps: int):
    """A method measuring images/s of ``steps`` ``train_on_batch`` calls of
    EfficientNetB3(weights=None) + sigmoid head on random data."""
    backbone = tf.keras.applications.EfficientNetB3(weights=None, include_top=False, input_shape=(size, size, 3), pooling="avg")
    model = tf.keras.Sequential([backbone, tf.keras.layers.Dense(labels, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    y = (rng.random((batch, labels)) < 0.1).astype(np.float32)
    model.train_on_batch(x, y)  # tracing; Comparison.run warms up once more

    def step():
        for _ in range(steps):
            model.train_on_batch(x, y)

    return timed(step, work=steps * batch)


def masks_per_second_per_core(catalog: Path, limit: int = 48, rounds: int = 3) -> tuple[float, list[float]]:
    """Foreground masks (``estimate_mask``) per CPU second on one core, median of rounds.

    CPU time of this process with one OpenCV thread, so other jobs on the machine do not
    change it; a catalog of N images on C cores takes about N / (rate * C) seconds.
    """
    from fashion_tf.data.masks import estimate_mask, read_rgb

    items = pd.read_parquet(catalog / schema.ITEMS_FILE).head(limit)
    images = [read_rgb(catalog / p) for p in items["image"]]
    images = [i for i in images if i is not None]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    rates = []
    for _ in range(rounds):
        start = time.process_time()
        for image in images:
            estimate_mask(image)
        rates.append(len(images) / max(time.process_time() - start, 1e-9))
    cv2.setNumThreads(threads)
    return statistics.median(rates), [round(r, 1) for r in rates]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--background-p", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=3, help="catalog passes of tf.data per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (>= 5)")
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=2, help="training steps per round")
    parser.add_argument("--loop-threads", type=int, default=1, help="cv2.setNumThreads for the loop (1: single-threaded)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    from fashion_tf.data.photos import training_background_files

    catalog, source = benchmark_catalog(args.items)
    backgrounds = training_background_files()
    size = args.image_size
    log(f"catalog: {catalog} ({source}); {len(backgrounds)} background photos; {size} px; {os.cpu_count()} CPUs")
    report = Report(args.out, "input pipeline: tf.data vs a single-threaded OpenCV loop vs EfficientNetB3 training",
                    image_size=size, catalog=source, items=args.items, batch_size=args.batch_size,
                    background_p=args.background_p, epochs_per_round=args.epochs, rounds=args.rounds,
                    train_batch=args.train_batch, train_steps_per_round=args.train_steps,
                    loop_threads=args.loop_threads)
    steady, new_iterator = tf_data_methods(catalog, size, args.batch_size, backgrounds, args.background_p,
                                           args.epochs, args.items)
    cv2.setNumThreads(args.loop_threads)
    labels = len(json.loads((catalog / schema.LABELS_FILE).read_text())["vocabulary"])
    comparison = (Comparison("pipeline", unit="images/s")
                  .add("tf_data", steady)
                  .add("tf_data_new_iterator_per_epoch", new_iterator)
                  .add("opencv_loop", loop_method(catalog, size, backgrounds, args.background_p, args.items))
                  .add("efficientnetb3_training", training_method(size, args.train_batch, max(labels, 1),
                                                                  args.train_steps))
                  .ratio("ratio_vs_loop", "tf_data", "opencv_loop")
                  .ratio("ratio_vs_loop_new_iterator_per_epoch", "tf_data_new_iterator_per_epoch", "opencv_loop")
                  .ratio("ratio_vs_training", "tf_data", "efficientnetb3_training")
                  .target("ratio_vs_loop", ">=", 1.6)
                  .target("ratio_vs_training", ">=", 5))
    entry = report.add("pipeline", comparison.run(rounds=args.rounds))
    for name, method in entry["methods"].items():
        cpu = [e["cpu_ms_per_image"] for e in method.get("extras", []) if "cpu_ms_per_image" in e]
        note = f", {statistics.median(cpu):.3f} ms CPU/image" if cpu else ""
        print(f"{name:32s} {fmt(method)} images/s{note}")
    for name, ratio in entry["ratios"].items():
        target = entry["targets"].get(name)
        print(f"{name:40s} {fmt(ratio)}" + (f"  target {target['op']} {target['threshold']}: "
                                           f"{'met' if target['met'] else 'MISSED'}" if target else ""))
    mask_rate, mask_runs = masks_per_second_per_core(catalog)
    report.data["masks_per_second_per_core"] = {"median": round(mask_rate, 1), "runs": mask_runs}
    print(f"foreground masks: {mask_rate:8.1f} per CPU second on one core")
    print(f"written to {report.write()}")
    return report.data


if __name__ == "__main__":
    main()
