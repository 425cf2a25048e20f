"""numpy <-> ``tensorflow.TensorProto`` without running TensorFlow ops.

Written by hand rather than with ``tf.make_tensor_proto``/``tf.make_ndarray`` because
the client must stay thin and fast: numeric arrays travel as raw little-endian bytes in
``tensor_content`` (what ``tf.make_tensor_proto`` does too), strings in ``string_val``.
Decoding also accepts the typed repeated fields (``float_val``, ``int_val``, ...) that
TF Serving and other clients may send, including the one-value "fill" form.
"""
from __future__ import annotations

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

# TF dtype enum <-> numpy dtype (little-endian, as TensorFlow stores tensor_content).
_NUMPY_BY_DTYPE = {
    types_pb2.DT_FLOAT: np.dtype("<f4"),
    types_pb2.DT_DOUBLE: np.dtype("<f8"),
    types_pb2.DT_HALF: np.dtype("<f2"),
    types_pb2.DT_INT8: np.dtype("i1"),
    types_pb2.DT_INT16: np.dtype("<i2"),
    types_pb2.DT_INT32: np.dtype("<i4"),
    types_pb2.DT_INT64: np.dtype("<i8"),
    types_pb2.DT_UINT8: np.dtype("u1"),
    types_pb2.DT_UINT16: np.dtype("<u2"),
    types_pb2.DT_UINT32: np.dtype("<u4"),
    types_pb2.DT_UINT64: np.dtype("<u8"),
    types_pb2.DT_BOOL: np.dtype("?"),
}
_DTYPE_BY_KIND = {(d.kind, d.itemsize): enum for enum, d in _NUMPY_BY_DTYPE.items()}

# The typed repeated field each dtype uses when tensor_content is empty.
_VALUE_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}


def dtype_name(dtype: int) -> str:
    """'DT_FLOAT' -> for messages."""
    return types_pb2.DataType.Name(dtype)


def tf_dtype_of(array: np.ndarray) -> int:
    """The TF dtype enum of a numpy array; str/bytes/object arrays are DT_STRING."""
    if array.dtype.kind in "OSU":
        return types_pb2.DT_STRING
    try:
        return _DTYPE_BY_KIND[(array.dtype.kind, array.dtype.itemsize)]
    except KeyError:
        raise TypeError(f"numpy dtype {array.dtype} has no TensorFlow equivalent") from None


def shape_proto(shape) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=int(s)) for s in shape])


def shape_of(proto: tensor_shape_pb2.TensorShapeProto) -> tuple[int, ...] | None:
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


def make_tensor_proto(values, dtype: int | None = None) -> tensor_pb2.TensorProto:
    """numpy array (or anything np.asarray takes, or bytes) -> TensorProto.

    ``dtype`` (a ``types_pb2`` enum) casts numeric arrays; strings may be bytes or str
    (str is UTF-8 encoded).
    """
    if isinstance(values, (bytes, str)):
        array = np.array(values, dtype=object)
    else:
        array = np.asarray(values)
    enum = tf_dtype_of(array) if dtype is None else dtype
    proto = tensor_pb2.TensorProto(dtype=enum, tensor_shape=shape_proto(array.shape))
    if enum == types_pb2.DT_STRING:
        if array.dtype.kind not in "OSU":
            raise TypeError(f"DT_STRING needs bytes or str values, got numpy {array.dtype}")
        proto.string_val.extend(_to_bytes(v) for v in array.reshape(-1).tolist())
        return proto
    if array.dtype.kind in "OSU":
        raise TypeError(f"{dtype_name(enum)} needs numeric values, got strings")
    target = _NUMPY_BY_DTYPE[enum]
    proto.tensor_content = np.ascontiguousarray(array, dtype=target).tobytes()
    return proto


def make_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """TensorProto -> numpy array (strings as an object array of bytes)."""
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    if proto.dtype == types_pb2.DT_STRING:
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
    if proto.dtype == types_pb2.DT_HALF:  # half_val holds the 16-bit patterns as int32
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
