"""Typed exceptions for the gRPC statuses of a TF Serving-protocol server.

Every error keeps the gRPC status code (``.code``, a :class:`grpc.StatusCode`) and the
server's message (``.details``), so callers can branch on the type and still show the
server's explanation.
"""
from __future__ import annotations

import grpc


class ServingError(Exception):
    """A failed call to the model server; ``code`` is the gRPC status, ``details`` its message."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str, code: grpc.StatusCode | None = None):
        super().__init__(details)
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}"


class InvalidArgumentError(ServingError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(ServingError):
    code = grpc.StatusCode.NOT_FOUND


class UnavailableError(ServingError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(ServingError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ResourceExhaustedError(ServingError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPreconditionError(ServingError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class UnimplementedError(ServingError):
    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(ServingError):
    code = grpc.StatusCode.INTERNAL


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgumentError, NotFoundError, UnavailableError, DeadlineExceededError,
    ResourceExhaustedError, FailedPreconditionError, UnimplementedError, InternalError,
)}


def error_for(code: grpc.StatusCode, details: str) -> ServingError:
    """The typed exception for a gRPC status code (ServingError for the others)."""
    cls = _BY_CODE.get(code)
    return cls(details) if cls is not None else ServingError(details, code)


def from_rpc_error(error: grpc.RpcError) -> ServingError:
    """Convert a raised :class:`grpc.RpcError` (a grpc.Call) into a typed ServingError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return error_for(code, details or code.name)
