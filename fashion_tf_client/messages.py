"""TF Serving's messages and gRPC services, built from this package's own .proto files.

``protos/*.proto`` restate the TensorFlow / TensorFlow Serving definitions the client
needs (same packages, names and field numbers, so the bytes on the wire are TF
Serving's); ``tools/compile_protos.py`` compiles them with protoc into
``protos/serving_apis.binpb``, a FileDescriptorSet. Here that set is loaded into a
*private* descriptor pool and the message classes are made from it: nothing from
TensorFlow or tensorflow-serving-api is imported, and a process that also imports the
official generated modules (the server, the compatibility tests) sees no duplicate
symbols in protobuf's default pool.

Stubs and servicers are made from the service descriptors, which is all that grpc's
generated ``*_pb2_grpc`` modules do: one unary-unary method per rpc, at
``/tensorflow.serving.PredictionService/Predict`` and so on.
"""
from __future__ import annotations

from pathlib import Path

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

DESCRIPTOR_SET = Path(__file__).resolve().parent / "protos" / "serving_apis.binpb"

_pool = descriptor_pool.DescriptorPool()
# The well-known types come from the protobuf runtime itself, the rest from our set.
for _module in (any_pb2, wrappers_pb2):
    _pool.AddSerializedFile(_module.DESCRIPTOR.serialized_pb)
for _file in descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file:
    if not _file.name.startswith("google/protobuf/"):
        _pool.Add(_file)


def _message(full_name: str):
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(full_name))


TensorProto = _message("tensorflow.TensorProto")
TensorShapeProto = _message("tensorflow.TensorShapeProto")
TensorInfo = _message("tensorflow.TensorInfo")
SignatureDef = _message("tensorflow.SignatureDef")
ModelSpec = _message("tensorflow.serving.ModelSpec")
PredictRequest = _message("tensorflow.serving.PredictRequest")
PredictResponse = _message("tensorflow.serving.PredictResponse")
SignatureDefMap = _message("tensorflow.serving.SignatureDefMap")
GetModelMetadataRequest = _message("tensorflow.serving.GetModelMetadataRequest")
GetModelMetadataResponse = _message("tensorflow.serving.GetModelMetadataResponse")
StatusProto = _message("tensorflow.serving.StatusProto")
GetModelStatusRequest = _message("tensorflow.serving.GetModelStatusRequest")
ModelVersionStatus = _message("tensorflow.serving.ModelVersionStatus")
GetModelStatusResponse = _message("tensorflow.serving.GetModelStatusResponse")
BatchingParameters = _message("tensorflow.serving.BatchingParameters")  # the server's batching_parameters.txt

DataType = _pool.FindEnumTypeByName("tensorflow.DataType")
ErrorCode = _pool.FindEnumTypeByName("tensorflow.error.Code")
# DT_FLOAT, DT_STRING, ... as module constants, like TensorFlow's types_pb2.
globals().update({value.name: value.number for value in DataType.values})

PREDICTION_SERVICE = _pool.FindServiceByName("tensorflow.serving.PredictionService")
MODEL_SERVICE = _pool.FindServiceByName("tensorflow.serving.ModelService")


def dtype_name(dtype: int) -> str:
    """7 -> 'DT_STRING' (the enum number itself when unknown)."""
    value = DataType.values_by_number.get(dtype)
    return value.name if value is not None else str(dtype)


def _classes(method):
    return (message_factory.GetMessageClass(method.input_type), message_factory.GetMessageClass(method.output_type))


class Stub:
    """A client stub for one service: ``Stub(channel, PREDICTION_SERVICE).Predict(request, timeout=...)``."""

    def __init__(self, channel, service):
        for method in service.methods:
            request, response = _classes(method)
            setattr(self, method.name, channel.unary_unary(
                f"/{service.full_name}/{method.name}",
                request_serializer=request.SerializeToString, response_deserializer=response.FromString))


def add_servicer(server, service, servicer) -> None:
    """Register ``servicer.<Method>(request, context)`` for every rpc of ``service``."""
    import grpc

    handlers = {}
    for method in service.methods:
        request, response = _classes(method)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name), request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
