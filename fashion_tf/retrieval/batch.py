"""Batch retrieval: top-k items for millions of queries, streamed and resumable.

Used by ``tools/batch_retrieve.py`` (docs/design.md, "Architecture"). Queries come from an
embedding file or from images embedded with a trained run; they are processed in fixed
batches, batch ``i`` becoming ``OUT/part-{i:06d}.parquet``. A part is written to a hidden
temporary file and renamed into place, so it either exists complete or not at all; a
rerun after a kill skips the parts that exist, which can neither duplicate nor lose rows.
``OUT/_job.json`` records the index, query source, k and batch size, and a rerun with
other settings is refused rather than mixing results; ``OUT/_SUCCESS`` marks a finished job.
pandas and pyarrow ignore the ``_`` and ``.`` files, so ``pandas.read_parquet(OUT)`` reads
the results: long format, one row per (query, rank):

    query_id (str), rank (int32, 1 = best), item_id (str), score (float32, cosine)
"""
from __future__ import annotations

import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fashion_tf.retrieval.base import Index
from fashion_tf.retrieval.embeddings_io import iter_embeddings, read_metadata

JOB_NAME = "_job.json"
SUCCESS_NAME = "_SUCCESS"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
RESULT_SCHEMA = pa.schema([("query_id", pa.string()), ("rank", pa.int32()),
                           ("item_id", pa.string()), ("score", pa.float32())])


def part_path(out_dir: Path, batch_number: int) -> Path:
    return out_dir / f"part-{batch_number:06d}.parquet"


class EmbeddingQueries:
    """Queries from an embedding file, ``batch_size`` rows per batch in file order."""

    def __init__(self, path: str | Path, batch_size: int):
        self.path = Path(path)
        self.batch_size = batch_size
        self.dim, self.fingerprint, self.num_queries = read_metadata(self.path)

    def describe(self) -> dict[str, Any]:
        return {"embeddings": str(self.path.resolve()), "num_queries": self.num_queries}

    def batches(self, skip: set[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        # Reading a skipped batch costs little next to searching it; skipping keeps order.
        for number, (ids, vectors) in enumerate(iter_embeddings(self.path, self.batch_size,
                                                                arrow_ids=True)):
            if number not in skip:
                yield number, ids, vectors


class ImageQueries:
    """Queries from image files, embedded with a trained run's embedding model.

    Args:
        run: a ``fashion_tf.runs.Run`` (``.embedding_model``, ``.image_size``, ``.fingerprint``).
        images: a directory (searched recursively; query id = path relative to it) or a
            Parquet file with an ``image`` column (paths relative to the file's directory)
            and optionally ``query_id`` or ``item_id`` as the query id.
    """

    def __init__(self, run: Any, images: str | Path, batch_size: int):
        self.run = run
        self.images = Path(images)
        self.batch_size = batch_size
        self.paths, self.query_ids = list_query_images(self.images)
        self.num_queries = len(self.paths)
        self.fingerprint = run.fingerprint
        self.dim = None  # known after the first batch; the index manifest is checked instead

    def describe(self) -> dict[str, Any]:
        return {"run": str(Path(self.run.path).resolve()), "images": str(self.images.resolve()),
                "num_queries": self.num_queries}

    def batches(self, skip: set[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        from fashion_tf.data.pipeline import image_files_dataset

        model = self.run.embedding_model
        for number, start in enumerate(range(0, self.num_queries, self.batch_size)):
            if number in skip:
                continue
            paths = self.paths[start:start + self.batch_size]
            id_of = dict(zip(paths, self.query_ids[start:start + self.batch_size]))
            ids, vectors = [], []
            # Unreadable files are skipped (and logged) by the pipeline: ids follow the paths
            # that actually come back.
            dataset = image_files_dataset(paths, self.run.image_size, min(64, len(paths)))
            for images, returned_paths in dataset:
                vectors.append(np.asarray(model(images, training=False)))
                ids.extend(id_of[p.decode() if isinstance(p, bytes) else str(p)]
                           for p in returned_paths.numpy())
            dim = vectors[0].shape[1] if vectors else 0
            yield (number, np.asarray(ids, dtype=object),
                   np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32))


def list_query_images(images: Path) -> tuple[list[str], list[str]]:
    """Returns (absolute image paths, query ids) of a directory or a Parquet listing."""
    if images.is_dir():
        paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise ValueError(f"{images}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
        return [str(p) for p in paths], [str(p.relative_to(images)) for p in paths]
    if images.suffix == ".parquet" and images.is_file():
        table = pq.read_table(images)
        if "image" not in table.column_names:
            raise ValueError(f"{images}: column 'image' missing; expected image paths relative "
                             f"to {images.parent}, found columns {table.column_names}")
        rel = [str(p) for p in table.column("image").to_pylist()]
        paths = [p if os.path.isabs(p) else str(images.parent / p) for p in rel]
        id_column = next((c for c in ("query_id", "item_id") if c in table.column_names), None)
        ids = [str(i) for i in table.column(id_column).to_pylist()] if id_column else rel
        return paths, ids
    raise ValueError(f"{images}: expected a directory of images or a .parquet file with an "
                     "'image' column")


def _as_arrow_strings(values: Sequence[str] | pa.Array) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())


def results_table(query_ids: Sequence[str] | pa.Array, item_ids: np.ndarray | pa.Array,
                  scores: np.ndarray) -> pa.Table:
    """Long-format results: one row per (query, rank).

    ``item_ids`` is [Q, k] (object array) or already a flat Arrow array of Q * k ids; the
    Arrow forms avoid building Python strings, which would dominate at ScaNN's speed.
    """
    q, k = scores.shape
    item_column = item_ids if isinstance(item_ids, pa.Array) else pa.array(
        item_ids.reshape(-1), pa.string())
    return pa.Table.from_arrays([
        _as_arrow_strings(query_ids).take(pa.array(np.repeat(np.arange(q, dtype=np.int64), k))),
        pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), q)),
        item_column,
        pa.array(scores.reshape(-1).astype(np.float32, copy=False)),
    ], schema=RESULT_SCHEMA)


