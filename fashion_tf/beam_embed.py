"""Catalog embedding as an Apache Beam pipeline (docs/design.md, "Embedding a catalog on Beam").

``fashion_tf.embed`` embeds a catalog in one process. A catalog of millions of images is
embedded by many workers at once: this pipeline reads the sharded TFRecords that
``tools/write_tfrecords.py`` writes, runs the exported model (``fashion_tf.export``) over
them with Beam's ``RunInference`` and writes sharded embedding files plus a manifest. The
same pipeline runs on the DirectRunner here and on Flink, Spark or Dataflow: every read and
write goes through Beam's IO and ``FileSystems`` (local paths, gs://, s3://, hdfs://), and
the model is loaded once per worker process by ``RunInference``.

The vectors are the paper's "layer before the last" features, L2-normalised (Mohammadi et
al., *Single-Item Fashion Recommender*, section 3, Fig. 2), as the export's
``serving_default`` signature computes them from the encoded image bytes: decoding and
resizing run in the graph with the function the training pipeline evaluates with, so they
equal ``fashion_tf.embed``'s vectors of the same run (tests/test_beam_embed.py).

Output directory (docs/contracts.md, Retrieval): ``embeddings-00000-of-00004.parquet`` ...
(each an ordinary embedding file, with the model fingerprint in its schema metadata, so
``tools/build_index.py --embeddings DIR`` reads the directory) and, written last,
``embeddings.json``:

    {"format": "fashion_tf.embeddings", "format_version": 1, "model_fingerprint": "...",
     "export": "export/fashion_v5/3", "catalog_fingerprint": "...", "dimension": 256,
     "count": 59, "skipped": 1, "skipped_item_ids": ["item-17"],
     "shards": [{"file": "embeddings-00000-of-00004.parquet", "count": 15}, ...]}
"""
from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)

from fashion_tf.data.tfrecords import FORMAT as TFRECORDS_FORMAT
from fashion_tf.data.tfrecords import MANIFEST_NAME as TFRECORDS_MANIFEST
from fashion_tf.retrieval.embeddings_io import embeddings_schema

FORMAT = "fashion_tf.embeddings"
FORMAT_VERSION = 1
MANIFEST_NAME = "embeddings.json"
SHARD_PREFIX = "embeddings"
SHARD_TEMPLATE = "-SSSSS-of-NNNNN"
SKIPPED_IDS_KEPT = 100  # the manifest names at most this many unreadable items (and counts all)


class BeamEmbedError(ValueError):
    """An input of the Beam embedding pipeline (export, TFRecords, output directory) is unusable."""


def _join(directory: str, *names: str) -> str:
    return FileSystems.join(directory, *names)  # keeps the scheme of gs://, s3://, hdfs:// paths


def _read_json(path: str, what: str) -> dict[str, Any]:
    if not FileSystems.exists(path):
        raise BeamEmbedError(f"{path}: not found; expected {what}")
    with FileSystems.open(path) as handle:
        text = handle.read().decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BeamEmbedError(f"{path}: not valid JSON ({error})") from error


def resolve_export(path: str) -> str:
    """An export version directory as given, or the newest version of a model directory
    (``export/fashion_v5`` -> ``export/fashion_v5/3``), as TF Serving would serve it."""
    if FileSystems.exists(_join(path, "saved_model.pb")):
        return path
    versions = [posixpath.basename(posixpath.dirname(m.path))
                for m in FileSystems.match([_join(path, "*", "saved_model.pb")])[0].metadata_list]
    versions = [int(v) for v in versions if v.isdigit()]
    if not versions:
        raise BeamEmbedError(f"{path}: no saved_model.pb here or in a version directory below; expected an "
                             "export such as export/fashion_v5/1 (python -m fashion_tf.export)")
    return _join(path, str(max(versions)))


def export_fingerprint(export_dir: str) -> str:
    """The fingerprint of the model in an export version directory: the
    ``model_fingerprint`` that ``fashion_tf.export`` writes into ``assets/index_manifest.json``
    (the SHA-256 prefix of the run's model.keras, as ``fashion_tf.embed`` records it)."""
    if not FileSystems.exists(_join(export_dir, "saved_model.pb")):
        raise BeamEmbedError(f"{export_dir}: no saved_model.pb; expected an export version directory "
                             "such as export/fashion_v5/1 (python -m fashion_tf.export)")
    manifest = _read_json(_join(export_dir, "assets", "index_manifest.json"),
                          "the index manifest of an image-model export (python -m fashion_tf.export)")
    if not manifest.get("model_fingerprint"):
        raise BeamEmbedError(f"{export_dir}/assets/index_manifest.json: field 'model_fingerprint' missing")
    return str(manifest["model_fingerprint"])


