"""collect, report and reproduce under bad input and faults: one line, nothing lost (#10).

Every case runs the real ``carenet`` command in a subprocess and checks the exit code, that
stderr is one line without a traceback, and that what the user had is unchanged and no
half-written result (or temporary file) is left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.cli import carenet

from .conftest import TINY


def _one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("carenet: error:")
    return err


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes (hidden files included)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished single run, as ``carenet run`` writes it."""
    out = tmp_path_factory.mktemp("one") / "run"
    proc = carenet("run", *TINY, f"out={out}", "progress=false")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished sweep of 2 scenarios x 2 replications, collected and reported."""
    out = tmp_path_factory.mktemp("sweep") / "sw"
    proc = carenet(
        "run", "-m", *TINY, "structure=network,hierarchy", "replications=2", f"out={out}"
    )
    assert proc.returncode == 0, proc.stderr
    assert carenet("report", str(out)).returncode == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


# --- 1. no command destroys another command's result -------------------------------------


@pytest.mark.parametrize("command", ["collect", "report"])
def test_collect_and_report_refuse_a_single_run_and_leave_it_reproducible(
    one_run, tmp_path, command
):
    run = _copy(one_run, tmp_path / "run")
    before = _snapshot(run)
    err = _one_line(carenet(command, str(run)), 2)
    assert "one run's folder" in err
    assert _snapshot(run) == before
    assert carenet("reproduce", str(run)).returncode == 0
    # overwrite=true still replaces it: nothing foreign was added
    proc = carenet("run", *TINY, f"out={run}", "overwrite=true", "progress=false")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("command", ["collect", "report", "reproduce"])
@pytest.mark.parametrize("kind", ["missing", "file", "empty", "users"])
def test_every_results_command_refuses_a_folder_without_runs(tmp_path, command, kind):
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("my notes\n")
    elif kind in ("empty", "users"):
        target.mkdir()
    if kind == "users":
        (target / "report.md").write_text("my own report\n")
        (target / "figures").mkdir()
        (target / "figures" / "value_cost.png").write_bytes(b"not carenet's")
    before = _snapshot(tmp_path)
    _one_line(carenet(command, str(target)), 2)
    assert _snapshot(tmp_path) == before
    assert not (kind in ("missing",) and target.exists())


def test_a_users_files_beside_run_folders_are_never_overwritten(one_run, tmp_path):
    parent = tmp_path / "mine"
    parent.mkdir()
    _copy(one_run, parent / "a")
    _copy(one_run, parent / "b")
    (parent / "report.md").write_text("my own report\n")
    (parent / "timeseries.parquet").write_bytes((one_run / "timeseries.parquet").read_bytes())
    before = _snapshot(parent)
    err = _one_line(carenet("report", str(parent)), 2)
    assert "report.md" in err and "not written by carenet" in err
    err = _one_line(carenet("collect", str(parent)), 2)
    assert "timeseries.parquet" in err
    assert _snapshot(parent) == before
    # Without the user's files in the way, a folder of run folders can be collected.
    (parent / "report.md").unlink()
    (parent / "timeseries.parquet").unlink()
    assert carenet("report", str(parent)).returncode == 0
    assert (parent / "report.md").read_text().startswith("# carenet report:")
    assert carenet("reproduce", str(parent / "a")).returncode == 0


def test_report_again_replaces_only_its_own_files(sweep, tmp_path):
    sw = _copy(sweep, tmp_path / "sw")
    assert carenet("report", str(sw)).returncode == 0
    assert not [p for p in sw.rglob(".*tmp*")]


# --- 2. faults: damaged input -------------------------------------------------------------


@pytest.mark.parametrize("command", ["collect", "report"])
def test_a_truncated_sweep_json_is_refused_and_named(sweep, tmp_path, command):
    sw = _copy(sweep, tmp_path / "sw")
    p = sw / "sweep.json"
    p.write_bytes(p.read_bytes()[:200])
    before = _snapshot(sw)
    err = _one_line(carenet(command, str(sw)), 2)
    assert "sweep.json: unreadable" in err
    assert _snapshot(sw) == before


@pytest.mark.parametrize("name", ["summary.json", "timeseries.parquet", "manifest.json"])
@pytest.mark.parametrize("command", ["collect", "report"])
def test_collect_refuses_a_run_with_a_truncated_file_and_names_it(sweep, tmp_path, name, command):
    sw = _copy(sweep, tmp_path / "sw")
    run = sorted((sw / "runs").iterdir())[0]
    (run / name).write_bytes((run / name).read_bytes()[:60])
    os.utime(sw / "runs")  # the runs changed: report collects again
    before = _snapshot(sw)
    err = _one_line(carenet(command, str(sw)), 2)
    assert f"{run.name}/{name}: unreadable" in err
    assert _snapshot(sw) == before


@pytest.mark.parametrize("name", ["summary.json", "timeseries.parquet", "manifest.json"])
def test_reproduce_names_a_damaged_file(one_run, tmp_path, name):
    run = _copy(one_run, tmp_path / "run")
    (run / name).write_bytes((run / name).read_bytes()[:50])
    before = _snapshot(run)
    err = _one_line(carenet("reproduce", str(run)), 2)
    assert f"{name}: unreadable" in err
    assert _snapshot(run) == before


def test_reproduce_of_a_sweep_folder_is_refused(sweep):
    err = _one_line(carenet("reproduce", str(sweep)), 2)
    assert "holds no finished carenet run" in err


# --- 2. faults: a full disk ---------------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path):
    """A 16 MiB tmpfs (root only); skipped where mounting is not permitted."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root and mount(8)")
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(folder: Path, leave: int = 0) -> None:
    """Fill the file system of ``folder``, then free ``leave`` bytes."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9):
            while True:
                try:
                    if os.write(fd, b"\0" * chunk) < chunk:
                        break
                except OSError:
                    break
    finally:
        os.close(fd)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))


def test_a_full_disk_during_collect_leaves_nothing_half_written(sweep, small_fs):
    sw = _copy(sweep, small_fs / "sw")
    for name in ("runs.parquet", "timeseries.parquet", "report.md"):
        (sw / name).unlink()
    _fill(small_fs, leave=8192)
    before = _snapshot(sw)
    err = _one_line(carenet("collect", str(sw)), 1)
    assert "could not write" in err and "unchanged" in err
    assert _snapshot(sw) == before
    assert not (sw / "runs.parquet").exists()


def test_a_full_disk_during_report_leaves_the_old_report(sweep, small_fs):
    sw = _copy(sweep, small_fs / "sw")
    old = (sw / "report.md").read_text()
    os.utime(sw / "runs")  # make it collect and draw again
    _fill(small_fs, leave=16384)
    before = {k: v for k, v in _snapshot(sw).items()}
    proc = carenet("report", str(sw))
    err = _one_line(proc, 1)
    assert "could not write" in err
    assert (sw / "report.md").read_text() == old
    assert _snapshot(sw) == before
    assert not [p for p in sw.iterdir() if p.name.startswith(".report.tmp")]


# --- 3. outputs that do not mislead -------------------------------------------------------


def test_report_intervals_stay_in_range(sweep):
    summary = pd.read_csv(sweep / "summary.csv")
    from carenet.sim.analysis import POSITIVE, SHARE, metric_scale
    from carenet.sim.modelspec import load_spec

    spec = load_spec("")
    scales = summary["metric"].map(lambda m: metric_scale(m, spec))
    has = summary["lo"].notna()
    assert (summary.loc[has & (scales == POSITIVE), "lo"] >= 0).all()
    share = summary[has & (scales == SHARE)]
    assert ((share["lo"] >= 0) & (share["hi"] <= 1)).all()
    text = (sweep / "report.md").read_text()
    assert "logit scale" in text and "Handoff failure rate" in text


def test_run_headline_names_the_arrangement_net_qalys_threshold_and_open_episodes(one_run):
    tmp = one_run.parent / "again"
    proc = carenet("run", *TINY, f"out={tmp}", "costs.threshold_gbp_per_qaly=30000")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    summary = json.loads((tmp / "summary.json").read_text())["metrics"]
    assert "structure: " in out and "power_rule: " in out and "scenario: " in out
    assert "Net QALYs" in out and f"{summary['qalys_net']:,.1f}" in out
    assert "at 30,000/QALY" in out
    assert "still in progress" in out and f"{summary['episodes_in_progress']:,.0f}" in out
    assert "Handoff failure rate" in out and f"{summary['handoff_failure_rate']:.1%}" in out


@pytest.mark.parametrize(
    ("swept", "column"),
    [("seed=1,2", "root_seed"), ("scenario=baseline,winter", "scenario_option")],
    ids=["seed", "scenario"],
)
def test_a_sweep_over_a_fixed_column_name_collects_and_reports(swept, column, tmp_path):
    """A sweep over seed or scenario: one column each, a readable table, a report."""
    out = tmp_path / "s"
    tiny = [
        "population=small",
        "organisations=small",
        "population.size=5000",
        "steps=4",
        "warmup_weeks=0",
    ]
    r = carenet("run", "-m", *tiny, "progress=false", swept, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = carenet("report", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(set(runs.columns)) == len(runs.columns)
    assert runs[column].nunique() == 2 and runs["seed"].dtype.kind == "i"
