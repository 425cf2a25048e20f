"""The blinding key and the scorers' templates of the objective-guided human score.

Paper sections 4.1 and 4.5: every scorer scores every system on every query sheet,
hit@10 and 0-10 per criterion. Scorers must not know which system is which, so the
sheets show per-query shuffled codes (A, B, ...) and the key that maps codes back to
systems lives in its own file (``key/ohs_key.json``), away from the sheets.

A template is a CSV with one row per (query, system code): ``query, system, hit@10,
category, subtype, texture, colour, variety, details, shape_difference``; the scorer
fills hit@10 with yes/no and each criterion with a whole number from 0 to 10 (how many
of the ten results meet it). :func:`read_filled_template` checks every row against the
key and names the file, row and field of anything wrong.
"""
from __future__ import annotations

import csv
import json
import math
import string
from pathlib import Path

import pandas as pd

from fashion_tf.evaluation.ohs_scoring import CRITERIA, MAX_SCORE

KEY_DIR = "key"
KEY_FILE = "ohs_key.json"
TEMPLATES_DIR = "templates"
KEY_FORMAT = "fashion_tf-ohs-key"
COLUMNS = ("query", "system", "hit@10", *CRITERIA)
YES, NO = {"yes", "y", "1", "true"}, {"no", "n", "0", "false"}


class TemplateError(ValueError):
    """A filled template that does not match the sheets it was made for."""


