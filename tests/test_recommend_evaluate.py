"""embed -> index -> recommend -> evaluate on a tiny trained run."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from fashion_tf import embed, evaluate, recommend
from fashion_tf.data.catalog import load_catalog
from fashion_tf.evaluation.retrieval_metrics import agreement_at_k, average_precision_at_k, recall_at_k
from fashion_tf.retrieval.embeddings_io import read_embeddings
from fashion_tf.runs import load_run


def test_embed_cli_writes_unit_vectors_with_the_model_fingerprint(tiny_run, tiny_shop, tmp_path, capsys):
    out = tmp_path / "emb.parquet"
    assert embed.main(["--run", str(tiny_run), "--out", str(out), "--batch-size", "7"]) == 0
    ids, vectors, fingerprint = read_embeddings(out)
    catalog = load_catalog(tiny_shop)
    assert sorted(ids) == sorted(catalog.items["item_id"])
    assert fingerprint == load_run(tiny_run).fingerprint
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert "wrote 60 embeddings" in capsys.readouterr().out


def test_recommend_an_image_from_a_fresh_path(tiny_run, tiny_shop, tmp_path, capsys):
    """A user's photo under a new name (and re-encoded as PNG) gets the same top-k as
    exact cosine search over the catalog embeddings."""
    catalog = load_catalog(tiny_shop)
    source = catalog.path(catalog.queries["image"].iloc[0])
    photo = tmp_path / "my phone photo.png"
    cv2.imwrite(str(photo), cv2.imread(str(source)))
    picture = tmp_path / "recs.png"
    assert recommend.main(["--run", str(tiny_run), "--image", str(photo), "--k", "5", "--out", str(picture)]) == 0
    printed = capsys.readouterr().out
    assert picture.stat().st_size > 1000 and "predicted labels:" in printed

    run = load_run(tiny_run)
    result = recommend.recommend(run, photo, k=5)
    ids, vectors, _ = read_embeddings(tiny_run / "embeddings.parquet")
    query = run.embedding_model(recommend.read_query(photo, run.image_size)).numpy()[0]
    expected = np.argsort(-(vectors @ query))[:5]
    assert result["item_ids"] == [str(ids[i]) for i in expected]
    assert result["scores"] == sorted(result["scores"], reverse=True)
    for item_id in result["item_ids"]:
        assert item_id in printed

    # the picture marks the item the street photo shows: framed in the top k, else an extra panel
    true_item = str(catalog.queries["item_id"].iloc[0])
    everything = recommend.recommend(run, photo, k=len(ids))
    rank = recommend.true_item_rank(everything, true_item)
    assert everything["item_ids"][rank - 1] == true_item
    assert recommend.true_item_rank(result, "no such item") is None
    import matplotlib.image

    def width(k, marked):
        path = recommend.draw_recommendations(photo, everything, tmp_path / f"k{k}{marked}.png",
                                              true_item_id=true_item if marked else None, k=k)
        return matplotlib.image.imread(path).shape[1]

    # in the top k: framed, no extra panel; below it: one extra panel with its rank
    assert width(rank, True) == width(rank, False)
    if rank > 1:
        assert width(rank - 1, True) > width(rank - 1, False)


def test_recommend_rejects_a_file_that_is_not_an_image(tiny_run, tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    assert recommend.main(["--run", str(tiny_run), "--image", str(bad)]) == 2
    assert "notes.jpg: not a decodable" in capsys.readouterr().err


def test_evaluate_reports_in_shop_street_and_multilabel(tiny_run, tmp_path, capsys):
    plot = tmp_path / "recall.png"
    copy = tmp_path / "copy_run"
    shutil.copytree(tiny_run, copy)
    assert evaluate.main(["--compare", str(tiny_run), str(copy), "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "street recall@10" in table and "(copy_run)" in table and plot.stat().st_size > 1000
    result = evaluate.evaluate_run(load_run(tiny_run))
    street = result["street_to_shop"]
    recalls = [street[f"recall@{k}"] for k in (1, 5, 10, 20)]
    assert recalls == sorted(recalls) and all(0 <= r <= 1 for r in recalls)
    assert street["num_queries"] == len(load_catalog(load_run(tiny_run).catalog_dir).queries)
    assert 0 <= result["in_shop"]["category_precision@10"] <= 1
    assert result["multilabel"]["iou"] == pytest.approx(load_run(tiny_run).metrics["test"]["iou"])


def test_retrieval_metrics_golden_values():
    """Two queries, values a/b. Query 1 (a): results a,b,a -> P@1 = 1, P@3 = 2/3;
    AP@3 = (1/1 + 2/3) / 2 = 5/6. Query 2 (b): results a,a,a -> 0 everywhere.
    Means: P@1 = 0.5, P@3 = 1/3, mAP@3 = 5/12. Exact-item recall: true ids x, y;
    results [x, z] and [z, y] -> recall@1 = 0.5, recall@2 = 1."""
    queries = np.array(["a", "b"])
    results = np.array([["a", "b", "a"], ["a", "a", "a"]])
    assert agreement_at_k(queries, results, 1) == pytest.approx(0.5)
    assert agreement_at_k(queries, results, 3) == pytest.approx(1 / 3)
    assert average_precision_at_k(queries, results, 3) == pytest.approx(5 / 12)
    assert recall_at_k(np.array(["x", "y"]), np.array([["x", "z"], ["z", "y"]]), [1, 2]) == {1: 0.5, 2: 1.0}
