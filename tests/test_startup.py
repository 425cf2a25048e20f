"""What a new user sees first: no CUDA error line on a machine without a GPU, no
RuntimeWarning from the client CLI, no citations of files outside this repository."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fashion_tf

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not fashion_tf._no_gpu_driver(), reason="a GPU driver is present")
def test_no_cuinit_error_without_a_gpu_and_no_client_warning():
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}
    started = subprocess.run([sys.executable, "-c", ("import fashion_tf, tensorflow as tf; "
                                                     "print(len(tf.config.list_physical_devices()))")],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
    assert "cuInit" not in started.stderr and "CUDA" not in started.stderr, started.stderr
    assert int(started.stdout.strip()) >= 1  # the CPU is still there
    client = subprocess.run([sys.executable, "-m", "fashion_tf.serving.client", "--help"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
    assert "RuntimeWarning" not in client.stderr and "usage" in client.stdout.lower(), client.stderr


def test_code_and_docs_cite_only_what_a_user_can_open():
    """Papers by title and section, or docs/ files of this repository; never the design
    notes, issue numbers or paper file numbers of the people who wrote it."""
    pattern = re.compile(r"DESIGN\.md|\bseeds? 00\d|\bpaper 00\d|\bissue \d+|\bissues? #\d+")
    offenders = []
    for folder in ("fashion_tf", "tools", "benchmarks", "tests", "serving", "client", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".yaml", ".txt") and path.name != Path(__file__).name:
                for number, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
                    if pattern.search(line):
                        offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    for name in ("README.md", "Makefile", "setup.py"):
        for number, line in enumerate((ROOT / name).read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
