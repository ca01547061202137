"""Reliability under signals and odd output folders (issue #10, cases A5 C1 C2 C4 D5 D10 E7 E8).

Every case runs the real ``carenet`` command in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli import carenet
from tests.faults import one_error_line, terminal_sigint

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=4",
    "warmup_weeks=0",
]
QUICK = [*TINY, "figures=false", "progress=false"]


_one_error_line = one_error_line


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sw") / "sw"
    r = carenet("run", "-m", "seed=1,2", *QUICK, f"out={out}", "hydra.launcher.n_jobs=1")
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a5_single_run_inside_a_sweep_is_refused(sweep, tmp_path):
    before = _snapshot(sweep)
    rid = sorted(os.listdir(sweep / "runs"))[0]
    for out in (sweep / "runs" / rid, sweep / "runs" / "newrun"):
        r = carenet("run", *QUICK, f"out={out}", "overwrite=true", "seed=99", cwd=tmp_path)
        assert r.returncode == 2, r.stderr[-2000:]
        line = _one_error_line(r.stderr)
        assert "inside sweep" in line and str(sweep) in line and "rerun the sweep" in line
    assert _snapshot(sweep) == before
    assert not (sweep / "runs" / "newrun").exists()


def test_d5_single_run_into_a_sweep_folder_says_it_holds_a_sweep(sweep, tmp_path):
    before = _snapshot(sweep)
    for extra in ([], ["overwrite=true"]):
        r = carenet("run", *QUICK, f"out={sweep}", *extra, cwd=tmp_path)
        assert r.returncode == 2, r.stderr[-2000:]
        line = _one_error_line(r.stderr)
        assert "holds a sweep" in line and "carenet run -m" in line, line
    assert _snapshot(sweep) == before


def test_c4_dangling_symlink_out_is_refused_up_front(tmp_path):
    link = tmp_path / "dangling"
    link.symlink_to("/nonexistent/zz")
    t0 = time.monotonic()
    r = carenet("run", *QUICK, "steps=200", f"out={link}", cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    line = _one_error_line(r.stderr)
    assert "/nonexistent/zz" in line and "does not exist" in line
    assert time.monotonic() - t0 < 60
    assert link.is_symlink() and not Path("/nonexistent/zz").exists()
    r = carenet("run", "-m", "seed=1,2", *QUICK, f"out={link}", cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in _one_error_line(r.stderr)


def test_e7_failed_run_with_default_out_leaves_no_empty_folder(tmp_path):
    r = carenet("run", *QUICK, "population.localities=50", "population.size=3", cwd=tmp_path)
    assert r.returncode in (1, 2), r.stderr[-2000:]
    _one_error_line(r.stderr)
    assert not (tmp_path / "outputs").exists(), list((tmp_path / "outputs").rglob("*"))


def test_e7_bad_launcher_option_leaves_no_empty_folder(tmp_path):
    r = carenet("run", "-m", "seed=1,2", *QUICK, "hydra.launcher.n_jobs=abc", cwd=tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "n_jobs" in _one_error_line(r.stderr)
    assert not (tmp_path / "outputs").exists()


def test_e7_default_out_kept_when_the_run_finishes(tmp_path):
    r = carenet("run", *QUICK, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    (run,) = (tmp_path / "outputs").glob("*/*")
    assert (run / "manifest.json").is_file()


def test_e8_overwrite_keeps_the_mode_of_the_files_it_replaces(tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    os.chmod(out, 0o2770)
    r = carenet("run", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    for p in files:
        os.chmod(p, 0o660)
    env_umask = ["sh", "-c", 'umask 022 && exec "$@"', "sh", sys.executable, "-m", "carenet"]
    r = subprocess.run(
        [*env_umask, "run", *QUICK, f"out={out}", "overwrite=true", "seed=5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["seed"] == 5
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o660, p


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "carenet", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=terminal_sigint,
    )


def _wait_for_a_run(proc: subprocess.Popen[str], out: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        runs = out / "runs"
        if runs.is_dir() and any(not n.startswith(".") for n in os.listdir(runs)):
            return
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the sweep ended before it could be signalled")


def _children(pid: int) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(d.name))
    return found


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


SEEDS = "seed=" + ",".join(str(i) for i in range(1, 7))


def test_c1_sigterm_to_the_process_group_says_terminated_and_resumes(tmp_path):
    out = tmp_path / "sweep"
    args = ["run", "-m", SEEDS, *TINY, "steps=30", "figures=false", f"out={out}"]
    proc = _start(*args, "hydra.launcher.n_jobs=2", cwd=tmp_path)
    _wait_for_a_run(proc, out)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-3000:]
    assert "leaked" not in err and "resource_tracker" not in err, err[-3000:]
    assert _one_error_line(err).startswith("carenet: error: terminated")
    r = carenet(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "complete"
    assert sorted(os.listdir(out / "runs")) == sorted(x["run_id"] for x in sweep["runs"])


def test_c2_sigterm_to_the_main_process_stops_its_workers(tmp_path):
    out = tmp_path / "sweep"
    args = ["run", "-m", SEEDS, *TINY, "steps=30", "figures=false", f"out={out}"]
    proc = _start(*args, "hydra.launcher.n_jobs=2", cwd=tmp_path)
    _wait_for_a_run(proc, out)
    kids = _children(proc.pid)
    assert kids, "no worker processes seen"
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-3000:]
    assert _one_error_line(err).startswith("carenet: error: terminated")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    left = [k for k in kids if _alive(k)]
    for k in left:  # do not leave them running if the test fails
        os.kill(k, signal.SIGKILL)
    assert not left, f"orphaned: {left}"


def test_d10_a_large_sweep_says_it_is_planning_first(tmp_path):
    out = tmp_path / "big"
    proc = _start("run", "-m", *QUICK, "seed=range(1,100001)", f"out={out}", cwd=tmp_path)
    try:
        assert proc.stdout is not None
        t0 = time.monotonic()
        first = proc.stdout.readline()
        assert time.monotonic() - t0 < 30
        assert "planning 100,000 combinations" in first, first
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)


def test_e7_ctrl_c_with_default_out_leaves_no_empty_folder(tmp_path):
    args = ["run", "population=small", "organisations=small", "population.size=20000"]
    proc = _start(*args, "steps=5200", "progress=false", "figures=false", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((tmp_path / "outputs").glob("*/*")):
        time.sleep(0.05)
    time.sleep(1)
    if proc.poll() is not None:
        pytest.skip("the run ended before it could be interrupted")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert _one_error_line(err) == "carenet: error: interrupted"
    assert not (tmp_path / "outputs").exists(), list((tmp_path / "outputs").rglob("*"))
