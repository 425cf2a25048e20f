"""The reliability scenarios that SIGKILL a process at random moments (benchmarks/reliability.py):

- export kills: ``fashion_tf.export.write_version_atomically`` killed while it writes
  into a repository a server polls; the kill moments are spread over the whole export
  (0 to 1.1 x its measured duration, stratified, so every stage is hit, and some kills
  land after it finished), plus kills aimed at the publishing rename: the child's
  ``os.rename`` says "renaming" and waits, and the kill lands at a random moment in that
  wait or just after the rename. Counted: versions visible but incomplete, versions the
  server failed to load (target 0 both);
- training kills: ``python -m fashion_tf.train`` (the ``tiny`` model on a small demo
  shop) killed mid-training, after a random number of finished epochs and a random
  fraction of the next one, and rerun with the same command: it must resume from its
  last finished epoch (every epoch in history.csv once), and its final metrics are compared with the uninterrupted run's. Training does
  not replay the data order, augmentation and dropout draws of the epochs it resumes
  after (a new process starts those streams again), so the tolerance stated is measured:
  the difference from the same seed's uninterrupted run next to the spread over seeds.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The child writes a fixture serving graph; its os.rename announces itself and waits
# RENAME_PAUSE seconds when argv[3] is "aim", so a kill can be aimed at the rename.
KILLED_EXPORT = """
import os, sys, time, fashion_tf
from pathlib import Path
from serving_fixtures import fixture_keras_model
from fashion_tf.export import write_version_atomically
from fashion_tf.serving_graph import ServingModule
import numpy as np
catalog = np.eye(200, 16, dtype=np.float32)
module = ServingModule(fixture_keras_model(7, 64, 16, 8, (16, 32)), [f"l{i}" for i in range(8)], 64,
                       [f"item_{i:03d}" for i in range(200)], catalog)
if sys.argv[3] == "aim":
    rename = os.rename
    def announced(*args):
        print("renaming", flush=True)
        time.sleep(float(sys.argv[4]))
        rename(*args)
    os.rename = announced
