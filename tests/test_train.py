"""python -m fashion_tf.train: the run directory it writes, resuming after a kill, errors."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fashion_tf import train
from fashion_tf.config import TrainConfig, config_for
from fashion_tf.models import backbones
from fashion_tf.runs import RunError, load_run

ROOT = Path(__file__).resolve().parent.parent


def test_run_directory_holds_everything_to_rebuild(tiny_run, tiny_shop):
    for name in ("model.keras", "labels.json", "config.json", "history.csv", "metrics.json",
                 "training_curves.png"):
        assert (tiny_run / name).is_file(), name
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["model"] == "tiny" and config["image_size"] == 48 and config["status"] == "finished"
    # the tiny CNN has no ImageNet weights: "auto" trained from scratch and says so
    assert config["weights"] == "auto" and config["weights_used"] == "none"
    assert config["run_name"] == "tiny_scratch"
    assert config["learning_rate_used"] == config["scratch_learning_rate"]
    assert TrainConfig.from_dict(config).epochs == 2
    assert config["vocabulary"] == json.loads((tiny_shop / "labels.json").read_text())["vocabulary"]
    history = pd.read_csv(tiny_run / "history.csv")
    assert list(history["epoch"]) == [0, 1]
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    for part in ("test", "trivial_baseline"):
        assert set(metrics[part]) >= {"iou", "precision", "recall", "f1"}
        assert 0.0 <= metrics[part]["iou"] <= 1.0
    assert metrics["train_images_per_second"] > 0


def test_saved_model_loads_without_custom_objects_and_predicts_the_same(tiny_run):
    run = load_run(tiny_run)
    images = tf.random.uniform([3, 48, 48, 3], 0, 255, seed=1)
    reloaded = tf.keras.models.load_model(tiny_run / "model.keras")
    # the recipe's optimizer and rate were used, not a hard-coded one
    optimizer = reloaded.optimizer.get_config()
    assert optimizer["name"] == "Adam"
    assert optimizer["learning_rate"] == pytest.approx(run.config["learning_rate_used"])
    np.testing.assert_allclose(reloaded(images).numpy(), run.model(images).numpy(), atol=1e-6)
    embeddings = run.embedding_model(images).numpy()
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_load_run_rejects_a_replaced_model_file(tiny_run, tmp_path):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("config.json", "labels.json"):
        (copy / name).write_bytes((tiny_run / name).read_bytes())
    (copy / "model.keras").write_bytes((tiny_run / "model.keras").read_bytes() + b"x")
    with pytest.raises(RunError, match="fingerprint"):
        load_run(copy)
    with pytest.raises(RunError, match="no model.keras"):
        load_run(tmp_path)


def _train_command(shop, out, epochs=6):
    return [sys.executable, "-m", "fashion_tf.train", "--model", "tiny", "--data", str(shop), "--epochs", str(epochs),
            "--patience", "100", "--image-size", "32", "--batch-size", "16", "--weights", "none",
            "--out", str(out)]


def test_rerun_after_kill_resumes_from_the_last_finished_epoch(tiny_shop, tmp_path):
    """Kill -9 the trainer at a random moment (drawn with a fixed seed: after 1-3 logged
    epochs, a fraction of a second into the next); the same command then resumes from
    the last finished epoch. How close a resumed run ends to one never killed (val_loss within
    0.03, the seed spread) is measured over five kills by benchmarks/reliability_kills.py:
    a third training process here would cost the suite more than the check is worth."""
    rng = random.Random(0)
    epochs_to_wait, extra_seconds = rng.randint(1, 3), rng.uniform(0.0, 1.0)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(_train_command(tiny_shop, out), cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    history = out / "history.csv"
    deadline = time.monotonic() + 900  # generous: the first epoch compiles, on a shared machine
    while time.monotonic() < deadline and first.poll() is None:
        if history.exists() and len(history.read_text().strip().splitlines()) >= 1 + epochs_to_wait:
            break
        time.sleep(0.05)
    assert history.exists(), "no epoch finished in 900 s"
    time.sleep(extra_seconds)
    assert first.poll() is None, f"training ended before it could be killed:\n{first.stdout.read()}"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    epochs_before = len(pd.read_csv(history))
    assert epochs_to_wait <= epochs_before < 6
    assert not (out / "model.keras").exists()

    second = subprocess.run(_train_command(tiny_shop, out), cwd=ROOT, env=env, capture_output=True, check=False,
                            text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resuming the interrupted run" in second.stdout
    epochs = list(pd.read_csv(history)["epoch"])
    assert epochs == list(range(6)), epochs  # every epoch once: none lost, none repeated
    metrics = json.loads((out / "metrics.json").read_text())
    # Resumed after the last backed-up epoch: the last one logged, or the one before when
    # the kill fell between an epoch's history row and its backup (that epoch ran again and
    # its row was replaced, not repeated: checked above).
    assert metrics["epochs_run_this_session"] in (6 - epochs_before, 7 - epochs_before)
    assert load_run(out).config["status"] == "finished"


def test_history_rows_a_killed_session_wrote_after_its_last_backup_are_dropped(tmp_path):
    """A kill between an epoch's history row and its backup leaves a row the resumed run
    trains again: the row is cut off before the epoch reruns, and the logger's open append
    handle keeps writing at the end."""
    from fashion_tf.training.common import drop_history_rows_from

    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n3,0.6\n")
    with open(path, "a") as logger:  # opened before the cut, as CSVLogger's is
        assert drop_history_rows_from(path, 3) == 1
        logger.write("3,0.55\n")
    assert path.read_text() == "epoch,loss\n0,0.9\n1,0.8\n2,0.7\n3,0.55\n"
    assert drop_history_rows_from(path, 4) == 0 and drop_history_rows_from(tmp_path / "none.csv", 0) == 0
    assert drop_history_rows_from(path, 0) == 4 and path.read_text() == "epoch,loss\n"


def test_finished_run_is_not_silently_overwritten(tiny_run):
    config = config_for("tiny", data=str(load_run(tiny_run).catalog_dir), epochs=2, image_size=48,
                        batch_size=16, out=str(tiny_run))
    with pytest.raises(SystemExit, match="already holds a finished run"):
        train.train(config)


def test_imagenet_weights_that_cannot_be_had_fail_in_one_line(tiny_shop, tmp_path, monkeypatch, capsys):
    """--weights imagenet insists: offline with an empty Keras cache, one line and exit 2."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(backbones.OFFLINE_ENV, "1")
    code = train.main(["--model", "vgg16", "--data", str(tiny_shop), "--image-size", "32", "--epochs", "1",
                       "--weights", "imagenet", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: ImageNet weights for vgg16 unavailable (") and "--weights auto" in err[0]
    assert not (tmp_path / "run").exists()


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert train.main(["--model", "tiny", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "nowhere: no such directory" in capsys.readouterr().err
    assert train.main(["--model", "v9", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "v9" in capsys.readouterr().err
