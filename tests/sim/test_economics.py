"""Incremental analysis, CEAC, EVPI and the ICER interval, against hand-worked figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from carenet.sim.economics import (
    DOMINATED,
    EXT_DOMINATED,
    ON_FRONTIER,
    REFERENCE,
    ceac,
    evpi,
    icer_interval,
    incremental_analysis,
    prob_cost_effective,
)

# A textbook-style table (after Drummond et al. 2015, ch. 4), worked by hand:
#   A 10,000 5.0  cheapest: the reference
#   B 12,000 4.8  dearer and less effective than A: dominated
#   C 15,000 5.2  ICER vs A 25,000; but D vs C is 7,500 < 25,000: extendedly dominated
#   D 18,000 5.6  ICER vs A = 8,000 / 0.6 = 13,333.33
#   E 30,000 6.0  ICER vs D = 12,000 / 0.4 = 30,000
TABLE = pd.DataFrame(
    {
        "arm": ["E", "C", "A", "D", "B"],  # not in cost order: the function orders them
        "cost": [30_000.0, 15_000.0, 10_000.0, 18_000.0, 12_000.0],
        "effect": [6.0, 5.2, 5.0, 5.6, 4.8],
    }
)


def test_incremental_analysis_matches_the_hand_worked_table() -> None:
    t = incremental_analysis(TABLE).set_index("arm")
    assert list(t.index) == ["A", "B", "C", "D", "E"]
    assert t.loc["A", "status"] == REFERENCE
    assert t.loc["B", "status"] == DOMINATED
    assert t.loc["C", "status"] == EXT_DOMINATED
    assert t.loc["D", "status"] == ON_FRONTIER and t.loc["D", "compared_with"] == "A"
    assert t.loc["D", "icer"] == pytest.approx(8_000 / 0.6)
    assert t.loc["E", "compared_with"] == "D"
    assert t.loc["E", "icer"] == pytest.approx(30_000.0)
    assert t.loc[["A", "B", "C"], "icer"].isna().all()


def test_a_dominant_option_becomes_the_reference() -> None:
    arms = pd.DataFrame({"arm": ["x", "y"], "cost": [5.0, 3.0], "effect": [1.0, 2.0]})
    t = incremental_analysis(arms).set_index("arm")
    assert t.loc["y", "status"] == REFERENCE and t.loc["x", "status"] == DOMINATED


def _synthetic(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n):
        for arm, (mc, me) in {"a": (100.0, 1.00), "b": (130.0, 1.0015), "c": (90.0, 0.999)}.items():
            rows.append((d, arm, mc + rng.normal(0, 10), me + rng.normal(0, 0.001)))
    return pd.DataFrame(rows, columns=["draw", "arm", "cost", "effect"])


def test_ceac_and_evpi_recomputed_independently() -> None:
    draws = _synthetic()
    curve = ceac(draws, wtp=[0.0, 20_000.0, 30_000.0, 50_000.0])
    for w in curve.index:
        # Independently: a loop over draws, counting the best arm by NMB.
        wins = {"a": 0, "b": 0, "c": 0}
        best_sum, per_arm = 0.0, {"a": 0.0, "b": 0.0, "c": 0.0}
        for _, g in draws.groupby("draw"):
            nmb = {r.arm: w * r.effect - r.cost for r in g.itertuples()}
            top = max(nmb, key=nmb.get)
            wins[top] += 1
            best_sum += nmb[top]
            for k, v in nmb.items():
                per_arm[k] += v
        n = draws["draw"].nunique()
        for k in wins:
            assert curve.loc[w, k] == pytest.approx(wins[k] / n)
        assert evpi(draws, w) == pytest.approx(best_sum / n - max(per_arm.values()) / n)
    assert np.allclose(curve.sum(axis=1), 1.0)
    assert curve.loc[0.0, "c"] > 0.7  # cheapest wins most draws when health is worth nothing
    assert evpi(draws, 20_000.0) >= 0.0
    p = prob_cost_effective(curve)
    assert list(p.index) == [20_000.0, 30_000.0]


def test_evpi_is_zero_without_uncertainty() -> None:
    draws = pd.DataFrame(
        {
            "draw": [0, 0, 1, 1],
            "arm": ["a", "b"] * 2,
            "cost": [1.0, 2.0] * 2,
            "effect": [1.0, 1.0] * 2,
        }
    )
    assert evpi(draws, 1000.0) == 0.0


def test_icer_interval_by_hand() -> None:
    draws = pd.DataFrame(
        {
            "draw": [0, 0, 1, 1, 2, 2],
            "arm": ["a", "b"] * 3,
            "cost": [0.0, 10.0, 0.0, 20.0, 0.0, 30.0],
            "effect": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        }
    )
    r = icer_interval(draws, "a", "b", level=0.5)
    assert r["icer"] == pytest.approx(20.0)
    assert (r["lo"], r["hi"]) == pytest.approx((15.0, 25.0))  # percentiles 25 and 75
    # Draws in two quadrants: no ratio interval.
    mixed = draws.copy()
    mixed.loc[5, "effect"] = -1.0
    assert math.isnan(icer_interval(mixed, "a", "b")["lo"])
    assert "NW" in icer_interval(mixed, "a", "b")["quadrants"]


def test_the_sweep_report_has_the_base_case_incremental_table() -> None:
    from carenet.sim.report import incremental_section

    ok = pd.DataFrame(
        {
            "scenario": ["x", "x", "y", "y", "z", "z"],
            "c": [10.0, 12.0, 30.0, 30.0, 8.0, 8.0],
            "e": [1.0, 1.0, 2.0, 2.0, 0.5, 0.5],
        }
    )
    lines = incremental_section(ok, ["x", "y", "z"], ("c", "e"))
    text = "\n".join(lines)
    assert "## Incremental analysis (base case" in text
    # z (8, 0.5) reference; x (11, 1.0) ICER 6; y (30, 2.0) ICER 19 vs x.
    assert "| z | 8 | 0.50 | reference |" in text
    assert "| x | 11 | 1.00 | on frontier | z | 6 |" in text
    assert "| y | 30 | 2.00 | on frontier | x | 19 |" in text
    assert incremental_section(ok, ["x", "y", "z"], None) == []
