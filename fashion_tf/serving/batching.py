"""Server-side request batching, as TensorFlow Serving's ``--enable_batching`` does it.

Concurrent requests to the same model version and signature are stacked along their
batch dimension and run as one call, which amortises the per-call cost of the model
(and on a CPU lets the matrix kernels work on larger blocks). The parameters are TF
Serving's ``BatchingParameters`` (``serving/batching_parameters.txt``), with the
meaning of its shared batch scheduler:

- ``max_batch_size``: most rows (images) in one batch; a request with more rows runs
  as a batch of its own (TF Serving would split it or refuse it);
- ``batch_timeout_micros``: how long the first request of a batch waits for others
  before the batch runs anyway, once a batch thread is free (while all are busy,
  requests keep joining the open batch);
- ``num_batch_threads``: how many batches run at the same time;
- ``max_enqueued_batches``: batches that may wait per queue (model version and
  signature); when that many wait, a new request is refused with UNAVAILABLE (HTTP 503)
  instead of queueing without bound.

Inputs without a batch dimension (the scalar ``k`` of ``similar``) must be equal within
a batch, so they are part of the queue's key. Like TF Serving, batching assumes that the
first dimension of every output is the batch; signatures with a scalar output are run
unbatched (:func:`fashion_tf.serving.predictor.batched_inputs`), and a signature whose
outputs turn out not to have one row per input row (``complete_the_look`` answers per
category) has that batch rerun request by request and is not batched again. If a batch
fails with INVALID_ARGUMENT (one request's image does not decode), its requests are run
again one by one so that only the bad request gets the error.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
from google.protobuf import text_format

from fashion_tf.serving.predictor import RequestError
from fashion_tf_client import messages as pb


@dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's defaults where a field is not set (shared_batch_scheduler.h)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    def read(cls, path) -> BatchingParameters:
        """Parse a text-format ``BatchingParameters`` file (batching_parameters.txt)."""
        message = pb.BatchingParameters()
        try:
            text_format.Parse(Path(path).read_text(), message)
        except text_format.ParseError as error:
            raise ValueError(f"{path}: not a text-format BatchingParameters: {error}") from None
        values = {name: getattr(message, name).value for name in ("max_batch_size", "batch_timeout_micros",
                                                                 "max_enqueued_batches", "num_batch_threads")
                  if message.HasField(name)}
        params = cls(**values)
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(params, name) < 1:
                raise ValueError(f"{path}: {name} must be at least 1, got {getattr(params, name)}")
        if params.batch_timeout_micros < 0:
            raise ValueError(f"{path}: batch_timeout_micros must be >= 0, got {params.batch_timeout_micros}")
        return params


class _Task:
    """One request waiting in a batch."""

    def __init__(self, inputs: dict[str, np.ndarray], rows: int):
        self.inputs, self.rows = inputs, rows
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None


class _Batch:
    def __init__(self, key, run, batched: set[str], deadline: float):
        self.key, self.run, self.batched, self.deadline = key, run, batched, deadline
        self.tasks: list[_Task] = []
        self.rows = 0


class Batcher:
    """Queues per (model version, signature, unbatched input values); a pool of
    ``num_batch_threads`` threads runs the batches that are full or timed out."""

    def __init__(self, params: BatchingParameters):
        self.params = params
        self._cond = threading.Condition()
        self._open: dict = {}                  # key -> the batch still taking requests
        self._waiting: dict = {}               # key -> number of batches not yet running
        self._ready: deque[_Batch] = deque()   # full or timed-out batches, oldest first
        self._stopped = False
        self._unbatchable: set = set()        # (model version, signature) whose outputs are not per row
        self._threads = [threading.Thread(target=self._work, name=f"batch-{i}", daemon=True)
                         for i in range(params.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def run(self, loaded, signature: str, inputs: dict[str, np.ndarray], batched: set[str], run) -> dict:
        """Run ``run(inputs)`` as part of a batch; returns this request's rows of the outputs."""
        rows = {len(inputs[key]) for key in batched}
        if len(rows) != 1:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"batched inputs {sorted(batched)} must have the same first dimension, got "
                               f"{ {key: len(inputs[key]) for key in sorted(batched)} }")
        if (id(loaded), signature) in self._unbatchable:
            return run(inputs)
        task = _Task(inputs, rows.pop())
        fixed = tuple(sorted((key, value.dtype.str, value.shape, value.tobytes())
                             for key, value in inputs.items() if key not in batched))
        key = (id(loaded), signature, fixed)
        self._enqueue(key, task, run, batched)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _enqueue(self, key, task: _Task, run, batched: set[str]) -> None:
        params = self.params
        with self._cond:
            try:
                batch = self._open.get(key)
                if batch is not None and batch.rows + task.rows > params.max_batch_size:
                    self._close(batch)
                    batch = None
                if batch is None:
                    if self._waiting.get(key, 0) >= params.max_enqueued_batches:
                        raise RequestError(grpc.StatusCode.UNAVAILABLE,
                                           "The batch scheduling queue to which this task was submitted is full "
                                           f"({params.max_enqueued_batches} batches waiting: max_enqueued_batches)")
                    batch = _Batch(key, run, batched, time.monotonic() + params.batch_timeout_micros / 1e6)
                    self._open[key] = batch
                    self._waiting[key] = self._waiting.get(key, 0) + 1
                batch.tasks.append(task)
                batch.rows += task.rows
                if batch.rows >= params.max_batch_size:
                    self._close(batch)
            finally:
                self._cond.notify()  # a batch may have become ready, even when this task was refused

    def _close(self, batch: _Batch) -> None:
        """No more requests join ``batch``; it waits for a thread (lock held)."""
        if self._open.get(batch.key) is batch:
            del self._open[batch.key]
            self._ready.append(batch)

    def _next_batch(self) -> _Batch | None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                for batch in [b for b in self._open.values() if b.deadline <= now]:
                    self._close(batch)
                if self._ready:
                    batch = self._ready.popleft()
                    self._waiting[batch.key] -= 1
                    if not self._waiting[batch.key]:
                        del self._waiting[batch.key]
                    return batch
                deadlines = [b.deadline for b in self._open.values()]
                self._cond.wait(timeout=max(0.0, min(deadlines) - now) if deadlines else None)
            return None

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._run(batch)
            except BaseException as error:  # noqa: BLE001  (never lose a waiting request)
                for task in batch.tasks:
                    if not task.done.is_set():
                        task.error = error
                        task.done.set()

    def _run(self, batch: _Batch) -> None:
        tasks = batch.tasks
        if len(tasks) == 1:
            merged = tasks[0].inputs
        else:
            merged = dict(tasks[0].inputs)
            for key in batch.batched:
                merged[key] = np.concatenate([task.inputs[key] for task in tasks], axis=0)
        try:
            outputs = batch.run(merged)
        except RequestError as error:
            if error.code == grpc.StatusCode.INVALID_ARGUMENT and len(tasks) > 1:
                for task in tasks:  # find the request that caused it; the others still succeed
                    self._run_alone(task, batch.run)
                return
            raise
        if len(tasks) > 1 and any(np.ndim(value) == 0 or len(value) != batch.rows for value in outputs.values()):
            self._unbatchable.add(batch.key[:2])  # outputs are not per input row: never merge these again
            for task in tasks:
                self._run_alone(task, batch.run)
            return
        start = 0
        for task in tasks:
            task.outputs = {key: value[start:start + task.rows] for key, value in outputs.items()}
            start += task.rows
            task.done.set()

    @staticmethod
    def _run_alone(task: _Task, run) -> None:
        try:
            task.outputs = run(task.inputs)
        except BaseException as error:  # noqa: BLE001  (handed to the waiting request, raised there)
            task.error = error
        task.done.set()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
