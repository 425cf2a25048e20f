"""OHS sheets -> filled templates -> scores, and the automatic OHS, on tiny runs
(paper sections 4.1 and 4.5)."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashion_tf import evaluate
from fashion_tf.data.catalog import load_catalog
from fashion_tf.evaluation.ohs_auto import attribute_table, criteria_percentages
from fashion_tf.evaluation.ohs_queries import choose_queries
from fashion_tf.evaluation.ohs_scoring import CRITERIA
from fashion_tf.evaluation.ohs_templates import read_key
from fashion_tf.runs import load_run


@pytest.fixture(scope="module")
def two_runs(tiny_run, tmp_path_factory):
    """The tiny run and a copy under another name: two systems for the sheets."""
    copy = tmp_path_factory.mktemp("other") / "copy_run"
    shutil.copytree(tiny_run, copy)
    return [str(tiny_run), str(copy)]


# per system (by the name the key gives it): what ann scores on every query; bob
# scores 2 less on category and agrees elsewhere.
ANN = {"tiny (tiny)": dict(zip(CRITERIA, [10, 8, 6, 7, 2, 3, 1])),
       "tiny (copy_run)": dict(zip(CRITERIA, [6, 4, 5, 5, 6, 2, 4]))}


def test_sheets_templates_scores_round_trip(two_runs, tmp_path, capsys):
    """Two scorers: category = (10 + 8) / 2 = 9 -> 90% for tiny (tiny), (6 + 4) / 2 -> 50%
    for the copy. tiny (tiny): (5*90 + 4*80 + 60 + 70 + 20 + 30 + 0.25*10) / 13.25 =
    952.5 / 13.25 = 71.89%; the copy: (5*50 + 4*40 + 50 + 50 + 60 + 20 + 0.25*40) / 13.25
    = 600 / 13.25 = 45.28%."""
    out = tmp_path / "ohs"
    assert evaluate.main(["--ohs-sheets", *two_runs, "--queries", "4", "--scorers", "ann", "bob",
                          "--out", str(out)]) == 0
    assert "4 sheets for 2 systems" in capsys.readouterr().out
    sheets = sorted((out / "sheets").glob("*.png"))
    assert [p.stem for p in sheets] == ["q01", "q02", "q03", "q04"]
    with Image.open(sheets[0]) as picture:
        assert picture.width > 1000 and picture.height > 400  # query + 2 rows of 10
    page = (out / "sheets.html").read_text()
    assert page.count('<img src="sheets/') == 4
    assert "copy_run" not in page and "tiny (tiny)" not in page  # blind
    key = read_key(out)
    assert all(sorted(q["codes"]) == ["A", "B"] for q in key["queries"])
    assert len({q["codes"]["A"] for q in key["queries"]}) == 2  # codes shuffled per sheet
    assert {q["domain"] for q in key["queries"]} == {"shop", "street"}
    assert all(len(results) == 10 for q in key["queries"] for results in q["results"].values())

    for scorer, category_drop in (("ann", 0), ("bob", 2)):
        path = out / "templates" / f"{scorer}.csv"
        with path.open() as handle:
            rows = list(csv.reader(handle))
        assert len(rows) == 1 + 4 * 2
        codes = {q["query"]: q["codes"] for q in key["queries"]}
        for row in rows[1:]:
            system = codes[row[0]][row[1]]
            scores = dict(ANN[system], category=ANN[system]["category"] - category_drop)
            row[2:] = ["yes" if system == "tiny (tiny)" else "no"] + [str(scores[c]) for c in CRITERIA]
        with path.open("w", newline="") as handle:
            csv.writer(handle).writerows(rows)

    templates = [str(out / "templates" / "ann.csv"), str(out / "templates" / "bob.csv")]
    assert evaluate.main(["--ohs-score", str(out), *templates]) == 0
    printed = capsys.readouterr().out
    assert "71.9%" in printed and "45.3%" in printed and "2 scorer(s), 4 queries" in printed
    result = json.loads((out / "ohs_scores.json").read_text())
    tiny, copy = result["systems"]["tiny (tiny)"], result["systems"]["tiny (copy_run)"]
    assert tiny["category"] == 90.0 and copy["category"] == 50.0 and tiny["subtype"] == 80.0
    assert tiny["OHS"] == pytest.approx(952.5 / 13.25, abs=1e-3)
    assert copy["OHS"] == pytest.approx(600 / 13.25, abs=1e-3)
    assert tiny["hit@10"] == 100.0 and copy["hit@10"] == 0.0
    alpha = result["agreement_krippendorff_alpha"]
    assert alpha["subtype"] == 1.0 and alpha["hit@10"] == 1.0 and 0 < alpha["category"] < 1
    table = pd.read_csv(out / "ohs_scores.csv", index_col="system")
    assert table.at["tiny (copy_run)", "OHS"] == pytest.approx(600 / 13.25, abs=1e-3)

    # other weights: only category counts
    assert evaluate.main(["--ohs-score", str(out), *templates, "--ohs-weights",
                          ",".join(f"{c}={int(c == 'category')}" for c in CRITERIA), "--out", str(tmp_path / "w")]) == 0
    reweighted = json.loads((tmp_path / "w" / "ohs_scores.json").read_text())
    assert reweighted["systems"]["tiny (tiny)"]["OHS"] == 90.0

    # the key is never overwritten; a broken template fails with its row
    assert evaluate.main(["--ohs-sheets", *two_runs, "--out", str(out)]) == 2
    assert "ohs_key.json exists" in capsys.readouterr().err
    (out / "templates" / "bob.csv").write_text((out / "templates" / "bob.csv").read_text().replace(",6,", ",16,", 1))
    assert evaluate.main(["--ohs-score", str(out), *templates]) == 2
    assert "bob.csv, row " in capsys.readouterr().err


def test_auto_ohs_of_two_runs(two_runs, tmp_path, capsys):
    out = tmp_path / "auto"
    assert evaluate.main(["--auto-ohs", *two_runs, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "left out (no catalog attribute): shape difference (weight 0.25)" in printed
    assert "renormalised over 13 instead of 13.25" in printed
    result = json.loads((out / "auto_ohs.json").read_text())
    tiny, copy = result["systems"]["tiny (tiny)"], result["systems"]["tiny (copy_run)"]
    assert tiny == copy  # the same model twice scores the same
    assert tiny["shape_difference"] is None and result["left_out"] == ["shape_difference"]
    assert all(0 <= tiny[c] <= 100 for c in ("hit@10", "category", "subtype", "texture", "colour", "variety",
                                             "details", "OHS"))
    weights = result["weights_used"]
    assert sum(weights.values()) == pytest.approx(1.0) and weights["category"] == pytest.approx(5 / 13)
    expected = sum(weights[c] * tiny[c] for c in weights)
    assert tiny["OHS"] == pytest.approx(expected, abs=1e-2)
    catalog = load_catalog(result["catalog"])
    assert result["queries"] == {"shop": int((catalog.items["split"] == "test").sum()), "street": len(catalog.queries)}
    assert (out / "auto_ohs.png").stat().st_size > 5000
    # on shop queries alone, category agreement is evaluate's in-shop category P@10, and
    # on street photos hit@10 is its exact-item recall@10
    assert "OHS, street queries only" in printed
    evaluation = evaluate.evaluate_run(load_run(two_runs[0]))
    shop, street = result["by_domain"]["shop"]["tiny (tiny)"], result["by_domain"]["street"]["tiny (tiny)"]
    assert shop["category"] == pytest.approx(100 * evaluation["in_shop"]["category_precision@10"], abs=1e-3)
    assert street["hit@10"] == pytest.approx(100 * evaluation["street_to_shop"]["recall@10"], abs=1e-3)
    assert tiny["OHS shop"] == pytest.approx(shop["OHS"], abs=1e-3)


def test_auto_criteria_golden_values():
    """Two queries, k = 2.
    q1 shows a (tops/tee/red/plain, pocket, front); results b (tops/tee/blue/striped,
    pocket, back) and c (shoes/boot/red/plain, none, front).
    q2 shows b; results b2 (same as b but front) and a.
    category: q1 1/2, q2 2/2 -> 75%; subtype 75%; colour: q1 c red 1/2, q2 b2 1/2 -> 50%;
    texture: q1 c 1/2, q2 b2 1/2 -> 50%; details: q1 b 1/2, q2 b2 and a both 'pocket'
    -> 2/2 -> 75%; shape difference (view differs): q1 b 1/2, q2 b2 front vs back and a
    front vs back -> 2/2 -> 75%; variety: q1 kinds {blue tee, red boot} both novel
    -> 2/2, q2 {b2 = b's kind (not novel), a's red tee} -> 1/2 -> 75%.
    hit@10: q1 is a street photo of a (not found) -> 0; q2 is a shop query, b2 looks
    the same as b -> 1 -> 50%."""
    items = pd.DataFrame({
        "item_id": ["a", "b", "c", "b2"],
        "category": ["x"] * 4, "labels": [[]] * 4,
        "attr_category": ["tops", "tops", "shoes", "tops"], "attr_subtype": ["tee", "tee", "boot", "tee"],
        "attr_colour": ["red", "blue", "red", "blue"], "attr_texture": ["plain", "striped", "plain", "striped"],
        "attr_details": ["pocket", "pocket", "", "pocket"], "attr_view": ["front", "back", "front", "front"],
    })
    result = criteria_percentages(["a", "b"], np.array([["b", "c"], ["b2", "a"]], dtype=object),
                                  attribute_table(items), street=np.array([True, False]))
    assert result == pytest.approx({"category": 75.0, "subtype": 75.0, "colour": 50.0, "texture": 50.0,
                                    "details": 75.0, "shape_difference": 75.0, "variety": 75.0, "hit@10": 50.0})
    # without detail words or views, those criteria are left out (None)
    bare = items.drop(columns=["attr_details", "attr_view"])
    bare_result = criteria_percentages(["a", "b"], np.array([["b", "c"], ["b2", "a"]], dtype=object),
                                       attribute_table(bare))
    assert bare_result["details"] is None and bare_result["shape_difference"] is None


def test_queries_are_seeded_and_mix_street_and_shop(tiny_shop):
    catalog = load_catalog(tiny_shop)
    first = choose_queries(catalog, 5, seed=3)
    assert first == choose_queries(catalog, 5, seed=3)
    assert [q.domain for q in first].count("street") == 3  # street share 0.6 (paper: Shop/Street 2/3)
    assert [q.query for q in first] == ["q01", "q02", "q03", "q04", "q05"]
    test_ids = set(catalog.items.loc[catalog.items["split"] == "test", "item_id"])
    assert all(q.item_id in test_ids for q in first)
    everything = choose_queries(catalog, None)
    assert len(everything) == len(test_ids) + len(catalog.queries)
    with pytest.raises(ValueError, match="--queries must be at least 1"):
        choose_queries(catalog, 0)
