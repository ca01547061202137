"""A user rule that breaks is a failed run (exit 1), never bad input; loading stays exit 2.

Each case runs the real ``carenet`` command in a subprocess and checks the exit code, that
stderr is one line naming the rule, the method and the value or exception (no traceback
unless ``CARENET_DEBUG=1``), and that no result was written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import carenet

SMALL = [
    "population=small",
    "organisations=small",
    "progress=false",
    "figures=false",
    "warmup_weeks=0",
]

BROKEN_RULES = """
import numpy as np
from carenet.models.power import PowerRule


class RaisesMidRun(PowerRule):
    def referral_weights(self, org, view):
        if view.queue_ratio.sum() > 0:
            raise ValueError("sharing too low\\nsecond line")
        return view.capacity * view.local_weight[org]


class SaysLots(PowerRule):
    def data_sharing(self, org, view):
        return "lots"


class SharesNaN(PowerRule):
    def data_sharing(self, org, view):
        return float("nan")


class SharesTooMuch(PowerRule):
    def data_sharing(self, org, view):
        return 1.5


class BidsNaN(PowerRule):
    def budget_bid(self, org, view):
        return float("nan")


class PoolsMaybe(PowerRule):
    def pools_budget(self, org, view):
        return "maybe"


class NegativeWeights(PowerRule):
    def referral_matrix(self, orgs, view):
        return -np.ones((len(orgs), len(view.kind)))


class WrongShapeScores(PowerRule):
    def tie_scores(self, org, view):
        return np.zeros(3)


class InfScores(PowerRule):
    def tie_scores(self, org, view):
        return np.full(len(view.kind), np.inf)


class EscalatesNaN(PowerRule):
    def demands_escalation(self, org, view):
        return np.full(len(view.kind), np.nan)


class BadInit(PowerRule):
    def __init__(self, level=1):
        raise ValueError("level must be 2")


class NotARule:
    pass
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("user_rules") / "broken_rules.py"
    path.write_text(BROKEN_RULES)
    return path


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("carenet: error: ")
    return lines[0]


def _assert_nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists()
    assert not (tmp_path / "outputs").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


FAILED_RUNS = [
    ("RaisesMidRun", "steps=6", "RaisesMidRun.referral_weights (organisation 0, week", "raised"),
    ("SaysLots", "steps=3", "SaysLots.data_sharing (organisation", "returned 'lots'"),
    ("SharesNaN", "steps=3", "SharesNaN.data_sharing (organisation", "returned nan"),
    ("SharesTooMuch", "steps=3", "SharesTooMuch.data_sharing", "returned 1.5"),
    ("BidsNaN", "steps=53", "BidsNaN.budget_bid (organisation", "week 52) returned nan"),
    ("NegativeWeights", "steps=6", "NegativeWeights.referral_matrix", "returned -1.0"),
    ("WrongShapeScores", "steps=6", "WrongShapeScores.tie_scores", "array of shape (3,)"),
    ("InfScores", "steps=6", "InfScores.tie_scores (organisation", "returned inf"),
    ("EscalatesNaN", "steps=3", "EscalatesNaN.demands_escalation", "True/False values"),
    ("BadInit", "steps=3", "BadInit.__init__", "raised ValueError: level must be 2"),
]


@pytest.mark.parametrize(
    ("cls", "steps", "names", "what"), FAILED_RUNS, ids=[c[0] for c in FAILED_RUNS]
)
def test_a_rule_that_breaks_is_a_failed_run_naming_rule_method_and_value(
    tmp_path, rules, cls, steps, names, what
):
    out = tmp_path / "run"
    r = carenet(
        "run", *SMALL, steps, f"power_rule._target_={rules}:{cls}", f"out={out}", cwd=tmp_path
    )
    assert r.returncode == 1, r.stderr
    line = _one_error_line(r.stderr)
    assert line.startswith("carenet: error: the run failed: RuleError: power rule "), line
    assert names in line and what in line, line
    assert "second line" not in line
    _assert_nothing_written(tmp_path, out)


