"""Unit tests of the serving client's pieces: TensorProto conversion, typed errors,
image encoding, and models.config parsing / version policies (docs/design.md, "Serving")."""
from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from fashion_tf.serving import Client, InvalidArgumentError, NotFoundError, ServingError, UnavailableError
from fashion_tf.serving.model_manager import ModelManager, ModelSpec, read_model_config, version_directories
from fashion_tf_client.errors import error_for
from fashion_tf_client.images import encode_image
from fashion_tf_client.tensors import make_ndarray, make_tensor_proto

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    np.arange(-5, 5, dtype=np.int32),
    np.arange(6, dtype=np.int64).reshape(2, 3) * 10**12,
    np.array([[0, 255], [7, 9]], dtype=np.uint8),
    np.array([0.5, -2.25], dtype=np.float64),
    np.array([1.5, -0.25], dtype=np.float16),
    np.array([True, False, True]),
    np.int32(7),
])
def test_numeric_round_trip_matches_tensorflow(array):
    proto = make_tensor_proto(array)
    back = make_ndarray(proto)
    assert back.dtype == array.dtype and back.shape == np.shape(array)
    np.testing.assert_array_equal(back, array)
    # TensorFlow reads our protos, and we read TensorFlow's.
    np.testing.assert_array_equal(tf.make_ndarray(proto), array)
    np.testing.assert_array_equal(make_ndarray(tf.make_tensor_proto(array)), array)


def test_strings_round_trip_as_bytes():
    proto = make_tensor_proto(np.array([b"\x89PNG\x00binary", "h\u00e9llo"], dtype=object))
    assert proto.dtype == types_pb2.DT_STRING
    assert make_ndarray(proto).tolist() == [b"\x89PNG\x00binary", "h\u00e9llo".encode()]
    assert tf.make_ndarray(proto).tolist() == [b"\x89PNG\x00binary", "h\u00e9llo".encode()]
    scalar = make_tensor_proto(b"abc")
    assert make_ndarray(scalar).shape == () and make_ndarray(scalar).item() == b"abc"


