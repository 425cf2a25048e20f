"""Training of zoo models of kind "style_embedding" (``ctl_triplet``; DESIGN.md 6).

``python -m fashion_tf.train --model ctl_triplet [--data DIR]`` lands here. Almanassra
et al., "Image style embedding based Fashion Recommendation System", sections 2.2.2-
2.2.4: triplets from outfits (:mod:`fashion_tf.data.triplets`), one network embeds
anchor, positive and negative, triplet loss with margin 0.2, learning rate 0.005,
batch 64. Here a small category head learns beside it (the query's category decides
which rows "complete the look" shows) with a tenth of the weight.

The run directory is the usual one (``fashion_tf.runs``), so interruption and resume,
``history.csv``, checkpoints and ``training_curves.png`` work as for the extractors.
``metrics.json`` holds, on held-out outfits, the triplet accuracy (the source reports
about 60 % on Polyvore), the outfit compatibility AUC and the fill-in-the-blank
accuracy over 4 candidates (:mod:`fashion_tf.evaluation.compatibility`) for the style
embedding, for chance, for the cosine of a trained extractor's embeddings (the
single-item recommender's features; a V5 run when one exists) and, on the demo shop,
for the oracle that knows the outfit rules (:mod:`fashion_tf.data.outfit_rules`).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

import fashion_tf  # noqa: F401
import tensorflow as tf  # noqa: E402

from fashion_tf import zoo  # noqa: E402
from fashion_tf.data.catalog import catalog_fingerprint  # noqa: E402
from fashion_tf.data.triplets import OutfitTable, outfit_table, triplet_dataset  # noqa: E402
from fashion_tf.evaluation import compatibility  # noqa: E402
from fashion_tf.losses_triplet import TripletAccuracy, TripletLoss  # noqa: E402
from fashion_tf.models.resnet18 import CATEGORY_OUTPUT, STYLE_OUTPUT  # noqa: E402
from fashion_tf.runs import CONFIG_FILE, METRICS_FILE  # noqa: E402

# The CPU demo (no --data, no GPU): 64 px and a quarter of ResNet18's widths, so an
# epoch over the demo shop's training outfits takes seconds, not minutes.
CPU_DEMO_IMAGE_SIZE = 64
CPU_DEMO_EPOCHS = 30
CPU_DEMO_WIDTHS = (16, 32, 64, 128)
# Its samples are outfits, not items: the default 800-item shop holds ~150 training
# outfits, from which the style model memorises (test triplet accuracy 0.69, train 0.87);
# with no --data it trains on a 4000-item demo shop (~750 training outfits) instead.
STYLE_DEMO_ITEMS = 4000
CATEGORY_LOSS_WEIGHT = 0.1
# Extractor runs tried, in order, for the cosine baseline when --baseline-run is not given.
BASELINE_RUNS = ("runs/v5", "runs/demo_v5")


def style_settings(args, entry, on_gpu: bool) -> dict:
    recipe = entry.recipe or {}
    cpu_demo = args.data is None and not on_gpu
    widths = getattr(args, "widths", None) or (CPU_DEMO_WIDTHS if cpu_demo else entry.config.get("widths"))
    return {
        "image_size": int(args.image_size or (CPU_DEMO_IMAGE_SIZE if cpu_demo else entry.default_image_size)),
        "epochs": int(args.epochs or (CPU_DEMO_EPOCHS if cpu_demo else recipe.get("epochs", 20))),
        "batch_size": int(args.batch_size or recipe.get("batch_size", 64)),
        "learning_rate": float(args.learning_rate or recipe.get("learning_rate", 0.005)),
        "background_p": float(entry.background_p if args.background_p is None else args.background_p),
        "margin": float(recipe.get("margin", 0.2)),
        "mining": getattr(args, "mining", None) or recipe.get("mining", "none"),
        "widths": [int(w) for w in widths],
    }


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


def evaluate_style(model, catalog, table: OutfitTable, settings: dict, baseline_run=None, seed: int = 0) -> dict:
    """The metrics.json body (see module docstring)."""
    split = "test" if (table.members["split"] == "test").any() else "val"
    questions = compatibility.draw_questions(table, split, seed)
    styles, probs = embed_items(model, table, settings["image_size"])
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
    from fashion_tf.data.triplets import sample_triplets

    return len(sample_triplets(table, split, np.random.default_rng(0))[0]) > 0


def train_style(args) -> Path:
    from fashion_tf import train as base
    from fashion_tf.training_data import resolve_catalog

    tf.keras.utils.set_random_seed(args.seed)
    entry = zoo.get_entry(args.model)
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    settings = style_settings(args, entry, on_gpu)
    if args.data is None:
        from fashion_tf.data.demo_shop import ensure_demo_shop

        catalog = resolve_catalog(ensure_demo_shop(items=STYLE_DEMO_ITEMS, progress=True))
    else:
        catalog = resolve_catalog(args.data)
    table = outfit_table(catalog)
    run_dir = Path(args.out or f"runs/{args.model}")
    config = {
        "model": args.model, "kind": entry.kind, "vocabulary": table.categories, "categories": table.categories,
        "compatible_categories": table.compatible_categories().astype(int).tolist(),
        "seed": args.seed, "data": str(Path(catalog.root).resolve()),
        "data_fingerprint": catalog_fingerprint(catalog), "weights": args.weights, **settings,
    }
    resuming = base.prepare_run_dir(run_dir, config, args.overwrite)
    shutil.copyfile(Path(catalog.root) / "labels.json", run_dir / "labels.json")

    common = dict(image_size=settings["image_size"], batch_size=settings["batch_size"], seed=args.seed)
    train_ds = triplet_dataset(table, "train", training=True, background_p=settings["background_p"], **common)
    # tiny catalogs may hold out no validation outfit: then early stopping watches the training loss
    val_ds = triplet_dataset(table, "val", **common) if has_triplets(table, "val") else None
    num_train = int((table.members["split"] == "train").sum())

    model = zoo.create_model(args.model, num_labels=len(table.categories), image_size=settings["image_size"],
                             weights=None if args.weights == "none" else args.weights, widths=settings["widths"])
    model.compile(
        optimizer=tf.keras.optimizers.Adam(settings["learning_rate"]),
        loss={STYLE_OUTPUT: TripletLoss(settings["margin"], settings["mining"]),
              CATEGORY_OUTPUT: tf.keras.losses.SparseCategoricalCrossentropy()},
        loss_weights={STYLE_OUTPUT: 1.0, CATEGORY_OUTPUT: CATEGORY_LOSS_WEIGHT},
        metrics={STYLE_OUTPUT: [TripletAccuracy()]},
    )
    print(
        f"training {args.model} ({model.count_params():,} parameters, widths {settings['widths']}) on "
        f"{num_train} anchors of {table.members.loc[table.members['split'] == 'train', 'outfit'].nunique()} "
        f"outfits, {len(table.categories)} categories, {settings['image_size']} px, {settings['epochs']} epochs, "
        f"lr {settings['learning_rate']:g}, margin {settings['margin']}, mining {settings['mining']}, "
        f"background p={settings['background_p']}" + (f"; resuming the interrupted run in {run_dir}" if resuming else ""),
        flush=True,
    )
    progress = base.EpochProgress(3 * num_train, settings["epochs"])
    started = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=settings["epochs"],
              callbacks=base.build_callbacks(run_dir, progress, args.patience,
                                             "val_loss" if val_ds is not None else "loss"), verbose=0)
    train_seconds = time.perf_counter() - started

    fingerprint = base.save_model_atomically(model, run_dir)
    metrics = evaluate_style(model, catalog, table, settings,
                             find_baseline_run(getattr(args, "baseline_run", None)), args.seed)
    steady = progress.images_per_second[1:] or progress.images_per_second
    metrics.update({"model": args.model, "train_images_per_second": float(np.median(steady)) if steady else None,
                    "train_seconds": round(train_seconds, 1),
                    "epochs_run_this_session": len(progress.images_per_second)})
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    base.write_curves(run_dir, args.model)
    config.update({"fingerprint": fingerprint, "status": "finished"})
    (run_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    print(summary(metrics) + f"; run in {run_dir}", flush=True)
    return run_dir


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
    metrics = evaluate_style(run.model, catalog, outfit_table(catalog), run.config, find_baseline_run(baseline_run),
                             run.config.get("seed", 0) if seed is None else seed)
    previous = run.metrics
    for key in ("model", "train_images_per_second", "train_seconds", "epochs_run_this_session"):
        if key in previous:
            metrics[key] = previous[key]
    (run.path / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    return metrics


def main(argv=None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.train_triplet",
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
