"""Pick the tf.distribute strategy and precision from the hardware (docs/design.md, "Hardware").

- ``TF_CONFIG`` set: MultiWorkerMirroredStrategy (one process per machine).
- several GPUs: MirroredStrategy.
- one GPU: the default strategy on that GPU.
- no GPU: the default strategy on the CPU.
``--strategy`` names one instead of "auto". Mixed precision (``mixed_float16``) is
switched on whenever a GPU is present, unless ``--mixed-precision on|off`` says
otherwise; the models keep their sigmoid head in float32 so the loss stays stable.

Multi-worker training (the TensorFlow guide "Multi-worker training with Keras"): every
worker runs the same command with its own ``TF_CONFIG``; the strategy must exist before
any other TensorFlow op of the process, gradients are all-reduced so every worker holds
the same weights, each worker reads its own part of the data (:func:`distribute_dataset`)
and only the chief writes the run directory (:func:`is_chief`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable

import tensorflow as tf

from fashion_tf.config import STRATEGIES


def describe_hardware() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    return {"gpus": len(gpus), "tf_config": bool(os.environ.get("TF_CONFIG"))}


def choose_strategy(mixed_precision: bool | str | None = None, strategy: str = "auto"
                    ) -> tuple[tf.distribute.Strategy, str]:
    """Return (strategy, one-line description). Must run before any model is built, and
    for ``multi_worker`` before any other TensorFlow op of the process.

    ``mixed_precision``: True/"on", False/"off", None/"auto" (on with a GPU).
    ``strategy``: one of ``STRATEGIES``; "auto" picks from ``TF_CONFIG`` and the GPUs.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r}: expected one of {STRATEGIES}")
    hardware = describe_hardware()
    if strategy == "auto":
        strategy = ("multi_worker" if hardware["tf_config"] else
                    "mirrored" if hardware["gpus"] > 1 else "default")
    mixed_precision = {"on": True, "off": False, "auto": None}.get(mixed_precision, mixed_precision)
    if mixed_precision is None:
        mixed_precision = hardware["gpus"] > 0
    if strategy == "multi_worker":
        if not hardware["tf_config"]:
            raise ValueError("--strategy multi_worker needs TF_CONFIG: the cluster's workers and this "
                             "process's task (see README, \"Training on several machines\")")
        cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        chosen = tf.distribute.MultiWorkerMirroredStrategy()
        text = f"MultiWorkerMirroredStrategy over {workers} workers"
    elif strategy == "mirrored":
        chosen = tf.distribute.MirroredStrategy()
        text = f"MirroredStrategy over {chosen.num_replicas_in_sync} devices"
    else:
        chosen = tf.distribute.get_strategy()
        text = "1 GPU" if hardware["gpus"] else "CPU"
    if mixed_precision:
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
        text += ", mixed_float16"
    return chosen, text


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker(strategy: tf.distribute.Strategy) -> tuple[str, int]:
    """(task type, task id) of this process; ("worker", 0) outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None) if is_multi_worker(strategy) else None
    if resolver is None or resolver.task_type is None:
        return "worker", 0
    return resolver.task_type, int(resolver.task_id)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The chief writes the run: the "chief" task, or worker 0 when the cluster has none."""
    task_type, task_id = worker(strategy)
    if task_type == "chief":
        return True
    resolver = getattr(strategy, "cluster_resolver", None) if is_multi_worker(strategy) else None
    has_chief = resolver is not None and "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait until every worker got here (an all-reduce of one number)."""
    if is_multi_worker(strategy):
        strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)


def worker_position(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's index, number of workers): the chief first, then the workers."""
    if not is_multi_worker(strategy):
        return 0, 1
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    chiefs = len(spec.get("chief", []))
    task_type, task_id = worker(strategy)
    return (task_id if task_type == "chief" else chiefs + task_id), chiefs + len(spec.get("worker", []))


def distribute_dataset(strategy: tf.distribute.Strategy, make: Callable[..., tf.data.Dataset], batch_size: int):
    """What ``fit`` gets: ``make(batch_size)`` in one process; across workers,
    ``make(batch_size, shard=(worker, workers))``, so each worker reads only its part of
    the data (its TFRecord shards, or its share of the catalog rows). tf.distribute then
    splits each worker's batches among all replicas' share (``batch_size`` / replicas
    each), so a step still covers ``batch_size`` images over the cluster; workers
    whose part runs out first idle until the epoch ends on all of them."""
    if not is_multi_worker(strategy):
        return make(batch_size)
    dataset = make(batch_size, shard=worker_position(strategy))
    options = tf.data.Options()
    # Sharded by hand above; tf.distribute must not shard again.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)
