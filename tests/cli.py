"""Run the ``carenet`` command in a subprocess, as a user would (shared by the tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def carenet(
    *args: str, cwd: Path | str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m carenet ARGS`` in ``cwd``, capturing text output."""
    return subprocess.run(
        [sys.executable, "-m", "carenet", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
