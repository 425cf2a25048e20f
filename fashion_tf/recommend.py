"""``python -m fashion_tf.recommend``: one image in, the top-k similar catalog items out.

Paper section 3: the trained extractor embeds the query, and cosine similarity against
the catalog embeddings forms the recommendation list. Any image works (a phone photo
of a street outfit, a product shot); no annotation is needed. Prints item ids, scores
and the predicted labels, and draws the query beside its recommendations.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401
from fashion_tf.data.decode import load_for_model
from fashion_tf.embed import run_catalog
from fashion_tf.run_index import catalog_index
from fashion_tf.runs import Run, load_run


def read_query(path: str | Path, image_size: int) -> tf.Tensor:
    """Decode and resize a user's image exactly as the pipeline does for evaluation."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--image {path}: no such file")
    data = path.read_bytes()
    try:
        return load_for_model(tf.constant(data), image_size)[tf.newaxis]
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"--image {path}: not a decodable JPEG/PNG/GIF/BMP image ({error.message})") from None


def predicted_labels(run: Run, images: tf.Tensor, threshold: float = 0.5, top: int = 8) -> list[tuple[str, float]]:
    """Labels whose probability passes the threshold (at least the single best one)."""
    probs = run.model(images, training=False).numpy()[0]
    order = np.argsort(-probs)[:top]
    chosen = [i for i in order if probs[i] >= threshold] or list(order[:1])
    return [(run.vocabulary[i], float(probs[i])) for i in chosen]


def recommend(run: Run, image_path: str | Path, k: int = 10, index_dir=None, catalog_dir=None) -> dict:
    """Top-k catalog items for one image: {"item_ids", "scores", "labels"}."""
    catalog = run_catalog(run, catalog_dir)
    index = catalog_index(run, catalog, index_dir)
    images = read_query(image_path, run.image_size)
    query = run.embedding_model(images, training=False).numpy()
    ids, scores = index.search(query, k)
    return {
        "item_ids": [str(i) for i in ids[0]],
        "scores": [float(s) for s in scores[0]],
        "labels": predicted_labels(run, images),
        "catalog": catalog,
    }


def true_item_rank(result: dict, true_item_id) -> int | None:
    """1-based rank of ``true_item_id`` in ``result["item_ids"]`` (None: not ranked)."""
    ids = [str(i) for i in result["item_ids"]]
    return ids.index(str(true_item_id)) + 1 if str(true_item_id) in ids else None


def draw_recommendations(query_path, result: dict, out: str | Path, true_item_id=None, k: int | None = None) -> Path:
    """The query, then its top-k catalog images with their cosine scores.

    ``true_item_id``: the catalog item the query photo really shows (a street query):
    framed in green among the top k, or added as a last panel with its rank in the
    whole ranking ``result`` holds (rank these with k = catalog size to always find it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    catalog = result["catalog"]
    by_id = catalog.items.set_index("item_id")
    k = min(k or len(result["item_ids"]), len(result["item_ids"]))
    shown = list(zip(result["item_ids"][:k], result["scores"][:k]))
    rank = true_item_rank(result, true_item_id) if true_item_id is not None else None
    extra = true_item_id is not None and (rank is None or rank > k)
    fig, axes = plt.subplots(1, k + 1 + extra, figsize=(1.9 * (k + 1 + extra), 2.6))
    axes[0].imshow(Image.open(query_path).convert("RGB"))
    axes[0].set_title("query", fontsize=9)
    for position, (axis, (item_id, score)) in enumerate(zip(axes[1:], shown), 1):
        axis.imshow(Image.open(catalog.path(by_id.loc[item_id, "image"])).convert("RGB"))
        axis.set_title(f"{item_id}\n{score:.3f}", fontsize=8)
        if position == rank:
            axis.set_title(f"TRUE ITEM, rank {rank}\n{item_id} {score:.3f}", fontsize=8, color="green")
            axis.add_patch(plt.Rectangle((0, 0), 1, 1, transform=axis.transAxes, fill=False, lw=5, ec="green"))
    if extra:
        axis = axes[-1]
        axis.imshow(Image.open(catalog.path(by_id.loc[str(true_item_id), "image"])).convert("RGB"))
        where = f"rank {rank} of {len(result['item_ids'])}" if rank else f"not in top {len(result['item_ids'])}"
        axis.set_title(f"TRUE ITEM\n{where}", fontsize=8, color="red")
        axis.add_patch(plt.Rectangle((0, 0), 1, 1, transform=axis.transAxes, fill=False, lw=5, ec="red"))
    for axis in axes:
        axis.set_xticks([])
        axis.set_yticks([])
        if axis.patches == []:
            axis.axis("off")
    labels = ", ".join(name for name, _ in result["labels"])
    fig.suptitle(f"predicted labels: {labels}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return Path(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.recommend", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--image", required=True, help="any JPEG/PNG image")
    parser.add_argument("--index", default=None, help="index directory (default: the run's catalog index)")
    parser.add_argument("--catalog", default=None, help="catalog directory (default: the run's)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", default="recommendations.png", help="picture to write")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be at least 1")
    try:
        run = load_run(args.run)
        result = recommend(run, args.image, args.k, args.index, args.catalog)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("predicted labels: " + ", ".join(f"{n} ({p:.2f})" for n, p in result["labels"]))
    for rank, (item_id, score) in enumerate(zip(result["item_ids"], result["scores"]), start=1):
        print(f"{rank:3d}  {item_id}  {score:.4f}")
    draw_recommendations(args.image, result, args.out)
    print(f"top-{len(result['item_ids'])} for {args.image} written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
