"""Reliability and exposure of the stand-in model server, against a started server:
decompression bombs refused from the image header on every image signature (gRPC and
REST) with memory bounded, REST bodies not read past --max_request_bytes, loopback bind
by default, model names and version directories that cannot leave the base path, a
Hypothesis corpus of malformed Predict requests, and the client's retry policy bringing
every request to an answer across a server restart. Tests run in file order; the
restart test is last."""
from __future__ import annotations

import base64
import socket
import threading

import cv2
import grpc
import numpy as np
import pytest
import server_process
from bad_requests import (
    bmp_declaring,
    gif_declaring,
    jpeg_declaring,
    malformed_requests,
    png_bomb,
    webp_declaring,
)
from hypothesis import HealthCheck, given, settings
from server_process import free_port, http_json, stop_server
from serving_fixtures import build_fixture_model, png_bytes

from fashion_tf.serving.image_limits import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_REQUEST_PIXELS, declared_size
from fashion_tf.serving.model_manager import (
    check_model_name,
    read_model_config,
    version_directories,
)
from fashion_tf.serving.server import parse_args
from fashion_tf_client import (
    Client,
    NotFoundError,
    ResourceExhaustedError,
    RetryPolicy,
    UnavailableError,
)
from fashion_tf_client import messages as pb
from fashion_tf_client.rest import RestClient

MODEL = "fx"
CATALOG = 24
MAX_REQUEST_BYTES = 1_000_000
MAX_REQUEST_PIXELS = 30_000_000  # under the default, over the per-image limit: both limits are tried
IMAGE = png_bytes(0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A mutable record of the running server: the restart test replaces its process."""
    root = tmp_path_factory.mktemp("reliability")
    build_fixture_model(root / MODEL / "1", seed=0, num_items=CATALOG)
    rest_port = free_port()
    args = ("--model_name", MODEL, "--model_base_path", str(root / MODEL), "--rest_api_port", str(rest_port),
            "--max_request_bytes", str(MAX_REQUEST_BYTES), "--max_request_pixels", str(MAX_REQUEST_PIXELS))
    process, target = server_process.start_server(MODEL, root / "server.log", *args)
    state = {"process": process, "target": target, "args": args, "log": root / "server.log",
             "rest": f"http://127.0.0.1:{rest_port}/v1/models/{MODEL}"}
    try:
        yield state
    finally:
        stop_server(state["process"])


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def read_response(sock) -> str:
    """A whole HTTP response (headers and Content-Length body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
            data.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0]):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


# -- image headers ------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
def test_declared_size_of_real_encodings(ext):
    pixels = np.zeros((37, 53, 3), np.uint8)
    fmt, size = declared_size(cv2.imencode(ext, pixels)[1].tobytes())
    assert size == (53, 37) and fmt.lower().startswith(ext[1:4].replace("jpg", "jpe"))


def test_declared_size_of_bombs_and_non_images():
    assert declared_size(png_bomb(20000, 20000)) == ("PNG", (20000, 20000))
    assert declared_size(jpeg_declaring(20000, 12000)) == ("JPEG", (20000, 12000))
    assert declared_size(gif_declaring(60000, 9)) == ("GIF", (60000, 9))
    assert declared_size(bmp_declaring(30000, 30000)) == ("BMP", (30000, 30000))
    assert declared_size(webp_declaring(16000, 300)) == ("WebP", (16000, 300))
    assert declared_size(b"not an image") is None
    assert declared_size(jpeg_declaring(10, 10)[:6]) == ("JPEG", None)  # cut before the frame header
    # Garbage between JPEG segments is skipped, as libjpeg does: the frame header is still found.
    jpeg = jpeg_declaring(20000, 20000)
    cut = jpeg.index(b"\xff\xdb")  # after the APP0 segment
    assert declared_size(jpeg[:cut] + b"\x00junk" + jpeg[cut:]) == ("JPEG", (20000, 20000))


