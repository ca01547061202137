"""The figure drawn by the command's forked child (sim/figure_ahead.py, #17).

Each test runs the console command's code in a fresh Python (``main()`` without arguments,
as the ``carenet`` script calls it), since only that process forks the child.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from carenet.cli import _no_figure
from carenet.sim import figure_ahead

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2,
    reason="the figure child is forked only on Linux with two CPUs or more",
)

RUN = ["seed=1", "steps=6", "warmup_weeks=2", "progress=false"]
RUN += ["population=small", "organisations=small", "population.size=3000"]

# Runs `carenet run ARGS` as the console script does and prints, last, whether this
# (the parent) process imported matplotlib. PATCH is code run first (in the parent, so
# the child forked from it has it too).
SCRIPT = """
import os, sys
PARENT = os.getpid()
{patch}
from carenet.cli import main
sys.argv = ["carenet", "run", *{args!r}]
code = main()
print("MATPLOTLIB_IN_PARENT", "matplotlib" in sys.modules)
sys.exit(code)
"""

FAIL_IN_CHILD = """
import carenet.models.spec as spec
_draw = spec.overview_figure
def overview_figure(*args):
    if os.getpid() != PARENT:
        raise RuntimeError("the child cannot draw")
    return _draw(*args)
spec.overview_figure = overview_figure
"""

FAIL_ALWAYS = """
import carenet.models.spec as spec
def overview_figure(*args):
    raise RuntimeError("no figure today")
spec.overview_figure = overview_figure
"""


def _run(
    tmp_path: Path, out: str, *extra: str, patch: str = "", env: dict | None = None
) -> subprocess.CompletedProcess:
    code = SCRIPT.format(patch=textwrap.dedent(patch), args=[*RUN, f"out={out}", *extra])
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"  # the manifest has the times
    }


def test_the_child_draws_the_same_figure_and_the_parent_loads_no_matplotlib(tmp_path):
    ahead = _run(tmp_path, "ahead")
    inline = _run(tmp_path, "inline", env={figure_ahead.ENV: "0"})
    assert ahead.returncode == inline.returncode == 0, ahead.stderr + inline.stderr
    assert "MATPLOTLIB_IN_PARENT False" in ahead.stdout  # the child drew it
    assert "MATPLOTLIB_IN_PARENT True" in inline.stdout  # drawn in the run's process
    a, b = _files(tmp_path / "ahead"), _files(tmp_path / "inline")
    assert "figures/overview.png" in a and a["figures/overview.png"][:4] == b"\x89PNG"
    assert a == b  # every file, the PNG included, byte for byte
    manifest = json.loads((tmp_path / "ahead" / "manifest.json").read_text())
    assert "figures/overview.png" in manifest["files"]


def test_a_child_that_fails_leaves_the_figure_to_the_parent(tmp_path):
    failed = _run(tmp_path, "failed", patch=FAIL_IN_CHILD)
    inline = _run(tmp_path, "inline", env={figure_ahead.ENV: "0"})
    assert failed.returncode == inline.returncode == 0, failed.stderr + inline.stderr
    assert "Traceback" not in failed.stderr  # the child's failure is not reported
    assert "MATPLOTLIB_IN_PARENT True" in failed.stdout  # the parent drew it after all
    assert _files(tmp_path / "failed") == _files(tmp_path / "inline")


def test_a_figure_that_cannot_be_drawn_fails_the_run_and_writes_nothing(tmp_path):
    res = _run(tmp_path, "none", patch=FAIL_ALWAYS)
    assert res.returncode == 1
    assert "the run failed: RuntimeError: no figure today" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert not (tmp_path / "none").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no hidden folder


def test_no_child_when_figures_are_off_and_none_outlives_a_failed_start(tmp_path):
    off = _run(tmp_path, "off", "figures=false")
    assert off.returncode == 0, off.stderr
    assert not (tmp_path / "off" / "figures").exists()
    bad = _run(tmp_path, "bad", "steps=0")  # bad input: exit 2 before anything runs
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_a_replicated_run_releases_the_child_and_draws_no_figure_of_one_run(tmp_path):
    res = _run(tmp_path, "reps", "replications=2")
    assert res.returncode == 0, res.stderr
    assert "MATPLOTLIB_IN_PARENT False" in res.stdout  # sweeps default to no figures


@pytest.mark.parametrize(
    ("overrides", "off"),
    [
        ([], False),
        (["figures=false"], True),
        (["figures=False"], True),
        (["figures=0"], True),
        (["figures=false", "figures=true"], False),  # the last one counts
        (["seed=3", "figures=true"], False),
        (["out=figures=false"], False),  # another key's value
    ],
)
def test_no_figure_reads_the_last_figures_override(overrides, off):
    assert _no_figure(overrides) is off


def test_the_child_is_not_forked_when_turned_off(monkeypatch):
    monkeypatch.setenv(figure_ahead.ENV, "0")
    with figure_ahead.figure_ahead() as ahead:
        assert ahead is None and figure_ahead.active() is None


def _touch(path: str, answer: bool = True) -> bool:
    Path(path).write_text("drawn")
    return answer


def _messages(*messages: tuple[bytes, bytes]) -> int:
    read, write = os.pipe()
    for kind, body in messages:
        figure_ahead._send(write, kind, body)
    os.close(write)
    return read


def test_the_child_imports_the_module_named_then_draws_the_job(tmp_path):
    out = tmp_path / "figure.png"
    job = pickle.dumps((_touch, (str(out),)))
    read = _messages((figure_ahead.IMPORT, b"json"), (figure_ahead.JOB, job))
    assert figure_ahead._child(read) == 0 and out.read_text() == "drawn"
    # A figure function that answers False (the model has none) exits with 3.
    job = pickle.dumps((_touch, (str(out), False)))
    assert figure_ahead._child(_messages((figure_ahead.JOB, job))) == 3
    # No job before the pipe closes: nothing drawn, exit 0.
    assert figure_ahead._child(_messages((figure_ahead.IMPORT, b"json"))) == 0
    with pytest.raises(ModuleNotFoundError):  # the child then exits 1; the parent draws
        figure_ahead._child(_messages((figure_ahead.IMPORT, b"no_such_module_here")))


def test_the_child_draws_with_the_garbage_collector_off():
    """Its collections cost a short run's critical path; the parent keeps its own on."""
    code = textwrap.dedent(
        """
        import gc
        from carenet.sim import figure_ahead

        def probe():
            return not gc.isenabled()  # False (enabled): the child exits 3

        ahead = figure_ahead.FigureAhead.start()
        print("STARTED", ahead is not None)
        print("GC_OFF_IN_CHILD", ahead.draw(probe)())
        print("GC_ON_IN_PARENT", gc.isenabled())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["STARTED", "True", "GC_OFF_IN_CHILD", "True", "GC_ON_IN_PARENT", "True"]
