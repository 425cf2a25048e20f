"""A small client of TF Serving's REST API (``:8501``), for callers that speak HTTP/JSON
-- the web page (:mod:`fashion_tf.web`), scripts, other languages' examples.

Standard library only (urllib): JSON in, JSON out, images as ``{"b64": ...}``. Errors
become the same typed :mod:`fashion_tf_client.errors` exceptions as over gRPC, from TF
Serving's ``{"error": "..."}`` body and the HTTP status.

    rest = RestClient("http://localhost:8501", model="fashion")
    rest.signatures()                       # {"serving_default": {...}, "similar": {...}}
    rest.predict({"images": [rest.b64(photo)], "k": 10}, signature_name="similar")
"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import grpc

from fashion_tf_client.errors import error_for
from fashion_tf_client.retry import NO_RETRY, RetryPolicy

# TF Serving's HTTP statuses (http_server.cc) back to canonical codes, for the typed errors.
_CODE_BY_HTTP = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
                 403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
                 409: grpc.StatusCode.ABORTED, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
                 499: grpc.StatusCode.CANCELLED, 500: grpc.StatusCode.INTERNAL,
                 501: grpc.StatusCode.UNIMPLEMENTED, 503: grpc.StatusCode.UNAVAILABLE,
                 504: grpc.StatusCode.DEADLINE_EXCEEDED}


class RestClient:
    """One model on a TF Serving REST endpoint (``base_url`` like ``http://host:8501``)."""

    def __init__(self, base_url: str, model: str, timeout: float = 30.0, retry: RetryPolicy | None = None):
        """``retry``: retry calls answered 503 or not reaching the server (UNAVAILABLE),
        with the policy's backoff; None (the default) raises UnavailableError at once."""
        self.base_url, self.model, self.timeout = base_url.rstrip("/"), model, timeout
        self.retry = retry or NO_RETRY

    @staticmethod
    def b64(data: bytes) -> dict:
        return {"b64": base64.b64encode(data).decode("ascii")}

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        return self.retry.call(lambda: self._attempt(method, path, body),
                               lambda error: getattr(error, "code", None))

    def _attempt(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"{self.base_url}/v1/models/{self.model}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", "")
            except ValueError:
                message = ""
            code = _CODE_BY_HTTP.get(error.code, grpc.StatusCode.UNKNOWN)
            raise error_for(code, message or f"HTTP {error.code} from {self.base_url}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise error_for(grpc.StatusCode.UNAVAILABLE, f"cannot reach {self.base_url}: {reason}") from None

    def status(self) -> list[dict]:
        return self._request("GET", "")["model_version_status"]

    def signatures(self) -> dict[str, dict]:
        """{signature name: {"inputs": {key: TensorInfo JSON}, "outputs": ..., "method_name": ...}}."""
        meta = self._request("GET", "/metadata")
        return {name: value for name, value in meta["metadata"]["signature_def"]["signature_def"].items()
                if not name.startswith("__")}

    def predict(self, inputs, signature_name: str = "serving_default") -> dict:
        """Columnar predict: ``inputs`` is ``{key: JSON value}``; returns ``{output: value}``."""
        outputs = self._request("POST", ":predict", {"signature_name": signature_name, "inputs": inputs})["outputs"]
        return outputs if isinstance(outputs, dict) else {"output": outputs}
