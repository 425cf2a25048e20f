"""ctl_triplet end to end: train, metrics, complete-the-look picture, export, serve."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from server_process import start_server, stop_server

from fashion_tf import complete_the_look, export, train
from fashion_tf.data.catalog import load_catalog
from fashion_tf.recommend import read_query
from fashion_tf.runs import load_run
from fashion_tf.serving import Client, InvalidArgumentError
from fashion_tf_client import cli

ARGS = ["--model", "ctl_triplet", "--epochs", "2", "--image-size", "32", "--batch-size", "8",
        "--widths", "8,8,16,16", "--weights", "none", "--mining", "semi_hard"]


@pytest.fixture(scope="module")
def ctl_run(tiny_shop, tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ctl"
    assert train.main([*ARGS, "--data", str(tiny_shop), "--out", str(out), "--baseline-run", str(tiny_run)]) == 0
    return out


@pytest.fixture(scope="module")
def query(tiny_shop):
    catalog = load_catalog(tiny_shop)
    row = catalog.items[catalog.items["outfit_category"] == "tops"].iloc[0]
    return catalog.path(row["image"])


def test_training_writes_a_style_run_with_baselines(ctl_run, tiny_shop, tiny_run):
    run = load_run(ctl_run)
    assert run.config["kind"] == "style_embedding" and run.config["style_options"]["mining"] == "semi_hard"
    assert run.config["style_options"]["widths"] == [8, 8, 16, 16] and run.config["options"]["margin"] == 0.2
    assert run.config["categories"] == ["bags", "bottoms", "dresses", "hats", "shoes", "tops"]
    metrics = json.loads((ctl_run / "metrics.json").read_text())
    for system in ("test", "chance", "extractor_cosine", "oracle"):
        assert set(metrics[system]) >= {"triplet_accuracy", "compatibility_auc", "fitb_accuracy"}, system
    assert metrics["chance"] == {"triplet_accuracy": 0.5, "compatibility_auc": 0.5, "fitb_accuracy": 0.25}
    assert metrics["extractor_cosine"]["run"] == str(tiny_run)
    assert metrics["questions"]["triplets"] > 0
    assert 0.0 <= metrics["test"]["triplet_accuracy"] <= 1.0
    assert (ctl_run / "history.csv").read_text().count("\n") == 3  # header + 2 epochs
    with pytest.raises(SystemExit, match="already holds a finished run"):
        train.main([*ARGS, "--data", str(tiny_shop), "--out", str(ctl_run)])


def test_cli_draws_one_row_per_other_category(ctl_run, query, tmp_path, capsys):
    out = tmp_path / "ctl.png"
    assert complete_the_look.main(["--run", str(ctl_run), "--image", str(query), "--k", "2",
                                   "--category", "tops", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "query category: tops" in printed
    result = complete_the_look.complete_the_look(load_run(ctl_run), query, k=2, category="tops")
    assert set(result["rows"]) == {"bottoms", "shoes", "bags", "hats"}  # worn with tops; no dress, no top
    items = load_catalog(result["catalog"].root).items.set_index("item_id")
    for category, picks in result["rows"].items():
        assert len(picks) == 2 and picks[0][1] >= picks[1][1]
        assert all(items.loc[item_id, "outfit_category"] == category for item_id, _ in picks)
    assert complete_the_look.main(["--run", str(ctl_run), "--image", str(query), "--category", "scarves",
                                   "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown category 'scarves'" in capsys.readouterr().err


def test_export_and_server_equal_the_keras_model(ctl_run, query, tmp_path, capsys):
    run = load_run(ctl_run)
    path = export.export_run(ctl_run, tmp_path / "export", name="ctl")[0]
    data = query.read_bytes()
    expected = complete_the_look.complete_the_look(run, data, k=3)
    loaded = tf.saved_model.load(str(path))
    got = loaded.signatures["complete_the_look"](images=tf.constant([data]), k=tf.constant(3),
                                                 category=tf.constant(""))
    assert got["query_category"].numpy().decode() == expected["query_category"]
    assert [c.decode() for c in got["categories"].numpy()] == list(expected["rows"])
    for row, (category, picks) in enumerate(expected["rows"].items()):
        assert [i.decode() for i in got["item_ids"].numpy()[row]] == [i for i, _ in picks]
        np.testing.assert_allclose(got["scores"].numpy()[row], [s for _, s in picks], atol=1e-5)
    embedded = loaded.signatures["serving_default"](images=tf.constant([data]))
    keras_out = run.model(read_query(query, run.image_size), training=False)
    np.testing.assert_allclose(embedded["embedding"].numpy(), keras_out["style_embedding"].numpy(), atol=1e-5)

    process, target = start_server("ctl", tmp_path / "server.log", "--model_name", "ctl",
                                   "--model_base_path", str(path.parent))
    try:
        with Client(target, timeout=60, model="ctl") as client:
            np.testing.assert_allclose(client.embed(data), keras_out["style_embedding"].numpy()[0], atol=1e-5)
            look = client.complete_the_look(data, k=3)
            assert list(look) == list(expected["rows"])
            for category, picks in expected["rows"].items():
                assert [i for i, _ in look[category]] == [i for i, _ in picks]
                np.testing.assert_allclose([s for _, s in look[category]], [s for _, s in picks], atol=1e-5)
            given = client.complete_the_look(data, k=1, category="dresses")
            categories = run.config["categories"]
            worn_with_dresses = np.flatnonzero(np.asarray(run.config["compatible_categories"])[categories.index("dresses")])
            assert list(given) == [categories[i] for i in worn_with_dresses] and "tops" not in given
            with pytest.raises(InvalidArgumentError, match="unknown category"):
                client.complete_the_look(data, k=1, category="scarves")
            with pytest.raises(InvalidArgumentError):
                client.complete_the_look(b"not an image", k=1)
            with pytest.raises(InvalidArgumentError, match="k exceeds"):
                client.complete_the_look(data, k=10_000)
        capsys.readouterr()
        assert cli.main(["--target", target, "--model", "ctl", "--image", str(query), "--k", "1"]) == 0
        printed = capsys.readouterr().out
        assert "complete the look (k=1):" in printed and f"{expected['query_category']}:" not in printed
    finally:
        stop_server(process)
