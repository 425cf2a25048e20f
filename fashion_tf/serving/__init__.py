"""Serving: a thin TF Serving gRPC client and a stand-in TF Serving-protocol server
(DESIGN.md sections 2 and 8). The server lives in :mod:`fashion_tf.serving.server`
(imported on demand: it loads TensorFlow models)."""
from fashion_tf.serving.client import Client
from fashion_tf.serving.errors import (
    DeadlineExceededError, FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError,
    ResourceExhaustedError, ServingError, UnavailableError, UnimplementedError,
)

__all__ = [
    "Client", "ServingError", "InvalidArgumentError", "NotFoundError", "UnavailableError", "DeadlineExceededError",
    "ResourceExhaustedError", "FailedPreconditionError", "UnimplementedError", "InternalError",
]
