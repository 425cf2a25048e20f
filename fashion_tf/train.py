"""``python -m fashion_tf.train --model v5``: train a zoo model on a catalog (paper section 4.3).

The paper fine-tunes its feature extractors as multi-label classifiers over the label
vocabulary extracted from Category + Title (section 4.2), with the frequency-weighted
loss of eq. 1-3, dropout, early stopping and augmentation, background augmentation
included for V1-V5 (section 4.5). This module wires the zoo, the tf.data pipeline and
that recipe together and writes a run directory (docs/contracts.md, "Runs").

An interrupted run resumes: rerunning the same command continues from the last finished
epoch (tf.keras BackupAndRestore), and history.csv is appended, not restarted.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import tensorflow as tf  # noqa: E402

from fashion_tf import zoo  # noqa: E402
from fashion_tf.data.catalog import Catalog, catalog_fingerprint  # noqa: E402
from fashion_tf.data.pipeline import PipelineReport, make_dataset, multi_hot  # noqa: E402
from fashion_tf.distribute import choose_strategy  # noqa: E402
from fashion_tf.losses import WeightedMultiLabelLoss, label_weights  # noqa: E402
from fashion_tf.models.backbones import is_pretrained  # noqa: E402
from fashion_tf.metrics import (  # noqa: E402
    MultiLabelF1,
    MultiLabelIoU,
    MultiLabelPrecision,
    MultiLabelRecall,
    multilabel_scores,
)
from fashion_tf.runs import (  # noqa: E402
    CONFIG_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    file_fingerprint,
)
from fashion_tf.training_data import resolve_catalog  # noqa: E402

# On a laptop CPU with no --data the demo must finish in minutes while still learning:
# small images and a short schedule. With a GPU, or real data, the zoo card's recipe wins.
CPU_DEMO_IMAGE_SIZE = 64
CPU_DEMO_EPOCHS = 25
SCRATCH_LEARNING_RATE = 3e-3

# Keys of config.json that must match for a rerun to resume rather than start over.
RESUME_KEYS = ("model", "image_size", "batch_size", "seed", "data_fingerprint", "background_p")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.train",
        description="Train a fashion_tf zoo model as a multi-label classifier (paper section 4.3).",
    )
    parser.add_argument("--model", default="v5", help=f"zoo name, one of {', '.join(zoo.list_models('classifier'))}")
    parser.add_argument("--data", default=None, help="catalog directory or folder of images (default: the demo shop)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--weights", default="imagenet", help="imagenet | none | PATH to a weights file")
    parser.add_argument("--background-p", type=float, default=None, help="probability of background augmentation")
    parser.add_argument("--out", default=None, help="run directory (default runs/<model>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=6, help="early stopping patience in epochs")
    parser.add_argument("--overwrite", action="store_true", help="start over even if --out holds a run")
    return parser.parse_args(argv)


def training_settings(args, entry, on_gpu: bool) -> dict:
    """Resolve the image size, epochs, batch size, learning rate and augmentation."""
    recipe = entry.recipe or {}
    cpu_demo = args.data is None and not on_gpu
    image_size = args.image_size or (CPU_DEMO_IMAGE_SIZE if cpu_demo else entry.default_image_size)
    epochs = args.epochs or (CPU_DEMO_EPOCHS if cpu_demo else int(recipe.get("epochs", 30)))
    return {
        "image_size": int(image_size),
        "epochs": int(epochs),
        "batch_size": int(args.batch_size or recipe.get("batch_size", 32)),
        "learning_rate": args.learning_rate,  # None: decided once we know if weights are pretrained
        "augmentation": entry.augmentation,
        "background_p": float(entry.background_p if args.background_p is None else args.background_p),
    }


def learning_rate(entry, pretrained: bool) -> float:
    """The card's fine-tuning rate for pretrained backbones (paper: ImageNet weights,
    whole network fine-tuned), else its from-scratch rate, which is what machines that
    cannot fetch the ImageNet weights get (V5 from scratch at 64 px: val IoU 0.31 after
    6 epochs at 3e-3 against 0.25 at 1e-3)."""
    recipe = entry.recipe or {}
    if pretrained:
        return float(recipe.get("learning_rate", 1e-4))
    return float(recipe.get("scratch_learning_rate", SCRATCH_LEARNING_RATE))


def label_frequencies(catalog: Catalog, vocabulary: list[str]) -> np.ndarray:
    """Fraction of training items carrying each label: the f_i of paper eq. 2."""
    train = catalog.items[catalog.items["split"] == "train"]
    if len(train) == 0:
        raise ValueError(f"{catalog.root}/items.parquet: no rows with split == 'train'")
    return multi_hot(train["labels"].tolist(), vocabulary).mean(axis=0)


class EpochProgress(tf.keras.callbacks.Callback):
    """One line per epoch with images/s; keeps the throughput for metrics.json."""

    def __init__(self, num_images: int, total_epochs: int):
        super().__init__()
        self.num_images = num_images
        self.total_epochs = total_epochs
        self.images_per_second: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        rate = self.num_images / max(seconds, 1e-9)
        self.images_per_second.append(rate)
        shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if k != "lr")
        print(f"epoch {epoch + 1}/{self.total_epochs}  {seconds:.1f}s  {rate:.1f} img/s  {shown}", flush=True)


def build_callbacks(run_dir: Path, progress: EpochProgress, patience: int) -> list:
    # Order matters: BackupAndRestore writes its state before CSVLogger writes the row,
    # so a kill that lands after a row appeared never loses that epoch.
    return [
        tf.keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        tf.keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True),
        tf.keras.callbacks.ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.weights.h5"),
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
        ),
        tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=max(1, patience // 2)),
        tf.keras.callbacks.TensorBoard(str(run_dir / "logs"), profile_batch=0),
        progress,
    ]


def predict_split(model, catalog, split, settings, vocabulary):
    """(y_true, y_prob) over one split, without augmentation."""
    dataset = make_dataset(
        catalog, split, settings["image_size"], settings["batch_size"], vocabulary, training=False
    )
    truths, probs = [], []
    for images, targets in dataset:
        probs.append(model(images, training=False).numpy())
        truths.append(targets.numpy())
    if not truths:
        return None, None
    return np.concatenate(truths), np.concatenate(probs)


def prepare_run_dir(run_dir: Path, config: dict, overwrite: bool) -> bool:
    """Create the run directory; return True when resuming an interrupted run."""
    config_path = run_dir / CONFIG_FILE
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    if config_path.exists():
        previous = json.loads(config_path.read_text())
        if previous.get("status") == "finished":
            raise SystemExit(
                f"{run_dir} already holds a finished run of {previous['model']}: "
                "pass --overwrite to train again or choose another --out"
            )
        differing = [k for k in RESUME_KEYS if previous.get(k) != config.get(k)]
        if differing:
            raise SystemExit(
                f"{run_dir} holds an interrupted run with different "
                + ", ".join(f"{k} ({previous.get(k)} != {config.get(k)})" for k in differing)
                + ": pass --overwrite or choose another --out"
            )
        return (run_dir / "backup").exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    config_path.write_text(json.dumps({**config, "status": "training"}, indent=2))
    return False


def save_model_atomically(model, run_dir: Path) -> str:
    """Write model.keras through a temporary file so a crash never leaves half a model."""
    temporary = run_dir / "model.partial.keras"
    model.save(temporary)
    os.replace(temporary, run_dir / MODEL_FILE)
    return file_fingerprint(run_dir / MODEL_FILE)


def train(args: argparse.Namespace) -> Path:
    tf.keras.utils.set_random_seed(args.seed)
    entry = zoo.get_entry(args.model)
    strategy, strategy_text = choose_strategy()
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    settings = training_settings(args, entry, on_gpu)

    catalog = resolve_catalog(args.data)
    vocabulary = list(catalog.vocabulary)
    frequencies = label_frequencies(catalog, vocabulary)
    run_dir = Path(args.out or f"runs/{args.model}")
    config = {
        "model": args.model,
        "kind": entry.kind,
        "vocabulary": vocabulary,
        "seed": args.seed,
        "data": str(Path(catalog.root).resolve()),
        "data_fingerprint": catalog_fingerprint(catalog),
        "weights": args.weights,
        **settings,
    }
    resuming = prepare_run_dir(run_dir, config, args.overwrite)
    shutil.copyfile(Path(catalog.root) / "labels.json", run_dir / "labels.json")

    report = PipelineReport()
    common = dict(image_size=settings["image_size"], batch_size=settings["batch_size"], vocabulary=vocabulary)
    train_ds = make_dataset(
        catalog, "train", **common, training=True, augmentation=settings["augmentation"],
        background_p=settings["background_p"], seed=args.seed, report=report,
    )
    val_split = "val" if (catalog.items["split"] == "val").any() else "test"
    val_ds = make_dataset(catalog, val_split, **common, training=False, report=report)
    num_train = int((catalog.items["split"] == "train").sum())

    with strategy.scope():
        model = zoo.create_model(args.model, num_labels=len(vocabulary), image_size=settings["image_size"],
                                 weights=None if args.weights == "none" else args.weights)
        settings["learning_rate"] = settings["learning_rate"] or learning_rate(entry, is_pretrained(model))
        config["learning_rate"] = settings["learning_rate"]
        model.compile(
            optimizer=tf.keras.optimizers.Adam(settings["learning_rate"]),
            loss=WeightedMultiLabelLoss(label_weights=label_weights(frequencies).tolist()),
            metrics=[MultiLabelIoU(name="iou"), MultiLabelPrecision(name="precision"),
                     MultiLabelRecall(name="recall"), MultiLabelF1(name="f1")],
        )
    print(
        f"training {args.model} ({model.count_params():,} parameters) on {num_train} images, "
        f"{len(vocabulary)} labels, {settings['image_size']} px, {settings['epochs']} epochs, "
        f"lr {settings['learning_rate']:g}, background p={settings['background_p']}, {strategy_text}"
        + (f"; resuming the interrupted run in {run_dir}" if resuming else ""),
        flush=True,
    )
    progress = EpochProgress(num_train, settings["epochs"])
    started = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=settings["epochs"],
              callbacks=build_callbacks(run_dir, progress, args.patience), verbose=0)
    train_seconds = time.perf_counter() - started

    fingerprint = save_model_atomically(model, run_dir)
    metrics = multilabel_test_scores(model, catalog, settings, vocabulary, frequencies)
    steady = progress.images_per_second[1:] or progress.images_per_second
    metrics.update({
        "model": args.model,
        "train_images_per_second": float(np.median(steady)) if steady else None,
        "train_seconds": round(train_seconds, 1),
        "epochs_run_this_session": len(progress.images_per_second),
        "skipped_images": dict(report.skipped),
    })
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    write_curves(run_dir, args.model)
    config.update({"fingerprint": fingerprint, "status": "finished"})
    (run_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    shutil.rmtree(run_dir / "backup", ignore_errors=True)

    test = metrics["test"]
    trivial = metrics["trivial_baseline"]
    print(
        f"{args.model}: test IoU {test['iou']:.3f} (trivial {trivial['iou']:.3f}), precision "
        f"{test['precision']:.3f}, recall {test['recall']:.3f}, F1 {test['f1']:.3f}; "
        f"{metrics['train_images_per_second'] or 0:.1f} train img/s; run in {run_dir}",
        flush=True,
    )
    return run_dir


def multilabel_test_scores(model, catalog, settings, vocabulary, frequencies) -> dict:
    """Test-set multi-label scores and the trivial baseline that predicts every label
    with its training frequency (so only labels on more than half the items fire)."""
    split = "test" if (catalog.items["split"] == "test").any() else "val"
    y_true, y_prob = predict_split(model, catalog, split, settings, vocabulary)
    trivial = np.broadcast_to(frequencies, y_true.shape)
    return {
        "split": split,
        "num_images": int(len(y_true)),
        "test": multilabel_scores(y_true, y_prob),
        "trivial_baseline": multilabel_scores(y_true, trivial),
    }


def write_curves(run_dir: Path, title: str) -> None:
    import pandas as pd

    from fashion_tf.evaluation.plots import plot_training_curves

    history = pd.read_csv(run_dir / HISTORY_FILE)
    plot_training_curves(history, run_dir / CURVES_FILE, title=title)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        print(f"error: {error.args[0] if isinstance(error, KeyError) else error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
