"""Integration tests: fashion_tf.serving.server in a subprocess, queried with the Client
(docs/design.md, "Architecture").

One server per module (starting one imports TensorFlow, ~5 s), started with a
models.config serving `fx` (brute-force index) and `fx_scann` (ScaNN index in the
graph). The tests run in file order: first queries against version 1, then bad
requests, then a new version (2) appearing, then half-written exports. The SIGTERM
test starts its own server with --model_name/--model_base_path.
"""
from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import server_process
import tensorflow as tf
from server_process import stop_server, wait_until
from serving_fixtures import build_fixture_model, png_bytes

from fashion_tf.serving import Client, InvalidArgumentError, NotFoundError, ServingError
from fashion_tf.serving import client as client_cli

ROOT = Path(__file__).resolve().parent.parent
MODEL = "fx"
SCANN_MODEL = "fx_scann"
MAX_REQUEST_BYTES = 200_000


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    build_fixture_model(root / MODEL / "1", seed=0)
    build_fixture_model(root / "staging" / "v2", seed=1)  # becomes version 2 mid-test
    build_fixture_model(root / SCANN_MODEL / "1", seed=0, scann=True)
    (root / "models.config").write_text(f"""
model_config_list {{
  config {{ name: "{MODEL}" base_path: "{MODEL}" model_platform: "tensorflow" }}
  config {{ name: "{SCANN_MODEL}" base_path: "{root / SCANN_MODEL}" model_platform: "tensorflow" }}
}}""")
    return root


def start_server(repository, *model_args, log_name="server.log"):
    """(process, target) of a server on a free 127.0.0.1 port, once `MODEL` is AVAILABLE."""
    return server_process.start_server(
        MODEL, repository / log_name, *model_args,
        "--file_system_poll_wait_seconds", "1", "--max_request_bytes", str(MAX_REQUEST_BYTES),
    )


@pytest.fixture(scope="module")
def server(repository):
    process, target = start_server(repository, "--model_config_file", str(repository / "models.config"))
    try:
        yield process, target, repository
    finally:
        stop_server(process)


@pytest.fixture(scope="module")
def client(server):
    with Client(server[1], timeout=30.0, model=MODEL) as c:
        yield c


def in_process(path, signature, **inputs):
    loaded = tf.saved_model.load(str(path))
    outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


IMAGES = [png_bytes(seed) for seed in range(3)]


def test_status_and_metadata(client):
    assert client.status() == [{"version": 1, "state": "AVAILABLE", "error_code": 0, "error_message": ""}]
    meta = client.metadata()
    assert meta["model"] == MODEL and meta["version"] == 1
    assert meta["signatures"]["serving_default"]["inputs"] == {"images": "DT_STRING[-1]"}
    assert meta["signatures"]["similar"]["inputs"] == {"images": "DT_STRING[-1]", "k": "DT_INT32[]"}
    assert set(meta["signatures"]["serving_default"]["outputs"]) == {"embedding", "label_probs", "top_labels"}