def test_typed_value_fields_and_fill_form_are_read():
    """TF Serving and other clients may use float_val/int_val, or one value to fill the shape."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=2)
    proto.tensor_shape.dim.add(size=2)
    proto.float_val.extend([1, 2, 3, 4])
    np.testing.assert_array_equal(make_ndarray(proto), [[1, 2], [3, 4]])
    fill = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32)
    fill.tensor_shape.dim.add(size=3)
    fill.int_val.append(5)
    np.testing.assert_array_equal(make_ndarray(fill), [5, 5, 5])
    half = make_tensor_proto(np.array([1.5], np.float16))
    np.testing.assert_array_equal(make_ndarray(tf.make_tensor_proto(np.array([1.5, 2.0], np.float16))), [1.5, 2.0])
    assert make_ndarray(half)[0] == np.float16(1.5)


def test_conversion_errors_name_the_problem():
    with pytest.raises(TypeError, match="DT_STRING needs bytes or str"):
        make_tensor_proto(np.zeros(2, np.float32), dtype=types_pb2.DT_STRING)
    with pytest.raises(TypeError, match="no TensorFlow equivalent"):
        make_tensor_proto(np.zeros(2, np.complex64))
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    proto.tensor_shape.dim.add(size=3)
    proto.float_val.extend([1, 2])
    with pytest.raises(ValueError, match="shape \\[3\\] holds 2 values"):
        make_ndarray(proto)


def test_error_types_keep_code_and_message():
    error = error_for(grpc.StatusCode.INVALID_ARGUMENT, "k must be at least 1")
    assert isinstance(error, InvalidArgumentError) and isinstance(error, ServingError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.details == "k must be at least 1"
    assert str(error) == "INVALID_ARGUMENT: k must be at least 1"
    assert isinstance(error_for(grpc.StatusCode.NOT_FOUND, "x"), NotFoundError)
    other = error_for(grpc.StatusCode.ABORTED, "y")
    assert type(other) is ServingError and other.code == grpc.StatusCode.ABORTED


def test_unreachable_server_raises_unavailable():
    with Client("127.0.0.1:1", timeout=2.0, model="m") as client, pytest.raises(UnavailableError) as info:
        client.status()
    assert info.value.code == grpc.StatusCode.UNAVAILABLE


def test_missing_model_name_is_a_clear_error():
    with Client("127.0.0.1:1") as client, pytest.raises(ValueError, match="no model name"):
        client.status()


def test_encode_image_accepts_bytes_paths_and_rgb_arrays(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    encoded = encode_image(rgb)
    decoded = tf.io.decode_image(encoded, channels=3).numpy()
    np.testing.assert_array_equal(decoded, rgb)  # lossless PNG, RGB order kept
    path = tmp_path / "x.png"
    path.write_bytes(encoded)
    assert encode_image(path) == encoded and encode_image(str(path)) == encoded and encode_image(encoded) == encoded
    with pytest.raises(ValueError, match="uint8"):
        encode_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="bytes, a file path or a uint8"):
        encode_image(3)


def test_repository_models_config_parses():
    specs = {s.name: s for s in read_model_config(ROOT / "serving" / "models.config")}
    assert set(specs) == {"fashion", "fashion_scann"}
    assert str(specs["fashion"].base_path) == "/models/fashion"
    assert specs["fashion"].policy == "latest"


def test_version_policies(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("""
model_config_list {
  config { name: "a" base_path: "a" model_platform: "tensorflow"
           model_version_policy { specific { versions: 1 versions: 3 } } }
  config { name: "b" base_path: "/abs/b" model_version_policy { latest { num_versions: 2 } } }
  config { name: "c" base_path: "c" model_version_policy { all {} } }
}""")
    a, b, c = read_model_config(config)
    assert a.base_path == tmp_path / "a" and a.select([1, 2, 3, 4]) == [1, 3]
    assert b.select([1, 2, 3, 4]) == [3, 4] and c.select([2, 1]) == [1, 2]
    assert ModelSpec("d", Path("d")).select([1, 10, 2]) == [10]
    config.write_text("model_config_list { config { name: 'x' } }")
    with pytest.raises(ValueError, match="needs a name and a base_path"):
        read_model_config(config)
    config.write_text("not a config {")
    with pytest.raises(ValueError, match="models.config: not a text-format ModelServerConfig"):
        read_model_config(config)


def test_only_complete_integer_version_directories_count(tmp_path):
    for name in ["1", "2", ".tmp-3-99", "4.partial", "5"]:
        (tmp_path / name).mkdir()
    for name in ["1", "2", ".tmp-3-99", "4.partial"]:
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    # "5" has no saved_model.pb yet: not a version until it is complete.
    assert sorted(version_directories(tmp_path)) == [1, 2]


def test_manager_serves_pinned_version_and_reports_failed_loads(tmp_path):
    from serving_fixtures import build_fixture_model, png_bytes

    build_fixture_model(tmp_path / "m" / "1", seed=0)
    build_fixture_model(tmp_path / "m" / "2", seed=1)
    (tmp_path / "m" / "3").mkdir()
    (tmp_path / "m" / "3" / "saved_model.pb").write_bytes(b"corrupt")
    pinned = ModelManager([ModelSpec("m", tmp_path / "m", policy="specific", versions=(1,))], poll_wait_seconds=0)
    pinned.refresh_all()
    assert sorted(pinned.models["m"].versions) == [1]
    assert pinned.models["m"].resolve().version == 1
    with pytest.raises(LookupError, match=r"Specific\(m, 2\)"):
        pinned.models["m"].resolve(2)
    latest = ModelManager([ModelSpec("m", tmp_path / "m")], poll_wait_seconds=0)
    latest.refresh_all()
    # The corrupt version 3 fails to load, is reported, and version 2 is served instead.
    assert sorted(latest.models["m"].versions) == [2]
    assert latest.models["m"].states[3].state == "END" and latest.models["m"].states[3].error
    out = latest.models["m"].resolve().functions["serving_default"](images=tf.constant([png_bytes(0)]))
    assert out["embedding"].shape == (1, 16)
