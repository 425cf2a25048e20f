"""Personalized Recall@K, K = 1..100, as in *Single-Item Fashion Recommender*, Fig. 11.

On the leave-last-out split (``fashion_tf.data.carts``), every test user's cart (all
purchases but the last) is scored by each system and Recall@K asks whether the last
purchase is among the top K (cart items excluded):

- the trained personalizer (eq. 3 cart -> eq. 4 tower), mixed carts split or not as
  the run says;
- the plain cart mean (eq. 3, no tower: the untrained personalizer);
- popularity and collaborative filtering (``cart_baselines``);
- the personalizer trained the same way over other extractors' features (the paper's
  ResNet101 + shallow and VGG16 baselines), when their runs are given.

The ablations (trained without cart splitting, cart mean with it) are recorded too, so
a reader sees what the tower and the split each contribute.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from fashion_tf.data.carts import CartSplit, leave_last_out
from fashion_tf.evaluation.retrieval_metrics import recall_at_k
from fashion_tf.models.personalizer import build_personalizer, recommend

MAX_K = 100
REPORT_K = (1, 5, 10, 20, 50, 100)
FIGURE_FILE = "personalization_recall.png"
RESULTS_FILE = "personalization.json"


def recall_curve(true_ids, ranked_ids, max_k: int = MAX_K) -> dict[str, float]:
    """{"1": recall@1, ..., str(max_k): ...} (string keys: the JSON form)."""
    ranked = np.asarray(ranked_ids, dtype=object)[:, :max_k]
    return {str(k): v for k, v in recall_at_k(np.asarray(true_ids, dtype=object), ranked,
                                                range(1, ranked.shape[1] + 1)).items()}


def recall_curves_for(model, split: CartSplit, item_ids, vectors, split_carts: bool) -> dict[str, dict[str, float]]:
    """The personalizer's and the plain cart mean's test curves, with both ablations."""
    carts, truth = split.test.carts, split.test.positives
    untrained = build_personalizer(item_ids, vectors)
    curves = {
        "personalizer": recall_curve(truth, recommend(model, carts, MAX_K, split_carts)[0]),
        "cart_mean": recall_curve(truth, recommend(untrained, carts, MAX_K, split_carts=False)[0]),
    }
    if split_carts:
        curves["personalizer_whole_carts"] = recall_curve(truth, recommend(model, carts, MAX_K, False)[0])
        curves["cart_mean_split"] = recall_curve(truth, recommend(untrained, carts, MAX_K, True)[0])
    else:
        curves["personalizer_split_carts"] = recall_curve(truth, recommend(model, carts, MAX_K, True)[0])
    return curves


def compare_personalizers(personalizer_run, baseline_runs=(), catalog_dir=None) -> dict:
    """Fig. 11 on one held-out split: every system's Recall@1..100; written as
    RUN/personalization.json and RUN/personalization_recall.png."""
    from fashion_tf.embed import run_catalog
    from fashion_tf.evaluation.cart_baselines import (
        matrix_factorization_rankings,
        popularity_rankings,
    )
    from fashion_tf.personalize import PersonalizerConfig, fit_personalizer
    from fashion_tf.run_index import catalog_embeddings
    from fashion_tf.runs import load_run

    run = load_run(personalizer_run)
    if run.config.get("kind") != "personalizer":
        raise ValueError(f"{run.path}: not a personalizer run (python -m fashion_tf.personalize --run RUN)")
    extractor = load_run(run.config["extractor_run"])
    catalog = run_catalog(extractor, catalog_dir or run.config.get("data"))
    item_ids, vectors = catalog_embeddings(extractor, catalog)
    fields = {f.name for f in dataclasses.fields(PersonalizerConfig)}
    config = PersonalizerConfig(**{k: (tuple(v) if k == "hidden_units" else v)
                                   for k, v in run.config.items() if k in fields})
    split = leave_last_out(catalog.interactions, item_ids, config.val_fraction, seed=config.seed)
    curves = recall_curves_for(run.model, split, item_ids, vectors, config.split_carts)
    carts, truth = split.test.carts, split.test.positives
    curves["popularity"] = recall_curve(truth, popularity_rankings(split.train_interactions, item_ids, carts, MAX_K))
    curves["matrix_factorization"] = recall_curve(truth, matrix_factorization_rankings(
        split.train_interactions, item_ids, split.test.users, carts, MAX_K, seed=config.seed))
    for baseline in baseline_runs:
        other = load_run(baseline)
        other_ids, other_vectors = catalog_embeddings(other, catalog)
        other_split = leave_last_out(catalog.interactions, other_ids, config.val_fraction, seed=config.seed)
        model, _ = fit_personalizer(other_ids, other_vectors, other_split, config)
        curves[f"personalizer over {other.name}"] = recall_curve(
            other_split.test.positives, recommend(model, other_split.test.carts, MAX_K, config.split_carts)[0])
    result = {"personalizer_run": str(run.path), "extractor": extractor.name, "catalog": str(catalog.root),
              "test_users": len(truth), "catalog_items": len(item_ids), "split_carts": config.split_carts,
              "recall_at_k": curves}
    (run.path / RESULTS_FILE).write_text(json.dumps(result, indent=2))
    plot_curves(curves, run.path / FIGURE_FILE, f"personalized Recall@K, {len(truth)} users, {len(item_ids)} items")
    return result


FIGURE_SYSTEMS = ("personalizer", "cart_mean", "matrix_factorization", "popularity")


def plot_curves(curves: dict[str, dict[str, float]], out, title: str) -> Path:
    """The Fig. 11-style picture: the main systems and any baseline-feature personalizers."""
    from fashion_tf.evaluation.plots import plot_recall_at_k

    shown = {name: {int(k): v for k, v in curve.items()} for name, curve in curves.items()
             if name in FIGURE_SYSTEMS or name.startswith("personalizer over")}
    return plot_recall_at_k(shown, out, title=title, markers=False)


def format_table(result: dict) -> str:
    """Recall@K rows for the REPORT_K columns, one line per system."""
    curves = result["recall_at_k"]
    width = max(len(n) for n in curves) + 2
    lines = ["system".ljust(width) + "".join(f"R@{k}".rjust(8) for k in REPORT_K)]
    for name, curve in curves.items():
        lines.append(name.ljust(width) + "".join(f"{curve.get(str(k), float('nan')):8.3f}" for k in REPORT_K))
    return "\n".join(lines)
