"""Reliability of the serving path under load, faults and hostile input, against real
started server processes (``python -m fashion_tf.serving.server``).

    python benchmarks/reliability.py                       # full: 32 clients x 60 s, 1000 bad requests
    python benchmarks/reliability.py --seconds 20 --corpus 200 --export_kills 5 --training_kills 2  # quicker

Scenarios (each one's figures in ``benchmarks/results/reliability.json``):

- load: ``--clients`` concurrent clients for ``--seconds``, half gRPC half REST, cycling
  through the export's signatures (``serving_default``, ``similar``); answers, errors,
  p50/p99 latency, server RSS after warm-up and at the end;
- restart: clients with a :class:`~fashion_tf_client.RetryPolicy` while the server is
  SIGKILLed and restarted on the same ports: requests lost (target 0);
- new version: a copy of the served version renamed into the repository as the next
  version under load (clients without retries): errors during the switch (target 0) and
  the version serving afterwards;
- export kills and training kills: processes SIGKILLed at random moments
  (``benchmarks/reliability_kills.py``);
- index faults: truncated, missing and foreign-manifest index files: errors that name
  the file (target: all);
- bad-input corpus: ``--corpus`` malformed Predict requests drawn by Hypothesis
  (``tests/bad_requests.py``) plus REST bodies (junk JSON, a 50 MB body): each refused
  with the expected code and a good request answered after it; server RSS before/after.

The served model is the demo's export, ``export/fashion/N`` as ``make demo`` writes it
(the highest N), or ``--model_base_path``; without either, an export of the same size
is built: the demo's model (v5, 64 px) with untrained weights over an 800-item catalog.
The export kills write into a second server's repository (a small random CNN,
``tests/serving_fixtures.py``). The machine is shared: latencies are what it gave, and
the load average is recorded.
"""
from __future__ import annotations

import argparse
import base64
import os
import shutil
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

from measure import Report, log

