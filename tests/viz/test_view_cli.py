"""Bad input to ``carenet view``: one line on stderr, exit 2, no traceback, no server."""

from __future__ import annotations

import socket

from tests.cli import carenet


def _one_line(r, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("carenet: error: ")
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    assert "carenet view: http" not in r.stdout


def test_bad_override_is_refused_before_serving(tmp_path):
    r = carenet("view", "population.size=0", cwd=tmp_path, timeout=120)
    _one_line(r, "population.size: 0 is not allowed", "1 to 20000000")


def test_unknown_option_is_refused(tmp_path):
    r = carenet("view", "structure=star", cwd=tmp_path, timeout=120)
    _one_line(r, "structure: 'star' is not a known option", "hierarchy")


def test_port_in_use_is_refused(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = carenet("view", "population=small", "--port", str(port), cwd=tmp_path, timeout=120)
    _one_line(r, f"--port: {port}", "choose another with --port")


def test_missing_folder_is_refused(tmp_path):
    r = carenet("view", str(tmp_path / "nope"), cwd=tmp_path, timeout=120)
    _one_line(r, "does not exist")


def test_folder_without_results_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("mine")
    r = carenet("view", str(tmp_path / "empty"), cwd=tmp_path, timeout=120)
    _one_line(r, "holds no finished carenet run or sweep")
    assert (tmp_path / "empty" / "notes.txt").read_text() == "mine"