def test_a_rule_answering_pools_budget_with_a_non_bool_fails_the_run(tmp_path, rules):
    out = tmp_path / "run"
    r = carenet(
        "run",
        *SMALL,
        "steps=53",
        "response.components=[pooled_budget]",
        f"power_rule._target_={rules}:PoolsMaybe",
        f"out={out}",
        cwd=tmp_path,
    )
    assert r.returncode == 1, r.stderr
    line = _one_error_line(r.stderr)
    assert "PoolsMaybe.pools_budget (organisation" in line and "returned 'maybe'" in line
    _assert_nothing_written(tmp_path, out)


@pytest.mark.parametrize("cls", ["RaisesMidRun", "SaysLots"])
def test_carenet_debug_shows_the_traceback_of_a_failed_run(tmp_path, rules, cls):
    out = tmp_path / "run"
    r = subprocess_with_debug(tmp_path, rules, cls, out)
    assert r.returncode == 1
    assert "Traceback (most recent call last)" in r.stderr
    assert "carenet.models.errors.RuleError: power rule " + cls in r.stderr
    _assert_nothing_written(tmp_path, out)


def subprocess_with_debug(
    tmp_path: Path, rules: Path, cls: str, out: Path
) -> subprocess.CompletedProcess[str]:
    """``carenet run`` with ``CARENET_DEBUG=1`` set (tests.cli's helper takes no env)."""
    return subprocess.run(
        [sys.executable, "-m", "carenet", "run", *SMALL, "steps=6"]
        + [f"power_rule._target_={rules}:{cls}", f"out={out}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CARENET_DEBUG": "1"},
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("{dir}/no_such_rules.py:Cautious", "does not exist"),
        ("{rules}:Missing", "has no 'Missing'"),
        ("{rules}:NotARule", "not a subclass of carenet.models.power.PowerRule"),
        ("no_such_package.rules.Cautious", "cannot import the module 'no_such_package.rules'"),
    ],
    ids=["file_missing", "class_missing", "not_a_rule", "module_missing"],
)
def test_a_rule_that_cannot_be_loaded_is_bad_input(tmp_path, rules, target, expected):
    out = tmp_path / "run"
    target = target.format(dir=rules.parent, rules=rules)
    r = carenet(
        "run", *SMALL, "steps=3", f"power_rule._target_={target}", f"out={out}", cwd=tmp_path
    )
    assert r.returncode == 2, r.stderr
    line = _one_error_line(r.stderr)
    assert line.startswith("carenet: error: power_rule._target_: "), line
    assert expected in line and "the run failed" not in line, line
    _assert_nothing_written(tmp_path, out)


def test_a_run_whose_headline_metric_is_nan_is_a_failed_run(tmp_path):
    """One person for one week: no episode ends, so the mean wait is undefined."""
    out = tmp_path / "run"
    r = carenet("run", *SMALL, "steps=1", "population.size=1", f"out={out}", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    line = _one_error_line(r.stderr)
    assert "the run failed: ResultError: summary metric mean_wait_weeks is nan" in line, line
    assert "no care episode ended" in line
    _assert_nothing_written(tmp_path, out)


def test_in_a_sweep_a_broken_rule_is_recorded_with_the_same_line(tmp_path, rules):
    out = tmp_path / "sweep"
    r = carenet(
        "run",
        "-m",
        *SMALL,
        "steps=3",
        f"power_rule._target_={rules}:SaysLots",
        "seed=1,2",
        "hydra/launcher=basic",
        f"out={out}",
        cwd=tmp_path,
    )
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    records = sorted((out / "failures").glob("*.json"))
    assert len(records) == 2
    for path in records:
        rec = json.loads(path.read_text())
        assert rec["error"].startswith("RuleError: power rule SaysLots.data_sharing (organisation")
        assert "returned 'lots'; expected a number from 0 to 1" in rec["error"]
        assert rec["error"] in r.stderr
        assert "Traceback" in rec["traceback"]
    assert not list((out / "runs").glob("*/manifest.json")) if (out / "runs").exists() else True
