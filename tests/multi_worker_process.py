"""One worker of the two-worker training test (tests/test_multi_worker.py).

    TF_CONFIG=... python tests/multi_worker_process.py --weights-out W.npz [--kill-after-epoch N] -- TRAIN ARGS

Runs ``python -m fashion_tf.train TRAIN ARGS`` in this process with two callbacks after
the run's own: one that writes this worker's final weights to ``--weights-out`` (so the
test can compare the workers), and, with ``--kill-after-epoch N``, one that SIGKILLs
this process once epoch N has ended, as a machine failing between epochs would.
"""
from __future__ import annotations

import argparse
import os
import resource
import signal
import sys

import numpy as np
import tensorflow as tf

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf import train


class SaveWeights(tf.keras.callbacks.Callback):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        np.savez(self.path, *self.model.get_weights())


class KillAfterEpoch(tf.keras.callbacks.Callback):
    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            print(f"killing this worker after epoch {epoch + 1}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> int:
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights-out", required=True)
    parser.add_argument("--kill-after-epoch", type=int, default=None)
    args = parser.parse_args(argv[:split])
    callbacks = [SaveWeights(args.weights_out)]
    if args.kill_after_epoch:
        callbacks.append(KillAfterEpoch(args.kill_after_epoch))
    train.train(train.config_from_args(train.parse_args(argv[split + 1:])), callbacks=callbacks)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"worker CPU time {usage.ru_utime + usage.ru_stime:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
