"""The thin client: imports without TensorFlow, and its own message definitions are
wire-compatible with TensorFlow Serving's (official tensorflow_serving classes parse
what it writes and the reverse)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_client_imports_without_tensorflow():
    code = (
        "import json, sys\n"
        "import fashion_tf_client\n"
        "from fashion_tf_client import Client, InvalidArgumentError\n"
        "from fashion_tf_client import cli, images, messages, tensors\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tensorflow_serving', 'keras', 'tf_keras', 'cv2', 'fashion_tf'))\n"
        "print(json.dumps(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_committed_descriptor_set_matches_the_proto_files():
    if shutil.which("protoc") is None:
        pytest.skip("protoc not installed (apt-get install protobuf-compiler)")
    result = subprocess.run([sys.executable, "tools/compile_protos.py", "--check"], check=False, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _predict_request(module, tensor_of):
    request = module.PredictRequest()
    request.model_spec.name = "fashion"
    request.model_spec.version.value = 3
    request.model_spec.signature_name = "similar"
    request.inputs["images"].CopyFrom(tensor_of(np.array([b"\x89PNG\x00", b"jpeg"], dtype=object)))
    request.inputs["k"].CopyFrom(tensor_of(np.int32(5)))
    request.output_filter.extend(["item_ids", "scores"])
    return request


def test_predict_messages_cross_parse_with_tensorflow_serving():
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from fashion_tf_client import messages
    from fashion_tf_client.tensors import make_ndarray, make_tensor_proto

    ours = _predict_request(messages, make_tensor_proto)
    theirs = predict_pb2.PredictRequest.FromString(ours.SerializeToString())
    assert theirs.model_spec.name == "fashion" and theirs.model_spec.version.value == 3
    assert theirs.model_spec.signature_name == "similar" and list(theirs.output_filter) == ["item_ids", "scores"]
    assert tf.make_ndarray(theirs.inputs["images"]).tolist() == [b"\x89PNG\x00", b"jpeg"]
    assert tf.make_ndarray(theirs.inputs["k"]) == 5

    official = _predict_request(predict_pb2, tf.make_tensor_proto)
    back = messages.PredictRequest.FromString(official.SerializeToString())
    assert back.model_spec.version.value == 3 and back.model_spec.WhichOneof("version_choice") == "version"
    assert make_ndarray(back.inputs["images"]).tolist() == [b"\x89PNG\x00", b"jpeg"]
    assert make_ndarray(back.inputs["k"]) == 5
    assert back.SerializeToString(deterministic=True) == official.SerializeToString(deterministic=True)

    response = predict_pb2.PredictResponse()
    response.model_spec.version_label = "stable"
    response.outputs["scores"].CopyFrom(tf.make_tensor_proto(np.array([[0.5, 0.25]], np.float32)))
    parsed = messages.PredictResponse.FromString(response.SerializeToString())
    assert parsed.model_spec.version_label == "stable"
    np.testing.assert_array_equal(make_ndarray(parsed.outputs["scores"]), [[0.5, 0.25]])


def test_metadata_and_status_messages_cross_parse_with_tensorflow_serving():
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

    from fashion_tf_client import messages

    signature_map = get_model_metadata_pb2.SignatureDefMap()
    signature = signature_map.signature_def["serving_default"]
    signature.method_name = "tensorflow/serving/predict"
    signature.inputs["images"].name = "serving_default_images:0"
    signature.inputs["images"].dtype = types_pb2.DT_STRING
    signature.inputs["images"].tensor_shape.dim.add(size=-1)
    signature.outputs["embedding"].dtype = types_pb2.DT_FLOAT
    official = get_model_metadata_pb2.GetModelMetadataResponse()
    official.model_spec.name = "fashion"
    official.metadata["signature_def"].Pack(signature_map)

    ours = messages.GetModelMetadataResponse.FromString(official.SerializeToString())
    unpacked = messages.SignatureDefMap()
    assert ours.metadata["signature_def"].Unpack(unpacked)  # same type URL, same full name
    images = unpacked.signature_def["serving_default"].inputs["images"]
    assert images.dtype == messages.DT_STRING and images.tensor_shape.dim[0].size == -1
    assert images.name == "serving_default_images:0"
    # ... and back: what the stand-in server sends parses with the official classes.
    again = get_model_metadata_pb2.GetModelMetadataResponse.FromString(ours.SerializeToString())
    round_trip = get_model_metadata_pb2.SignatureDefMap()
    assert again.metadata["signature_def"].Unpack(round_trip) and round_trip == signature_map

    status = messages.GetModelStatusResponse()
    entry = status.model_version_status.add(version=2, state=messages.ModelVersionStatus.AVAILABLE)
    entry.status.error_code = messages.ErrorCode.values_by_name["NOT_FOUND"].number
    entry.status.error_message = "gone"
    theirs = get_model_status_pb2.GetModelStatusResponse.FromString(status.SerializeToString())
    assert theirs.model_version_status[0].version == 2
    assert theirs.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert theirs.model_version_status[0].status.error_code == 5
    assert theirs.model_version_status[0].status.error_message == "gone"


def test_fields_left_out_of_our_protos_survive_a_round_trip():
    """TensorInfo.composite_tensor is not in our signature.proto: its bytes are kept."""
    from tensorflow.core.protobuf import meta_graph_pb2

    from fashion_tf_client import messages

    info = meta_graph_pb2.TensorInfo()
    info.composite_tensor.type_spec.type_spec_class_name = "RaggedTensorSpec"
    ours = messages.TensorInfo.FromString(info.SerializeToString())
    assert meta_graph_pb2.TensorInfo.FromString(ours.SerializeToString()) == info


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (4, 6, 3), (3, 2, 4)])
def test_png_writer_is_lossless(shape):
    import cv2

    from fashion_tf_client.images import png_bytes

    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    decoded = cv2.imdecode(np.frombuffer(png_bytes(pixels), np.uint8), cv2.IMREAD_UNCHANGED)
    if len(shape) == 3 and shape[2] == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    elif len(shape) == 3 and shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
    np.testing.assert_array_equal(decoded.reshape(shape), pixels)
