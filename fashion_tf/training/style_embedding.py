"""The trainer of zoo kind "style_embedding" (``ctl_triplet``; README, "Complete the look").

``python -m fashion_tf.train --model ctl_triplet [--data DIR]`` lands here. Almanassra
et al., "Image style embedding based Fashion Recommendation System", sections 2.2.2-
2.2.4: triplets from outfits (:mod:`fashion_tf.data.triplets`), one network embeds
anchor, positive and negative, triplet loss with margin 0.2, learning rate 0.005,
batch 64. Here a small category head learns beside it (the query's category decides
which rows "complete the look" shows) with a tenth of the weight. Images get no
standard augmentation (its colour jitter would change the colours that carry the
outfit rules), only the optional background paste (``--background-p``).

Kind options (``TrainConfig.options``; the card's recipe, ``--mining``, ``--widths``,
``--baseline-run``): ``margin``, ``mining`` ("none" | "semi_hard"), ``widths`` (the
four ResNet18 stage widths; the CPU demo uses a quarter), ``baseline_run``.

The run directory is the usual one (``fashion_tf.training.common``), so interruption
and resume, ``history.csv``, checkpoints and ``training_curves.png`` work as for the
extractors. ``metrics.json`` holds, on held-out outfits, the triplet accuracy (the
source reports about 60 % on Polyvore), the outfit compatibility AUC and the
fill-in-the-blank accuracy over 4 candidates (:mod:`fashion_tf.evaluation.compatibility`)
for the style embedding, for chance, for the cosine of a trained extractor's embeddings
(the single-item recommender's features; a V5 run when one exists) and, on the demo
shop, for the oracle that knows the outfit rules (:mod:`fashion_tf.data.outfit_rules`).

``python -m fashion_tf.training.style_embedding --rescore RUN [--baseline-run B]``
recomputes a finished run's metrics.json (e.g. once an extractor run exists).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401
from fashion_tf import zoo
from fashion_tf.config import TrainConfig, machine_has_gpu
from fashion_tf.data.catalog import catalog_fingerprint
from fashion_tf.data.triplets import (
    OutfitTable,
    outfit_table,
    sample_triplets,
    triplet_dataset,
)
from fashion_tf.evaluation import compatibility
from fashion_tf.losses_triplet import MININGS, TripletAccuracy, TripletLoss
from fashion_tf.models.resnet18 import CATEGORY_OUTPUT, STYLE_OUTPUT
from fashion_tf.runs import METRICS_FILE
from fashion_tf.training import common

# The CPU demo (no --data, no GPU): a quarter of ResNet18's widths at the demo's 64 px,
# so an epoch over the demo outfits takes about a minute on 2 cores.
CPU_DEMO_WIDTHS = (16, 32, 64, 128)
# Its samples are outfits, not items: the default 800-item shop holds ~150 training
# outfits, from which the style model memorises (test triplet accuracy 0.69, train 0.87);
# with no --data it trains on a 4000-item demo shop (~750 training outfits) instead.
STYLE_DEMO_ITEMS = 4000
CATEGORY_LOSS_WEIGHT = 0.1
LOSSES = ("triplet",)
OPTIONS = ("margin", "mining", "widths", "baseline_run")
# Extractor runs tried, in order, for the cosine baseline when no baseline_run is given.
BASELINE_RUNS = ("runs/v5", "runs/v5_scratch", "runs/demo_v5_b0", "runs/demo_v5")


def style_options(config: TrainConfig, on_gpu: bool) -> dict:
    """The kind options with their defaults, checked."""
    unknown = sorted(set(config.options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"options {unknown}: the style embedding trainer takes {list(OPTIONS)}")
    entry = zoo.get_entry(config.model)
    cpu_demo = config.data is None and not on_gpu
    widths = config.options.get("widths") or (CPU_DEMO_WIDTHS if cpu_demo else entry.config.get("widths"))
    options = {"margin": float(config.options.get("margin", 0.2)), "mining": config.options.get("mining", "none"),
               "widths": [int(w) for w in widths], "baseline_run": config.options.get("baseline_run")}
    if options["mining"] not in MININGS:
        raise ValueError(f"mining {options['mining']!r}: expected one of {MININGS}")
    if len(options["widths"]) != 4:
        raise ValueError(f"widths {options['widths']}: ResNet18 has four stages")
    return options


def embed_items(model, table: OutfitTable, image_size: int, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(style embeddings [N, D], category probabilities [N, C]) of every outfit item, in
    table row order, through the evaluation decoder (the serving graph's pixels)."""
    from fashion_tf.data.decode import load_for_model

    ds = tf.data.Dataset.from_tensor_slices(table.paths()).map(
        lambda p: load_for_model(tf.io.read_file(p), image_size), num_parallel_calls=tf.data.AUTOTUNE
    ).batch(batch_size)
    styles, probs = [], []
    for images in ds:
        out = model(images, training=False)
        styles.append(out[STYLE_OUTPUT].numpy())
        probs.append(out[CATEGORY_OUTPUT].numpy())
    return np.concatenate(styles), np.concatenate(probs)


