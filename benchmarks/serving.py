"""Serving benchmark: client -> fashion_tf.serving.server -> model vs the same SavedModel
signature called in-process.

    python benchmarks/serving.py                                  # builds a fixture model
    python benchmarks/serving.py --model_base_path export/fashion # a real export

For one 224 px JPEG (batch 1) and for batches of 32 copies, ``serving_default`` is called
sequentially from one caller: in-process (``loaded.signatures[...]`` on a string tensor,
outputs to numpy) and through the server (``Client.predict``: TensorProto encoding,
gRPC over loopback, the server's validation, the same signature call, the response
decoding). The two ways are measured in interleaved rounds (``benchmarks/measure.py``;
in-process block, server block, then server first, ...) so load from other processes hits
both alike. Blocks of calls rather than call-by-call alternation: right after one process
computed, its idle TensorFlow threads still spin for a while and slow the other process
down on a small machine. Per round: p50 latency (ms) of the block (p99 and mean kept as
extras) or its throughput (images/s); per-round ratios ``latency_ratio_single`` = server
p50 / in-process p50 (target <= 1.15) and ``throughput_ratio_batch32`` = server images/s
/ in-process images/s (target >= 0.9), medians and spread. Each measured case is one
``Case`` of ``cases()``; add an entry to measure another signature or batch size.
``latency_ratio_personalize`` is the same p50 ratio for the ``personalize`` signature (one
cart of 6 rated items, top 10), served from a personalizer over a catalog of the paper's
Amazon Fashion size (``--personalize_items``, 163,589 items, 256-d): the cart mean, tower and
a cosine over every catalog item per call.
Results: benchmarks/results/serving.json.

The default model is tests/serving_fixtures.py's fixture with random 3x3 conv layers at
224 px (``--conv`` widths; default 2.1 GMACs per image, about half a ResNet-50), so a
call costs what a small real CNN costs (tens of ms on a CPU); with a nearly free model the fixed gRPC cost would dominate the ratio and say
nothing about serving a real model.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from measure import Comparison, Report, fmt, log

# isort: off
import fashion_tf  # noqa: F401  (Keras 2 as tf.keras, quiet TensorFlow logs)
import tensorflow as tf  # after fashion_tf, which sets TF_USE_LEGACY_KERAS
# isort: on
from fashion_tf.serving import Client, ServingError

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "serving.json"


def jpeg_224() -> bytes:
    """A real photograph (scikit-image's astronaut, bundled), 224x224, JPEG quality 90."""
    import cv2

    try:
        from skimage import data

        rgb = data.astronaut()
    except (ImportError, OSError):  # no scikit-image: a smooth synthetic image instead
        y, x = np.mgrid[0:224, 0:224]
        rgb = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)
    rgb = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def build_default_model(base: Path, conv: tuple[int, ...]) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from serving_fixtures import build_fixture_model

    build_fixture_model(base / "1", seed=0, image_size=224, dim=128, num_labels=100, num_items=1000,
                        conv_channels=conv)
    return base


def conv_gmacs(conv: tuple[int, ...], size: int = 224) -> float:
    """Multiply-accumulates of the default model's 3x3 stride-2 convs, in billions."""
    total, channels = 0, 3
    for width in conv:
        size = (size + 1) // 2
        total += size * size * 9 * channels * width
        channels = width
    return total / 1e9


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(base: Path, name: str, log_path: Path):
    port = free_port()
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "fashion_tf.serving.server", "--host", "127.0.0.1", "--port", str(port),
             "--model_name", name, "--model_base_path", str(base)],
            cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            with Client(target, timeout=2.0, model=name) as probe:
                if any(s["state"] == "AVAILABLE" for s in probe.status()):
                    return process, target
        except ServingError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("server did not become AVAILABLE within 180 s")


@dataclass(frozen=True)
class Case:
    """One measured comparison: ``calls`` calls of a batch of ``batch`` copies of the JPEG
    each way, in ``rounds`` blocks; ``metric`` "p50_ms" (latency, ratio server / in-process,
    lower is better) or "images_per_s" (throughput, ratio server / in-process)."""

    name: str
    batch: int
    calls: int
    metric: str
    ratio: str
    op: str
    threshold: float


def cases(args) -> list[Case]:
    return [Case("single", 1, args.single_calls, "p50_ms", "latency_ratio_single", "<=", 1.15),
            Case(f"batch{args.batch_size}", args.batch_size, args.batch_calls, "images_per_s",
                 f"throughput_ratio_batch{args.batch_size}", ">=", 0.9)]


def block(fn, calls: int, batch: int, metric: str):
    """A method: ``calls`` timed calls of ``fn``; value = the block's p50 ms or images/s."""
    def measure() -> dict:
        seconds = []
        for _ in range(calls):
            started = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - started)
        ms = np.asarray(seconds) * 1000
        figures = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                   "mean_ms": float(ms.mean()), "images_per_s": batch * len(ms) / (ms.sum() / 1000)}
        return {"value": figures[metric], **{k: round(v, 3) for k, v in figures.items() if k != metric}}

    return measure


