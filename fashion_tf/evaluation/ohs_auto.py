"""Automatic objective-guided human score: the OHS criteria scored from catalog attributes.

Paper sections 4.1 and 4.5 score each system's top-10 by people. Where the catalog knows
an item's attributes, a result's agreement with the query can be counted instead, so
versions can be compared without people (the same queries as the sheets: test-split
shop images and street photos):

* category, subtype, texture, colour: share of the top-10 with the query item's value
  (``attr_*`` columns, else the category path and the labels, as in retrieval_metrics);
* variety (the paper's "number of novel items: different category, subtype or colour"):
  how many distinct (category, subtype, colour) kinds the top-10 holds that differ from
  the query's, out of 10 (ten copies of one other item count once);
* details: share of the top-10 with exactly the query's set of detail words
  (``attr_details``, else the detail words among the labels: pocket, zipper, collar...);
  left out when no item carries any;
* shape difference: share of the top-10 whose ``attr_view`` (front, back, side ...)
  differs from the query's; left out when the catalog has no such column.

A criterion left out drops from the weighted mean and the other weights are
renormalised (``ohs_scoring.weighted_ohs``); the report says which and how.
hit@10 (not part of the OHS): a street photo's own item is in the top-10; for a shop
query, a result matches it in category, subtype, colour and texture.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fashion_tf.evaluation.ohs_queries import (
    TOP_K,
    choose_queries,
    shared_catalog,
    system_names,
    top_k_results,
)
from fashion_tf.evaluation.ohs_scoring import (
    CRITERIA,
    CRITERION_TITLES,
    DEFAULT_WEIGHTS,
    weighted_ohs,
)
from fashion_tf.evaluation.retrieval_metrics import agreement_at_k, item_attributes
from fashion_tf.runs import Run

DETAIL_WORDS = frozenset(
    ["pocket", "button", "collar", "zipper", "zip", "hood", "hooded", "belt", "belted", "drawstring", "lace", "ruffle", "ruffled", "embroidered", "sequin", "fringe", "bow", "v-neck", "crew-neck", "turtleneck", "sleeveless"]
)
UNKNOWN = ("", "unknown", "none", "nan")
AUTO_FILE = "auto_ohs.json"
CHART_FILE = "auto_ohs.png"


def _as_words(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [w.strip().lower() for w in value.replace(";", ",").split(",") if w.strip()]
    return [str(w).strip().lower() for w in value]


def attribute_table(items: pd.DataFrame) -> pd.DataFrame:
    """Per item (indexed by item_id): category, subtype, texture, colour, details (sorted
    detail words joined by '+', '' for none, None when the catalog has no details) and
    view (None without an ``attr_view`` column)."""
    table = item_attributes(items).set_index("item_id")
    if "attr_details" in items:
        details = items["attr_details"].apply(_as_words)
    else:
        details = items["labels"].apply(lambda labels: [w for w in _as_words(labels) if w in DETAIL_WORDS])
    has_details = "attr_details" in items or any(len(d) for d in details)
    table["details"] = ["+".join(sorted(set(d))) for d in details] if has_details else None
    table["view"] = items["attr_view"].astype(str).str.lower().values if "attr_view" in items else None
    return table


def _known(values: np.ndarray) -> bool:
    return any(v is not None and str(v).lower() not in UNKNOWN for v in values)


def criteria_percentages(query_items: list[str], result_items: np.ndarray, attributes: pd.DataFrame,
                         street: np.ndarray | None = None) -> dict[str, float | None]:
    """The criteria in percent for one system; None for a criterion the catalog lacks.

    Args:
        query_items: the item each query shows [Q].
        result_items: the system's top-k item ids [Q, k].
        attributes: :func:`attribute_table` of the catalog.
        street: bool [Q], True where the query is a street photo (for hit@10).
    """
    k = result_items.shape[1]
    values = {}
    for name in ("category", "subtype", "texture", "colour", "details", "view"):
        column = attributes[name]
        values[name] = (column.reindex(query_items).to_numpy(dtype=object),
                        column.reindex(result_items.ravel()).to_numpy(dtype=object).reshape(result_items.shape))
    out: dict[str, float | None] = {}
    for name in ("category", "subtype", "texture", "colour", "details"):
        query, result = values[name]
        out[name] = 100.0 * agreement_at_k(query, result, k) if _known(attributes[name].to_numpy()) else None
    query_view, result_view = values["view"]
    out["shape_difference"] = (100.0 * (1.0 - agreement_at_k(query_view, result_view, k))
                               if _known(attributes["view"].to_numpy()) else None)
    kinds = [values[n] for n in ("category", "subtype", "colour")]
    novel = []
    for q in range(len(query_items)):
        own = tuple(query[q] for query, _ in kinds)
        found = {tuple(result[q, r] for _, result in kinds) for r in range(k)}
        novel.append(len(found - {own}) / k)
    out["variety"] = 100.0 * float(np.mean(novel))
    same_look = np.ones(result_items.shape, dtype=bool)
    for name in ("category", "subtype", "colour", "texture"):
        query, result = values[name]
        same_look &= result == query[:, None]
    exact = result_items == np.asarray(query_items, dtype=object)[:, None]
    street = np.zeros(len(query_items), dtype=bool) if street is None else np.asarray(street)
    out["hit@10"] = 100.0 * float(np.where(street, exact.any(axis=1), same_look.any(axis=1)).mean())
    return out


def _scored(rows: dict[str, dict], weights) -> tuple[pd.DataFrame, dict[str, float]]:
    """systems x (hit@10, criteria, OHS) from per-system criteria percentages."""
    table = pd.DataFrame.from_dict(rows, orient="index")[["hit@10", *CRITERIA]].astype(float)
    used: dict[str, float] = {}
    ohs = []
    for record in table[list(CRITERIA)].to_dict("records"):
        value, used = weighted_ohs(record, weights)
        ohs.append(value)
    table["OHS"] = ohs
    return table, used


def auto_ohs(runs: list[Run], count: int | None = None, seed: int = 0, weights=DEFAULT_WEIGHTS,
             catalog_dir=None) -> dict:
    """The automatic OHS of ``runs`` on the same queries.

    Returns ``{"table": DataFrame systems x (test IoU, hit@10, criteria, OHS, OHS shop,
    OHS street) in percent, "by_domain": {"shop": table, "street": table} (the same on
    each kind of query alone), "left_out": [criteria without catalog attributes],
    "weights": the renormalised weights used, "queries": {"shop": n, "street": n},
    "catalog": path}``.
    """
    catalog = shared_catalog(runs, catalog_dir)
    queries = choose_queries(catalog, count, seed=seed)
    attributes = attribute_table(catalog.items)
    query_items = np.array([q.item_id for q in queries], dtype=object)
    street = np.array([q.domain == "street" for q in queries])
    domains = {"all": np.ones(len(queries), dtype=bool), "shop": ~street, "street": street}
    rows: dict[str, dict[str, dict]] = {domain: {} for domain in domains}
    for name, run in zip(system_names(runs), runs):
        results = top_k_results(run, catalog, queries, TOP_K)
        for domain, chosen in domains.items():
            if chosen.any():
                rows[domain][name] = criteria_percentages(list(query_items[chosen]), results[chosen],
                                                          attributes, street[chosen])
    table, used = _scored(rows["all"], weights)
    left_out = [c for c in CRITERIA if table[c].isna().all()]
    by_domain = {domain: _scored(rows[domain], weights)[0] for domain in ("shop", "street") if rows[domain]}
    for domain, part in by_domain.items():
        table[f"OHS {domain}"] = part["OHS"]
    # Table I lists each version's test IoU above its criteria: the implicit metric
    # that the OHS is meant to replace.
    table.insert(0, "test IoU", [100.0 * run.metrics["test"]["iou"] if "iou" in run.metrics.get("test", {})
                                 else float("nan") for run in runs])
    return {"table": table, "by_domain": by_domain, "left_out": left_out, "weights": used,
            "queries": {"shop": int((~street).sum()), "street": int(street.sum())}, "catalog": str(catalog.root)}


def weights_note(result: dict, weights=DEFAULT_WEIGHTS) -> str:
    """One line saying which criteria were left out and how the weights were renormalised."""
    if not result["left_out"]:
        return "every criterion scored from catalog attributes; weights as given"
    kept = sum(weights[c] for c in result["weights"])
    missing = ", ".join(f"{CRITERION_TITLES[c].lower()} (weight {weights[c]:g})" for c in result["left_out"])
    return (f"left out (no catalog attribute): {missing}; the other weights renormalised over "
            f"{kept:g} instead of {sum(weights.values()):g}")


def _as_json(table: pd.DataFrame) -> dict:
    return {name: {c: (None if np.isnan(v) else round(float(v), 3)) for c, v in row.items()}
            for name, row in table.to_dict("index").items()}


def write_auto_ohs(result: dict, out: str | Path, weights=DEFAULT_WEIGHTS) -> tuple[Path, Path]:
    """``auto_ohs.json`` and a bar chart ``auto_ohs.png`` (criteria and OHS per system)."""
    import json

    from fashion_tf.evaluation.plots import plot_ohs_bars

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = result["table"]
    payload = {"systems": _as_json(table),
               "by_domain": {domain: _as_json(part) for domain, part in result["by_domain"].items()},
               "left_out": result["left_out"], "weights_used": result["weights"], "queries": result["queries"],
               "catalog": result["catalog"], "note": weights_note(result, weights)}
    json_path = out / AUTO_FILE
    json_path.write_text(json.dumps(payload, indent=2))
    columns = [c for c in ("hit@10", *CRITERIA, "OHS", "OHS shop", "OHS street")
               if c in table and c not in result["left_out"]]
    chart = plot_ohs_bars(table[columns], out / CHART_FILE,
                          title=f"automatic OHS, {sum(result['queries'].values())} queries")
    return json_path, chart
