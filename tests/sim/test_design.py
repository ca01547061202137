"""Designs: the file's checks, the samplers, the plan, and a design run, killed and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from carenet.examples.ishigami import ishigami
from carenet.params import ConfigError
from carenet.sim import design as dsg
from tests.sim.design_fixtures import X, run_design, write_design


def _design(**fields):
    data = {"method": "sobol", "n": 16, "parameters": {"x1": X, "x2": X, "x3": X}, **fields}
    return dsg.from_dict(data, "t.yaml")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"method": "grid"}, "method: 'grid' is not allowed"),
        ({"n": 0}, "n: 0 is not allowed"),
        ({"parameters": {"x1": {"type": "real", "low": 1, "high": 1}}}, "must be below high"),
        ({"parameters": {"x1": {"type": "real", "low": 1}}}, "parameters.x1.high: None"),
        ({"parameters": {"x1": {"type": "int", "low": 1, "high": 3}}}, "x1.type: 'int'"),
        ({"parameters": {"x1": {"type": "integer", "low": 0.5, "high": 3}}}, "whole-number"),
        ({"parameters": {"x1": {"type": "categorical", "values": ["a"]}}}, "x1.values"),
        ({"parameters": {"x1": {**X, "step": 1}}}, "unknown field 'step'"),
        ({"method": "lhs", "second_order": True}, "only a sobol design"),
        ({"method": "factorial", "n": None}, "needs levels"),
        ({"arms": {"Bad Arm": ["a=1"]}}, "use lower-case"),
        ({"colour": 1}, "unknown field 'colour'"),
    ],
)
def test_bad_design_is_one_line(fields, words):
    with pytest.raises(ConfigError) as err:
        _design(**fields)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("design: t.yaml")


def test_sobol_sample_is_salib_on_the_unit_cube():
    from SALib.sample import sobol

    d = _design(n=32)
    unit = dsg.unit_sample(d)
    expected = sobol.sample(dsg.problem(d), 32, calc_second_order=False, seed=1)
    assert np.array_equal(unit, expected) and unit.shape == (32 * 5, 3)
    values = np.array(dsg.point_values(d, unit))
    assert np.allclose(values, -np.pi + unit * 2 * np.pi)


def test_lhs_is_stratified_and_kinds_map_into_their_ranges():
    params = {
        "r": {"type": "real", "low": 2.0, "high": 4.0},
        "i": {"type": "integer", "low": 1, "high": 4},
        "c": {"type": "categorical", "values": ["a", "b", "c"]},
    }
    d = dsg.from_dict({"method": "lhs", "n": 40, "parameters": params})
    unit = dsg.unit_sample(d)
    for j in range(3):  # one point in each of the 40 strata of every column
        assert sorted(np.floor(unit[:, j] * 40).astype(int)) == list(range(40))
    vals = dsg.point_values(d, unit)
    assert all(2.0 <= r <= 4.0 and i in (1, 2, 3, 4) and c in "abc" for r, i, c in vals)
    assert {i for _, i, _ in vals} == {1, 2, 3, 4}  # equal shares: 10 points each
    assert pd.Series([i for _, i, _ in vals]).value_counts().tolist() == [10] * 4


def test_factorial_and_morris():
    params = {
        "a": {"type": "real", "levels": [1.0, 2.0]},
        "k": {"type": "categorical", "values": ["x", "y", "z"]},
    }
    d = dsg.from_dict({"method": "factorial", "parameters": params})
    vals = dsg.point_values(d, dsg.unit_sample(d))
    assert sorted(map(tuple, vals)) == sorted((a, k) for a in (1.0, 2.0) for k in "xyz")
    m = _design(method="morris", n=6, levels=4)
    assert dsg.unit_sample(m).shape == (6 * 4, 3)


def test_sobol_size_not_a_power_of_two_warns():
    assert any("not a power of two" in n for n in dsg.notes(_design(n=100)))
    assert not any("power of two" in n for n in dsg.notes(_design(n=256)))
    assert any("small" in n for n in dsg.notes(_design(n=16)))


def test_design_plan_pairs_arms_by_point_and_seed(tmp_path):
    from carenet.sim.sweep import plan_sweep

    f = write_design(tmp_path, n=4, arms={"a7": ["a=7"], "a5": ["a=5"]})
    plan = plan_sweep([f"design={f}", "replications=2", f"out={tmp_path / 'o'}"])
    assert len(plan.scenarios) == 2 * 4 * 5 and len(plan.runs) == 2 * 4 * 5 * 2
    by = {(s["values"]["arm"], s["values"]["design_point"]): s for s in plan.scenarios}
    assert by[("a7", "3")]["seeds"] == by[("a5", "3")]["seeds"]  # common random numbers
    assert by[("a7", "3")]["scenario_id"] != by[("a5", "3")]["scenario_id"]
    assert [len(g) for g in plan.launch_groups] and len(plan.launch_groups) == 2
    assert plan.swept["arm"] == ["a7", "a5"] and len(plan.design["points"]) == 20


def test_design_cannot_also_sweep_and_bad_values_stop_the_plan(tmp_path):
    from carenet.sim.sweep import SweepError, plan_sweep

    f = write_design(tmp_path)
    with pytest.raises(SweepError, match="a design cannot also sweep"):
        plan_sweep([f"design={f}", "a=1,2"])
    f = write_design(tmp_path, "wide.yaml", parameters={"x1": {**X, "high": 9.0}})
    with pytest.raises(ConfigError, match="x1"):
        plan_sweep([f"design={f}"])


def test_a_group_cannot_be_a_design_parameter(tmp_path):
    from carenet.sim.sweep import SweepError, plan_sweep

    f = tmp_path / "g.yaml"
    f.write_text(
        "method: lhs\nn: 2\n"
        "base: [population=small, organisations=small, steps=2, warmup_weeks=0]\n"
        "parameters:\n  structure: {type: categorical, values: [hierarchy, network]}\n"
    )
    with pytest.raises(SweepError, match="parameters.structure: cannot be set per run"):
        plan_sweep([f"design={f}"])


def test_cli_bad_design_exits_2_with_one_line(tmp_path):
    from tests.cli import carenet

    f = tmp_path / "bad.yaml"
    f.write_text("method: sobol\nn: 8\nparameters: {x1: {low: 1, high: 0}}\n")
    res = carenet("run", "-m", f"design={f}", "model=ishigami")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "must be below high" in res.stderr


def test_design_runs_give_the_function_at_the_points(tmp_path):
    f = write_design(tmp_path, n=4)
    out = tmp_path / "o"
    run_design(f, out)
    from carenet.sim.collect import collect

    collect(out)
    runs = pd.read_parquet(out / "runs.parquet").sort_values(
        "design_point", key=lambda s: s.astype(int)
    )
    rec = json.loads((out / "design.json").read_text())
    assert len(runs) == 4 * 5
    for (x1, x2, x3), y in zip(rec["values"], runs["y"], strict=True):
        assert y == pytest.approx(ishigami(x1, x2, x3), abs=1e-12)


def test_design_killed_and_resumed(tmp_path):
    # 320 runs of a toy model: enough that a kill after the first 10 comes before the
    # last (a sweep of 80 such runs can finish between two looks at the folder).
    total = 64 * 5
    f = write_design(tmp_path, n=64)
    out = tmp_path / "o"
    cmd = [
        sys.executable,
        "-m",
        "carenet",
        "run",
        "-m",
        f"design={f}",
        f"out={out}",
        "hydra.launcher.n_jobs=2",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = len(list((out / "runs").glob("*"))) if (out / "runs").is_dir() else 0
        if done >= 10 or proc.poll() is not None:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(60)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    assert 0 < len(before) < total, "the kill came too late to test a resume"
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "complete" and sweep["counts"]["finished"] == total
    assert sweep["counts"]["already_finished"] >= len(before) - 2  # killed mid-write: redone
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    kept = [k for k in before if after.get(k) == before[k]]
    assert len(kept) >= len(before) - 2  # finished runs were not run again
