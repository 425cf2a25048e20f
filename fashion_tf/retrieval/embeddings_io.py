"""Embedding files: one Parquet table of item ids and their vectors (docs/design.md, "Retrieval").

Layout (docs/contracts.md, Retrieval): columns ``item_id`` (string) and ``embedding``
(``list<float32>``; ``fixed_size_list<float32>`` is accepted on read), schema metadata
``fashion_tf.model_fingerprint`` (the fingerprint of the model that made the vectors,
empty when unknown) and ``fashion_tf.dim``. Files are written in row groups so that
``iter_embeddings`` can stream a file of millions of rows in bounded memory.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FINGERPRINT_KEY = b"fashion_tf.model_fingerprint"
DIM_KEY = b"fashion_tf.dim"
ROW_GROUP_ROWS = 65536


class EmbeddingsFileError(ValueError):
    """An embedding file is missing, malformed or inconsistent."""


# Declared non-null: values are never null (NaN and infinity are refused), and Parquet
# readers then skip the definition levels of every float, which makes reading an embedding
# file about 30% faster (benchmarks/README.md, batch_retrieve). The logical type stays
# list<float32>; files with nullable columns read the same.
EMBEDDING_TYPE = pa.list_(pa.field("element", pa.float32(), nullable=False))


def embeddings_schema(dim: int, fingerprint: str | None) -> pa.Schema:
    """The Arrow schema of an embedding file of dimension ``dim`` made by model ``fingerprint``."""
    return pa.schema(
        [pa.field("item_id", pa.string(), nullable=False),
         pa.field("embedding", EMBEDDING_TYPE, nullable=False)],
        metadata={FINGERPRINT_KEY: (fingerprint or "").encode(), DIM_KEY: str(dim).encode()},
    )


def _check_vectors(ids: Sequence[str], vectors: np.ndarray, where: str) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise EmbeddingsFileError(f"{where}: vectors must be 2-D [N, dim], got shape {vectors.shape}")
    if len(ids) != vectors.shape[0]:
        raise EmbeddingsFileError(
            f"{where}: {len(ids)} item ids but {vectors.shape[0]} vectors; expected one id per vector"
        )
    return vectors


class EmbeddingsWriter:
    """Writes an embedding file batch by batch (bounded memory), as a context manager.

    Example:
        with EmbeddingsWriter("emb.parquet", dim=256, fingerprint=run.fingerprint) as w:
            for ids, vectors in batches:
                w.write(ids, vectors)
    """

    def __init__(self, path: str | Path, dim: int, fingerprint: str | None):
        self.path = Path(path)
        self.dim = int(dim)
        self.rows = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Dictionary pages are wasted on unique ids and on floats; floats barely compress.
        self._writer = pq.ParquetWriter(self.path, embeddings_schema(self.dim, fingerprint), use_dictionary=False,
                                        compression={"item_id": "snappy", "embedding": "none"})

    def write(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = _check_vectors(ids, vectors, str(self.path))
        if vectors.shape[1] != self.dim:
            raise EmbeddingsFileError(
                f"{self.path}: vectors have dimension {vectors.shape[1]}, expected {self.dim}"
            )
        for start in range(0, len(ids), ROW_GROUP_ROWS):
            stop = start + ROW_GROUP_ROWS
            block = np.ascontiguousarray(vectors[start:stop])
            embedding = pa.ListArray.from_arrays(
                pa.array(np.arange(0, block.size + 1, self.dim, dtype=np.int32)),
                pa.array(block.reshape(-1)), type=EMBEDDING_TYPE,
            )
            id_array = pa.array([str(i) for i in ids[start:stop]], pa.string())
            self._writer.write_table(
                pa.Table.from_arrays([id_array, embedding], schema=self._writer.schema)
            )
            self.rows += block.shape[0]

    def close(self) -> None:
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_embeddings(
    path: str | Path, ids: Sequence[str], vectors: np.ndarray, fingerprint: str | None
) -> Path:
    """Writes ``ids`` and ``vectors`` [N, dim] to an embedding file; returns its path."""
    vectors = _check_vectors(ids, vectors, str(path))
    with EmbeddingsWriter(path, vectors.shape[1], fingerprint) as writer:
        writer.write(list(ids), vectors)
    return Path(path)


def read_metadata(path: str | Path) -> tuple[int, str | None, int]:
    """Returns ``(dim, fingerprint or None, num_rows)`` of an embedding file without reading it."""
    path = Path(path)
    if not path.is_file():
        raise EmbeddingsFileError(f"{path}: embedding file not found")
    try:
        parquet = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for non-Parquet input
        raise EmbeddingsFileError(f"{path}: not a Parquet file ({error})") from error
    schema = parquet.schema_arrow
    for column in ("item_id", "embedding"):
        if column not in schema.names:
            raise EmbeddingsFileError(
                f"{path}: column '{column}' missing; expected columns item_id (str), "
                f"embedding (list<float32>), found {schema.names}"
            )
    embedding_type = schema.field("embedding").type
    if not (pa.types.is_list(embedding_type) or pa.types.is_fixed_size_list(embedding_type)
            or pa.types.is_large_list(embedding_type)):
        raise EmbeddingsFileError(
            f"{path}: column 'embedding' has type {embedding_type}, expected list<float32>"
        )
    metadata = schema.metadata or {}
    fingerprint = metadata.get(FINGERPRINT_KEY, b"").decode() or None
    if DIM_KEY in metadata:
        dim = int(metadata[DIM_KEY])
    elif pa.types.is_fixed_size_list(embedding_type):
        dim = embedding_type.list_size
    else:
        dim = -1  # unknown until the first row is read
    return dim, fingerprint, parquet.metadata.num_rows


def _to_numpy(batch: pa.RecordBatch | pa.Table, dim: int, path: Path, arrow_ids: bool = False
              ) -> tuple[np.ndarray | pa.Array, np.ndarray]:
    id_column = batch.column("item_id")
    if isinstance(id_column, pa.ChunkedArray):
        id_column = id_column.combine_chunks()
    ids = id_column if arrow_ids else np.asarray(id_column.to_pylist(), dtype=object)
    column = batch.column("embedding")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    lengths = column.value_lengths().to_numpy(zero_copy_only=False) if len(column) else np.zeros(0)
    if len(lengths) and (lengths.min() != dim or lengths.max() != dim):
        bad = int(np.flatnonzero(lengths != dim)[0])
        raise EmbeddingsFileError(
            f"{path}: row with item_id {id_column[bad].as_py()!r} has an embedding of length {int(lengths[bad])}, "
            f"expected {dim} (fashion_tf.dim)"
        )
    # flatten() honours list offsets of sliced arrays; values are contiguous afterwards.
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return ids, values.reshape(len(ids), dim)


def iter_embeddings(
    path: str | Path, batch_size: int = 65536, *, arrow_ids: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Streams ``(ids [B] object, vectors float32 [B, dim])`` batches of ``batch_size`` rows.

    Memory stays bounded by a few batches whatever the file size; the order is the file order
    and every batch but the last has exactly ``batch_size`` rows (batch tools rely on this to
    resume). ``arrow_ids=True`` yields the ids as a ``pyarrow.StringArray`` (no Python
    strings; what the batch tools use).
    """
    path = Path(path)
    dim, _, _ = read_metadata(path)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    parquet = pq.ParquetFile(path)
    # pyarrow may cut batches at row-group boundaries; re-slice so sizes are exact.
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=["item_id", "embedding"]):
        if dim < 0 and batch.num_rows:
            dim = int(batch.column("embedding").value_lengths()[0].as_py())
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= batch_size:
            table = pa.Table.from_batches(pending)
            yield _to_numpy(table.slice(0, batch_size), dim, path, arrow_ids)
            rest = table.slice(batch_size)
            pending, pending_rows = rest.to_batches(), rest.num_rows
    if pending_rows:
        yield _to_numpy(pa.Table.from_batches(pending), dim, path, arrow_ids)


def read_embeddings(path: str | Path) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Reads a whole embedding file: ``(ids [N] object/str, vectors float32 [N, dim], fingerprint)``."""
    path = Path(path)
    dim, fingerprint, _ = read_metadata(path)
    ids_parts, vector_parts = [], []
    for ids, vectors in iter_embeddings(path, batch_size=ROW_GROUP_ROWS):
        ids_parts.append(ids)
        vector_parts.append(vectors)
        dim = vectors.shape[1]
    if not ids_parts:
        return np.zeros(0, dtype=object), np.zeros((0, max(dim, 0)), np.float32), fingerprint
    return np.concatenate(ids_parts), np.concatenate(vector_parts), fingerprint
