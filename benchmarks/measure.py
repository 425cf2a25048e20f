"""Interleaved rounds: the measuring helper every benchmark here uses.

On a shared machine another job's load comes and goes within seconds. Measuring method A
for a minute and then method B for a minute lets that load decide which one "wins". So the
methods being compared run in interleaved rounds, A B C A B C ..., on the same inputs,
and the ratio of two methods is computed within each round, where both saw about the same
load. What is reported:

- per method: the value of every round, their median and spread (min-max and the
  interquartile range);
- per ratio: the ratio of every round, their median and spread. The median of per-round
  ratios is the figure a target is checked against (not the ratio of two medians, which
  mixes rounds taken under different loads);
- per target: the median ratio, the threshold and a ``met`` flag.

    comparison = Comparison("search", unit="queries/s")
    comparison.add("scann", timed(lambda: scann.search(queries), work=len(queries)))
    comparison.add("hnsw", timed(lambda: hnsw.search(queries), work=len(queries)))
    comparison.ratio("scann_vs_hnsw", "scann", "hnsw")
    comparison.target("scann_vs_hnsw", ">=", 1.5)
    result = comparison.run(rounds=5)   # JSON-ready dict

A method is a callable returning one number for one round (higher or lower is better as
the caller defines through its targets), or a dict with that number under ``"value"`` and
any other per-round figures worth keeping (recorded under ``extras``).
"""
from __future__ import annotations

import json
import math
import operator
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MIN_ROUNDS = 5
_OPS = {">=": operator.ge, "<=": operator.le}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any], work: float = 1.0, min_seconds: float = 0.0,
          clock: Callable[[], float] = time.perf_counter) -> Callable[[], dict]:
    """A method measuring ``work / seconds`` of ``fn`` (e.g. queries/s, images/s).

    ``fn`` is called at least once and again until ``min_seconds`` have passed, so that a
    fast method is not timed over a few milliseconds (timer and scheduler noise).
    ``clock`` is replaceable so the loop's arithmetic can be checked without real time.
    """
    def measure() -> dict:
        calls, cpu, start = 0, _cpu_seconds(), clock()
        while True:
            fn()
            calls += 1
            elapsed = clock() - start
            if elapsed >= min_seconds:
                # CPU seconds of this process (all its threads): on a loaded machine they
                # say how much work a method did when its wall time says little.
                return {"value": calls * work / elapsed, "seconds": elapsed, "calls": calls,
                        "cpu_seconds": round(_cpu_seconds() - cpu, 4)}

    return measure


def _cpu_seconds() -> float:
    import os

    times = os.times()
    return times.user + times.system


def spread(values: list[float]) -> dict[str, Any]:
    """Median, min, max, quartiles and IQR of ``values`` (statistics' 'inclusive' method)."""
    values = [float(v) for v in values]
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "q1": q1, "q3": q3, "iqr": q3 - q1, "per_round": values}


