"""Export a run for TF Serving, reload it, serve it, and kill an export half-way."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from server_process import ROOT, start_server, stop_server

from fashion_tf import export, recommend
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.decode import load_for_model
from fashion_tf.runs import load_run
from fashion_tf.serving import Client


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    paths = export.export_run(tiny_run, out, name="shop")
    return out, paths


@pytest.fixture(scope="module")
def query_bytes(tiny_shop):
    catalog = load_catalog(tiny_shop)
    return [catalog.path(p).read_bytes() for p in catalog.queries["image"].iloc[:3]]


def test_layout_assets_and_next_version(exported, tiny_run):
    out, paths = exported
    assert [p.relative_to(out).as_posix() for p in paths] == ["shop/1", "shop_scann/1"]
    for path in paths:
        assert (path / "saved_model.pb").is_file()
        assert {"labels.json", "model_card.yaml", "index_manifest.json"} <= {p.name for p in (path / "assets").iterdir()}
    assert export.next_version(out / "shop") == 2
    with pytest.raises(FileExistsError, match="immutable"):
        export.export_run(tiny_run, out, name="shop", version=1, scann=False)
    assert not [p for p in (out / "shop").iterdir() if p.name.startswith(".tmp")]


def test_reloaded_export_matches_the_keras_model(exported, tiny_run, query_bytes):
    _, paths = exported
    run = load_run(tiny_run)
    loaded = tf.saved_model.load(str(paths[0]))
    served = loaded.signatures["serving_default"](images=tf.constant(query_bytes))
    images = tf.stack([load_for_model(tf.constant(b), run.image_size) for b in query_bytes])
    np.testing.assert_allclose(served["embedding"].numpy(), run.embedding_model(images).numpy(), atol=1e-5)
    np.testing.assert_allclose(served["label_probs"].numpy(), run.model(images).numpy(), atol=1e-5)
    best = np.argmax(run.model(images).numpy(), axis=1)
    assert [t[0].decode() for t in served["top_labels"].numpy()] == [run.vocabulary[i] for i in best]

    similar = loaded.signatures["similar"](images=tf.constant(query_bytes[:1]), k=tf.constant(5))
    expected = recommend.recommend(run, load_catalog(run.catalog_dir).path(
        load_catalog(run.catalog_dir).queries["image"].iloc[0]), k=5)
    assert [i.decode() for i in similar["item_ids"].numpy()[0]] == expected["item_ids"]
    np.testing.assert_allclose(similar["scores"].numpy()[0], expected["scores"], atol=1e-5)

    scann = tf.saved_model.load(str(paths[1])).signatures["similar"](images=tf.constant(query_bytes[:1]),
                                                                     k=tf.constant(5))
    assert [i.decode() for i in scann["item_ids"].numpy()[0]] == expected["item_ids"]


def test_served_export_equals_in_process_and_survives_a_killed_export(exported, tiny_run, query_bytes, tmp_path):
    out, paths = exported
    base = tmp_path / "repo" / "shop"
    shutil.copytree(out / "shop", base)
    process, target = start_server("shop", tmp_path / "server.log", "--model_name", "shop",
                                   "--model_base_path", str(base), "--file_system_poll_wait_seconds", "1")
    try:
        loaded = tf.saved_model.load(str(paths[0]))
        expected = loaded.signatures["similar"](images=tf.constant(query_bytes[:1]), k=tf.constant(4))
        with Client(target, timeout=30, model="shop") as client:
            ids, scores = client.similar(query_bytes[0], k=4)
            assert list(ids) == [i.decode() for i in expected["item_ids"].numpy()[0]]
            np.testing.assert_allclose(scores, expected["scores"].numpy()[0], atol=1e-5)

            # Kill an export of version 2 at its most delicate moment: everything written,
            # the rename that publishes it not yet done (SIGKILL: no cleanup runs).
            # No version 2 may appear, and version 1 keeps serving.
            kill_before_rename = (
                "import os, signal, sys; import fashion_tf.export as export; "
                "os.rename = lambda *args: os.kill(os.getpid(), signal.SIGKILL); "
                "sys.exit(export.main(sys.argv[1:]))"
            )
            killed = subprocess.run(
                [sys.executable, "-c", kill_before_rename, "--run", str(tiny_run), "--out", str(base.parent),
                 "--name", "shop", "--no-scann"], check=False, cwd=ROOT, capture_output=True, timeout=300)
            assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
            leftovers = [p for p in base.iterdir() if p.name.startswith(".tmp-")]
            assert leftovers and (leftovers[0] / "saved_model.pb").exists()  # it was killed half-way
            time.sleep(2.5)  # more than two polls of the server
            assert sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) == ["1"]
            assert [s["version"] for s in client.status()] == [1]
            again, _ = client.similar(query_bytes[0], k=4)
            assert list(again) == list(ids)
    finally:
        stop_server(process)


def test_export_with_a_given_index_carries_its_items_and_manifest(exported, tiny_run, query_bytes, tmp_path):
    """--index: the graph searches exactly that index's items; an index built from
    another model's embeddings is refused."""
    from fashion_tf.retrieval import build_index
    from fashion_tf.retrieval.embeddings_io import read_embeddings

    run = load_run(tiny_run)
    ids, vectors, _ = read_embeddings(tiny_run / "embeddings.parquet")
    build_index(ids[:20], vectors[:20], backend="brute", model_fingerprint=run.fingerprint).save(tmp_path / "idx")
    path = export.export_run(tiny_run, tmp_path / "out", name="sub", index_dir=tmp_path / "idx", scann=False)[0]
    manifest = json.loads((path / "assets" / "index_manifest.json").read_text())
    assert manifest["count"] == 20 and manifest["model_fingerprint"] == run.fingerprint
    found = tf.saved_model.load(str(path)).signatures["similar"](images=tf.constant(query_bytes), k=tf.constant(20))
    assert {i.decode() for i in found["item_ids"].numpy()[0]} == {str(i) for i in ids[:20]}

    build_index(ids, vectors, backend="brute", model_fingerprint="0" * 16).save(tmp_path / "other")
    with pytest.raises(ValueError, match="fingerprint"):
        export.export_run(tiny_run, tmp_path / "out", name="bad", index_dir=tmp_path / "other", scann=False)


