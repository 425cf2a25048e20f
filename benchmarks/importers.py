"""Importer benchmark: peak memory and speed of the H&M import on 1 million purchases.

    python benchmarks/importers.py [--rows 1000000] [--articles 20000] [--rounds 5]

Writes an H&M download in the published format (articles.csv with the 25 published
columns, transactions_train.csv with t_dat,customer_id,article_id,price,
sales_channel_id and 64-hex customer ids, images/<3 digits>/<10 digits>.jpg as hard
links to one JPEG), then measures, each in a fresh Python process, its peak resident
memory (``VmHWM``):

| method | what it does |
|---|---|
| ``chunked_import`` | ``import_hm`` (articles, chunked transactions, catalog written) |
| ``whole_file_pandas`` | what a notebook does: ``pd.read_csv`` of the whole transactions file, then ``groupby([customer_id, article_id])`` for counts and last dates |
| ``amazon_reviews`` | ``read_reviews`` of a 2018-layout reviews file with as many reviews as purchases (300,000 reviewers, 20,000 items) |
| ``interpreter_floor`` | Python importing pandas, numpy and the importers, nothing read |

The methods run in interleaved rounds (chunked, whole, reviews, floor, chunked, ...) so that the
load of other jobs on a shared machine hits each alike; reported per method: median and
spread of peak MB and of rows/s. Target: the chunked import of 1 million rows peaks
below 1024 MB. Results: benchmarks/results/importers.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "importers.json"
sys.path.insert(0, str(ROOT / "tests"))

CHILD = {
    "chunked_import": """
from fashion_tf.data.importers import import_hm
start = time.perf_counter()
report = import_hm(SRC, OUT, image_mode="reference", chunk_rows=CHUNK)
seconds = time.perf_counter() - start
rows, kept = report.interaction_rows_read, report.num_interactions
""",
    "whole_file_pandas": """
import pandas as pd
start = time.perf_counter()
df = pd.read_csv(SRC + "/transactions_train.csv", dtype={"article_id": str})
pairs = df.groupby(["customer_id", "article_id"]).agg(n=("t_dat", "size"), last=("t_dat", "max"))
seconds = time.perf_counter() - start
rows, kept = len(df), len(pairs)
""",
    "amazon_reviews": """
from pathlib import Path
from fashion_tf.data.importers.amazon import read_reviews
from fashion_tf.data.importers.common import ImportReport
items = {f"B{k:09d}" for k in range(20000)}
report = ImportReport("amazon", Path(OUT))
start = time.perf_counter()
ratings = read_reviews(SRC + "/AMAZON_FASHION.json", items, report)
seconds = time.perf_counter() - start
rows, kept = report.interaction_rows_read, len(ratings)
""",
    "interpreter_floor": """