def find_baseline_run(explicit: str | None):
    """The extractor run for the cosine baseline: --baseline-run, else the first of
    ``BASELINE_RUNS`` that loads; None when there is none."""
    from fashion_tf.runs import RunError, load_run

    for candidate in ([explicit] if explicit else list(BASELINE_RUNS)):
        try:
            return load_run(candidate)
        except RunError:
            if explicit:
                raise
    return None


def extractor_scorer(run, catalog, table: OutfitTable):
    """Cosine of the extractor's embeddings, as a scorer over table rows."""
    from fashion_tf.embed import compute_embeddings

    ids, vectors = compute_embeddings(run, catalog, progress=False)
    row_of = {item_id: k for k, item_id in enumerate(ids)}
    missing = [i for i in table.items["item_id"] if i not in row_of]
    if missing:
        raise ValueError(f"baseline run {run.path}: no embedding for {len(missing)} outfit items, e.g. {missing[0]}")
    return compatibility.cosine_scorer(vectors[[row_of[i] for i in table.items["item_id"]]])


def evaluate_style(model, catalog, table: OutfitTable, image_size: int, baseline_run=None, seed: int = 0) -> dict:
    """The metrics.json body (see module docstring)."""
    split = "test" if (table.members["split"] == "test").any() else "val"
    questions = compatibility.draw_questions(table, split, seed)
    styles, probs = embed_items(model, table, image_size)
    test_rows = np.unique(table.members.loc[table.members["split"] == split, "item"].to_numpy())
    truth = table.items["category_index"].to_numpy()[test_rows]
    metrics = {
        "split": split,
        "questions": compatibility.question_counts(questions),
        "test": compatibility.evaluate_scorer(compatibility.cosine_scorer(styles), questions),
        "category_accuracy": float(np.mean(probs[test_rows].argmax(axis=1) == truth)),
        "chance": dict(compatibility.CHANCE),
        "extractor_cosine": None,
        "oracle": None,
    }
    if baseline_run is not None:
        metrics["extractor_cosine"] = {
            "run": str(baseline_run.path), "model": baseline_run.name,
            **compatibility.evaluate_scorer(extractor_scorer(baseline_run, catalog, table), questions)}
    oracle = compatibility.oracle_scorer(table)
    if oracle is not None:
        metrics["oracle"] = compatibility.evaluate_scorer(oracle, questions)
        metrics["share_of_oracle"] = {k: metrics["test"][k] / metrics["oracle"][k]
                                      for k in ("triplet_accuracy", "fitb_accuracy")}
    return metrics


def has_triplets(table: OutfitTable, split: str) -> bool:
    return len(sample_triplets(table, split, np.random.default_rng(0))[0]) > 0


