"""The reference case: discounting from the end of the warm-up, unit costs at one price year.

Recomputed by hand from a small run's weekly records and from the configured index.
"""

from __future__ import annotations

import pandas as pd
import pytest

from carenet.models.ledger import discount_factors, inflation_factor, unit_costs
from carenet.models.model import CareSystemModel
from carenet.params import ConfigError
from carenet.sim.config import load_config

SMALL = ["population=small", "organisations=small", "population.size=5000"]


@pytest.fixture(scope="module")
def run() -> CareSystemModel:
    """60 weeks, the first 4 warm-up: more than a year counted, so discounting bites."""
    cfg = load_config([*SMALL, "steps=60", "warmup_weeks=4", "costs.discount_rate_health=0.015"])
    m = CareSystemModel(cfg)
    m.run(cfg.steps)
    return m


def test_discounted_totals_recomputed_by_hand(run: CareSystemModel) -> None:
    s = run.summary()
    after = pd.DataFrame(run.records).iloc[4:].reset_index(drop=True)
    cost = sum(c / 1.035 ** (w / 52) for w, c in enumerate(after["cost_total"]))
    qalys = sum(q / 1.015 ** (w / 52) for w, q in enumerate(after["qalys_net"]))
    assert s["discounted_cost_total"] == pytest.approx(cost, rel=1e-9)
    assert s["discounted_qalys_net"] == pytest.approx(qalys, rel=1e-9)
    thr = run.cfg.costs.threshold_gbp_per_qaly
    assert s["discounted_net_monetary_benefit"] == pytest.approx(thr * qalys - cost, rel=1e-9)
    assert (s["discount_rate_costs"], s["discount_rate_health"]) == (0.035, 0.015)
    # Discounting lowers a year-plus total (costs are positive every week).
    assert s["discounted_cost_total"] < s["cost_total"]


def test_zero_rates_give_the_undiscounted_totals() -> None:
    cfg = load_config(
        [*SMALL, "steps=10", "warmup_weeks=2"]
        + ["costs.discount_rate_costs=0", "costs.discount_rate_health=0"]
    )
    m = CareSystemModel(cfg)
    m.run(cfg.steps)
    s = m.summary()
    assert s["discounted_cost_total"] == pytest.approx(s["cost_total"], rel=1e-12)
    assert s["discounted_qalys_net"] == pytest.approx(s["qalys_net"], rel=1e-12)


def test_discount_factors_are_continuous_weekly() -> None:
    f = discount_factors(105, 0.035)
    assert f[0] == 1.0
    assert f[52] == pytest.approx(1 / 1.035)
    assert f[104] == pytest.approx(1 / 1.035**2)
    assert f[26] == pytest.approx(1.035**-0.5)


def test_unit_costs_are_inflated_to_the_price_year() -> None:
    cfg = load_config(SMALL)
    idx = cfg.costs.inflation_index
    got = unit_costs(cfg)
    for name, item in cfg.costs.items.items():
        want = item["gbp"] * idx[cfg.costs.price_year] / idx[item["price_year"]]
        assert got[name] == pytest.approx(want), name
    # An item already in the price year is unchanged; an older one is inflated.
    assert got["gp_consultation"] == cfg.costs.items["gp_consultation"]["gbp"]
    assert got["nonelective_short_stay"] > cfg.costs.items["nonelective_short_stay"]["gbp"]


def test_price_year_can_be_changed() -> None:
    cfg = load_config([*SMALL, "costs.price_year=2022/23"])
    assert inflation_factor(cfg.costs, "2024/25") == pytest.approx(100.0 / 107.6)
    assert unit_costs(cfg)["gp_consultation"] < 48.0


def test_the_model_charges_inflated_costs() -> None:
    cfg = load_config(SMALL)
    m = CareSystemModel(cfg)
    assert m.ledger.night_gbp == pytest.approx(unit_costs(cfg)["delayed_discharge_night"])
    assert m.ledger.night_gbp > cfg.costs.items["delayed_discharge_night"]["gbp"]


def test_a_year_missing_from_the_index_is_refused() -> None:
    with pytest.raises(ConfigError, match="costs.price_year: '2030/31'"):
        load_config([*SMALL, "costs.price_year=2030/31"])
    with pytest.raises(ConfigError, match="price year of a cost item"):
        load_config([*SMALL, "costs.items.gp_consultation.price_year=2016/17"])


def test_every_report_states_perspective_and_horizon() -> None:
    from carenet.models.spec import CarenetSpec
    from carenet.sim.report import evaluation_section
    from carenet.spec import BaseSpec

    text = "\n".join(evaluation_section(CarenetSpec()))
    assert "## Perspective, time horizon and discounting" in text
    for needle in ("NHS and personal social services", "Time horizon", "3.5%", "price_year"):
        assert needle in text
    other = "\n".join(evaluation_section(BaseSpec()))  # a model that states none says so
    assert "states no perspective" in other
