"""TF Serving's REST API for the stand-in server (``--rest_api_port``), on Starlette + uvicorn.

Routes, as tensorflow_model_server's HTTP handler matches them (case-insensitive):

- ``POST /v1/models/NAME[/versions/N | /labels/L]:predict`` with ``{"signature_name": ...,
  "instances": [...]}`` or ``{"inputs": ...}`` (see :mod:`fashion_tf.serving.rest_json`);
- ``GET /v1/models/NAME[/versions/N | /labels/L]`` -> the model's version status;
- ``GET /v1/models/NAME[/versions/N | /labels/L]/metadata`` -> its signature_def map.

Every error is ``{"error": "..."}`` with the HTTP status TF Serving gives the canonical
code (INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503, ...). Requests go through
the same :class:`~fashion_tf.serving.predictor.Predictor` as gRPC, so they batch together.
Starlette is a small, maintained ASGI toolkit and uvicorn its usual server: the HTTP
parsing and the connection handling are theirs, not ours.
"""
from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time

import anyio.to_thread
import grpc
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from fashion_tf.serving.predictor import Predictor, RequestError, request_too_large
from fashion_tf.serving.rest_json import inputs_from_json, outputs_to_json, parse_body

_VERSION = r"(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
PREDICT_PATH = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}:(?P<method>predict|classify|regress)",
                          re.IGNORECASE)
STATUS_PATH = re.compile(rf"/v1/models/(?P<name>[^/:]+){_VERSION}(?P<metadata>/metadata)?", re.IGNORECASE)

# TF Serving's http_server.cc ToHTTPStatusCode.
HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500, grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409, grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=1), status_code=status, media_type="application/json")


def _message_dict(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def create_app(predictor: Predictor, max_request_bytes: int, threads: int = 64) -> Starlette:
    """The ASGI app: one route for ``/v1/...`` that dispatches like TF Serving."""

    def predict(match, body: bytes) -> Response:
        if match["method"].lower() != "predict":
            raise RequestError(grpc.StatusCode.UNIMPLEMENTED,
                               f"{match['method']} is not served: fashion_tf models have predict signatures only")
        if len(body) > max_request_bytes:
            raise request_too_large(len(body), max_request_bytes)
        signature_name, fmt, value = parse_body(body)
        version = int(match["version"]) if match["version"] else None
        loaded = predictor.resolve(match["name"], version, match["label"])
        name, signature = predictor.signature(loaded, signature_name)
        outputs = predictor.predict(loaded, name, inputs_from_json(fmt, value, signature))
        return _json(outputs_to_json(fmt, outputs))

    def status(match) -> Response:
        version = int(match["version"]) if match["version"] else None
        if match["metadata"]:
            loaded = predictor.resolve(match["name"], version, match["label"])
            spec = {"name": loaded.name, "signature_name": "", "version": str(loaded.version)}
            return _json({"model_spec": spec,
                          "metadata": {"signature_def": _message_dict(predictor.signature_def_map(loaded))}})
        return _json(_message_dict(predictor.status(match["name"], version, match["label"])))

    def handle(request: Request, body: bytes) -> Response:
        path, method = request.url.path, request.method
        try:
            if method == "POST" and (match := PREDICT_PATH.fullmatch(path)):
                return predict(match, body)
            if method == "GET" and (match := STATUS_PATH.fullmatch(path)):
                return status(match)
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: {method} {path}")
        except RequestError as error:
            return _json({"error": error.message}, HTTP_STATUS.get(error.code, 500))

    def too_large(size: int) -> Response:
        error = request_too_large(size, max_request_bytes)
        return _json({"error": error.message}, HTTP_STATUS[error.code])

    async def read_body(request: Request) -> bytes | Response:
        """The body, read no further than the limit: a huge body is refused by its
        Content-Length, or once it streams past the limit, never held in memory."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_request_bytes:
            return too_large(int(declared))
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_request_bytes:
                    return too_large(size)
                chunks.append(chunk)
        except ClientDisconnect:  # the client gave up mid-body: nobody to answer
            return Response(status_code=499)
        return b"".join(chunks)

    async def endpoint(request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        # The model call blocks (and may wait for a batch): run it on a worker thread.
        return await run_in_threadpool(handle, request, body)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        # Blocking model calls hold a worker thread each (anyio's default pool: 40).
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    return Starlette(routes=[Route("/v1/{rest:path}", endpoint, methods=["GET", "POST"])], lifespan=lifespan)


class RestServer:
    """uvicorn serving :func:`create_app` on its own thread; ``port`` is the bound port."""

    def __init__(self, predictor: Predictor, host: str, port: int, max_request_bytes: int, threads: int = 64):
        import uvicorn

        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        app = create_app(predictor, max_request_bytes, threads)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="rest", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; returns once uvicorn listens (so "Exporting HTTP/REST API" is true)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the REST server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self, grace_seconds: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=grace_seconds + 5)
        self._socket.close()
