"""``python -m fashion_tf.serving.server``: a TF Serving-protocol model server.

TensorFlow Serving is a C++ binary that cannot be installed on these machines; this is
the stand-in for tests and laptops. It speaks the same gRPC API -- PredictionService.Predict
and GetModelMetadata, ModelService.GetModelStatus, with the wire-compatible messages of
:mod:`fashion_tf_client.messages` -- over the same model repository layout and
models.config, and takes tensorflow_model_server's flag names, so a client cannot tell
them apart::

    python -m fashion_tf.serving.server --port 8500 --model_name fashion --model_base_path export/fashion
    python -m fashion_tf.serving.server --port 8500 --model_config_file serving/models.config
    python -m fashion_tf.serving.server --port 8500 --rest_api_port 8501 --enable_batching \
        --batching_parameters_file serving/batching_parameters.txt --model_name fashion --model_base_path export/fashion

``--rest_api_port`` also serves TF Serving's REST API (:mod:`fashion_tf.serving.rest`);
``--enable_batching`` batches concurrent gRPC and REST requests to a signature together
(:mod:`fashion_tf.serving.batching`), and answers UNAVAILABLE (HTTP 503) when the batch
queue is full.
Bad requests get INVALID_ARGUMENT with a readable message (wrong dtype or shape, missing
or unexpected inputs, unknown signature, undecodable image, k out of range); requests
over a limit get RESOURCE_EXHAUSTED (a payload over ``--max_request_bytes``, an image
whose header declares more than ``--max_image_pixels``, images declaring more than
``--max_request_pixels`` together), as gRPC itself answers a message over its receive
limit (2 x --max_request_bytes) and TF Serving does too; unknown models or versions get
NOT_FOUND; the server stays up. The server binds
127.0.0.1 unless ``--host`` says otherwise. SIGTERM
stops accepting calls, lets running ones finish (``--shutdown_grace_seconds``) and exits 0.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc

import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)
from fashion_tf.serving.batching import Batcher, BatchingParameters
from fashion_tf.serving.image_limits import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_REQUEST_PIXELS
from fashion_tf.serving.model_manager import LoadedVersion, ModelManager, ModelSpec, check_model_name, read_model_config
from fashion_tf.serving.predictor import Predictor, RequestError, request_too_large
from fashion_tf.serving.rest import RestServer
from fashion_tf_client import messages as pb
from fashion_tf_client.tensors import dtype_name, make_ndarray, make_tensor_proto

log = logging.getLogger("fashion_tf.serving")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


class Servicer:
    """PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus) over gRPC."""

    def __init__(self, predictor: Predictor, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.predictor = predictor
        self.max_request_bytes = max_request_bytes

    def _resolve(self, model_spec) -> LoadedVersion:
        version = model_spec.version.value if model_spec.HasField("version") else None
        return self.predictor.resolve(model_spec.name, version, model_spec.version_label)

    @staticmethod
    def _guarded(handler, request, context):
        try:
            return handler(request)
        except RequestError as error:
            context.abort(error.code, error.message)

    # -- PredictionService ---------------------------------------------------------
    def Predict(self, request, context):
        return self._guarded(self._predict, request, context)

    def _predict(self, request):
        size = request.ByteSize()
        if size > self.max_request_bytes:
            raise request_too_large(size, self.max_request_bytes)
        loaded = self._resolve(request.model_spec)
        name, signature = self.predictor.signature(loaded, request.model_spec.signature_name)
        inputs = {}
        for key, proto in request.inputs.items():
            spec = signature.inputs.get(key)
            if spec is not None and proto.dtype != spec.dtype:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"input '{key}' must be {dtype_name(spec.dtype)}, got {dtype_name(proto.dtype)}")
            try:
                inputs[key] = make_ndarray(proto)
            except (TypeError, ValueError) as error:
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input '{key}': {error}") from None
        outputs = self.predictor.predict(loaded, name, inputs, list(request.output_filter))
        response = pb.PredictResponse()
        response.model_spec.name = loaded.name
        response.model_spec.version.value = loaded.version
        response.model_spec.signature_name = name
        for key, value in outputs.items():
            make_tensor_proto(value, dtype=signature.outputs[key].dtype, into=response.outputs[key])
        return response

    def GetModelMetadata(self, request, context):
        return self._guarded(self._metadata, request, context)

    def _metadata(self, request):
        fields = list(request.metadata_field)
        if not fields:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               "GetModelMetadataRequest must specify at least one metadata_field")
        unsupported = [f for f in fields if f != "signature_def"]
        if unsupported:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {unsupported[0]} is not supported")
        loaded = self._resolve(request.model_spec)
        response = pb.GetModelMetadataResponse()
        response.model_spec.name = loaded.name
        response.model_spec.version.value = loaded.version
        response.metadata["signature_def"].Pack(self.predictor.signature_def_map(loaded))
        return response

    # -- ModelService --------------------------------------------------------------
    def GetModelStatus(self, request, context):
        return self._guarded(self._status, request, context)

    def _status(self, request):
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        return self.predictor.status(spec.name, version, spec.version_label)


def load_scann_ops() -> bool:
    """Register the Scann TF ops so a SavedModel with a ScaNN index in its graph loads."""
    try:
        from scann.scann_ops.py import scann_ops  # noqa: F401  (loads the op library)
    except Exception as error:  # noqa: BLE001  (scann missing or built for another TF: plain models still work)
        log.warning("ScaNN ops not available (%s); models with a ScaNN index will fail to load", error)
        return False
    return True


def _flag_bool(text: str) -> bool:
    return str(text).lower() in ("1", "true", "yes", "on")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.serving.server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (0: pick a free one and print it)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; only this machine by default (TF Serving binds 0.0.0.0: "
                             "pass --host 0.0.0.0 to serve other machines, behind a firewall or proxy)")
    parser.add_argument("--model_config_file", default=None, help="text-format ModelServerConfig (models.config)")
    parser.add_argument("--model_name", default="default")
    parser.add_argument("--model_base_path", default=None, help="directory holding integer version directories")
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                        help="seconds between scans for new versions (0: scan once at start)")
    parser.add_argument("--rest_api_port", type=int, default=0,
                        help="port of TF Serving's REST API (0: no REST; -1: pick a free one and print it)")
    parser.add_argument("--enable_batching", type=_flag_bool, nargs="?", const=True, default=False,
                        help="batch concurrent requests to a signature together (gRPC and REST alike)")
    parser.add_argument("--batching_parameters_file", default=None,
                        help="text-format BatchingParameters (serving/batching_parameters.txt); "
                             "TF Serving's defaults without it")
    parser.add_argument("--grpc_max_threads", type=int, default=64,
                        help="worker threads for RPCs (with batching: about 2 x max_batch_size, as TF Serving advises)")
    parser.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help="larger Predict requests (gRPC message or REST body) get RESOURCE_EXHAUSTED")
    parser.add_argument("--max_image_pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
                        help="images whose header declares more pixels (width x height) get RESOURCE_EXHAUSTED "
                             "before decoding: decompression bombs never allocate (0: no limit)")
    parser.add_argument("--max_request_pixels", type=int, default=DEFAULT_MAX_REQUEST_PIXELS,
                        help="requests whose images declare more pixels together get RESOURCE_EXHAUSTED before "
                             "decoding: a batch of many medium images cannot add up to gigabytes (0: no limit)")
    parser.add_argument("--shutdown_grace_seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if bool(args.model_config_file) == bool(args.model_base_path):
        parser.error("give exactly one of --model_config_file or --model_base_path")
    return args


def build_server(args, predictor: Predictor) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) gRPC server bound to args.host:args.port."""
    grpc_limit = max(2 * args.max_request_bytes, args.max_request_bytes + (1 << 20))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.grpc_max_threads, thread_name_prefix="rpc"),
        options=[("grpc.max_receive_message_length", grpc_limit),
                 ("grpc.max_send_message_length", -1),
                 ("grpc.so_reuseport", 0)],
    )
    servicer = Servicer(predictor, args.max_request_bytes)
    pb.add_servicer(server, pb.PREDICTION_SERVICE, servicer)
    pb.add_servicer(server, pb.MODEL_SERVICE, servicer)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    if port == 0:
        raise OSError(f"cannot bind {args.host}:{args.port}")
    return server, port


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        specs = (read_model_config(args.model_config_file) if args.model_config_file
                 else [ModelSpec(check_model_name(args.model_name, "--model_name"), Path(args.model_base_path))])
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    batcher = None
    if args.enable_batching:
        try:
            params = (BatchingParameters.read(args.batching_parameters_file) if args.batching_parameters_file
                      else BatchingParameters())
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        batcher = Batcher(params)
        log.info("batching: %s", params)
    load_scann_ops()
    manager = ModelManager(specs, args.file_system_poll_wait_seconds)
    manager.refresh_all()  # like TF Serving: initial versions are loaded before serving starts
    for spec in specs:
        if not manager.models[spec.name].versions:
            log.warning("no servable version of %s yet under %s; polling", spec.name, spec.base_path)
    predictor = Predictor(manager, batcher, args.max_image_pixels, args.max_request_pixels)
    rest = None
    try:
        server, port = build_server(args, predictor)
        if args.rest_api_port:
            rest = RestServer(predictor, args.host, max(args.rest_api_port, 0), args.max_request_bytes,
                              threads=max(64, args.grpc_max_threads))
    except (OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if rest is not None:
        rest.start()  # before gRPC: a client that sees the model AVAILABLE can use REST too
    server.start()
    manager.start_polling()
    models = ", ".join(f"{n} (versions {sorted(m.versions) or 'none yet'})" for n, m in manager.models.items())
    print(f"Running gRPC ModelServer at {args.host}:{port} serving {models}", flush=True)
    if rest is not None:
        print(f"Exporting HTTP/REST API at:{args.host}:{rest.port} ...", flush=True)
    while not stop.wait(0.5):
        pass
    log.info("shutting down: finishing running calls (up to %.0fs)", args.shutdown_grace_seconds)
    stopped = server.stop(args.shutdown_grace_seconds)
    if rest is not None:
        rest.stop(args.shutdown_grace_seconds)
    stopped.wait()
    if batcher is not None:
        batcher.stop()
    manager.stop()
    print("server stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
