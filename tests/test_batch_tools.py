"""tools/build_index.py and tools/batch_retrieve.py, run as a user runs them (subprocesses)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fashion_tf  # noqa: F401
from fashion_tf.retrieval import load_index, read_manifest, write_embeddings

ROOT = Path(__file__).resolve().parents[1]
N_ITEMS, N_QUERIES, DIM = 400, 230, 16


def run_tool(name, *args):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / name), *map(str, args)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    rng = np.random.default_rng(0)
    items = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    queries = rng.normal(size=(N_QUERIES, DIM)).astype(np.float32)
    write_embeddings(root / "items.parquet", [f"item{i}" for i in range(N_ITEMS)], items, "fp0123")
    write_embeddings(root / "queries.parquet", [f"q{i}" for i in range(N_QUERIES)], queries, "fp0123")
    summary = run_tool("build_index.py", "--embeddings", root / "items.parquet", "--backend", "brute",
                       "--out", root / "index")
    assert "recall@10=1.000" in summary and "400 items" in summary
    return root


def test_build_index_cli_writes_manifest(files):
    manifest = read_manifest(files / "index")
    assert manifest["backend"] == "brute_force" and manifest["count"] == N_ITEMS
    assert manifest["model_fingerprint"] == "fp0123" and manifest["dimension"] == DIM


def test_batch_retrieve_resumes_without_duplicates_or_losses(files):
    common = ["--index", files / "index", "--embeddings", files / "queries.parquet", "--k", 5,
              "--batch-size", 50, "--quiet"]
    reference_line = run_tool("batch_retrieve.py", *common, "--out", files / "reference")
    assert "complete" in reference_line and "230 queries" in reference_line
    reference = pd.read_parquet(files / "reference")

    out = files / "resumed"
    first = run_tool("batch_retrieve.py", *common, "--out", out, "--max-batches", 2)
    assert "INCOMPLETE" in first and sorted(p.name for p in out.glob("part-*")) == [
        "part-000000.parquet", "part-000001.parquet"]
    assert not (out / "_SUCCESS").exists()
    # A kill in the middle of writing leaves at most a hidden temporary file behind.
    (out / ".part-000002.parquet.tmp").write_bytes(b"half a file")
    second = run_tool("batch_retrieve.py", *common, "--out", out)
    assert "3 batches written, 2 already done" in second and (out / "_SUCCESS").exists()

    resumed = pd.read_parquet(out)
    key = ["query_id", "rank"]
    pd.testing.assert_frame_equal(resumed.sort_values(key).reset_index(drop=True),
                                  reference.sort_values(key).reset_index(drop=True))
    assert len(resumed) == N_QUERIES * 5 and not resumed.duplicated(key).any()
    assert list(resumed.columns) == ["query_id", "rank", "item_id", "score"]

    # The results are the index's own answers.
    index = load_index(files / "index")
    from fashion_tf.retrieval import read_embeddings
    ids, vectors, _ = read_embeddings(files / "queries.parquet")
    expected_ids, expected_scores = index.search(vectors, 5)
    first_query = resumed[resumed.query_id == ids[7]].sort_values("rank")
    assert first_query.item_id.tolist() == expected_ids[7].tolist()
    np.testing.assert_allclose(first_query.score, expected_scores[7], rtol=1e-6)


def test_batch_retrieve_refuses_other_settings_in_same_out(files):
    from fashion_tf.retrieval.batch import EmbeddingQueries, batch_retrieve

    index = load_index(files / "index")
    out = files / "settings"
    batch_retrieve(index, EmbeddingQueries(files / "queries.parquet", 100), out, k=3, progress=False)
    with pytest.raises(ValueError, match="different k"):
        batch_retrieve(index, EmbeddingQueries(files / "queries.parquet", 100), out, k=4, progress=False)


def test_batch_retrieve_exclude_self_and_k_clipping(files):
    from fashion_tf.retrieval.batch import EmbeddingQueries, batch_retrieve

    index = load_index(files / "index")
    summary = batch_retrieve(index, EmbeddingQueries(files / "items.parquet", 128), files / "self",
                             k=3, exclude_self=True, progress=False)
    results = pd.read_parquet(files / "self")
    assert summary.complete and len(results) == N_ITEMS * 3
    assert not (results.query_id == results.item_id).any()
    batch_retrieve(index, EmbeddingQueries(files / "queries.parquet", 100), files / "clip",
                   k=10_000, progress=False)
    assert pd.read_parquet(files / "clip").groupby("query_id").size().eq(N_ITEMS).all()


def test_batch_retrieve_refuses_index_of_another_model(files, tmp_path):
    write_embeddings(tmp_path / "other.parquet", ["x"], np.ones((1, DIM)), "otherfp")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "batch_retrieve.py"), "--index",
                             str(files / "index"), "--embeddings", str(tmp_path / "other.parquet"),
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT,
                            check=False)
    assert result.returncode != 0
    assert "built from model fingerprint fp0123 but the embeddings come from otherfp" in result.stderr



class TinyRun:
    """A real (untrained) Keras embedding model with the ``Run`` attributes the image path
    uses (docs/contracts.md: .embedding_model, .image_size, .fingerprint, .path)."""

    def __init__(self, path):
        import tensorflow as tf

        tf.keras.utils.set_random_seed(0)
        image = tf.keras.Input((32, 32, 3))
        x = tf.keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image / 255.0)
        x = tf.keras.layers.Flatten()(x)
        x = tf.keras.layers.Dense(16)(x)
        self.embedding_model = tf.keras.Model(image, tf.keras.layers.UnitNormalization()(x))
        self.image_size, self.fingerprint, self.path = 32, "tinyrun000000000", path


def test_batch_retrieve_from_images_with_a_model(tiny_shop, tmp_path):
    """--run/--images path: catalog photos as queries find their own item first, because the
    catalog embeddings went through the same decode path (cosine 1 with themselves)."""
    from fashion_tf.data.pipeline import image_files_dataset
    from fashion_tf.retrieval import build_index
    from fashion_tf.retrieval.batch import (
        ImageQueries,
        batch_retrieve,
        list_query_images,
    )

    run = TinyRun(tmp_path)
    paths, ids = list_query_images(Path(tiny_shop) / "items.parquet")
    id_of = dict(zip(paths, ids))
    item_ids, vectors = [], []
    for images, returned in image_files_dataset(paths, run.image_size, 32):
        vectors.append(run.embedding_model(images).numpy())
        item_ids += [id_of[p.decode()] for p in returned.numpy()]
    build_index(item_ids, np.concatenate(vectors), backend="brute",
                model_fingerprint=run.fingerprint).save(tmp_path / "index")
    index = load_index(tmp_path / "index", expected_fingerprint=run.fingerprint)

    def job(max_batches=None):
        return batch_retrieve(index, ImageQueries(run, Path(tiny_shop) / "items.parquet", 16),
                              tmp_path / "out", k=3, progress=False, max_batches=max_batches,
                              index_dir=tmp_path / "index")

    assert not job(max_batches=1).complete
    summary = job()
    assert summary.complete and summary.batches_skipped == 1
    results = pd.read_parquet(tmp_path / "out")
    assert sorted(results.query_id.unique()) == sorted(item_ids)
    assert len(results) == 3 * len(item_ids)
    top = results[results["rank"] == 1]
    assert (top.query_id == top.item_id).mean() >= 0.95
    np.testing.assert_allclose(top.score[top.query_id == top.item_id], 1.0, atol=1e-4)


def test_batch_retrieve_cli_with_a_trained_run(tiny_run, tiny_shop, tmp_path):
    """The whole user path: embed the catalog with a trained run, build an index with the
    CLI, then query it with the street photos through `batch_retrieve.py --run --images`."""
    from fashion_tf import embed

    assert embed.main(["--run", str(tiny_run), "--out", str(tmp_path / "emb.parquet")]) == 0
    run_tool("build_index.py", "--embeddings", tmp_path / "emb.parquet", "--backend", "scann",
             "--out", tmp_path / "index")
    photos = Path(tiny_shop) / "queries"
    run_tool("batch_retrieve.py", "--index", tmp_path / "index", "--run", tiny_run, "--images", photos,
             "--k", 5, "--out", tmp_path / "out", "--batch-size", 4)
    results = pd.read_parquet(tmp_path / "out")
    catalog_ids = set(pd.read_parquet(Path(tiny_shop) / "items.parquet")["item_id"])
    assert results.query_id.nunique() == len(list(photos.iterdir()))
    assert len(results) == 5 * results.query_id.nunique()
    assert set(results.item_id) <= catalog_ids
    assert (results.groupby("query_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
