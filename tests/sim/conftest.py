"""Fixtures shared by the sweep, collect and report tests: one tiny sweep, one failing rule."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=6",
    "warmup_weeks=0",
]
"""The smallest configuration that still exercises every process (about 0.2 s a run)."""

FAILING_RULE = '''
"""A power rule that raises, to inject a failing run into a sweep (see README)."""
from carenet.models.power import PowerRule


class Failing(PowerRule):
    def data_sharing(self, org, view):
        if self.params.get("fail", True):
            raise RuntimeError("injected failure from failing_rule.py")
        return super().data_sharing(org, view)
'''


@pytest.fixture(scope="session")
def failing_rule(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "failing_rule.py"
    path.write_text(FAILING_RULE)
    return path


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2 x 2 sweep with 2 replications (8 runs), basic launcher, in-process."""
    from carenet.sim.sweep import plan_sweep, run_sweep

    out = tmp_path_factory.mktemp("sweeps") / "small"
    overrides = [
        "structure=hierarchy,network",
        "power_rule=domination,empowerment",
        "replications=2",
        *TINY,
        f"out={out}",
        "hydra/launcher=basic",
        "progress=false",
    ]
    result = run_sweep(plan_sweep(overrides))
    assert result["status"] == "complete", result["counts"]
    return out