import pandas as pd
import fashion_tf.data.importers
start = time.perf_counter()
seconds, rows, kept = time.perf_counter() - start, 0, 0
""",
}
PRELUDE = "import json, sys, time\nSRC, OUT, CHUNK = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
# VmHWM: the peak resident set of this process's own address space. (ru_maxrss would
# also count the parent's memory, inherited through fork before exec.)
EPILOGUE = """
status = open("/proc/self/status").read()
peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
print(json.dumps({"peak_mb": peak_mb, "seconds": seconds, "rows": rows, "kept": kept}))
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_download(root: Path, rows: int, articles: int, customers: int, seed: int = 0) -> Path:
    """An H&M download of ``articles`` articles and ``rows`` purchases."""
    import cv2
    from published_fixtures import ARTICLES, ARTICLES_HEADER

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    products = rng.choice(np.arange(100000, 999999), size=articles // 2, replace=False)
    ids = np.array([f"0{p:06d}{v:03d}" for p in products for v in (1, 2)])[:articles]
    table = pd.DataFrame([ARTICLES[k % len(ARTICLES)] for k in range(len(ids))],
                         columns=ARTICLES_HEADER)
    table["article_id"], table["product_code"] = ids, [i[:7] for i in ids]
    table.to_csv(root / "articles.csv", index=False)
    jpeg = root / "one.jpg"
    cv2.imwrite(str(jpeg), rng.integers(0, 255, (64, 48, 3), dtype=np.uint8))
    for article in ids:
        target = root / "images" / article[:3] / f"{article}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.link(jpeg, target)
    people = np.array([rng.bytes(32).hex() for _ in range(customers)])
    # Popular articles and active customers, as in shop data: Zipf-like draws.
    who = np.minimum(rng.zipf(1.3, rows) - 1, customers - 1)
    what = np.minimum(rng.zipf(1.2, rows) - 1, articles - 1)
    days = np.sort(rng.integers(0, 734, rows))
    pd.DataFrame({
        "t_dat": (np.datetime64("2018-09-20") + days).astype(str),
        "customer_id": people[rng.permutation(customers)[who]],
        "article_id": ids[rng.permutation(articles)[what]],
        "price": np.round(rng.uniform(0.005, 0.1, rows), 16),
        "sales_channel_id": rng.integers(1, 3, rows),
    }).to_csv(root / "transactions_train.csv", index=False)
    return root


def write_reviews(path: Path, rows: int, seed: int = 0) -> Path:
    """A 2018-layout reviews file (AMAZON_FASHION.json): one JSON record a line."""
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, 300_000, rows), rng.integers(0, 20_000, rows)
    ratings = rng.integers(1, 6, rows)
    with path.open("w", encoding="utf-8") as handle:
        for k in range(rows):
            handle.write(json.dumps({
                "overall": float(ratings[k]), "verified": True, "reviewTime": "05 13, 2014",
                "reviewerID": f"A{users[k]:013d}", "asin": f"B{items[k]:09d}",
                "reviewerName": "Amazon Customer", "reviewText": "Fits well, nice fabric. " * 8,
                "summary": "Nice", "unixReviewTime": 1_400_000_000 + k}) + "\n")
    return path


def measure(method: str, src: Path, out: Path, chunk_rows: int) -> dict:
    code = PRELUDE + CHILD[method] + EPILOGUE
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code, str(src), str(out), str(chunk_rows)],
                            capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{method} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> dict:
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 \
        else (values[0], 0, values[0])
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "iqr": q3 - q1, "per_round": values}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_importers_") as tmp:
        src = Path(tmp) / "hm"
        log(f"writing {args.rows:,} transactions, {args.articles:,} articles")
        write_download(src, args.rows, args.articles, args.customers)
        write_reviews(src / "AMAZON_FASHION.json", args.rows)
        size_mb = (src / "transactions_train.csv").stat().st_size / 2 ** 20
        values: dict[str, list[dict]] = {m: [] for m in CHILD}
        for round_index in range(args.rounds):
            for method in CHILD:
                values[method].append(measure(method, src, Path(tmp) / "cat", args.chunk_rows))
            log(f"round {round_index + 1}/{args.rounds}: " + ", ".join(
                f"{m} {v[-1]['peak_mb']:.0f} MB" for m, v in values.items()))
    methods = {}
    for method, runs in values.items():
        methods[method] = {"peak_mb": spread([r["peak_mb"] for r in runs])}
        if method != "interpreter_floor":
            methods[method]["rows_per_s"] = spread([r["rows"] / r["seconds"] for r in runs])
            methods[method]["pairs_kept"] = runs[0]["kept"]
    peak = methods["chunked_import"]["peak_mb"]["median"]
    whole = [w["peak_mb"] / c["peak_mb"] for w, c in zip(values["whole_file_pandas"],
                                                          values["chunked_import"])]
    result = {
        "benchmark": "importers",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "settings": {**vars(args), "transactions_mb": round(size_mb, 1)},
        "methods": methods,
        "ratios": {"whole_file_vs_chunked_peak": spread(whole)},
        "targets": {"chunked_import_peak_mb": {"median": peak, "op": "<", "threshold": 1024,
                                               "met": bool(peak < 1024)}},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    rate = methods["chunked_import"]["rows_per_s"]["median"]
    print(f"H&M import of {args.rows:,} purchases ({size_mb:.0f} MB): peak "
          f"{peak:.0f} MB (target < 1024), {rate:,.0f} rows/s; whole-file pandas peak "
          f"{methods['whole_file_pandas']['peak_mb']['median']:.0f} MB; interpreter "
          f"{methods['interpreter_floor']['peak_mb']['median']:.0f} MB; Amazon reviews peak "
          f"{methods['amazon_reviews']['peak_mb']['median']:.0f} MB -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
