"""Rewrite the golden baseline (tests/golden/baseline.json) and print what changed.

The baseline holds the summary metrics of a few fixed small configurations and seeds;
``tests/models/test_golden.py`` fails when the model's output drifts from it. Refresh it
only when a change of output is intended, and mark that change **[output]** in
CHANGELOG.md::

    .venv/bin/python tests/golden/refresh.py          # rewrite and print the changes
    .venv/bin/python tests/golden/refresh.py --check  # print the changes, write nothing
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).with_name("baseline.json")

_SMALL = [
    "population=small",
    "organisations=small",
    "population.size=8000",
    "steps=20",
    "warmup_weeks=0",
]
CASES: dict[str, list[str]] = {
    "hybrid_mixed_none_baseline": [*_SMALL, "seed=11"],
    "network_empowerment_network_winter": [
        *_SMALL,
        "structure=network",
        "power_rule=empowerment",
        "response=network",
        "response.shared_records_golive_weeks=4",
        "scenario=winter",
        "scenario.shocks=[{kind:winter_surge,at_week:6,duration_weeks:6,magnitude:0.3}]",
        "seed=22",
    ],
    "hierarchy_domination_bureaucratic_hub_failure": [
        *_SMALL,
        "structure=hierarchy",
        "power_rule=domination",
        "response=bureaucratic",
        "response.contract_lead_time_weeks=2",
        "scenario=hub_failure",
        "scenario.shocks=[{kind:org_failure,at_week:8,duration_weeks:0,target:degree,count:2}]",
        "seed=33",
    ],
}
"""Name -> overrides of each golden configuration (seed included)."""


def compute(overrides: list[str]) -> dict[str, Any]:
    """Summary metrics of one configuration, as JSON would store them (NaN -> None)."""
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    summary = simulate(load_config([*overrides, "progress=false"])).summary
    return {k: _plain(v) for k, v in sorted(summary.items())}


def _plain(v: Any) -> Any:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def load() -> dict[str, Any]:
    """The stored baseline, or an empty one."""
    if not BASELINE.is_file():
        return {"cases": {}}
    return json.loads(BASELINE.read_text())


def differences(old: dict[str, Any], new: dict[str, Any], rel: float = 1e-9) -> list[str]:
    """Lines describing each metric that differs beyond ``rel`` (or appeared/vanished)."""
    lines = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if isinstance(a, int | float) and isinstance(b, int | float):
            if math.isclose(a, b, rel_tol=rel, abs_tol=1e-12):
                continue
            change = f" ({(b - a) / abs(a):+.3%})" if a else ""
            lines.append(f"{k}: {a!r} -> {b!r}{change}")
        elif a != b:
            lines.append(f"{k}: {a!r} -> {b!r}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Recompute every case; print what changed; write the baseline unless --check."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="print the changes, write nothing")
    args = p.parse_args(argv)
    from carenet.sim.runner import versions

    old = load()
    cases: dict[str, Any] = {}
    changed = 0
    for name, overrides in CASES.items():
        metrics = compute(overrides)
        prev = old.get("cases", {}).get(name)
        if prev is None:
            print(f"{name}: new case")
            changed += 1
        else:
            diff = differences(prev["metrics"], metrics)
            if prev.get("overrides") != overrides:
                diff.insert(0, f"overrides: {prev.get('overrides')} -> {overrides}")
            changed += bool(diff)
            print(f"{name}: {'unchanged' if not diff else f'{len(diff)} changes'}")
            for line in diff:
                print(f"    {line}")
        cases[name] = {"overrides": overrides, "metrics": metrics}
    for name in sorted(set(old.get("cases", {})) - set(cases)):
        print(f"{name}: removed")
        changed += 1
    if args.check:
        return 1 if changed else 0
    data = {
        "about": "Golden summary metrics; refresh with tests/golden/refresh.py only for an "
        "intended change of output, marked [output] in CHANGELOG.md.",
        "versions": versions(),
        "cases": cases,
    }
    BASELINE.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
    print(f"wrote {BASELINE}" + ("" if changed else " (no metric changed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
