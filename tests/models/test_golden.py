"""The model's output for fixed configurations and seeds matches the golden baseline.

A failure means a change altered model output. If that is intended, refresh the baseline
with ``.venv/bin/python tests/golden/refresh.py`` and mark the change **[output]** in
CHANGELOG.md; if not, the change has a bug.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

REFRESH = Path(__file__).resolve().parents[1] / "golden" / "refresh.py"


def _load_refresh():
    spec = importlib.util.spec_from_file_location("carenet_golden_refresh", REFRESH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


refresh = _load_refresh()
HOW_TO_REFRESH = (
    "Model output changed from tests/golden/baseline.json. Only if this change is intended, "
    "run `.venv/bin/python tests/golden/refresh.py` and mark the change **[output]** in "
    "CHANGELOG.md; otherwise find what changed the output."
)


def test_baseline_covers_every_case_with_its_overrides():
    stored = refresh.load()["cases"]
    assert set(stored) == set(refresh.CASES), HOW_TO_REFRESH
    for name, overrides in refresh.CASES.items():
        assert stored[name]["overrides"] == overrides, HOW_TO_REFRESH
        json.dumps(stored[name]["metrics"], allow_nan=False)


@pytest.mark.parametrize("name", list(refresh.CASES))
def test_summary_metrics_match_the_golden_baseline(name):
    stored = refresh.load()["cases"].get(name)
    assert stored is not None, f"case {name!r} missing. {HOW_TO_REFRESH}"
    new = refresh.compute(refresh.CASES[name])
    diff = refresh.differences(stored["metrics"], new, rel=1e-9)
    assert not diff, f"{name}: " + "; ".join(diff[:12]) + f"\n{HOW_TO_REFRESH}"


def test_the_golden_cases_exercise_what_they_are_named_for():
    cases = refresh.load()["cases"]
    for name, case in cases.items():
        m = case["metrics"]
        assert m["episodes_started"] > 0 and m["handoffs"] > 0, name
        assert all(v is None or math.isfinite(v) for v in m.values() if not isinstance(v, str))
    assert cases["hierarchy_domination_bureaucratic_hub_failure"]["metrics"]["contracts_signed"] > 0
    assert (
        cases["hierarchy_domination_bureaucratic_hub_failure"]["metrics"]["handoffs_escalation"] > 0
    )
    assert cases["network_empowerment_network_winter"]["metrics"]["share_empowerment"] == 1.0


def test_differences_reports_a_changed_metric_and_ignores_rounding():
    assert refresh.differences({"a": 1.0}, {"a": 1.0 + 1e-12}) == []
    assert refresh.differences({"a": 1.0}, {"a": 1.1}) == ["a: 1.0 -> 1.1 (+10.000%)"]
    assert refresh.differences({"a": None}, {"a": None}) == []
    assert refresh.differences({"a": 1.0}, {}) == ["a: 1.0 -> '<absent>'"]
