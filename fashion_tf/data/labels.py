"""Label extraction from category paths and titles (paper section 4.2, DESIGN.md section 4).

The paper's recipe, step by step:
  1. tokenize Category + Title, lower-case, strip punctuation and stop words;
  2. normalize plurals ("dresses" -> "dress", but "jeans" stays "jeans");
  3. keep words carried by >= ``min_count`` items (paper: 50);
  4. merge synonyms from an editable table ("tee" -> "t-shirt");
  5. keep labels carried by >= ``final_count`` items (paper: 100; 1102 labels on
     Amazon Fashion).
Counts are document frequencies: the number of items carrying a word.

CLI: ``python -m fashion_tf.data.labels --catalog DIR [--min-count 50] [--final-count 100]
[--synonyms FILE]``.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from fashion_tf.data import schema, stopwords

# A word: letters/digits, with inner hyphens or apostrophes ("t-shirt", "women's").
_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_HAS_DIGIT = re.compile(r"\d")


def singularize(word: str) -> str:
    """Plural -> singular with a few rules and exception lists (paper section 4.2).

    "dresses" -> "dress", "shoes" -> "shoe", "boots" -> "boot", "watches" -> "watch",
    "accessories" -> "accessory", "hoodies" -> "hoodie"; "jeans", "shorts", "dress" are
    unchanged. Hyphenated words change their last part ("t-shirts" -> "t-shirt").
    """
    if "-" in word:
        head, _, last = word.rpartition("-")
        return f"{head}-{singularize(last)}"
    if word in stopwords.IRREGULAR_FORMS:
        return stopwords.IRREGULAR_FORMS[word]
    if word in stopwords.PLURAL_INVARIANTS or len(word) <= 3 or not word.endswith("s"):
        return word
    if word.endswith(("ss", "us", "as")):
        return word  # "dress", "sleeveless", "status", "canvas"
    if word.endswith("ies"):
        stem = word[:-3]
        single = stem + "ie" if stem + "ie" in stopwords.IE_SINGULARS else stem + "y"
    elif word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        single = word[:-2]
    else:
        single = word[:-1]
    # Canonical forms may themselves be plural: "girls" -> "girl" -> "girls".
    return stopwords.IRREGULAR_FORMS.get(single, single)


def normalize_token(word: str) -> str:
    """Lower-case and singularize one word (also used for synonym-table keys)."""
    return singularize(word.strip().lower())


def tokenize(category: str, title: str) -> list[str]:
    """The normalized candidate label words of one item, in order, duplicates kept.

    The category path's store-wide root ("Clothing, Shoes & Jewelry") is dropped;
    possessive 's is stripped ("women's" -> "women"); words with digits, one-letter
    words and stop words are dropped; hyphenated words stay one token ("t-shirt").
    """
    parts = [p.strip() for p in str(category or "").split(">")]
    parts = [p for p in parts if p and p.lower() not in stopwords.ROOT_CATEGORIES]
    text = html.unescape(" ".join(parts) + " " + str(title or "")).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-")
    tokens: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group()
        word = word.removesuffix("'s")
        word = word.replace("'", "")
        # "2-piece" -> "piece": hyphen parts with digits are sizes or counts, not words.
        pieces = word.split("-") if _HAS_DIGIT.search(word) else [word]
        for piece in pieces:
            if len(piece) < 2 or _HAS_DIGIT.search(piece) or piece in stopwords.STOP_WORDS:
                continue
            piece = singularize(piece)
            if piece not in stopwords.STOP_WORDS:
                tokens.append(piece)
    return tokens


def load_synonyms(path: str | Path | None = None, include_defaults: bool = True) -> dict[str, str]:
    """The synonym table: word -> canonical label, keys and values normalized.

    Args:
        path: optional JSON or YAML file, either ``{word: canonical}`` or
            ``{canonical: [word, ...]}``; its entries override the defaults.
        include_defaults: start from ``stopwords.DEFAULT_SYNONYMS``.
    """
    table: dict[str, str] = dict(stopwords.DEFAULT_SYNONYMS) if include_defaults else {}
    if path is not None:
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: synonym file is not valid JSON ({err}); "
                                 "expected {\"word\": \"canonical\", ...}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path}: synonym file should map word -> canonical label, "
                             f"found {type(data).__name__}")
        for key, value in data.items():
            if isinstance(value, str):
                table[str(key)] = value
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                table.update({v: str(key) for v in value})
            else:
                raise ValueError(f"{path}: entry {key!r} should be a str or a list of str, "
                                 f"found {value!r}")
    return _normalize_table(table)


def _normalize_table(table: Mapping[str, str]) -> dict[str, str]:
    return {normalize_token(k): normalize_token(v) for k, v in table.items()
            if normalize_token(k) != normalize_token(v)}


def _document_counts(token_sets: Iterable[set[str]]) -> Counter:
    counts: Counter = Counter()
    for tokens in token_sets:
        counts.update(tokens)
    return counts


def scaled_thresholds(num_items: int) -> tuple[int, int]:
    """(min_count, final_count) scaled to a catalog's size. The paper keeps words seen
    >= 50 times, then labels seen >= 100 times, on 163,589 items (section 4.2); a catalog
    of a few hundred items cannot reach those counts, so keep words carried by ~1 % and
    labels carried by ~2 % of the items, never more than the paper's thresholds."""
    return min(50, max(2, round(0.01 * num_items))), min(100, max(3, round(0.02 * num_items)))


