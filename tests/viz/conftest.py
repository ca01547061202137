"""Shared pieces of the view tests: small finished results, and a served view."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import carenet

SMALL = ["population=small", "organisations=small", "warmup_weeks=0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("view") / "run"
    r = carenet("run", *SMALL, "steps=12", f"out={out}", "figures=false", "progress=false")
    assert r.returncode == 0, r.stderr
    return out


class Served:
    """A ``carenet view`` server in its own process group."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = cwd / "view.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "carenet", "view", *args, "--port", str(self.port)],
            cwd=cwd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"carenet view exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)  # polling for the server, not assuming its speed
        self.stop()
        raise AssertionError(f"carenet view did not answer within 120 s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self._out.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[callable]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        s = Served(*args, cwd=tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
