"""``python -m fashion_tf.serving.server``: a TF Serving-protocol model server.

TensorFlow Serving is a C++ binary that cannot be installed on these machines; this is
the stand-in for tests and laptops. It speaks the same gRPC API -- PredictionService.Predict
and GetModelMetadata, ModelService.GetModelStatus, with the wire-compatible messages of
:mod:`fashion_tf_client.messages` -- over the same model repository layout and
models.config, and takes tensorflow_model_server's flag names, so a client cannot tell
them apart::

    python -m fashion_tf.serving.server --port 8500 --model_name fashion --model_base_path export/fashion
    python -m fashion_tf.serving.server --port 8500 --model_config_file serving/models.config

Bad requests get INVALID_ARGUMENT with a readable message (wrong dtype or shape, missing
or unexpected inputs, unknown signature, undecodable image, k out of range, payload over
``--max_request_bytes``); unknown models or versions get NOT_FOUND; the server stays up.
Payloads even larger than gRPC's receive limit (2 x --max_request_bytes) are refused by
gRPC itself with RESOURCE_EXHAUSTED, which is what TF Serving answers too. SIGTERM
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

import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)
import grpc
import numpy as np
import tensorflow as tf

from fashion_tf.serving.model_manager import LoadedVersion, ModelManager, ModelSpec, read_model_config
from fashion_tf_client import messages as pb
from fashion_tf_client.tensors import dtype_name, make_ndarray, make_tensor_proto, shape_of

log = logging.getLogger("fashion_tf.serving")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
_STATE = pb.ModelVersionStatus


class RequestError(Exception):
    """A request the server refuses: carries the gRPC status code and the message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _tf_error_message(error: tf.errors.OpError) -> str:
    """The useful line(s) of a TF runtime error, without the graph-node trace."""
    text = str(error.message).replace("<stack traces unavailable>", "")
    lines = [line.strip() for line in text.splitlines()]
    keep = [line for line in lines if line and not line.startswith(("Detected at node", "[[", "File ", "Graph execution error"))
            and not line.startswith("Stack trace") and "_inference_" not in line]
    return " ".join(keep[:3])[:1000] or type(error).__name__


def _grpc_code_of(error: tf.errors.OpError) -> grpc.StatusCode:
    # TF's error codes are the canonical (absl/gRPC) codes, value for value.
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.INTERNAL


def _check_input(key: str, proto, spec) -> np.ndarray:
    """Validate one request tensor against the signature's TensorInfo; return it as numpy."""
    if proto.dtype != spec.dtype:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"input '{key}' must be {dtype_name(spec.dtype)}, got {dtype_name(proto.dtype)}")
    try:
        array = make_ndarray(proto)
    except (TypeError, ValueError) as error:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input '{key}': {error}") from None
    expected = shape_of(spec.tensor_shape)
    if expected is not None:
        got = array.shape
        if len(got) != len(expected) or any(e >= 0 and e != g for e, g in zip(expected, got)):
            shown = "[" + ", ".join("None" if e < 0 else str(e) for e in expected) + "]"
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input '{key}' must have shape {shown}, got {list(got)}")
    # `k` of a nearest-neighbour signature: the graph checks the upper bound (catalog size).
    if key == "k" and array.dtype.kind in "iu" and array.size and int(array.min()) < 1:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"input 'k' must be at least 1, got {int(array.min())}")
    return array


