"""A training run directory and how to read it back (docs/contracts.md, "Runs").

``python -m fashion_tf.train`` writes ``model.keras``, ``config.json``, ``labels.json``,
``history.csv``, ``metrics.json`` and ``training_curves.png`` into one directory; every
later step (embed, recommend, evaluate, export) starts from that directory through
:func:`load_run`, so the image size and label vocabulary always travel with the model.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CURVES_FILE = "training_curves.png"


class RunError(ValueError):
    """A run directory is missing a file or holds an unreadable one."""


def file_fingerprint(path: str | Path) -> str:
    """First 16 hex chars of the SHA-256 of a file: identifies the exact weights that
    made a set of embeddings, so an index is never queried with another model."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


@dataclasses.dataclass
class Run:
    """A finished training run: its config, vocabulary and (lazily loaded) model."""

    path: Path
    config: dict

    @property
    def name(self) -> str:
        return self.config["model"]

    @property
    def vocabulary(self) -> list[str]:
        return list(self.config["vocabulary"])

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def fingerprint(self) -> str:
        return self.config["fingerprint"]

    @property
    def catalog_dir(self) -> Path | None:
        # A run trained from TFRecords names the catalog they were written from.
        data = self.config.get("catalog") if self.config.get("data_format") == "tfrecords" else self.config.get("data")
        return Path(data) if data else None

    @functools.cached_property
    def model(self):
        import tensorflow as tf

        import fashion_tf  # noqa: F401  (registers custom objects)

        return tf.keras.models.load_model(self.path / MODEL_FILE, compile=False)

    @functools.cached_property
    def embedding_model(self):
        from fashion_tf.models.extractor import embedding_model

        return embedding_model(self.model)

    @property
    def metrics(self) -> dict:
        path = self.path / METRICS_FILE
        return json.loads(path.read_text()) if path.exists() else {}


def load_run(path: str | Path) -> Run:
    """Read a run directory written by ``python -m fashion_tf.train``.

    Raises RunError naming the directory and the missing file or key.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"run directory {path} does not exist")
    for required in (MODEL_FILE, CONFIG_FILE):
        if not (path / required).exists():
            raise RunError(
                f"run directory {path} has no {required}: is it a finished training run "
                "(python -m fashion_tf.train --out DIR)?"
            )
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except json.JSONDecodeError as error:
        raise RunError(f"{path / CONFIG_FILE}: not valid JSON ({error})") from error
    for key in ("model", "image_size", "vocabulary", "fingerprint"):
        if key not in config:
            raise RunError(f"{path / CONFIG_FILE}: missing key '{key}'")
    actual = file_fingerprint(path / MODEL_FILE)
    if actual != config["fingerprint"]:
        raise RunError(
            f"{path / MODEL_FILE} has fingerprint {actual} but {CONFIG_FILE} says "
            f"{config['fingerprint']}: the model file was replaced after training"
        )
    return Run(path=path, config=config)