def test_png_bomb_is_small_and_really_decodes_to_its_declared_size():
    bomb = png_bomb(3000, 2000)
    assert len(png_bomb(20000, 20000)) < 500_000
    image = cv2.imdecode(np.frombuffer(bomb, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (2000, 3000) and image.max() == 0


# -- bombs and body limits against the server ----------------------------------------
def test_bombs_are_refused_before_decoding_on_every_image_signature(server):
    bomb = png_bomb(20000, 20000)  # 1.2 GB once decoded to RGB
    with Client(server["target"], timeout=60, model=MODEL) as client:
        client.similar(IMAGE, k=3)
        http_json("POST", server["rest"] + ":predict", {"instances": [b64(IMAGE)]})
        before = rss_bytes(server["process"].pid)
        for call in (lambda: client.embed(bomb), lambda: client.similar(bomb, k=3),
                     lambda: client.embed([IMAGE, jpeg_declaring(20000, 20000)]),
                     lambda: client.labels(gif_declaring(65535, 65535))):
            with pytest.raises(ResourceExhaustedError, match=r"declares \d+ x \d+ = \d+ pixels, over the limit of "
                                                             f"{DEFAULT_MAX_IMAGE_PIXELS}"):
                call()
        status, body = http_json("POST", server["rest"] + ":predict",
                                 {"signature_name": "similar", "inputs": {"images": [b64(bomb)], "k": 3}})
        assert status == 429 and "PNG header declares 20000 x 20000" in body["error"]
        growth = rss_bytes(server["process"].pid) - before
        assert growth < 150 * 2**20, f"server memory grew by {growth / 2**20:.0f} MB"
        assert client.embed(IMAGE).shape == (16,)


def test_many_medium_images_in_one_request_are_refused_together(server):
    """Eight 4 MP headers (each under --max_image_pixels) declare 32 MP together: over the
    request's --max_request_pixels, refused before any is decoded; seven (28 MP) are
    decoded and answered (libjpeg fills what the rewritten JPEGs lack)."""
    assert MAX_REQUEST_PIXELS < DEFAULT_MAX_REQUEST_PIXELS and 2000 * 2000 < DEFAULT_MAX_IMAGE_PIXELS
    medium = [jpeg_declaring(2000, 2000, seed) for seed in range(8)]
    with Client(server["target"], timeout=60, model=MODEL) as client:
        with pytest.raises(ResourceExhaustedError, match=r"request's 8 images declare 32000000 pixels in all, "
                                                         r"over the limit of 30000000 per request \(--max_request_pixels"):
            client.embed(medium)
        assert client.embed(medium[:7]).shape == (7, 16)
        status, body = http_json("POST", server["rest"] + ":predict", {"instances": [b64(m) for m in medium]})
        assert status == 429 and "--max_request_pixels" in body["error"]
        assert client.embed([IMAGE] * 3).shape == (3, 16)


def test_rest_body_over_the_limit_is_refused_without_being_read(server):
    """RESOURCE_EXHAUSTED (HTTP 429, TF Serving's status for it), before the body is read."""
    host, port = server["rest"].split("//")[1].split("/")[0].split(":")
    path = server["rest"].split(port, 1)[1] + ":predict"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        # Declares 50 MB and sends 10 bytes: the answer comes without the rest being sent.
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {50_000_000}\r\n\r\n".encode() + b'{"inputs":')
        answer = read_response(sock)
    assert answer.startswith("HTTP/1.1 429") and "request of 50000000 bytes exceeds the limit" in answer
    # A chunked body (no Content-Length) is cut off once it streams past the limit.
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        piece = b"x" * 65536
        for _ in range(MAX_REQUEST_BYTES // len(piece) + 2):
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        answer = read_response(sock)
    assert answer.startswith("HTTP/1.1 429") and f"exceeds the limit of {MAX_REQUEST_BYTES} bytes" in answer


# -- exposure ------------------------------------------------------------------------
def test_server_binds_loopback_unless_told_otherwise():
    assert parse_args(["--model_base_path", "x"]).host == "127.0.0.1"
    assert parse_args(["--model_base_path", "x", "--host", "0.0.0.0"]).host == "0.0.0.0"


@pytest.mark.parametrize("name", ["../fx", "/etc", "a/b", "..", "fx/../../x", "", ".hidden"])
def test_model_names_cannot_be_paths(name, tmp_path):
    with pytest.raises(ValueError, match="not a valid model name"):
        check_model_name(name)
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "{name}" base_path: "fx" }} }}')
    with pytest.raises(ValueError, match="not a valid model name|needs a name"):
        read_model_config(config)


def test_path_like_model_names_in_requests_are_not_found(server):
    with Client(server["target"], timeout=30) as client:
        for name in ("../fx", "/fx", "fx/1", ".."):
            with pytest.raises(NotFoundError):
                client.embed(IMAGE, model=name)
    for path in ("/v1/models/..%2Ffx:predict", "/v1/models/%2E%2E:predict"):
        status, _ = http_json("POST", server["rest"].split("/v1/")[0] + path, {"instances": [b64(IMAGE)]})
        assert status in (400, 404)


