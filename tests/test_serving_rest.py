"""TF Serving's REST API and request batching in the stand-in server: real HTTP requests
to a started server (row and columnar JSON, b64, status, metadata, TF Serving's error
JSON and HTTP statuses), and concurrent gRPC + REST requests sharing batches."""
from __future__ import annotations

import base64
import contextlib
import threading
import time

import numpy as np
import pytest
import server_process
from server_process import free_port, http_json, stop_server
from serving_fixtures import build_fixture_model, png_bytes

from fashion_tf_client import Client, InvalidArgumentError, NotFoundError, UnavailableError
from fashion_tf_client.rest import RestClient

MODEL = "fx"
IMAGES = [png_bytes(seed) for seed in range(4)]


def b64(image: bytes) -> dict:
    return {"b64": base64.b64encode(image).decode()}


@contextlib.contextmanager
def serving(repository, name: str, batching: str, timeout: float):
    """A started server (gRPC + REST, batching as given): yields its client and REST model URL."""
    params = repository / f"{name}.txt"
    params.write_text(batching)
    rest_port = free_port()
    process, target = server_process.start_server(
        MODEL, repository / f"{name}.log", "--model_name", MODEL, "--model_base_path", str(repository / MODEL),
        "--rest_api_port", str(rest_port), "--enable_batching", "--batching_parameters_file", str(params))
    try:
        with Client(target, timeout=timeout, model=MODEL) as client:
            yield client, f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("rest")
    build_fixture_model(root / MODEL / "1", seed=0)
    return root


@pytest.fixture(scope="module")
def server(repository):
    # Batches of up to 16 images; a request waits up to 50 ms for others to join.
    with serving(repository, "server", "max_batch_size { value: 16 } batch_timeout_micros { value: 50000 } "
                 "num_batch_threads { value: 2 } max_enqueued_batches { value: 10 }", timeout=30.0) as running:
        yield running