def measure_case(case: Case, rounds: int, in_process, through_server) -> dict:
    comparison = Comparison(case.name, unit="ms (p50)" if case.metric == "p50_ms" else "images/s", rotate=True)
    per_round = max(1, case.calls // rounds)
    comparison.add("in_process", block(in_process, per_round, case.batch, case.metric))
    comparison.add("server", block(through_server, per_round, case.batch, case.metric))
    comparison.ratio(case.ratio, "server", "in_process").target(case.ratio, case.op, case.threshold)
    return comparison.run(rounds=rounds, warmup=1)


def personalize_latency(tmp: Path, items: int, calls: int, rounds: int) -> dict:
    """p50 of the ``personalize`` signature in-process and through the server (see above)."""
    from fashion_tf.models.personalizer import build_personalizer
    from fashion_tf.personalize_graph import PersonalizeModule

    rng = np.random.default_rng(0)
    ids = [f"item{i:06d}" for i in range(items)]
    model = build_personalizer(ids, rng.normal(size=(items, 256)).astype(np.float32), hidden_units=(256,))
    base = tmp / "personalizer"
    module = PersonalizeModule(model)
    tf.saved_model.save(module, str(base / "1"), signatures=module.signatures())
    signature = tf.saved_model.load(str(base / "1")).signatures["personalize"]
    cart_ids = np.array([ids[i].encode() for i in rng.choice(items, 6, replace=False)], dtype=object)
    ratings = rng.integers(1, 6, 6).astype(np.float32)
    process, target = start_server(base, "personalizer", tmp / "server_personalize.log")
    try:
        with Client(target, timeout=120.0, model="personalizer") as client:
            def in_process():
                outputs = signature(item_ids=tf.constant(cart_ids), ratings=tf.constant(ratings), k=tf.constant(10))
                return {k: v.numpy() for k, v in outputs.items()}

            def through_server():
                return client.predict({"item_ids": cart_ids, "ratings": ratings, "k": np.int32(10)}, "personalize")

            assert in_process()["item_ids"].tolist() == through_server()["item_ids"].tolist()
            log(f"personalize: {calls} calls each way over {items} items in {rounds} interleaved rounds")
            case = Case("personalize", 1, calls, "p50_ms", "latency_ratio_personalize", "<=", 1.15)
            return measure_case(case, rounds, in_process, through_server)
    finally:
        process.terminate()
        process.wait(timeout=60)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_base_path", default=None, help="a model's version directory root (default: build)")
    parser.add_argument("--model_name", default="bench")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--conv", default="96,192,384,768,1536", help="conv widths of the default model")
    parser.add_argument("--single_calls", type=int, default=200)
    parser.add_argument("--batch_calls", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (>= 5)")
    parser.add_argument("--personalize_items", type=int, default=163_589,
                        help="catalog size of the personalize benchmark (0: skip it)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        conv = tuple(int(w) for w in args.conv.split(",") if w)
        if args.model_base_path:
            base = Path(args.model_base_path)
            model_note = f"export at {base}"
        else:
            base = build_default_model(tmp / args.model_name, conv)
            model_note = (f"tests/serving_fixtures.py fixture at 224 px, random 3x3 stride-2 convs {list(conv)} "
                          f"({conv_gmacs(conv):.2f} GMACs per image, about half a ResNet-50), dim 128, 100 labels, "
                          "1000 catalog items")
        versions = sorted(int(p.name) for p in base.iterdir() if p.name.isdigit())
        version_dir = base / str(versions[-1])
        log(f"model {version_dir} ({model_note})")
        loaded = tf.saved_model.load(str(version_dir))
        signature = loaded.signatures[args.signature]
        image = jpeg_224()
        report = Report(args.out, "serving overhead: client -> fashion_tf.serving.server -> SavedModel "
                        "vs in-process signature", model=model_note, signature=args.signature,
                        image=f"one 224x224 JPEG, {len(image)} bytes", rounds=args.rounds,
                        tensorflow=tf.__version__)
        # serving_batching.py's entry in the same file survives this rewrite.
        previous = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
        report.data.update({key: previous[key] for key in ("batching", "batching_throughput_ratio") if key in previous})
        log(f"starting the server on {args.model_name}")
        process, target = start_server(base, args.model_name, tmp / "server.log")
        try:
            with Client(target, timeout=120.0, model=args.model_name) as client:
                input_key = next(iter(client.signature(args.signature).inputs))
                for case in cases(args):
                    images = np.array([image] * case.batch, dtype=object)

                    def in_process(images=images):
                        # Same work as the server: bytes -> tensor, call, outputs -> numpy.
                        outputs = signature(**{input_key: tf.constant(images)})
                        return {k: v.numpy() for k, v in outputs.items()}

                    def through_server(images=images):
                        return client.predict({input_key: images}, signature_name=args.signature)

                    a, b = in_process(), through_server()
                    for key in a:  # the two ways must compute the same thing
                        if a[key].dtype != object:
                            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5)
                    log(f"{case.name}: {case.calls} calls each way in {args.rounds} interleaved rounds")
                    entry = report.add(case.name, measure_case(case, args.rounds, in_process, through_server),
                                       batch=case.batch, calls_per_way=case.calls)
                    log(f"{case.name}: in-process {fmt(entry['methods']['in_process'])}, "
                        f"server {fmt(entry['methods']['server'])} {entry['unit']}; "
                        f"{case.ratio} {fmt(entry['ratios'][case.ratio])}")
        finally:
            process.terminate()
            process.wait(timeout=60)
        if args.personalize_items:
            report.add("personalize", personalize_latency(tmp, args.personalize_items, args.single_calls, args.rounds),
                       catalog_items=args.personalize_items, dim=256, cart_items=6, k=10)
    print(f"serving overhead: targets met {report.data['targets_met']} -> {report.write()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
