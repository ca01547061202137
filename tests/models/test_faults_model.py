"""Shocks and settings that cannot happen are bad input, stopped before anything runs.

Each case runs the real ``carenet`` command in a subprocess and checks the exit code, that
stderr is one line without a traceback, and that nothing was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from carenet.models.shocks import shock_window
from tests.cli import carenet

SMALL = [
    "population=small",
    "organisations=small",
    "progress=false",
    "figures=false",
    "warmup_weeks=0",
]


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("carenet: error: ")
    return lines[0]


def _assert_nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists()
    assert not (tmp_path / "outputs").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["steps=26", "scenario.shocks=[{kind:org_failure,at_week:104,count:2}]"],
            "scenario.shocks[0].at_week: 104 is not a week of this run (steps=26",
        ),
        (
            ["steps=26", "scenario.shocks=[{kind:budget_cut,at_week:26,magnitude:0.1}]"],
            "scenario.shocks[0].at_week: 26 is not a week of this run",
        ),
        (
            ["steps=26", "scenario=hub_failure", "scenario.shocks.0.at_week=300"],
            "scenario.shocks[0].at_week: 300 is not a week of the 260-week reference run",
        ),
        (
            ["steps=26", "scenario.shocks=[{kind:org_failure,at_week:3,count:2,kinds:[acute]}]"],
            "scenario.shocks[0].count: 2 organisations of kinds acute cannot fail; at most 0",
        ),
        (
            ["steps=26", "scenario=random_failure", "scenario.shocks.0.count=50"],
            "scenario.shocks[0].count: 50 organisations of kinds gp, acute",
        ),
        (
            [
                "steps=26",
                "scenario.shocks=[{kind:org_failure,at_week:3,count:11,kinds:[gp,acute]},"
                "{kind:org_failure,at_week:5,count:1,kinds:[gp]}]",
            ],
            "scenario.shocks[0, 1].count: together 12 organisations",
        ),
        (
            ["steps=5", "response=network", "response.hub_count=100"],
            "response.hub_count: 100 is more hubs than the 26 service organisations",
        ),
        (
            ["steps=5", "population.episode_rate_per_year=[0,0,0,0]"],
            "population.episode_rate_per_year: [0.0, 0.0, 0.0, 0.0] gives no care episodes",
        ),
        (
            [
                "steps=5",
                "population.stratum_shares=[1,0,0,0]",
                "population.episode_rate_per_year=[0,1,1,1]",
            ],
            "population.episode_rate_per_year: [0.0, 1.0, 1.0, 1.0] gives no care episodes",
        ),
    ],
    ids=[
        "shock_after_the_run",
        "budget_cut_at_the_last_week_plus_one",
        "relative_shock_beyond_the_reference_run",
        "failure_of_a_kind_with_one_organisation",
        "failure_count_above_what_can_fail",
        "failures_that_fit_alone_but_not_together",
        "more_hubs_than_organisations",
        "no_demand_at_all",
        "no_demand_in_the_strata_that_exist",
    ],
)
def test_an_impossible_shock_or_setting_is_bad_input(tmp_path, overrides, expected):
    out = tmp_path / "run"
    r = carenet("run", *SMALL, *overrides, f"out={out}", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    line = _one_error_line(r.stderr)
    assert expected in line, line
    _assert_nothing_written(tmp_path, out)


def test_a_sweep_with_an_impossible_shock_stops_in_its_plan(tmp_path):
    out = tmp_path / "sweep"
    r = carenet(
        "run",
        "-m",
        *SMALL,
        "steps=26",
        "scenario.shocks=[{kind:org_failure,at_week:104,count:2}]",
        "seed=1,2",
        "hydra/launcher=basic",
        f"out={out}",
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stderr
    assert "scenario.shocks[0].at_week: 104 is not a week of this run" in _one_error_line(r.stderr)
    _assert_nothing_written(tmp_path, out)


def test_a_preset_shock_falls_inside_a_short_run_and_changes_its_result(tmp_path):
    """hub_failure at week 104 of 260 falls at week 10 of a 26-week run; not a no-op."""
    results = {}
    for scenario in ("baseline", "hub_failure"):
        out = tmp_path / scenario
        r = carenet("run", *SMALL, "steps=26", f"scenario={scenario}", f"out={out}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert "warning" not in r.stderr
        ts = pd.read_parquet(out / "timeseries.parquet")
        results[scenario] = (json.loads((out / "summary.json").read_text())["metrics"], ts)
    assert results["hub_failure"][0] != results["baseline"][0]
    active = results["hub_failure"][1].set_index("week")["active_orgs"]
    assert active[9] == results["baseline"][1]["active_orgs"].iloc[-1]
    assert active[10] == active[9] - 2


def test_relative_weeks_scale_with_steps_and_are_unchanged_in_a_default_run():
    hub = {"at_week": 104, "duration_weeks": 0, "relative": True}
    outage = {"at_week": 78, "duration_weeks": 8, "relative": True}
    winter = {"at_week": 200, "duration_weeks": 12, "relative": True}
    assert shock_window(hub, 260) == (104, 0)
    assert shock_window(hub, 26) == (10, 0)
    assert shock_window(outage, 260) == (78, 8)
    assert shock_window(outage, 26) == (7, 1)
    assert shock_window(outage, 520) == (156, 16)
    assert shock_window(winter, 1) == (0, 1)
    assert shock_window({**hub, "relative": False}, 26) == (104, 0)
    for steps in range(1, 300):  # every preset week lands inside the run
        for s in (hub, outage, winter):
            start, dur = shock_window(s, steps)
            assert 0 <= start < steps and start + dur <= steps


def test_a_shock_cut_short_by_the_end_of_the_run_runs_with_a_warning(tmp_path):
    out = tmp_path / "run"
    r = carenet(
        "run",
        *SMALL,
        "steps=10",
        "scenario.shocks=[{kind:data_outage,at_week:6,duration_weeks:20}]",
        f"out={out}",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("carenet: warning:")]
    assert len(warnings) == 1, r.stderr
    assert "from week 6 for 20 weeks runs past the run's end" in warnings[0]
    assert "the last 4 weeks only" in warnings[0]
    assert "Traceback" not in r.stderr
    assert (out / "manifest.json").is_file()
