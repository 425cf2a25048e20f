"""The objective-guided human score: criteria, weights, aggregation, agreement.

Mohammadi, Bodaghi & Kalhor, *Single-Item Fashion Recommender*, sections 4.1 and 4.5:
each scorer gives every system, for every query, a hit@10 score from 0 to 10 per
criterion (category, subtype, fabric/texture, colour, variety, details, shape
difference). The scores become percentages (mean over scorers and queries), and one
weighted average of the criteria, with weights set by the goal of the system, is the
system's OHS. With the weights below, the paper's Table I percentages give its OHS
column (V5: 80.0%).

Nothing here knows about models or images: the same arithmetic serves the human score
(``ohs_templates``) and the automatic one (``ohs_auto``).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

CRITERIA = ("category", "subtype", "texture", "colour", "variety", "details", "shape_difference")
CRITERION_TITLES = {
    "category": "Category",
    "subtype": "Subtype",
    "texture": "Texture",
    "colour": "Colour",
    "variety": "Variety",
    "details": "Details",
    "shape_difference": "Shape difference",
}
# The paper's weights for a search-like goal (section 4.5): category and subtype matter
# most; shape difference barely counts.
DEFAULT_WEIGHTS = {
    "category": 5.0,
    "subtype": 4.0,
    "texture": 1.0,
    "colour": 1.0,
    "variety": 1.0,
    "details": 1.0,
    "shape_difference": 0.25,
}
MAX_SCORE = 10  # a scorer's hit@10 count per criterion: 0..10 of the ten results


class WeightsError(ValueError):
    """A --ohs-weights value that cannot be read."""


def criterion_key(name: str) -> str:
    """'Shape difference', 'shape-difference', 'color' -> the key used in CRITERIA."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return {"color": "colour", "fabric": "texture", "shape": "shape_difference"}.get(key, key)


def parse_weights(text: str | None) -> dict[str, float]:
    """The default weights with overrides from ``"category=5,details=2,shape_difference=0"``."""
    weights = dict(DEFAULT_WEIGHTS)
    if not text:
        return weights
    for part in text.split(","):
        name, sep, value = part.partition("=")
        key = criterion_key(name)
        if not sep or key not in weights:
            raise WeightsError(
                f"--ohs-weights: {part.strip()!r} is not CRITERION=WEIGHT with a criterion among "
                f"{', '.join(CRITERIA)}"
            )
        try:
            weight = float(value)
        except ValueError:
            raise WeightsError(f"--ohs-weights: weight of {key} is {value!r}, expected a number >= 0") from None
        if not math.isfinite(weight) or weight < 0:
            raise WeightsError(f"--ohs-weights: weight of {key} is {value!r}, expected a number >= 0")
        weights[key] = weight
    if sum(weights.values()) <= 0:
        raise WeightsError("--ohs-weights: every weight is 0; at least one criterion must count")
    return weights


def weighted_ohs(percentages: Mapping[str, float | None], weights: Mapping[str, float] = DEFAULT_WEIGHTS
                 ) -> tuple[float, dict[str, float]]:
    """The OHS: weighted mean of the criteria percentages (paper section 4.1).

    A criterion that is missing (absent, None or NaN) is left out and the remaining
    weights are renormalised, so the result stays a percentage.

    Returns:
        (ohs in percent, the normalised weights actually used, summing to 1).
    """
    present = {c: float(percentages[c]) for c in CRITERIA
               if percentages.get(c) is not None and not math.isnan(float(percentages[c]))
               and weights.get(c, 0.0) > 0}
    total = sum(weights[c] for c in present)
    if total <= 0:
        raise ValueError("OHS: no criterion with a positive weight has a score")
    used = {c: weights[c] / total for c in present}
    return sum(used[c] * present[c] for c in present), used


