"""Pick the tf.distribute strategy and precision from the hardware (docs/design.md, "Hardware").

- ``TF_CONFIG`` set: MultiWorkerMirroredStrategy (one process per machine).
- several GPUs: MirroredStrategy.
- one GPU: the default strategy on that GPU.
- no GPU: the default strategy on the CPU.
Mixed precision (``mixed_float16``) is switched on whenever a GPU is present; the
models keep their sigmoid head in float32 so the loss stays stable.
"""
from __future__ import annotations

import json
import os

import tensorflow as tf


def describe_hardware() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    return {"gpus": len(gpus), "tf_config": bool(os.environ.get("TF_CONFIG"))}


def choose_strategy(mixed_precision: bool | None = None) -> tuple[tf.distribute.Strategy, str]:
    """Return (strategy, one-line description). Must run before any model is built."""
    hardware = describe_hardware()
    if mixed_precision is None:
        mixed_precision = hardware["gpus"] > 0
    if mixed_precision:
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
    if hardware["tf_config"]:
        cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        workers = len(cluster.get("worker", []))
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        text = f"MultiWorkerMirroredStrategy over {workers} workers"
    elif hardware["gpus"] > 1:
        strategy = tf.distribute.MirroredStrategy()
        text = f"MirroredStrategy over {hardware['gpus']} GPUs"
    else:
        strategy = tf.distribute.get_strategy()
        text = "1 GPU" if hardware["gpus"] else "CPU"
    if mixed_precision:
        text += ", mixed_float16"
    return strategy, text
