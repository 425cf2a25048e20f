"""Outfit compatibility metrics (README, "Complete the look").

* **Triplet accuracy** (Almanassra et al., "Image style embedding based Fashion
  Recommendation System", section 3.2): share of held-out triplets with
  score(anchor, positive) > score(anchor, negative); a tie counts one half.
* **Compatibility AUC** and **fill-in-the-blank (FITB) accuracy**, computed the way
  Vasileva et al. define them for Polyvore Outfits: an outfit's score is the mean
  pairwise compatibility of its items; AUC separates real held-out outfits from
  fake ones (every item replaced by a random item of its category); FITB hides one
  item of an outfit and picks among 4 candidates of its category (the true one and 3
  from other outfits) the one with the best mean compatibility with the rest; ties
  earn the expected credit of a random pick among them.

A scorer is any function ``(left_rows, right_rows) -> scores`` over item rows, e.g.
the cosine of embeddings (:func:`cosine_scorer`) or the demo shop's oracle
(:func:`fashion_tf.data.outfit_rules.pair_log_likelihood_ratio`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fashion_tf.data.triplets import OutfitTable, sample_triplets

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
CANDIDATES = 4
CHANCE = {"triplet_accuracy": 0.5, "compatibility_auc": 0.5, "fitb_accuracy": 1.0 / CANDIDATES}


@dataclass
class Questions:
    """The held-out test of one split, drawn once so every scorer answers the same."""

    triplets: np.ndarray                          # [T, 3] anchor, positive, negative rows
    fitb: list[tuple[np.ndarray, np.ndarray, int]]  # (context rows, candidate rows, answer)
    outfits: list[tuple[np.ndarray, int]]         # (item rows, 1 real / 0 fake)


def draw_questions(table: OutfitTable, split: str = "test", seed: int = 0) -> Questions:
    """Triplets, FITB questions and real + fake outfits of ``split`` (seeded)."""
    rng = np.random.default_rng([seed, 23])
    triplets, _ = sample_triplets(table, split, np.random.default_rng([seed, 11]))
    members = table.members[table.members["split"] == split]
    cats = table.items["category_index"].to_numpy()
    pool = {c: np.unique(g["item"].to_numpy()) for c, g in
            members.assign(c=cats[members["item"].to_numpy()]).groupby("c")}
    fitb, outfits = [], []
    for _, group in members.groupby("outfit", sort=True):
        rows = group["item"].to_numpy()
        if len(rows) < 2:
            continue
        outfits.append((rows, 1))
        fake = np.array([rng.choice(pool[cats[r]]) for r in rows])
        outfits.append((fake, 0))
        blank = int(rng.integers(len(rows)))
        others = np.setdiff1d(pool[cats[rows[blank]]], rows)
        if len(others) < CANDIDATES - 1:
            continue
        candidates = np.concatenate([[rows[blank]], rng.choice(others, CANDIDATES - 1, replace=False)])
        order = rng.permutation(CANDIDATES)
        fitb.append((np.delete(rows, blank), candidates[order], int(np.flatnonzero(order == 0)[0])))
    return Questions(triplets=triplets, fitb=fitb, outfits=outfits)


def triplet_accuracy(positive_scores, negative_scores) -> float:
    positive_scores, negative_scores = np.asarray(positive_scores), np.asarray(negative_scores)
    if positive_scores.size == 0:
        return float("nan")
    return float(np.mean(positive_scores > negative_scores) + 0.5 * np.mean(positive_scores == negative_scores))


def outfit_score(scorer: Scorer, rows: np.ndarray) -> float:
    """Mean pairwise compatibility of an outfit's items."""
    left, right = np.triu_indices(len(rows), k=1)
    return float(np.mean(scorer(rows[left], rows[right])))


def fitb_accuracy(scorer: Scorer, questions) -> float:
    credit = []
    for context, candidates, answer in questions:
        left = np.repeat(candidates, len(context))
        right = np.tile(context, len(candidates))
        scores = scorer(left, right).reshape(len(candidates), len(context)).mean(axis=1)
        best = np.flatnonzero(scores == scores.max())
        credit.append(float(answer in best) / len(best))
    return float(np.mean(credit)) if credit else float("nan")


def compatibility_auc(scorer: Scorer, outfits) -> float:
    from sklearn.metrics import roc_auc_score

    labels = [label for _, label in outfits]
    if len(set(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, [outfit_score(scorer, rows) for rows, _ in outfits]))


def evaluate_scorer(scorer: Scorer, questions: Questions) -> dict:
    """{"triplet_accuracy", "compatibility_auc", "fitb_accuracy"} of one scorer."""
    t = questions.triplets
    return {
        "triplet_accuracy": triplet_accuracy(scorer(t[:, 0], t[:, 1]), scorer(t[:, 0], t[:, 2])),
        "compatibility_auc": compatibility_auc(scorer, questions.outfits),
        "fitb_accuracy": fitb_accuracy(scorer, questions.fitb),
    }


def question_counts(questions: Questions) -> dict:
    return {"triplets": len(questions.triplets), "fitb_questions": len(questions.fitb),
            "outfits": sum(label for _, label in questions.outfits)}


def cosine_scorer(embeddings: np.ndarray) -> Scorer:
    """Cosine similarity of rows of ``embeddings`` (normalised here)."""
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    return lambda left, right: np.sum(unit[np.asarray(left)] * unit[np.asarray(right)], axis=1)


def oracle_scorer(table: OutfitTable) -> Scorer | None:
    """The demo shop's Bayes-optimal scorer (outfit_rules), or None for other catalogs."""
    from fashion_tf.data import outfit_rules

    if not outfit_rules.has_oracle(table.items):
        return None
    likelihoods = outfit_rules.likelihood_matrix(table.items)
    return lambda left, right: outfit_rules.pair_log_likelihood_ratio(likelihoods, left, right)
