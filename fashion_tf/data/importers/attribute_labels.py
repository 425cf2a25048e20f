"""Labels seeded by a data set's structured attributes (next to paper section 4.2).

The paper extracts labels from category paths and titles because Amazon has nothing
better. Data sets such as Fashion Product Images (``articleType``, ``baseColour``,
``usage``...) and H&M (``product_type_name``, ``colour_group_name``...) annotate every
item with a closed vocabulary, and those values are labels already: "Navy Blue"
becomes the label "navy-blue", "Tshirts" becomes "t-shirt": the words are singularized,
passed through the synonym table and joined as title phrase labels are
(``labels.label_of``), so that "both" merges "t-shirts" or "navy blue" from a title with
"Tshirts" or "Navy Blue" from an attribute. Placeholder
values ("NA", "Unknown", "undefined") are no label.

Sources (``--labels-from``):
  titles      label extraction on category + title (``fashion_tf.data.labels``);
  attributes  the attribute values, kept when carried by >= final_count items;
  both        the union of the two.
"""
from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

LABEL_SOURCES = ("titles", "attributes", "both")
PLACEHOLDERS = frozenset(["", "na", "n/a", "nan", "none", "null", "unknown", "undefined", "-"])


def attribute_label(value, synonyms: Mapping[str, str] | None = None) -> str | None:
    """One attribute value as a label ("Navy Blue" -> "navy-blue"), or None.

    ``synonyms`` maps a normalized word to its canonical label ("tshirt" -> "t-shirt"),
    as returned by ``labels.load_synonyms``.
    """
    from fashion_tf.data.labels import label_of, normalize_token

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = " ".join(html.unescape(str(value)).lower().split())
    if text in PLACEHOLDERS:
        return None
    return label_of([normalize_token(word) for word in text.split()], synonyms or {})


def attribute_labels(items: pd.DataFrame, columns: Sequence[str], final_count: int,
                     synonyms: str | Path | None = None) -> tuple[list[list[str]], dict[str, int]]:
    """(labels per item, label -> item count) from the values of ``columns``; labels on
    fewer than ``final_count`` items are dropped. ``synonyms``: a synonym file merged
    over the default table (``labels.load_synonyms``)."""
    from fashion_tf.data.labels import load_synonyms

    missing = [c for c in columns if c not in items.columns]
    if missing:
        raise ValueError(f"labels from attributes: items have no column(s) {missing}; "
                         f"found {list(items.columns)}")
    table = load_synonyms(synonyms)
    per_item = [{label for label in (attribute_label(v, table) for v in values) if label}
                for values in zip(*(items[c] for c in columns))] if columns else \
        [set() for _ in range(len(items))]
    counts = Counter(label for labels in per_item for label in labels)
    vocabulary = {label for label, n in counts.items() if n >= final_count}
    return ([sorted(labels & vocabulary) for labels in per_item],
            {label: counts[label] for label in sorted(vocabulary)})


def label_catalog_from(directory: str | Path, source: str, columns: Sequence[str],
                       min_count: int = 50, final_count: int = 100,
                       synonyms: str | Path | None = None):
    """Fill the labels of a catalog directory from ``source`` and write labels.json.

    Args:
        directory: the catalog directory.
        source: "titles", "attributes" or "both" (module docstring).
        columns: the attribute columns (ignored for "titles").
        min_count, final_count: label extraction thresholds (paper: 50 and 100);
            attribute labels need ``final_count`` items.
        synonyms: a synonym file (JSON/YAML) merged over the default table.

    Returns:
        The reloaded ``Catalog``.
    """
    from fashion_tf.data.catalog import load_catalog, save_catalog, write_labels_json
    from fashion_tf.data.labels import extract_labels, label_catalog

    if source not in LABEL_SOURCES:
        raise ValueError(f"labels from {source!r}: expected one of {', '.join(LABEL_SOURCES)}")
    if source != "titles" and not columns:
        raise ValueError(f"labels from {source!r}: this data set has no structured "
                         "attributes; use titles")
    if source == "titles":
        return label_catalog(directory, min_count, final_count, synonyms)
    catalog = load_catalog(directory)
    labels, counts = attribute_labels(catalog.items, columns, final_count, synonyms)
    if source == "both":
        title_labels, _ = extract_labels(catalog.items, min_count, final_count, synonyms)
        labels = [sorted(set(a) | set(t)) for a, t in zip(labels, title_labels)]
        counts = dict(Counter(label for item in labels for label in item))
    items = catalog.items.copy()
    items["labels"] = labels
    catalog.items, catalog.vocabulary, catalog.label_counts = items, None, None
    # labels.json first, so that the reload validates items against the new vocabulary.
    write_labels_json(directory, sorted(counts), counts, len(items), min_count, final_count)
    return save_catalog(catalog, directory)
