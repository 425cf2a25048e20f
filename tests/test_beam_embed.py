"""Catalog embedding on Apache Beam (fashion_tf/beam_embed.py, tools/embed_catalog_beam.py),
run with the DirectRunner over the tiny shop's TFRecords and checked against fashion_tf.embed."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf import export
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.tfrecords import _example, write_tfrecords
from fashion_tf.embed import compute_embeddings
from fashion_tf.retrieval.embeddings_io import read_embeddings
from fashion_tf.runs import load_run

ROOT = Path(__file__).resolve().parents[1]
# Same model, same pixels (decoding runs in the export's graph with the training pipeline's
# function); only the float32 summation order of differently sized batches differs.
ATOL = 1e-5
BAD_ID = "not-an-image"


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture(scope="module")
def beam_output(tiny_run, tiny_shop, tmp_path_factory):
    """The tool's output for the tiny shop in 3 TFRecord shards plus a fourth shard holding
    one record whose image bytes are not an image."""
    import tensorflow as tf

    work = tmp_path_factory.mktemp("beam")
    version_dir = export.export_run(tiny_run, work / "export", name="shop", scann=False)[0]
    records = work / "records"
    manifest = write_tfrecords(tiny_shop, records, shards=3)
    with tf.io.TFRecordWriter(str(records / "bad.tfrecord")) as writer:
        vocabulary = np.zeros(len(manifest["vocabulary"]), np.float32)
        writer.write(_example(BAD_ID, b"not an image", vocabulary, "train", b"").SerializeToString())
    manifest["shards"].append({"file": "bad.tfrecord", "count": 1})
    (records / "tfrecords.json").write_text(json.dumps(manifest))
    out = work / "emb"
    code = load_tool("embed_catalog_beam").main(
        ["--export", str(version_dir.parent), "--input", str(records), "--out", str(out),
         "--batch-size", "7", "--num-shards", "2", "--runner", "DirectRunner"])
    return code, out, version_dir


def test_beam_embeddings_equal_in_process_ones(beam_output, tiny_run, tiny_shop):
    code, out, _ = beam_output
    assert code == 0
    run = load_run(tiny_run)
    want_ids, want = compute_embeddings(run, load_catalog(tiny_shop), progress=False)
    shards = sorted(out.glob("embeddings-*.parquet"))
    assert [p.name for p in shards] == ["embeddings-00000-of-00002.parquet", "embeddings-00001-of-00002.parquet"]
    parts = [read_embeddings(p) for p in shards]
    assert {fingerprint for _, _, fingerprint in parts} == {run.fingerprint}
    ids = np.concatenate([ids for ids, _, _ in parts])
    vectors = np.concatenate([vectors for _, vectors, _ in parts])
    assert len(ids) == len(set(ids)) == 60  # every item once; the unreadable one skipped
    assert set(ids) == set(want_ids)
    order = {item_id: row for row, item_id in enumerate(ids)}
    got = vectors[[order[item_id] for item_id in want_ids]]
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_manifest_records_model_counts_and_skipped(beam_output, tiny_run, tiny_shop):
    _, out, version_dir = beam_output
    manifest = json.loads((out / "embeddings.json").read_text())
    assert manifest["format"] == "fashion_tf.embeddings"
    assert manifest["model_fingerprint"] == load_run(tiny_run).fingerprint
    assert manifest["export"] == str(version_dir)
    assert manifest["count"] == 60 and manifest["skipped"] == 1 and manifest["skipped_item_ids"] == [BAD_ID]
    assert [s["count"] for s in manifest["shards"]] == [len(read_embeddings(out / s["file"])[0])
                                                        for s in manifest["shards"]]
    assert sum(s["count"] for s in manifest["shards"]) == 60
    records_manifest = json.loads((out.parent / "records" / "tfrecords.json").read_text())
    assert manifest["catalog_fingerprint"] == records_manifest["catalog_fingerprint"]
    assert manifest["dimension"] == read_embeddings(out / manifest["shards"][0]["file"])[1].shape[1]
    # the directory is what tools/build_index.py --embeddings DIR reads
    ids, _, fingerprint = load_tool("build_index").read_embeddings_path(out)
    assert len(ids) == 60 and fingerprint == manifest["model_fingerprint"]


def test_bad_inputs_are_named(beam_output, tmp_path, capsys):
    _, out, version_dir = beam_output
    tool = load_tool("embed_catalog_beam")
    assert tool.main(["--export", str(version_dir), "--input", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert f"{tmp_path}/tfrecords.json: not found" in capsys.readouterr().err
    assert tool.main(["--export", str(tmp_path), "--input", str(out), "--out", str(tmp_path / "o")]) == 2
    assert "no saved_model.pb" in capsys.readouterr().err
    (tmp_path / "other.parquet").write_bytes(b"x")
    assert tool.main(["--export", str(version_dir), "--input", str(out.parent / "records"),
                      "--out", str(tmp_path)]) == 2
    assert "holds other Parquet files (other.parquet" in capsys.readouterr().err


def test_a_rerun_removes_the_previous_runs_shards(tmp_path):
    from fashion_tf.beam_embed import clear_previous_output

    for name in ("embeddings-00000-of-00003.parquet", "embeddings-00002-of-00003.parquet", "embeddings.json",
                 "notes.txt"):
        (tmp_path / name).write_text("old")
    clear_previous_output(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
