"""Named experiments run through the sweep machinery: files, resume, failures, numbers."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from carenet.cli import main
from carenet.experiments import arrangements, patterns
from carenet.experiments.declaration import load
from carenet.experiments.runner import plan_experiment, run_experiment
from carenet.sim.config import load_config
from carenet.sim.runner import simulate
from carenet.sim.sweep import finished_ids, replication_seeds

from .conftest import BASIC, TINY


def _run(name, out, *extra):
    return main(["experiment", "run", name, *TINY, "replications=2", f"out={out}", *BASIC, *extra])


def _mtimes(out):
    """Finished runs' summary files and their times (run folders appear whole, by rename)."""
    return {
        p: p.stat().st_mtime_ns
        for arm in sorted(out.glob("arms/*"))
        for p in (arm / "runs" / rid / "summary.json" for rid in sorted(finished_ids(arm)))
    }


@pytest.fixture(scope="module")
def arrangements_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "arrangements"
    assert _run("arrangements", out) == 0
    return out


def test_arrangements_writes_each_arm_as_a_sweep_and_its_table_and_report(arrangements_out):
    out = arrangements_out
    manifest = json.loads((out / "experiment.json").read_text())
    assert manifest["kind"] == "carenet-experiment" and manifest["status"] == "complete"
    for arm in load("arrangements").arms:
        folder = out / "arms" / arm.id
        assert len(finished_ids(folder)) == 2
        for f in ("sweep.json", "runs.parquet", "report.md"):
            assert (folder / f).is_file(), f
    report = (out / "report.md").read_text()
    header = next(ln for ln in report.splitlines() if ln.startswith("| metric |"))
    for arm in load("arrangements").arms:
        assert arm.label in header
    for _, label, _, _ in arrangements.METRICS:
        assert f"| {label} |" in report
    assert "±" in report  # two replications give an interval
    table = pd.read_csv(out / "table.csv")
    assert len(table) == len(arrangements.METRICS) * 3


def test_running_it_again_recomputes_nothing(arrangements_out, capsys):
    before = _mtimes(arrangements_out)
    assert _run("arrangements", arrangements_out) == 0
    assert _mtimes(arrangements_out) == before
    assert capsys.readouterr().out.count("(2 already there)") == 3


def test_report_rewrites_the_report_without_running(arrangements_out, capsys):
    before = _mtimes(arrangements_out)
    (arrangements_out / "report.md").unlink()
    assert main(["experiment", "report", "arrangements", f"out={arrangements_out}"]) == 0
    assert (arrangements_out / "report.md").is_file()
    assert _mtimes(arrangements_out) == before
    assert "| QALYs net |" in capsys.readouterr().out


def test_the_numbers_are_those_of_each_run_simulated_directly(arrangements_out):
    # The old path: simulate(load_config(arm + overrides), seed) for each replication seed.
    for arm in load("arrangements").arms:
        folder = arrangements_out / "arms" / arm.id
        got = {}
        for rid in finished_ids(folder):
            s = json.loads((folder / "runs" / rid / "summary.json").read_text())
            got[s["seed"]] = s["metrics"]
        cfg = load_config([*arm.overrides, *TINY, "progress=false"])
        for seed in replication_seeds(12345, 2):
            want = simulate(cfg, seed=seed).summary
            # summary.json writes NaN as null; every other number must be the same float.
            assert got[seed] == {k: None if math.isnan(v) else v for k, v in want.items()}


def test_a_failed_run_is_recorded_and_the_next_run_retries_only_it(tmp_path, monkeypatch, capsys):
    import carenet.sim.runner as runner

    real = runner.run_scenario
    calls = []

    def flaky(cfg, *args, **kwargs):
        calls.append(kwargs.get("seed"))
        if len(calls) == 2:
            raise RuntimeError("injected failure")
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(runner, "run_scenario", flaky)
    out = tmp_path / "a"
    assert _run("arrangements", out) == 1
    err = capsys.readouterr().err
    assert "did not finish; rerun the same command to resume" in err
    assert len(list(out.glob("arms/hierarchy/failures/*.json"))) == 1
    assert json.loads((out / "experiment.json").read_text())["status"] == "incomplete"
    assert not (out / "report.md").exists()
    monkeypatch.setattr(runner, "run_scenario", real)
    before = _mtimes(out)
    assert _run("arrangements", out) == 0
    after = _mtimes(out)
    assert set(before) < set(after) and len(after) == 6
    assert all(after[p] == before[p] for p in before)
    assert not list(out.glob("arms/*/failures/*.json"))


def test_a_killed_experiment_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "carenet.experiments.command", "run", "arrangements", *TINY]
    cmd += ["replications=3", f"out={out}", "hydra.launcher.n_jobs=1"]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not _mtimes(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _mtimes(out)
    assert 0 < len(before) < 9
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    after = _mtimes(out)
    assert len(after) == 9 and all(after[p] == before[p] for p in before)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "bad"
    assert _run("arrangements", out, "steps=abc") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("carenet: error: steps") and "\n" not in err
    assert not out.exists()


def test_other_overrides_into_the_same_folder_are_refused_and_change_nothing(
    arrangements_out, capsys
):
    before = (arrangements_out / "experiment.json").read_text()
    assert _run("arrangements", arrangements_out, "population.size=3500") == 2
    assert "holds a different sweep" in capsys.readouterr().err
    assert (arrangements_out / "experiment.json").read_text() == before


def test_a_folder_holding_something_else_is_refused(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("x")
    assert _run("arrangements", tmp_path) == 2
    assert "holds no carenet experiment" in capsys.readouterr().err


def test_list_names_every_experiment_and_its_arms(capsys):
    assert main(["experiment", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("arrangements", "patterns"):
        assert f"{name}: " in out
        for arm in load(name).arms:
            assert arm.id in out


def test_every_pattern_gets_a_verdict_with_its_evidence(tmp_path, capsys):
    out = tmp_path / "p"
    plan = plan_experiment(load("patterns"), [*TINY, "replications=2", f"out={out}", *BASIC])
    assert run_experiment(plan, arm_reports=False) == 0  # arm reports: tested above
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("- **")]
    assert len(lines) == len(patterns.PATTERNS)
    for ln in lines:
        assert ": holds.**" in ln or ": does not hold.**" in ln
    assert "paired difference" in lines[2]
    assert len(pd.read_csv(out / "verdicts.csv")) == len(patterns.PATTERNS)