def test_status_and_metadata(server):
    client, url = server
    status, body = http_json("GET", url)
    assert status == 200
    assert body == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert http_json("GET", f"{url}/versions/1")[1] == body
    status, meta = http_json("GET", f"{url}/metadata")
    assert status == 200 and meta["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    similar = meta["metadata"]["signature_def"]["signature_def"]["similar"]
    assert similar["method_name"] == "tensorflow/serving/predict"
    assert similar["inputs"]["k"]["dtype"] == "DT_INT32" and similar["inputs"]["images"]["dtype"] == "DT_STRING"
    assert similar["inputs"]["images"]["tensor_shape"]["dim"][0]["size"] == "-1"
    assert set(similar["outputs"]) == set(client.metadata()["signatures"]["similar"]["outputs"])


def test_row_and_columnar_predict_equal_grpc(server):
    client, url = server
    expected = client.predict({"images": np.array(IMAGES[:2], dtype=object)})
    status, body = http_json("POST", f"{url}:predict", {"instances": [b64(i) for i in IMAGES[:2]]})
    assert status == 200 and len(body["predictions"]) == 2
    np.testing.assert_allclose([row["embedding"] for row in body["predictions"]], expected["embedding"], rtol=1e-5)
    assert body["predictions"][1]["top_labels"] == [b.decode() for b in expected["top_labels"][1]]
    # Named row format, an explicit signature, and a pinned version give the same.
    status, named = http_json("POST", f"{url}/versions/1:predict", {"signature_name": "serving_default",
                                                                    "instances": [{"images": b64(IMAGES[0])}]})
    assert status == 200
    np.testing.assert_allclose(named["predictions"][0]["embedding"], expected["embedding"][0], rtol=1e-5)
    # Columnar, with the scalar k of `similar`.
    ids, scores = client.similar(IMAGES[:2], k=3)
    status, body = http_json("POST", f"{url}:predict", {"signature_name": "similar",
                                                         "inputs": {"images": [b64(i) for i in IMAGES[:2]], "k": 3}})
    assert status == 200
    assert body["outputs"]["item_ids"] == ids.tolist()
    np.testing.assert_allclose(body["outputs"]["scores"], scores, rtol=1e-5)


ERRORS = {
    "malformed JSON": ("", b'{"instances": [', 400, "JSON Parse error"),
    "bad base64": ("", {"instances": [{"b64": "not base64!"}]}, 400, "Unable to base64 decode"),
    "not an image": ("", {"instances": [b64(b"plain text")]}, 400, "Unknown image file format"),
    "wrong signature": ("", {"signature_name": "nope", "instances": [b64(IMAGES[0])]}, 400,
                        'Serving signature name: "nope" not found'),
    "no instances or inputs": ("", {"signature_name": "similar"}, 400, "Missing 'inputs' or 'instances' key"),
    "scalar k in rows": ("", {"signature_name": "similar", "instances": [{"images": b64(IMAGES[0]), "k": 3}]},
                         400, r"input 'k' must have shape \[\]"),
    "unknown model": ("/../nope", {"instances": [b64(IMAGES[0])]}, 404, r"Servable not found for request: Latest\(nope\)"),
    "unknown version": ("/versions/9", {"instances": [b64(IMAGES[0])]}, 404, r"Specific\(fx, 9\)"),
}


@pytest.mark.parametrize("kind", sorted(ERRORS))
def test_errors_are_tf_serving_json_with_http_status(server, kind):
    _, url = server
    suffix, body, code, message = ERRORS[kind]
    target = url.rsplit("/", 1)[0] + "/nope" if suffix == "/../nope" else url + suffix
    status, answer = http_json("POST", f"{target}:predict", body)
    assert status == code and set(answer) == {"error"}
    assert pytest.importorskip("re").search(message, answer["error"]), answer


def test_unknown_model_status_and_malformed_path(server):
    _, url = server
    status, answer = http_json("GET", url.rsplit("/", 1)[0] + "/nope")
    assert status == 404 and "Could not find any versions of model nope" in answer["error"]
    status, answer = http_json("GET", url.rsplit("/", 2)[0] + "/modelz")
    assert status == 400 and answer["error"].startswith("Malformed request: GET /v1/modelz")


def test_concurrent_grpc_and_rest_requests_share_batches(server):
    """Every request gets its own rows back, whether it arrived by gRPC or REST; one bad
    image in a batch fails only its own request."""
    client, url = server
    expected = client.predict({"images": np.array(IMAGES, dtype=object)})["embedding"]
    results, errors = {}, {}

    def by_grpc(i):
        with Client(client.target, timeout=30.0, model=MODEL) as own:
            results[("grpc", i)] = own.embed([IMAGES[i]])[0]

    def by_rest(i):
        status, body = http_json("POST", f"{url}:predict", {"instances": [b64(IMAGES[i])]})
        results[("rest", i)] = np.asarray(body["predictions"][0]["embedding"]) if status == 200 else body

    def bad():
        try:
            client.embed(b"not an image")
        except InvalidArgumentError as error:
            errors["bad"] = error

    threads = [threading.Thread(target=fn, args=(i,)) for i in range(len(IMAGES)) for fn in (by_grpc, by_rest)]
    threads.append(threading.Thread(target=bad))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2 * len(IMAGES)
    for (_, i), vector in results.items():
        np.testing.assert_allclose(vector, expected[i], rtol=1e-5, atol=1e-6)
    assert "Unknown image file format" in errors["bad"].details


def test_full_batch_queue_is_unavailable_over_grpc_and_503_over_rest(repository):
    """One waiting batch at most: a request that needs a second one is refused at once."""
    with serving(repository, "full", "max_batch_size { value: 2 } batch_timeout_micros { value: 30000000 } "
                 "num_batch_threads { value: 1 } max_enqueued_batches { value: 1 }", timeout=60.0) as (client, url):
        for first, second in (("rest", "grpc"), ("grpc", "rest")):
            done = {}

            def waiting(first=first, done=done):  # opens a batch that waits for a second image
                if first == "rest":
                    done["status"] = http_json("POST", f"{url}:predict", {"instances": [b64(IMAGES[0])]})[0]
                else:
                    done["status"] = 200 if client.embed([IMAGES[0]]).shape == (1, 16) else 0

            thread = threading.Thread(target=waiting)
            thread.start()
            time.sleep(2.0)  # let it reach the batch queue
            # Two more images do not fit that batch; the queue already holds one batch.
            if second == "grpc":
                with pytest.raises(UnavailableError, match="batch scheduling queue .* is full"):
                    client.embed(IMAGES[1:3])
            else:
                status, answer = http_json("POST", f"{url}:predict", {"instances": [b64(i) for i in IMAGES[1:3]]})
                assert status == 503 and "queue to which this task was submitted is full" in answer["error"]
            thread.join(timeout=60)
            assert done["status"] == 200  # the refused request closed the waiting batch, which then ran


def test_rest_client_reads_signatures_predicts_and_raises_typed_errors(server):
    client, url = server
    base = url.split("/v1/")[0]
    rest = RestClient(base, MODEL)
    assert rest.status()[0]["state"] == "AVAILABLE"
    assert {"serving_default", "similar"} <= set(rest.signatures())
    out = rest.predict({"images": [rest.b64(IMAGES[0])], "k": 2}, "similar")
    assert out["item_ids"] == [client.similar(IMAGES[0], k=2)[0].tolist()]
    with pytest.raises(NotFoundError, match=r"Latest\(nope\)"):
        RestClient(base, "nope").predict({"images": [rest.b64(IMAGES[0])]})
    with pytest.raises(InvalidArgumentError, match="Unknown image file format"):
        rest.predict({"images": [rest.b64(b"text")]})
    with pytest.raises(UnavailableError, match="cannot reach"):
        RestClient("http://127.0.0.1:1", MODEL, timeout=2).status()
