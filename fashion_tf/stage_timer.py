"""Wall and CPU seconds per named stage of a pipeline (the demo's per-stage timings).

CPU time is this process's user + system time plus that of its finished child processes
(``os.times``), so work done in worker processes (the mask pool) counts in the stage that
started them, once the workers have exited. On a shared machine wall time depends on the
other jobs; CPU time much less, so both are kept.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path


def cpu_seconds() -> float:
    """User + system seconds of this process and of its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class StageTimer:
    """Collects ``{stage: {"wall_s", "cpu_s"}}`` in the order the stages ran.

    >>> timer = StageTimer()
    >>> with timer.stage("train"):
    ...     pass
    >>> list(timer.stages)
    ['train']
    """

    def __init__(self, echo: bool = False):
        self.echo = echo  # print each stage's seconds when it ends
        self.stages: dict[str, dict[str, float]] = {}
        self._wall0, self._cpu0 = time.perf_counter(), cpu_seconds()

    @contextlib.contextmanager
    def stage(self, name: str):
        """Time the block; a stage entered twice accumulates."""
        wall, cpu = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            entry = self.stages.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            entry["wall_s"] = round(entry["wall_s"] + wall, 2)
            entry["cpu_s"] = round(entry["cpu_s"] + cpu, 2)
            if self.echo:
                print(f"    {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)

    def total(self) -> dict[str, float]:
        """Wall and CPU seconds since the timer was made (start-up between stages included)."""
        return {"wall_s": round(time.perf_counter() - self._wall0, 2),
                "cpu_s": round(cpu_seconds() - self._cpu0, 2)}

    def summary(self) -> str:
        """One line: every stage's wall/CPU seconds, then the total."""
        parts = [f"{name} {v['wall_s']:.0f}/{v['cpu_s']:.0f}" for name, v in self.stages.items()]
        total = self.total()
        return (f"timings (wall/CPU s): {', '.join(parts)}; total {total['wall_s']:.0f}/{total['cpu_s']:.0f} "
                f"on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    def write(self, path: str | Path, **facts) -> Path:
        """Save the stages, the total, the load average and ``facts`` as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"stages": self.stages, "total": self.total(), "cpu_count": os.cpu_count(),
                  "load_average": [round(x, 2) for x in os.getloadavg()], **facts}
        path.write_text(json.dumps(record, indent=2) + "\n")
        return path
