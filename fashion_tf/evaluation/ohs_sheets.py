"""Blind evaluation sheets of the objective-guided human score (paper sections 4.1, 4.5).

``python -m fashion_tf.evaluate --ohs-sheets RUN_A RUN_B ... [--queries N] --out ohs/``
writes, for N seeded queries (street and shop), one sheet per query: the query image
and the top-10 of every system, each system under a code (A, B, ...) shuffled per
query so that scorers cannot follow a system from sheet to sheet. It writes

* ``sheets/<query>.png``: one picture per sheet;
* ``sheets.html``: every sheet on one page, with the criteria as the paper defines them;
* ``templates/<scorer>.csv``: one score template per scorer (``ohs_templates``);
* ``key/ohs_key.json``: which code is which system on each sheet. It is the only file
  that un-blinds the scores: keep it away from the scorers.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from fashion_tf.evaluation.ohs_queries import (
    TOP_K,
    OhsQuery,
    choose_queries,
    shared_catalog,
    system_names,
    top_k_results,
)
from fashion_tf.evaluation.ohs_scoring import CRITERIA, CRITERION_TITLES, MAX_SCORE
from fashion_tf.evaluation.ohs_templates import (
    key_path,
    system_codes,
    write_key,
    write_templates,
)
from fashion_tf.runs import Run

SHEETS_DIR = "sheets"
HTML_FILE = "sheets.html"
DEFAULT_QUERIES = 50  # the paper's fifty query images
DEFAULT_SCORERS = ("scorer1", "scorer2", "scorer3")
THUMB_PX = 96
LABEL_PX = 110
GAP_PX = 6
# Paper section 4.1, shown to scorers on the HTML page.
CRITERION_HELP = {
    "category": "results of the query's main category (top, bottom, footwear, bag ...)",
    "subtype": "results of the query's subtype within the category (boots, high heels, slippers ...)",
    "texture": "results with the query's main fabric or texture (denim, leather, striped, shiny ...)",
    "colour": "results with the query's dominant colour",
    "variety": "novel results: a different category, subtype or colour from the query",
    "details": "results that follow the query's fine details (neckline, zipper, pockets, design)",
    "shape_difference": "results that do not follow the query's outline (other angle, perspective, "
                        "rotation, flip)",
}


def _thumbnail(path: str, size: int) -> Image.Image:
    """The image fitted into size x size on white, aspect ratio kept."""
    with Image.open(path) as image:
        fitted = ImageOps.contain(image.convert("RGB"), (size, size))
    canvas = Image.new("RGB", (size, size), "white")
    canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    return canvas


def render_sheet(query: OhsQuery, rows: list[tuple[str, list[str]]], out: str | Path, k: int = TOP_K) -> Path:
    """One sheet: the query on top, then one row of ``k`` result images per system code.

    Args:
        rows: (code, [result image paths]) in the order to show them.
    """
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=11)
    step = THUMB_PX + GAP_PX
    head = 2 * THUMB_PX + 34
    width = LABEL_PX + k * step + GAP_PX
    sheet = Image.new("RGB", (width, head + len(rows) * (step + 14) + GAP_PX), "white")
    draw = ImageDraw.Draw(sheet)
    where = "street photo" if query.domain == "street" else "shop image"
    draw.text((GAP_PX, GAP_PX), f"Query {query.query} ({where})", fill="black", font=font)
    sheet.paste(_thumbnail(query.image, 2 * THUMB_PX), (LABEL_PX, 28))
    for row, (code, images) in enumerate(rows):
        top = head + row * (step + 14)
        draw.line([(GAP_PX, top - 3), (width - GAP_PX, top - 3)], fill=(200, 200, 200))
        draw.text((GAP_PX, top + THUMB_PX // 2 - 8), f"System {code}", fill="black", font=font)
        for rank, image in enumerate(images):
            left = LABEL_PX + rank * step
            sheet.paste(_thumbnail(image, THUMB_PX), (left, top + 12))
            draw.text((left, top), f"{rank + 1}", fill=(90, 90, 90), font=small)
    out = Path(out)
    sheet.save(out, optimize=True)
    return out


def write_html(out_dir: Path, queries: list[OhsQuery], scorers: list[str]) -> Path:
    """All sheets on one page, with what each criterion means and how to score."""
    criteria = "".join(f"<li><b>{CRITERION_TITLES[c]}</b> (<code>{c}</code>): {html.escape(CRITERION_HELP[c])}</li>"
                       for c in CRITERIA)
    sheets = "".join(
        f'<section><h2>Query {q.query}</h2><img src="{SHEETS_DIR}/{q.query}.png" alt="sheet {q.query}"></section>'
        for q in queries)
    templates = ", ".join(f"<code>templates/{html.escape(s)}.csv</code>" for s in scorers)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Objective-guided human score: {len(queries)} sheets</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}} img{{max-width:100%;border:1px solid #ccc}}</style>
</head><body>
<h1>Objective-guided human score</h1>
<p>Each sheet shows a query and the top-{TOP_K} of several systems under codes that change from
sheet to sheet. For every query and system code, fill one row of your template ({templates}):
<code>hit@10</code> = yes if the results hold what the query shows, else no; then for each criterion
a whole number from 0 to {MAX_SCORE}: how many of the ten results meet it.</p>
<ul>{criteria}</ul>
{sheets}
</body></html>
"""
    path = out_dir / HTML_FILE
    path.write_text(page)
    return path


