"""A catalog directory in memory: load, validate, save and fingerprint (docs/design.md, "Data").

``load_catalog`` checks every table against the column specs of ``schema.py`` and
raises ``CatalogError`` with a message that names the file, the column, what was
expected and what was found, so that a shop engineer importing their own data can fix
it without reading this code.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fashion_tf.data import schema


class CatalogError(ValueError):
    """A catalog directory or table does not follow docs/design.md, "Data"."""


@dataclass
class Catalog:
    """A loaded catalog directory.

    Attributes:
        root: the catalog directory; image paths in the tables are relative to it.
        items: one row per image, columns of ``schema.ITEM_COLUMNS`` (``labels`` holds
            Python lists of str).
        interactions: user ratings (``schema.INTERACTION_COLUMNS``) or None.
        queries: street photos of catalog items (``schema.QUERY_COLUMNS``) or None.
        vocabulary: the sorted label vocabulary from labels.json, or None.
        label_counts: label -> number of items carrying it, from labels.json, or None.
    """

    root: Path
    items: pd.DataFrame
    interactions: pd.DataFrame | None = None
    queries: pd.DataFrame | None = None
    vocabulary: list[str] | None = None
    label_counts: dict[str, int] | None = field(default=None)

    def path(self, rel: str | Path) -> Path:
        """Absolute path of an image path stored relative to the catalog root."""
        return (Path(self.root) / rel).absolute()

    def split(self, name: str) -> pd.DataFrame:
        """The item rows of one split ("train", "val" or "test"), re-indexed from 0."""
        if name not in schema.SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {'/'.join(schema.SPLITS)}")
        return self.items[self.items["split"] == name].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.items)


# ---------------------------------------------------------------------------- validation

def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _is_str_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray)) and all(isinstance(v, str) for v in value)


def _check_column(df: pd.DataFrame, file: str, column: str, kind: str, required: bool) -> None:
    """Raise CatalogError unless ``df[column]`` holds values of ``kind``."""
    series = df[column]
    found = str(series.dtype)
    if kind == "str":
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise CatalogError(f"{file}: column {column!r} should be str, found {found}")
        values = series.dropna() if not required else series
        for row, value in values.items():
            if not isinstance(value, str):
                raise CatalogError(
                    f"{file}: column {column!r} should be str, found {_describe(value)} in row {row}"
                )
    elif kind == "list[str]":
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise CatalogError(f"{file}: column {column!r} should be list of str, found {found}")
        for row, value in series.items():
            if value is None:
                continue  # read as an empty list
            if not _is_str_list(value):
                raise CatalogError(
                    f"{file}: column {column!r} should be list of str, found {_describe(value)} "
                    f"in row {row}"
                )
    elif kind == "int":
        if not pd.api.types.is_integer_dtype(series):
            raise CatalogError(f"{file}: column {column!r} should be int, found {found}")
    elif kind == "float":
        if not pd.api.types.is_numeric_dtype(series):
            raise CatalogError(f"{file}: column {column!r} should be float, found {found}")
    else:  # pragma: no cover - schema.py and this function disagree
        raise AssertionError(f"unknown column kind {kind!r}")


def _check_columns(df: pd.DataFrame, file: str, spec: Mapping[str, tuple[str, bool]]) -> None:
    for column, (kind, required) in spec.items():
        if column not in df.columns:
            if required:
                expected = {
                    "split": f" (expected one of {'/'.join(schema.SPLITS)})",
                    "domain": f" (expected one of {'/'.join(schema.DOMAINS)})",
                }.get(column, f" (expected {kind})")
                raise CatalogError(
                    f"{file}: missing required column {column!r}{expected}; "
                    f"found columns {list(df.columns)}"
                )
            continue
        _check_column(df, file, column, kind, required)


def _check_values(df: pd.DataFrame, file: str, column: str, allowed: tuple[str, ...]) -> None:
    bad = df.loc[~df[column].isin(allowed), column]
    if len(bad):
        raise CatalogError(
            f"{file}: column {column!r} should be one of {'/'.join(allowed)}, found "
            f"{sorted(set(map(str, bad)))[:5]} in {len(bad)} row(s), first row {bad.index[0]}"
        )


def _check_unique(df: pd.DataFrame, file: str, column: str) -> None:
    dup = df[column][df[column].duplicated()]
    if len(dup):
        raise CatalogError(
            f"{file}: column {column!r} should be unique, found {len(dup)} duplicate(s), "
            f"e.g. {dup.iloc[0]!r}"
        )


def _check_references(df: pd.DataFrame, file: str, item_ids: set[str]) -> None:
    unknown = df.loc[~df["item_id"].isin(item_ids), "item_id"]
    if len(unknown):
        raise CatalogError(
            f"{file}: column 'item_id' should name items of {schema.ITEMS_FILE}, found "
            f"{len(unknown)} unknown id(s), e.g. {unknown.iloc[0]!r}"
        )


def validate_items(items: pd.DataFrame, file: str = schema.ITEMS_FILE) -> pd.DataFrame:
    """Check an items table; returns it with ``labels`` as Python lists of str."""
    _check_columns(items, file, schema.ITEM_COLUMNS)
    _check_unique(items, file, "item_id")
    _check_values(items, file, "split", schema.SPLITS)
    _check_values(items, file, "domain", schema.DOMAINS)
    items = items.copy()
    items["labels"] = [[] if v is None else [str(x) for x in v] for v in items["labels"]]
    for column, (kind, required) in schema.ITEM_COLUMNS.items():
        if kind == "str" and not required and column in items.columns:
            # Missing optional paths are None (pandas reads NaN, which is truthy).
            items[column] = pd.Series([v if isinstance(v, str) else None for v in items[column]],
                                      index=items.index, dtype=object)
    return items


def validate_interactions(df: pd.DataFrame, item_ids: set[str] | None = None,
                          file: str = schema.INTERACTIONS_FILE) -> pd.DataFrame:
    """Check an interactions table (ratings must be integers 1-5)."""
    _check_columns(df, file, schema.INTERACTION_COLUMNS)
    bad = df.loc[(df["rating"] < 1) | (df["rating"] > 5), "rating"]
    if len(bad):
        raise CatalogError(
            f"{file}: column 'rating' should be between 1 and 5, found {bad.iloc[0]} "
            f"in {len(bad)} row(s), first row {bad.index[0]}"
        )
    if item_ids is not None:
        _check_references(df, file, item_ids)
    return df


def validate_queries(df: pd.DataFrame, item_ids: set[str] | None = None,
                     file: str = schema.QUERIES_FILE) -> pd.DataFrame:
    """Check a queries table (unique query ids naming catalog items)."""
    _check_columns(df, file, schema.QUERY_COLUMNS)
    _check_unique(df, file, "query_id")
    if item_ids is not None:
        _check_references(df, file, item_ids)
    return df


def _read_labels_json(path: Path) -> tuple[list[str], dict[str, int]]:
    file = schema.LABELS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CatalogError(f"{file}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise CatalogError(f"{file}: should be a JSON object, found {type(data).__name__}")
    vocabulary = data.get("vocabulary")
    if not _is_str_list(vocabulary):
        raise CatalogError(f"{file}: field 'vocabulary' should be a list of str, found {_describe(vocabulary)}")
    counts = data.get("counts", {})
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        raise CatalogError(f"{file}: field 'counts' should map label -> int, found {_describe(counts)}")
    return list(vocabulary), {str(k): int(v) for k, v in counts.items()}


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pq.read_table(path).to_pandas()
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise CatalogError(f"{path.name}: cannot read as Parquet ({err})") from err


def load_catalog(directory: str | Path) -> Catalog:
    """Load and validate a catalog directory (docs/design.md, "Data").

    Args:
        directory: a folder holding items.parquet and optionally interactions.parquet,
            queries.parquet and labels.json.

    Raises:
        CatalogError: the directory or items.parquet is missing, or a table breaks the
            schema; the message names the file and column.
    """
    root = Path(directory)
    if not root.is_dir():
        raise CatalogError(f"catalog directory {str(root)!r} does not exist")
    items_path = root / schema.ITEMS_FILE
    if not items_path.is_file():
        raise CatalogError(
            f"{schema.ITEMS_FILE}: not found in {str(root)!r}; a catalog directory needs "
            f"{schema.ITEMS_FILE} (import one with tools/import_catalog.py)"
        )
    items = validate_items(_read_parquet(items_path))
    ids = set(items["item_id"])
    interactions = queries = vocabulary = counts = None
    if (root / schema.INTERACTIONS_FILE).is_file():
        interactions = validate_interactions(_read_parquet(root / schema.INTERACTIONS_FILE), ids)
    if (root / schema.QUERIES_FILE).is_file():
        queries = validate_queries(_read_parquet(root / schema.QUERIES_FILE), ids)
    if (root / schema.LABELS_FILE).is_file():
        vocabulary, counts = _read_labels_json(root / schema.LABELS_FILE)
        known = set(vocabulary)
        for row, labels in items["labels"].items():
            unknown = [label for label in labels if label not in known]
            if unknown:
                raise CatalogError(
                    f"{schema.ITEMS_FILE}: column 'labels' should only hold labels of "
                    f"{schema.LABELS_FILE}, found {unknown[:3]} in row {row}"
                )
    return Catalog(root, items, interactions, queries, vocabulary, counts)


# ---------------------------------------------------------------------------- saving

_ARROW_TYPES = {"str": pa.string(), "list[str]": pa.list_(pa.string()), "int": pa.int64(),
                "float": pa.float64()}


def _arrow_table(df: pd.DataFrame, spec: Mapping[str, tuple[str, bool]]) -> pa.Table:
    """Columns in schema order first, then extras; explicit types; no index, no pandas
    metadata, so equal tables give equal bytes."""
    ordered = [c for c in spec if c in df.columns] + [c for c in df.columns if c not in spec]
    fields = []
    for column in ordered:
        kind = spec.get(column, (None,))[0]
        fields.append(pa.field(column, _ARROW_TYPES[kind]) if kind else None)
    arrays, names = [], []
    for column, fld in zip(ordered, fields):
        values = df[column]
        if fld is not None and fld.type == pa.list_(pa.string()):
            values = [None if v is None else list(v) for v in values]
            arrays.append(pa.array(values, type=fld.type))
        elif fld is not None:
            if fld.type == pa.string():  # pandas may hold missing strings as NaN
                values = [None if not isinstance(v, str) and pd.isna(v) else v for v in values]
            arrays.append(pa.array(values, type=fld.type))
        else:
            # from_pandas: NaN is a missing value (pandas reads null strings back as NaN).
            arrays.append(pa.array(values.tolist(), from_pandas=True))
        names.append(str(column))
    return pa.Table.from_arrays(arrays, names=names)


def _write_parquet(df: pd.DataFrame, spec: Mapping[str, tuple[str, bool]], path: Path) -> None:
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(_arrow_table(df, spec), tmp, compression="snappy")
    tmp.replace(path)  # never leave a half-written table behind


def write_labels_json(directory: str | Path, vocabulary: list[str], counts: Mapping[str, int],
                      num_items: int, min_count: int | None = None,
                      final_count: int | None = None) -> Path:
    """Write labels.json in the format of docs/contracts.md."""
    path = Path(directory) / schema.LABELS_FILE
    data = {"vocabulary": sorted(vocabulary),
            "counts": {label: int(counts.get(label, 0)) for label in sorted(vocabulary)},
            "num_items": int(num_items), "min_count": min_count, "final_count": final_count}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def save_catalog(catalog_or_items: Catalog | pd.DataFrame, directory: str | Path,
                 interactions: pd.DataFrame | None = None,
                 queries: pd.DataFrame | None = None) -> Catalog:
    """Validate and write a catalog directory; returns it as loaded back.

    Args:
        catalog_or_items: a Catalog (its interactions, queries and vocabulary are saved
            too unless overridden) or an items DataFrame.
        directory: output folder (created).
        interactions, queries: tables to write instead of the catalog's.

    Tables are written as deterministic Parquet: schema column order, no index.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    vocabulary = counts = None
    if isinstance(catalog_or_items, Catalog):
        items = catalog_or_items.items
        interactions = catalog_or_items.interactions if interactions is None else interactions
        queries = catalog_or_items.queries if queries is None else queries
        vocabulary, counts = catalog_or_items.vocabulary, catalog_or_items.label_counts
    else:
        items = catalog_or_items
    items = validate_items(items.reset_index(drop=True))
    ids = set(items["item_id"])
    if interactions is not None:
        interactions = validate_interactions(interactions.reset_index(drop=True), ids)
    if queries is not None:
        queries = validate_queries(queries.reset_index(drop=True), ids)
    _write_parquet(items, schema.ITEM_COLUMNS, root / schema.ITEMS_FILE)
    if interactions is not None:
        _write_parquet(interactions, schema.INTERACTION_COLUMNS, root / schema.INTERACTIONS_FILE)
    if queries is not None:
        _write_parquet(queries, schema.QUERY_COLUMNS, root / schema.QUERIES_FILE)
    if vocabulary is not None:
        old = {}
        if (root / schema.LABELS_FILE).is_file():
            old = json.loads((root / schema.LABELS_FILE).read_text(encoding="utf-8"))
        write_labels_json(root, vocabulary, counts or {}, len(items),
                          old.get("min_count"), old.get("final_count"))
    return load_catalog(root)


def catalog_fingerprint(catalog: Catalog) -> str:
    """16 hex chars identifying the training data: item ids, image paths, labels, splits.

    Row order does not matter; any change to those four columns changes the result.
    """
    digest = hashlib.sha256()
    rows = catalog.items.sort_values("item_id", kind="stable")
    for item_id, image, labels, split in zip(rows["item_id"], rows["image"], rows["labels"],
                                             rows["split"]):
        record = "\x1f".join([item_id, image, "\x1e".join(sorted(labels)), split])
        digest.update(record.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]
