"""The ``carenet`` command's own behaviour: version, help, usage errors."""

from __future__ import annotations

from carenet import __version__
from tests.cli import carenet


def test_version():
    r = carenet("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"carenet {__version__}"


def test_no_command_prints_help_and_exits_2(tmp_path):
    r = carenet(cwd=tmp_path)
    assert r.returncode == 2
    assert "run" in r.stdout and "usage" in r.stdout.lower()
    assert list(tmp_path.iterdir()) == []


def test_run_help_lists_overrides_and_exits_0(tmp_path):
    r = carenet("run", "--help", cwd=tmp_path)
    assert r.returncode == 0
    assert "KEY=VALUE" in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_unknown_command_is_a_usage_error(tmp_path):
    r = carenet("fly", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
