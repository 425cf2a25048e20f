"""A thin gRPC client for TF Serving and fashion_tf.serving.server.

It imports grpcio, protobuf and numpy only -- no TensorFlow: the messages come from
this package's own .proto definitions (:mod:`fashion_tf_client.messages`), which are
wire-compatible with TensorFlow Serving's, so the same client works unchanged against
the real ``tensorflow/serving`` image. Input and output keys
are read from each model's signature metadata (GetModelMetadata, cached per model and
version); nothing is hard-coded except the *signature names* and *output meanings*
fashion_tf.export writes (``serving_default`` -> embedding/label_probs/top_labels,
``similar`` -> item_ids/scores, ``personalize`` -> item_ids/scores/unknown_items,
``complete_the_look`` -> categories/item_ids/scores). gRPC failures surface as typed
:mod:`fashion_tf_client.errors` exceptions that keep the status code and message.

    with Client("localhost:8500", model="fashion") as client:
        vectors = client.embed(["shirt.jpg"])
        ids, scores = client.similar("shirt.jpg", k=10)

CLI (:mod:`fashion_tf_client.cli`): ``python -m fashion_tf_client --target localhost:8500 --model NAME
--image PATH [--k 10]``
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

import grpc
import numpy as np

from fashion_tf_client import messages as pb
from fashion_tf_client.errors import InvalidArgumentError, ServingError, from_rpc_error
from fashion_tf_client.images import encode_image
from fashion_tf_client.retry import NO_RETRY, RetryPolicy
from fashion_tf_client.tensors import dtype_name, make_ndarray, make_tensor_proto, shape_of

DEFAULT_SIGNATURE = "serving_default"
SIMILAR_SIGNATURE = "similar"
PERSONALIZE_SIGNATURE = "personalize"
COMPLETE_THE_LOOK_SIGNATURE = "complete_the_look"
_STATE_NAMES = pb.ModelVersionStatus.State


def _as_image_list(images) -> tuple[list[bytes], bool]:
    """(encoded images, whether a single image was given)."""
    if isinstance(images, (bytes, bytearray, memoryview, str, Path)):
        return [encode_image(images)], True
    if isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4:
        return [encode_image(i) for i in images], False
    if isinstance(images, np.ndarray) and images.dtype != object:
        return [encode_image(images)], True
    return [encode_image(i) for i in images], False


class Personalized(NamedTuple):
    """What ``Client.personalize`` returns."""

    item_ids: np.ndarray   # [k] str, best first
    scores: np.ndarray     # [k] float32, cosine to the cart's query
    unknown_items: int     # cart ids the served catalog does not know (ignored)


class Signature:
    """Inputs and outputs of one SignatureDef: key -> (dtype enum, shape or None)."""

    def __init__(self, name: str, signature_def):
        self.name = name
        self.method_name = signature_def.method_name
        self.inputs = {k: (v.dtype, shape_of(v.tensor_shape)) for k, v in signature_def.inputs.items()}
        self.outputs = {k: (v.dtype, shape_of(v.tensor_shape)) for k, v in signature_def.outputs.items()}

    def input_of(self, dtype: int, rank: int | None = None) -> str:
        """The one input key with this dtype (and rank); clear error when not exactly one."""
        keys = [k for k, (d, s) in self.inputs.items() if d == dtype and (rank is None or s is None or len(s) == rank)]
        if len(keys) != 1:
            raise ServingError(f"signature '{self.name}' has inputs {self.describe(self.inputs)}; expected exactly one "
                               f"{dtype_name(dtype)}{'' if rank is None else f' of rank {rank}'} input",
                               grpc.StatusCode.FAILED_PRECONDITION)
        return keys[0]

    def require_outputs(self, *keys: str) -> None:
        missing = [k for k in keys if k not in self.outputs]
        if missing:
            raise ServingError(f"signature '{self.name}' has outputs {sorted(self.outputs)}; missing {missing}",
                               grpc.StatusCode.FAILED_PRECONDITION)

    @staticmethod
    def describe(tensors) -> dict:
        return {k: f"{dtype_name(d)}{list(s) if s is not None else '[?]'}" for k, (d, s) in tensors.items()}

    def as_dict(self) -> dict:
        return {"method_name": self.method_name, "inputs": self.describe(self.inputs),
                "outputs": self.describe(self.outputs)}


class Client:
    """Talks to one TF Serving-protocol server; use as a context manager (closes the channel).

    ``model``/``version`` are defaults for every call; each method also takes them.
    ``retry``: a :class:`~fashion_tf_client.retry.RetryPolicy` to retry calls answered
    UNAVAILABLE (server down, restarting or its queue full) with exponential backoff;
    None (the default) raises UnavailableError at once. ``timeout`` is per attempt.
    """

    def __init__(self, target: str, timeout: float = 10.0, model: str | None = None, version: int | None = None,
                 max_message_bytes: int = 256 * 1024 * 1024, retry: RetryPolicy | None = None):
        self.target, self.timeout, self.model, self.version = target, timeout, model, version
        self.retry = retry or NO_RETRY
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        if retry is not None:
            # gRPC reconnects a broken channel on its own backoff (up to 120 s by default);
            # keep it within the policy's so a restarted server is found by the next retry.
            backoff_ms = max(100, int(retry.max_backoff * 1000))
            options += [("grpc.initial_reconnect_backoff_ms", min(backoff_ms, max(100, int(retry.initial_backoff * 1000)))),
                        ("grpc.min_reconnect_backoff_ms", min(backoff_ms, 100)),
                        ("grpc.max_reconnect_backoff_ms", backoff_ms)]
        self._channel = grpc.insecure_channel(target, options=options)
        self._prediction = pb.Stub(self._channel, pb.PREDICTION_SERVICE)
        self._models = pb.Stub(self._channel, pb.MODEL_SERVICE)
        self._signatures: dict[tuple[str, int | None], tuple[int, dict[str, Signature]]] = {}
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:  # noqa: PYI034  (typing.Self needs Python 3.11; the client runs on 3.10)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------
    def _model_spec(self, spec, model, version, signature_name=None):
        name = model or self.model
        if not name:
            raise ValueError("no model name: pass model= to the call or to Client(...)")
        spec.name = name
        version = self.version if version is None else version
        if version is not None:
            spec.version.value = int(version)
        if signature_name:
            spec.signature_name = signature_name
        return name, version

    def _call(self, method, request):
        try:
            return self.retry.call(lambda: method(request, timeout=self.timeout),
                                   lambda error: error.code() if isinstance(error, grpc.RpcError) else None)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def signatures(self, model: str | None = None, version: int | None = None) -> dict[str, Signature]:
        """The model's signatures (from GetModelMetadata), cached per model and version."""
        request = pb.GetModelMetadataRequest(metadata_field=["signature_def"])
        name, version = self._model_spec(request.model_spec, model, version)
        with self._lock:
            cached = self._signatures.get((name, version))
        if cached is not None:
            return cached[1]
        response = self._call(self._prediction.GetModelMetadata, request)
        signature_map = pb.SignatureDefMap()
        if not response.metadata["signature_def"].Unpack(signature_map):
            raise ServingError(f"model {name}: metadata 'signature_def' is not a SignatureDefMap",
                               grpc.StatusCode.INTERNAL)
        signatures = {k: Signature(k, v) for k, v in signature_map.signature_def.items()}
        with self._lock:
            self._signatures[(name, version)] = (response.model_spec.version.value, signatures)
        return signatures

    def signature(self, name: str, model=None, version=None) -> Signature:
        signatures = self.signatures(model, version)
        if name not in signatures:
            served = sorted(k for k in signatures if not k.startswith("__"))
            raise InvalidArgumentError(f"model {model or self.model} has no signature '{name}' (it has {served})")
        return signatures[name]

    def predict(self, inputs: dict, signature_name: str = DEFAULT_SIGNATURE, model: str | None = None,
                version: int | None = None, output_filter=None) -> dict[str, np.ndarray]:
        """Generic Predict: {input key: array} -> {output key: numpy array}."""
        request = pb.PredictRequest()
        name, version = self._model_spec(request.model_spec, model, version, signature_name)
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(value if hasattr(value, "tensor_shape") else make_tensor_proto(value))
        request.output_filter.extend(output_filter or [])
        response = self._call(self._prediction.Predict, request)
        if version is None:  # a new version may bring new signatures: refresh the cache next time
            with self._lock:
                cached = self._signatures.get((name, None))
                if cached is not None and cached[0] != response.model_spec.version.value:
                    del self._signatures[(name, None)]
        return {key: make_ndarray(proto) for key, proto in response.outputs.items()}

    def _predict_images(self, signature: Signature, images: list[bytes], model, version, extra=None):
        key = signature.input_of(pb.DT_STRING)
        inputs = {key: np.array(images, dtype=object)}
        inputs.update(extra or {})
        return self.predict(inputs, signature.name, model, version)

    # -- fashion_tf signatures -----------------------------------------------------
    def embed(self, images, model=None, version=None) -> np.ndarray:
        """Images -> L2-normalised embeddings, float32 [N, D] ([D] for one image)."""
        encoded, single = _as_image_list(images)
        signature = self.signature(DEFAULT_SIGNATURE, model, version)
        signature.require_outputs("embedding")
        vectors = self._predict_images(signature, encoded, model, version)["embedding"]
        return vectors[0] if single else vectors

    def label_probs(self, images, model=None, version=None) -> np.ndarray:
        """Images -> per-label probabilities, float32 [N, L]."""
        encoded, single = _as_image_list(images)
        signature = self.signature(DEFAULT_SIGNATURE, model, version)
        signature.require_outputs("label_probs")
        probs = self._predict_images(signature, encoded, model, version)["label_probs"]
        return probs[0] if single else probs

    def labels(self, images, model=None, version=None):
        """Images -> the top labels with their probabilities, [[(label, prob), ...], ...]
        (one list for one image)."""
        encoded, single = _as_image_list(images)
        signature = self.signature(DEFAULT_SIGNATURE, model, version)
        signature.require_outputs("label_probs", "top_labels")
        outputs = self._predict_images(signature, encoded, model, version)
        # top_labels come from top_k over label_probs, so the sorted probabilities pair up.
        probs = -np.sort(-outputs["label_probs"], axis=1)
        result = [[(label.decode("utf-8"), float(p)) for label, p in zip(labels, row)]
                  for labels, row in zip(outputs["top_labels"], probs)]
        return result[0] if single else result

    def similar(self, image, k: int = 10, model=None, version=None):
        """Catalog items nearest to the image(s): (item_ids, scores); [k] for one image,
        [N, k] for several. item_ids are str."""
        encoded, single = _as_image_list(image)
        signature = self.signature(SIMILAR_SIGNATURE, model, version)
        signature.require_outputs("item_ids", "scores")
        k_key = signature.input_of(pb.DT_INT32, rank=0)
        outputs = self._predict_images(signature, encoded, model, version, {k_key: np.int32(k)})
        ids = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(outputs["item_ids"]) \
            if outputs["item_ids"].size else outputs["item_ids"]
        scores = outputs["scores"]
        return (ids[0], scores[0]) if single else (ids, scores)

    def personalize(self, cart, k: int = 10, model=None, version=None) -> Personalized:
        """Items for a user's rating-weighted cart (paper eq. 3/4): ``cart`` is
        {item_id: rating} or [(item_id, rating), ...]. Returns (item_ids [k] str,
        scores [k] float32, unknown_items: cart ids the catalog does not know, ignored);
        cart items are never returned. A cart with no known item or a rating <= 0 gets
        InvalidArgumentError from the server."""
        pairs = list(cart.items()) if isinstance(cart, dict) else [tuple(pair) for pair in cart]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("a cart is {item_id: rating} or a list of (item_id, rating) pairs")
        signature = self.signature(PERSONALIZE_SIGNATURE, model, version)
        signature.require_outputs("item_ids", "scores", "unknown_items")
        inputs = {signature.input_of(pb.DT_STRING): np.array([str(i) for i, _ in pairs], dtype=object),
                  signature.input_of(pb.DT_FLOAT): np.array([r for _, r in pairs], dtype=np.float32),
                  signature.input_of(pb.DT_INT32, rank=0): np.int32(k)}
        outputs = self.predict(inputs, signature.name, model, version)
        ids = np.array([b.decode("utf-8") for b in outputs["item_ids"]], dtype=object)
        return Personalized(ids, outputs["scores"], int(outputs["unknown_items"]))

    def complete_the_look(self, image, k: int = 3, category: str | None = None, model=None, version=None) -> dict:
        """Items of other categories that go with one garment, from a style embedding
        export (``complete_the_look`` signature): {category: [(item_id, score), ...]},
        best first. ``category`` names the query's category; None lets the model predict it."""
        encoded, single = _as_image_list(image)
        if not single:
            raise ValueError(f"complete_the_look takes one image, got {len(encoded)}")
        signature = self.signature(COMPLETE_THE_LOOK_SIGNATURE, model, version)
        signature.require_outputs("categories", "item_ids", "scores")
        inputs = {signature.input_of(pb.DT_STRING, rank=1): np.array(encoded, dtype=object),
                  signature.input_of(pb.DT_INT32, rank=0): np.int32(k),
                  signature.input_of(pb.DT_STRING, rank=0): np.array(category or "", dtype=object)}
        outputs = self.predict(inputs, signature.name, model, version)
        return {name.decode("utf-8"): [(item.decode("utf-8"), float(score)) for item, score in zip(ids, scores)]
                for name, ids, scores in zip(outputs["categories"], outputs["item_ids"], outputs["scores"])}

    # -- model management ----------------------------------------------------------
    def status(self, model: str | None = None, version: int | None = None) -> list[dict]:
        """GetModelStatus: [{"version", "state", "error_code", "error_message"}], newest first."""
        request = pb.GetModelStatusRequest()
        self._model_spec(request.model_spec, model, version)
        response = self._call(self._models.GetModelStatus, request)
        return [{"version": s.version, "state": _STATE_NAMES.Name(s.state), "error_code": int(s.status.error_code),
                 "error_message": s.status.error_message} for s in response.model_version_status]

    def metadata(self, model: str | None = None, version: int | None = None) -> dict:
        """GetModelMetadata, fresh from the server: {"model", "version", "signatures": {name: {...}}}."""
        request = pb.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._model_spec(request.model_spec, model, version)
        response = self._call(self._prediction.GetModelMetadata, request)
        signature_map = pb.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return {"model": response.model_spec.name, "version": response.model_spec.version.value,
                "signatures": {k: Signature(k, v).as_dict() for k, v in sorted(signature_map.signature_def.items())
                               if not k.startswith("__")}}
