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
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf import zoo
from fashion_tf.config import TrainConfig
from fashion_tf.data.catalog import Catalog, catalog_fingerprint
from fashion_tf.data.pipeline import PipelineReport, make_dataset, multi_hot
from fashion_tf.distribute import choose_strategy
from fashion_tf.losses import WeightedMultiLabelLoss, label_weights
from fashion_tf.metrics import all_metrics, multilabel_scores
from fashion_tf.models.backbones import weights_used
from fashion_tf.runs import METRICS_FILE
from fashion_tf.training import common
from fashion_tf.training_data import resolve_catalog

LOSSES = ("weighted_multilabel",)


def label_frequencies(catalog: Catalog, vocabulary: list[str]) -> np.ndarray:
    """Fraction of training items carrying each label: the f_i of paper eq. 2."""
    train = catalog.items[catalog.items["split"] == "train"]
    if len(train) == 0:
        raise ValueError(f"{catalog.root}/items.parquet: no rows with split == 'train'")
    return multi_hot(train["labels"].tolist(), vocabulary).mean(axis=0)


def predict_split(model, catalog, split, config: TrainConfig, vocabulary):
    """(y_true, y_prob) over one split, without augmentation."""
    dataset = make_dataset(catalog, split, config.image_size, config.batch_size, vocabulary, training=False)
    truths, probs = [], []
    for images, targets in dataset:
        probs.append(model(images, training=False).numpy())
        truths.append(targets.numpy())
    if not truths:
        return None, None
    return np.concatenate(truths), np.concatenate(probs)


def multilabel_test_scores(model, catalog, config: TrainConfig, vocabulary, frequencies) -> dict:
    """Test-set multi-label scores and the trivial baseline that predicts every label
    with its training frequency (so only labels on more than half the items fire)."""
    split = "test" if (catalog.items["split"] == "test").any() else "val"
    y_true, y_prob = predict_split(model, catalog, split, config, vocabulary)
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


def train(config: TrainConfig, overwrite: bool = False) -> Path:
    """Trains ``config.model`` and writes its run directory; returns the directory."""
    if config.loss not in LOSSES:
        raise ValueError(f"loss {config.loss!r}: the classifier trainer implements {LOSSES}")
    if config.options:
        raise ValueError(f"options {sorted(config.options)}: the classifier trainer takes none")
    tf.keras.utils.set_random_seed(config.seed)
    strategy, strategy_text = choose_strategy()
    catalog = resolve_catalog(config.data)
    vocabulary = list(catalog.vocabulary)
    frequencies = label_frequencies(catalog, vocabulary)

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
    record = common.run_record(config, str(Path(catalog.root).resolve()), used, rate,
                               vocabulary=vocabulary, data_fingerprint=catalog_fingerprint(catalog))
    resuming = common.prepare_run_dir(run_dir, record, overwrite)
    shutil.copyfile(Path(catalog.root) / "labels.json", run_dir / "labels.json")

    report = PipelineReport()
    common_args = {"image_size": config.image_size, "batch_size": config.batch_size, "vocabulary": vocabulary}
    train_ds = make_dataset(
        catalog, "train", **common_args, training=True, augmentation=config.augmentation,
        background_p=config.background_p, seed=config.seed, report=report,
    )
    val_split = "val" if (catalog.items["split"] == "val").any() else "test"
    val_ds = make_dataset(catalog, val_split, **common_args, training=False, report=report)
    num_train = int((catalog.items["split"] == "train").sum())
    print(
        f"training {record['run_name']} ({model.count_params():,} parameters, weights {used}) on "
        f"{num_train} images, {len(vocabulary)} labels, {config.image_size} px, {config.epochs} epochs, "
        f"{config.optimizer} lr {rate:g}, background p={config.background_p}, {strategy_text}"
        + (f"; resuming the interrupted run in {run_dir}" if resuming else ""),
        flush=True,
    )
    progress = common.EpochProgress(num_train, config.epochs)
    started = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
              callbacks=common.build_callbacks(run_dir, progress, config), verbose=0)
    train_seconds = time.perf_counter() - started

    fingerprint = common.save_model_atomically(model, run_dir)
    metrics = multilabel_test_scores(model, catalog, config, vocabulary, frequencies)
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
