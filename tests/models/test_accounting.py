"""Accounting invariants that hold for every valid configuration (Hypothesis).

Over random arrangements (structure, power rule, response, scenario with its shocks moved
early, initial ties, small populations, seeds), every week's books balance: episodes are
neither created nor lost, costs add up and are never negative, net monetary benefit is
the stated function of QALYs and cost, handoffs add up over routes, and the summary is
the sum of the time series.

Each test draws 25 examples; set ``CARENET_HUNT_EXAMPLES=500`` to search harder.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from carenet.models.errors import ResultError
from carenet.models.metrics import NETWORK_METRICS
from carenet.models.model import CareSystemModel
from carenet.models.schema import CarenetConfig
from carenet.sim.config import compose, validate
from carenet.sim.runner import simulate

STRUCTURES = ("hierarchy", "network", "hybrid")
RULES = ("domination", "empowerment", "mixed", "adaptive")
RESPONSES = ("none", "bureaucratic", "network")
SCENARIOS = ("baseline", "winter", "budget_cut", "hub_failure", "random_failure", "outage")
TIES = ("none", "random", "small_world", "scale_free", "locality")
COSTS = ("cost_direct", "cost_transaction", "cost_failure", "cost_connection")
ROUTES = ("handoffs_direct", "handoffs_broker", "handoffs_escalation", "handoffs_cold")
SUMMED = (
    "qalys_gained",
    "qalys_lost",
    "qalys_net",
    *COSTS,
    "cost_total",
    "net_monetary_benefit",
    "episodes_started",
    "episodes_completed",
    "episodes_failed",
    "completed_on_time",
    "handoffs",
    "handoffs_failed",
    *ROUTES,
    "repeated_assessments",
    "emergency_admissions",
    "excess_bed_days",
)
SETTINGS = settings(
    max_examples=int(os.environ.get("CARENET_HUNT_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def _composed(structure: str, rule: str, response: str, scenario: str) -> dict[str, Any]:
    return compose(
        [
            "organisations=small",
            "population=small",
            f"structure={structure}",
            f"power_rule={rule}",
            f"response={response}",
            f"scenario={scenario}",
        ]
    )


@st.composite
def configs(draw: st.DrawFn) -> CarenetConfig:
    """A small, valid configuration with any arrangement and its shocks early."""
    groups = (
        draw(st.sampled_from(STRUCTURES)),
        draw(st.sampled_from(RULES)),
        draw(st.sampled_from(RESPONSES)),
        draw(st.sampled_from(SCENARIOS)),
    )
    data = copy.deepcopy(_composed(*groups))
    steps = draw(st.integers(5, 40))
    data["steps"] = steps
    data["warmup_weeks"] = draw(st.integers(0, steps - 1))
    data["seed"] = draw(st.integers(0, 2**32 - 1))
    data["progress"] = False
    data["population"]["size"] = draw(st.integers(2_000, 20_000))
    data["population"]["localities"] = draw(st.integers(1, 4))
    data["structure"]["initial_ties"] = draw(st.sampled_from(TIES))
    data["structure"]["dynamic_ties"] = draw(st.booleans())
    data["structure"]["tie_update_weeks"] = draw(st.integers(1, 4))
    # From starved to generous capacity, and from reliable to hopeless cold handoffs.
    data["organisations"]["capacity_headroom"] = draw(st.floats(0.3, 2.0))
    data["handoff"]["cold_fail"] = draw(st.floats(0.0, 1.0))
    for shock in data["scenario"]["shocks"]:
        shock["at_week"] = draw(st.integers(0, steps - 1))
        shock["duration_weeks"] = draw(st.integers(0, 8))
        if shock["kind"] == "org_failure":
            shock["count"] = draw(st.integers(1, 4))
    # Governance on a short clock, so contracts, boards, inspections and shared records
    # all act inside a short run.
    resp = data["response"]
    resp["contract_lead_time_weeks"] = draw(st.integers(0, 3))
    resp["shared_records_golive_weeks"] = draw(st.integers(0, 4))
    resp["inspection_interval_weeks"] = draw(st.integers(1, 8))
    if groups[1] == "adaptive":
        data["power_rule"]["imitation_weeks"] = draw(st.integers(1, 4))
        data["power_rule"]["imitation_rate"] = 0.5
    note(f"groups={groups} size={data['population']['size']} steps={steps}")
    note(f"seed={data['seed']} structure={data['structure']}")
    note(f"headroom={data['organisations']['capacity_headroom']} handoff={data['handoff']}")
    note(f"shocks={data['scenario']['shocks']}")
    return validate(data)


def check_week_invariants(ts: pd.DataFrame, threshold: float) -> None:
    """The books of every week balance."""
    started = ts["episodes_started"].cumsum()
    ended = ts["episodes_completed"].cumsum() + ts["episodes_failed"].cumsum()
    np.testing.assert_array_equal(started, ended + ts["episodes_in_progress"])
    for k in (*COSTS, "cost_total", "qalys_gained", "qalys_lost", "emergency_admissions"):
        assert (ts[k] >= 0).all(), f"{k} < 0 at weeks {ts['week'][ts[k] < 0].tolist()}"
    np.testing.assert_allclose(ts["cost_total"], ts[list(COSTS)].sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(ts["qalys_net"], ts["qalys_gained"] - ts["qalys_lost"], rtol=1e-12)
    nmb = threshold * (ts["qalys_gained"] - ts["qalys_lost"]) - ts["cost_total"]
    np.testing.assert_allclose(ts["net_monetary_benefit"], nmb, rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(ts["handoffs"], ts[list(ROUTES)].sum(axis=1))
    assert (ts["handoffs_failed"] <= ts["handoffs"]).all()
    assert (ts["repeated_assessments"] <= ts["handoffs"]).all()
    assert (ts["completed_on_time"] <= ts["episodes_completed"]).all()
    for k in ("continuity_index", "experience", "shared_records_share", "utilisation"):
        v = ts[k].dropna()
        assert ((v >= 0) & (v <= 1 + 1e-12)).all(), f"{k} outside [0, 1]: {v.tolist()}"


NETWORK = (*NETWORK_METRICS, "mean_trust", "mean_data_sharing")


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def check_summary(
    summary: dict[str, float], ts: pd.DataFrame, threshold: float, population: int
) -> None:
    """Whole-run totals are the sums of the weeks after the warm-up; rates the stated ratios."""
    warm = ts[ts["warmup"] > 0]
    ts = ts[ts["warmup"] == 0]
    for k in SUMMED:
        assert summary[k] == pytest.approx(float(ts[k].sum()), rel=1e-12, abs=1e-9), k
    assert summary["episodes_in_progress"] == ts["episodes_in_progress"].iloc[-1]
    open_before = float(warm["episodes_in_progress"].iloc[-1]) if len(warm) else 0.0
    assert summary["episodes_started"] + open_before == (
        summary["episodes_completed"] + summary["episodes_failed"] + summary["episodes_in_progress"]
    )
    assert summary["cost_total"] == pytest.approx(sum(summary[k] for k in COSTS), rel=1e-12)
    assert summary["net_monetary_benefit"] == pytest.approx(
        threshold * (summary["qalys_gained"] - summary["qalys_lost"]) - summary["cost_total"],
        rel=1e-9,
        abs=1e-6,
    )
    by_stratum = sum(summary[f"qalys_net_{k}"] for k in ("well", "ltc", "multimorbid", "frail"))
    assert by_stratum == pytest.approx(summary["qalys_net"], rel=1e-9, abs=1e-9)
    years = len(ts) / 52
    per_1000 = summary["emergency_admissions"] / population * 1000 / years
    assert summary["avoidable_emergency_admissions_per_1000"] == pytest.approx(per_1000, rel=1e-12)
    rates = {
        "on_time_share": ("completed_on_time", "episodes_completed"),
        "handoff_failure_rate": ("handoffs_failed", "handoffs"),
    }
    for k, (num, den) in rates.items():
        want = _ratio(summary[num], summary[den])
        assert summary[k] == pytest.approx(want, rel=1e-12, nan_ok=True), k
    for k in ("on_time_share", "handoff_failure_rate", "continuity_index", "experience_score"):
        v = summary[k]
        assert np.isnan(v) or 0 <= v <= 1, (k, v)
    for k in NETWORK:
        assert summary[f"final_{k}"] == pytest.approx(ts[k].iloc[-1], nan_ok=True), k
    assert summary["share_empowerment"] == pytest.approx(ts["share_empowerment"].iloc[-1])


@SETTINGS
@given(cfg=configs())
def test_books_balance_every_week_and_in_the_summary(cfg: CarenetConfig):
    try:
        res = simulate(cfg)
    except ResultError:
        # A run in which no episode ended has no mean wait: it is a failed run by design
        # (tests/sim/test_faults_rules.py), not a case of this invariant.
        assume(False)
    ts = res.timeseries
    assert len(ts) == cfg.steps
    thr = cfg.costs.threshold_gbp_per_qaly
    check_week_invariants(ts, thr)
    check_summary(res.summary, ts, thr, cfg.population.size)


@SETTINGS
@given(cfg=configs())
def test_every_open_episode_belongs_to_one_patient_at_an_active_organisation(
    cfg: CarenetConfig,
):
    cfg.steps = min(cfg.steps, 20)
    model = CareSystemModel(cfg)

    def check(m: CareSystemModel) -> None:
        ep = m.episodes
        assert np.unique(ep.pid).size == len(ep), "a patient has two open episodes"
        assert int(m.pop.in_episode.sum()) == len(ep)
        assert m.pop.in_episode[ep.pid].all()
        assert m.active[ep.org].all(), f"episodes at failed orgs {set(ep.org[~m.active[ep.org]])}"
        assert ((ep.stage >= 0) & (ep.stage < m.pw_len[ep.pw])).all()
        assert (ep.wait >= 0).all()

    model.run(cfg.steps, callback=check)


@pytest.mark.parametrize(
    "arrangement",
    [
        ["response=network", "power_rule=mixed"],
        ["response=bureaucratic", "power_rule=domination", "structure=hierarchy"],
        ["response=network", "power_rule=adaptive", "scenario=random_failure"],
    ],
    ids=["pooled", "bureaucratic", "adaptive-failure"],
)
def test_books_balance_across_annual_budget_rounds(arrangement):
    """Two budget rounds (weeks 52 and 104): the books still balance, and each round keeps
    every organisation within its allowed change and the total budget (plus any shared
    savings returned to a pool).
    """
    data = compose(
        [
            "population=small",
            "organisations=small",
            "population.size=2000",
            "steps=106",
            "progress=false",
            *arrangement,
        ]
    )
    for shock in data["scenario"]["shocks"]:
        shock["at_week"] = 30
    cfg = validate(data)
    model = CareSystemModel(cfg)
    rounds: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
    stage = model.stage("governance")
    allocate = stage.allocate_budget

    def spy() -> None:
        ids = np.flatnonzero(model.service & model.active)
        before, bonus = model.budget.copy(), model.pool_bonus
        allocate()
        rounds.append((ids, before[ids], model.budget[ids].copy(), model.pool_bonus - bonus))

    stage.allocate_budget = spy
    model.run(cfg.steps)
    assert len(rounds) == 2
    mc = cfg.organisations.budget_max_change
    for _ids, old, new, returned in rounds:
        assert new.sum() == pytest.approx(old.sum() + returned, rel=1e-9)
        assert np.all(new >= old * (1 - mc) * (1 - 1e-9))
        assert np.all(new <= old * (1 + mc) * (1 + 1e-9))
    ts = pd.DataFrame(model.records)
    check_week_invariants(ts, cfg.costs.threshold_gbp_per_qaly)
    check_summary(model.summary(), ts, cfg.costs.threshold_gbp_per_qaly, cfg.population.size)
