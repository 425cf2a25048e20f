"""Seconds per training epoch: a new tf.data iterator every epoch vs one for all epochs.

On a finite dataset ``model.fit`` (tf.keras 2) builds a new iterator at every epoch
start, which starts the input pipeline over: the parallel decoders, the background
paste and the prefetch buffer fill again before the first step runs. The classifier
trainer instead hands ``fit`` ``dataset.repeat()`` with ``steps_per_epoch``
(:func:`fashion_tf.training.common.one_iterator`), the same batches per epoch from one
iterator. This compares the two on the CPU demo's configuration: zoo entry ``v5_b0``
from scratch at 64 px (``config_for`` without a GPU), batch 32, background
augmentation, on the demo shop, validation after every epoch as the trainer does.

Both methods are the same model built twice with the same seed; each round fits each
for ``--epochs`` epochs (``now``: the finite dataset; ``one``: the repeated one) in
interleaved rounds (``benchmarks/measure.py``). The figure per round is the median of
the *steady* epochs: the time from one epoch end to the next (an epoch's iterator start,
its training steps and its validation), the first epoch of each fit left out (it also
holds the fit's own start). Lower is better; ratio ``now_vs_one`` = now / one, above 1
when one iterator saves time. CPU seconds per steady epoch are kept too (less sensitive
to other jobs' load than wall time). Written to ``benchmarks/results/training_epochs.json``.

    nice -n 5 python benchmarks/training_epochs.py [--epochs 3] [--rounds 5]
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import statistics
import time
from pathlib import Path

from measure import Comparison, Report, fmt, log, spread

# isort: off
import fashion_tf  # noqa: F401  (Keras 2 as tf.keras)
import tensorflow as tf  # after fashion_tf, which sets TF_USE_LEGACY_KERAS
# isort: on
from fashion_tf import zoo
from fashion_tf.config import config_for
from fashion_tf.data.augment_settings import AugmentationSettings
from fashion_tf.data.demo_shop import ensure_demo_shop
from fashion_tf.data.pipeline import PipelineReport
from fashion_tf.losses import WeightedMultiLabelLoss, label_weights
from fashion_tf.metrics import all_metrics
from fashion_tf.training import common
from fashion_tf.training_data import resolve_training_data

RESULTS = Path(__file__).resolve().parent / "results" / "training_epochs.json"


class EpochClock(tf.keras.callbacks.Callback):
    """Wall and CPU time at the start of a fit and at every epoch end."""

    def on_train_begin(self, logs=None):
        self.marks = [(time.perf_counter(), _cpu())]

    def on_epoch_end(self, epoch, logs=None):
        self.marks.append((time.perf_counter(), _cpu()))


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def build_model(config, data):
    tf.keras.utils.set_random_seed(config.seed)
    model = zoo.create_model(config.model, num_labels=len(data.vocabulary), image_size=config.image_size,
                             weights=config.weights)
    model.compile(optimizer=common.make_optimizer(config, config.learning_rate_for(pretrained=False)),
                  loss=WeightedMultiLabelLoss(label_weights=label_weights(data.label_frequencies()).tolist()),
                  metrics=all_metrics())
    return model


def epochs_method(model, fit_args: dict, epochs: int):
    """One round: fit ``epochs`` epochs; seconds per steady epoch (see module docstring)."""
    def measure() -> dict:
        clock = EpochClock()
        model.fit(**fit_args, epochs=epochs, verbose=0, callbacks=[clock])
        marks = clock.marks
        steady = list(itertools.pairwise(marks[1:]))  # from the first epoch's end on
        walls = [b[0] - a[0] for a, b in steady]
        cpus = [b[1] - a[1] for a, b in steady]
        return {"value": statistics.median(walls), "steady_epoch_seconds": [round(w, 3) for w in walls],
                "steady_epoch_cpu_seconds": [round(c, 3) for c in cpus],
                "first_epoch_seconds": round(marks[1][0] - marks[0][0], 3),
                "fit_seconds": round(marks[-1][0] - marks[0][0], 3)}

    return measure


def add_cpu_figures(entry: dict) -> None:
    """CPU seconds per steady epoch: each method's median, and per round the mean of
    ``now`` minus the mean of ``one`` (a figure other jobs' load moves much less than
    wall time, which on a shared machine also holds the time waiting for a core)."""
    per_round = {}
    for name in ("now", "one"):
        extras = entry["methods"][name]["extras"]
        entry["methods"][name]["steady_epoch_cpu_seconds_median"] = statistics.median(
            c for extra in extras for c in extra["steady_epoch_cpu_seconds"])
        per_round[name] = [statistics.mean(extra["steady_epoch_cpu_seconds"]) for extra in extras]
    entry["cpu_seconds_saved_per_epoch"] = spread([a - b for a, b in zip(per_round["now"], per_round["one"])])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="v5_b0", help="zoo entry (default the CPU demo's)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit (the first is not counted)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch of each fit is not counted")

    shop = ensure_demo_shop()
    # The CPU demo's schedule (no data given, no GPU), from scratch, on the demo shop.
    config = dataclasses.replace(config_for(args.model, on_gpu=False, weights="none"), data=str(shop))
    data = resolve_training_data(config.data)
    report = PipelineReport()
    train_ds = data.dataset("train", config.image_size, config.batch_size, training=True,
                            augment=AugmentationSettings.from_config(config), seed=config.seed, report=report)
    num_train = report.num_readable
    val_ds = data.dataset("val", config.image_size, config.batch_size, training=False)
    repeated, steps = common.one_iterator(train_ds, num_train, config.batch_size)
    log(f"{config.model} at {config.image_size} px, batch {config.batch_size}: {num_train} training images "
        f"({steps} steps per epoch), {data.split_sizes.get('val', 0)} validation images; "
        f"{args.epochs} epochs per fit, {args.rounds} rounds")

    # The report first: its load average at start is taken before the rounds.
    bench = Report(args.out, "training_epochs", model=config.model, image_size=config.image_size,
                   batch_size=config.batch_size, background_p=config.background_p, weights="none",
                   train_images=num_train, steps_per_epoch=steps, val_images=data.split_sizes.get("val", 0),
                   epochs_per_fit=args.epochs, rounds=args.rounds, shop=str(shop), nice=os.nice(0))
    comparison = Comparison("training_epochs", unit="s per steady epoch")
    comparison.add("now", epochs_method(build_model(config, data),
                                        {"x": train_ds, "validation_data": val_ds}, args.epochs))
    comparison.add("one", epochs_method(build_model(config, data),
                                        {"x": repeated, "steps_per_epoch": steps, "validation_data": val_ds},
                                        args.epochs))
    comparison.ratio("now_vs_one", "now", "one")
    result = comparison.run(rounds=args.rounds, warmup=0)
    entry = bench.add("training_epochs", result)
    add_cpu_figures(entry)
    for name in ("now", "one"):
        log(f"{name}: {fmt(entry['methods'][name])} s per steady epoch, "
            f"median CPU {entry['methods'][name]['steady_epoch_cpu_seconds_median']:.2f} s")
    log(f"CPU s saved per steady epoch (now - one, per round): {fmt(entry['cpu_seconds_saved_per_epoch'])}")
    bench.write()
    log(f"now / one: {fmt(entry['ratios']['now_vs_one'])}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
