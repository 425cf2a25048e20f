"""The trainer of the "classifier" zoo kind: V1-V5, the baselines and ``tiny``.

Mohammadi, Bodaghi & Kalhor, "Single-Item Fashion Recommender", section 4.3: the feature
extractors are trained as multi-label classifiers over the label vocabulary extracted
from Category + Title (section 4.2), with the frequency-weighted loss of eq. 1-3,
dropout, early stopping and augmentation, background augmentation included for V1-V5
(section 3.1). The embedding is then read from the layer before the classifier.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf import zoo
from fashion_tf.config import TrainConfig
from fashion_tf.data.augment_settings import AugmentationSettings
from fashion_tf.data.pipeline import PipelineReport
from fashion_tf.distribute import (
    barrier,
    choose_strategy,
    distribute_dataset,
    is_chief,
    is_multi_worker,
    worker,
)
from fashion_tf.losses import WeightedMultiLabelLoss, label_weights
from fashion_tf.metrics import all_metrics, multilabel_scores
from fashion_tf.models.backbones import weights_used
from fashion_tf.runs import METRICS_FILE, MODEL_FILE
from fashion_tf.training import common
from fashion_tf.training_data import TrainingData, resolve_training_data

LOSSES = ("weighted_multilabel",)


def predict_split(model, data: TrainingData, split, config: TrainConfig):
    """(y_true, y_prob) over one split, without augmentation."""
    dataset = data.dataset(split, config.image_size, config.batch_size, training=False)
    truths, probs = [], []
    for images, targets in dataset:
        probs.append(model(images, training=False).numpy())
        truths.append(targets.numpy())
    if not truths:
        return None, None
    return np.concatenate(truths), np.concatenate(probs)


def multilabel_test_scores(model, data: TrainingData, config: TrainConfig, frequencies) -> dict:
    """Test-set multi-label scores and the trivial baseline that predicts every label
    with its training frequency (so only labels on more than half the items fire)."""
    split = "test" if data.split_sizes.get("test") else "val"
    y_true, y_prob = predict_split(model, data, split, config)
    trivial = np.broadcast_to(frequencies, y_true.shape)
    return {
        "split": split,
        "num_images": len(y_true),
        "test": multilabel_scores(y_true, y_prob),
        "trivial_baseline": multilabel_scores(y_true, trivial),
    }


def vocabulary_arguments(model_name: str, vocabulary: list[str]) -> dict:
    """Builder arguments that depend on the vocabulary: the texture labels a two-classifier
    model routes to its texture branch (``fashion_tf.models.two_classifier``)."""
    import inspect

    from fashion_tf.models.two_classifier import texture_label_indices

    if "texture_labels" in inspect.signature(zoo.get_entry(model_name).builder).parameters:
        return {"texture_labels": texture_label_indices(vocabulary)}
    return {}


def train(config: TrainConfig, overwrite: bool = False, callbacks=()) -> Path:
    """Trains ``config.model`` and writes its run directory; returns the directory.
    ``callbacks``: Keras callbacks run after the run's own.

    Across workers (``fashion_tf.distribute``) every worker runs this; only the chief
    writes the run directory, the others keep their copies in a scratch directory that
    is deleted at the end."""
    if config.loss not in LOSSES:
        raise ValueError(f"loss {config.loss!r}: the classifier trainer implements {LOSSES}")
    if config.options:
        raise ValueError(f"options {sorted(config.options)}: the classifier trainer takes none")
    # First: MultiWorkerMirroredStrategy must exist before any other TensorFlow op.
    strategy, strategy_text = choose_strategy(config.mixed_precision, config.strategy)
    chief = is_chief(strategy)
    tf.keras.utils.set_random_seed(config.seed)
    data = resolve_training_data(config.data)
    vocabulary = data.vocabulary
    frequencies = data.label_frequencies()

    with strategy.scope():
        model = zoo.create_model(config.model, num_labels=len(vocabulary), image_size=config.image_size,
                                 weights=config.weights, **vocabulary_arguments(config.model, vocabulary))
        used = weights_used(model)
        rate = config.learning_rate_for(pretrained=used != "none")
        model.compile(
            optimizer=common.make_optimizer(config, rate),
            loss=WeightedMultiLabelLoss(label_weights=label_weights(frequencies).tolist()),
            metrics=all_metrics(),
        )
    run_dir = common.run_directory(config, used)
    record = common.run_record(config, str(data.root.resolve()), used, rate, vocabulary=vocabulary,
                               data_fingerprint=data.fingerprint, strategy_used=strategy_text, **data.facts)
    # Every worker decides alone whether the run resumes or must stop, before the chief
    # writes anything, so all of them stop or go on together.
    resuming = common.check_run_dir(run_dir, record, overwrite)
    barrier(strategy)
    write_dir = run_dir
    if chief:
        common.prepare_run_dir(run_dir, record, overwrite)
        shutil.copyfile(data.labels_file, run_dir / "labels.json")
    else:
        write_dir = Path(tempfile.mkdtemp(prefix=f"fashion_tf_{'_'.join(map(str, worker(strategy)))}_"))
        (write_dir / "checkpoints").mkdir()
    barrier(strategy)  # the chief's run directory (and backup) is in place

    report = PipelineReport()
    sizes = {"image_size": config.image_size}
    train_ds = distribute_dataset(strategy, lambda batch, **shard: data.dataset(
        "train", **sizes, batch_size=batch, training=True, augment=AugmentationSettings.from_config(config),
        seed=config.seed, report=report, **shard), config.batch_size)
    steps = None  # None: fit runs each epoch until the dataset ends
    if not is_multi_worker(strategy):
        # One iterator for all epochs (common.one_iterator says why). Across workers the
        # shards differ in size and tf.distribute ends each epoch on all of them: finite.
        train_ds, steps = common.one_iterator(train_ds, report.num_readable, config.batch_size)
    val_split = "val" if data.split_sizes.get("val") else "test"
    val_ds = distribute_dataset(strategy, lambda batch, **shard: data.dataset(
        val_split, **sizes, batch_size=batch, training=False, report=report, **shard), config.batch_size)
    num_train = data.split_sizes["train"]
    print(
        f"training {record['run_name']} ({model.count_params():,} parameters, weights {used}) on "
        f"{num_train} images, {len(vocabulary)} labels, {config.image_size} px, {config.epochs} epochs, "
        f"{config.optimizer} lr {rate:g}, background p={config.background_p}, {strategy_text}"
        + (f"; resuming the interrupted run in {run_dir}" if resuming else ""),
        flush=True,
    )
    progress = common.EpochProgress(num_train, config.epochs)
    started = time.perf_counter()
    model.fit(train_ds, steps_per_epoch=steps, validation_data=val_ds, epochs=config.epochs, verbose=0,
              callbacks=common.build_callbacks(write_dir, progress, config, chief=chief,
                                               backup_dir=run_dir / "backup") + list(callbacks))
    train_seconds = time.perf_counter() - started
    if not chief:
        # Every worker saves: reading the batch-norm statistics (sync-on-read variables)
        # is an all-reduce over the workers. The others' copies are dropped.
        model.save(write_dir / "model.keras")
        shutil.rmtree(write_dir, ignore_errors=True)
        return run_dir

    fingerprint = common.save_model_atomically(model, run_dir)
    if is_multi_worker(strategy):
        # The other workers are gone: score a local copy, whose reads need no all-reduce.
        model = tf.keras.models.load_model(run_dir / MODEL_FILE, compile=False)
    metrics = multilabel_test_scores(model, data, config, frequencies)
    steady = progress.images_per_second[1:] or progress.images_per_second
    metrics.update({
        "model": config.model,
        "run_name": record["run_name"],
        "weights_used": used,
        "train_images_per_second": float(np.median(steady)) if steady else None,
        "train_seconds": round(train_seconds, 1),
        "epochs_run_this_session": len(progress.images_per_second),
        "skipped_images": dict(report.skipped),
    })
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    common.write_curves(run_dir, record["run_name"])
    common.finish_run(run_dir, record, fingerprint)

    test, trivial = metrics["test"], metrics["trivial_baseline"]
    print(
        f"{record['run_name']}: test IoU {test['iou']:.3f} (trivial {trivial['iou']:.3f}), precision "
        f"{test['precision']:.3f}, recall {test['recall']:.3f}, F1 {test['f1']:.3f}; "
        f"{metrics['train_images_per_second'] or 0:.1f} train img/s; run in {run_dir}",
        flush=True,
    )
    return run_dir
