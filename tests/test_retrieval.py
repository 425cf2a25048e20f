"""Retrieval package: embedding files, brute force and ScaNN indexes, manifests (docs/design.md, "Retrieval")."""
import json

import numpy as np
import pandas as pd
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow / scann)
from fashion_tf.retrieval import (
    BruteForceIndex,
    IndexMismatchError,
    ScannIndex,
    build_index,
    exact_top_k,
    iter_embeddings,
    load_index,
    read_embeddings,
    read_manifest,
    recall_at_k,
    write_embeddings,
)


def unit_vectors(n, dim, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def clustered_unit_vectors(n, dim, clusters=50, spread=1.0, seed=0):
    """Gaussian clusters around random centres, like the embeddings of a catalog."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    vectors = centres[rng.integers(0, clusters, n)] + spread * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def item_ids(n):
    return [f"item{i:05d}" for i in range(n)]


def test_embeddings_round_trip_and_streaming(tmp_path):
    vectors = unit_vectors(1000, 24)
    path = write_embeddings(tmp_path / "emb.parquet", item_ids(1000), vectors, "feedc0ffee123456")
    ids, read_vectors, fingerprint = read_embeddings(path)
    assert fingerprint == "feedc0ffee123456"
    assert list(ids) == item_ids(1000)
    np.testing.assert_array_equal(read_vectors, vectors)
    batches = list(iter_embeddings(path, batch_size=300))
    assert [len(b[0]) for b in batches] == [300, 300, 300, 100]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), vectors)
    # The contract's column types, readable by plain pandas.
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["item_id", "embedding"]
    assert len(frame.embedding[0]) == 24
    # Declared non-null (faster to read); a file with nullable columns reads the same.
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    assert pa.types.is_list(schema.field("embedding").type) and not schema.field("embedding").nullable
    nullable = pa.table({"item_id": pa.array(item_ids(1000)), "embedding": pa.array(list(vectors), pa.list_(pa.float32()))})
    pq.write_table(nullable, tmp_path / "nullable.parquet")
    np.testing.assert_array_equal(read_embeddings(tmp_path / "nullable.parquet")[1], vectors)


def test_l2_normalize_passes_unit_vectors_through_and_normalises_others():
    from fashion_tf.retrieval import l2_normalize

    unit = unit_vectors(50, 16)
    unit[3] = 0.0  # zero rows stay zero and do not force a copy either
    assert l2_normalize(unit, copy=False) is unit
    copied = l2_normalize(unit)
    assert copied is not unit and np.array_equal(copied, unit)
    scaled = unit * np.float32(3.0)
    normalised = l2_normalize(scaled, copy=False)
    assert normalised is not scaled
    np.testing.assert_allclose(normalised, unit, atol=1e-6)
    np.testing.assert_array_equal(scaled, unit * np.float32(3.0))  # the input is never modified
    # an index keeps its own copy: changing the caller's array later changes nothing
    index = build_index(item_ids(50), unit, backend="brute")
    unit[0] = unit[1]
    assert not np.array_equal(index.vectors[0], unit[0])


def test_embeddings_without_fingerprint_and_bad_file(tmp_path):
    path = write_embeddings(tmp_path / "e.parquet", ["a", "b"], np.ones((2, 3)), None)
    assert read_embeddings(path)[2] is None
    pd.DataFrame({"item_id": ["a"], "vector": [[1.0]]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="column 'embedding' missing"):
        read_embeddings(tmp_path / "bad.parquet")


def test_exact_top_k_matches_full_sort():
    database, queries = unit_vectors(700, 16, 1), unit_vectors(30, 16, 2)
    indices, scores = exact_top_k(database, queries, 7, block_rows=64, query_chunk=8)
    full = queries @ database.T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), rtol=1e-5)


def test_brute_force_is_cosine_and_clips_k():
    index = build_index(["a", "b", "c"], np.array([[1, 0], [0, 2], [3, 3]], np.float32), backend="brute")
    ids, scores = index.search(np.array([[10.0, 0.0]]), k=2)
    # cosine: a = 1, c = 1/sqrt(2), b = 0 (lengths do not matter)
    assert ids.tolist() == [["a", "c"]]
    np.testing.assert_allclose(scores, [[1.0, np.sqrt(0.5)]], rtol=1e-6)
    ids, scores = index.search(np.array([[0.0, 1.0]]), k=50)  # k > n: clipped to n
    assert ids.shape == scores.shape == (1, 3) and ids[0, 0] == "b"
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.search(np.array([[0.0, 1.0]]), k=0)


def test_errors_empty_and_dimension():
    with pytest.raises(ValueError, match="empty"):
        BruteForceIndex().search(np.ones((1, 4)), 3)
    with pytest.raises(ValueError, match="empty"):
        ScannIndex().add([], np.zeros((0, 4))).search(np.ones((1, 4)), 3)
    index = build_index(item_ids(5), unit_vectors(5, 4), backend="brute")
    with pytest.raises(ValueError, match=r"\(dimension 3\) but this index has dimension 4"):
        index.search(np.ones((2, 3)), 3)
    with pytest.raises(ValueError, match="duplicate item ids"):
        build_index(["x", "x"], unit_vectors(2, 4), backend="brute")


def test_misspelt_parameters_are_type_errors_naming_them():
    with pytest.raises(TypeError, match="'num_leave'"):
        build_index(item_ids(5), unit_vectors(5, 4), backend="scann", num_leave=4)
    with pytest.raises(TypeError, match="'block_row'"):
        build_index(item_ids(5), unit_vectors(5, 4), backend="brute", block_row=8)
    with pytest.raises(TypeError, match="'num_leaves'"):  # a ScaNN setting is no exact-index setting
        BruteForceIndex(num_leaves=4)


@pytest.mark.parametrize("backend,params", [("brute", {}), ("scann", {"mode": "tree"}),
                                            ("scann", {"mode": "brute_force"})])
def test_save_load_round_trip_identical_results(tmp_path, backend, params):
    vectors, queries = unit_vectors(3000, 32, 3), unit_vectors(50, 32, 4)
    index = build_index(item_ids(3000), vectors, backend=backend, model_fingerprint="abcd", **params)
    before = index.search(queries, 10)
    index.save(tmp_path / "index")
    loaded = load_index(tmp_path / "index", expected_fingerprint="abcd", expected_dim=32)
    assert type(loaded) is type(index) and len(loaded) == 3000
    after = loaded.search(queries, 10)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_allclose(loaded.vectors, vectors, atol=1e-6)  # stored normalised, in id order
    assert list(loaded.ids) == item_ids(3000)
    manifest = read_manifest(tmp_path / "index")
    assert manifest["distance"] == "cosine" and manifest["dimension"] == 32
    assert manifest["count"] == 3000 and manifest["model_fingerprint"] == "abcd"
    assert 0.9 <= manifest["recall_at_10"] <= 1.0 and manifest["created"]
    assert manifest["backend"] == ("brute_force" if backend == "brute" else "scann")


def test_scann_tree_recall_against_exact():
    """Tree + AH + reorder forced on at n=5000 (below the brute-force threshold), searching
    20 of 70 leaves; held-out queries from the same clusters."""
    vectors, queries = np.split(clustered_unit_vectors(5300, 64, seed=5), [5000])
    index = ScannIndex(mode="tree", num_leaves=70, num_leaves_to_search=20, reorder_candidates=100)
    index.add(item_ids(5000), vectors).build()
    assert index.params["resolved_mode"] == "tree"
    found, _ = index.search(queries, 10)
    exact, _ = exact_top_k(vectors, queries, 10)
    ids = np.asarray(item_ids(5000), dtype=object)
    assert recall_at_k(found, ids[exact]) >= 0.95


def test_scann_tunes_leaves_to_target_recall():
    index = build_index(item_ids(4000), unit_vectors(4000, 32, 7), backend="scann", mode="tree")
    assert index.params["num_leaves"] == 63  # round(sqrt(4000))
    assert 1 <= index.params["num_leaves_to_search"] <= 63
    assert index.recall_at_10 >= 0.95
    found, _ = index.search(unit_vectors(3, 32, 8), k=4000)  # k = n: every item once
    assert found.shape == (3, 4000) and all(len(set(row)) == 4000 for row in found)


def test_scann_default_parameters_reach_recall_target_on_held_out_queries(tmp_path):
    """build_index with no ScaNN parameters: leaves and training sample from the size, the
    search setting tuned on a leave-one-out sample; queries that are not in the catalog
    (same clusters) reach the target, and the manifest records the choice and its recall."""
    vectors, queries = np.split(clustered_unit_vectors(9000, 64, clusters=40, spread=0.8, seed=5), [8000])
    # An unbounded tuning budget: on a loaded machine the default budget may stop the search
    # early, which would make the chosen setting depend on the load rather than the data.
    index = build_index(item_ids(8000), vectors, backend="scann", mode="tree", target_recall=0.95,
                        model_fingerprint="abcd", tuning_budget_s=1e9)
    params = index.params
    assert params["num_leaves"] == 89 and params["training_sample_size"] == 8000  # sqrt(n); all n
    # unit vectors: spherical leaf centres, float centres to pick leaves, float32 rescoring
    assert (params["spherical"], params["quantize_centroids"], params["reorder_dtype"]) == (True, False, "float32")
    tuning = params["tuning"]
    assert params["num_leaves_to_search"] == tuning["num_leaves_to_search"] < 89
    assert params["reorder_candidates"] == tuning["reorder_candidates"] in (50, 100, 200)
    assert tuning["reached"] and tuning["recall_lower_bound"] >= 0.95 and tuning["sample_queries"] == 1000
    # The cheapest candidate reaching the target was chosen.
    reaching = [c for c in tuning["candidates"] if c["reached"]]
    assert tuning["num_leaves_to_search"] == min(reaching, key=lambda c: c["cost"])["num_leaves_to_search"]
    found, _ = index.search(queries, 10)
    exact, _ = exact_top_k(vectors, queries, 10)
    assert recall_at_k(found, np.asarray(item_ids(8000), dtype=object)[exact]) >= 0.95
    # A stricter target needs more work; tuning it changes nothing until applied.
    stricter = index.tuned_search(0.99, budget_s=1e9)
    assert stricter["recall_lower_bound"] >= 0.99 and index.params["tuning"] is tuning

    def cheapest_cost(choice):
        return min(c["cost"] for c in choice["candidates"] if c["reached"])

    assert cheapest_cost(stricter) >= cheapest_cost(tuning)
    index.save(tmp_path / "index")
    manifest = read_manifest(tmp_path / "index")
    assert manifest["params"]["num_leaves_to_search"] == params["num_leaves_to_search"]
    assert manifest["params"]["tuned_recall_at_10"] == tuning["recall_at_10"] >= 0.95


def test_scann_search_batch_size_gives_every_core_work():
    from fashion_tf.retrieval.scann_tuning import MAX_SEARCH_BATCH, search_batch_size

    assert search_batch_size(2000, threads=2) == 1000  # one batch per core
    assert search_batch_size(31, threads=2) == 16 and search_batch_size(1, threads=16) == 1
    # never more than MAX_SEARCH_BATCH, and as many batches for every core
    assert search_batch_size(30_000, threads=2) == 7500  # 4 batches, not 3
    size = search_batch_size(1_000_003, threads=2)
    assert size <= MAX_SEARCH_BATCH and -(-1_000_003 // size) % 2 == 0
    index = build_index(item_ids(4000), unit_vectors(4000, 32, 7), backend="scann", mode="tree",
                        num_leaves_to_search=4)
    assert index.params["search_batch_size"] is None
    queries = unit_vectors(50, 32, 9)
    automatic = index.search_indices(queries, 10)[0]
    index.params["search_batch_size"] = 64
    assert index.search_batch_size(10_000) == 64  # a given size is kept
    # Same results whatever the batching.
    np.testing.assert_array_equal(index.search_indices(queries, 10)[0], automatic)


def test_scann_spherical_leaves_need_cosine():
    index = ScannIndex(mode="tree", distance="l2", spherical=True, num_leaves=4, num_leaves_to_search=2)
    with pytest.raises(ValueError, match="need unit vectors scored by dot product"):
        index.add(item_ids(200), unit_vectors(200, 8)).build()
    with pytest.raises(ValueError, match="reorder_dtype must be one of"):
        ScannIndex(reorder_dtype="int4")


def test_scann_int8_rescoring_keeps_float_vectors_on_save(tmp_path):
    """ScaNN saves only int8 vectors when it rescores in int8; the index keeps the float
    ones beside them, so a loaded index still has ``vectors`` and searches the same."""
    vectors = unit_vectors(1000, 16, 3)
    index = ScannIndex(mode="tree", num_leaves=10, num_leaves_to_search=3, reorder_candidates=50,
                       reorder_dtype="int8")
    index.add(item_ids(1000), vectors).build()
    queries = unit_vectors(5, 16, 4)
    before = index.search(queries, 10)
    index.save(tmp_path / "index")
    assert not (tmp_path / "index" / "scann" / "dataset.npy").exists()
    loaded = load_index(tmp_path / "index")
    assert loaded.params["reorder_dtype"] == "int8"
    np.testing.assert_allclose(loaded.vectors, vectors, atol=1e-6)
    np.testing.assert_array_equal(loaded.search(queries, 10)[0], before[0])


def test_auto_uses_exact_scann_below_threshold():
    index = build_index(item_ids(500), unit_vectors(500, 8), backend="auto")
    assert isinstance(index, ScannIndex) and index.params["resolved_mode"] == "brute_force"
    assert index.recall_at_10 == 1.0


def test_fingerprint_and_dimension_mismatch(tmp_path):
    index = build_index(item_ids(100), unit_vectors(100, 8), backend="brute", model_fingerprint="aaaa1111")
    index.save(tmp_path / "idx")
    with pytest.raises(IndexMismatchError) as error:
        load_index(tmp_path / "idx", expected_fingerprint="bbbb2222")
    message = str(error.value)
    assert f"index at {tmp_path / 'idx'} was built from model fingerprint aaaa1111" in message
    assert "embeddings come from bbbb2222" in message
    with pytest.raises(IndexMismatchError, match="has dimension 8 but the embeddings have dimension 16"):
        load_index(tmp_path / "idx", expected_dim=16)
    with pytest.raises(ValueError, match="not an index directory"):
        load_index(tmp_path)


def test_save_refuses_foreign_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    index = build_index(item_ids(10), unit_vectors(10, 4), backend="brute")
    with pytest.raises(FileExistsError, match="not an index directory"):
        index.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    index.save(tmp_path / "idx")
    index.save(tmp_path / "idx")  # overwriting an index is fine
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["count"] == 10
