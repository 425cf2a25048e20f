"""What every trainer shares: the run directory, resuming, the optimizer, callbacks and
progress lines (docs/design.md, "Runs" and "Training configuration").

A trainer for one model kind (``fashion_tf.training.<kind>``) builds its model and data,
then uses these so every run directory looks the same: ``config.json`` (the
``TrainConfig`` plus the run's facts), ``history.csv``, ``model.keras``,
``metrics.json``, ``training_curves.png``; and so an interrupted run resumes from its
last finished epoch (tf.keras BackupAndRestore) with history.csv appended, not restarted.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import tensorflow as tf

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.config import TrainConfig
from fashion_tf.runs import (
    CONFIG_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    file_fingerprint,
)

# Keys of config.json that must match for a rerun to resume rather than start over.
RESUME_KEYS = ("model", "image_size", "batch_size", "seed", "data_fingerprint", "background_p",
               "optimizer", "learning_rate_used", "weights_used", "lr_schedule", "epochs")
SCRATCH_SUFFIX = "_scratch"


def run_name(config: TrainConfig, weights_used: str) -> str:
    """The zoo name, plus "_scratch" when the backbone started from random weights, so a
    from-scratch run can never be mistaken for a fine-tuned one by its name."""
    return config.model + (SCRATCH_SUFFIX if weights_used == "none" else "")


def run_directory(config: TrainConfig, weights_used: str) -> Path:
    return Path(config.out) if config.out else Path("runs") / run_name(config, weights_used)


def run_record(config: TrainConfig, data: str, weights_used: str, learning_rate: float, **facts) -> dict:
    """config.json: the TrainConfig as asked, plus what actually happened (resolved data
    directory, weights and learning rate used); trainers add their own facts."""
    return {
        **config.to_dict(),
        "data": data,
        "run_name": run_name(config, weights_used),
        "weights_used": weights_used,
        "learning_rate_used": learning_rate,
        **facts,
    }


def one_iterator(dataset: tf.data.Dataset, num_items: int, batch_size: int) -> tuple[tf.data.Dataset, int]:
    """``(dataset.repeat(), steps per epoch)``: what ``fit`` gets so that one tf.data
    iterator serves every epoch.

    Why: on a finite dataset tf.keras builds a new iterator at every epoch start, which
    starts the input pipeline over (parallel decoding, augmentation and prefetch buffers
    filled again before the first step can run). On the CPU demo's configuration one
    iterator made the steady epochs 1.33x faster (median of per-round ratios, 1.05-1.83)
    on 2 quiet cores (benchmarks/README.md, "Training epochs"). Each epoch stays one whole pass over
    ``dataset``: ``repeat()`` comes after ``batch()``, so every pass ends with its own partial batch
    (``ceil(num_items / batch_size)`` optimizer steps, as before), the shuffles
    (``reshuffle_each_iteration=True``) draw a new order for each pass and the
    augmentation seeds (``rerandomize_each_iteration=True``) new draws. ``num_items``:
    the elements one pass yields (``PipelineReport.num_readable``); only a file that
    turns unreadable after the pipeline's pre-check (skipped by ``ignore_errors``) shifts
    the later epochs' boundaries, by that many items. Validation data stays finite:
    tf.keras ``evaluate`` builds an iterator per call whatever it is given.
    """
    if num_items <= 0 or batch_size <= 0:
        raise ValueError(f"one_iterator: num_items and batch_size must be positive, got {num_items} and {batch_size}")
    return dataset.repeat(), math.ceil(num_items / batch_size)


def make_optimizer(config: TrainConfig, learning_rate: float) -> tf.keras.optimizers.Optimizer:
    """The recipe's optimizer at ``learning_rate``."""
    if config.optimizer == "adam":
        return tf.keras.optimizers.Adam(learning_rate)
    if config.optimizer == "adamw":
        return tf.keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return tf.keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    raise ValueError(f"optimizer {config.optimizer!r} is not supported")  # TrainConfig checked it


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


def cosine_rate(epoch: int, epochs: int, rate: float) -> float:
    """The "cosine" schedule's rate in ``epoch`` (0-based) of ``epochs``: ``rate`` in the
    first epoch, falling as half a cosine period towards zero after the last."""
    return float(rate) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))