def test_scann_export_serves_the_built_index_itself(exported, tiny_run, tmp_path):
    """--index of a tree + AH ScaNN index with non-default settings (6 leaves, 1 searched,
    a reorder shortlist of 6): the served searcher returns exactly what the built index
    returns for the same query embeddings, so its recall is the index's."""
    from fashion_tf.retrieval import build_index, exact_top_k, recall_at_k
    from fashion_tf.retrieval.embeddings_io import read_embeddings

    run = load_run(tiny_run)
    ids, vectors, _ = read_embeddings(tiny_run / "embeddings.parquet")
    index = build_index(ids, vectors, backend="scann", model_fingerprint=run.fingerprint, mode="tree",
                        num_leaves=6, num_leaves_to_search=1, reorder_candidates=6, training_sample_size=50)
    index.save(tmp_path / "tree")
    scann_path = export.export_run(tiny_run, tmp_path / "out", name="tree", index_dir=tmp_path / "tree")[1]
    params = json.loads((scann_path / "assets" / "index_manifest.json").read_text())["params"]
    assert (params["num_leaves"], params["num_leaves_to_search"], params["resolved_mode"]) == (6, 1, "tree")

    catalog = load_catalog(run.catalog_dir)
    images = tf.constant([catalog.path(p).read_bytes() for p in catalog.items["image"].iloc[:40]])
    loaded = tf.saved_model.load(str(scann_path))
    queries = loaded.signatures["serving_default"](images=images)["embedding"].numpy()
    served = loaded.signatures["similar"](images=images, k=tf.constant(5))
    served_ids = served["item_ids"].numpy().astype(str)
    built_ids, built_scores = index.search(queries, 5)
    np.testing.assert_array_equal(served_ids, built_ids)
    np.testing.assert_allclose(served["scores"].numpy(), built_scores, atol=1e-5)
    exact, _ = exact_top_k(vectors, queries, 5)
    position = {item: i for i, item in enumerate(ids)}
    served_recall = recall_at_k(np.vectorize(position.get)(served_ids), exact)
    assert served_recall == recall_at_k(np.vectorize(position.get)(built_ids), exact) < 1.0  # approximate
