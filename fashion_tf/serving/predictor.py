"""What the stand-in model server does for a request, whatever protocol it came in on.

gRPC (:mod:`fashion_tf.serving.server`) and REST (:mod:`fashion_tf.serving.rest`) turn
their requests into numpy inputs and call :class:`Predictor`; it resolves the model
version (TF Serving's wording for what is not found), checks the inputs against the
SignatureDef, and runs the signature -- directly, or through the
:class:`~fashion_tf.serving.batching.Batcher` with ``--enable_batching``, so concurrent
gRPC and REST requests to one signature share batches. Failures are
:class:`RequestError` with the canonical (gRPC) status code; REST maps it to an HTTP
status as TF Serving does.
"""
from __future__ import annotations

import grpc
import numpy as np
import tensorflow as tf

from fashion_tf.serving.image_limits import (
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_REQUEST_PIXELS,
    check_image_pixels,
    check_request_pixels,
    is_image_input,
)
from fashion_tf.serving.model_manager import LoadedVersion, ModelManager
from fashion_tf_client import messages as pb
from fashion_tf_client.tensors import shape_of

DEFAULT_SIGNATURE = "serving_default"
_STATE = pb.ModelVersionStatus


class RequestError(Exception):
    """A request the server refuses: carries the gRPC status code and the message."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def request_too_large(size: int, limit: int) -> RequestError:
    """The answer to a Predict request (gRPC message or REST body) over --max_request_bytes:
    RESOURCE_EXHAUSTED, as gRPC itself answers a message over its receive limit."""
    return RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"request of {size} bytes exceeds the limit of {limit} bytes (--max_request_bytes); "
                        "send fewer or smaller images per request")


def tf_error_message(error: tf.errors.OpError) -> str:
    """The useful line(s) of a TF runtime error, without the graph-node trace."""
    text = str(error.message).replace("<stack traces unavailable>", "")
    lines = [line.strip() for line in text.splitlines()]
    keep = [line for line in lines if line and not line.startswith(("Detected at node", "[[", "File ", "Graph execution error"))
            and not line.startswith("Stack trace") and "_inference_" not in line]
    return " ".join(keep[:3])[:1000] or type(error).__name__


def grpc_code_of(error: tf.errors.OpError) -> grpc.StatusCode:
    # TF's error codes are the canonical (absl/gRPC) codes, value for value.
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.INTERNAL


def check_input(key: str, array: np.ndarray, spec) -> None:
    """Shape of one request tensor against the signature's TensorInfo (and k >= 1)."""
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


def batched_inputs(signature) -> set[str]:
    """Inputs whose first dimension is the batch (unknown size): requests can be stacked
    along it; others (a scalar ``k``) must be equal within a batch. Empty when an output
    has no batch dimension (a scalar such as ``personalize``'s ``unknown_items``): such a
    signature answers per request, not per row, and is never batched."""
    for info in signature.outputs.values():
        shape = shape_of(info.tensor_shape)
        if not shape or shape[0] >= 0:
            return set()
    return {key for key, info in signature.inputs.items()
            if (shape := shape_of(info.tensor_shape)) and shape[0] < 0}


class Predictor:
    """Predict, metadata and status over a :class:`ModelManager` (``batcher``: optional).

    ``max_image_pixels``: images whose header declares more pixels are refused before
    decoding; ``max_request_pixels``: the same for the sum over a request's images
    (:mod:`fashion_tf.serving.image_limits`); 0 turns a check off.
    """

    def __init__(self, manager: ModelManager, batcher=None, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                 max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS):
        self.manager, self.batcher = manager, batcher
        self.max_image_pixels, self.max_request_pixels = max_image_pixels, max_request_pixels

    def resolve(self, name: str, version: int | None = None, label: str | None = None) -> LoadedVersion:
        try:
            return self.manager.get(name).resolve(version, label or None)
        except LookupError as error:
            raise RequestError(grpc.StatusCode.NOT_FOUND, str(error).strip("'\"")) from None

    @staticmethod
    def signature(loaded: LoadedVersion, name: str | None):
        name = name or DEFAULT_SIGNATURE
        if name not in loaded.functions:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f'Serving signature name: "{name}" not found in signature def '
                               f"(model has {sorted(loaded.functions)})")
        return name, loaded.signature_defs[name]

    def predict(self, loaded: LoadedVersion, name: str, inputs: dict[str, np.ndarray],
                output_filter=()) -> dict[str, np.ndarray]:
        """Check ``inputs`` against signature ``name`` and run it; numpy outputs."""
        name, signature = self.signature(loaded, name)
        sent, expected = set(inputs), set(signature.inputs)
        if sent != expected:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"signature '{name}' takes inputs {sorted(expected)}; missing {sorted(expected - sent)}, "
                               f"unexpected {sorted(sent - expected)}")
        unknown = set(output_filter) - set(signature.outputs)
        if unknown:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"output_filter names {sorted(unknown)} not in signature '{name}' outputs "
                               f"{sorted(signature.outputs)}")
        pixels, images = 0, 0
        for key, spec in signature.inputs.items():
            check_input(key, inputs[key], spec)
            if is_image_input(key, spec.dtype):  # every signature that decodes images, gRPC and REST alike
                pixels += check_image_pixels(key, inputs[key], self.max_image_pixels)
                images += inputs[key].size
        check_request_pixels(pixels, images, self.max_request_pixels)
        batched = batched_inputs(signature)
        if self.batcher is not None and batched:
            outputs = self.batcher.run(loaded, name, inputs, batched, lambda merged: self.run(loaded, name, merged))
        else:
            outputs = self.run(loaded, name, inputs)
        wanted = set(output_filter) or set(outputs)
        return {key: value for key, value in outputs.items() if key in wanted}

    @staticmethod
    def run(loaded: LoadedVersion, name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call the signature function on checked inputs."""
        signature = loaded.signature_defs[name]
        arguments = {key: tf.convert_to_tensor(array, dtype=tf.dtypes.as_dtype(signature.inputs[key].dtype))
                     for key, array in inputs.items()}
        try:
            outputs = loaded.functions[name](**arguments)
        except tf.errors.OpError as error:  # e.g. an undecodable image, k above the catalog size
            raise RequestError(grpc_code_of(error), tf_error_message(error)) from None
        except (TypeError, ValueError) as error:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(error).splitlines()[0]) from None
        return {key: value.numpy() for key, value in outputs.items()}

    def signature_def_map(self, loaded: LoadedVersion):
        signature_map = pb.SignatureDefMap()
        for key, signature in loaded.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(signature)
        return signature_map

    def status(self, name: str, version: int | None = None, label: str | None = None):
        """GetModelStatusResponse of one model (all its versions, or one)."""
        if name not in self.manager.models:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        model = self.manager.models[name]
        states = dict(model.states)
        if label:
            if label not in model.spec.labels:
                raise RequestError(grpc.StatusCode.NOT_FOUND,
                                   f"Unrecognized servable version label: {label} for model {name}")
            version = model.spec.labels[label]
        if version is not None:
            if version not in states:
                raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        if not states:
            raise RequestError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        response = pb.GetModelStatusResponse()
        for number in sorted(states, reverse=True):
            state = states[number]
            entry = response.model_version_status.add(version=number, state=_STATE.State.Value(state.state))
            entry.status.error_code = 2 if state.error else 0  # tensorflow.error.UNKNOWN / OK
            entry.status.error_message = state.error
        return response
