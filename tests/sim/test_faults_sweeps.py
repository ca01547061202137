"""Sweep plans that cannot run, and sweep folders damaged after the fact (issue #10)."""

from __future__ import annotations

import json
import shutil

import pytest

from carenet.sim import sweep
from tests.cli import carenet

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=4",
    "warmup_weeks=0",
    "progress=false",
]


def _one_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("seed=range(5,1)", "gives no values"),
        ("seed=range(1,3,0)", "cannot be swept"),
        ("steps=glob(*)", "glob(...) cannot be swept"),
        ("structure=glob(*)", "glob(...) cannot be swept"),
    ],
    ids=["empty_range", "zero_step", "glob_value", "glob_group"],
)
def test_a_sweep_that_gives_no_values_is_one_line_and_writes_nothing(override, needle, tmp_path):
    out = tmp_path / "s"
    r = carenet("run", "-m", *TINY, override, f"out={out}", cwd=tmp_path)
    assert r.returncode == 2
    assert needle in _one_line(r)
    assert not out.exists()


def test_a_launcher_whose_extra_is_missing_stops_in_the_plan(monkeypatch):
    monkeypatch.setitem(
        sweep.LAUNCHER_PACKAGES, "slurm", ("no_such_plugin_xyz", "pip install 'carenet[slurm]'")
    )
    with pytest.raises(sweep.SweepError, match=r"'slurm' is not installed here; pip install"):
        sweep.check_launcher_installed("slurm")
    sweep.check_launcher_installed("local")  # built in: nothing to check


@pytest.mark.parametrize("lost", ["manifest.json", "summary.json", "timeseries.parquet"])
def test_a_run_damaged_after_the_sweep_is_named_by_collect_and_rerun_on_resume(lost, tmp_path):
    out = tmp_path / "s"
    args = ["run", "-m", *TINY, "structure=hierarchy,network", f"out={out}"]
    assert carenet(*args, cwd=tmp_path).returncode == 0
    rid = sorted(p.name for p in (out / "runs").iterdir())[0]
    original = json.loads((out / "runs" / rid / "summary.json").read_text())["metrics"]
    (out / "runs" / rid / lost).unlink()
    r = carenet("collect", str(out), cwd=tmp_path)
    assert r.returncode == 2 and rid in _one_line(r)
    r = carenet(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"run {rid} was incomplete" in r.stderr and "1 already there" in r.stdout
    again = json.loads((out / "runs" / rid / "summary.json").read_text())["metrics"]
    assert again == original  # the same run, run again
    kept = list((out / "damaged").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith(rid)
    assert carenet("collect", str(out), cwd=tmp_path).returncode == 0
    shutil.rmtree(out)
