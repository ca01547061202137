"""Fixtures of the experiment tests: tiny economies, run in this process."""

from __future__ import annotations

TINY = [
    "population=small",
    "organisations=small",
    "population.size=3000",
    "steps=6",
    "warmup_weeks=0",
]
"""A tiny economy (a fraction of a second a run)."""

BASIC = ["hydra/launcher=basic"]
"""Hydra's basic launcher: runs one at a time in this process (no worker start-up)."""
