"""Messages that help, second part (issue #10): composition errors, sweep functions without
-m, list examples, contradicting labels, folders collect/report/reproduce/docs cannot use.

Every case runs the real ``carenet`` command in a subprocess (tests/cli.py) and checks one
line on stderr (``carenet: error: ...``), the exit code, no traceback, nothing written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli import carenet

SMALL = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=4",
    "warmup_weeks=0",
    "progress=false",
    "figures=false",
]


def _one_line_error(r, *, code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    err = r.stderr.strip()
    assert err and "\n" not in err, f"not one line: {err!r}"
    assert err.startswith("carenet: error:"), err
    return err


def _refused(tmp_path: Path, *overrides: str) -> str:
    r = carenet("run", *SMALL, *overrides, cwd=tmp_path)
    err = _one_line_error(r)
    assert list(tmp_path.iterdir()) == []
    return err


# --- D1, D2: composition errors name the key, the value and what is allowed -------------


@pytest.mark.parametrize(
    "overrides, expected",
    [
        pytest.param(
            ["health.qaly_loss_failure={a:1}"],
            r"health.qaly_loss_failure: '\{a:1\}' is a mapping; expected a list, e.g. \[",
            id="mapping-for-list",
        ),
        pytest.param(
            ["scenario.shocks={kind:winter_surge}"],
            r"scenario.shocks: '\{kind:winter_surge\}' is a mapping; expected a list",
            id="mapping-for-shocks",
        ),
        pytest.param(
            ["scenario.shocks.0.at_week=2"],
            r"scenario.shocks.0.at_week: index 0 is out of range \(scenario.shocks has none",
            id="index-no-shocks",
        ),
        pytest.param(
            ["scenario=winter", "scenario.shocks.5.at_week=1"],
            r"index 5 is out of range \(scenario.shocks has 4, at indices 0 to 3",
            id="index-beyond",
        ),
        pytest.param(["hydra=5"], r"hydra: '5' is not allowed;.*hydra/launcher=", id="hydra"),
        pytest.param(
            ["hydra/sweeper=nope"],
            r"hydra/sweeper: 'nope' is not a known option; allowed: basic",
            id="sweeper",
        ),
        pytest.param(
            ["hydra/job_logging=nope"],
            r"hydra/job_logging: 'nope' is not a known option; allowed: .*default",
            id="job-logging",
        ),
    ],
)
def test_composition_errors_name_key_value_and_allowed(tmp_path, overrides, expected):
    err = _refused(tmp_path, *overrides)
    assert "could not compose" not in err
    assert re.search(expected, err), err


# --- D3: a sweep function without -m says add -m -----------------------------------------


@pytest.mark.parametrize("value", ["range(1,3)", "interval(1,3)", "choice(3,4)"])
def test_a_sweep_function_without_m_says_add_m(tmp_path, value):
    err = _refused(tmp_path, f"steps={value}")
    assert "add -m" in err and "grammar" not in err, err


# --- D7: a list example that fits the key ---------------------------------------------


def test_a_list_example_fits_the_key(tmp_path):
    err = _refused(tmp_path, "power_rule.empowering_kinds=gp")
    assert "[vcse,community,gp]" in err and "0.1,0.2" not in err, err
    err = _refused(tmp_path, "scenario.shocks=winter")
    assert "0.1,0.2" not in err, err


# --- D4: a documented shock key a preset does not list is accepted ---------------------


def test_a_shock_key_the_preset_does_not_list_is_accepted(tmp_path):
    from carenet.sim.config import load_config

    cfg = load_config([*SMALL, "scenario=hub_failure", "scenario.shocks.0.kinds=[gp]"])
    assert cfg.scenario.shocks[0]["kinds"] == ["gp"]
    err = _refused(tmp_path, "scenario=hub_failure", "scenario.shocks.0.kindz=[gp]")
    assert "kindz" in err and "kinds" in err


# --- E1, E2: a name that contradicts the group's option ------------------------------


@pytest.mark.parametrize(
    "overrides",
    [["structure=hierarchy", "structure.name=network"], ["response.name=network"]],
    ids=["structure", "response"],
)
def test_a_name_contradicting_the_option_is_refused(tmp_path, overrides):
    group = overrides[-1].split(".")[0]
    err = _refused(tmp_path, *overrides)
    assert f"{group}.name: 'network' contradicts" in err and f"{group}=network" in err


def test_a_name_that_is_the_option_or_no_option_is_kept():
    from carenet.sim.config import load_config

    assert load_config(["structure=network", "structure.name=network"]).structure.name == (
        "network"
    )
    assert load_config(["scenario=winter", "scenario.name=my_winter"]).scenario.name == (
        "my_winter"
    )


# --- E9: an org failure of 0 organisations ---------------------------------------------


def test_an_org_failure_of_zero_is_refused_in_a_sweep(tmp_path):
    r = carenet(
        "run",
        "-m",
        *SMALL,
        "out=e9",
        "scenario=random_failure",
        "scenario.shocks.0.count=0",
        cwd=tmp_path,
    )
    err = _one_line_error(r)
    assert "scenario.shocks[0].count: 0" in err
    assert not (tmp_path / "e9").exists()


# --- D8: docs into a dangling link -----------------------------------------------------


def test_docs_into_a_dangling_link_says_so(tmp_path):
    (tmp_path / "d2").symlink_to(tmp_path / "nowhere")
    err = _one_line_error(carenet("docs", "--out", "d2", cwd=tmp_path))
    assert "dangling" in err and "d2" in err
    assert not (tmp_path / "nowhere").exists()


# --- D9: report's help matches what it accepts -------------------------------------------


def test_report_help_says_sweep_folder_only():
    r = carenet("report", "--help")
    assert r.returncode == 0
    assert "sweep or run folder" not in r.stdout
    assert "refused" in r.stdout


# --- sweep folders: E3-E6, D6, C3; a run folder: E5 ------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("sweep")
    r = carenet("run", "-m", *SMALL, "out=sw", "seed=1,2", cwd=base)
    assert r.returncode == 0, r.stderr[-2000:]
    return base / "sw"


def _copy(sweep: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "sw"
    shutil.copytree(sweep, dst)
    for name in ("runs.parquet", "timeseries.parquet", "report.md"):
        (dst / name).unlink(missing_ok=True)
    return dst


@pytest.mark.parametrize("command", ["collect", "report"])
def test_a_sweeps_runs_folder_is_refused(sweep, tmp_path, command):
    sw = _copy(sweep, tmp_path)
    err = _one_line_error(carenet(command, "sw/runs", cwd=tmp_path))
    assert "runs/ folder of the sweep" in err
    assert sorted(p.name for p in (sw / "runs").iterdir() if not p.is_dir()) == []


def test_missing_planned_runs_are_counted(sweep, tmp_path):
    sw = _copy(sweep, tmp_path)
    first = sorted((sw / "runs").iterdir())[0]
    shutil.rmtree(first)
    r = carenet("collect", "sw", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 of 2 planned runs finished; 1 missing (not run)" in r.stderr
    r = carenet("report", "sw", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 of 2 planned runs finished; 1 missing" in (sw / "report.md").read_text()


@pytest.mark.parametrize("command", ["collect", "report"])
def test_a_sweep_still_running_is_named(sweep, tmp_path, command):
    sw = _copy(sweep, tmp_path)
    for p in (sw / "runs").iterdir():
        shutil.rmtree(p)
    rec = json.loads((sw / "sweep.json").read_text())
    rec["status"] = "running"
    (sw / "sweep.json").write_text(json.dumps(rec))
    holder = {"pid": 4242, "host": "node7", "since": "2026-01-01T00:00:00"}
    (sw / ".carenet.holder").write_text(json.dumps(holder))
    err = _one_line_error(carenet(command, "sw", cwd=tmp_path))
    assert "still running" in err and "pid 4242 on node7" in err
    assert not (sw / "runs.parquet").exists() and not (sw / "report.md").exists()


def _read_only_mount(src: Path, mnt: Path) -> bool:
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    ok = subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True)
    if ok.returncode != 0:
        return False
    ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], capture_output=True)
    if ro.returncode != 0:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        return False
    return True


@pytest.mark.parametrize("command", ["collect", "report"])
def test_a_read_only_sweep_folder_is_refused_before_working(sweep, tmp_path, command):
    sw = _copy(sweep, tmp_path)
    mnt = tmp_path / "ro"
    if not _read_only_mount(sw, mnt):
        if os.geteuid() == 0:
            pytest.skip("cannot make a read-only bind mount here (needs mount privileges)")
        sw.chmod(0o555)
        mnt.rmdir()
        mnt = sw
    try:
        err = _one_line_error(carenet(command, mnt.name, cwd=tmp_path))
        assert f"'{mnt.name}' cannot be written" in err, err
        assert "OSError" not in err
    finally:
        if mnt.name == "ro":
            subprocess.run(["umount", str(mnt)], capture_output=True)
        sw.chmod(0o755)


def test_reproduce_names_a_missing_listed_file(tmp_path):
    r = carenet("run", *SMALL, "out=r", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (tmp_path / "r" / "network.json").unlink()
    err = _one_line_error(carenet("reproduce", "r", cwd=tmp_path))
    assert "network.json" in err and "missing" in err