print("ready", flush=True)
sys.stdin.readline()
started = time.perf_counter()
write_version_atomically(module, Path(sys.argv[1]), int(sys.argv[2]), {"labels.json": "{}"})
print(f"done {time.perf_counter() - started:.3f}", flush=True)
"""
RENAME_PAUSE = 0.5


def _export_child(base: Path, version: int, aim: bool = False) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"}
    child = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(base), str(version),
                              "aim" if aim else "plain", str(RENAME_PAUSE)], cwd=ROOT, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout.readline().strip() == "ready", "the export child did not start"
    return child


def _whole(version_dir: Path) -> bool:
    """Everything a finished export writes is there."""
    return all((version_dir / name).is_file() for name in
               ("saved_model.pb", "variables/variables.index", "assets/labels.json")) and \
        any((version_dir / "variables").glob("variables.data-*"))


def scenario_export_kills(client_for, base: Path, kills: int, seed: int = 0) -> dict:
    """``kills`` SIGKILLed exports into ``base``, served by the server ``client_for()``
    talks to; about 70 % at stratified moments over the export, the rest at the rename."""
    rng = random.Random(seed)
    timing = _export_child(base, 99)  # one uninterrupted export: the duration to spread kills over
    timing.stdin.write("go\n")
    timing.stdin.flush()
    duration = float(timing.stdout.readline().split()[1])
    timing.wait()
    shutil.rmtree(base / "99")
    spread_kills = kills - kills * 3 // 10
    trials, half_visible, failed_loads = [], 0, set()
    for trial in range(kills):
        version, aimed = 100 + trial, trial >= spread_kills
        child = _export_child(base, version, aim=aimed)
        child.stdin.write("go\n")
        child.stdin.flush()
        if aimed:  # a random moment of the pause before the rename, or just after it
            assert child.stdout.readline().strip() == "renaming"
            delay = rng.uniform(0.0, 1.3 * RENAME_PAUSE)
        else:  # stratified over 0 .. 1.1 x the duration: every stage of the export is hit
            delay = (trial + rng.random()) / spread_kills * 1.1 * duration
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        published = (base / str(version)).exists()
        half_visible += published and not _whole(base / str(version))
        time.sleep(1.2)  # two polls of the server
        deadline = time.monotonic() + 300
        while True:  # a published version: let the server finish loading it before it is removed
            with client_for() as client:
                statuses = {s["version"]: s for s in client.status()}
            seen = statuses.get(version)
            if not published or time.monotonic() > deadline or (
                    seen and (seen["state"] == "AVAILABLE" or seen["error_message"])):
                break
            time.sleep(0.5)
        failed_loads |= {v for v, s in statuses.items() if s["error_message"]}
        half_visible += (not published) and version in statuses
        trials.append({"kill_s": round(delay, 3), "aimed_at_rename": aimed, "published_whole": published,
                       "served": statuses.get(version, {}).get("state") == "AVAILABLE"})
        for leftover in base.glob(".tmp-*"):  # what a killed export leaves: hidden, never a version
            shutil.rmtree(leftover)
        if published:
            shutil.rmtree(base / str(version))
    return {"kills": kills, "export_seconds_uninterrupted": round(duration, 2),
            "kill_moments": f"{spread_kills} stratified over 0..1.1 x the export's duration, "
                            f"{kills - spread_kills} in a {RENAME_PAUSE} s pause before the rename or just after it",
            "half_versions_visible": half_visible, "failed_loads": len(failed_loads),
            "published_whole": sum(t["published_whole"] for t in trials),
            "published_and_served": sum(t["served"] for t in trials),
            "killed_before_publishing": sum(not t["published_whole"] for t in trials),
            "killed_in_rename_pause": sum(t["aimed_at_rename"] and not t["published_whole"] for t in trials),
            "trials": trials}


# -- training ---------------------------------------------------------------------------
def _train_command(shop: Path, out: Path, epochs: int, seed: int) -> list[str]:
    return [sys.executable, "-m", "fashion_tf.train", "--model", "tiny", "--data", str(shop), "--epochs",
            str(epochs), "--patience", "100", "--image-size", "32", "--batch-size", "16", "--weights", "none",
            "--seed", str(seed), "--out", str(out)]


def _finals(out: Path) -> dict:
    import pandas as pd

    metrics = json.loads((out / "metrics.json").read_text())
    history = pd.read_csv(out / "history.csv")
    return {"test_iou": metrics["test"]["iou"], "test_f1": metrics["test"]["f1"],
            "final_val_loss": float(history["val_loss"].iloc[-1]), "epochs_logged": list(history["epoch"]),
            "epochs_run_last_session": metrics["epochs_run_this_session"]}


def _history_rows(history: Path) -> int:
    return max(0, len(history.read_text().strip().splitlines()) - 1) if history.exists() else 0


def _watched_run(command, env, out: Path) -> tuple[float, list[float]]:
    """Run uninterrupted; return its wall seconds and the moments its history rows appeared."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows_at, history = [], out / "history.csv"
    while child.poll() is None:
        if _history_rows(history) > len(rows_at):
            rows_at.append(time.perf_counter() - started)
        time.sleep(0.05)
    if child.returncode:
        raise RuntimeError(f"uninterrupted training failed: {child.stderr.read()[-2000:]}")
    return time.perf_counter() - started, rows_at


def _kill_after_epochs(command, env, out: Path, finished: int, extra_s: float) -> dict:
    """Start training, wait until ``finished`` epochs are in history.csv, wait ``extra_s``
    more (a moment inside the next epoch), SIGKILL it."""
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, history = time.perf_counter(), out / "history.csv"
    while child.poll() is None and _history_rows(history) < finished and time.perf_counter() - started < 1800:
        time.sleep(0.05)
    time.sleep(extra_s)
    running = child.poll() is None
    child.send_signal(signal.SIGKILL)
    child.wait()
    return {"kill_s": round(time.perf_counter() - started, 1), "still_training_at_kill": running,
            "epochs_finished_before_kill": _history_rows(history)}


# A kill costs no more than a seed: the val_loss bound, from the spread of uninterrupted
# runs over seeds on this setup (tests/test_train.py checks the resume itself, once).
VAL_LOSS_TOLERANCE = 0.03


