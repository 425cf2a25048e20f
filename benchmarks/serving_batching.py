"""Request batching: 32 concurrent single-image clients against the stand-in server with
and without ``--enable_batching`` (``serving/batching_parameters.txt``).

    python benchmarks/serving_batching.py                                   # demo V5 architecture
    python benchmarks/serving_batching.py --model_base_path export/fashion  # a real export

Two servers serve the same SavedModel, one batching, one not, started side by side so
that both see the same machine. In interleaved rounds (``benchmarks/measure.py``, the
first server alternating), the 32 clients (one gRPC channel and thread each,
``--requests`` single-image ``serving_default`` calls each, as a web backend's request
handlers would) run against one server and then the other; a round's throughput is its
images / wall time, and every call's latency is kept. Reported: the per-round ratio
``batching / no batching`` of throughput (median and spread: ``batching_throughput_ratio``,
target >= 1.3), and p50 / p99 latency of each server over all rounds.

The default model is the demo's architecture, V5 (EfficientNetB3 + shallow branch) at
64 px with 800 catalog items, with untrained weights: serving cost does not depend on the
weights' values, and this benchmark needs no finished ``make demo``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))  # measure.py, serving.py's test image
from measure import log

RESULTS = ROOT / "benchmarks" / "results" / "serving.json"
PARAMS = ROOT / "serving" / "batching_parameters.txt"
CACHE = ROOT / ".cache" / "benchmarks" / "demo_v5_64px"  # built once, reused


def build_demo_v5(base: Path, image_size: int = 64, items: int = 800, labels: int = 60) -> Path:
    """The demo's V5 architecture, untrained, exported like fashion_tf.export does."""
    import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)

    # isort: split
    import tensorflow as tf

    from fashion_tf import zoo
    from fashion_tf.serving_graph import ServingModule

    model = zoo.create_model("v5", num_labels=labels, image_size=image_size, weights="none")
    dim = model.get_layer("embedding").output.shape[-1]
    rng = np.random.default_rng(0)
    catalog = rng.normal(0, 1, (items, dim)).astype(np.float32)
    catalog /= np.linalg.norm(catalog, axis=1, keepdims=True)
    module = ServingModule(model, [f"label_{i:02d}" for i in range(labels)], image_size,
                           [f"item_{i:04d}" for i in range(items)], catalog)
    tf.saved_model.save(module, str(base / "1"), signatures=module.signatures())
    return base


def start(base: Path, name: str, log_path: Path, *flags: str):
    from server_process import start_server

    return start_server(name, log_path, "--model_name", name, "--model_base_path", str(base), *flags, timeout=900)


def one_round(target: str, name: str, image: bytes, clients: int, requests: int) -> dict:
    """All clients at once; images/s over the round and every call's latency (ms)."""
    from fashion_tf_client import Client

    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    gate = threading.Barrier(clients + 1)

    def client_loop(index: int) -> None:
        with Client(target, timeout=600.0, model=name) as client:
            client.signature("serving_default")  # metadata fetched before the clock starts
            gate.wait()
            for _ in range(requests):
                started = time.perf_counter()
                try:
                    client.embed([image])
                except BaseException as error:  # noqa: BLE001  (reported, never silently dropped)
                    errors.append(error)
                latencies[index].append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} calls failed, first: {errors[0]}")
    flat = [value for per_client in latencies for value in per_client]
    return {"images_per_s": clients * requests / seconds, "seconds": seconds, "latencies_ms": flat}


def measure(base: Path, name: str, tmp: Path, clients: int, requests: int, rounds: int, params: Path) -> dict:
    """Both servers in interleaved rounds (benchmarks/measure.py), per-round throughput
    ratio, and the latency percentiles of every measured call."""
    from measure import Comparison
    from server_process import stop_server

    from serving import jpeg_224

    image = jpeg_224()
    servers = {
        "batching": start(base, name, tmp / "batching.log", "--enable_batching",
                          "--batching_parameters_file", str(params)),
        "no_batching": start(base, name, tmp / "plain.log"),
    }
    latencies: dict[str, list[float]] = {key: [] for key in servers}

    def method(key: str):
        def one() -> dict:
            result = one_round(servers[key][1], name, image, clients, requests)
            latencies[key].extend(result["latencies_ms"])
            return {"value": result["images_per_s"], "seconds": round(result["seconds"], 3)}
        return one

    try:
        for _, target in servers.values():  # warm both: first call, then all clients once
            one_round(target, name, image, 1, 1)
            one_round(target, name, image, clients, 1)
        comparison = Comparison("batching", unit="images/s", rotate=True)
        for key in servers:
            comparison.add(key, method(key))
        comparison.ratio("batching_throughput_ratio", "batching", "no_batching")
        comparison.target("batching_throughput_ratio", ">=", 1.3)
        result = comparison.run(rounds=rounds, warmup=0)
    finally:
        for process, _ in servers.values():
            stop_server(process)
    result["latency_ms"] = {key: {"p50": round(float(np.percentile(values, 50)), 2),
                                  "p99": round(float(np.percentile(values, 99)), 2), "calls": len(values)}
                            for key, values in latencies.items()}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_base_path", default=None, help="a model's version directory root (default: build)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=8, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batching_parameters_file", default=str(PARAMS))
    parser.add_argument("--out", default=str(RESULTS), help="JSON file; its 'batching' entry is replaced")
    args = parser.parse_args(argv)
    name = "bench"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model_base_path:
            base, note = Path(args.model_base_path), f"export at {args.model_base_path}"
        else:
            base = CACHE
            if not (base / "1" / "saved_model.pb").exists():
                log(f"building the demo V5 architecture (64 px, untrained) as a SavedModel in {base}")
                build_demo_v5(base)
            note = ("the demo's V5 architecture (EfficientNetB3 + shallow branch) at 64 px, untrained weights, "
                    "800 catalog items")
        result = measure(base, name, tmp, args.clients, args.requests, args.rounds, Path(args.batching_parameters_file))
    ratio = result["ratios"]["batching_throughput_ratio"]["median"]
    entry = {
        "benchmark": f"{args.clients} concurrent single-image gRPC clients, server with vs without --enable_batching",
        "model": note, "batching_parameters": Path(args.batching_parameters_file).read_text().strip().splitlines()[-6:],
        "clients": args.clients, "requests_per_client_per_round": args.requests, "rounds": args.rounds,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        **result,
    }
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    data["batching"] = entry
    data["batching_throughput_ratio"] = ratio
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    latency = result["latency_ms"]
    print(f"batching: throughput ratio {ratio:.3f} (target >= 1.3); p50/p99 "
          f"{latency['batching']['p50']}/{latency['batching']['p99']} ms with, "
          f"{latency['no_batching']['p50']}/{latency['no_batching']['p99']} ms without -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