def test_version_directories_cannot_be_symlinks_out_of_the_base_path(tmp_path):
    base, outside = tmp_path / "repo" / "fx", tmp_path / "elsewhere"
    for directory in (base / "1", base / ".staging" / "2", outside / "7"):
        directory.mkdir(parents=True)
        (directory / "saved_model.pb").write_bytes(b"")
    (base / "2").symlink_to(base / ".staging" / "2")  # inside the base path: fine
    (base / "7").symlink_to(outside / "7")            # outside: ignored
    (base / "8").symlink_to("../../elsewhere/7")      # relative, outside: ignored
    assert sorted(version_directories(base)) == [1, 2]


# -- malformed requests --------------------------------------------------------------
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=malformed_requests(MODEL, IMAGE, CATALOG, MAX_REQUEST_PIXELS))
def test_malformed_requests_are_refused_and_the_server_keeps_answering(server, case):
    what, request, expected = case
    with grpc.insecure_channel(server["target"]) as channel:
        stub = pb.Stub(channel, pb.PREDICTION_SERVICE)
        try:
            response = stub.Predict(request, timeout=60)
            code = "OK"
            assert all(tensor.tensor_shape.dim[0].size == 0 for tensor in response.outputs.values()), what
        except grpc.RpcError as error:
            code = error.code().name
        assert code in expected, f"{what}: got {code}, expected {expected}"
        good = pb.PredictRequest()
        good.model_spec.name = MODEL
        good.inputs["images"].CopyFrom(pb.TensorProto(dtype=pb.DT_STRING, string_val=[IMAGE],
                                                      tensor_shape={"dim": [{"size": 1}]}))
        assert stub.Predict(good, timeout=60).outputs["embedding"].tensor_shape.dim[1].size == 16


# -- retries across a restart (last: replaces the server process) --------------------
def test_retry_policy_backoff_and_validation():
    policy = RetryPolicy(max_attempts=6, initial_backoff=0.1, max_backoff=0.5, multiplier=2, jitter=0)
    assert list(policy.backoffs()) == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    for bad in ({"max_attempts": 0}, {"initial_backoff": 2, "max_backoff": 1}, {"jitter": 1.5}):
        with pytest.raises(ValueError, match="RetryPolicy"):
            RetryPolicy(**bad)


def test_with_retries_no_request_is_lost_when_the_server_restarts(server):
    policy = RetryPolicy(max_attempts=400, initial_backoff=0.05, max_backoff=0.5)
    answered, lost, stop = [], [], threading.Event()

    def worker():
        with Client(server["target"], timeout=30, model=MODEL, retry=policy) as client:
            while not stop.is_set():
                try:
                    answered.append(client.embed(IMAGE).shape)
                except Exception as error:  # noqa: BLE001  (any failure is a lost request)
                    lost.append(repr(error))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    server_process.wait_until(lambda: len(answered) >= 8, 60, "answers before the restart")
    stop_server(server["process"])  # SIGKILL mid-requests
    with Client(server["target"], timeout=5, model=MODEL) as plain, pytest.raises(UnavailableError):
        plain.embed(IMAGE)  # no retry by default: fails at once while the server is down
    before_restart = len(answered)
    port = int(server["target"].rsplit(":", 1)[1])
    server["process"], _ = server_process.start_server(MODEL, server["log"], *server["args"], port=port)
    server_process.wait_until(lambda: len(answered) >= before_restart + 8, 60, "answers after the restart")
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert lost == [] and len(answered) >= before_restart + 8 and set(answered) == {(16,)}


def test_rest_client_retries_503_with_a_policy_and_not_without():
    """A real HTTP server that answers 503 (TF Serving's UNAVAILABLE) twice, then the status."""
    import http.server
    import json

    answers = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            answers.append(self.path)
            status, body = (503, {"error": "queue full"}) if len(answers) % 3 else (200, {"model_version_status": []})
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with pytest.raises(UnavailableError, match="queue full"):
            RestClient(url, MODEL).status()
        assert len(answers) == 1
        answers.clear()
        policy = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
        assert RestClient(url, MODEL, retry=policy).status() == []
        assert len(answers) == 3
    finally:
        httpd.shutdown()
