"""Per-stage wall and CPU seconds (the demo's timings.json): child processes count."""
from __future__ import annotations

import json
import subprocess
import sys

from fashion_tf.stage_timer import StageTimer


def test_stages_count_child_cpu_accumulate_and_are_written(tmp_path, capsys):
    timer = StageTimer(echo=True)
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    with timer.stage("child"):
        subprocess.run([sys.executable, "-c", busy], check=True)
    with timer.stage("idle"):
        pass
    with timer.stage("idle"):
        pass
    assert list(timer.stages) == ["child", "idle"]
    assert timer.stages["child"]["cpu_s"] >= 0.3  # the child's CPU, not only ours
    assert timer.stages["child"]["wall_s"] >= timer.stages["child"]["cpu_s"] / 8
    assert timer.stages["idle"]["cpu_s"] < 0.2
    assert "child:" in capsys.readouterr().out
    line = timer.summary()
    assert line.startswith("timings (wall/CPU s): child ") and ", idle " in line and "load average" in line

    record = json.loads(timer.write(tmp_path / "t" / "timings.json", shop="x").read_text())
    assert record["stages"] == timer.stages and record["shop"] == "x"
    assert record["total"]["cpu_s"] >= record["stages"]["child"]["cpu_s"]
    assert len(record["load_average"]) == 3