def read_input_manifest(input_dir: str) -> dict[str, Any]:
    """``tfrecords.json`` of a TFRecord directory (fashion_tf/data/tfrecords.py), read through
    Beam's FileSystems so that the directory may be remote."""
    path = _join(input_dir, TFRECORDS_MANIFEST)
    manifest = _read_json(path, "a TFRecord directory (write one with tools/write_tfrecords.py)")
    if manifest.get("format") != TFRECORDS_FORMAT:
        raise BeamEmbedError(f"{path}: field 'format' is {manifest.get('format')!r}, expected {TFRECORDS_FORMAT!r}")
    for field in ("catalog_fingerprint", "count", "shards"):
        if field not in manifest:
            raise BeamEmbedError(f"{path}: field {field!r} missing")
    return manifest


def parse_example(record: bytes) -> tuple[str, str, bytes]:
    """A serialized ``tf.train.Example`` of the TFRecord format -> (item_id, split, image bytes)."""
    from tensorflow.core.example import example_pb2

    features = example_pb2.Example.FromString(record).features.feature
    return (features["item_id"].bytes_list.value[0].decode("utf-8"),
            features["split"].bytes_list.value[0].decode("utf-8"),
            features["image"].bytes_list.value[0])


class SavedModelEmbedder(ModelHandler[bytes, PredictionResult, Any]):
    """RunInference's model handler for a ``fashion_tf.export`` SavedModel: encoded image
    bytes in, the ``serving_default`` signature's ``embedding`` out.

    Beam's own ``TFModelHandlerTensor`` loads models through ``tf.keras.models.load_model``
    (and needs tensorflow_hub); an export is a plain ``tf.Module`` SavedModel whose
    signature takes encoded images, so this loads it with ``tf.saved_model.load``.
    ``RunInference`` calls ``load_model`` once per worker process and batches elements
    (``max_batch_size``). An image the graph cannot decode fails its batch; the batch is
    then embedded image by image and the unreadable ones come back with ``inference=None``
    (``fashion_tf.embed`` skips unreadable images too)."""

    def __init__(self, export_dir: str, batch_size: int = 64):
        super().__init__(min_batch_size=1, max_batch_size=int(batch_size))
        self.export_dir = export_dir

    def load_model(self):
        import tensorflow as tf  # fashion_tf, this module's package, has set up Keras 2 already

        from fashion_tf.serving.server import load_scann_ops

        load_scann_ops()  # a *_scann export's graph holds Scann ops
        return tf.saved_model.load(self.export_dir, tags=["serve"]).signatures["serving_default"]

    def run_inference(self, batch: Sequence[bytes], model, inference_args=None) -> Iterable[PredictionResult]:
        import tensorflow as tf

        try:
            vectors = model(images=tf.constant(list(batch), tf.string))["embedding"].numpy()
            return [PredictionResult(image, vector) for image, vector in zip(batch, vectors)]
        except tf.errors.InvalidArgumentError:
            if len(batch) == 1:
                return [PredictionResult(batch[0], None)]
            return [result for image in batch for result in self.run_inference([image], model)]

    def get_num_bytes(self, batch: Sequence[bytes]) -> int:
        return sum(len(image) for image in batch)

    def get_metrics_namespace(self) -> str:
        return "fashion_tf_embed"


def _to_row(keyed: tuple[str, PredictionResult]):
    item_id, result = keyed
    if result.inference is None:
        return beam.pvalue.TaggedOutput("skipped", item_id)
    return {"item_id": item_id, "embedding": np.asarray(result.inference, np.float32)}


