"""``python -m fashion_tf.complete_the_look``: one garment in, what goes with it out.

Almanassra et al., "Image style embedding based Fashion Recommendation System",
section 2.2 and Fig. 6: the query and every catalog item are embedded with the
triplet-trained style model (zoo ``ctl_triplet``); for each *other* category the items
with the highest cosine similarity to the query complete the look. The query's
category comes from the model's category head unless given (``--category``); the
categories shown are those that appear together with it in the training outfits (a
top gets bottoms, shoes and a bag or hat, not a dress). Draws the query on top and one
row of the best k items per category below it.

    python -m fashion_tf.complete_the_look --run runs/ctl_triplet --image photo.jpg --k 3 --out ctl.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import fashion_tf  # noqa: F401
from fashion_tf.data.triplets import OutfitTable, outfit_table
from fashion_tf.embed import run_catalog
from fashion_tf.runs import Run, load_run

STYLE_CACHE = "style_embeddings.npz"


def require_style_run(run: Run) -> None:
    if run.config.get("kind") != "style_embedding":
        raise ValueError(f"{run.path}: a {run.config.get('kind', 'classifier')} run ({run.name}); complete the look "
                         "needs a style embedding run (python -m fashion_tf.train --model ctl_triplet)")


def style_catalog(run: Run, catalog) -> tuple[OutfitTable, np.ndarray]:
    """(outfit table, unit style embeddings [N, D] in table row order), cached in the run
    directory under the model's fingerprint."""
    from fashion_tf.training.style_embedding import embed_items

    table = outfit_table(catalog)
    cache = run.path / STYLE_CACHE
    ids = table.items["item_id"].astype(str).to_numpy()
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        if str(stored["fingerprint"]) == run.fingerprint and np.array_equal(stored["item_ids"], ids.astype(str)):
            return table, stored["embeddings"]
    embeddings, _ = embed_items(run.model, table, run.image_size)
    np.savez(cache, fingerprint=run.fingerprint, item_ids=ids.astype(str), embeddings=embeddings)
    return table, embeddings


def rank_by_category(query: np.ndarray, embeddings: np.ndarray, item_categories: np.ndarray,
                     targets: list[int], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per target category: (rows of the k most similar items, their cosine scores)."""
    scores = embeddings @ query
    out = []
    for target in targets:
        rows = np.flatnonzero(item_categories == target)
        if len(rows) < k:
            raise ValueError(f"k={k} but the catalog has only {len(rows)} items of one recommended category")
        best = rows[np.argsort(-scores[rows], kind="stable")[:k]]
        out.append((best, scores[best]))
    return out


def complete_the_look(run: Run, image, k: int = 3, category: str | None = None, catalog_dir=None) -> dict:
    """{"query_category", "category_probs", "rows": {category: [(item_id, score)]}, "catalog"}
    for one image (a path or encoded bytes)."""
    import tensorflow as tf

    from fashion_tf.data.decode import load_for_model
    from fashion_tf.models.resnet18 import CATEGORY_OUTPUT, STYLE_OUTPUT
    from fashion_tf.recommend import read_query

    require_style_run(run)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    categories = list(run.config["categories"])
    if category is not None and category not in categories:
        raise ValueError(f"unknown category {category!r}; this model knows {categories}")
    catalog = run_catalog(run, catalog_dir)
    table, embeddings = style_catalog(run, catalog)
    if isinstance(image, (bytes, bytearray)):
        images = load_for_model(tf.constant(bytes(image)), run.image_size)[tf.newaxis]
    else:
        images = read_query(image, run.image_size)
    out = run.model(images, training=False)
    query, probs = out[STYLE_OUTPUT].numpy()[0], out[CATEGORY_OUTPUT].numpy()[0]
    query_index = categories.index(category) if category is not None else int(np.argmax(probs))
    compatible = np.asarray(run.config["compatible_categories"], bool)
    # the model's categories and the catalog's must agree for the rows to mean anything
    item_categories = np.array([categories.index(c) if c in categories else -1 for c in table.items["outfit_category"]])
    targets = [int(t) for t in np.flatnonzero(compatible[query_index])]
    ids = table.items["item_id"].astype(str).to_numpy()
    ranked = rank_by_category(query, embeddings, item_categories, targets, k)
    return {
        "query_category": categories[query_index],
        "category_probs": {c: float(p) for c, p in zip(categories, probs)},
        "rows": {categories[t]: [(str(ids[r]), float(s)) for r, s in zip(rows, scores)]
                 for t, (rows, scores) in zip(targets, ranked)},
        "catalog": catalog,
    }


def draw_look(query_path, result: dict, out: str | Path) -> Path:
    """The query on top, then one row of recommended items per category."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    catalog = result["catalog"]
    by_id = catalog.items.set_index("item_id")
    rows = result["rows"]
    k = max((len(v) for v in rows.values()), default=1)
    fig, axes = plt.subplots(len(rows) + 1, k, figsize=(1.8 * k + 0.6, 1.9 * (len(rows) + 1)), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    axes[0, 0].imshow(Image.open(query_path).convert("RGB"))
    axes[0, 0].set_title(f"query ({result['query_category']})", fontsize=9)
    for line, (category, items) in enumerate(rows.items(), start=1):
        for column, (item_id, score) in enumerate(items):
            axes[line, column].imshow(Image.open(catalog.path(by_id.loc[item_id, "image"])).convert("RGB"))
            axes[line, column].set_title(f"{category}: {item_id}\n{score:.3f}", fontsize=7)
    fig.suptitle("complete the look (ctl_triplet style embedding, cosine)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return Path(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.complete_the_look", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a ctl_triplet run directory")
    parser.add_argument("--image", required=True, help="any JPEG/PNG image of one garment")
    parser.add_argument("--k", type=int, default=3, help="items per category")
    parser.add_argument("--category", default=None, help="the query's category (default: predicted)")
    parser.add_argument("--catalog", default=None, help="catalog directory (default: the run's)")
    parser.add_argument("--out", default="ctl.png", help="picture to write")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be at least 1")
    try:
        run = load_run(args.run)
        result = complete_the_look(run, args.image, args.k, args.category, args.catalog)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = sorted(result["category_probs"].items(), key=lambda kv: -kv[1])[:3]
    print(f"query category: {result['query_category']} (" + ", ".join(f"{c} {p:.2f}" for c, p in shown) + ")")
    for category, items in result["rows"].items():
        print(f"{category}: " + ", ".join(f"{item_id} {score:.3f}" for item_id, score in items))
    draw_look(args.image, result, args.out)
    print(f"complete the look for {args.image} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
