"""The activity counters and the per-year rates that compare with published figures."""

from __future__ import annotations

import pytest

from carenet.models.registry import ACTIVITY, RATES, SUMMARY, after_warmup
from carenet.models.schema import DEFAULT_COST_ITEMS, DEFAULT_PATHWAYS
from carenet.models.stages.service import activity_table
from carenet.sim.config import load_config
from carenet.sim.runner import simulate

SMALL = ["population=small", "organisations=small", "population.size=8000", "progress=false"]


def _only_priced(item: str) -> list[str]:
    """Overrides pricing every cost item at zero but ``item``: direct cost counts it alone."""
    return [f"costs.items.{k}.gbp=0" for k in DEFAULT_COST_ITEMS if k != item]


def test_rates_are_declared_once_and_the_old_name_is_gone():
    assert "emergency_admissions_per_1000" not in SUMMARY
    for r in RATES:
        assert r.name in SUMMARY
        assert all(c in SUMMARY for c in r.counters), r.name
    counters = [a.counter for a in ACTIVITY]
    assert len(set(counters)) == len(counters)


def test_activity_table_takes_the_units_of_the_steps_whose_item_it_counts():
    table = activity_table(DEFAULT_PATHWAYS)
    gp = [a.counter for a in ACTIVITY].index("gp_consultations")
    adm = [a.counter for a in ACTIVITY].index("pathway_admissions")
    names = [p["name"] for p in DEFAULT_PATHWAYS]
    fall = names.index("frail_fall")
    gp_only = DEFAULT_PATHWAYS[names.index("gp_only")]
    assert table[gp, names.index("gp_only"), 0] == gp_only["steps"][0]["units"] == 2.0
    ae_only = names.index("ae_discharged")
    ae = [a.counter for a in ACTIVITY].index("ae_attendances")
    assert table[ae, ae_only, 0] == 1.0 and table[adm, ae_only].sum() == 0.0
    assert table[gp, fall].sum() == 0.0  # a fall starts in A&E, not at the GP
    assert table[adm, fall, 1] == 0.5  # a long stay: half a unit a week for two weeks


@pytest.mark.parametrize(
    ("counter", "item"),
    [("gp_consultations", "gp_consultation"), ("ae_attendances", "ae_attendance")],
)
def test_units_counted_are_the_units_direct_cost_is_charged_for(counter, item):
    cfg = load_config([*SMALL, "steps=10", "warmup_weeks=0", *_only_priced(item)])
    s = simulate(cfg, seed=3).summary
    assert s[counter] > 0
    gbp = DEFAULT_COST_ITEMS[item]["gbp"]
    assert s["cost_direct"] == pytest.approx(s[counter] * gbp, rel=1e-9)


def test_social_care_episodes_count_each_step_once_not_each_week():
    cfg = load_config([*SMALL, "steps=40", "warmup_weeks=0", *_only_priced("social_worker_hour")])
    s = simulate(cfg, seed=5).summary
    weeks = s["cost_direct"] / (DEFAULT_COST_ITEMS["social_worker_hour"]["gbp"] * 3.0)
    starts = s["social_care_episodes"]
    assert starts > 0
    # A social care step lasts 6 weeks: starts are at most the service weeks, and at least
    # a sixth of them (steps begun before the end of the run may not have finished).
    assert weeks / 6 - 1e-9 <= starts < weeks


def test_rates_are_counters_per_population_per_year_after_the_warm_up():
    cfg = load_config([*SMALL, "steps=20", "warmup_weeks=6"])
    r = simulate(cfg, seed=2)
    df = after_warmup(r.timeseries.to_dict("records"))
    years = len(df) / 52.0
    n = cfg.population.size
    s = r.summary
    for rate in RATES:
        expected = sum(df[c].sum() for c in rate.counters) / n * rate.per / years
        assert s[rate.name] == pytest.approx(expected, rel=1e-9), rate.name
    assert s["nonelective_admissions_per_1000"] > s["avoidable_emergency_admissions_per_1000"]
    assert s["nonelective_admissions_per_1000"] == pytest.approx(
        (df["pathway_admissions"].sum() + df["emergency_admissions"].sum()) / n * 1000 / years
    )
