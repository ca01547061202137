"""carenet collect: one row per run, long time series, streamed, failures included."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from carenet.cli import main
from carenet.sim import collect as collect_mod
from carenet.sim.sweep import RunSpec, execute_run


def test_collect_writes_one_row_per_run_with_parameters_seed_and_metrics(small_sweep, capsys):
    assert main(["collect", str(small_sweep)]) == 0
    assert "8 runs (0 failed)" in capsys.readouterr().out
    runs = pd.read_parquet(small_sweep / "runs.parquet")
    assert len(runs) == 8 and runs["run_id"].is_unique
    assert set(runs["scenario"]) == {
        "structure=hierarchy, power_rule=domination",
        "structure=hierarchy, power_rule=empowerment",
        "structure=network, power_rule=domination",
        "structure=network, power_rule=empowerment",
    }
    assert runs.groupby("scenario")["replication"].apply(sorted).tolist() == [[0, 1]] * 4
    assert runs.groupby("replication")["seed"].nunique().eq(1).all()  # common random numbers
    for col in ("structure", "power_rule", "population.size", "structure.name", "steps"):
        assert col in runs.columns
    assert runs["population.size"].dtype == "int64"
    for _, row in runs.iterrows():
        summary = json.loads((small_sweep / row["path"] / "summary.json").read_text())
        assert row["seed"] == summary["seed"]
        for m, v in summary["metrics"].items():
            assert (pd.isna(row[m]) and v is None) or row[m] == v


def test_timeseries_is_long_form_with_run_ids(small_sweep):
    collect_mod.collect(small_sweep)
    ts = pd.read_parquet(small_sweep / "timeseries.parquet")
    assert list(ts.columns) == ["run_id", "scenario", "replication", "week", "metric", "value"]
    runs = pd.read_parquet(small_sweep / "runs.parquet")
    one = runs.iloc[3]
    wide = pd.read_parquet(small_sweep / one["path"] / "timeseries.parquet")
    mine = ts[ts["run_id"] == one["run_id"]]
    assert len(mine) == wide.shape[0] * (wide.shape[1] - 1)
    back = mine.pivot(index="week", columns="metric", values="value")
    for c in wide.columns.drop("week"):
        np.testing.assert_array_equal(back[c].to_numpy(), wide[c].to_numpy(float))
    assert len(ts) == len(runs) * len(mine)


def test_collect_streams_in_row_groups(small_sweep, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(small_sweep, copy)
    monkeypatch.setattr(collect_mod, "ROWS_PER_GROUP", 3)
    monkeypatch.setattr(collect_mod, "TS_ROWS_PER_GROUP", 1)
    res = collect_mod.collect(copy)
    assert pq.ParquetFile(copy / "runs.parquet").num_row_groups == 3  # 3 + 3 + 2
    assert pq.ParquetFile(copy / "timeseries.parquet").num_row_groups == 8  # one per run
    assert res.n_runs == 8
    assert not [p for p in copy.iterdir() if p.name.startswith(".runs")]


def test_failed_runs_appear_with_their_error(small_sweep, tmp_path, failing_rule):
    copy = tmp_path / "copy"
    shutil.copytree(small_sweep, copy)
    from carenet.sim.config import load_config, to_dict

    cfg = load_config(
        [
            "population=small",
            "organisations=small",
            "population.size=5000",
            "steps=6",
            "warmup_weeks=0",
        ]
        + [f"out={copy}", f"power_rule._target_={failing_rule}:Failing"]
    )
    assert execute_run(RunSpec(to_dict(cfg), 0))["status"] == "failed"
    res = collect_mod.collect(copy)
    assert res.n_runs == 9 and res.n_failed == 1
    runs = pd.read_parquet(copy / "runs.parquet")
    bad = runs[runs["status"] == "failed"].iloc[0]
    assert "injected failure" in bad["error"] and pd.isna(bad["qalys_net"])
    assert bad["seed"] == 12345


def test_collect_of_a_folder_without_runs_fails_in_one_line(tmp_path, capsys):
    assert main(["collect", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("carenet: error: collect:") and err.count("\n") == 1
