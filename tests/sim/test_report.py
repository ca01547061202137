"""carenet report: intervals, paired differences, figures, baseline choice."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from carenet.cli import main
from carenet.sim.analysis import mean_ci, paired_differences


@pytest.fixture(scope="module")
def reported(small_sweep, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rep") / "sweep"
    shutil.copytree(small_sweep, folder)
    assert main(["report", str(folder)]) == 0
    return folder


def test_report_has_every_section_and_figure(reported):
    text = (reported / "report.md").read_text()
    for heading in (
        "## What was run",
        "## How intervals are computed",
        "## Results by scenario: mean [95% CI] over replications",
        "## Differences against the baseline: structure=hierarchy, power_rule=domination",
        "## Value and cost over time",
        "## The value–cost plane",
        "## The network at the end of a run",
        "## Sweep heat-map: structure × power_rule",
    ):
        assert heading in text
    assert "Replications per scenario (finished): 2" in text
    assert "n − 1 degrees of freedom" in text and "t(0.975, 1) = 12.706" in text
    assert "| 12345 | 0 | 12345 |" in text
    for fig in ("timeseries", "value_cost", "network", "heatmap"):
        png = reported / "figures" / f"{fig}.png"
        assert f"](figures/{fig}.png)" in text
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_report_numbers_are_t_intervals_and_paired_differences(reported):
    runs = pd.read_parquet(reported / "runs.parquet")
    summary = pd.read_csv(reported / "summary.csv")
    diffs = pd.read_csv(reported / "differences.csv")
    base = "structure=hierarchy, power_rule=domination"
    other = "structure=network, power_rule=empowerment"
    row = summary[(summary["scenario"] == other) & (summary["metric"] == "cost_total")].iloc[0]
    # A cost is non-negative: its interval is the t-interval on the log scale (never < 0).
    ci = mean_ci(runs.loc[runs["scenario"] == other, "cost_total"], scale="positive")
    assert row["mean"] == pytest.approx(ci.mean) and row["lo"] == pytest.approx(ci.lo)
    assert (
        row["lo"] >= 0
        and (summary.loc[summary["metric"] == "handoff_failure_rate", "hi"] <= 1).all()
    )
    b = runs[runs["scenario"] == base].set_index("replication")["qalys_net"]
    s = runs[runs["scenario"] == other].set_index("replication")["qalys_net"]
    ref, n = paired_differences(s, b)
    d = diffs[(diffs["scenario"] == other) & (diffs["metric"] == "qalys_net")].iloc[0]
    assert n == 2 and d["pairs"] == 2 and d["same_seeds"]
    assert d["mean"] == pytest.approx(ref.mean) and d["hi"] == pytest.approx(ref.hi)


def test_baseline_can_be_chosen_and_an_unknown_one_is_refused(reported, capsys):
    assert (
        main(["report", str(reported), "--baseline", "structure=network power_rule=domination"])
        == 0
    )
    text = (reported / "report.md").read_text()
    assert "## Differences against the baseline: structure=network, power_rule=domination" in text
    capsys.readouterr()
    assert main(["report", str(reported), "--baseline", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "--baseline: 'nonsense' is not a scenario" in err and err.count("\n") == 1
    assert main(["report", str(reported), "--baseline", "structure=network"]) == 2
    assert "matches several scenarios" in capsys.readouterr().err


def test_report_recollects_when_runs_changed(reported):
    (reported / "runs.parquet").unlink()
    assert main(["report", str(reported)]) == 0
    assert (reported / "runs.parquet").is_file()
