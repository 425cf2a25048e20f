"""``python -m fashion_tf.embed``: L2-normalised embeddings of every catalog item.

The paper's recommendations are cosine similarities of the features of "the layer
before the last" (section 3, Fig. 2). This extracts them once for a whole catalog
through the tf.data pipeline (no augmentation), batched, with progress, and stores
them with the fingerprint of the model that made them (docs/contracts.md, Retrieval).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import fashion_tf  # noqa: F401
from fashion_tf.data.catalog import Catalog, load_catalog
from fashion_tf.data.pipeline import image_files_dataset, make_dataset
from fashion_tf.retrieval.embeddings_io import write_embeddings
from fashion_tf.runs import Run, load_run


def compute_embeddings(run: Run, catalog: Catalog, split: str | None = None, batch_size: int = 64,
                       progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return (item_ids [N] str, embeddings [N, D] float32, unit norm) for ``split``
    (None: every row). Unreadable images are skipped, as in training."""
    dataset = make_dataset(catalog, split, run.image_size, batch_size, run.vocabulary,
                           training=False, with_ids=True)
    encoder = run.embedding_model
    total = len(catalog.items) if split is None else int((catalog.items["split"] == split).sum())
    ids, vectors, done, started = [], [], 0, time.perf_counter()
    for images, _, item_ids in dataset:
        vectors.append(encoder(images, training=False).numpy().astype(np.float32))
        ids.extend(i.decode() for i in item_ids.numpy())
        done += len(item_ids)
        if progress:
            rate = done / max(time.perf_counter() - started, 1e-9)
            print(f"\rembedding {done}/{total} images ({rate:.0f}/s)", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    if not vectors:
        raise ValueError(f"{catalog.root}: no readable images in split {split!r} to embed")
    return np.asarray(ids, dtype=object), np.concatenate(vectors)


def embed_image_files(run: Run, paths, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Embeddings of arbitrary image files (street photos, queries), keyed by path as
    given; unreadable files are skipped (and logged by the pipeline)."""
    vectors = {}
    for images, image_paths in image_files_dataset([str(p) for p in paths], run.image_size, batch_size):
        embedded = run.embedding_model(images, training=False).numpy()
        vectors.update(zip((p.decode() for p in image_paths.numpy()), embedded))
    return vectors


def run_catalog(run: Run, catalog_dir: str | Path | None) -> Catalog:
    """The catalog given on the command line, else the one the run was trained on."""
    root = catalog_dir or run.catalog_dir
    if root is None:
        raise ValueError(f"{run.path}/config.json names no catalog: pass --catalog DIR")
    return load_catalog(root)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.embed", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run directory written by fashion_tf.train")
    parser.add_argument("--catalog", default=None, help="catalog directory (default: the run's)")
    parser.add_argument("--split", default=None, help="train | val | test (default: all items)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", required=True, help="output .parquet file")
    args = parser.parse_args(argv)
    run = load_run(args.run)
    catalog = run_catalog(run, args.catalog)
    started = time.perf_counter()
    ids, vectors = compute_embeddings(run, catalog, args.split, args.batch_size)
    write_embeddings(args.out, ids, vectors, run.fingerprint)
    seconds = time.perf_counter() - started
    print(f"wrote {len(ids)} embeddings of dimension {vectors.shape[1]} to {args.out} "
          f"in {seconds:.1f}s (model {run.fingerprint})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
