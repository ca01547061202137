"""``carenet bench``'s whole-process timings and issue #17's ratios (never a timing)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest

from carenet.tools import bench

TINY = ["population=small", "organisations=small", "population.size=3000"]


def _eco(name: str, pop: int, wall: float, step_s: float, floor_per_step: float | None):
    e = bench.EconomyResult(
        name=name,
        population=pop,
        orgs=10,
        steps=260,
        wall=wall,
        build=0.0,
        stages={"demand": step_s * 260},
        episodes=1.0,
        peak_mb=500.0,
        base_mb=50.0,
        load=0.0,
    )
    if floor_per_step is not None:
        e.floor = {"build": 0.0, "per_step": floor_per_step, "steps": 20, "peak_mb": 1.0}
    return e


def test_a_whole_run_is_timed_in_its_own_folder_and_leaves_nothing() -> None:
    before = set(Path(tempfile.gettempdir()).glob("carenet-bench-*"))
    out = bench.measure_process([*TINY, "steps=3", "warmup_weeks=0", "figures=false"])
    assert out["wall"] > 0 and out["peak_mb"] > 50 and len(out["walls"]) == 1
    assert out["command"].startswith("carenet run population=small")
    assert set(Path(tempfile.gettempdir()).glob("carenet-bench-*")) == before


def test_a_failing_run_is_one_line() -> None:
    with pytest.raises(RuntimeError, match=r"^bench: `carenet run steps=1` failed: .*warmup"):
        bench.measure_process(["steps=1"])  # the default warm-up is longer than the run


def test_issue_17_targets_use_the_per_step_floor_and_the_whole_process() -> None:
    d = _eco("default", 500_000, 4.0, 0.01, floor_per_step=1.2)
    lg = _eco("large", 2_000_000, 20.0, 0.05, floor_per_step=None)
    res = bench.BenchResult([d, lg], "default", [], 1.0, 1.0)
    res.processes = {
        "run": {"economy": "default", "steps": 260, "wall": 7.0, "ratio": 7.0 / 4.0},
        "steps1": {"economy": "default", "steps": 1, "wall": 1.5},
    }
    t = bench.check_targets(res)
    assert t["floor_step_default"]["value"] == pytest.approx(120.0)
    assert t["floor_step_default"]["met"] is True
    assert t["process_ratio_default"]["met"] is True
    assert t["pw_per_s_large_17"]["value"] == pytest.approx(2e6 * 260 / 20.0)
    assert t["pw_per_s_large_17"]["met"] is False  # 26 M/s
    assert t["peak_large_17"]["met"] is True
    assert t["steps1_process"]["met"] is False
    res.processes = {}
    t = bench.check_targets(res)
    assert t["process_ratio_default"]["met"] is None and t["steps1_process"]["met"] is None
    assert math.isnan(_eco("small", 1, 1.0, 0.01, None).floor_step_ratio)
    assert "not measured" in "\n".join(bench._process_lines(res))
