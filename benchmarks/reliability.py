"""Reliability of the serving path under load, faults and hostile input, against real
started server processes (``python -m fashion_tf.serving.server``).

    python benchmarks/reliability.py                       # full: 32 clients x 60 s, 1000 bad requests
    python benchmarks/reliability.py --seconds 20 --corpus 200 --export_kills 5   # quicker

Scenarios (each one's figures in ``benchmarks/results/reliability.json``):

- load: ``--clients`` concurrent clients for ``--seconds``, half gRPC half REST, cycling
  through the export's signatures (``serving_default``, ``similar``); answers, errors,
  p50/p99 latency, server RSS after warm-up and at the end;
- restart: clients with a :class:`~fashion_tf_client.RetryPolicy` while the server is
  SIGKILLed and restarted on the same ports: requests lost (target 0);
- new version: a version 2 renamed into the repository under load (clients without
  retries): errors during the switch (target 0) and the version serving afterwards;
- export kills: ``fashion_tf.export.write_version_atomically`` SIGKILLed at random
  moments into the served repository: half versions visible or loaded (target 0);
- index faults: truncated, missing and foreign-manifest index files: errors that name
  the file (target: all);
- bad-input corpus: ``--corpus`` malformed Predict requests drawn by Hypothesis
  (``tests/bad_requests.py``) plus REST bodies (junk JSON, a 50 MB body): each refused
  with the expected code and a good request answered after it; server RSS before/after.

The model is the serving graph the export writes around a small random CNN (64 px, two
conv layers, 200 catalog items; ``tests/serving_fixtures.py``), or ``--model_base_path``
(an export such as ``export/fashion``). The machine is shared: latencies are what it gave.
"""
from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from measure import Report, log  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "reliability.json"
PARAMS = ROOT / "serving" / "batching_parameters.txt"
NAME = "fx"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


def percentile(values, q):
    return round(float(np.percentile(values, q)), 1) if values else None


class Served:
    """A server process on fixed gRPC and REST ports (so it can be restarted on them)."""

    def __init__(self, base: Path, log_path: Path, *flags: str):
        from server_process import free_port

        self.base, self.log_path, self.flags = base, log_path, flags
        self.port, self.rest_port = free_port(), free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.rest = f"http://127.0.0.1:{self.rest_port}/v1/models/{NAME}"
        self.process = None

    def start(self):
        from server_process import start_server

        self.process, _ = start_server(NAME, self.log_path, "--model_name", NAME, "--model_base_path",
                                       str(self.base), "--rest_api_port", str(self.rest_port),
                                       "--file_system_poll_wait_seconds", "0.5", *self.flags, timeout=900,
                                       port=self.port)

    def kill(self):
        from server_process import stop_server

        stop_server(self.process)


def caller(served: Served, kind: str, image: bytes, retry=None):
    """A function making one request of ``kind`` ("grpc:embed", "rest:similar", ...)."""
    from fashion_tf_client import Client
    from fashion_tf_client.rest import RestClient

    protocol, signature = kind.split(":")
    if protocol == "grpc":
        client = Client(served.target, timeout=120, model=NAME, retry=retry)
        if signature == "embed":
            return lambda: client.embed(image)
        return lambda: client.similar(image, k=10)
    rest = RestClient(served.rest.split("/v1/")[0], NAME, timeout=120)
    b64 = {"b64": base64.b64encode(image).decode()}
    if signature == "embed":
        return lambda: rest.predict({"images": [b64]})
    return lambda: rest.predict({"images": [b64], "k": 10}, signature_name="similar")


def drive(served, image, clients, seconds, kinds, retry=None, during=None):
    """``clients`` threads calling for ``seconds`` (or until ``during()`` returns and 2 s
    more); every call's latency and every error."""
    latencies, errors, stop = [], [], threading.Event()

    def loop(index):
        call = caller(served, kinds[index % len(kinds)], image, retry)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                call()
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception as error:  # noqa: BLE001  (counted: an error is a lost request)
                errors.append(f"{type(error).__name__}: {str(error)[:200]}")

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    extra = {}
    if during is not None:
        time.sleep(min(3.0, seconds / 3))
        extra = during() or {}
        time.sleep(2.0)
    else:
        time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=300)
    wall = time.perf_counter() - started
    return {"answered": len(latencies), "errors": len(errors), "first_errors": errors[:3],
            "seconds": round(wall, 1), "answers_per_s": round(len(latencies) / wall, 1),
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99), **extra}


