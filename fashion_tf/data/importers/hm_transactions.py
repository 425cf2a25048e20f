"""H&M transactions_train.csv -> interactions, read in chunks with bounded memory.

The file holds 31.8 million purchases (t_dat, customer_id, article_id, price,
sales_channel_id). It is read ``chunk_rows`` rows at a time; each chunk is reduced at
once to one entry per (customer, article) pair, held in three numpy arrays
(16 bytes per pair), and merged into the running totals whenever the reduced chunks
hold as many pairs as the totals. Memory thus grows with the chunk size and with the
number of distinct pairs, never with the file's length; each customer id string is
stored once.

Implicit feedback -> ratings. A purchase says the customer wanted the article, never
that they disliked it, so no purchase maps to the low ratings 1-3 that Amazon
reviewers give what they did not like. ``purchases_to_rating``: one purchase is
rating 4, two or more (the same article bought again, or several pieces at once) are
rating 5. The personalizer's cart vector (a rating-weighted mean of item embeddings,
paper section 3, eq. 3) thus weighs a repeated purchase 1.25 times a single one. The
exact count stays in the ``purchases`` column, and ``timestamp`` is the day of the
last purchase (00:00 UTC, seconds), so a different mapping needs no re-import.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from fashion_tf.data.importers.common import ImportReport, Progress, is_gzip

COLUMNS = ("t_dat", "customer_id", "article_id")


def purchases_to_rating(purchases: np.ndarray) -> np.ndarray:
    """Rating 4 for one purchase of an article, 5 for two or more (module docstring)."""
    return np.where(np.asarray(purchases) >= 2, 5, 4).astype(np.int64)


def _parse_since(since: str | None) -> np.datetime64 | None:
    if since is None:
        return None
    try:
        return np.datetime64(date.fromisoformat(str(since)), "D")
    except ValueError as err:
        raise ValueError(f"--since {since!r}: expected a date like 2020-06-01") from err


def _reduce(keys: np.ndarray, counts: np.ndarray, last: np.ndarray):
    """One entry per key: counts summed, last day the latest."""
    order = np.argsort(keys, kind="stable")
    keys, counts, last = keys[order], counts[order], last[order]
    unique, start = np.unique(keys, return_index=True)
    return unique, np.add.reduceat(counts, start), np.maximum.reduceat(last, start)


def _merge(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    return _reduce(*(np.concatenate(arrays) for arrays in zip(*parts)))


class _Customers:
    """customer_id string -> small int, each string kept once."""

    def __init__(self):
        self.codes: dict[str, int] = {}
        self.ids: list[str] = []

    def encode(self, values: pd.Series) -> np.ndarray:
        local, uniques = pd.factorize(values)
        mapping = np.empty(len(uniques), dtype=np.int64)
        for k, customer in enumerate(uniques):
            code = self.codes.get(customer)
            if code is None:
                code = self.codes[customer] = len(self.ids)
                self.ids.append(customer)
            mapping[k] = code
        return mapping[local]


def _check_header(path: Path, compression: str | None) -> None:
    header = pd.read_csv(path, nrows=0, compression=compression)
    missing = [c for c in COLUMNS if c not in header.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the published "
                         "header t_dat,customer_id,article_id,price,sales_channel_id; "
                         f"found {list(header.columns)}")


def _chunks(path: Path, chunk_rows: int):
    """Chunks of the three columns as strings. A short line reads as empty fields and
    a blank line as an empty row (so that row k is line k + 2); both are then dropped
    as unreadable. Extra fields are ignored."""
    compression = "gzip" if is_gzip(path) else None
    _check_header(path, compression)
    reader = pd.read_csv(path, usecols=list(COLUMNS), dtype=str, keep_default_na=False,
                         skip_blank_lines=False, chunksize=chunk_rows, compression=compression)
    with reader:
        try:
            yield from reader
        except pd.errors.ParserError as err:
            raise ValueError(f"{path}: not readable as CSV ({err})") from err


def read_transactions(path: Path, item_ids: list[str], report: ImportReport, *,
                      since: str | None = None, chunk_rows: int = 200_000) -> pd.DataFrame:
    """Interactions (user_id, item_id, rating, timestamp, purchases) of imported articles.

    Args:
        path: transactions_train.csv (gzip or plain).
        item_ids: the imported articles' 10-digit ids.
        report: counts rows read and dropped (unreadable, before ``since``, article not
            imported) with examples.
        since: keep purchases on or after this date.
        chunk_rows: rows read at a time.
    """
    since_day = _parse_since(since)
    if since_day is not None:
        report.details["since"] = str(since_day)
    articles = np.sort(np.array([int(i) for i in item_ids], dtype=np.int64))
    customers = _Customers()
    keys = np.empty(0, np.int64)
    counts = np.empty(0, np.int32)
    last = np.empty(0, np.int32)
    n_articles = max(len(articles), 1)
    progress = Progress("transactions", every=chunk_rows)
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pending_pairs = 0
    first_line = 2  # after the header
    for chunk in _chunks(path, chunk_rows):
        lines = np.arange(first_line, first_line + len(chunk))
        first_line += len(chunk)
        progress.step(len(chunk))
        report.interaction_rows_read += len(chunk)
        known, position, days = _usable_rows(chunk, lines, path, report, articles, since_day)
        if not known.any():
            continue
        chunk_keys = customers.encode(chunk["customer_id"][known]) * n_articles + position[known]
        chunk_days = days[known].astype(np.int64).astype(np.int32)  # days since 1970
        pending.append(_reduce(chunk_keys, np.ones(len(chunk_keys), np.int32), chunk_days))
        pending_pairs += len(pending[-1][0])
        # Merge into the totals once the reduced chunks are as many pairs as the totals:
        # each pair is re-sorted O(log n) times, not once per chunk.
        if pending_pairs >= max(len(keys), chunk_rows):
            keys, counts, last = _merge([(keys, counts, last)] + pending)
            pending, pending_pairs = [], 0
    keys, counts, last = _merge([(keys, counts, last)] + pending)
    progress.done()
    user_codes, positions = np.divmod(keys, n_articles)
    item_ten = np.array([f"{a:010d}" for a in articles], dtype=object)
    users = np.array(customers.ids, dtype=object)
    report.details["ratings"] = "1 purchase -> 4, 2 or more -> 5 (purchases column keeps the count)"
    # object columns of references to the strings held once above; a str column
    # would copy every id into new buffers (and into new Python strings when checked).
    return pd.DataFrame({
        "user_id": pd.Series(users[user_codes] if len(keys) else [], dtype=object),
        "item_id": pd.Series(item_ten[positions] if len(keys) else [], dtype=object),
        "rating": purchases_to_rating(counts),
        "timestamp": last.astype(np.int64) * 86400,
        "purchases": counts.astype(np.int64),
    })


def _usable_rows(chunk: pd.DataFrame, lines: np.ndarray, path: Path, report: ImportReport,
                 articles: np.ndarray, since_day: np.datetime64 | None):
    """(mask of rows to keep, each row's position in ``articles``, each row's day);
    the other rows are counted in ``report`` by reason."""
    days = pd.to_datetime(chunk["t_dat"], format="%Y-%m-%d", errors="coerce").to_numpy()
    article = pd.to_numeric(chunk["article_id"], errors="coerce").to_numpy()
    bad = np.isnat(days) | np.isnan(article) | (chunk["customer_id"].str.len() == 0).to_numpy()
    _drop(report, "unreadable row", bad, lines, chunk, path)
    keep = ~bad
    days = days.astype("datetime64[D]")
    if since_day is not None:
        early = keep & (days < since_day)
        _drop(report, "before --since", early, lines, chunk, path)
        keep &= ~early
    article = np.where(keep, article, 0).astype(np.int64)
    if len(articles) == 0:
        known, position = keep & False, np.zeros(len(chunk), np.int64)
    else:
        position = np.minimum(np.searchsorted(articles, article), len(articles) - 1)
        known = keep & (articles[position] == article)
    _drop(report, "article not imported", keep & ~known, lines, chunk, path)
    return known, position, days


def _drop(report: ImportReport, reason: str, mask: np.ndarray, lines: np.ndarray,
          chunk: pd.DataFrame, path: Path) -> None:
    n = int(mask.sum())
    if n == 0:
        return
    first = np.flatnonzero(mask)[:3]
    for k in first:
        row = chunk.iloc[k]
        report.drop(reason, f"{path.name} line {lines[k]}: {row['t_dat']},"
                            f"{row['customer_id'][:12]}..,{row['article_id']}", count=0)
    report.dropped[reason] += n
