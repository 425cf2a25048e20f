"""Embeds a catalog's TFRecord shards with an exported model on Apache Beam (fashion_tf/beam_embed.py).

    python tools/embed_catalog_beam.py --export export/fashion_v5/1 --input records/shop --out emb/shop
    python tools/embed_catalog_beam.py --export gs://B/export/fashion_v5/1 --input gs://B/records \\
        --out gs://B/emb --runner DataflowRunner --project P --region R --temp_location gs://B/tmp \\
        --setup_file ./setup.py

``--input`` is a directory written by ``tools/write_tfrecords.py``; ``--out`` receives
``embeddings-SSSSS-of-NNNNN.parquet`` (item_id, embedding; readable by
``tools/build_index.py --embeddings DIR``) and ``embeddings.json`` with the model's
fingerprint. Every flag this tool does not know is a Beam pipeline option (``--runner``,
default DirectRunner; see README, "Embedding a catalog on Beam", for Flink, Spark and Dataflow).
"""
from __future__ import annotations

import argparse
import sys
import time

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     epilog="Other flags are Beam pipeline options, e.g. --runner FlinkRunner.")
    parser.add_argument("--export", required=True,
                        help="export version directory (export/fashion_v5/N) or model directory (newest version)")
    parser.add_argument("--input", required=True, help="TFRecord directory (tools/write_tfrecords.py)")
    parser.add_argument("--out", required=True, help="directory for the embedding shards and embeddings.json")
    parser.add_argument("--batch-size", type=int, default=64, help="images per model call (default 64)")
    parser.add_argument("--num-shards", type=int, default=0,
                        help="embedding files to write (default 0: the runner decides)")
    parser.add_argument("--split", default=None, help="train | val | test (default: every item)")
    return parser.parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    args, beam_args = parse_args(argv)
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from fashion_tf import beam_embed

    if args.batch_size < 1 or args.num_shards < 0:
        print("error: --batch-size must be >= 1 and --num-shards >= 0", file=sys.stderr)
        return 2
    options = PipelineOptions(beam_args)  # no --runner: the DirectRunner
    started = time.perf_counter()
    try:
        export_dir = beam_embed.resolve_export(args.export)
        with beam.Pipeline(options=options) as pipeline:  # runs when the block ends
            beam_embed.build_pipeline(pipeline, export_dir, args.input, args.out, args.batch_size,
                                      args.num_shards, args.split)  # checks the inputs first
            beam_embed.clear_previous_output(args.out)
    except beam_embed.BeamEmbedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    manifest = beam_embed.read_output_manifest(args.out)
    print(f"embed_catalog_beam: {manifest['count']:,} embeddings of dimension {manifest['dimension']} "
          f"in {len(manifest['shards'])} shards, {manifest['skipped']} unreadable images skipped "
          f"(model {manifest['model_fingerprint']}) in {seconds:.1f}s "
          f"({manifest['count'] / seconds:.1f} images/s, pipeline start included) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