def extract_labels(items: pd.DataFrame, min_count: int = 50, final_count: int = 100,
                   synonyms: Mapping[str, str] | str | Path | None = None,
                   ) -> tuple[list[list[str]], dict[str, int]]:
    """Labels of every item from its category and title (paper section 4.2).

    Args:
        items: a table with ``category`` and ``title`` columns.
        min_count: keep words carried by at least this many items (paper: 50).
        final_count: after merging synonyms, keep labels carried by at least this many
            items (paper: 100).
        synonyms: None for ``stopwords.DEFAULT_SYNONYMS``; a mapping used as the whole
            table; or a JSON/YAML file merged over the defaults.

    Returns:
        (labels_per_item, counts): one sorted, duplicate-free list per row of ``items``,
        and label -> number of items carrying it, for the surviving labels.
    """
    for column in ("category", "title"):
        if column not in items.columns:
            raise ValueError(f"extract_labels: items need a {column!r} column; "
                             f"found {list(items.columns)}")
    if synonyms is None:
        table = _normalize_table(stopwords.DEFAULT_SYNONYMS)
    elif isinstance(synonyms, (str, Path)):
        table = load_synonyms(synonyms)
    else:
        table = _normalize_table(synonyms)

    words = [set(tokenize(c, t)) for c, t in zip(items["category"], items["title"])]
    frequent = {w for w, n in _document_counts(words).items() if n >= min_count}
    merged = [{table.get(w, w) for w in ws if w in frequent} for ws in words]
    counts = _document_counts(merged)
    vocabulary = {label for label, n in counts.items() if n >= final_count}
    labels_per_item = [sorted(ws & vocabulary) for ws in merged]
    return labels_per_item, {label: int(counts[label]) for label in sorted(vocabulary)}


def label_catalog(directory: str | Path, min_count: int = 50, final_count: int = 100,
                  synonyms: Mapping[str, str] | str | Path | None = None):
    """Fill the ``labels`` column of a catalog directory and write labels.json.

    Returns the reloaded ``Catalog`` (with ``vocabulary`` and ``label_counts`` set).
    """
    from fashion_tf.data.catalog import load_catalog, save_catalog, write_labels_json

    catalog = load_catalog(directory)
    labels, counts = extract_labels(catalog.items, min_count, final_count, synonyms)
    items = catalog.items.copy()
    items["labels"] = labels
    catalog.items, catalog.vocabulary, catalog.label_counts = items, None, None
    # labels.json first, so that the reload validates items against the new vocabulary.
    write_labels_json(directory, sorted(counts), counts, len(items), min_count, final_count)
    return save_catalog(catalog, directory)


def read_labels(directory: str | Path) -> tuple[list[str], dict[str, int]]:
    """(vocabulary, counts) from a catalog directory's labels.json (or a run directory's)."""
    path = Path(directory)
    path = path if path.is_file() else path / schema.LABELS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run `python -m fashion_tf.data.labels "
                                "--catalog DIR` to extract labels")
    data = json.loads(path.read_text(encoding="utf-8"))
    if "vocabulary" not in data:
        raise ValueError(f"{path}: missing field 'vocabulary' (expected a list of labels)")
    counts = data.get("counts", {})
    return list(data["vocabulary"]), {str(k): int(v) for k, v in counts.items()}


def summary(vocabulary: Sequence[str], counts: Mapping[str, int], top: int = 10) -> str:
    """Human summary: number of labels and the most frequent ones."""
    ranked = sorted(vocabulary, key=lambda label: (-counts.get(label, 0), label))[:top]
    listing = ", ".join(f"{label} ({counts.get(label, 0)})" for label in ranked)
    return f"{len(vocabulary)} labels; top {len(ranked)}: {listing}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.data.labels",
        description="Extract labels from category paths and titles (paper section 4.2).")
    parser.add_argument("--catalog", required=True, help="catalog directory (items.parquet)")
    parser.add_argument("--min-count", type=int, default=50,
                        help="keep words carried by >= this many items (paper: 50)")
    parser.add_argument("--final-count", type=int, default=100,
                        help="keep labels carried by >= this many items after synonyms (paper: 100)")
    parser.add_argument("--synonyms", default=None,
                        help="JSON/YAML file word -> canonical, merged over the default table")
    args = parser.parse_args(argv)
    catalog = label_catalog(args.catalog, args.min_count, args.final_count, args.synonyms)
    vocabulary, counts = catalog.vocabulary or [], catalog.label_counts or {}
    print(summary(vocabulary, counts))
    unlabelled = sum(1 for labels in catalog.items["labels"] if not labels)
    if not vocabulary:
        print(f"warning: no label reached the thresholds on {len(catalog)} items; lower "
              "--min-count/--final-count for a small catalog", file=sys.stderr)
    print(f"labelled {len(catalog) - unlabelled}/{len(catalog)} items with {len(vocabulary)} "
          f"labels -> {Path(args.catalog) / schema.LABELS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