class Servicer:
    """PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus)."""

    def __init__(self, manager: ModelManager, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.manager = manager
        self.max_request_bytes = max_request_bytes

    # -- helpers -------------------------------------------------------------------
    def _resolve(self, model_spec) -> LoadedVersion:
        try:
            model = self.manager.get(model_spec.name)
            version = model_spec.version.value if model_spec.HasField("version") else None
            return model.resolve(version, model_spec.version_label or None)
        except LookupError as error:
            raise RequestError(grpc.StatusCode.NOT_FOUND, str(error).strip("'\"")) from None

    def _guarded(self, handler, request, context):
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
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"request of {size} bytes exceeds the limit of {self.max_request_bytes} bytes "
                               "(--max_request_bytes); send fewer or smaller images per request")
        loaded = self._resolve(request.model_spec)
        name = request.model_spec.signature_name or "serving_default"
        if name not in loaded.functions:
            served = sorted(k for k in loaded.functions)
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f'Serving signature name: "{name}" not found in signature def (model has {served})')
        signature = loaded.signature_defs[name]
        sent, expected = set(request.inputs), set(signature.inputs)
        if sent != expected:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"signature '{name}' takes inputs {sorted(expected)}; missing {sorted(expected - sent)}, "
                               f"unexpected {sorted(sent - expected)}")
        unknown = set(request.output_filter) - set(signature.outputs)
        if unknown:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"output_filter names {sorted(unknown)} not in signature '{name}' outputs "
                               f"{sorted(signature.outputs)}")
        arguments = {}
        for key, spec in signature.inputs.items():
            array = _check_input(key, request.inputs[key], spec)
            arguments[key] = tf.convert_to_tensor(array, dtype=tf.dtypes.as_dtype(spec.dtype))
        try:
            outputs = loaded.functions[name](**arguments)
        except tf.errors.OpError as error:  # e.g. an undecodable image, k above the catalog size
            raise RequestError(_grpc_code_of(error), _tf_error_message(error)) from None
        except (TypeError, ValueError) as error:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(error).splitlines()[0]) from None
        response = pb.PredictResponse()
        response.model_spec.name = loaded.name
        response.model_spec.version.value = loaded.version
        response.model_spec.signature_name = name
        wanted = set(request.output_filter) or set(outputs)
        for key, value in outputs.items():
            if key in wanted:
                make_tensor_proto(value.numpy(), dtype=value.dtype.as_datatype_enum, into=response.outputs[key])
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
        signature_map = pb.SignatureDefMap()
        for key, signature in loaded.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        response.metadata["signature_def"].Pack(signature_map)
        return response

    # -- ModelService --------------------------------------------------------------
    def GetModelStatus(self, request, context):
        return self._guarded(self._status, request, context)

    def _status(self, request):
        name = request.model_spec.name
        if name not in self.manager.models:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        states = dict(self.manager.models[name].states)
        if request.model_spec.HasField("version"):
            version = request.model_spec.version.value
            if version not in states:
                raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        if not states:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        response = pb.GetModelStatusResponse()
        for version in sorted(states, reverse=True):
            state = states[version]
            entry = response.model_version_status.add(version=version, state=_STATE.State.Value(state.state))
            entry.status.error_code = 2 if state.error else 0  # tensorflow.error.UNKNOWN / OK
            entry.status.error_message = state.error
        return response


def load_scann_ops() -> bool:
    """Register the Scann TF ops so a SavedModel with a ScaNN index in its graph loads."""
    try:
        from scann.scann_ops.py import scann_ops  # noqa: F401  (loads the op library)
    except Exception as error:  # scann missing or built for another TF: plain models still work
        log.warning("ScaNN ops not available (%s); models with a ScaNN index will fail to load", error)
        return False
    return True


def _flag_bool(text: str) -> bool:
    return str(text).lower() in ("1", "true", "yes", "on")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.serving.server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (0: pick a free one and print it)")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (TF Serving binds 0.0.0.0)")
    parser.add_argument("--model_config_file", default=None, help="text-format ModelServerConfig (models.config)")
    parser.add_argument("--model_name", default="default")
    parser.add_argument("--model_base_path", default=None, help="directory holding integer version directories")
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                        help="seconds between scans for new versions (0: scan once at start)")
    parser.add_argument("--rest_api_port", type=int, default=0, help="accepted for compatibility; REST is not served")
    parser.add_argument("--enable_batching", type=_flag_bool, nargs="?", const=True, default=False,
                        help="accepted for compatibility; requests are not batched together")
    parser.add_argument("--batching_parameters_file", default=None, help="accepted for compatibility")
    parser.add_argument("--grpc_max_threads", type=int, default=16, help="worker threads for RPCs")
    parser.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help="larger Predict requests get INVALID_ARGUMENT")
    parser.add_argument("--shutdown_grace_seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    if bool(args.model_config_file) == bool(args.model_base_path):
        parser.error("give exactly one of --model_config_file or --model_base_path")
    return args


def build_server(args, manager: ModelManager) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) gRPC server bound to args.host:args.port."""
    grpc_limit = max(2 * args.max_request_bytes, args.max_request_bytes + (1 << 20))
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.grpc_max_threads, thread_name_prefix="rpc"),
        options=[("grpc.max_receive_message_length", grpc_limit),
                 ("grpc.max_send_message_length", -1),
                 ("grpc.so_reuseport", 0)],
    )
    servicer = Servicer(manager, args.max_request_bytes)
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
                 else [ModelSpec(args.model_name, Path(args.model_base_path))])
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note, flag in (("REST API", args.rest_api_port), ("request batching", args.enable_batching)):
        if flag:
            log.warning("%s is not implemented by this stand-in server; ignoring the flag", note)
    load_scann_ops()
    manager = ModelManager(specs, args.file_system_poll_wait_seconds)
    manager.refresh_all()  # like TF Serving: initial versions are loaded before serving starts
    for spec in specs:
        if not manager.models[spec.name].versions:
            log.warning("no servable version of %s yet under %s; polling", spec.name, spec.base_path)
    try:
        server, port = build_server(args, manager)
    except (OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    manager.start_polling()
    models = ", ".join(f"{n} (versions {sorted(m.versions) or 'none yet'})" for n, m in manager.models.items())
    print(f"Running gRPC ModelServer at {args.host}:{port} serving {models}", flush=True)
    while not stop.wait(0.5):
        pass
    log.info("shutting down: finishing running calls (up to %.0fs)", args.shutdown_grace_seconds)
    server.stop(args.shutdown_grace_seconds).wait()
    manager.stop()
    print("server stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
