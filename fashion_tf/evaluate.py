"""``python -m fashion_tf.evaluate``: a run's retrieval and multi-label scores (docs/design.md, "Evaluation").

- in-shop: each test item queries the catalog minus itself; precision@k (and mAP@k)
  of category, subtype, colour and texture agreement;
- street-to-shop: each street photo in ``queries.parquet`` queries the shop; recall@k
  of the exact item it shows, and category/colour agreement (paper section 4.5: the
  point of background augmentation);
- multi-label IoU / precision / recall / F1 on the test split (paper section 4.3);
- intra-list diversity of the in-shop top-10 (and of the per-part interleaved top-10 of
  part models), and in-shop top-20 accuracy on catalogs with query/gallery images of
  products (DeepFashion In-shop): ``fashion_tf.evaluation.diversity``.
``--compare RUN_A RUN_B ...`` prints runs side by side and plots street recall@k.
``--ohs-sheets``, ``--ohs-score`` and ``--auto-ohs``: the objective-guided human score
(paper sections 4.1 and 4.5; ``fashion_tf/evaluation/ohs_cli.py``).
``--personalizer RUN [--baselines RUN ...]`` prints the personalized Recall@K table of
the paper's Fig. 11 (``fashion_tf.evaluation.personalization``) and plots it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import fashion_tf  # noqa: F401
from fashion_tf.embed import embed_image_files, run_catalog
from fashion_tf.evaluation.diversity import diversity_scores, in_shop_top_k_accuracy
from fashion_tf.evaluation.ohs_cli import add_ohs_arguments, run_ohs
from fashion_tf.evaluation.retrieval_metrics import (
    ATTRIBUTES,
    agreement_at_k,
    average_precision_at_k,
    item_attributes,
    recall_at_k,
)
from fashion_tf.models.part_texture import num_parts_of
from fashion_tf.retrieval import BruteForceIndex
from fashion_tf.run_index import catalog_embeddings
from fashion_tf.runs import Run, load_run

AGREEMENT_K = (1, 5, 10)
RECALL_K = (1, 5, 10, 20)
EVALUATION_FILE = "evaluation.json"


def in_shop_scores(index, ids, vectors, attributes, query_ids, k_max=10) -> dict:
    """Test items against the catalog minus the query itself (exact ``index`` over ids)."""
    position = {item_id: i for i, item_id in enumerate(ids)}
    rows = np.array([position[q] for q in query_ids if q in position])
    found, _ = index.search(vectors[rows], k_max + 1)
    # drop the query from its own results, keeping k_max others
    results = np.array([[r for r in row if r != ids[q]][:k_max] for row, q in zip(found, rows)])
    table = attributes.set_index("item_id")
    scores = {}
    for name in ATTRIBUTES:
        query_values = table.loc[ids[rows], name].to_numpy()
        result_values = table[name].reindex(results.ravel()).to_numpy().reshape(results.shape)
        for k in AGREEMENT_K:
            scores[f"{name}_precision@{k}"] = agreement_at_k(query_values, result_values, k)
        scores[f"{name}_map@{k_max}"] = average_precision_at_k(query_values, result_values, k_max)
    scores["num_queries"] = len(rows)
    return scores


def street_scores(run: Run, catalog, index, attributes, batch_size=64) -> dict | None:
    """Street photos of held-out items against the shop: the cross-domain test."""
    queries = catalog.queries
    if queries is None or len(queries) == 0:
        return None
    paths = [str(catalog.path(p)) for p in queries["image"]]
    vectors = embed_image_files(run, paths, batch_size)
    kept = [i for i, p in enumerate(paths) if p in vectors]
    true_ids = queries["item_id"].astype(str).to_numpy()[kept]
    found, _ = index.search(np.stack([vectors[paths[i]] for i in kept]), max(RECALL_K))
    table = attributes.set_index("item_id")
    scores = {f"recall@{k}": v for k, v in recall_at_k(true_ids, found, RECALL_K).items()}
    for name in ("category", "colour"):
        query_values = table.loc[true_ids, name].to_numpy()
        result_values = table[name].reindex(found.ravel()).to_numpy().reshape(found.shape)
        scores[f"{name}_precision@10"] = agreement_at_k(query_values, result_values, 10)
    scores["recall_curve"] = {int(k): v for k, v in recall_at_k(true_ids, found, range(1, 21)).items()}
    scores["num_queries"] = len(kept)
    return scores


def evaluate_run(run: Run, catalog_dir=None) -> dict:
    catalog = run_catalog(run, catalog_dir)
    ids, vectors = catalog_embeddings(run, catalog)
    attributes = item_attributes(catalog.items)
    test_ids = catalog.items.loc[catalog.items["split"] == "test", "item_id"].astype(str).tolist()
    index = BruteForceIndex()
    index.add(ids, vectors)
    result = {
        "run": str(run.path),
        "model": run.name,
        "background_p": run.config.get("background_p"),
        "multilabel": run.metrics.get("test", {}),
        "in_shop": in_shop_scores(index, ids, vectors, attributes, test_ids),
        "street_to_shop": street_scores(run, catalog, index, attributes),
        "diversity": diversity_scores(ids, vectors, attributes, test_ids, num_parts_of(run.model)),
        "in_shop_top20": in_shop_top_k_accuracy(ids, vectors, catalog.items, 20),
    }
    (run.path / EVALUATION_FILE).write_text(json.dumps(result, indent=2))
    return result


TABLE_ROWS = [
    ("multi-label IoU", ("multilabel", "iou")),
    ("multi-label precision", ("multilabel", "precision")),
    ("multi-label recall", ("multilabel", "recall")),
    *[(f"in-shop {a} P@10", ("in_shop", f"{a}_precision@10")) for a in ATTRIBUTES],
    *[(f"street recall@{k}", ("street_to_shop", f"recall@{k}")) for k in RECALL_K],
    ("street category P@10", ("street_to_shop", "category_precision@10")),
    ("street colour P@10", ("street_to_shop", "colour_precision@10")),
    ("in-shop top-10 diversity", ("diversity", "ild@10")),
    ("part-mixed diversity", ("diversity", "part_interleaved_ild@10")),
    ("part-mixed category P@10", ("diversity", "part_interleaved_category_precision@10")),
    ("in-shop top-20 accuracy", ("in_shop_top20", "top20_accuracy")),
]


def format_table(results: list[dict]) -> str:
    names = [f"{r['model']} ({Path(r['run']).name})" for r in results]
    width = max(24, *(len(n) for n in names))
    lines = ["metric".ljust(24) + "".join(n.rjust(width + 2) for n in names)]
    for label, (section, key) in TABLE_ROWS:
        cells = []
        for result in results:
            value = (result.get(section) or {}).get(key)
            cells.append(("-" if value is None else f"{value:.3f}").rjust(width + 2))
        lines.append(label.ljust(24) + "".join(cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="run directory")
    parser.add_argument("--compare", nargs="+", default=None, metavar="RUN", help="several runs side by side")
    parser.add_argument("--catalog", default=None, help="catalog directory (default: each run's)")
    parser.add_argument("--plot", default=None, help="recall@k picture (default: RUN/street_recall.png)")
    parser.add_argument("--personalizer", default=None, metavar="RUN",
                        help="personalizer run: Recall@1..100 against cart mean, popularity, matrix factorisation")
    parser.add_argument("--baselines", nargs="*", default=[], metavar="RUN",
                        help="with --personalizer: extractor runs whose features get a personalizer too")
    add_ohs_arguments(parser)
    args = parser.parse_args(argv)
    if (ohs_status := run_ohs(args)) is not None:
        return ohs_status
    if args.personalizer:
        return personalizer_main(args.personalizer, args.baselines, args.catalog)
    runs = args.compare or ([args.run] if args.run else None)
    if not runs:
        parser.error("give --run RUN or --compare RUN_A RUN_B ...")
    try:
        results = [evaluate_run(load_run(r), args.catalog) for r in runs]
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(results))
    curves = {f"{r['model']} ({Path(r['run']).name})": r["street_to_shop"]["recall_curve"]
              for r in results if r.get("street_to_shop")}
    if curves:
        from fashion_tf.evaluation.plots import plot_recall_at_k

        out = args.plot or str(Path(runs[0]) / "street_recall.png")
        plot_recall_at_k(curves, out, title="street-to-shop exact-item recall@K")
        print(f"recall@k plot written to {out}")
    return 0


def personalizer_main(run, baselines, catalog) -> int:
    from fashion_tf.evaluation.personalization import FIGURE_FILE, RESULTS_FILE, compare_personalizers, format_table

    try:
        result = compare_personalizers(run, baselines, catalog)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(result))
    print(f"{result['test_users']} test users, {result['catalog_items']} items; "
          f"{Path(run) / RESULTS_FILE}, plot {Path(run) / FIGURE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
