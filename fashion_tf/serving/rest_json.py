"""TF Serving's REST request and response JSON <-> numpy tensors.

The formats of TensorFlow Serving's REST API ("RESTful API" guide; ``json_tensor.cc``):

- row ("instances"): a list with one entry per example; with one input the entry is the
  value itself, with several it is an object ``{input: value}``; answered with
  ``{"predictions": [...]}`` -- per example, the value of the one output or an object
  of all outputs;
- columnar ("inputs"): the whole tensor, or an object ``{input: tensor}``; answered with
  ``{"outputs": tensor}`` or ``{"outputs": {output: tensor}}``.

Binary strings travel as ``{"b64": "..."}``, which is how images reach the
``DT_STRING`` image inputs. A string output is written as a JSON string, or as
``{"b64": ...}`` when its name ends in ``_bytes`` (TF Serving's rule) or it is not
UTF-8. Signatures with a scalar input (``similar``'s ``k``) need the columnar format,
as in TF Serving: rows would give ``k`` a batch dimension.
"""
from __future__ import annotations

import base64
import binascii
import json

import grpc
import numpy as np

from fashion_tf.serving.predictor import RequestError
from fashion_tf_client import messages as pb
from fashion_tf_client.tensors import dtype_name, numpy_dtype


def _invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def parse_body(body: bytes) -> tuple[str, str, object]:
    """(signature_name, "row" | "columnar", the instances/inputs value) of a predict body."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f" at offset: {error.pos}" if isinstance(error, json.JSONDecodeError) else ""
        raise _invalid(f"JSON Parse error: {getattr(error, 'msg', error)}{where}") from None
    if not isinstance(request, dict):
        raise _invalid("JSON Value not an object")
    if "instances" in request and "inputs" in request:
        raise _invalid("Not formatted correctly expecting only one of 'inputs' or 'instances' keys exists")
    if "instances" not in request and "inputs" not in request:
        raise _invalid("Missing 'inputs' or 'instances' key")
    signature = request.get("signature_name", "")
    if not isinstance(signature, str):
        raise _invalid("'signature_name' key must be a string value.")
    if "instances" in request:
        if not isinstance(request["instances"], list) or not request["instances"]:
            raise _invalid("Expecting 'instances' to be a non-empty list/array")
        return signature, "row", request["instances"]
    return signature, "columnar", request["inputs"]


def _is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _shape(value, where: str) -> tuple[int, ...]:
    """Shape of a nested JSON list; ragged lists are an error."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    inner = _shape(value[0], where)
    for item in value[1:]:
        if _shape(item, where) != inner:
            raise _invalid(f"{where}: expecting tensors in the list to be of the same shape")
    return (len(value), *inner)


def _flatten(value) -> list:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def _string(leaf, where: str) -> bytes:
    if isinstance(leaf, str):
        return leaf.encode("utf-8")
    if _is_b64(leaf):
        try:
            return base64.b64decode(leaf["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise _invalid(f"{where}: Unable to base64 decode") from None
    raise _invalid(f"{where}: expecting a string or {{\"b64\": ...}} for a DT_STRING input, got {json.dumps(leaf)[:80]}")


def to_array(value, dtype: int, where: str) -> np.ndarray:
    """A JSON value (nested lists of leaves) -> numpy array of the TensorInfo's dtype."""
    shape = _shape(value, where)
    leaves = _flatten(value)
    if dtype == pb.DT_STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = [_string(leaf, where) for leaf in leaves]
        return array.reshape(shape)
    for leaf in leaves:
        if isinstance(leaf, bool) and dtype != pb.DT_BOOL or not isinstance(leaf, (int, float)):
            raise _invalid(f"{where}: expecting numbers for a {dtype_name(dtype)} input, got {json.dumps(leaf)[:80]}")
    target = numpy_dtype(dtype)
    if target.kind in "iu" and any(isinstance(leaf, float) and not float(leaf).is_integer() for leaf in leaves):
        raise _invalid(f"{where}: expecting integers for a {dtype_name(dtype)} input")
    try:
        return np.array(leaves, dtype=target).reshape(shape)
    except OverflowError:
        raise _invalid(f"{where}: a value is out of range for {dtype_name(dtype)}") from None


def inputs_from_json(fmt: str, value, signature) -> dict[str, np.ndarray]:
    """The request's tensors, typed by the signature's input dtypes."""
    names = sorted(signature.inputs)
    if fmt == "row":
        named = len(names) > 1 or (isinstance(value[0], dict) and not _is_b64(value[0]))
        if not named:
            return {names[0]: to_array(value, signature.inputs[names[0]].dtype, "'instances'")}
        columns: dict[str, list] = {}
        for index, instance in enumerate(value):
            if not isinstance(instance, dict) or _is_b64(instance) or sorted(instance) != sorted(value[0]):
                raise _invalid(f"Failed to process element: {index} of 'instances' list. Expecting an object with "
                               f"the same keys as the first, the inputs {names}")
            for key, item in instance.items():
                columns.setdefault(key, []).append(item)
        return {key: to_array(items, _dtype(signature, key), f"input '{key}'") for key, items in columns.items()}
    if isinstance(value, dict) and not _is_b64(value):
        return {key: to_array(item, _dtype(signature, key), f"input '{key}'") for key, item in value.items()}
    if len(names) != 1:
        raise _invalid(f"the signature has inputs {names}: 'inputs' must be an object naming each of them")
    return {names[0]: to_array(value, signature.inputs[names[0]].dtype, "'inputs'")}


def _dtype(signature, key: str) -> int:
    if key not in signature.inputs:
        raise _invalid(f"input '{key}' is not one of the signature's inputs {sorted(signature.inputs)}")
    return signature.inputs[key].dtype


def _json_value(array: np.ndarray, name: str):
    if array.dtype == object or array.dtype.kind == "S":
        def leaf(item: bytes):
            if not name.endswith("_bytes"):
                try:
                    return item.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(item).decode("ascii")}
        return np.vectorize(leaf, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()  # NaN / Infinity are written as such, as TF Serving does


def outputs_to_json(fmt: str, outputs: dict[str, np.ndarray]) -> dict:
    """TF Serving's response body for the request's format."""
    converted = {key: _json_value(value, key) for key, value in outputs.items()}
    if fmt == "columnar":
        return {"outputs": next(iter(converted.values())) if len(converted) == 1 else converted}
    rows = {len(value) for value in outputs.values() if np.ndim(value)}
    if len(rows) != 1 or any(np.ndim(value) == 0 for value in outputs.values()):
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           "the outputs have no common batch size; use the columnar format ('inputs')")
    if len(converted) == 1:
        return {"predictions": next(iter(converted.values()))}
    return {"predictions": [{key: converted[key][i] for key in converted} for i in range(rows.pop())]}
