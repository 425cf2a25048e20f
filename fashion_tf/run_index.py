"""Catalog embeddings and the catalog index of a run, computed once and cached in the
run directory (``embeddings.parquet``, ``index/``), so recommend, evaluate and export
share them. A cache made by another model (fingerprint) is rebuilt, never reused."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fashion_tf.data.catalog import Catalog
from fashion_tf.embed import compute_embeddings
from fashion_tf.retrieval import build_index, load_index
from fashion_tf.retrieval.embeddings_io import read_embeddings, write_embeddings
from fashion_tf.runs import Run

EMBEDDINGS_FILE = "embeddings.parquet"
INDEX_DIR = "index"


def catalog_embeddings(run: Run, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """(item_ids, unit-norm embeddings) of every catalog item under this run's model."""
    path = run.path / EMBEDDINGS_FILE
    if path.exists():
        ids, vectors, fingerprint = read_embeddings(path)
        if fingerprint == run.fingerprint and len(ids) == len(catalog.items):
            return ids, vectors
    ids, vectors = compute_embeddings(run, catalog)
    write_embeddings(path, ids, vectors, run.fingerprint)
    return ids, vectors


def catalog_index(run: Run, catalog: Catalog, index_dir: str | Path | None = None):
    """The index to recommend from: ``index_dir`` when given (checked against the run's
    fingerprint), else the run's cached index, built (exact below ~20k items) if missing."""
    if index_dir is not None:
        return load_index(index_dir, expected_fingerprint=run.fingerprint)
    cached = run.path / INDEX_DIR
    if cached.exists():
        try:
            return load_index(cached, expected_fingerprint=run.fingerprint)
        except ValueError:
            pass  # made by an earlier model of this run directory: rebuild below
    ids, vectors = catalog_embeddings(run, catalog)
    index = build_index(ids, vectors, backend="auto", model_fingerprint=run.fingerprint)
    index.save(cached)
    return index