class _WriteManifest(beam.DoFn):
    """Writes ``embeddings.json`` once the shards are final (the manifest is the last file,
    so its presence means the directory is complete)."""

    def __init__(self, out_dir: str, header: dict[str, Any]):
        self.out_dir, self.header = out_dir, header

    def process(self, _, files: list[str], skipped_count: int, skipped_ids: list[str]):
        import pyarrow.parquet as pq

        shards = []
        for path in sorted(files):
            with FileSystems.open(path) as handle:
                rows = pq.ParquetFile(handle).metadata.num_rows
            shards.append({"file": posixpath.basename(path), "count": int(rows)})
        manifest = {**self.header, "count": sum(s["count"] for s in shards), "skipped": int(skipped_count),
                    "skipped_item_ids": sorted(skipped_ids), "shards": shards}
        with FileSystems.create(_join(self.out_dir, MANIFEST_NAME)) as handle:
            handle.write((json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
        yield manifest


def clear_previous_output(out_dir: str) -> None:
    """Removes an earlier run's shards and manifest from ``out_dir`` (so that a run with
    fewer shards leaves no stale ones); refuses a directory holding other Parquet files."""
    manifest_path = _join(out_dir, MANIFEST_NAME)
    ours = FileSystems.match([_join(out_dir, f"{SHARD_PREFIX}-*-of-*.parquet")])[0].metadata_list
    others = [m.path for m in FileSystems.match([_join(out_dir, "*.parquet")])[0].metadata_list
              if m.path not in {o.path for o in ours}]
    if others:
        raise BeamEmbedError(f"{out_dir} holds other Parquet files ({posixpath.basename(others[0])}, ...); "
                             "choose an empty or new --out directory")
    old = [m.path for m in ours] + ([manifest_path] if FileSystems.exists(manifest_path) else [])
    if old:
        FileSystems.delete(old)


def build_pipeline(pipeline: beam.Pipeline, export_dir: str, input_dir: str, out_dir: str,
                   batch_size: int = 64, num_shards: int = 0, split: str | None = None):
    """Adds the embedding pipeline to ``pipeline``; returns the PCollection of the manifest
    (one dict). ``num_shards`` 0 lets the runner choose how many embedding files to write."""
    fingerprint = export_fingerprint(export_dir)
    records_manifest = read_input_manifest(input_dir)
    files = [_join(input_dir, entry["file"]) for entry in records_manifest["shards"]]
    examples = (pipeline
                | "ListShards" >> beam.Create(files)
                | "ReadShards" >> beam.io.ReadAllFromTFRecord()
                | "Parse" >> beam.Map(parse_example))
    if split is not None:
        examples = examples | "KeepSplit" >> beam.Filter(lambda example: example[1] == split)
    outputs = (examples
               | "DropSplit" >> beam.Map(lambda example: (example[0], example[2]))
               | "Embed" >> RunInference(KeyedModelHandler(SavedModelEmbedder(export_dir, batch_size)))
               | "ToRows" >> beam.Map(_to_row).with_outputs("skipped", main="rows"))
    dimension = _export_dimension(export_dir)
    written = outputs.rows | "WriteShards" >> beam.io.WriteToParquet(
        _join(out_dir, SHARD_PREFIX), embeddings_schema(dimension, fingerprint), codec="snappy",
        file_name_suffix=".parquet", num_shards=num_shards, shard_name_template=SHARD_TEMPLATE)
    skipped = outputs.skipped
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_fingerprint": fingerprint,
              "export": export_dir, "catalog_fingerprint": records_manifest["catalog_fingerprint"],
              "split": split, "dimension": dimension}
    return (pipeline
            | "ManifestTrigger" >> beam.Create([None])
            | "WriteManifest" >> beam.ParDo(
                _WriteManifest(out_dir, header),
                files=beam.pvalue.AsList(written),
                skipped_count=beam.pvalue.AsSingleton(skipped | "CountSkipped" >> beam.combiners.Count.Globally()),
                skipped_ids=beam.pvalue.AsSingleton(
                    skipped | "SampleSkipped" >> beam.combiners.Sample.FixedSizeGlobally(SKIPPED_IDS_KEPT))))


def _export_dimension(export_dir: str) -> int:
    """The embedding dimension the export's serving_default signature declares (read from
    saved_model.pb, without loading the model on the launcher)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with FileSystems.open(_join(export_dir, "saved_model.pb")) as handle:
        saved_model.ParseFromString(handle.read())
    for meta_graph in saved_model.meta_graphs:
        signature = meta_graph.signature_def.get("serving_default")
        if signature is not None and "embedding" in signature.outputs:
            return int(signature.outputs["embedding"].tensor_shape.dim[-1].size)
    raise BeamEmbedError(f"{export_dir}: the serving_default signature has no 'embedding' output; expected an "
                         "image-model export (python -m fashion_tf.export of a V1-V5 or tiny run)")


def read_output_manifest(out_dir: str) -> dict[str, Any]:
    """``embeddings.json`` of an output directory, checked."""
    path = _join(out_dir, MANIFEST_NAME)
    manifest = _read_json(path, "an embedding directory written by tools/embed_catalog_beam.py")
    if manifest.get("format") != FORMAT:
        raise BeamEmbedError(f"{path}: field 'format' is {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest

