"""fashion_tf_client: the thin client of a fashion_tf model server (TensorFlow Serving or
``python -m fashion_tf.serving.server``).

Imports grpcio, protobuf and numpy only -- never TensorFlow -- so backends and small
containers can use it: ``pip install ./client`` installs it alone, and the full
``fashion_tf`` package ships it too (``from fashion_tf.serving import Client`` is the
same class).

    from fashion_tf_client import Client
    with Client("localhost:8500", timeout=10, model="fashion") as client:
        ids, scores = client.similar(open("photo.jpg", "rb").read(), k=10)
"""
from fashion_tf_client.client import Client
from fashion_tf_client.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    ServingError,
    UnavailableError,
    UnimplementedError,
)
from fashion_tf_client.retry import RetryPolicy

__all__ = [
    "Client",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "ResourceExhaustedError",
    "RetryPolicy",
    "ServingError",
    "UnavailableError",
    "UnimplementedError",
]
