"""Objective-guided human score arithmetic and score templates (paper sections 4.1, 4.5)."""
from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from fashion_tf.evaluation.ohs_scoring import (
    CRITERIA,
    DEFAULT_WEIGHTS,
    WeightsError,
    format_ohs_table,
    parse_weights,
    scorer_agreement,
    weighted_ohs,
    with_ohs,
)
from fashion_tf.evaluation.ohs_templates import (
    TemplateError,
    read_filled_template,
    read_filled_templates,
    system_codes,
    write_templates,
)

# Paper (conference version), Table I: category, subtype, texture, colour, variety,
# details, shape difference, then the OHS column, in percent.
TABLE_I = {
    "V1": ([96.9, 71.5, 68.5, 67.2, 24.8, 36.3, 32.7], 73.6),
    "V2": ([93.7, 70.4, 77.7, 68.3, 32.7, 43.5, 31.7], 74.0),
    "V3": ([95.4, 71.7, 69.2, 64.8, 33.3, 33.3, 20.1], 73.2),
    "V4": ([99.8, 77.3, 86.5, 70.2, 21.7, 43.4, 20.2], 78.1),
    "V5": ([98.3, 86.3, 80.0, 73.5, 27.3, 37.9, 21.0], 80.0),
}


def test_table_one_ohs_column_from_its_criteria():
    """The default weights (5, 4, 1, 1, 1, 1, 0.25; sum 13.25) turn each Table I row into
    its OHS, e.g. V1: (5*96.9 + 4*71.5 + 68.5 + 67.2 + 24.8 + 36.3 + 0.25*32.7) / 13.25
    = 975.475 / 13.25 = 73.62 -> 73.6%."""
    table = pd.DataFrame({name: dict(zip(CRITERIA, values)) for name, (values, _) in TABLE_I.items()}).T
    scored = with_ohs(table)
    for name, (_, paper_ohs) in TABLE_I.items():
        assert round(scored.at[name, "OHS"], 1) == paper_ohs
    assert weighted_ohs(dict(zip(CRITERIA, TABLE_I["V1"][0])))[0] == pytest.approx(975.475 / 13.25)
    assert scored["OHS"].idxmax() == "V5"  # the paper's best version
    printed = format_ohs_table(scored)
    assert "80.0%" in printed and "Shape difference (0.25)" in printed


def test_missing_criteria_renormalise_the_weights():
    """Only category (100%) and subtype (50%) scored: (5*100 + 4*50) / 9 = 77.78%."""
    ohs, used = weighted_ohs({"category": 100.0, "subtype": 50.0, "details": float("nan")})
    assert ohs == pytest.approx(700 / 9)
    assert used == pytest.approx({"category": 5 / 9, "subtype": 4 / 9})
    with pytest.raises(ValueError, match="no criterion"):
        weighted_ohs({"variety": 40.0}, {**DEFAULT_WEIGHTS, "variety": 0.0})


def test_weights_overrides_and_errors():
    weights = parse_weights("colour=3, Shape difference=0")
    assert weights == {**DEFAULT_WEIGHTS, "colour": 3.0, "shape_difference": 0.0}
    assert parse_weights("color=2")["colour"] == 2.0
    with pytest.raises(WeightsError, match="'price=2' is not CRITERION=WEIGHT"):
        parse_weights("price=2")
    with pytest.raises(WeightsError, match="weight of details is '-1'"):
        parse_weights("details=-1")
    with pytest.raises(WeightsError, match="every weight is 0"):
        parse_weights(",".join(f"{c}=0" for c in CRITERIA))


def test_system_codes_run_past_z():
    assert system_codes(3) == ["A", "B", "C"]
    assert system_codes(28)[25:] == ["Z", "AA", "AB"]


