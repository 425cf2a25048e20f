"""Sharded retrieval index: per-shard indexes, merged top-k, save/load (fashion_tf/retrieval/sharded.py)."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_retrieval import unit_vectors

import fashion_tf  # noqa: F401  (before TensorFlow / scann)
from fashion_tf.retrieval import (
    IndexFormatError,
    ShardedIndex,
    build_index,
    load_index,
    read_manifest,
    write_embeddings,
)


def ids_of(n):
    return [f"item{i:04d}" for i in range(n)]


@pytest.fixture(scope="module")
def data():
    return ids_of(103), unit_vectors(103, 16), unit_vectors(7, 16, seed=1)


def test_merged_search_equals_one_exact_index(data):
    ids, vectors, queries = data
    exact = build_index(ids, vectors, backend="brute")
    sharded = build_index(ids, vectors, backend="brute", shards=4)
    assert isinstance(sharded, ShardedIndex)
    assert [len(shard) for shard in sharded.shards] == [26, 26, 26, 25]
    for k in (1, 10, 40, 103, 500):  # 40 > a shard's 26 items; 500 clips to all 103
        want_ids, want_scores = exact.search(queries, k)
        got_ids, got_scores = sharded.search(queries, k)
        assert got_ids.shape == (7, min(k, 103))
        np.testing.assert_array_equal(got_ids, want_ids)
        np.testing.assert_allclose(got_scores, want_scores, atol=1e-6)
    assert sharded.recall_at_10 == 1.0
    np.testing.assert_allclose(sharded.vectors, exact.vectors, atol=1e-6)


def test_scann_shards_merge_to_exact_neighbours(data):
    ids, vectors, queries = data  # below 20k items each ScaNN shard scores exactly
    exact = build_index(ids, vectors, backend="brute")
    sharded = build_index(ids, vectors, backend="scann", shards=3)
    assert [shard.backend for shard in sharded.shards] == ["scann"] * 3
    np.testing.assert_array_equal(sharded.search(queries, 30)[0], exact.search(queries, 30)[0])


def test_save_load_round_trip_and_missing_shard(tmp_path, data):
    ids, vectors, queries = data
    sharded = build_index(ids, vectors, backend="brute", shards=3, model_fingerprint="ab" * 8)
    sharded.save(tmp_path / "idx")
    manifest = read_manifest(tmp_path / "idx")
    assert manifest["backend"] == "sharded" and manifest["count"] == 103
    assert manifest["params"]["shards"] == 3 and manifest["params"]["shard_backend"] == "brute_force"
    for name in ("shard-00000-of-00003", "shard-00001-of-00003", "shard-00002-of-00003"):
        shard_manifest = json.loads((tmp_path / "idx" / name / "manifest.json").read_text())
        assert shard_manifest["recall_at_10"] == 1.0 and shard_manifest["model_fingerprint"] == "ab" * 8
    loaded = load_index(tmp_path / "idx", expected_fingerprint="ab" * 8)
    assert isinstance(loaded, ShardedIndex) and len(loaded.shards) == 3
    for got, want in zip(loaded.search(queries, 50), sharded.search(queries, 50)):
        np.testing.assert_array_equal(got, want)
    shutil.rmtree(tmp_path / "idx" / "shard-00001-of-00003")
    with pytest.raises(IndexFormatError, match="shard-00001-of-00003 not found"):
        load_index(tmp_path / "idx")


def test_build_index_tool_with_shards_over_an_embeddings_directory(tmp_path, data, capsys):
    ids, vectors, queries = data
    (tmp_path / "emb").mkdir()
    write_embeddings(tmp_path / "emb" / "part-0.parquet", ids[:60], vectors[:60], "cd" * 8)
    write_embeddings(tmp_path / "emb" / "part-1.parquet", ids[60:], vectors[60:], "cd" * 8)
    spec = importlib.util.spec_from_file_location(
        "build_index_tool", Path(__file__).resolve().parents[1] / "tools" / "build_index.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--embeddings", str(tmp_path / "emb"), "--backend", "brute", "--shards", "2",
                      "--out", str(tmp_path / "idx")]) == 0
    assert "sharded index of 103 items" in capsys.readouterr().out
    loaded = load_index(tmp_path / "idx", expected_fingerprint="cd" * 8)
    np.testing.assert_array_equal(loaded.search(queries, 5)[0],
                                  build_index(ids, vectors, backend="brute").search(queries, 5)[0])
    write_embeddings(tmp_path / "emb" / "part-2.parquet", ["x"], vectors[:1], "ef" * 8)
    with pytest.raises(ValueError, match="different models"):
        tool.main(["--embeddings", str(tmp_path / "emb"), "--backend", "brute", "--out", str(tmp_path / "i2")])
