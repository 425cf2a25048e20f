"""Import time of the thin client (``import fashion_tf_client``) against the client as it
was imported before it stopped needing TensorFlow (``from fashion_tf.serving import
Client``, which imports fashion_tf and so TensorFlow and Keras).

    python benchmarks/client_import.py

Each import runs in a fresh interpreter (the import is timed inside it, so interpreter
start-up is left out), in interleaved rounds: thin, full, thin, full, ... Results:
benchmarks/results/client_import.json (median and min-max seconds per way, and the
per-round ratio full / thin).
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "client_import.json"
WAYS = {"thin": "import fashion_tf_client", "full": "from fashion_tf.serving import Client"}
CODE = ("import time, sys\nstart = time.perf_counter()\n{statement}\nseconds = time.perf_counter() - start\n"
        "assert ('tensorflow' in sys.modules) == {full}\nprint(seconds)")


def time_import(way: str) -> float:
    code = CODE.format(statement=WAYS[way], full=way == "full")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
    return float(result.stdout.strip().splitlines()[-1])


def main(rounds: int = 7) -> int:
    times = {way: [] for way in WAYS}
    for index in range(rounds):
        for way in (WAYS if index % 2 == 0 else list(WAYS)[::-1]):
            times[way].append(time_import(way))
        print(f"round {index + 1}/{rounds}: " + ", ".join(f"{w} {times[w][-1]:.3f}s" for w in WAYS), file=sys.stderr)
    ratios = [f / t for f, t in zip(times["full"], times["thin"])]
    report = {
        "benchmark": "client import time: fashion_tf_client (no TensorFlow) vs fashion_tf.serving (TensorFlow)",
        "statements": WAYS, "rounds": rounds,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        **{f"{way}_seconds": {"median": round(statistics.median(v), 4), "min": round(min(v), 4),
                              "max": round(max(v), 4)} for way, v in times.items()},
        "full_over_thin_ratio": {"median": round(statistics.median(ratios), 2), "min": round(min(ratios), 2),
                                 "max": round(max(ratios), 2)},
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"thin client import {report['thin_seconds']['median']:.3f}s, with TensorFlow "
          f"{report['full_seconds']['median']:.3f}s (x{report['full_over_thin_ratio']['median']}) -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
