"""Two local CPU workers train with MultiWorkerMirroredStrategy from TFRecord shards
(fashion_tf/distribute.py): same weights on both, only the chief writes the run, and a
worker killed between epochs resumes, with the other, from the last finished epoch."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import fashion_tf  # noqa: F401  (before TensorFlow)

ROOT = Path(__file__).resolve().parents[1]
# Worker 1 kills itself after this epoch in the first session.
KILL_AFTER = 1
EPOCHS = 2
TIMEOUT = 900  # seconds; generous for a loaded 2-core machine


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(records: Path, run_dir: Path, tmp: Path, session: str, kill: bool) -> list[subprocess.Popen]:
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        command = [sys.executable, str(ROOT / "tests" / "multi_worker_process.py"),
                   "--weights-out", str(tmp / f"{session}-worker{index}.npz")]
        if kill and index == 1:
            command += ["--kill-after-epoch", str(KILL_AFTER)]
        command += ["--", "--model", "tiny", "--data", str(records), "--epochs", str(EPOCHS), "--image-size", "32",
                    "--batch-size", "8", "--augmentation", "none", "--background-p", "0", "--out", str(run_dir)]
        with open(tmp / f"{session}-worker{index}.log", "w") as log:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def wait_for(condition, what: str, processes, tmp: Path):
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            for process in processes:
                process.kill()
            logs = "\n".join(p.read_text()[-3000:] for p in sorted(tmp.glob("*.log")))
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


def history_epochs(run_dir: Path) -> list[int]:
    path = run_dir / "history.csv"
    return pd.read_csv(path)["epoch"].tolist() if path.exists() and path.stat().st_size else []


def test_two_workers_train_alike_and_resume_after_a_kill(tiny_records, tmp_path):
    _, _, records = tiny_records
    run_dir = tmp_path / "run"
    chief, other = start_workers(records, run_dir, tmp_path, "first", kill=True)
    try:
        wait_for(lambda: other.poll() is not None, "worker 1 to kill itself", (chief, other), tmp_path)
        assert other.returncode == -9, (tmp_path / "first-worker1.log").read_text()[-3000:]
        wait_for(lambda: history_epochs(run_dir) == [0], "the chief's row of epoch 1", (chief,), tmp_path)
    finally:
        chief.kill()  # it waits for its lost peer; both restart
        chief.wait()
    assert (run_dir / "backup").is_dir() and not (run_dir / "model.keras").exists()

    processes = start_workers(records, run_dir, tmp_path, "second", kill=False)
    wait_for(lambda: all(p.poll() is not None for p in processes), "the resumed run", processes, tmp_path)
    chief_log = (tmp_path / "second-worker0.log").read_text()
    assert [p.returncode for p in processes] == [0, 0], chief_log[-3000:]

    # Resumed from the last finished epoch: only epoch 2 ran, history has each epoch once.
    assert "resuming the interrupted run" in chief_log
    assert f"epoch {EPOCHS}/{EPOCHS}" in chief_log and f"epoch {KILL_AFTER}/{EPOCHS}" not in chief_log
    assert history_epochs(run_dir) == list(range(EPOCHS))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run_this_session"] == EPOCHS - KILL_AFTER

    # Both workers end with the same weights, and the chief's model.keras holds them.
    weights = [np.load(tmp_path / f"second-worker{i}.npz") for i in range(2)]
    assert len(weights[0].files) == len(weights[1].files) > 0
    for key in weights[0].files:
        np.testing.assert_array_equal(weights[0][key], weights[1][key])
    from fashion_tf.runs import load_run

    run = load_run(run_dir)
    for key, saved in zip(weights[0].files, run.model.get_weights()):
        np.testing.assert_array_equal(weights[0][key], saved)

    # Only the chief wrote the run directory: its files, no worker's temporary copies.
    assert run.config["strategy_used"] == "MultiWorkerMirroredStrategy over 2 workers"
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        ["checkpoints", "config.json", "history.csv", "labels.json", "logs", "metrics.json", "model.keras",
         "training_curves.png"])
    assert not [p for p in run_dir.rglob("*") if "workertemp" in p.name]


def test_strategy_and_mixed_precision_flags(monkeypatch):
    import pytest
    import tensorflow as tf

    from fashion_tf import train
    from fashion_tf.config import config_for
    from fashion_tf.distribute import choose_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = train.config_from_args(train.parse_args(["--model", "tiny", "--mixed-precision", "on",
                                                      "--strategy", "default"]))
    assert (config.mixed_precision, config.strategy) == ("on", "default")
    try:
        strategy, text = choose_strategy(config.mixed_precision, config.strategy)
        assert tf.keras.mixed_precision.global_policy().name == "mixed_float16"
        assert text == "CPU, mixed_float16" and strategy is tf.distribute.get_strategy()
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    assert choose_strategy("off")[1] == "CPU"
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError, match="--strategy multi_worker needs TF_CONFIG"):
        choose_strategy("off", "multi_worker")
    with pytest.raises(ValueError, match="the style_embedding trainer runs on one device"):
        train.train(config_for("ctl_triplet", strategy="mirrored"))
