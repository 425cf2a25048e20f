"""benchmarks/measure.py: interleaved rounds, per-round ratios, spread and target flags.

The methods here return preset numbers (no clock), so the bookkeeping is checked exactly.
"""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from measure import Comparison, Report, spread, timed


def scripted(name, values, calls):
    """A method returning ``values`` one per call (warm-up first), logging the call order."""
    queue = list(values)

    def method():
        calls.append(name)
        return queue.pop(0)

    return method


def test_rounds_interleave_and_ratios_are_per_round(tmp_path):
    calls = []
    # Round loads differ a lot (x1, x3, x0.5, ...) but A is always twice B within a round.
    load = [1.0, 3.0, 0.5, 2.0, 1.0]
    comparison = (Comparison("demo", unit="items/s")
                  .add("a", scripted("a", [0.0] + [2 * x for x in load], calls))
                  .add("b", scripted("b", [0.0] + load, calls))
                  .add("c", lambda: {"value": 1.0, "cpu_ms": 0.5})
                  .ratio("a_vs_b", "a", "b").ratio("b_vs_a", "b", "a")
                  .target("a_vs_b", ">=", 1.5).target("b_vs_a", ">=", 1.0, note="cannot be met"))
    result = comparison.run(rounds=5, verbose=False)
    assert calls == ["a", "b"] * 6  # warm-up, then A B A B ...
    assert result["ratios"]["a_vs_b"]["per_round"] == [2.0] * 5
    assert result["ratios"]["a_vs_b"]["median"] == 2.0 and result["ratios"]["a_vs_b"]["iqr"] == 0.0
    assert result["methods"]["b"]["median"] == 1.0
    assert (result["methods"]["b"]["min"], result["methods"]["b"]["max"]) == (0.5, 3.0)
    assert result["methods"]["c"]["extras"] == [{"cpu_ms": 0.5}] * 5
    assert result["targets"]["a_vs_b"] == {"median": 2.0, "op": ">=", "threshold": 1.5, "met": True}
    assert result["targets"]["b_vs_a"]["met"] is False and result["targets"]["b_vs_a"]["note"] == "cannot be met"
    report = Report(tmp_path / "r.json", "demo", n=3)
    report.add("demo", result, params={"leaves": 4})
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["targets_met"] == {"demo.a_vs_b": True, "demo.b_vs_a": False}
    assert written["comparisons"]["demo"]["params"] == {"leaves": 4} and written["settings"] == {"n": 3}


def test_rotation_spread_and_timed():
    calls = []
    comparison = Comparison("rot", unit="x", rotate=True)
    for name in "abc":
        comparison.add(name, scripted(name, [1.0] * 6, calls))
    result = comparison.run(rounds=5, warmup=0, verbose=False)
    assert calls[:9] == list("abc" "bca" "cab")
    assert result["order"][:3] == [list("abc"), list("bca"), list("cab")]
    stats = spread([1, 2, 3, 4, 100])
    assert (stats["median"], stats["q1"], stats["q3"], stats["iqr"]) == (3, 2, 4, 2)
    ticks = iter([0.0, 0.004, 0.008, 0.012, 0.016])  # a fake clock: 4 ms per call
    measured = timed(lambda: None, work=10, min_seconds=0.01, clock=lambda: next(ticks))()
    assert measured["calls"] == 3  # the first call that brings the total to >= 10 ms ends it
    assert measured["value"] == pytest.approx(10 * 3 / 0.012)


def test_bad_configurations_are_refused():
    comparison = Comparison("bad", unit="x").add("a", lambda: 1.0)
    with pytest.raises(ValueError, match="at least 5 rounds"):
        comparison.run(rounds=3)
    with pytest.raises(ValueError, match="unknown method 'b'"):
        comparison.ratio("a_vs_b", "a", "b")
    with pytest.raises(ValueError, match="unknown ratio 'nope'"):
        comparison.target("nope", ">=", 1)
    with pytest.raises(ValueError, match="added twice"):
        comparison.add("a", lambda: 2.0)
    with pytest.raises(ValueError, match="measured nan in round 1"):
        Comparison("nan", unit="x").add("a", lambda: float("nan")).run(rounds=5, warmup=0, verbose=False)
