"""Every money parameter at one price year (#15 item 1): the response's GBP parameters.

Each is stated at ``response.price_year`` prices and inflated by the ledger with the
unit costs' index. The charges are recomputed by hand after moving that year's index.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from carenet.models.ledger import PRICED_PARAMS, response_prices
from carenet.models.model import CareSystemModel
from carenet.models.schema import CarenetConfig
from carenet.params import ConfigError, iter_params
from carenet.sim.config import load_config

SMALL = ["population=small", "organisations=small", "population.size=5000", "warmup_weeks=0"]
YEAR = "2021/22"
"""A year no unit cost is stated at: moving its index moves only the response's prices."""


def _model(response: str, index_of_year: float, *extra: str) -> CareSystemModel:
    """A model whose response money is stated at :data:`YEAR`, with that year's index."""
    cfg = load_config([*SMALL, f"response={response}", *extra])
    cfg.costs.inflation_index = {**cfg.costs.inflation_index, YEAR: index_of_year}
    cfg.response.price_year = YEAR
    return CareSystemModel(cfg)


def _factor(m: CareSystemModel) -> float:
    idx = m.cfg.costs.inflation_index
    return idx[m.cfg.costs.price_year] / idx[YEAR]


def _component(m: CareSystemModel, name: str):
    return next(c for c in m.response.components if c.name == name)


def _rec(m: CareSystemModel) -> defaultdict[str, float]:
    """A fresh week's record for the ledger to charge into."""
    rec: defaultdict[str, float] = defaultdict(float)
    m.ledger.open(rec)
    return rec


def test_every_money_parameter_is_a_unit_cost_or_priced_by_the_ledger():
    """A GBP parameter outside costs.items is inflated by the ledger, or is the threshold."""
    money = [
        k
        for k, f in iter_params(CarenetConfig)
        if f.metadata.get("unit", "").startswith("GBP") or "gbp" in k.split(".")[-1]
    ]
    priced = {f"response.{k}" for k in PRICED_PARAMS}
    assert priced <= set(money)
    assert set(money) - priced == {"costs.threshold_gbp_per_qaly"}


@pytest.mark.parametrize("index_of_year", [100.0, 80.0, 125.0])
def test_response_prices_follow_the_index_of_their_year(index_of_year):
    m = _model("bureaucratic", index_of_year)
    f = 107.6 / index_of_year
    assert _factor(m) == pytest.approx(f)
    for key in PRICED_PARAMS:
        assert m.ledger.response_gbp[key] == pytest.approx(getattr(m.cfg.response, key) * f)


def test_at_the_price_year_itself_nothing_is_inflated():
    cfg = load_config(SMALL)
    assert cfg.response.price_year == cfg.costs.price_year
    assert response_prices(cfg) == {k: getattr(cfg.response, k) for k in PRICED_PARAMS}


@pytest.mark.parametrize("index_of_year", [100.0, 80.0])
def test_inspections_charge_the_inflated_price(index_of_year):
    m = _model("bureaucratic", index_of_year)
    rec = _rec(m)
    insp = _component(m, "inspections")
    for t in range(m.cfg.response.inspection_interval_weeks):
        insp.governance(m, t, rec)
    assert rec["inspections"] > 0
    want = rec["inspections"] * m.cfg.response.inspection_cost_gbp * _factor(m)
    assert rec["cost_transaction"] == pytest.approx(want)


@pytest.mark.parametrize("index_of_year", [100.0, 80.0])
def test_contract_setup_charges_the_inflated_price(index_of_year):
    m = _model("bureaucratic", index_of_year, "response.monitoring_share=0")
    rec = _rec(m)
    m.contract_ready[:] = np.inf  # no contract in force: every pair signs a new one
    o = m.service_ids[:6]
    tgt = m.service_ids[6:12]
    zero = np.zeros(o.size, dtype=int)
    _component(m, "contracts").ensure(m, o, tgt, zero, zero, 3)
    assert rec["contracts_signed"] == 6
    want = 6 * m.cfg.response.contract_setup_gbp * _factor(m)
    assert rec["cost_transaction"] == pytest.approx(want)


@pytest.mark.parametrize("index_of_year", [100.0, 80.0])
def test_shared_records_and_hubs_charge_the_inflated_prices(index_of_year):
    m = _model("network", index_of_year)
    r, f = m.cfg.response, _factor(m)
    n_serv = int((m.service & m.active).sum())
    rec = _rec(m)
    _component(m, "shared_records").governance(m, 0, rec)
    want = (r.shared_records_investment_gbp + r.shared_records_running_gbp) * n_serv * f
    assert rec["cost_connection"] == pytest.approx(want)
    rec = _rec(m)
    m.influence[m.service_ids] = np.arange(1, m.service_ids.size + 1, dtype=float)
    _component(m, "hub_funding").governance(m, 0, rec)
    hubs = int((m.hub_bonus > 0).sum())
    assert hubs == r.hub_count
    assert rec["cost_connection"] == pytest.approx(r.hub_funding_gbp * hubs * f)


def test_a_price_year_missing_from_the_index_is_refused():
    with pytest.raises(ConfigError, match=r"response.price_year: '2019/20' has no positive value"):
        load_config([*SMALL, "response.price_year=2019/20"])
