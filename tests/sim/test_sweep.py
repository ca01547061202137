"""Sweeps: seeds, run identity, resume after SIGKILL, failures, launchers, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carenet.sim.config import ConfigError, load_config, to_dict
from carenet.sim.sweep import (
    RunSpec,
    execute_run,
    finished_ids,
    needs_running,
    plan_sweep,
    replication_seed,
    replication_seeds,
    run_id,
    run_sweep,
    scenario_id,
)

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=6",
    "warmup_weeks=0",
]
ENV = {**os.environ, "PYTHONHASHSEED": "0"}


def carenet_cmd() -> list[str]:
    return [sys.executable, "-c", "import sys; from carenet.cli import main; sys.exit(main())"]


def _run(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        carenet_cmd() + args, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300, **kw
    )


def _numbers(folder: Path) -> dict[str, tuple[dict, pd.DataFrame]]:
    out = {}
    for rid in sorted(finished_ids(folder)):
        summary = json.loads((folder / "runs" / rid / "summary.json").read_text())
        ts = pd.read_parquet(folder / "runs" / rid / "timeseries.parquet")
        out[rid] = (summary["metrics"], ts)
    return out


def _assert_same_numbers(a: Path, b: Path) -> None:
    na, nb = _numbers(a), _numbers(b)
    assert sorted(na) == sorted(nb)
    for rid in na:
        assert json.dumps(na[rid][0], sort_keys=True) == json.dumps(nb[rid][0], sort_keys=True)
        pd.testing.assert_frame_equal(na[rid][1], nb[rid][1], check_exact=True)


# --- seeds and identity -------------------------------------------------------------------


def test_replication_seeds_depend_only_on_root_and_index():
    seeds = replication_seeds(12345, 5)
    assert seeds[0] == 12345
    assert len(set(seeds)) == 5
    assert replication_seeds(12345, 3) == seeds[:3]  # adding replications changes nothing
    assert all(0 <= s < 2**63 for s in seeds)
    assert replication_seeds(12346, 5)[1:] != seeds[1:]
    child = np.random.SeedSequence(12345).spawn(3)[2]
    assert seeds[2] == int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def test_run_id_ignores_output_settings_but_not_parameters_or_seed():
    a = to_dict(load_config(TINY))
    b = to_dict(load_config([*TINY, "out=/elsewhere", "progress=false", "replications=7"]))
    c = to_dict(load_config([*TINY, "population.size=6000"]))
    assert scenario_id(a) == scenario_id(b)
    assert scenario_id(a) != scenario_id(c)
    assert run_id(scenario_id(a), 1) != run_id(scenario_id(a), 2)


def test_plan_lists_every_run_once_with_shared_seeds_across_scenarios(tmp_path):
    plan = plan_sweep(
        [
            "structure=hierarchy,network",
            "power_rule=domination,empowerment",
            "replications=3",
            *TINY,
            f"out={tmp_path / 's'}",
        ]
    )
    assert len(plan.scenarios) == 4 and len(plan.runs) == 12
    assert len(set(plan.run_ids)) == 12
    assert list(plan.swept) == ["structure", "power_rule"]
    for sc in plan.scenarios:
        assert sc["seeds"] == replication_seeds(12345, 3)
    assert plan.launcher == "local"
    assert plan.out == tmp_path / "s"


def test_bad_value_in_a_sweep_stops_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match=r"population\.size: -5 is not allowed"):
        plan_sweep([*TINY, "population.size=5000,-5", f"out={tmp_path}"])
    r = _run(["run", "-m", *TINY, "population.size=5000,-5", f"out={tmp_path / 'x'}"], tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "population.size: -5 is not allowed" in r.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["hydra.launcher.n_jobs=0"], r"hydra\.launcher\.n_jobs: '0' is not allowed"),
        (["hydra.launcher.n_jobs=two"], r"hydra\.launcher\.n_jobs: 'two' is not allowed"),
        (["hydra.launcher.backend=dask"], r"hydra\.launcher\.backend: 'dask' is not allowed"),
        (
            ["hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
            r"hydra\.launcher\.n_jobs: '0' is not allowed",
        ),
    ],
)
def test_bad_launcher_options_stop_before_anything_runs(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        plan_sweep(["seed=1,2", *TINY, f"out={tmp_path / 'x'}", *options])
    plan_sweep(["seed=1,2", *TINY, "hydra.launcher.n_jobs=-1", "hydra.launcher.backend=loky"])


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["hydra/launcher=nonsense"],
            r"hydra/launcher: 'nonsense' is not a known option; allowed: .*local",
        ),
        (
            ["hydra/sweeper=nonsense"],
            r"hydra/sweeper: 'nonsense' is not a known option; allowed: basic, carenet",
        ),
        (
            ["hydra.launcher.foo=1"],
            r"hydra\.launcher\.foo: not an option of hydra/launcher=local; its options: n_jobs, "
            "backend",
        ),
        (
            ["hydra/launcher=basic", "hydra.launcher.n_jobs=2"],
            r"hydra\.launcher\.n_jobs: not an option of hydra/launcher=basic",
        ),
    ],
)
def test_unknown_launcher_or_option_stops_before_anything_runs(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        plan_sweep(["seed=1,2", *TINY, f"out={tmp_path / 'x'}", *options])
    assert not (tmp_path / "x").exists()


def test_cli_bad_launcher_option_is_one_line_exit_2(tmp_path):
    r = _run(
        ["run", "-m", "seed=1,2", *TINY, f"out={tmp_path / 'x'}", "hydra.launcher.n_jobs=0"],
        tmp_path,
    )
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "hydra.launcher.n_jobs: '0' is not allowed" in r.stderr
    assert not (tmp_path / "x").exists()


# --- one run, without Hydra -------------------------------------------------------------


def test_execute_run_writes_once_then_skips(tmp_path):
    data = to_dict(load_config([*TINY, f"out={tmp_path}", "replications=2"]))
    first = execute_run(RunSpec(config=data, replication=1))
    assert first["status"] == "finished"
    rid = first["run_id"]
    manifest = json.loads((tmp_path / "runs" / rid / "manifest.json").read_text())
    assert manifest["seed"] == replication_seed(12345, 1)
    assert manifest["sweep"]["replication"] == 1 and manifest["sweep"]["run_id"] == rid
    assert execute_run(RunSpec(config=data, replication=1))["status"] == "skipped"
    assert execute_run(RunSpec(config=data, replication=2))["status"] == "not_planned"


def test_needs_running_is_false_exactly_where_a_run_would_skip_itself(tmp_path):
    data = to_dict(load_config([*TINY, f"out={tmp_path}", "replications=2"]))
    spec = RunSpec(config=data, replication=1)
    assert needs_running(spec)
    execute_run(spec)
    assert not needs_running(spec)  # finished
    assert needs_running(RunSpec(config=data, replication=0))
    assert not needs_running(RunSpec(config=data, replication=2))  # beyond replications
    assert needs_running(RunSpec(config={**data, "overwrite": True}, replication=1))
    assert needs_running(RunSpec(config={**data, "steps": -1}, replication=0))  # records it


def test_sweeps_launch_only_the_runs_left_to_do(tmp_path, monkeypatch):
    import carenet.sim.sweep as sweep_mod

    launched: list[int] = []
    real = sweep_mod.execute_run

    def counting(spec):
        launched.append(spec.replication)
        return real(spec)

    monkeypatch.setattr(sweep_mod, "execute_run", counting)
    args = ["replications=1,3", *TINY, f"out={tmp_path}", "hydra.launcher.n_jobs=1"]
    plan = plan_sweep(args)
    # replications does not change a run's numbers: replication 0 is one run in both
    # scenarios, so 3 runs; Hydra's product has 2 x 3 jobs.
    assert len(plan.runs) == 3
    run_sweep(plan)
    # The 2 jobs beyond replications=1 are not launched; replication 0 is launched from
    # both scenarios (neither had finished when the jobs were listed) and runs once.
    assert sorted(launched) == [0, 0, 1, 2]
    assert finished_ids(tmp_path) == set(plan.run_ids)
    gone = plan.runs[-1]
    shutil.rmtree(tmp_path / "runs" / gone.run_id)
    launched.clear()
    run_sweep(plan_sweep(args))  # resume: only the missing run is launched
    assert launched == [gone.replication]
    assert finished_ids(tmp_path) == set(plan.run_ids)


def test_a_failing_run_is_recorded_and_does_not_raise(tmp_path, failing_rule):
    data = to_dict(
        load_config([*TINY, f"out={tmp_path}", f"power_rule._target_={failing_rule}:Failing"])
    )
    res = execute_run(RunSpec(config=data, replication=0, overrides=("a=b",)))
    assert res["status"] == "failed"
    rec = json.loads((tmp_path / "failures" / f"{res['run_id']}.json").read_text())
    assert rec["seed"] == 12345 and rec["replication"] == 0 and rec["overrides"] == ["a=b"]
    assert "RuntimeError: injected failure" in rec["error"]
    assert "Traceback" in rec["traceback"]
    assert rec["config"]["power_rule"]["_target_"].endswith("failing_rule.py:Failing")
    assert not finished_ids(tmp_path)


# --- whole sweeps, in subprocesses ------------------------------------------------------

SWEEP = ["structure=hierarchy,network", "replications=3", *TINY, "progress=false"]


def test_sigkill_then_resume_gives_every_run_once_and_the_same_numbers(tmp_path):
    ref, res = tmp_path / "ref", tmp_path / "res"
    # Uninterrupted, parallel (joblib) reference.
    r = _run(["run", "-m", *SWEEP, f"out={ref}", "hydra.launcher.n_jobs=2"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(finished_ids(ref)) == 6
    # The same sweep, one run at a time, killed with SIGKILL after two runs.
    cmd = ["run", "-m", *SWEEP, f"out={res}", "hydra/launcher=basic"]
    p = subprocess.Popen(
        carenet_cmd() + cmd,
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while len(finished_ids(res)) < 2 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done_at_kill = len(finished_ids(res))
    assert 2 <= done_at_kill < 6, "the sweep should have been killed partway"
    assert json.loads((res / "sweep.json").read_text())["status"] == "running"
    # Resume with the same command.
    r = _run(cmd, tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"({done_at_kill} already there)" in r.stdout
    assert len(finished_ids(res)) == 6
    assert not [p for p in (res / "runs").iterdir() if p.name.startswith(".")]
    _assert_same_numbers(ref, res)  # also: the same numbers under joblib and basic
    manifest = json.loads((res / "sweep.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["invocations"]) == 2
    # A third time: nothing left to do.
    r = _run(cmd, tmp_path)
    assert r.returncode == 0 and "(6 already there)" in r.stdout


def test_failing_run_is_reported_when_it_happens_and_the_rest_go_on(tmp_path, failing_rule):
    out = tmp_path / "f"
    r = _run(
        [
            "run",
            "-m",
            *TINY,
            f"power_rule._target_={failing_rule}:Failing",
            "+power_rule.params.fail=true,false",
            "replications=2",
            f"out={out}",
            "hydra/launcher=basic",
        ],
        tmp_path,
    )
    assert r.returncode == 1
    assert "2/4 runs finished" in r.stdout and "2 failed" in r.stdout
    # Once by the watcher as it happened, once more in the list at the end.
    assert r.stderr.count("RuntimeError: injected failure") == 4, r.stderr
    first = r.stderr.index("RuntimeError: injected failure")
    assert first < r.stderr.index("run(s) failed:")
    manifest = json.loads((out / "sweep.json").read_text())
    assert manifest["status"] == "incomplete" and len(manifest["failures"]) == 2
    assert len(list((out / "failures").glob("*.json"))) == 2
    assert len(finished_ids(out)) == 2


def test_refuses_a_folder_that_is_not_this_sweep(tmp_path, small_sweep):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = _run(["run", "-m", *SWEEP, f"out={other}"], tmp_path)
    assert r.returncode == 2 and "holds no carenet sweep" in r.stderr
    r = _run(["run", "-m", *SWEEP, f"out={small_sweep}"], tmp_path)
    assert r.returncode == 2 and "holds a different sweep" in r.stderr
    assert (other / "notes.txt").read_text() == "mine"
