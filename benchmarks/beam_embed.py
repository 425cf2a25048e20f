"""Catalog embedding: Apache Beam (DirectRunner) vs ``fashion_tf.embed`` in one process.

Both embed the same demo-shop catalog with the same model, the demo's V5 architecture
(EfficientNetB3 + shallow branch) at 64 px trained for one epoch: ``fashion_tf.embed``
from the catalog directory through tf.data (``compute_embeddings`` + ``write_embeddings``),
Beam through ``tools/embed_catalog_beam.py`` from the catalog's TFRecord shards and the
run's export (read, RunInference, Parquet shards, manifest). Each round times one whole
job end to end, model loading included (a new ``Run`` for embed, the pipeline's own
SavedModel load for Beam), as a user waits for it; the two run in interleaved rounds
(``benchmarks/measure.py``) and the per-round ratio beam / embed is the figure to keep.

    python benchmarks/beam_embed.py [--items 512] [--rounds 5] [--batch-size 64]

Writes ``benchmarks/results/beam_embed.json``. The DirectRunner runs the pipeline in this
one process (``--direct_running_mode in_memory``, one worker): it shows what the Beam
layer costs on one machine; the point of the pipeline is the runners that spread it over many.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from measure import Comparison, Report, fmt, log

import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "beam_embed.json"
CACHE = ROOT / ".cache" / "benchmarks" / "beam_embed"  # shop, run, export, records: built once, reused


def prepare(items: int, image_size: int) -> tuple[Path, Path, Path, Path]:
    """(shop, run, export version, TFRecords) under CACHE, built when missing."""
    from fashion_tf import export, train
    from fashion_tf.config import config_for
    from fashion_tf.data.demo_shop import generate_demo_shop
    from fashion_tf.data.tfrecords import write_tfrecords

    base = CACHE / f"{items}_items_{image_size}px"
    shop, run, exported, records = base / "shop", base / "run_v5", base / "export", base / "records"
    if not (shop / "items.parquet").exists():
        log(f"generating a {items}-item demo shop at {image_size} px ...")
        generate_demo_shop(shop, items=items, users=8, seed=0, image_size=image_size)
    if not (run / "config.json").exists():
        log("training v5 for one epoch (weights none) ...")
        train.train(config_for("v5", data=str(shop), epochs=1, image_size=image_size, batch_size=32,
                               weights="none", out=str(run)))
    if not (exported / "fashion_v5" / "1" / "saved_model.pb").exists():
        export.export_run(run, exported, name="fashion_v5", version=1, scann=False)
    if not (records / "tfrecords.json").exists():
        write_tfrecords(shop, records, shards=4)
    return shop, run, exported / "fashion_v5" / "1", records


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=512)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    shop, run_dir, version_dir, records = prepare(args.items, args.image_size)

    from fashion_tf.data.catalog import load_catalog
    from fashion_tf.embed import compute_embeddings
    from fashion_tf.retrieval.embeddings_io import write_embeddings
    from fashion_tf.runs import load_run

    spec = importlib.util.spec_from_file_location("embed_catalog_beam", ROOT / "tools" / "embed_catalog_beam.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    catalog = load_catalog(shop)
    work = CACHE / "out"

    def embed_once() -> dict:
        started = time.perf_counter()
        run = load_run(run_dir)  # a new Run: the Keras model is loaded again, as a new process would
        ids, vectors = compute_embeddings(run, catalog, batch_size=args.batch_size, progress=False)
        write_embeddings(work / "embed.parquet", ids, vectors, run.fingerprint)
        seconds = time.perf_counter() - started
        return {"value": len(ids) / seconds, "seconds": seconds, "images": len(ids)}

    def beam_once() -> dict:
        started = time.perf_counter()
        code = tool.main(["--export", str(version_dir), "--input", str(records), "--out", str(work / "beam"),
                          "--batch-size", str(args.batch_size), "--runner", "DirectRunner"])
        seconds = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"embed_catalog_beam exited {code}")
        return {"value": args.items / seconds, "seconds": seconds, "images": args.items}

    report = Report(args.out, "catalog embedding: Beam DirectRunner vs fashion_tf.embed", items=args.items,
                    image_size=args.image_size, batch_size=args.batch_size, model="v5 (EfficientNetB3), 1 epoch",
                    tfrecord_shards=4, rounds=args.rounds, runner="DirectRunner (in_memory, 1 worker)")
    comparison = (Comparison("embed", unit="images/s", rotate=True)
                  .add("fashion_tf_embed", embed_once)
                  .add("beam_direct_runner", beam_once)
                  .ratio("beam_vs_embed", "beam_direct_runner", "fashion_tf_embed"))
    entry = report.add("embed", comparison.run(rounds=args.rounds))
    for name, method in entry["methods"].items():
        print(f"{name:24s} {fmt(method)} images/s")
    print(f"{'beam / embed':24s} {fmt(entry['ratios']['beam_vs_embed'])}")
    print(f"written to {report.write()}")
    return report.data


if __name__ == "__main__":
    main()
    sys.exit(0)