def system_codes(count: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ...: codes shown on the sheets instead of system names."""
    letters = string.ascii_uppercase
    return [letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26] for i in range(count)]


def key_path(ohs_dir: str | Path) -> Path:
    return Path(ohs_dir) / KEY_DIR / KEY_FILE


def write_key(ohs_dir: str | Path, key: dict) -> Path:
    path = key_path(ohs_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": KEY_FORMAT, **key}, indent=2))
    return path


def read_key(ohs_dir: str | Path) -> dict:
    """The key written by ``--ohs-sheets``: systems, and per query its code -> system map."""
    path = key_path(ohs_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no OHS key; give the folder that --ohs-sheets wrote (it holds {KEY_DIR}/)")
    try:
        key = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise TemplateError(f"{path}: not valid JSON ({error})") from None
    if key.get("format") != KEY_FORMAT or "queries" not in key:
        raise TemplateError(f"{path}: not an OHS key written by --ohs-sheets (format {key.get('format')!r})")
    return key


def write_templates(ohs_dir: str | Path, key: dict, scorers: list[str]) -> list[Path]:
    """One empty template per scorer: ``templates/<scorer>.csv``."""
    folder = Path(ohs_dir) / TEMPLATES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for scorer in scorers:
        path = folder / f"{scorer}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for query in key["queries"]:
                for code in sorted(query["codes"]):
                    writer.writerow([query["query"], code] + [""] * (len(COLUMNS) - 2))
        paths.append(path)
    return paths


def _hit(value: str, where: str) -> int:
    word = value.strip().lower()
    if word in YES:
        return 1
    if word in NO:
        return 0
    raise TemplateError(f"{where}, field 'hit@10': {value!r} is not yes or no")


def _score(value: str, where: str, field: str) -> int:
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is None or not number.is_integer() or not 0 <= number <= MAX_SCORE:
        shown = repr(text) if text else "empty"
        raise TemplateError(f"{where}, field '{field}': {shown} is not a whole number from 0 to {MAX_SCORE}")
    return int(number)


def read_filled_template(path: str | Path, key: dict) -> pd.DataFrame:
    """A scorer's filled template, un-blinded: one row per (query, system name).

    The scorer is the file name without ``.csv``. Raises TemplateError naming the file,
    the row (as a spreadsheet shows it, the header being row 1) and the field when a
    column is missing, a row names an unknown query or system code, repeats another
    row or is missing, hit@10 is not yes/no, or a score is not a whole number 0-10.
    """
    path = Path(path)
    codes = {q["query"]: q["codes"] for q in key["queries"]}
    # utf-8-sig: spreadsheet programs often start a CSV export with a byte-order mark
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise TemplateError(f"{path}, row 1 (header): missing field(s) {', '.join(missing)}; "
                                f"expected columns {', '.join(COLUMNS)}")
        rows, seen = [], {}
        for number, row in enumerate(reader, start=2):
            if not any((v or "").strip() for v in row.values()):
                continue  # blank line at the end of a spreadsheet export
            where = f"{path}, row {number}"
            query, code = (row["query"] or "").strip(), (row["system"] or "").strip()
            if query not in codes:
                raise TemplateError(f"{where}, field 'query': unknown query {query!r}; the sheets are "
                                    f"{', '.join(codes)}")
            if code not in codes[query]:
                raise TemplateError(f"{where}, field 'system': unknown system code {code!r} for query {query}; "
                                    f"its sheet shows {', '.join(sorted(codes[query]))}")
            if (query, code) in seen:
                raise TemplateError(f"{where}, field 'system': query {query} system {code} is scored twice "
                                    f"(also row {seen[query, code]})")
            seen[query, code] = number
            where = f"{where} (query {query}, system {code})"
            record = {"scorer": path.stem, "query": query, "system": codes[query][code],
                      "hit@10": _hit(row["hit@10"] or "", where)}
            record.update({c: _score(row[c] or "", where, c) for c in CRITERIA})
            rows.append(record)
    for query, query_codes in codes.items():
        for code in sorted(query_codes):
            if (query, code) not in seen:
                raise TemplateError(f"{path}: row for query {query} system {code} is missing (field 'system'); "
                                    "every query needs one row per system code on its sheet")
    return pd.DataFrame(rows, columns=["scorer", "query", "system", "hit@10", *CRITERIA])


def read_filled_templates(paths: list[str | Path], key: dict) -> pd.DataFrame:
    """Every scorer's template together; two files with one scorer name are refused."""
    frames, names = [], {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such score file")
        if path.stem in names:
            raise TemplateError(f"{path}: scorer name {path.stem!r} is also {names[path.stem]}; "
                                "name each scorer's file differently")
        names[path.stem] = path
        frames.append(read_filled_template(path, key))
    if not frames:
        raise TemplateError("no score files given: pass the filled templates (one CSV per scorer)")
    return pd.concat(frames, ignore_index=True)


SCORES_CSV = "ohs_scores.csv"
SCORES_JSON = "ohs_scores.json"


def score_filled_templates(ohs_dir: str | Path, paths: list[str | Path], weights=None,
                           out: str | Path | None = None) -> dict:
    """Un-blind filled templates with the key and score them (paper section 4.1).

    Writes ``ohs_scores.csv`` (systems x hit@10, criteria, OHS in percent) and
    ``ohs_scores.json`` (the same, the agreement and the weights) into ``out``
    (default ``ohs_dir``). Returns ``{"table", "agreement", "scores", "paths"}``.
    """
    from fashion_tf.evaluation.ohs_scoring import (
        DEFAULT_WEIGHTS,
        scorer_agreement,
        system_percentages,
        with_ohs,
    )

    weights = dict(weights or DEFAULT_WEIGHTS)
    key = read_key(ohs_dir)
    scores = read_filled_templates(paths, key)
    table = with_ohs(system_percentages(scores), weights)
    order = [s["name"] for s in key.get("systems", []) if s["name"] in table.index]
    table = table.loc[order or list(table.index)]
    agreement = scorer_agreement(scores)
    out = Path(out or ohs_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / SCORES_CSV, index_label="system")
    (out / SCORES_JSON).write_text(json.dumps({
        "systems": {name: {c: round(float(v), 3) for c, v in row.items()} for name, row in table.to_dict("index").items()},
        "agreement_krippendorff_alpha": {c: (None if math.isnan(v) else round(v, 4)) for c, v in agreement.items()},
        "weights": weights, "scorers": sorted(scores["scorer"].unique().tolist()),
    }, indent=2))
    return {"table": table, "agreement": agreement, "scores": scores,
            "paths": [out / SCORES_CSV, out / SCORES_JSON]}