def scenario_load(served, image, args):
    kinds = ["grpc:embed", "rest:embed", "grpc:similar", "rest:similar"]
    drive(served, image, 8, 3, kinds)  # warm-up: every path compiled and allocated
    before = rss_mb(served.process.pid)
    result = drive(served, image, args.clients, args.seconds, kinds)
    after = rss_mb(served.process.pid)
    return {**result, "clients": args.clients, "mix": kinds, "rss_start_mb": round(before, 1),
            "rss_end_mb": round(after, 1), "rss_growth_pct": round(100 * (after - before) / before, 1)}


def scenario_restart(served, image, args):
    from fashion_tf_client import RetryPolicy

    policy = RetryPolicy(max_attempts=1000, initial_backoff=0.05, max_backoff=1.0)

    def restart():
        served.kill()
        down = time.perf_counter()
        served.start()
        return {"restart_seconds": round(time.perf_counter() - down, 1)}

    result = drive(served, image, 8, 10, ["grpc:embed", "grpc:similar"], retry=policy, during=restart)
    return {**result, "lost": result["errors"], "retry_policy": "max_attempts 1000, backoff 0.05 s x2 up to 1 s"}


def scenario_new_version(served, image, args, build):
    from fashion_tf_client import Client

    staging = served.base.parent / ".staging-2"
    build(staging, seed=1)

    def swap():
        os.rename(staging, served.base / "2")
        deadline = time.time() + 300
        with Client(served.target, timeout=30, model=NAME) as client:
            while time.time() < deadline:
                if client.status()[0]["version"] == 2 and client.status()[0]["state"] == "AVAILABLE":
                    break
                time.sleep(0.2)
            return {"serving_version_after": int(client.metadata()["version"])}

    return drive(served, image, 8, 10, ["grpc:embed", "grpc:similar", "rest:embed"], during=swap)


KILLED_EXPORT = """
import sys, fashion_tf
from pathlib import Path
from serving_fixtures import fixture_keras_model
from fashion_tf.export import write_version_atomically
from fashion_tf.serving_graph import ServingModule
import numpy as np
catalog = np.eye(200, 16, dtype=np.float32)
module = ServingModule(fixture_keras_model(7, 64, 16, 8, (16, 32)), [f"l{i}" for i in range(8)], 64,
                       [f"item_{i:03d}" for i in range(200)], catalog)
print("ready", flush=True)
sys.stdin.readline()
write_version_atomically(module, Path(sys.argv[1]), int(sys.argv[2]), {})
print("done", flush=True)
"""


def scenario_export_kills(served, args):
    from fashion_tf_client import Client

    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
    rng = random.Random(0)
    outcomes, half_visible, versions_seen = [], 0, set()
    for trial in range(args.export_kills):
        version = 100 + trial
        child = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(served.base), str(version)], cwd=ROOT,
                                 env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True)
        assert child.stdout.readline().strip() == "ready"
        delay = rng.uniform(0.0, 3.0)  # saving this model takes ~1-3 s here: kills land all along it
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        published = (served.base / str(version)).exists()
        if published and not (served.base / str(version) / "saved_model.pb").is_file():
            half_visible += 1
        outcomes.append("published whole" if published else "killed before publishing")
        time.sleep(1.2)  # two polls of the server
        with Client(served.target, timeout=30, model=NAME) as client:
            for status in client.status():
                versions_seen.add(status["version"])
                if status["error_message"]:
                    half_visible += 1
        for leftover in served.base.glob(".tmp-*"):
            shutil.rmtree(leftover)
    return {"kills": args.export_kills, "half_versions_visible_or_failed_loads": half_visible,
            "published_whole": outcomes.count("published whole"),
            "killed_before_publishing": outcomes.count("killed before publishing")}