def train(config: TrainConfig, overwrite: bool = False) -> Path:
    """Trains ``config.model`` on outfit triplets and writes its run directory."""
    if config.loss not in LOSSES:
        raise ValueError(f"loss {config.loss!r}: the style embedding trainer implements {LOSSES}")
    on_gpu = machine_has_gpu()
    options = style_options(config, on_gpu)
    tf.keras.utils.set_random_seed(config.seed)
    catalog = demo_or_given_catalog(config.data)
    table = outfit_table(catalog)

    model = zoo.create_model(config.model, num_labels=len(table.categories), image_size=config.image_size,
                             weights=config.weights, widths=options["widths"])
    used = "none" if config.weights in ("none", "auto") else str(config.weights)
    rate = config.learning_rate_for(pretrained=used != "none")
    model.compile(
        optimizer=common.make_optimizer(config, rate),
        loss={STYLE_OUTPUT: TripletLoss(options["margin"], options["mining"]),
              CATEGORY_OUTPUT: tf.keras.losses.SparseCategoricalCrossentropy()},
        loss_weights={STYLE_OUTPUT: 1.0, CATEGORY_OUTPUT: CATEGORY_LOSS_WEIGHT},
        metrics={STYLE_OUTPUT: [TripletAccuracy()]},
    )
    run_dir = common.run_directory(config, used)
    record = common.run_record(
        config, str(Path(catalog.root).resolve()), used, rate, vocabulary=table.categories,
        categories=table.categories, compatible_categories=table.compatible_categories().astype(int).tolist(),
        data_fingerprint=catalog_fingerprint(catalog), style_options=options)
    resuming = common.prepare_run_dir(run_dir, record, overwrite)
    (run_dir / "labels.json").write_bytes((Path(catalog.root) / "labels.json").read_bytes())

    data_args = {"image_size": config.image_size, "batch_size": config.batch_size, "seed": config.seed}
    train_ds = triplet_dataset(table, "train", training=True, background_p=config.background_p, **data_args)
    # tiny catalogs may hold out no validation outfit: then the callbacks watch the training loss
    val_ds = triplet_dataset(table, "val", **data_args) if has_triplets(table, "val") else None
    num_train = int((table.members["split"] == "train").sum())
    outfits = table.members.loc[table.members["split"] == "train", "outfit"].nunique()
    print(
        f"training {record['run_name']} ({model.count_params():,} parameters, widths {options['widths']}) on "
        f"{num_train} anchors of {outfits} outfits, {len(table.categories)} categories, {config.image_size} px, "
        f"{config.epochs} epochs, {config.optimizer} lr {rate:g}, margin {options['margin']}, mining "
        f"{options['mining']}, background p={config.background_p}"
        + (f"; resuming the interrupted run in {run_dir}" if resuming else ""),
        flush=True,
    )
    progress = common.EpochProgress(3 * num_train, config.epochs)
    callbacks = common.build_callbacks(run_dir, progress, config)
    if val_ds is None:
        for callback in callbacks:
            if hasattr(callback, "monitor"):
                callback.monitor = "loss"
    started = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=0)
    train_seconds = time.perf_counter() - started

    fingerprint = common.save_model_atomically(model, run_dir)
    metrics = evaluate_style(model, catalog, table, config.image_size, find_baseline_run(options["baseline_run"]),
                             config.seed)
    steady = progress.images_per_second[1:] or progress.images_per_second
    metrics.update({"model": config.model, "run_name": record["run_name"],
                    "train_images_per_second": float(np.median(steady)) if steady else None,
                    "train_seconds": round(train_seconds, 1),
                    "epochs_run_this_session": len(progress.images_per_second)})
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    common.write_curves(run_dir, record["run_name"])
    common.finish_run(run_dir, record, fingerprint)
    print(summary(metrics) + f"; run in {run_dir}", flush=True)
    return run_dir


def demo_or_given_catalog(data):
    from fashion_tf.training_data import resolve_catalog

    if data is not None:
        return resolve_catalog(data)
    from fashion_tf.data.demo_shop import ensure_demo_shop

    return resolve_catalog(ensure_demo_shop(items=STYLE_DEMO_ITEMS, progress=True))


def summary(metrics: dict) -> str:
    def row(name, values):
        if not values:
            return f"{name}: -"
        return (f"{name}: triplet {values['triplet_accuracy']:.3f}, AUC {values['compatibility_auc']:.3f}, "
                f"FITB {values['fitb_accuracy']:.3f}")

    parts = [row(f"{metrics.get('model', 'style')}", metrics["test"]), row("chance", metrics["chance"]),
             row("extractor cosine", metrics["extractor_cosine"]), row("oracle", metrics["oracle"])]
    return "; ".join(parts)


def rescore(run_dir, baseline_run: str | None = None, seed: int | None = None) -> dict:
    """Recompute a finished style run's metrics.json (e.g. once an extractor run for the
    baseline exists), keeping its training figures."""
    from fashion_tf.runs import load_run
    from fashion_tf.training_data import resolve_catalog

    run = load_run(run_dir)
    if run.config.get("kind") != "style_embedding":
        raise ValueError(f"{run.path}: not a style embedding run (kind {run.config.get('kind')!r})")
    catalog = resolve_catalog(run.catalog_dir)
    metrics = evaluate_style(run.model, catalog, outfit_table(catalog), run.image_size, find_baseline_run(baseline_run),
                             run.config.get("seed", 0) if seed is None else seed)
    previous = run.metrics
    for key in ("model", "run_name", "train_images_per_second", "train_seconds", "epochs_run_this_session"):
        if key in previous:
            metrics[key] = previous[key]
    (run.path / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return metrics


def main(argv=None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.training.style_embedding",
        description="Re-evaluate a finished ctl_triplet run (train with python -m fashion_tf.train --model ctl_triplet).")
    parser.add_argument("--rescore", required=True, help="the run directory whose metrics.json to recompute")
    parser.add_argument("--baseline-run", default=None, help="extractor run for the cosine baseline")
    args = parser.parse_args(argv)
    try:
        metrics = rescore(args.rescore, args.baseline_run)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary(metrics))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
