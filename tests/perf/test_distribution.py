"""Demand drawn per stratum (#17) gives the same distributions as one uniform per patient.

The "before" sample (``distribution_before.json``) was made by the code before #17 (main at
473bb65, the calibrated defaults; ``benchmarks/distribution_check.py save --legacy``
reproduces it bit for bit); the test
runs the current code over the same seeds and compares each metric's mean (Welch's t) and
variance (ratio). A deliberately wrong demand rate (x1.2) must fail the same comparison.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("distribution_before.json")


def _check_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "distribution_check", ROOT / "benchmarks" / "distribution_check.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def check() -> ModuleType:
    return _check_module()


@pytest.fixture(scope="module")
def before(check: ModuleType) -> dict:
    data = json.loads(FIXTURE.read_text())
    assert data["config_hash"] == check.config_hash(), (
        "the economy's configuration changed since the 'before' sample was made; "
        "regenerate it: python benchmarks/distribution_check.py save "
        "tests/perf/distribution_before.json --legacy"
    )
    return data


def test_fixture_covers_every_compared_metric(check: ModuleType, before: dict) -> None:
    assert set(before["metrics"]) == set(check.metrics())
    assert all(len(v) == len(before["seeds"]) == 20 for v in before["metrics"].values())


def test_per_stratum_demand_matches_per_patient_distributions(
    check: ModuleType, before: dict
) -> None:
    after = check.sample(before["seeds"])
    assert after["metrics"] != before["metrics"]  # the draws did change
    assert check.differences(before, after) == []


@pytest.mark.skipif(
    not os.environ.get("CARENET_LONG_TESTS"),
    reason="about 15 s on 2 cores; set CARENET_LONG_TESTS=1 (CI's long job)",
)
def test_the_comparison_catches_a_demand_rate_20_percent_high(
    check: ModuleType, before: dict
) -> None:
    from carenet.sim.config import load_config

    rates = load_config(check.ECONOMY).population.episode_rate_per_year
    high = ",".join(f"{1.2 * r:.6g}" for r in rates)
    wrong = check.sample(before["seeds"], [f"population.episode_rate_per_year=[{high}]"])
    diffs = check.differences(before, wrong)
    assert any(d.startswith("episodes_started:") for d in diffs)


def test_the_comparison_flags_a_shifted_mean_and_a_wider_spread(check: ModuleType) -> None:
    base = {"metrics": {"x": [float(i % 5) for i in range(20)]}}
    shifted = {"metrics": {"x": [v + 3.0 for v in base["metrics"]["x"]]}}
    wider = {"metrics": {"x": [3.0 * v - 4.0 for v in base["metrics"]["x"]]}}
    assert check.differences(base, base) == []
    assert check.differences(base, shifted)[0].startswith("x: mean")
    assert "variance ratio 9.00" in check.differences(base, wider)[0]