RESULTS = ROOT / "benchmarks" / "results" / "reliability.json"
PARAMS = ROOT / "serving" / "batching_parameters.txt"


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
        self.name = base.name
        self.port, self.rest_port = free_port(), free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.rest = f"http://127.0.0.1:{self.rest_port}/v1/models/{self.name}"
        self.process = None

    def start(self):
        from server_process import start_server

        self.process, _ = start_server(self.name, self.log_path, "--model_name", self.name, "--model_base_path",
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
        client = Client(served.target, timeout=120, model=served.name, retry=retry)
        if signature == "embed":
            return lambda: client.embed(image)
        return lambda: client.similar(image, k=10)
    rest = RestClient(served.rest.split("/v1/")[0], served.name, timeout=120)
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


def scenario_new_version(served, image, args):
    from fashion_tf_client import Client

    current = max(int(p.name) for p in served.base.iterdir() if p.name.isdigit())
    staging = served.base.parent / f".staging-{current + 1}"
    shutil.copytree(served.base / str(current), staging)  # written beside, renamed in whole

    def swap():
        os.rename(staging, served.base / str(current + 1))
        deadline = time.time() + 300
        with Client(served.target, timeout=30, model=served.name) as client:
            while time.time() < deadline:
                status = client.status()[0]
                if status["version"] == current + 1 and status["state"] == "AVAILABLE":
                    break
                time.sleep(0.2)
            return {"serving_version_before": current, "serving_version_after": int(client.metadata()["version"])}

    return drive(served, image, 8, 10, ["grpc:embed", "grpc:similar", "rest:embed"], during=swap)


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
            sock.sendall(f"POST /v1/models/{served.name}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
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
    good.model_spec.name = served.name
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
    @given(case=malformed_requests(served.name, image, args.catalog_size, DEFAULT_MAX_REQUEST_PIXELS))
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


def demo_export(tmp: Path, given: str | None) -> tuple[Path, str]:
    """(a copy of the served repository at ``tmp/NAME``, what it is): ``given``, else the
    demo's export/fashion, else a demo-sized export built here."""
    source = Path(given) if given else ROOT / "export" / "fashion"
    versions = sorted(int(p.name) for p in source.iterdir() if p.name.isdigit()) if source.is_dir() else []
    if versions:
        base = tmp / source.name
        shutil.copytree(source / str(versions[-1]), base / "1")
        return base, (f"{source.relative_to(ROOT) if source.is_relative_to(ROOT) else source}/{versions[-1]} "
                      f"(as make demo exports it), served as version 1")
    import numpy as np
    import tensorflow as tf

    from fashion_tf import zoo
    from fashion_tf.data.demo_shop import DEFAULT_ITEMS
    from fashion_tf.export import write_version_atomically
    from fashion_tf.serving_graph import ServingModule

    vocabulary = [f"label_{i:02d}" for i in range(65)]  # the demo shop's label count
    tf.keras.utils.set_random_seed(0)
    model = zoo.create_model("v5", num_labels=len(vocabulary), image_size=64, weights="none")
    dim = int(model.get_layer("embedding").output.shape[-1])
    catalog = np.random.default_rng(0).normal(size=(DEFAULT_ITEMS, dim)).astype(np.float32)
    catalog /= np.linalg.norm(catalog, axis=1, keepdims=True)
    module = ServingModule(model, vocabulary, 64, [f"item_{i:04d}" for i in range(DEFAULT_ITEMS)], catalog)
    write_version_atomically(module, tmp / "fashion", 1, {})
    return tmp / "fashion", (f"no demo export found: built one of its size (v5, 64 px, untrained, "
                             f"{DEFAULT_ITEMS}-item catalog)")


def catalog_size(base: Path) -> int:
    import json

    manifest = base / "1" / "assets" / "index_manifest.json"
    return json.loads(manifest.read_text())["count"] if manifest.is_file() else 800


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--corpus", type=int, default=1000)
    parser.add_argument("--export_kills", type=int, default=20)
    parser.add_argument("--training_kills", type=int, default=5)
    parser.add_argument("--training_seeds", type=int, default=3,
                        help="uninterrupted training runs over seeds 0 .. N-1 (the spread next to the kills)")
    parser.add_argument("--model_base_path", default=None, help="serve this export (default: export/fashion)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--only", default="", help="comma-separated scenarios to rerun; the others are kept "
                                                   "from the existing --out file")
    args = parser.parse_args(argv)

    import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)

    # isort: split
    from reliability_kills import scenario_export_kills, scenario_training_kills
    from serving_fixtures import build_fixture_model, png_bytes

    from fashion_tf_client import Client

    only = [name for name in args.only.split(",") if name]
    report = Report(args.out, "reliability", clients=args.clients, seconds=args.seconds, corpus=args.corpus,
                    export_kills=args.export_kills, training_kills=args.training_kills,
                    training_seeds=args.training_seeds)
    report.data["scenarios"] = {}
    if only and Path(args.out).is_file():
        import json

        previous = json.loads(Path(args.out).read_text())
        report.data["scenarios"] = previous.get("scenarios", {})
        report.data["settings"] = {**previous.get("settings", {}), **report.data["settings"]}
    image = png_bytes(0, size=120)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        serving_names = ("load", "bad_input_corpus", "restart_under_load", "new_version_under_load")
        needs_server = not only or any(name in only for name in serving_names)
        served = None
        if needs_server:  # the kill and index scenarios build their own small models
            base, described = demo_export(tmp, args.model_base_path)
            args.catalog_size = catalog_size(base)
            report.data["settings"]["model"] = described
            report.data["settings"]["catalog_items"] = args.catalog_size
            # 16 MiB request limit: the corpus's 50 MB body must be over it (the default is 64 MiB).
            served = Served(base, tmp / "server.log", "--enable_batching", "--batching_parameters_file",
                            str(PARAMS), "--max_request_bytes", str(16 << 20))
        kills_base = tmp / "kills"

        def export_kills():
            build_fixture_model(kills_base / "1", image_size=64, num_items=200, conv_channels=(16, 32))
            small = Served(kills_base, tmp / "kills.log")
            small.start()
            try:
                return scenario_export_kills(lambda: Client(small.target, timeout=30, model=small.name),
                                             kills_base, args.export_kills)
            finally:
                small.kill()

        serving = [("load", lambda: scenario_load(served, image, args)),
                   ("bad_input_corpus", lambda: scenario_corpus(served, image, args)),
                   ("restart_under_load", lambda: scenario_restart(served, image, args)),
                   ("new_version_under_load", lambda: scenario_new_version(served, image, args))]
        others = [("export_kills", export_kills),
                  ("training_kills", lambda: scenario_training_kills(tmp, args.training_kills,
                                                                                 seeds=args.training_seeds)),
                  ("index_faults", lambda: scenario_index_faults(tmp))]
        if needs_server:
            served.start()
        try:
            for name, step in serving + others:
                if only and name not in only:
                    continue
                log(f"{name} ...")
                try:
                    result = step()
                except Exception as error:  # noqa: BLE001  (recorded, and the other scenarios still run)
                    result = {"failed": f"{type(error).__name__}: {error}"}
                report.data["scenarios"][name] = result
                report.write()
                log(f"{name}: {result}")
        finally:
            if served is not None and served.process is not None:
                served.kill()
    report.data.pop("not_measured", None)
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
    train = s["training_kills"]
    return "\n".join([
        (f"load: {load['clients']} clients {load['seconds']} s: {load['answered']} answers, {load['errors']} errors, "
         f"p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, RSS {load['rss_start_mb']} -> {load['rss_end_mb']} MB "
         f"({load['rss_growth_pct']:+} %)"),
        (f"restart under load (retries): {restart['answered']} answers, {restart['lost']} lost, "
         f"server back in {restart['restart_seconds']} s"),
        (f"new version under load: {new['answered']} answers, {new['errors']} errors, serving version "
         f"{new['serving_version_after']} after"),
        (f"export killed {kills['kills']} times: {kills['half_versions_visible']} half versions visible, "
         f"{kills['failed_loads']} failed loads ({kills['published_whole']} finished before the kill, "
         f"{kills['killed_in_rename_pause']} killed in the pause before the rename)"),
        (f"training killed {train['kills']} times mid-training ({train['killed_mid_training']} after finished "
         f"epochs) and rerun: {train['resumed_correctly']} resumed from the last finished epoch, "
         f"{train['within_val_loss_tolerance']} within val_loss {train['val_loss_tolerance']}; max |diff| vs "
         f"uninterrupted {train['max_abs_diff_killed_vs_uninterrupted']}, other seeds {train['max_abs_diff_other_seeds']}"),
        f"index faults: {index['errors_naming_the_file']}/{index['cases']} errors name the file",
        (f"bad inputs: {corpus['requests']} requests, {corpus['unexpected']} unexpected answers, "
         f"{corpus['good_request_failed_after']} good requests failed after; {corpus['answers_by_code']}; "
         f"RSS {corpus['rss_before_mb']} -> peak {corpus['rss_peak_mb']} MB"),
    ])


if __name__ == "__main__":
    sys.exit(main())
