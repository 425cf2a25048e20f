"""numpy <-> ``tensorflow.TensorProto`` without TensorFlow.

Written by hand rather than with ``tf.make_tensor_proto``/``tf.make_ndarray`` because
the client must import without TensorFlow and stay fast: numeric arrays travel as raw
little-endian bytes in ``tensor_content`` (what ``tf.make_tensor_proto`` does too), strings in ``string_val``.
Decoding also accepts the typed repeated fields (``float_val``, ``int_val``, ...) that
TF Serving and other clients may send, including the one-value "fill" form.
"""
from __future__ import annotations

import numpy as np

from fashion_tf_client import messages as pb
from fashion_tf_client.messages import TensorProto, dtype_name

# TF dtype enum <-> numpy dtype (little-endian, as TensorFlow stores tensor_content).
_NUMPY_BY_DTYPE = {
    pb.DT_FLOAT: np.dtype("<f4"),
    pb.DT_DOUBLE: np.dtype("<f8"),
    pb.DT_HALF: np.dtype("<f2"),
    pb.DT_INT8: np.dtype("i1"),
    pb.DT_INT16: np.dtype("<i2"),
    pb.DT_INT32: np.dtype("<i4"),
    pb.DT_INT64: np.dtype("<i8"),
    pb.DT_UINT8: np.dtype("u1"),
    pb.DT_UINT16: np.dtype("<u2"),
    pb.DT_UINT32: np.dtype("<u4"),
    pb.DT_UINT64: np.dtype("<u8"),
    pb.DT_BOOL: np.dtype("?"),
}
_DTYPE_BY_KIND = {(d.kind, d.itemsize): enum for enum, d in _NUMPY_BY_DTYPE.items()}

# The typed repeated field each dtype uses when tensor_content is empty.
_VALUE_FIELD = {
    pb.DT_FLOAT: "float_val",
    pb.DT_DOUBLE: "double_val",
    pb.DT_HALF: "half_val",
    pb.DT_INT8: "int_val",
    pb.DT_INT16: "int_val",
    pb.DT_INT32: "int_val",
    pb.DT_UINT8: "int_val",
    pb.DT_UINT16: "int_val",
    pb.DT_INT64: "int64_val",
    pb.DT_UINT32: "uint32_val",
    pb.DT_UINT64: "uint64_val",
    pb.DT_BOOL: "bool_val",
    pb.DT_STRING: "string_val",
}


def tf_dtype_of(array: np.ndarray) -> int:
    """The TF dtype enum of a numpy array; str/bytes/object arrays are DT_STRING."""
    if array.dtype.kind in "OSU":
        return pb.DT_STRING
    try:
        return _DTYPE_BY_KIND[(array.dtype.kind, array.dtype.itemsize)]
    except KeyError:
        raise TypeError(f"numpy dtype {array.dtype} has no TensorFlow equivalent") from None


def fill_shape(proto, shape) -> None:
    """Write ``shape`` into a TensorShapeProto (of any generated class)."""
    del proto.dim[:]
    for size in shape:
        proto.dim.add(size=int(size))


def shape_of(proto) -> tuple[int, ...] | None:
    """A TensorShapeProto as a tuple (-1 for an unknown dimension), None for unknown rank."""
    if proto.unknown_rank:
        return None
    return tuple(int(d.size) for d in proto.dim)


def _to_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytearray, memoryview, np.bytes_)):
        return bytes(value)
    raise TypeError(f"a string tensor holds bytes or str, got {type(value).__name__}")


def make_tensor_proto(values, dtype: int | None = None, into=None):
    """numpy array (or anything np.asarray takes, or bytes) -> TensorProto.

    ``dtype`` (a DataType enum number) casts numeric arrays; strings may be bytes or str
    (str is UTF-8 encoded). ``into``: an empty TensorProto to fill (e.g.
    ``response.outputs[key]``, or one of TensorFlow's own classes) instead of a new one.
    """
    if isinstance(values, (bytes, str)):
        array = np.array(values, dtype=object)
    else:
        array = np.asarray(values)
    enum = tf_dtype_of(array) if dtype is None else dtype
    proto = TensorProto() if into is None else into
    proto.dtype = enum
    fill_shape(proto.tensor_shape, array.shape)
    if enum == pb.DT_STRING:
        if array.dtype.kind not in "OSU":
            raise TypeError(f"DT_STRING needs bytes or str values, got numpy {array.dtype}")
        proto.string_val.extend(_to_bytes(v) for v in array.reshape(-1).tolist())
        return proto
    if array.dtype.kind in "OSU":
        raise TypeError(f"{dtype_name(enum)} needs numeric values, got strings")
    target = _NUMPY_BY_DTYPE[enum]
    proto.tensor_content = np.ascontiguousarray(array, dtype=target).tobytes()
    return proto


def make_ndarray(proto) -> np.ndarray:
    """TensorProto (ours or TensorFlow's) -> numpy array (strings as an object array of bytes)."""
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    if proto.dtype == pb.DT_STRING:
        values = list(proto.string_val)
        if len(values) == 1 and count != 1:
            values = values * count  # the one-value fill form
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    if proto.dtype not in _NUMPY_BY_DTYPE:
        raise TypeError(f"cannot convert a {dtype_name(proto.dtype)} tensor to numpy")
    target = _NUMPY_BY_DTYPE[proto.dtype]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=target).reshape(shape).copy()
    field = getattr(proto, _VALUE_FIELD[proto.dtype])
    if proto.dtype == pb.DT_HALF:  # half_val holds the 16-bit patterns as int32
        values = np.asarray(field, dtype=np.uint16).view(np.float16)
    else:
        values = np.asarray(field, dtype=target)
    if values.size == count:
        return values.reshape(shape)
    if values.size == 1 or (values.size == 0 and count > 0):
        fill = values[0] if values.size else target.type(0)
        return np.full(shape, fill, dtype=target)
    if count == 0:
        return np.zeros(shape, dtype=target)
    raise ValueError(f"tensor of shape {list(shape)} holds {values.size} values in {_VALUE_FIELD[proto.dtype]}")


def numpy_dtype(dtype: int) -> np.dtype:
    """The numpy dtype of a numeric DataType enum (TypeError for others)."""
    if dtype not in _NUMPY_BY_DTYPE:
        raise TypeError(f"{dtype_name(dtype)} has no numpy equivalent")
    return _NUMPY_BY_DTYPE[dtype]
