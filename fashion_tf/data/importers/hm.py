"""H&M Personalized Fashion Recommendations (Kaggle, 2022): articles, images, purchases.

Layout as downloaded and unzipped::

    articles.csv            article_id,product_code,prod_name,product_type_no,
                            product_type_name,product_group_name,...,colour_group_name,
                            ...,index_group_name,section_name,garment_group_name,detail_desc
    transactions_train.csv  t_dat,customer_id,article_id,price,sales_channel_id
                            (31.8 million rows, 2018-09-20 to 2020-09-22)
    images/<first 3 digits>/<10-digit article_id>.jpg

Article ids are ten digits with a leading zero (0108775015), in the CSV files, the
image names and the competition's submissions; that is the catalog's ``item_id``. A
file re-saved by a tool that read the ids as numbers (108775015) gets its zeros back.
Category = index_group_name > product_group_name > product_type_name; title =
prod_name; every other column stays as an attribute column. Splits are 80/10/10 by a
hash of ``product_code``, so that the colour variants of one product never sit on both
sides of a split. Transactions become interactions in ``transactions`` (read in
chunks, ``purchases_to_rating`` for the ratings).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from fashion_tf.data.importers.common import (
    ImportReport,
    Progress,
    assign_split,
    is_gzip,
    place_image,
    safe_id,
    write_catalog,
)
from fashion_tf.data.importers.hm_transactions import read_transactions

ARTICLES_FILE = "articles.csv"
TRANSACTIONS_FILE = "transactions_train.csv"
ARTICLE_COLUMNS = ("article_id", "prod_name", "product_type_name", "product_group_name",
                   "graphical_appearance_name", "colour_group_name", "department_name",
                   "index_group_name", "section_name", "garment_group_name", "detail_desc")
CATEGORY_COLUMNS = ("index_group_name", "product_group_name", "product_type_name")
# What an item looks like; department_name and section_name are how the shop is run.
LABEL_COLUMNS = ("index_group_name", "product_group_name", "product_type_name",
                 "graphical_appearance_name", "colour_group_name",
                 "perceived_colour_master_name", "garment_group_name")


def article_image(images: Path, article_id: str) -> Path:
    """images/<first 3 digits>/<10-digit id>.jpg."""
    return images / article_id[:3] / f"{article_id}.jpg"


def _find(src: Path, name: str) -> Path | None:
    for candidate in (src / name, src / f"{name}.gz", src / f"{name}.zip"):
        if candidate.is_file():
            return candidate
    return None


def read_articles(path: Path) -> pd.DataFrame:
    """articles.csv as strings (empty fields as ""), checking the published columns."""
    header = pd.read_csv(path, nrows=0, compression="gzip" if is_gzip(path) else "infer")
    missing = [c for c in ARTICLE_COLUMNS if c not in header.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the published "
                         f"header starting {','.join(ARTICLE_COLUMNS[:4])},...; found "
                         f"{list(header.columns)[:12]}")
    return pd.read_csv(path, dtype=str, keep_default_na=False,
                       compression="gzip" if is_gzip(path) else "infer")


def import_hm(src: str | Path, out: str | Path, images: str | Path | None = None, *,
              transactions: str | Path | bool | None = None, since: str | None = None,
              chunk_rows: int = 200_000, image_mode: str = "link", labels: bool = False,
              min_count: int = 50, final_count: int = 100,
              labels_from: str = "both") -> ImportReport:
    """Import the H&M data set into a catalog directory.

    Args:
        src: the unzipped download (holding articles.csv) or articles.csv itself.
        out: the catalog directory to write.
        images: the images folder; default ``images/`` next to articles.csv.
        transactions: transactions_train.csv; None: the one next to articles.csv
            if there; False: import the articles only.
        since: keep purchases on or after this date ("2020-06-01").
        chunk_rows: transaction rows read at a time (memory grows with this and
            with the number of distinct customer-article pairs kept).
        labels, labels_from, min_count, final_count: as in ``write_catalog``.
    """
    src = Path(src)
    articles_path = src if src.is_file() else _find(src, ARTICLES_FILE)
    if articles_path is None:
        raise FileNotFoundError(f"{src}: no {ARTICLES_FILE} found; pass the unzipped H&M "
                                "download (articles.csv, transactions_train.csv, images/)")
    images = Path(images) if images is not None else articles_path.parent / "images"
    if transactions is None:
        transactions = _find(articles_path.parent, TRANSACTIONS_FILE)
    elif transactions is not False and not Path(transactions).is_file():
        raise FileNotFoundError(f"transactions file {transactions} not found")
    report = ImportReport("hm", Path(out))
    report.details.update(articles=str(articles_path), images=str(images))
    articles = read_articles(articles_path)
    rows, seen = [], set()
    extra = [c for c in articles.columns if c not in ("article_id", "prod_name")]
    progress = Progress("articles", len(articles))
    columns = list(articles.columns)
    # Row by row (not to_dict("records")): one dict at a time, not 105,000 at once.
    for number, values in enumerate(zip(*(articles[c] for c in columns)), start=2):
        record = dict(zip(columns, values))
        progress.step()
        raw = record["article_id"].strip()
        if not raw.isdigit():
            report.skip("missing field article_id" if not raw else "unreadable line",
                        f"{articles_path.name} line {number}: article_id {raw!r}")
            continue
        item = raw.zfill(10)
        if item in seen:
            report.skip("duplicate article_id", item)
            continue
        seen.add(item)
        source = article_image(images, item)
        if not source.is_file():
            report.skip("no image", f"{item} (no {source.relative_to(images).as_posix()})")
            continue
        product = record.get("product_code") or item[:7]
        rows.append({
            "item_id": item,
            "image": place_image(source, report.out, safe_id(item), image_mode),
            "category": " > ".join(record[c].strip() for c in CATEGORY_COLUMNS
                                   if record[c].strip()),
            "title": " ".join(record["prod_name"].split()),
            "labels": [],
            "split": assign_split(product.lstrip("0") or "0"),
            "domain": "shop",
            **{c: record[c].strip() or None for c in extra},
        })
    progress.done()
    interactions = None
    if transactions:
        report.details["transactions"] = str(transactions)
        interactions = read_transactions(Path(transactions), [r["item_id"] for r in rows],
                                         report, since=since, chunk_rows=chunk_rows)
    elif since is not None:
        raise FileNotFoundError(f"--since {since}: no {TRANSACTIONS_FILE} next to "
                                f"{articles_path} (or pass it with --transactions)")
    return write_catalog(report, rows, interactions, labels=labels, min_count=min_count,
                         final_count=final_count, labels_from=labels_from,
                         attribute_columns=tuple(c for c in LABEL_COLUMNS
                                                 if c in articles.columns))