def scenario_training_kills(tmp: Path, kills: int, epochs: int = 6, seeds: int = 3, seed: int = 0) -> dict:
    """``kills`` trainings SIGKILLed mid-training and rerun with the same command; compared
    with uninterrupted runs (seed 0, seeds 1 .. seeds-1 for the spread). Each kill lands
    after a random number k in [1, epochs-1] of finished epochs (history.csv has k rows),
    a random fraction f in [0, 1) of the measured epoch time into the next epoch, so the
    rerun must resume after finished epochs, not start over."""
    import statistics
    from itertools import pairwise

    from fashion_tf.data.demo_shop import generate_demo_shop

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    shop = Path(generate_demo_shop(tmp / "train_shop", items=60, users=0, seed=0, image_size=64))
    reference, seconds, rows_at = {}, [], []
    for run_seed in range(seeds):
        out = tmp / f"uninterrupted_{run_seed}"
        took, appeared = _watched_run(_train_command(shop, out, epochs, run_seed), env, out)
        seconds.append(took)
        rows_at = rows_at or appeared
        reference[run_seed] = _finals(out)
        print(f"uninterrupted seed {run_seed}: {took:.0f} s, rows at {[round(t) for t in appeared]}, "
              f"{reference[run_seed]}", file=sys.stderr, flush=True)
    epoch_s = statistics.median(b - a for a, b in pairwise(rows_at))
    base = reference[0]
    rng = random.Random(seed)
    trials = []
    for trial in range(kills):
        out = tmp / f"killed_{trial}"
        finished, fraction = rng.randint(1, epochs - 1), rng.random()
        killed = _kill_after_epochs(_train_command(shop, out, epochs, 0), env, out, finished, fraction * epoch_s)
        rerun = subprocess.run(_train_command(shop, out, epochs, 0), cwd=ROOT, env=env, capture_output=True,
                               check=False, text=True, timeout=1800)
        finals = _finals(out) if rerun.returncode == 0 else {}
        resumed_from = epochs - finals["epochs_run_last_session"] if finals else None
        diff = {k: round(finals[k] - base[k], 4) for k in ("final_val_loss", "test_iou", "test_f1")} if finals else {}
        trials.append({"epochs_drawn": finished, "fraction_of_epoch_drawn": round(fraction, 3), **killed,
                       "rerun_exit": rerun.returncode,
                       "rerun_said_resuming": "resuming the interrupted run" in rerun.stdout,
                       "rerun_resumed_from_epoch": resumed_from,
                       "resumed_from_last_finished_epoch": resumed_from == killed["epochs_finished_before_kill"],
                       "every_epoch_once": finals.get("epochs_logged") == list(range(epochs)),
                       **{k: round(v, 4) for k, v in finals.items() if isinstance(v, float)},
                       "diff_vs_uninterrupted": diff,
                       "val_loss_within_tolerance": bool(diff) and abs(diff["final_val_loss"]) <= VAL_LOSS_TOLERANCE})
        print(f"killed run {trial}: {trials[-1]}", file=sys.stderr, flush=True)
    keys = ("test_iou", "test_f1", "final_val_loss")

    def worst(rows):
        return {k: round(max(abs(row[k] - base[k]) for row in rows), 4) for k in keys} if rows else None

    killed_rows = [t for t in trials if t["rerun_exit"] == 0]
    return {"kills": kills, "epochs": epochs, "model": "tiny, 32 px, batch 16, 60-item demo shop",
            "kill_moments": f"after k in [1, {epochs - 1}] finished epochs (history.csv has k rows), then "
                            "f in [0, 1) x the median epoch time, seeded",
            "uninterrupted_seconds": round(seconds[0], 1), "epoch_seconds_median": round(epoch_s, 1),
            "killed_mid_training": sum(t["still_training_at_kill"] and t["epochs_finished_before_kill"] >= 1
                                       for t in trials),
            "resumed_correctly": sum(t["rerun_said_resuming"] and t["every_epoch_once"]
                                     and t["resumed_from_last_finished_epoch"] for t in trials),
            "val_loss_tolerance": VAL_LOSS_TOLERANCE,
            "within_val_loss_tolerance": sum(t["val_loss_within_tolerance"] for t in trials),
            "uninterrupted_seed0": {k: round(base[k], 4) for k in keys},
            "max_abs_diff_killed_vs_uninterrupted": worst(killed_rows),
            "max_abs_diff_other_seeds": worst([reference[s] for s in range(1, seeds)]),
            "trials": trials}