def scenario_index_faults(tmp: Path):
    import fashion_tf  # noqa: F401
    from fashion_tf.retrieval import IndexMismatchError, build_index, load_index
    from fashion_tf.retrieval.manifest import IndexFormatError

    ids = [f"item_{i:03d}" for i in range(300)]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    cases, named = 0, 0
    for backend in ("brute", "scann"):
        directory = tmp / f"index_{backend}"
        build_index(ids, vectors, backend=backend, model_fingerprint="aaaa").save(directory)
        build_index(ids, -vectors, backend=backend, model_fingerprint="bbbb").save(tmp / f"other_{backend}")
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            original = path.read_bytes()
            for damage in ("truncated", "missing", "foreign manifest"):
                if damage == "truncated":
                    path.write_bytes(original[: len(original) // 2])
                elif damage == "missing":
                    path.unlink()
                elif path.name == "manifest.json":
                    shutil.copy(tmp / f"other_{backend}" / "manifest.json", path)
                else:
                    continue
                cases += 1
                try:
                    load_index(directory, expected_fingerprint="aaaa")
                except (IndexFormatError, IndexMismatchError) as error:
                    named += str(path.parent) in str(error)
                path.write_bytes(original)
    return {"cases": cases, "errors_naming_the_file": named}


def post_declaring(served, length: int) -> int:
    """HTTP status of a predict POST declaring a ``length``-byte body, of which the first
    bytes are sent (a client pushing 50 MB: the server must answer without reading it)."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", served.rest_port), timeout=30) as sock:
            sock.sendall(f"POST /v1/models/{NAME}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         f"\r\nContent-Length: {length}\r\n\r\n".encode() + b'{"inputs":')
            return int(sock.recv(65536).split(b" ", 2)[1])
    except OSError:
        return 0  # no answer: counted as unexpected


def scenario_corpus(served, image, args):
    import grpc
    from bad_requests import malformed_requests
    from hypothesis import HealthCheck, given, settings
    from server_process import http_json

    from fashion_tf.serving.image_limits import DEFAULT_MAX_REQUEST_PIXELS
    from fashion_tf_client import messages as pb

    channel = grpc.insecure_channel(served.target, options=[("grpc.max_send_message_length", -1)])
    stub = pb.Stub(channel, pb.PREDICTION_SERVICE)
    good = pb.PredictRequest()
    good.model_spec.name = NAME
    good.inputs["images"].CopyFrom(pb.TensorProto(dtype=pb.DT_STRING, string_val=[image],
                                                  tensor_shape={"dim": [{"size": 1}]}))
    counts, wrong, good_failed = {}, [], 0
    before = rss_mb(served.process.pid)
    peak = before

    def check(what, code, expected):
        nonlocal good_failed, peak
        counts[code] = counts.get(code, 0) + 1
        if code not in expected:
            wrong.append(f"{what}: {code}")
        try:
            stub.Predict(good, timeout=120)
        except grpc.RpcError:
            good_failed += 1
        peak = max(peak, rss_mb(served.process.pid))

    @settings(max_examples=args.corpus, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=malformed_requests(NAME, image, args.catalog_size, DEFAULT_MAX_REQUEST_PIXELS))
    def one(case):
        what, request, expected = case
        try:
            stub.Predict(request, timeout=120)
            code = "OK"
        except grpc.RpcError as error:
            code = error.code().name
        check(what, code, expected)

    one()
    for what, body in (("junk JSON", b"{not json"), ("not an object", b"[1, 2]"), ("50 MB body", None)):
        status = http_json("POST", served.rest + ":predict", body)[0] if body else post_declaring(served, 50_000_000)
        check(what, {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}.get(status, str(status)),
              ("RESOURCE_EXHAUSTED",) if body is None else ("INVALID_ARGUMENT",))
    channel.close()
    after = rss_mb(served.process.pid)
    return {"requests": sum(counts.values()), "answers_by_code": counts, "unexpected": len(wrong),
            "first_unexpected": wrong[:5], "good_request_failed_after": good_failed,
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1), "rss_after_mb": round(after, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--corpus", type=int, default=1000)
    parser.add_argument("--export_kills", type=int, default=20)
    parser.add_argument("--model_base_path", default=None, help="serve this export instead of the fixture model")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--only", default="", help="comma-separated scenarios to rerun; the others are kept "
                                                   "from the existing --out file")
    args = parser.parse_args(argv)
    args.catalog_size = 200

    import fashion_tf  # noqa: F401  (before TensorFlow)
    from serving_fixtures import build_fixture_model, png_bytes

    def build(path, seed=0):
        return build_fixture_model(path, seed=seed, image_size=64, num_items=200, conv_channels=(16, 32))

    report = Report(args.out, "reliability", clients=args.clients, seconds=args.seconds, corpus=args.corpus,
                    export_kills=args.export_kills, model=args.model_base_path or "fixture CNN 64 px, 200 items")
    report.data["scenarios"] = {}
    only = [name for name in args.only.split(",") if name]
    if only and Path(args.out).is_file():
        import json

        report.data["scenarios"] = json.loads(Path(args.out).read_text()).get("scenarios", {})
    image = png_bytes(0, size=120)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / NAME
        if args.model_base_path:
            shutil.copytree(args.model_base_path, base)
        else:
            build(base / "1")
        # 16 MiB request limit: the corpus's 50 MB body must be over it (the default is 64 MiB).
        served = Served(base, tmp / "server.log", "--enable_batching", "--batching_parameters_file", str(PARAMS),
                        "--max_request_bytes", str(16 << 20))
        served.start()
        try:
            steps = [("load", lambda: scenario_load(served, image, args)),
                     ("bad_input_corpus", lambda: scenario_corpus(served, image, args)),
                     ("restart_under_load", lambda: scenario_restart(served, image, args)),
                     ("new_version_under_load", lambda: scenario_new_version(served, image, args, build)),
                     ("export_kills", lambda: scenario_export_kills(served, args)),
                     ("index_faults", lambda: scenario_index_faults(tmp))]
            for name, step in steps:
                if only and name not in only:
                    continue
                log(f"{name} ...")
                try:
                    result = step()
                except Exception as error:  # recorded, and the other scenarios still run
                    result = {"failed": f"{type(error).__name__}: {error}"}
                report.data["scenarios"][name] = result
                report.write()
                log(f"{name}: {result}")
        finally:
            served.kill()
    report.data["not_measured"] = ["training killed at random moments and resumed (tests/test_train.py covers "
                                   "one kill and resume; no metric-tolerance figure here)"]
    report.write()
    try:
        print(summary(report.data["scenarios"]))
    except KeyError as error:
        print(f"a scenario failed ({error}); see {args.out}")
    return 0


def summary(s: dict) -> str:
    load, corpus = s["load"], s["bad_input_corpus"]
    restart, new, kills, index = (s["restart_under_load"], s["new_version_under_load"], s["export_kills"],
                                  s["index_faults"])
    return "\n".join([
        f"load: {load['clients']} clients {load['seconds']} s: {load['answered']} answers, {load['errors']} errors, "
        f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, RSS {load['rss_start_mb']} -> {load['rss_end_mb']} MB "
        f"({load['rss_growth_pct']:+} %)",
        f"restart under load (retries): {restart['answered']} answers, {restart['lost']} lost, "
        f"server back in {restart['restart_seconds']} s",
        f"new version under load: {new['answered']} answers, {new['errors']} errors, serving version "
        f"{new['serving_version_after']} after",
        f"export killed {kills['kills']} times: {kills['half_versions_visible_or_failed_loads']} half versions "
        f"({kills['published_whole']} finished before the kill)",
        f"index faults: {index['errors_naming_the_file']}/{index['cases']} errors name the file",
        f"bad inputs: {corpus['requests']} requests, {corpus['unexpected']} unexpected answers, "
        f"{corpus['good_request_failed_after']} good requests failed after; {corpus['answers_by_code']}; "
        f"RSS {corpus['rss_before_mb']} -> peak {corpus['rss_peak_mb']} MB",
    ])


if __name__ == "__main__":
    sys.exit(main())