def search_excluding_self(index: Index, query_ids: np.ndarray, vectors: np.ndarray,
                          k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k without the query's own item (for catalog items used as queries)."""
    item_ids, scores = index.search(vectors, k + 1)
    query_ids = query_ids.to_pylist() if isinstance(query_ids, pa.Array) else query_ids
    is_self = item_ids == np.asarray(query_ids, dtype=object)[:, None]
    is_self[~is_self.any(axis=1), -1] = True  # query not in its own top: drop the last hit
    keep = ~is_self
    width = item_ids.shape[1] - 1
    return item_ids[keep].reshape(-1, width), scores[keep].reshape(-1, width)


def _write_results(final: Path, query_ids: Sequence[str] | pa.Array, found: np.ndarray | pa.Array,
                   scores: np.ndarray, index: Index | None = None) -> None:
    """Builds a part's table and writes it atomically (complete under its final name, or
    absent). ``found`` is item ids, or the index's row numbers [Q, k] when ``index`` is
    given: mapping them to ids here, in the writer thread, lets the next part's search
    start at once."""
    if index is not None:
        found = index.ids_arrow.take(pa.array(found.reshape(-1)))
    table = results_table(query_ids, found, scores)
    tmp = final.parent / f".{final.name}.tmp"
    # Dictionary pages cost more time than they save on unique-ish ids; snappy still
    # compresses the repeated query ids (measured: 2x faster, smaller files). Min/max
    # statistics of the string columns cost another quarter of the write and serve no
    # reader of these parts (benchmarks/README.md, batch_retrieve).
    pq.write_table(table, tmp, use_dictionary=False, write_statistics=False)
    os.replace(tmp, final)


def _prefetch(iterator: Iterator, depth: int = 1) -> Iterator:
    """Runs ``iterator`` in a background thread, ``depth`` items ahead (errors re-raised)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(end)
        except Exception as error:  # noqa: BLE001  (handed to the consumer, re-raised there)
            items.put(error)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class Progress:
    """One self-overwriting status line on stderr (no dependency on tqdm)."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled, self.start = total, enabled, time.perf_counter()

    def update(self, done: int, queries: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = queries / elapsed if elapsed > 0 else 0.0
        print(f"\rbatch {done}/{self.total} ({100 * done / max(self.total, 1):.0f}%), "
              f"{rate:,.0f} queries/s", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)


@dataclass
class BatchSummary:
    out: Path
    batches_total: int
    batches_written: int
    batches_skipped: int
    queries_searched: int
    rows_written: int
    seconds: float
    complete: bool

    def line(self) -> str:
        qps = self.queries_searched / self.seconds if self.seconds > 0 else 0.0
        state = "complete" if self.complete else "INCOMPLETE (rerun the same command to resume)"
        return (f"batch_retrieve: {state}: {self.batches_written} batches written, "
                f"{self.batches_skipped} already done, {self.queries_searched} queries, "
                f"{self.rows_written} rows, {self.seconds:.1f}s ({qps:,.0f} queries/s) -> {self.out}")


def _check_job(out_dir: Path, job: dict[str, Any]) -> None:
    path = out_dir / JOB_NAME
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != job:
            changed = sorted(key for key in set(previous) | set(job) if previous.get(key) != job.get(key))
            raise ValueError(
                f"{out_dir} holds results of another job (different {', '.join(changed)}: "
                f"{ {k: previous.get(k) for k in changed} } vs { {k: job.get(k) for k in changed} }); "
                "use a new --out directory or delete this one")
    else:
        if any(out_dir.glob("part-*.parquet")):
            raise ValueError(f"{out_dir} has part files but no {JOB_NAME}; use an empty --out directory")
        path.write_text(json.dumps(job, indent=2, sort_keys=True) + "\n")


def batch_retrieve(index: Index, queries: EmbeddingQueries | ImageQueries, out_dir: str | Path,
                   k: int, *, exclude_self: bool = False, max_batches: int | None = None,
                   progress: bool = True, index_dir: str | Path | None = None) -> BatchSummary:
    """Searches every query batch not yet written to ``out_dir`` and writes its part file.

    Args:
        index: a loaded index (its fingerprint/dimension already checked by the caller).
        queries: the query source; its batch size fixes the part boundaries.
        out_dir: output directory of part files (created; resumed when it exists).
        k: results per query (clipped to the index size, see ``fashion_tf.retrieval.base``).
        exclude_self: drop the query's own item from its results.
        max_batches: stop after writing this many new parts (for partial runs and tests).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = {"index": str(Path(index_dir).resolve()) if index_dir else index.location,
           "index_count": len(index), "index_fingerprint": index.model_fingerprint, "k": k,
           "batch_size": queries.batch_size, "exclude_self": exclude_self, **queries.describe()}
    _check_job(out_dir, job)
    total = math.ceil(queries.num_queries / queries.batch_size)
    done = {n for n in range(total) if part_path(out_dir, n).exists()}
    start = time.perf_counter()
    bar = Progress(total, progress)
    written = searched = rows = 0
    complete = True
    # Reading the next batch, and mapping and writing the previous part, overlap with the
    # search (pyarrow releases the GIL); one thread each and at most one batch in flight
    # either way keeps memory bounded at about three batches.
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: Future | None = None
        for number, query_ids, vectors in _prefetch(queries.batches(done)):
            if max_batches is not None and written >= max_batches:
                complete = False
                break
            rows_of = None  # the index whose row numbers the writer maps to item ids
            if not len(query_ids):  # every image of the batch was unreadable: an empty part still marks it done
                found, scores = np.zeros((0, 0), dtype=object), np.zeros((0, 0), np.float32)
            elif exclude_self:
                found, scores = search_excluding_self(index, query_ids, vectors, k)
            else:
                (found, scores), rows_of = index.search_indices(vectors, k), index
            if pending is not None:
                pending.result()  # surfaces write errors; bounds the parts in flight to one
            pending = writer.submit(_write_results, part_path(out_dir, number), query_ids, found, scores, rows_of)
            written += 1
            searched += len(query_ids)
            rows += scores.size
            bar.update(len(done) + written, searched)
        if pending is not None:
            pending.result()
    bar.close()
    if complete:
        (out_dir / SUCCESS_NAME).write_text(json.dumps({"batches": total}) + "\n")
    return BatchSummary(out_dir, total, written, len(done), searched, rows,
                        time.perf_counter() - start, complete)