def write_sheets(runs: list[Run], out: str | Path, count: int | None = DEFAULT_QUERIES, seed: int = 0,
                 scorers: list[str] | tuple[str, ...] = DEFAULT_SCORERS, catalog_dir=None) -> dict:
    """Sheets, HTML page, templates and key for ``runs`` (see the module docstring).

    Returns a summary: ``{"sheets": [paths], "html", "templates": [paths], "key", "queries",
    "systems"}``. Refuses to overwrite an existing key: scores filled against it would be
    un-blinded wrongly.
    """
    out = Path(out)
    if key_path(out).exists():
        raise FileExistsError(f"{key_path(out)} exists: sheets were already made in {out}; "
                              "scores filled against them need that key. Choose another --out.")
    if len(runs) < 1:
        raise ValueError("--ohs-sheets needs at least one run")
    catalog = shared_catalog(runs, catalog_dir)
    queries = choose_queries(catalog, count, seed=seed)
    names = system_names(runs)
    results = {name: top_k_results(run, catalog, queries) for name, run in zip(names, runs)}
    images = catalog.items.set_index("item_id")["image"].astype(str)
    codes = system_codes(len(runs))
    (out / SHEETS_DIR).mkdir(parents=True, exist_ok=True)
    key_queries, sheets = [], []
    # blind: a fresh shuffle per sheet, seeded so that the same command gives the same key
    shuffles = np.random.default_rng([seed, 1])
    for number, query in enumerate(queries):
        order = shuffles.permutation(len(runs))
        mapping = {code: names[j] for code, j in zip(codes, order)}
        rows = [(code, [str(catalog.path(images[i])) for i in results[mapping[code]][number]]) for code in codes]
        sheets.append(render_sheet(query, rows, out / SHEETS_DIR / f"{query.query}.png"))
        key_queries.append({"query": query.query, "domain": query.domain, "image": query.image,
                            "item_id": query.item_id, "codes": mapping,
                            "results": {mapping[c]: list(map(str, results[mapping[c]][number])) for c in codes}})
    key = {"seed": seed, "k": TOP_K, "catalog": str(catalog.root),
           "systems": [{"name": n, "run": str(Path(r.path).resolve()), "fingerprint": r.fingerprint}
                       for n, r in zip(names, runs)],
           "queries": key_queries}
    return {"sheets": sheets, "html": write_html(out, queries, list(scorers)),
            "templates": write_templates(out, key, list(scorers)), "key": write_key(out, key),
            "queries": len(queries), "systems": names}