def test_raw_metadata_is_a_packed_signature_def_map(server):
    """What TF Serving returns: metadata["signature_def"] is an Any holding a SignatureDefMap."""
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        prediction_service_pb2_grpc,
    )

    with grpc.insecure_channel(server[1]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = MODEL
        response = stub.GetModelMetadata(request, timeout=30)
    any_message = response.metadata["signature_def"]
    assert any_message.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert any_message.Unpack(signature_map)
    assert signature_map.signature_def["similar"].method_name == "tensorflow/serving/predict"


def test_results_equal_in_process_model(client, repository):
    expected = in_process(repository / MODEL / "1", "serving_default", images=IMAGES)
    np.testing.assert_allclose(client.embed(IMAGES), expected["embedding"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(client.label_probs(IMAGES), expected["label_probs"], rtol=1e-5, atol=1e-6)
    labels = client.labels(IMAGES)
    assert [[name for name, _ in row] for row in labels] == [[b.decode() for b in row] for row in expected["top_labels"]]
    assert labels[0][0][1] == pytest.approx(expected["label_probs"][0].max(), rel=1e-5)
    single = client.embed(IMAGES[0])
    assert single.shape == expected["embedding"][0].shape

    similar = in_process(repository / MODEL / "1", "similar", images=IMAGES[:1], k=np.int32(4))
    ids, scores = client.similar(IMAGES[0], k=4)
    assert list(ids) == [b.decode() for b in similar["item_ids"][0]]
    np.testing.assert_allclose(scores, similar["scores"][0], rtol=1e-5, atol=1e-6)
    ids, scores = client.similar(IMAGES, k=2)
    assert ids.shape == (3, 2) and scores.shape == (3, 2)


def test_images_as_paths_and_arrays(client, tmp_path):
    rgb = np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "query.png"
    path.write_bytes(client_cli.encode_image(rgb))
    from_array, from_path = client.embed(rgb), client.embed(path)
    np.testing.assert_allclose(from_array, from_path, rtol=1e-6)
    np.testing.assert_allclose(client.embed(np.stack([rgb, rgb])), [from_array, from_array], rtol=1e-6)


BAD_REQUESTS = {
    "wrong dtype": (lambda c: c.predict({"images": np.zeros(2, np.float32)}), "must be DT_STRING, got DT_FLOAT"),
    "wrong shape": (lambda c: c.predict({"images": np.array([[IMAGES[0]]], dtype=object)}),
                    r"must have shape \[None\], got \[1, 1\]"),
    "undecodable image": (lambda c: c.embed(b"this is not an image"), "Unknown image file format"),
    "k too small": (lambda c: c.similar(IMAGES[0], k=0), "k' must be at least 1"),
    "k too large": (lambda c: c.similar(IMAGES[0], k=1000), "k must be at most 24"),
    "missing input": (lambda c: c.predict({"images": np.array([IMAGES[0]], dtype=object)}, signature_name="similar"),
                      r"missing \['k'\]"),
    "unexpected input": (lambda c: c.predict({"images": np.array([IMAGES[0]], dtype=object), "extra": np.int32(1)}),
                         r"unexpected \['extra'\]"),
    "unknown signature": (lambda c: c.predict({"images": np.array([IMAGES[0]], dtype=object)}, signature_name="nope"),
                          'signature name: "nope" not found'),
    "unknown output_filter": (lambda c: c.predict({"images": np.array([IMAGES[0]], dtype=object)},
                                                  output_filter=["nope"]), "output_filter"),
}


@pytest.mark.parametrize("kind", sorted(BAD_REQUESTS))
def test_bad_requests_get_invalid_argument_and_server_stays_up(client, kind):
    call, message = BAD_REQUESTS[kind]
    with pytest.raises(InvalidArgumentError, match=message) as info:
        call(client)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert client.embed(IMAGES[:1]).shape == (1, 16)  # still answering good requests


def test_payload_over_the_limit_is_resource_exhausted(client):
    """Over --max_request_bytes the server refuses with RESOURCE_EXHAUSTED and says which
    flag; above gRPC's receive limit (max(2 x --max_request_bytes, that + 1 MiB)) gRPC
    itself refuses with the same code, as TF Serving does."""
    with pytest.raises(ServingError, match="exceeds the limit of 200000 bytes") as info:
        client.embed(b"x" * (MAX_REQUEST_BYTES + 1000))
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(ServingError) as info:
        client.embed(b"x" * (MAX_REQUEST_BYTES + (1 << 20) + 1000))
    assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert client.embed(IMAGES[:1]).shape == (1, 16)


def test_unknown_model_or_version_is_not_found(client):
    for call in (lambda: client.embed(IMAGES[0], model="nope"), lambda: client.embed(IMAGES[0], version=9),
                 lambda: client.status(model="nope"), lambda: client.status(version=9),
                 lambda: client.metadata(model="nope")):
        with pytest.raises(NotFoundError):
            call()
    assert client.status()[0]["state"] == "AVAILABLE"


def test_cli_prints_labels_and_neighbours(server, tmp_path, capsys):
    image = tmp_path / "q.png"
    image.write_bytes(IMAGES[0])
    code = client_cli.main(["--target", server[1], "--model", MODEL, "--image", str(image), "--k", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "status: v1 AVAILABLE" in out and "similar (k=3):" in out and "item_" in out and "labels: label_" in out
    code = client_cli.main(["--target", server[1], "--model", "nope", "--image", str(image)])
    assert code == 1 and "NOT_FOUND" in capsys.readouterr().err


def test_new_version_is_picked_up_without_dropping_requests(client, repository):
    before = client.embed(IMAGES)
    failures, calls = [], [0]
    stop = threading.Event()

    def hammer():  # requests in flight while the version switches must all succeed
        with Client(client.target, timeout=30.0, model=MODEL) as own:
            while not stop.is_set():
                try:
                    own.embed(IMAGES[:1])
                    calls[0] += 1
                except ServingError as error:
                    failures.append(error)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        # Like fashion_tf.export: write beside, then rename into place.
        shutil.copytree(repository / "staging" / "v2", repository / MODEL / ".tmp-2-1")
        (repository / MODEL / ".tmp-2-1").rename(repository / MODEL / "2")
        wait_until(lambda: client.metadata()["version"] == 2, 60, "version 2 to be served")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert failures == [] and calls[0] > 0
    status = {s["version"]: s["state"] for s in client.status()}
    assert status == {2: "AVAILABLE", 1: "END"}
    after = client.embed(IMAGES)
    expected = in_process(repository / MODEL / "2", "serving_default", images=IMAGES)["embedding"]
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(after, before)
    with pytest.raises(NotFoundError):
        client.embed(IMAGES[0], version=1)


def test_half_written_exports_are_never_loaded(client, repository):
    base = repository / MODEL
    shutil.copytree(repository / "staging" / "v2", base / ".tmp-3-4242")   # export still writing
    shutil.copytree(repository / "staging" / "v2", base / "3.partial")     # other temp naming
    (base / "4" / "variables").mkdir(parents=True)                        # no saved_model.pb yet
    time.sleep(3.5)  # three poll periods
    assert {s["version"] for s in client.status()} == {1, 2}
    assert client.metadata()["version"] == 2
    assert client.embed(IMAGES[:1]).shape == (1, 16)


def test_scann_model_is_served(client, repository):
    """The server loads the Scann ops, so a ScaNN index in the graph works."""
    from scann.scann_ops.py import scann_ops  # noqa: F401  (registers the ops here too)

    expected = in_process(repository / SCANN_MODEL / "1", "similar", images=IMAGES[:1], k=np.int32(5))
    ids, scores = client.similar(IMAGES[0], k=5, model=SCANN_MODEL)
    assert list(ids) == [b.decode() for b in expected["item_ids"][0]]
    np.testing.assert_allclose(scores, expected["scores"][0], rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="k must be at most 24"):
        client.similar(IMAGES[0], k=25, model=SCANN_MODEL)


def test_sigterm_shuts_down_cleanly(repository):
    process, target = start_server(repository, "--model_name", MODEL, "--model_base_path", str(repository / MODEL),
                                   log_name="sigterm.log")
    try:
        with Client(target, timeout=30.0, model=MODEL) as own:
            assert own.embed(IMAGES[:1]).shape == (1, 16)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "server stopped" in (repository / "sigterm.log").read_text()
    finally:
        stop_server(process)