class Comparison:
    """Methods measured in interleaved rounds, with per-round ratios and targets.

    Args:
        name: what is compared (used in logs and as the JSON key by ``Report``).
        unit: unit of the methods' values, e.g. "queries/s" or "ms".
        rotate: start each round with the next method (A B C, B C A, C A B, ...) so that no
            method always runs right after the same one; False keeps A B C A B C.
    """

    def __init__(self, name: str, unit: str, rotate: bool = False):
        self.name, self.unit, self.rotate = name, unit, rotate
        self._methods: dict[str, Callable[[], Any]] = {}
        self._ratios: dict[str, tuple[str, str]] = {}
        self._targets: dict[str, tuple[str, str, float, str]] = {}

    def add(self, name: str, method: Callable[[], Any]) -> Comparison:
        if name in self._methods:
            raise ValueError(f"{self.name}: method {name!r} added twice")
        self._methods[name] = method
        return self

    def ratio(self, name: str, numerator: str, denominator: str) -> Comparison:
        """Per-round ``numerator / denominator`` of two methods' values."""
        for method in (numerator, denominator):
            if method not in self._methods:
                raise ValueError(f"{self.name}: ratio {name!r} names unknown method {method!r}; "
                                 f"methods are {sorted(self._methods)}")
        self._ratios[name] = (numerator, denominator)
        return self

    def target(self, ratio: str, op: str, threshold: float, note: str = "") -> Comparison:
        """The median of ratio ``ratio``'s per-round values must be ``op`` (">=" or "<=")
        ``threshold``."""
        if ratio not in self._ratios:
            raise ValueError(f"{self.name}: target on unknown ratio {ratio!r}; ratios are {sorted(self._ratios)}")
        if op not in _OPS:
            raise ValueError(f"{self.name}: target operator must be '>=' or '<=', got {op!r}")
        self._targets[ratio] = (ratio, op, float(threshold), note)
        return self

    def run(self, rounds: int = MIN_ROUNDS, warmup: int = 1, verbose: bool = True) -> dict[str, Any]:
        """Warms every method up ``warmup`` times, then measures ``rounds`` interleaved rounds."""
        if rounds < MIN_ROUNDS:
            raise ValueError(f"{self.name}: at least {MIN_ROUNDS} rounds are needed for a "
                             f"median with spread, got {rounds}")
        if not self._methods:
            raise ValueError(f"{self.name}: no methods to measure")
        names = list(self._methods)
        for _ in range(warmup):
            for name in names:
                self._methods[name]()
        values: dict[str, list[float]] = {name: [] for name in names}
        extras: dict[str, list[dict]] = {name: [] for name in names}
        orders = []
        for round_index in range(rounds):
            shift = round_index % len(names) if self.rotate else 0
            order = names[shift:] + names[:shift]
            orders.append(order)
            for name in order:
                outcome = self._methods[name]()
                if isinstance(outcome, dict):
                    value = float(outcome["value"])
                    extras[name].append({k: v for k, v in outcome.items() if k != "value"})
                else:
                    value = float(outcome)
                if not math.isfinite(value):
                    raise ValueError(f"{self.name}: method {name!r} measured {value} in round {round_index + 1}")
                values[name].append(value)
            if verbose:
                log(f"{self.name} round {round_index + 1}/{rounds}: " + ", ".join(
                    f"{name} {values[name][-1]:.4g}" for name in names) + f" {self.unit}")
        result: dict[str, Any] = {
            "unit": self.unit, "rounds": rounds, "order": orders[0] if not self.rotate else orders,
            "methods": {}, "ratios": {}, "targets": {}}
        for name in names:
            result["methods"][name] = spread(values[name])
            if any(extras[name]):
                result["methods"][name]["extras"] = extras[name]
        for ratio, (numerator, denominator) in self._ratios.items():
            per_round = [a / b for a, b in zip(values[numerator], values[denominator])]
            result["ratios"][ratio] = {"numerator": numerator, "denominator": denominator,
                                       **spread(per_round)}
        for ratio, (_, op, threshold, note) in self._targets.items():
            median = result["ratios"][ratio]["median"]
            result["targets"][ratio] = {"median": median, "op": op, "threshold": threshold,
                                        "met": bool(_OPS[op](median, threshold)),
                                        **({"note": note} if note else {})}
        return result


def fmt(entry: dict[str, Any], digits: int = 3) -> str:
    """'median (min-max)' of a ``spread`` entry, for logs and README tables."""
    def g(value: float) -> str:
        return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:,.0f}"

    return f"{g(entry['median'])} ({g(entry['min'])}-{g(entry['max'])})"


class Report:
    """A benchmark's JSON file: machine, settings, comparisons and all target flags.

    The file is rewritten after every ``add`` so partial results survive a kill.
    """

    def __init__(self, path: str | Path, benchmark: str, **settings: Any):
        import os

        self.path = Path(path)
        self.data: dict[str, Any] = {
            "benchmark": benchmark,
            "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                        "hostname": platform.node(), "cpus": os.cpu_count(),
                        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
                        "started_utc": _utc_now()},
            "settings": settings, "comparisons": {}, "targets_met": {}}
        self._start = time.perf_counter()

    def add(self, name: str, result: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Records a ``Comparison.run`` result (with any context: parameters, recalls...)."""
        import os

        entry = {**context, **result, "load_average_1min_after": round(os.getloadavg()[0], 2)}
        self.data["comparisons"][name] = entry
        for target, flag in result.get("targets", {}).items():
            self.data["targets_met"][f"{name}.{target}"] = flag["met"]
        self.write()
        return entry

    def flag(self, name: str, met: bool) -> None:
        """A target checked outside a ``Comparison`` (e.g. a recall), kept in ``targets_met``."""
        self.data["targets_met"][name] = bool(met)
        self.write()

    def write(self) -> Path:
        import os

        self.data["machine"]["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
        self.data["machine"]["finished_utc"] = _utc_now()
        self.data["machine"]["wall_seconds"] = round(time.perf_counter() - self._start, 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, default=_jsonable) + "\n")
        return self.path


def _utc_now() -> str:
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays in reports."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
