"""Start and stop the real fashion_tf.serving.server in a subprocess on 127.0.0.1."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from fashion_tf.serving import Client, ServingError

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_server(model: str, log_path: Path, *server_args: str, timeout: float = STARTUP_SECONDS,
                 port: int | None = None):
    """(process, target) of a server on ``port`` (default: a free one), once ``model`` is AVAILABLE."""
    port = port or free_port()
    with open(log_path, "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fashion_tf.serving.server", "--host", "127.0.0.1", "--port", str(port),
             *server_args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
    target = f"127.0.0.1:{port}"

    def available():
        assert process.poll() is None, f"server exited: {log_path.read_text()[-2000:]}"
        try:
            with Client(target, timeout=1.0, model=model) as probe:
                return any(s["state"] == "AVAILABLE" for s in probe.status())
        except ServingError:
            return False

    try:
        wait_until(available, timeout, f"the server to report {model} AVAILABLE")
    except BaseException:
        stop_server(process)
        raise
    return process, target


def stop_server(process):
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def http_json(method: str, url: str, body=None, timeout: float = 60.0) -> tuple[int, dict]:
    """(HTTP status, parsed JSON body) of a real HTTP request; error statuses too."""
    import json
    import urllib.error
    import urllib.request

    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