class CosineSchedule(tf.keras.callbacks.Callback):
    """Sets the rate of epoch e to :func:`cosine_rate` of the compiled (peak) rate.

    The peak is read when Keras attaches the model, before BackupAndRestore puts back a
    decayed rate on resume, so a resumed run continues the same curve."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = int(epochs)
        self.peak = None

    def set_model(self, model):
        super().set_model(model)
        if self.peak is None:
            self.peak = float(tf.keras.backend.get_value(model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch, logs=None):
        tf.keras.backend.set_value(self.model.optimizer.learning_rate, cosine_rate(epoch, self.epochs, self.peak))


def _schedule_callback(config: TrainConfig, patience: int) -> tf.keras.callbacks.Callback:
    """The learning-rate callback of ``config.lr_schedule``."""
    if config.lr_schedule == "cosine":
        return CosineSchedule(config.epochs)
    return tf.keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=max(1, patience // 2))


class ResumedHistory(tf.keras.callbacks.CSVLogger):
    """``history.csv`` that stays one row per trained epoch across kills and resumes: at
    the first epoch of a session (the one BackupAndRestore resumes from) the rows of that
    epoch and later ones, written by a killed session after its last backup, are cut off."""

    def on_train_begin(self, logs=None):
        self._first_epoch_of_session = True
        super().on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch_of_session:
            self._first_epoch_of_session = False
            drop_history_rows_from(Path(self.filename), epoch)
        super().on_epoch_begin(epoch, logs)


def drop_history_rows_from(path: Path, epoch: int) -> int:
    """Truncates the CSV history ``path`` before its first row whose ``epoch`` is >=
    ``epoch`` (rows are in epoch order); returns the rows dropped. Truncating in place
    keeps the open append handle of the logger valid."""
    if not path.is_file():
        return 0
    lines = path.read_bytes().splitlines(keepends=True)
    if len(lines) < 2:
        return 0
    column = lines[0].decode().strip().split(",").index("epoch")
    offset = len(lines[0])
    for number, line in enumerate(lines[1:]):
        if int(line.decode().split(",")[column]) >= epoch:
            os.truncate(path, offset)
            return len(lines) - 1 - number
        offset += len(line)
    return 0


def build_callbacks(run_dir: Path, progress: EpochProgress, config: TrainConfig, chief: bool = True,
                    backup_dir: Path | None = None) -> list:
    """Backup/resume, history, best checkpoint, early stopping with the recipe's patience,
    the learning-rate schedule (cuts after half the patience, or a cosine), TensorBoard
    logs, progress lines.

    Across workers every worker gets them all but the history (``chief`` False: only the
    chief writes history.csv) and ``run_dir`` is a scratch directory for the others;
    ``backup_dir`` (default ``run_dir/backup``) is the chief's, which every worker
    restores from (BackupAndRestore writes the other workers' copies to temporary
    directories and deletes them)."""
    patience = int(config.early_stopping_patience)
    # Order matters: an epoch's history row is written before its backup, so a kill
    # between the two leaves a row the backup does not cover; ResumedHistory drops it when
    # the run resumes and the epoch, trained again, writes it anew. (The other order lost
    # the row of an epoch the backup already held.)
    history = [ResumedHistory(str(run_dir / HISTORY_FILE), append=True)] if chief else []
    return [
        *history,
        tf.keras.callbacks.BackupAndRestore(str(backup_dir or run_dir / "backup")),
        tf.keras.callbacks.ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.weights.h5"),
            monitor="val_loss",
            save_best_only=True,
            save_weights_only=True,
        ),
        tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
        _schedule_callback(config, patience),
        tf.keras.callbacks.TensorBoard(str(run_dir / "logs"), profile_batch=0),
        progress,
    ]


def prepare_run_dir(run_dir: Path, record: dict, overwrite: bool, resume_keys=RESUME_KEYS) -> bool:
    """Create the run directory; return True when resuming an interrupted run (one whose
    config.json agrees with ``record`` on ``resume_keys``)."""
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    if check_run_dir(run_dir, record, False, resume_keys):
        return True
    if (run_dir / CONFIG_FILE).exists():
        return False
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps({**record, "status": "training"}, indent=2))
    return False


def check_run_dir(run_dir: Path, record: dict, overwrite: bool, resume_keys=RESUME_KEYS) -> bool:
    """What :func:`prepare_run_dir` decides, without writing: True when an interrupted
    run will be resumed; SystemExit when the directory holds a finished run or one with
    other settings (and not ``overwrite``). Every worker of a cluster checks, so all stop
    or go on together."""
    config_path = run_dir / CONFIG_FILE
    if overwrite:
        return False
    if config_path.exists():
        previous = json.loads(config_path.read_text())
        if previous.get("status") == "finished":
            raise SystemExit(
                f"{run_dir} already holds a finished run of {previous['model']}: "
                "pass --overwrite to train again or choose another --out"
            )
        differing = [k for k in resume_keys if previous.get(k) != record.get(k)]
        if differing:
            raise SystemExit(
                f"{run_dir} holds an interrupted run with different "
                + ", ".join(f"{k} ({previous.get(k)} != {record.get(k)})" for k in differing)
                + ": pass --overwrite or choose another --out"
            )
        return (run_dir / "backup").exists()
    return False


def save_model_atomically(model, run_dir: Path) -> str:
    """Write model.keras through a temporary file so a crash never leaves half a model."""
    temporary = run_dir / "model.partial.keras"
    model.save(temporary)
    os.replace(temporary, run_dir / MODEL_FILE)
    return file_fingerprint(run_dir / MODEL_FILE)


def finish_run(run_dir: Path, record: dict, fingerprint: str) -> None:
    """Mark config.json finished with the model's fingerprint; drop the resume state."""
    record.update({"fingerprint": fingerprint, "status": "finished"})
    (run_dir / CONFIG_FILE).write_text(json.dumps(record, indent=2))
    shutil.rmtree(run_dir / "backup", ignore_errors=True)


def write_curves(run_dir: Path, title: str) -> None:
    import pandas as pd

    from fashion_tf.evaluation.plots import plot_training_curves

    history = pd.read_csv(run_dir / HISTORY_FILE)
    plot_training_curves(history, run_dir / CURVES_FILE, title=title)
