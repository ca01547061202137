"""``carenet bench`` under bad input and faults: one line, nothing lost (issue #10).

Every case runs the real ``carenet`` command in a subprocess. Bad input (an option out of
range, a ``--json`` file that cannot be written) is refused before any worker starts: one
line on stderr, exit 2, nothing written. A failure (a worker that fails, a full disk) is
one ``carenet: error:`` line after the progress lines, exit 1, and an earlier result in the
``--json`` file is kept whole. Read-only folders and a full disk are made for real (a
read-only bind mount, a 100 KiB tmpfs); those tests skip, saying why, where mounting is not
permitted. Benchmark runs are the smallest there are: one economy, no floor, 2 steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli import carenet

TINY = ["--quick", "--no-floor", "--sizes", "2000", "--steps", "2", "--scaling-steps", "2"]
"""The smallest benchmark: one economy of 2,000 patients, 2 weeks, no floor."""

PREVIOUS = {"economies": [{"name": "2000", "wall": 1.0}], "meta": {"seed": 1}, "note": "old"}
"""An earlier benchmark result, as far as ``--json`` is concerned (it has its keys)."""


def _one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The whole of stderr: one ``carenet: error:`` line, no traceback, nothing on stdout."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr
    assert "Traceback" not in err and err.count("\n") == 1, err[-3000:]
    assert err.startswith("carenet: error: "), err
    assert proc.stdout == ""
    return err.strip()


def _error_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``carenet: error:`` line of a run that started (progress lines allowed)."""
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("carenet: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def _snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (hidden ones included): a hash of a file, or its kind."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = f"-> {os.readlink(p)}"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "folder" if p.is_dir() else "special"
    return out


def _strict_json(path: Path) -> dict:
    """``path`` parsed as standard JSON (bare NaN or Infinity is an error)."""

    def refuse(name: str) -> None:
        raise ValueError(f"{path} holds {name}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            while True:
                try:
                    if os.write(fd, b"\0" * chunk) < chunk:
                        break
                except OSError:
                    break
    finally:
        os.close(fd)


# --- bad options: refused before any worker starts ---------------------------------------

BAD_OPTIONS = [
    ("negative_seed", ["--seed", "-1"], "--seed: -1 is not allowed; must be at least 0"),
    ("huge_seed", ["--seed", str(2**63)], "--seed: 9223372036854775808 is not allowed"),
    ("text_seed", ["--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    ("huge_size", ["--sizes", "99999999999"], "--sizes: '99999999999' is not allowed"),
    ("zero_size", ["--sizes", "0"], "from 1 to 20000000"),
    ("negative_size", ["--sizes", "2000,-5"], "--sizes: '-5' is not allowed"),
    ("fractional_size", ["--sizes", "1.5"], "--sizes: '1.5' is not allowed"),
    ("unknown_size", ["--sizes", "tiny"], "expected one of small, default, large"),
    (
        "empty_sizes",
        ["--sizes", ""],
        "--sizes: '' gives no sizes; expected comma-separated integers such as 50000,500000",
    ),
    ("only_commas_sizes", ["--sizes", ",,"], "--sizes: ',,' gives no sizes"),
    ("zero_steps", ["--steps", "0"], "--steps: 0 is not allowed; must be at least 1"),
    ("negative_steps", ["--steps", "-3"], "--steps: -3 is not allowed; must be at least 1"),
    ("too_many_steps", ["--steps", "5201"], "--steps: 5201 is not allowed; must be at least 1"),
    ("text_steps", ["--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
    (
        "zero_floor_steps",
        ["--floor-steps", "0"],
        "--floor-steps: 0 is not allowed; must be at least 1",
    ),
    ("negative_floor_steps", ["--floor-steps", "-3"], "--floor-steps: -3 is not allowed"),
    ("empty_scaling_steps", ["--scaling-steps", ""], "--scaling-steps: '' gives no step counts"),
    ("zero_scaling_steps", ["--scaling-steps", "0,4"], "--scaling-steps: 0 is not allowed"),
    ("too_many_scaling_steps", ["--scaling-steps", "9999"], "--scaling-steps: 9999 is not allowed"),
    ("text_scaling_steps", ["--scaling-steps", "4,x"], "is not a comma-separated list of integers"),
    ("empty_scaling_size", ["--scaling-size", ""], "--scaling-size: '' gives no economy"),
    (
        "huge_scaling_size",
        ["--scaling-size", "99999999999"],
        "--scaling-size: '99999999999' is not",
    ),
    ("zero_repeat", ["--repeat", "0"], "--repeat: 0 is not allowed; must be at least 1"),
    ("zero_blas_threads", ["--blas-threads", "0"], "--blas-threads: 0 is not allowed"),
]


@pytest.mark.parametrize(("args", "needle"), [pytest.param(a, n, id=i) for i, a, n in BAD_OPTIONS])
def test_a_bad_bench_option_gets_one_line_before_anything_runs(args, needle, tmp_path):
    """Each value the model would refuse is refused here, with the option's name, exit 2."""
    proc = carenet("bench", *TINY, *args, "--json", "b.json", cwd=tmp_path)
    err = _one_line(proc, 2)
    assert needle in err
    assert "worker" not in err
    assert list(tmp_path.iterdir()) == []  # no --json file, no temporary file


# --- the --json file: checked before anything runs -----------------------------------------


def _setup_json_case(case: str, tmp: Path) -> str:
    """Make what ``case`` needs under ``tmp``; return the ``--json`` value to give."""
    if case == "parent_is_a_file":
        (tmp / "notes").write_text("mine\n")
        return "notes/b.json"
    if case == "not_a_result":
        (tmp / "results.json").write_text('{"mine": [1, 2, 3]}\n')
        return "results.json"
    if case == "not_json":
        (tmp / "README.md").write_text("# my notes\n")
        return "README.md"
    if case == "fifo":
        os.mkfifo(tmp / "pipe")
        return "pipe"
    if case == "link_to_a_folder":
        (tmp / "sub").mkdir()
        (tmp / "link").symlink_to("sub")
        return "link"
    (tmp / "sub").mkdir()
    return {
        "empty": "",
        "dot": ".",
        "a_folder": "sub",
        "trailing_slash": "sub/",
        "missing_parent": "nosuch/b.json",
    }[case]


BAD_JSON = [
    ("empty", "--json: '' is not a file name"),
    ("dot", "--json: '.' names a folder"),
    ("a_folder", "--json: 'sub' is a folder; expected a file name such as 'sub/bench.json'"),
    ("trailing_slash", "--json: 'sub/' names a folder"),
    ("link_to_a_folder", "--json: 'link' is a folder"),
    ("missing_parent", "--json: 'nosuch/b.json': the folder"),
    ("parent_is_a_file", "is not a folder; expected a file in an existing folder"),
    ("not_a_result", "--json: 'results.json' already exists and is not a carenet bench result"),
    ("not_json", "--json: 'README.md' already exists and is not a carenet bench result"),
    ("fifo", "--json: 'pipe' is not a regular file"),
]


@pytest.mark.parametrize(("case", "needle"), [pytest.param(c, n, id=c) for c, n in BAD_JSON])
def test_a_bad_json_file_gets_one_line_before_anything_runs(case, needle, tmp_path):
    """A --json file that cannot be written, or would lose a file, is refused up front."""
    raw = _setup_json_case(case, tmp_path)
    before = _snapshot(tmp_path)
    err = _one_line(carenet("bench", *TINY, "--json", raw, cwd=tmp_path), 2)
    assert needle in err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("existing", [False, True], ids=["new_file", "previous_result"])
def test_a_json_file_in_a_read_only_folder_gets_one_line_before_anything_runs(
    existing, tmp_path, mounts
):
    folder = tmp_path / "ro"
    folder.mkdir()
    if existing:
        (folder / "b.json").write_text(json.dumps(PREVIOUS))
    mounts.read_only(folder)
    before = _snapshot(folder)
    err = _one_line(carenet("bench", *TINY, "--json", str(folder / "b.json")), 2)
    assert err.startswith(f"carenet: error: --json: {str(folder / 'b.json')!r}")
    assert "read-only" in err
    assert _snapshot(folder) == before


# --- writing the --json file ---------------------------------------------------------------


@pytest.fixture(scope="module")
def first_result(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benchmark result written as a new file under umask 022."""
    out = tmp_path_factory.mktemp("bench") / "b.json"
    old = os.umask(0o022)
    try:
        proc = carenet("bench", *TINY, "--json", str(out))
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_json_file_is_standard_json_with_null_for_what_was_not_measured(first_result):
    """One economy gives no population exponent and --no-floor no floor: null, not NaN."""
    data = _strict_json(first_result)
    assert data["exp_pop"] is None
    eco = data["economies"][0]
    assert eco["floor"] is None and eco["floor_wall"] is None and eco["floor_ratio"] is None
    assert eco["wall"] > 0
    assert stat.S_IMODE(first_result.stat().st_mode) == 0o644
    assert [p.name for p in first_result.parent.iterdir()] == ["b.json"]


def test_a_previous_result_is_replaced_through_its_link_keeping_its_mode(first_result, tmp_path):
    """--json naming a link writes where it points; the replaced file keeps its mode."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "b.json").write_text(json.dumps(PREVIOUS))
    os.chmod(real / "b.json", 0o640)
    (tmp_path / "b.json").symlink_to("real/b.json")
    proc = carenet("bench", *TINY, "--json", "b.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "b.json").is_symlink()
    data = _strict_json(real / "b.json")
    assert "note" not in data and data["economies"][0]["name"] == "2000"
    assert stat.S_IMODE((real / "b.json").stat().st_mode) == 0o640
    assert sorted(p.name for p in real.iterdir()) == ["b.json"]


def test_a_full_disk_keeps_the_previous_result_whole(first_result, tmp_path, mounts):
    """The JSON goes to a temporary file and a rename: on a full disk the old file stays."""
    fs = mounts.tmpfs(tmp_path / "full", "100k")
    (fs / "b.json").write_bytes(first_result.read_bytes())
    _fill(fs)
    before = _snapshot(fs)
    proc = carenet("bench", *TINY, "--json", "full/b.json", cwd=tmp_path)
    err = _error_line(proc, 1)
    assert err == (
        "carenet: error: --json: could not write 'full/b.json' (no space left on device); "
        "'full/b.json' is unchanged"
    )
    assert _snapshot(fs) == before  # the old result, byte for byte; no temporary file
    _strict_json(fs / "b.json")


# --- a worker that fails ---------------------------------------------------------------------

SITECUSTOMIZE = """
import os, signal, sys

if "--worker" in sys.argv:
    how = os.environ.get("BENCH_FAULT")
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "raises":  # a job the model refuses: a real exception deep in the worker
        i = sys.argv.index("--worker") + 1
        job = __import__("json").loads(sys.argv[i])
        job["overrides"] = ["population.size=-5"]
        sys.argv[i] = __import__("json").dumps(job)
"""


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        ("raises", "ConfigError: population.size: -5 is not allowed"),
        ("killed", "killed by SIGKILL (out of memory?)"),
    ],
)
def test_a_failing_worker_gets_one_line_and_writes_nothing(how, needle, tmp_path):
    """A measurement that fails is one line naming the worker and why, exit 1."""
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if k != "CARENET_DEBUG"}
    env.update(PYTHONPATH=str(tmp_path / "inject"), BENCH_FAULT=how)
    proc = subprocess.run(
        [*_python(), "bench", *TINY, "--json", "b.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = _error_line(proc, 1)
    assert "bench: the model worker failed: " in err and needle in err
    assert "nothing was written" in err
    assert not (tmp_path / "b.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inject"]
    # CARENET_DEBUG=1 shows the worker's own error output as well.
    env["CARENET_DEBUG"] = "1"
    if how == "raises":
        dbg = subprocess.run(
            [*_python(), "bench", *TINY], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert dbg.returncode == 1 and "Traceback" in dbg.stderr


def _python() -> list[str]:
    import sys

    return [sys.executable, "-m", "carenet"]
