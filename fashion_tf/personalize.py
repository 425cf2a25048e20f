"""``python -m fashion_tf.personalize --run RUN``: train the personalizer of a run.

*Single-Item Fashion Recommender*, section 3 (Fig. 3, eq. 3/4) and section 4.4: on top
of a trained feature extractor, a dense network maps a user's rating-weighted cart to
a query among the catalog items. It is trained with TensorFlow Recommenders'
``Retrieval`` task: the query of a cart against its held-out purchase, the other
purchases of the batch as negatives (in-batch softmax), the candidate side fixed to the
extractor's item embeddings; ``FactorizedTopK`` over the whole catalog on validation.
Positives and carts come from the leave-last-out split of ``interactions.parquet``
(``fashion_tf.data.carts``): each user's last purchase is never trained on.

Writes a run directory like ``train``'s: config.json (the extractor run's image size
and vocabulary included, so ``load_run`` reads it), history.csv, metrics.json (test
Recall@K of the personalizer and of the plain cart mean), training_curves.png and
model.keras (loads with ``tf.keras.models.load_model`` after ``import fashion_tf``).
Rerunning the same command after an interruption resumes from the last finished epoch.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.data.carts import CartExamples, CartSplit, leave_last_out
from fashion_tf.data.catalog import catalog_fingerprint
from fashion_tf.embed import run_catalog
from fashion_tf.models.personalizer import build_personalizer, cart_encoder, pad_carts
from fashion_tf.run_index import catalog_embeddings
from fashion_tf.runs import HISTORY_FILE, METRICS_FILE, load_run

TOP_K_METRIC = "factorized_top_k/top_10_categorical_accuracy"
# Keys of config.json that must match for a rerun to resume rather than start over.
RESUME_KEYS = ("extractor_fingerprint", "data_fingerprint", "batch_size", "seed", "hidden_units", "temperature")


@dataclasses.dataclass
class PersonalizerConfig:
    """Everything one personalizer training needs (saved in config.json)."""

    run: str                        # the feature extractor's run directory
    data: str | None = None         # catalog with interactions.parquet (default: the run's)
    out: str | None = None          # default runs/personalizer_<run name>
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    # Cosines live in [-1, 1]; the softmax needs them sharper to separate items.
    temperature: float = 0.2
    extra_negatives: int = 512      # uniform catalog negatives per batch, beside the in-batch ones
    hidden_units: tuple[int, ...] = (256,)
    dropout: float = 0.1
    # Off by default: on the demo shop splitting cost Recall@10 (docs/results/demo_v5_personalization.json).
    split_carts: bool = False
    patience: int = 5
    val_fraction: float = 0.1
    seed: int = 0
    overwrite: bool = False

    def run_dir(self) -> Path:
        return Path(self.out or f"runs/personalizer_{Path(self.run).name}")


class CartRetrievalModel(tfrs.Model):
    """The personalizer inside TFRS: query tower = personalizer, candidates = the frozen
    catalog embeddings of the positives."""

    def __init__(self, personalizer: tf.keras.Model, temperature: float, extra_negatives: int = 512,
                 top_k: int = 100):
        super().__init__()
        self.personalizer = personalizer
        encoder = cart_encoder(personalizer)
        catalog = encoder.catalog_embeddings()
        self.num_items = int(catalog.shape[0])
        self.extra_negatives = min(int(extra_negatives), self.num_items)
        self.task = tfrs.tasks.Retrieval(
            metrics=tfrs.metrics.FactorizedTopK(
                candidates=tfrs.layers.factorized_top_k.BruteForce(k=min(top_k, int(catalog.shape[0]))).index(
                    catalog, identifiers=tf.range(1, self.num_items + 1, dtype=tf.int64)),
                ks=tuple(k for k in (1, 10, 100) if k <= int(catalog.shape[0]))),
            temperature=temperature, remove_accidental_hits=True)

    def compute_loss(self, features, training=False):
        query = self.personalizer({"item_ids": features["item_ids"], "ratings": features["ratings"]},
                                  training=training)
        encoder = cart_encoder(self.personalizer)
        rows = encoder.indices(features["positive"])
        if training and self.extra_negatives:
            # Uniform catalog items as extra negatives: the in-batch negatives alone are
            # drawn by popularity, which teaches the query to avoid popular items.
            extra = tf.random.uniform([self.extra_negatives], 1, self.num_items + 1, dtype=rows.dtype)
            rows = tf.concat([rows, extra], axis=0)
        # A cart's own items are neither positives nor negatives: they are never recommended.
        cart_rows = encoder.indices(features["item_ids"])
        in_cart = tf.reduce_any((cart_rows[:, :, None] == rows[None, None, :]) & (cart_rows[:, :, None] > 0), axis=1)
        return self.task(query, tf.gather(encoder.embeddings, rows), candidate_ids=rows,
                         compute_metrics=not training, score_mask=tf.logical_not(in_cart))


def examples_dataset(examples: CartExamples, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    ids, ratings = pad_carts(examples.carts)
    data = tf.data.Dataset.from_tensor_slices({
        "item_ids": ids.astype(str), "ratings": ratings, "positive": np.asarray(examples.positives, dtype=str)})
    if shuffle:
        data = data.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit_personalizer(item_ids, vectors, split: CartSplit, config: PersonalizerConfig,
                     callbacks=(), verbose: int = 0) -> tuple[tf.keras.Model, dict]:
    """Build and train a personalizer over (item_ids, vectors); returns (model, history)."""
    tf.keras.utils.set_random_seed(config.seed)
    personalizer = build_personalizer(item_ids, vectors, config.hidden_units, config.dropout)
    model = CartRetrievalModel(personalizer, config.temperature, config.extra_negatives)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
    train = examples_dataset(split.train, config.batch_size, True, config.seed)
    val = examples_dataset(split.val, config.batch_size, False, config.seed) if len(split.val) else None
    model.compute_loss(next(iter(train)))  # built before fit, as BackupAndRestore needs
    stop = tf.keras.callbacks.EarlyStopping(monitor=f"val_{TOP_K_METRIC}", mode="max", patience=config.patience,
                                           restore_best_weights=True)
    history = model.fit(train, validation_data=val, epochs=config.epochs, verbose=verbose,
                        callbacks=[*callbacks, *([stop] if val is not None else [])])
    return personalizer, history.history


def train_personalizer(config: PersonalizerConfig) -> Path:
    """Train and write a personalizer run directory; returns its path."""
    from fashion_tf.evaluation.personalization import recall_curves_for
    from fashion_tf.training.common import (
        finish_run,
        prepare_run_dir,
        save_model_atomically,
        write_curves,
    )

    extractor = load_run(config.run)
    catalog = run_catalog(extractor, config.data)
    if catalog.interactions is None or len(catalog.interactions) == 0:
        raise ValueError(f"{catalog.root}: no interactions.parquet (user_id, item_id, rating, timestamp) to learn from")
    item_ids, vectors = catalog_embeddings(extractor, catalog)
    split = leave_last_out(catalog.interactions, item_ids, config.val_fraction, seed=config.seed)
    run_dir = config.run_dir()
    settings = {**dataclasses.asdict(config), "hidden_units": list(config.hidden_units)}
    record = {
        "model": "personalizer", "kind": "personalizer",
        # the extractor's, so load_run and export know the image input of the pair
        "image_size": extractor.image_size, "vocabulary": extractor.vocabulary,
        "extractor_run": str(Path(config.run).resolve()), "extractor_model": extractor.name,
        "extractor_fingerprint": extractor.fingerprint,
        "data_fingerprint": catalog_fingerprint(catalog), **settings,
        "data": str(Path(catalog.root).resolve()),
    }
    resuming = prepare_run_dir(run_dir, record, config.overwrite, RESUME_KEYS)
    print(f"personalizer over {extractor.name} ({vectors.shape[1]}-d, {len(item_ids)} items): "
          f"{len(split.train)} train / {len(split.val)} val carts, {len(split.test)} test users"
          + ("; resuming" if resuming else ""), flush=True)
    started = time.perf_counter()
    model, _ = fit_personalizer(item_ids, vectors, split, config, callbacks=[
        tf.keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        tf.keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True)], verbose=2)
    seconds = time.perf_counter() - started
    fingerprint = save_model_atomically(model, run_dir)
    curves = recall_curves_for(model, split, item_ids, vectors, config.split_carts)
    metrics = {"test_users": len(split.test), "train_seconds": round(seconds, 1), "split_carts": config.split_carts,
               "recall_at_k": curves}
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    write_curves(run_dir, "personalizer")
    finish_run(run_dir, record, fingerprint)
    mine, mean = curves["personalizer"], curves["cart_mean"]
    top = max(mine, key=int)  # 100, or the catalog size when smaller
    print(f"personalizer: test Recall@10 {mine['10']:.3f} (cart mean {mean['10']:.3f}), Recall@{top} "
          f"{mine[top]:.3f} (cart mean {mean[top]:.3f}); trained in {seconds:.1f}s; run in {run_dir}", flush=True)
    return run_dir


def parse_args(argv=None) -> PersonalizerConfig:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.personalize", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="trained feature extractor run (python -m fashion_tf.train)")
    parser.add_argument("--data", default=None, help="catalog with interactions.parquet (default: the run's)")
    parser.add_argument("--epochs", type=int, default=PersonalizerConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=PersonalizerConfig.batch_size)
    parser.add_argument("--learning-rate", type=float, default=PersonalizerConfig.learning_rate)
    parser.add_argument("--temperature", type=float, default=PersonalizerConfig.temperature)
    parser.add_argument("--hidden-units", type=int, nargs="+", default=list(PersonalizerConfig.hidden_units))
    parser.add_argument("--split-carts", action=argparse.BooleanOptionalAction, default=PersonalizerConfig.split_carts,
                        help="split mixed carts by k-means and interleave per sub-cart (default: off, one eq. 3 mean)")
    parser.add_argument("--out", default=None, help="run directory (default runs/personalizer_<run name>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="start over even if --out holds a run")
    args = parser.parse_args(argv)
    return PersonalizerConfig(run=args.run, data=args.data, out=args.out, epochs=args.epochs,
                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                              temperature=args.temperature, hidden_units=tuple(args.hidden_units),
                              split_carts=args.split_carts, seed=args.seed, overwrite=args.overwrite)


def main(argv=None) -> int:
    config = parse_args(argv)
    try:
        train_personalizer(config)
    except (ValueError, FileNotFoundError, SystemExit) as error:  # SystemExit: a run already in --out
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
