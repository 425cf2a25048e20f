"""Label extraction from category paths and titles (Mohammadi, Bodaghi & Kalhor,
"Single-Item Fashion Recommender", section 4.2; docs/design.md, "Labels").

The paper's recipe, step by step, with one extension (step 3):
  1. tokenize Category + Title, lower-case, strip punctuation and stop words;
  2. normalize plurals ("dresses" -> "dress", but "jeans" stays "jeans");
  3. join words the catalog's titles use as one unit into phrase labels ("navy-blue",
     "flip-flops", "track-pants"; ``fashion_tf.data.phrases``, switch off with
     ``phrases=False`` / ``--no-phrases``);
  4. keep words and phrases carried by >= ``min_count`` items (paper: 50);
  5. merge synonyms from an editable table ("tee" -> "t-shirt");
  6. keep labels carried by >= ``final_count`` items (paper: 100; 1102 labels on
     Amazon Fashion).
Counts are document frequencies: the number of items carrying a word.

CLI: ``python -m fashion_tf.data.labels --catalog DIR [--min-count 50] [--final-count 100]
[--synonyms FILE] [--phrase-threshold 0.5 | --no-phrases]``.
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

from fashion_tf.data import phrases as phrase_lib
from fashion_tf.data import schema, stopwords

# A word: letters/digits, with inner hyphens or apostrophes ("t-shirt", "women's").
_WORD = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_HAS_DIGIT = re.compile(r"\d")
# Punctuation, or a dash standing alone: ends a run of adjacent words (no phrase spans it).
_BREAK = re.compile(r"[^a-z0-9'\-\s]+|(?<!\S)-+|-+(?!\S)")


def singularize(word: str) -> str:
    """Plural -> singular with a few rules and exception lists (paper section 4.2).

    "dresses" -> "dress", "shoes" -> "shoe", "boots" -> "boot", "watches" -> "watch",
    "accessories" -> "accessory", "hoodies" -> "hoodie"; "jeans", "shorts", "dress" are
    unchanged. Hyphenated words change their last part ("t-shirts" -> "t-shirt").
    """
    if word in stopwords.IRREGULAR_FORMS:
        return stopwords.IRREGULAR_FORMS[word]
    if word in stopwords.PLURAL_INVARIANTS:
        return word
    if "-" in word:
        head, _, last = word.rpartition("-")
        return stopwords.IRREGULAR_FORMS.get(f"{head}-{singularize(last)}", f"{head}-{singularize(last)}")
    if len(word) <= 3 or not word.endswith("s"):
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


def token_runs(category: str, title: str) -> list[list[str]]:
    """The normalized candidate label words of one item, as runs of adjacent words.

    The category path's store-wide root ("Clothing, Shoes & Jewelry") is dropped;
    possessive 's is stripped ("women's" -> "women"); words with digits, one-letter
    words and stop words are dropped; hyphenated words stay one token ("t-shirt"). A
    run ends at each category level, punctuation mark and dropped word, so phrase
    detection never joins words that were not next to each other.
    """
    parts = [p.strip() for p in str(category or "").split(">")]
    parts = [p for p in parts if p and p.lower() not in stopwords.ROOT_CATEGORIES]
    runs: list[list[str]] = []
    for part in [*parts, str(title or "")]:
        text = html.unescape(part).lower()
        text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u2013", "-")
        for segment in _BREAK.split(text):
            run: list[str] = []
            for match in _WORD.finditer(segment):
                word = match.group().removesuffix("'s").replace("'", "")
                # "2-piece" -> "piece": hyphen parts with digits are sizes or counts, not words.
                for piece in word.split("-") if _HAS_DIGIT.search(word) else [word]:
                    dropped = len(piece) < 2 or _HAS_DIGIT.search(piece) or piece in stopwords.STOP_WORDS
                    piece = piece if dropped else singularize(piece)
                    if dropped or piece in stopwords.STOP_WORDS:
                        runs.append(run)
                        run = []
                    else:
                        run.append(piece)
            runs.append(run)
    return [run for run in runs if run]


def tokenize(category: str, title: str) -> list[str]:
    """The normalized candidate label words of one item, in order, duplicates kept
    (``token_runs`` flattened)."""
    return [word for run in token_runs(category, title) for word in run]


def label_of(words: Sequence[str], synonyms: Mapping[str, str]) -> str:
    """One label from one or more normalized words: synonyms applied to the whole and
    to each word, words joined by "-", the whole singularized ("flip", "flop" ->
    "flip-flops"; "navy", "grey" -> "navy-gray")."""
    joined = "-".join(words)
    if len(words) > 1 and joined not in synonyms:
        joined = singularize("-".join(synonyms.get(word, word) for word in words))
    return synonyms.get(joined, joined)


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
                   synonyms: Mapping[str, str] | str | Path | None = None, phrases: bool = True,
                   phrase_threshold: float = phrase_lib.DEFAULT_THRESHOLD,
                   ) -> tuple[list[list[str]], dict[str, int]]:
    """Labels of every item from its category and title (paper section 4.2).

    Args:
        items: a table with ``category`` and ``title`` columns.
        min_count: keep words carried by at least this many items (paper: 50).
        final_count: after merging synonyms, keep labels carried by at least this many
            items (paper: 100).
        synonyms: None for ``stopwords.DEFAULT_SYNONYMS``; a mapping used as the whole
            table; or a JSON/YAML file merged over the defaults.
        phrases: join words used as one unit into phrase labels (``fashion_tf.data.phrases``).
        phrase_threshold: the npmi a word pair needs to be a phrase, in (0, 1].

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

    runs = [token_runs(c, t) for c, t in zip(items["category"], items["title"])]
    if phrases:
        if not 0.0 < phrase_threshold <= 1.0:
            raise ValueError(f"phrase_threshold must be in (0, 1], got {phrase_threshold}")
        tokens, _ = phrase_lib.detect(runs, min_count, phrase_threshold)
    else:
        tokens = [[(word,) for run in item for word in run] for item in runs]
    # A phrase and its hyphenated spelling ("flip flops", "flip-flops") count as one word.
    words = [{label_of(token, {}): token for token in item} for item in tokens]
    frequent = {w for w, n in _document_counts(map(set, words)).items() if n >= min_count}
    merged = [{label_of(token, table) for w, token in ws.items() if w in frequent} for ws in words]
    counts = _document_counts(merged)
    vocabulary = {label for label, n in counts.items() if n >= final_count}
    labels_per_item = [sorted(ws & vocabulary) for ws in merged]
    return labels_per_item, {label: int(counts[label]) for label in sorted(vocabulary)}


def label_catalog(directory: str | Path, min_count: int = 50, final_count: int = 100,
                  synonyms: Mapping[str, str] | str | Path | None = None, phrases: bool = True,
                  phrase_threshold: float = phrase_lib.DEFAULT_THRESHOLD):
    """Fill the ``labels`` column of a catalog directory and write labels.json
    (arguments as ``extract_labels``).

    Returns the reloaded ``Catalog`` (with ``vocabulary`` and ``label_counts`` set).
    """
    from fashion_tf.data.catalog import load_catalog, save_catalog, write_labels_json

    catalog = load_catalog(directory)
    labels, counts = extract_labels(catalog.items, min_count, final_count, synonyms, phrases,
                                    phrase_threshold)
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
    parser.add_argument("--phrase-threshold", type=float, default=phrase_lib.DEFAULT_THRESHOLD,
                        help="npmi a word pair needs to become one label such as navy-blue (0-1]")
    parser.add_argument("--no-phrases", action="store_true", help="single-word labels only (the paper's)")
    args = parser.parse_args(argv)
    catalog = label_catalog(args.catalog, args.min_count, args.final_count, args.synonyms,
                            not args.no_phrases, args.phrase_threshold)
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