def system_percentages(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-system percentages from filled score sheets.

    Args:
        scores: one row per (scorer, query, system) with columns ``hit@10`` (0/1) and
            one 0..10 column per criterion.

    Returns:
        DataFrame indexed by system: ``hit@10`` and each criterion in percent (mean over
        scorers and queries), ``queries`` and ``scorers`` counts.
    """
    grouped = scores.groupby("system", sort=True)
    table = grouped[list(CRITERIA)].mean() * (100.0 / MAX_SCORE)
    table.insert(0, "hit@10", grouped["hit@10"].mean() * 100.0)
    table["queries"] = grouped["query"].nunique()
    table["scorers"] = grouped["scorer"].nunique()
    return table


def with_ohs(table: pd.DataFrame, weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> pd.DataFrame:
    """``table`` (systems x criteria percentages) with an ``OHS`` column added."""
    out = table.copy()
    out["OHS"] = [weighted_ohs(row, weights)[0] for row in out[list(CRITERIA)].to_dict("records")]
    return out


def krippendorff_alpha(ratings: np.ndarray, level: str = "interval") -> float:
    """Krippendorff's alpha of ``ratings`` [scorers, units] (NaN = not rated), from the
    ``krippendorff`` package; NaN when it is undefined (one scorer, or no spread)."""
    import krippendorff

    ratings = np.asarray(ratings, dtype=np.float64)
    if ratings.shape[0] < 2 or np.count_nonzero(~np.isnan(ratings)) < 2:
        return float("nan")
    if np.unique(ratings[~np.isnan(ratings)]).size < 2:
        return float("nan")  # everyone gave one value everywhere: agreement is undefined
    return float(krippendorff.alpha(reliability_data=ratings, level_of_measurement=level))


def scorer_agreement(scores: pd.DataFrame) -> dict[str, float]:
    """Inter-scorer agreement: Krippendorff's alpha per criterion (interval scale; the
    units are the (query, system) pairs), for hit@10 (nominal), and over every
    criterion together ("all criteria"). 1 is perfect agreement, 0 chance level."""
    wide = scores.set_index(["scorer", "query", "system"])
    agreement = {}
    for column, level in [("hit@10", "nominal"), *[(c, "interval") for c in CRITERIA]]:
        matrix = wide[column].unstack(["query", "system"]).to_numpy(dtype=np.float64)
        agreement[column] = krippendorff_alpha(matrix, level)
    every = wide[list(CRITERIA)].stack().unstack(level=[1, 2, 3]).to_numpy(dtype=np.float64)
    agreement["all criteria"] = krippendorff_alpha(every, "interval")
    return agreement


def _cell(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}%"


def format_ohs_table(table: pd.DataFrame, agreement: Mapping[str, float] | None = None,
                     weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> str:
    """Paper Table I layout: one column per system, one row per criterion, then OHS;
    with ``agreement``, a last column of Krippendorff's alpha per row."""
    systems = [str(s) for s in table.index]
    width = max(10, *(len(s) for s in systems)) + 2
    head = "criterion (weight)".ljust(26) + "".join(s.rjust(width) for s in systems)
    if agreement is not None:
        head += "alpha".rjust(9)
    lines = [head]
    rows = [(name, name) for name in ("test IoU", "hit@10") if name in table] + [
        (f"{CRITERION_TITLES[c]} ({weights.get(c, 0):g})", c) for c in CRITERIA] + [("OHS", "OHS")] + [
        (f"OHS, {domain} queries only", f"OHS {domain}") for domain in ("shop", "street") if f"OHS {domain}" in table]
    for label, column in rows:
        line = label.ljust(26) + "".join(_cell(table.at[s, column] if column in table else None).rjust(width)
                                         for s in table.index)
        if agreement is not None:
            alpha = agreement.get(column)
            line += ("" if alpha is None else ("n/a" if math.isnan(alpha) else f"{alpha:.3f}")).rjust(9)
        lines.append(line)
    return "\n".join(lines)
