"""Correctness of ``carenet bench`` (never its speed: no test asserts a timing)."""

from __future__ import annotations

import argparse
import json
import math

import mesa
import pytest
from mesa.agentset import AgentSet

from carenet.cli import main
from carenet.tools import bench


def test_quick_bench_prints_every_row_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    # "--" lets options through the top-level parser (see cmd_bench).
    code = main(["bench", "--", "--quick", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    for size in bench.QUICK_SIZES:
        assert f"| {size} | {int(size):,} |" in text
    for stage in bench.STAGES:
        assert f"| {stage.removeprefix('_stage_')} |" in text
    assert "wall ~ population^" in text and "wall ~ steps^" in text
    assert "extrapolated" in text
    assert "load average" in text
    for target in bench.TARGETS.values():
        assert target in text
    data = json.loads(out.read_text())
    assert [e["name"] for e in data["economies"]] == list(bench.QUICK_SIZES)
    for e in data["economies"]:
        assert e["steps"] == bench.QUICK_STEPS
        assert e["floor"]["steps"] == bench.QUICK_FLOOR_STEPS
        assert e["episodes"] > 0 and e["peak_mb"] > 0
        assert set(e["stages"]) >= set(bench.STAGES)
        # Stage times are parts of the wall time, never more than it.
        assert e["build"] + sum(e["stages"].values()) <= e["wall"] + 1e-6
    assert [s["steps"] for s in data["scaling"]] == [2, 4, 8]
    # The short steps-scaling runs are the fastest of SCALING_REPEAT, and say so.
    assert data["meta"]["scaling_repeat"] == bench.SCALING_REPEAT == 3
    assert " steps on " in text and "(best of 3)." in text


def test_timed_worker_gives_the_same_run_as_simulate():
    """Wrapping the stages for timing must not change what the model does."""
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    ov = bench.size_overrides("3000")
    res = bench.run_worker({"kind": "model", "overrides": ov, "steps": [6], "seed": 5})
    direct = simulate(load_config([*ov, "steps=6", "warmup_weeks=0"]), seed=5)
    run = res["runs"][0]
    assert run["episodes"] == direct.summary["episodes_started"]
    assert run["population"] == 3000


@pytest.mark.parametrize("via", ["patients", "agents"])
def test_floor_patients_are_mesa_agents_stepped_with_shuffle_do(via, monkeypatch):
    model = bench.FloorModel(60, seed=3)
    assert len(model.agents) == 60 and len(model.patients) == 60
    assert all(isinstance(a, mesa.Agent) for a in model.agents)
    assert isinstance(model.patients, AgentSet)
    assert set(model.patients) == set(model.agents)
    stepped = model.patients if via == "patients" else model.agents
    calls: list[str] = []
    order: list[list[int]] = []
    cls = type(stepped)
    real = cls.shuffle_do
    real_step = bench.FloorPatient.step

    def spy(self, method, *a, **k):
        assert self is stepped
        calls.append(method)
        seen: list[int] = []

        def step(agent):
            seen.append(agent.unique_id)
            real_step(agent)

        monkeypatch.setattr(bench.FloorPatient, "step", step)
        try:
            return real(self, method, *a, **k)
        finally:
            monkeypatch.setattr(bench.FloorPatient, "step", real_step)
            order.append(seen)

    monkeypatch.setattr(cls, "shuffle_do", spy)
    model.step_via(via)
    model.step_via(via)
    assert calls == ["step", "step"]
    assert all(a.weeks == 2 for a in model.agents)
    assert sorted(order[0]) == sorted(order[1]) and len(order[0]) == 60
    assert order[0] != order[1]  # a fresh random order each step


def test_floor_model_step_steps_the_agentset():
    model = bench.FloorModel(10)
    model.step()
    assert all(a.weeks == 1 for a in model.patients)


def test_floor_worker_reports_per_step_time_and_memory():
    res = bench.run_worker({"kind": "floor", "population": 500, "steps": 3, "seed": 1})
    assert res["population"] == 500 and res["steps"] == 3
    assert res["per_step"] > 0 and res["build"] > 0
    assert res["per_step"] == min(res["per_step_by_set"].values())
    assert set(res["per_step_by_set"]) == {"patients", "agents"}
    assert res["peak_mb"] >= res["base_mb"] > 0


@pytest.mark.parametrize(
    ("rest", "needle"),
    [
        (["--sizes", "tiny"], "--sizes: 'tiny'"),
        (["--sizes", "0"], "--sizes: '0'"),
        (["--scaling-steps", "4,x"], "--scaling-steps"),
        (["--repeat", "0"], "--repeat"),
    ],
)
def test_bad_options_end_with_one_line_and_exit_2(rest, needle, capsys):
    code = bench.cmd_bench(argparse.Namespace(rest=rest))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("carenet: error: ") and needle in err[0]


def test_size_tokens():
    assert bench.size_overrides("default") == []
    assert bench.size_overrides("large") == ["population=large", "organisations=large"]
    assert bench.size_overrides("1234")[-1] == "population.size=1234"


def test_fit_exponent_recovers_power_laws():
    assert bench.fit_exponent([1, 2, 4], [3, 6, 12]) == pytest.approx(1.0)
    assert bench.fit_exponent([1, 2, 4], [5, 20, 80]) == pytest.approx(2.0)
    assert math.isnan(bench.fit_exponent([2, 2], [1, 3]))


def _eco(name, pop, wall, peak=100.0, floor_per_step=None):
    e = bench.EconomyResult(
        name=name,
        population=pop,
        orgs=10,
        steps=260,
        wall=wall,
        build=0.1,
        stages={},
        episodes=1000.0,
        peak_mb=peak,
        base_mb=50.0,
        load=0.0,
    )
    if floor_per_step is not None:
        e.floor = {"build": 0.0, "per_step": floor_per_step, "steps": 20, "peak_mb": 1.0}
    return e


def test_targets_are_judged_on_the_right_economies():
    res = bench.BenchResult(
        economies=[
            _eco("default", 500_000, 10.0, floor_per_step=1.0),
            _eco("large", 2_000_000, 40.0, peak=2000.0),
        ],
        scaling_name="default",
        scaling=[],
        exp_pop=1.0,
        exp_steps=1.2,
    )
    t = bench.check_targets(res)
    assert t["default_wall"]["met"] is True
    assert t["floor_ratio_default"]["value"] == pytest.approx(26.0)
    assert t["floor_ratio_default"]["met"] is True
    assert t["pw_per_s_large"]["value"] == pytest.approx(2e6 * 260 / 40.0)
    assert t["pw_per_s_large"]["met"] is True
    assert t["peak_large"]["met"] is False
    assert t["exp_pop"]["met"] is True and t["exp_steps"]["met"] is False
    only_small = bench.BenchResult([_eco("small", 50_000, 1.0)], "small", [], math.nan, 1.0)
    t2 = bench.check_targets(only_small)
    assert t2["default_wall"]["met"] is None and t2["peak_large"]["met"] is None
    assert t2["exp_pop"]["met"] is None
