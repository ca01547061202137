"""What the fault tests share: real mounts made and undone, and the one-line check."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def terminal_sigint() -> None:
    """``preexec_fn`` for a process a test will Ctrl-C: SIGINT as in a terminal.

    A child inherits an ignored SIGINT, and a shell without job control starts its
    background jobs with SIGINT ignored (POSIX), so a suite run as ``bash .ci/run &``
    would start every carenet it tests deaf to Ctrl-C (Python installs its handler only
    where SIGINT is not ignored). The tests of Ctrl-C mean a terminal user's process.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def one_error_line(stderr: str) -> str:
    """The single ``carenet: error:`` line of stderr (and no traceback)."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [ln for ln in stderr.splitlines() if ln.startswith("carenet: error:")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


class Mounts:
    """Mounts made by a test, undone in teardown (skips when mounting is not permitted)."""

    def __init__(self) -> None:
        self.done: list[Path] = []

    def _mount(self, *args: str) -> None:
        r = subprocess.run(["mount", *args], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount here ({r.stderr.strip()}); needs root allowed to mount")

    def tmpfs(self, path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        self._mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
        self.done.append(path)
        return path

    def read_only(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        self._mount("--bind", str(path), str(path))
        self.done.append(path)
        self._mount("-o", "remount,bind,ro", str(path))
        return path

    def undo(self) -> None:
        for path in reversed(self.done):
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    """Mounts made by a test, undone when it ends."""
    m = Mounts()
    yield m
    m.undo()
