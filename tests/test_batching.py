"""The server's request batcher in-process: concurrent requests merged into one call and
split back, queues per unbatched input value, a bad request failing alone, and TF
Serving's batching_parameters.txt."""
from __future__ import annotations

import threading
from pathlib import Path

import grpc
import numpy as np
import pytest

from fashion_tf.serving.batching import Batcher, BatchingParameters
from fashion_tf.serving.predictor import RequestError

ROOT = Path(__file__).resolve().parent.parent
LONG = 60_000_000  # a minute: batches here close because they are full, never by timeout


class Model:
    """y = 2x + k; records the rows of every call. Negative x is an invalid input."""

    def __init__(self):
        self.calls = []

    def __call__(self, inputs):
        self.calls.append(len(inputs["x"]))
        if (inputs["x"] < 0).any():
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "x must be >= 0")
        return {"y": inputs["x"] * 2 + inputs.get("k", 0)}


def concurrently(batcher, model, requests):
    """Send every {input: array} at once; {index: outputs or the error}."""
    results = {}

    def send(i, inputs):
        try:
            results[i] = batcher.run("model-v1", "sig", inputs, {"x"}, model)
        except RequestError as error:
            results[i] = error

    threads = [threading.Thread(target=send, args=item) for item in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_requests_run_as_one_batch_and_get_their_own_rows():
    batcher, model = Batcher(BatchingParameters(max_batch_size=6, batch_timeout_micros=LONG, num_batch_threads=2)), Model()
    requests = [{"x": np.array([10 * i, 10 * i + 1])} for i in range(3)]  # 3 requests x 2 rows = one full batch
    results = concurrently(batcher, model, requests)
    assert model.calls == [6]
    for i, inputs in enumerate(requests):
        np.testing.assert_array_equal(results[i]["y"], inputs["x"] * 2)
    batcher.stop()


def test_unbatched_inputs_split_queues_and_big_requests_run_alone():
    batcher, model = Batcher(BatchingParameters(max_batch_size=2, batch_timeout_micros=LONG)), Model()
    requests = [{"x": np.array([i]), "k": np.int32(k)} for i, k in enumerate([1, 2, 1, 2])]
    results = concurrently(batcher, model, requests)
    assert model.calls == [2, 2]  # k=1 together, k=2 together
    assert [int(results[i]["y"][0]) for i in range(4)] == [1, 4, 5, 8]
    big = batcher.run("model-v1", "sig", {"x": np.arange(5)}, {"x"}, model)
    assert model.calls[-1] == 5 and big["y"].tolist() == [0, 2, 4, 6, 8]
    batcher.stop()


def test_a_bad_request_fails_alone():
    batcher, model = Batcher(BatchingParameters(max_batch_size=3, batch_timeout_micros=LONG)), Model()
    results = concurrently(batcher, model, [{"x": np.array([1])}, {"x": np.array([-1])}, {"x": np.array([2])}])
    assert model.calls[0] == 3 and sorted(model.calls[1:]) == [1, 1, 1]  # the batch, then each alone
    assert results[0]["y"].tolist() == [2] and results[2]["y"].tolist() == [4]
    assert isinstance(results[1], RequestError) and results[1].message == "x must be >= 0"
    batcher.stop()


def test_full_queue_refuses_with_unavailable():
    release, entered = threading.Event(), threading.Event()

    def slow(inputs):
        entered.set()
        release.wait(timeout=60)
        return {"y": inputs["x"]}

    batcher = Batcher(BatchingParameters(max_batch_size=1, batch_timeout_micros=0, max_enqueued_batches=1,
                                         num_batch_threads=1))
    running = threading.Thread(target=batcher.run, args=("m", "sig", {"x": np.array([0])}, {"x"}, slow))
    running.start()
    assert entered.wait(timeout=60)  # the only batch thread is busy with the first request
    waiting = threading.Thread(target=batcher.run, args=("m", "sig", {"x": np.array([1])}, {"x"}, slow))
    waiting.start()
    while not batcher._waiting:
        threading.Event().wait(0.01)
    with pytest.raises(RequestError) as info:
        batcher.run("m", "sig", {"x": np.array([2])}, {"x"}, slow)
    assert info.value.code == grpc.StatusCode.UNAVAILABLE and "queue" in info.value.message
    release.set()
    running.join(timeout=60)
    waiting.join(timeout=60)
    batcher.stop()


def test_batching_parameters_file(tmp_path):
    params = BatchingParameters.read(ROOT / "serving" / "batching_parameters.txt")
    assert (params.max_batch_size, params.batch_timeout_micros, params.max_enqueued_batches,
            params.num_batch_threads) == (32, 2000, 100, 4)
    only = tmp_path / "only.txt"
    only.write_text("max_batch_size { value: 8 }")
    assert BatchingParameters.read(only).max_batch_size == 8
    assert BatchingParameters.read(only).max_enqueued_batches == 10  # TF Serving's default
    bad = tmp_path / "bad.txt"
    bad.write_text("max_batch_size: 8")
    with pytest.raises(ValueError, match="bad.txt: not a text-format BatchingParameters"):
        BatchingParameters.read(bad)
    bad.write_text("num_batch_threads { value: 0 }")
    with pytest.raises(ValueError, match="num_batch_threads must be at least 1"):
        BatchingParameters.read(bad)


def test_outputs_that_are_not_per_row_are_rerun_alone_and_never_batched_again():
    """E.g. complete_the_look answers per category: its merged outputs cannot be split."""
    calls = []

    def per_category(inputs):
        calls.append(len(inputs["x"]))
        return {"y": np.array([inputs["x"].sum(), -1])}  # two "categories", whatever the rows

    batcher = Batcher(BatchingParameters(max_batch_size=3, batch_timeout_micros=LONG))
    results = concurrently(batcher, per_category, [{"x": np.array([i])} for i in (1, 2, 3)])
    assert calls[0] == 3 and sorted(calls[1:]) == [1, 1, 1]
    assert sorted(int(results[i]["y"][0]) for i in range(3)) == [1, 2, 3]
    batcher.run("model-v1", "sig", {"x": np.array([5])}, {"x"}, per_category)
    assert calls[-1] == 1 and len(calls) == 5  # straight through, no waiting for a batch
    batcher.stop()