def test_agreement_is_one_when_scorers_agree_and_lower_when_they_do_not():
    rows = []
    for scorer, noise in (("ann", 0), ("bob", 0), ("cy", 3)):
        for q, query in enumerate(["q1", "q2", "q3"]):
            for system, base in (("S1", 8), ("S2", 3)):
                value = min(10, base + q + (noise if query == "q2" else 0))
                rows.append({"scorer": scorer, "query": query, "system": system, "hit@10": int(base > 5),
                             **{c: value for c in CRITERIA}})
    scores = pd.DataFrame(rows)
    two = scorer_agreement(scores[scores["scorer"] != "cy"])
    assert two["category"] == pytest.approx(1.0) and two["hit@10"] == pytest.approx(1.0)
    three = scorer_agreement(scores)
    assert 0 < three["category"] < 1 and three["hit@10"] == pytest.approx(1.0)
    assert np.isnan(scorer_agreement(scores[scores["scorer"] == "ann"])["category"])  # one scorer


KEY = {"queries": [{"query": "q1", "codes": {"A": "v5 (run5)", "B": "v4 (run4)"}},
                   {"query": "q2", "codes": {"A": "v4 (run4)", "B": "v5 (run5)"}}]}


def _filled(tmp_path, name="ann", edit=None):
    """A correctly filled template for KEY, then ``edit(rows)`` to break it."""
    path = write_templates(tmp_path, KEY, [name])[0]
    with path.open() as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        row[2:] = ["yes", "9", "8", "7", "6", "5", "4", "3"]
    if edit:
        edit(rows)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_filled_template_is_unblinded_with_the_key(tmp_path):
    path = _filled(tmp_path)
    scores = read_filled_template(path, KEY)
    assert len(scores) == 4 and set(scores["scorer"]) == {"ann"}
    # q2's code A is v4: the key, not the letter, names the system
    assert scores.set_index(["query", "system"]).at[("q2", "v4 (run4)"), "category"] == 9
    assert scores["hit@10"].tolist() == [1, 1, 1, 1]
    # a spreadsheet's CSV export may start with a byte-order mark
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_filled_template(path, KEY).equals(scores)


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows.pop(3), r"row for query q2 system A is missing \(field 'system'\)"),
    (lambda rows: rows[2].__setitem__(4, "11"),
     r"row 3 \(query q1, system B\), field 'subtype': '11' is not a whole number from 0 to 10"),
    (lambda rows: rows[1].__setitem__(9, "2.5"), r"row 2 \(query q1, system A\), field 'shape_difference': '2.5'"),
    (lambda rows: rows[4].__setitem__(6, ""), r"row 5 \(query q2, system B\), field 'colour': empty is not"),
    (lambda rows: rows[3].__setitem__(1, "C"),
     r"row 4, field 'system': unknown system code 'C' for query q2; its sheet shows A, B"),
    (lambda rows: rows[1].__setitem__(0, "q9"), r"row 2, field 'query': unknown query 'q9'"),
    (lambda rows: rows[2].__setitem__(1, "A"),
     r"row 3, field 'system': query q1 system A is scored twice \(also row 2\)"),
    (lambda rows: rows[1].__setitem__(2, "maybe"),
     r"row 2 \(query q1, system A\), field 'hit@10': 'maybe' is not yes or no"),
    (lambda rows: [row.pop(5) for row in rows], r"row 1 \(header\): missing field\(s\) texture"),
])
def test_malformed_templates_name_file_row_and_field(tmp_path, edit, message):
    path = _filled(tmp_path, edit=edit)
    with pytest.raises(TemplateError, match=message) as error:
        read_filled_template(path, KEY)
    assert str(path) in str(error.value)


def test_one_scorer_name_twice_is_refused(tmp_path):
    first = _filled(tmp_path / "a")
    second = _filled(tmp_path / "b")
    with pytest.raises(TemplateError, match="scorer name 'ann' is also"):
        read_filled_templates([first, second], KEY)


def test_cli_refuses_bad_arguments_before_any_work(tmp_path, capsys):
    from fashion_tf import evaluate

    assert evaluate.main(["--auto-ohs", str(tmp_path), "--queries", "0"]) == 2
    assert "--queries must be at least 1, got 0" in capsys.readouterr().err
    assert evaluate.main(["--ohs-sheets", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    assert evaluate.main(["--ohs-score", str(tmp_path), "--ohs-weights", "price=1"]) == 2
    assert "'price=1' is not CRITERION=WEIGHT" in capsys.readouterr().err
    assert evaluate.main(["--ohs-score", str(tmp_path), str(tmp_path / "a.csv")]) == 2
    assert "no OHS key" in capsys.readouterr().err
