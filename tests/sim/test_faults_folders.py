"""Reliability of output folders, sweeps and locks under real faults (issue #10).

Every case runs the real ``carenet`` command in a subprocess. Faults are made for real: a
read-only bind mount, a tiny tmpfs for a full disk, a mount point as ``out``, SIGINT to
a sweep's process group (what Ctrl-C in a terminal sends). The tests run as root, where
``chmod`` does not stop writing, so read-only folders are bind mounts; a test that needs
``mount`` skips (with the reason) where mounting is not permitted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
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


def _hidden(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".partial-" in n or ".old-" in n or ".tmp-" in n)


def _with_umask(mask: int, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    old = os.umask(mask)
    try:
        return carenet(*args, cwd=cwd)
    finally:
        os.umask(old)


# --- folders a colleague needs ---------------------------------------------------------


def test_new_result_and_sweep_folders_get_the_permissions_of_the_umask(tmp_path):
    r = _with_umask(0o002, "run", *QUICK, f"out={tmp_path / 'one'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert stat.S_IMODE((tmp_path / "one").stat().st_mode) == 0o775
    assert stat.S_IMODE((tmp_path / "one" / "manifest.json").stat().st_mode) == 0o664
    sweep = tmp_path / "sweep"
    r = _with_umask(0o002, "run", "-m", "seed=1,2", *QUICK, f"out={sweep}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    for folder in [sweep, sweep / "runs", *(sweep / "runs").iterdir()]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o775, folder
    assert stat.S_IMODE((sweep / "sweep.json").stat().st_mode) == 0o664


def test_an_existing_empty_folder_keeps_its_group_setgid_bit_and_mode(tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    gid = 1 if os.geteuid() == 0 else os.getgid()
    os.chown(out, -1, gid)
    os.chmod(out, 0o2770)
    r = carenet("run", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    st = out.stat()
    assert stat.S_IMODE(st.st_mode) == 0o2770 and st.st_gid == gid
    assert (out / "summary.json").stat().st_gid == gid
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert _hidden(out) == [] and _hidden(tmp_path) == []


def test_an_empty_mount_point_works_as_out(tmp_path, mounts):
    out = mounts.tmpfs(tmp_path / "mnt", "32m")
    r = carenet("run", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert _hidden(out) == []


def test_what_killed_runs_left_is_removed_next_time_and_nothing_else(tmp_path):
    host = "".join(c if c.isalnum() or c == "_" else "_" for c in socket.gethostname())
    dead = 4_000_000  # above pid_max: no such process
    left = [f".res.partial-{host}-{dead}-0badcafe", ".res.partial-x1y2z3", ".res.old-123"]
    for name in left:
        (tmp_path / name).mkdir()
        (tmp_path / name / "timeseries.parquet").write_text("half")
    keep = [f".res.partial-{host}-{os.getpid()}-0c0ffee0", ".res.notes", ".other.partial-x"]
    for name in keep:
        (tmp_path / name).mkdir()
    r = carenet("run", *QUICK, f"out={tmp_path / 'res'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == sorted(["res", *keep])


def test_a_replacement_killed_half_way_is_rolled_back(tmp_path):
    out = tmp_path / "res"
    r = carenet("run", *QUICK, "seed=7", f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    before = {n: (out / n).read_bytes() for n in os.listdir(out) if not n.startswith(".")}
    # What overwrite=true leaves if killed after moving the old result aside, manifest first.
    host = "".join(c if c.isalnum() or c == "_" else "_" for c in socket.gethostname())
    old = out / f".carenet.old-{host}-4000000-deadbeef"
    old.mkdir()
    for name in ("manifest.json", "summary.json"):
        os.rename(out / name, old / name)
    (out / "summary.json").write_text("{half of a new one")
    r = carenet("run", *QUICK, "seed=7", f"out={out}", cwd=tmp_path)
    assert r.returncode == 2 and "already holds a finished result" in _one_error_line(r.stderr)
    after = {n: (out / n).read_bytes() for n in os.listdir(out) if not n.startswith(".")}
    assert after == before
    assert _hidden(out) == []


def test_overwrite_that_fills_the_disk_keeps_the_old_result(tmp_path, mounts):
    disk = mounts.tmpfs(tmp_path / "disk", "220k")
    out = disk / "res"
    r = carenet("run", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    before = {n: (out / n).read_bytes() for n in os.listdir(out) if not n.startswith(".")}
    # The old result is about 75 kB; the new one has a figure (about 115 kB more): both
    # do not fit.
    r = carenet("run", *TINY, "progress=false", f"out={out}", "overwrite=true", cwd=tmp_path)
    assert r.returncode == 1
    assert "disk full" in _one_error_line(r.stderr)
    after = {n: (out / n).read_bytes() for n in os.listdir(out) if not n.startswith(".")}
    assert after == before
    assert _hidden(out) == [] and _hidden(disk) == []


# --- full disk, read-only folders ------------------------------------------------------


def test_a_full_disk_during_a_run_says_so_and_leaves_nothing(tmp_path, mounts):
    disk = mounts.tmpfs(tmp_path / "disk", "64k")
    r = carenet("run", *QUICK, f"out={disk / 'res'}", cwd=tmp_path)
    assert r.returncode == 1
    line = _one_error_line(r.stderr)
    assert "disk full" in line and "\n" not in r.stderr.strip()
    assert os.listdir(disk) == []


def test_a_full_disk_during_a_sweep_says_so_and_leaves_no_partial_folder(tmp_path, mounts):
    disk = mounts.tmpfs(tmp_path / "disk", "64k")
    r = carenet("run", "-m", "seed=1,2,3", *QUICK, f"out={disk}", cwd=tmp_path)
    assert r.returncode == 1
    assert "disk full" in _one_error_line(r.stderr)
    runs = disk / "runs"
    assert not runs.is_dir() or _hidden(runs) == []
    assert _hidden(disk) == []
    for d in runs.iterdir() if runs.is_dir() else []:  # whatever is there is complete
        assert json.loads((d / "manifest.json").read_text())["status"] == "complete"


def test_a_sweep_into_a_read_only_folder_stops_with_one_line(tmp_path, mounts):
    out = mounts.read_only(tmp_path / "ro")
    r = carenet("run", "-m", "seed=1,2", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert line.startswith("carenet: error: out:") and "read-only" in line
    assert os.listdir(out) == []


def test_a_sweep_from_a_read_only_working_folder_stops_with_one_line(tmp_path, mounts):
    cwd = mounts.read_only(tmp_path / "ro")
    r = carenet("run", "-m", "seed=1,2", *QUICK, cwd=cwd)
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert line.startswith("carenet: error: out:") and "Read-only" in line
    assert os.listdir(cwd) == []


def test_a_run_into_a_read_only_folder_stops_with_one_line(tmp_path, mounts):
    out = mounts.read_only(tmp_path / "ro")
    r = carenet("run", *QUICK, f"out={out / 'res'}", cwd=tmp_path)
    assert r.returncode == 2
    assert "read-only" in _one_error_line(r.stderr)


# --- sweep.json, locks, concurrency ----------------------------------------------------


def test_a_corrupt_sweep_json_is_refused_and_named(tmp_path):
    out = tmp_path / "sweep"
    r = carenet("run", "-m", "seed=1,2", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    text = (out / "sweep.json").read_bytes()
    (out / "sweep.json").write_bytes(text[: len(text) // 2])
    r = carenet("run", "-m", "seed=1,2", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert "sweep.json" in line and "truncated or corrupt" in line
    assert (out / "sweep.json").read_bytes() == text[: len(text) // 2]


def test_a_second_sweep_into_a_busy_folder_stops_naming_the_holder(tmp_path):
    from carenet.sim.runner import hold_folder

    out = tmp_path / "sweep"
    out.mkdir()
    with hold_folder(out, "sweep"):
        r = carenet("run", "-m", "seed=1,2", *QUICK, f"out={out}", cwd=tmp_path)
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert "in use by another carenet sweep" in line and f"pid {os.getpid()}" in line
    assert not (out / "sweep.json").exists() and not (out / "runs").exists()


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


def test_two_identical_sweeps_at_once_lose_nothing(tmp_path):
    out = tmp_path / "sweep"
    args = ["run", "-m", "seed=1,2,3", *QUICK, f"out={out}", "hydra.launcher.n_jobs=1"]
    procs = [_start(*args, cwd=tmp_path) for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for rc, _, err in results:
        if rc == 2:
            assert "in use by another carenet sweep" in _one_error_line(err)
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "complete"
    assert len(sweep["invocations"]) == codes.count(0)
    assert sorted(os.listdir(out / "runs")) == sorted(r["run_id"] for r in sweep["runs"])


def test_two_runs_into_one_folder_at_once_never_mix(tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    procs = [_start("run", *QUICK, f"seed={s}", f"out={out}", cwd=tmp_path) for s in (1, 2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert sorted(rc for rc, _, _ in results) in ([0, 2], [0, 0]), results
    for rc, _, err in results:
        if rc == 2:
            _one_error_line(err)
    manifest = json.loads((out / "manifest.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == summary["seed"]
    assert _hidden(out) == [] and _hidden(tmp_path) == []


# --- Ctrl-C ----------------------------------------------------------------------------


def test_ctrl_c_on_a_sweep_says_interrupted_and_the_sweep_resumes(tmp_path):
    out = tmp_path / "sweep"
    seeds = "seed=" + ",".join(str(i) for i in range(1, 9))
    args = ["run", "-m", seeds, *TINY, "steps=30", "figures=false", f"out={out}"]
    proc = _start(*args, "hydra.launcher.n_jobs=2", cwd=tmp_path)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        runs = out / "runs"
        if runs.is_dir() and any(not n.startswith(".") for n in os.listdir(runs)):
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the sweep ended before it could be interrupted")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert "leaked semaphore" not in err and "resource_tracker" not in err, err[-3000:]
    assert _one_error_line(err) == "carenet: error: interrupted"
    r = carenet(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["status"] == "complete" and len(sweep["invocations"]) == 2
    planned = sorted(r["run_id"] for r in sweep["runs"])
    assert sorted(os.listdir(out / "runs")) == planned and len(planned) == 8
