"""Scripted tests, under fixed seeds, that each documented mechanism does what it says.

One test per behaviour of the power rules, responses and shocks (issue #3 items 1-3).
"""

from __future__ import annotations

import numpy as np
import pytest

from carenet.models.metrics import NETWORK_METRICS
from carenet.models.model import CareSystemModel
from carenet.models.power import Domination, Empowerment
from carenet.models.state import QUEUED, SERVICE, TRANSIT
from carenet.sim.config import load_config

SMALL = ["population=small", "organisations=small", "population.size=8000", "warmup_weeks=0"]


def model(*overrides: str, seed: int = 3) -> CareSystemModel:
    return CareSystemModel(load_config([*SMALL, *overrides]), seed=seed)


def run(m: CareSystemModel, weeks: int) -> CareSystemModel:
    m.run(weeks)
    return m


def series(m: CareSystemModel, key: str) -> np.ndarray:
    return np.array([r[key] for r in m.records], dtype=float)


# --- power rules ---------------------------------------------------------------------


def test_domination_shares_fewer_records_than_empowerment():
    dom = run(model("structure=network", "power_rule=domination"), 20)
    emp = run(model("structure=network", "power_rule=empowerment"), 20)
    assert series(dom, "mean_data_sharing").max() < series(emp, "mean_data_sharing").min()
    assert dom.summary()["repeated_assessments"] > emp.summary()["repeated_assessments"]


def test_domination_keeps_referrals_inside_its_branch():
    m = model("structure=hierarchy", "power_rule=domination")
    view = m.view()
    rule = Domination(branch_bias=10.0)
    gp = int(np.flatnonzero(m.kinds == "gp")[0])
    w = rule.referral_weights(gp, view)
    same = (m.branch == m.branch[gp]) & m.service
    other = (m.branch != m.branch[gp]) & m.service
    # Per unit of capacity, its own branch weighs branch_bias times more.
    per_cap = w / np.maximum(view.capacity, 1e-9)
    local = view.local_weight[gp]
    assert np.allclose(per_cap[same] / local[same], 10.0)
    assert np.allclose(per_cap[other] / local[other], 1.0)


def test_domination_demands_escalation_out_of_branch_only_with_a_hierarchy():
    m = model("structure=hierarchy", "power_rule=domination")
    gp = int(np.flatnonzero(m.kinds == "gp")[0])
    force = Domination().demands_escalation(gp, m.view())
    assert force.tolist() == (m.branch != m.branch[gp]).tolist()
    assert not Domination(escalate_out_of_branch=False).demands_escalation(gp, m.view()).any()
    n = model("structure=network", "power_rule=domination")
    assert not Domination().demands_escalation(gp, n.view()).any()


def test_forced_escalation_routes_out_of_branch_handoffs_through_the_hierarchy():
    # With strong ties everywhere a free org would go direct; a dominating one escalates out
    # of branch. (At the default initial trust, approval is the cheaper route anyway once
    # routes are priced as the accounting charges, so forcing it changes nothing there.)
    base = ("structure=hybrid", "power_rule=domination", "structure.mean_degree=8")
    strong = (*base, "structure.initial_trust=0.95")
    on = run(model(*strong), 12)
    off = run(model(*strong, "power_rule.escalate_out_of_branch=false"), 12)
    assert on.summary()["handoffs_escalation"] > off.summary()["handoffs_escalation"]


def test_empowerment_refers_to_the_partner_with_the_best_expected_outcome():
    m = run(model("structure=network", "power_rule=empowerment"), 4)
    view = m.view()
    gp = int(np.flatnonzero(m.kinds == "gp")[0])
    vcse = np.flatnonzero(m.kinds == "vcse")
    rule = Empowerment(choice_sharpness=50.0)
    w = rule.referral_weights(gp, view)[vcse] / (view.capacity[vcse] * view.local_weight[gp, vcse])
    cost = view.route_cost[gp, vcse] + view.expected_wait[vcse] * view.wait_price[gp, vcse]
    assert int(np.argmax(w)) == int(np.argmin(cost))


def test_empowerment_ties_are_valued_by_flow_and_saving_domination_ties_by_authority():
    m = run(model("structure=network", "power_rule=empowerment"), 8)
    view = m.view()
    gp = int(np.flatnonzero(m.kinds == "gp")[0])
    emp = Empowerment(influence_preference=0.0).tie_scores(gp, view)
    no_flow = view.flow[gp] == 0
    assert np.allclose(emp[no_flow], -2.0 * view.tie_cost)
    dom = Domination(branch_bias=1.0).tie_scores(gp, view)
    assert np.allclose(dom, view.authority * view.tie_cost)


def test_domination_captures_budget_for_the_powerful_and_empowerment_pools_by_need():
    dom = run(
        model("structure=hierarchy", "power_rule=domination", "power_rule.capture_strength=5"), 53
    )
    acute = np.flatnonzero(dom.kinds == "acute")
    base = model("structure=hierarchy", "power_rule=domination")
    assert dom.budget[acute].sum() / dom.budget[dom.service].sum() > (
        base.budget[acute].sum() / base.budget[base.service].sum()
    )
    pooled = run(model("power_rule=empowerment", "response=network"), 52)
    ids = pooled.service_ids
    assert all(pooled.orgs[i].rule.pools_budget(int(i), pooled.view()) for i in ids)
    need = pooled.view().need[ids]
    before = pooled.budget[ids].copy()
    pooled.step()  # week 52: the annual allocation
    after = pooled.budget[ids]
    toward_need = np.sign(after / after.sum() - before / before.sum()) == np.sign(
        need / need.sum() - before / before.sum()
    )
    assert toward_need.mean() > 0.8


def test_mixed_assigns_the_configured_share_at_random_or_by_kind():
    m = model("power_rule=mixed", "power_rule.empower_share=1.0")
    assert all(isinstance(m.orgs[i].rule, Empowerment) for i in m.service_ids)
    m = model("power_rule=mixed", "power_rule.empower_share=0.0")
    assert all(isinstance(m.orgs[i].rule, Domination) for i in m.service_ids)
    m = model("power_rule=mixed", "power_rule.assign_by=kind", "power_rule.empowering_kinds=[vcse]")
    for i in m.service_ids:
        assert isinstance(m.orgs[i].rule, Empowerment) == (m.kinds[i] == "vcse")


def test_adaptive_organisations_imitate_and_a_zero_rate_freezes_the_culture():
    frozen = run(model("power_rule=adaptive", "power_rule.imitation_rate=0"), 30)
    assert frozen.summary()["rule_switches"] == 0
    moving = run(
        model(
            "power_rule=adaptive",
            "power_rule.imitation_rate=1",
            "power_rule.imitation_weeks=2",
            "power_rule.imitation_noise=1",
        ),
        30,
    )
    assert moving.summary()["rule_switches"] > 0
    shares = series(moving, "share_empowerment")
    assert len(set(np.round(shares, 6))) > 1


def test_dynamic_ties_form_and_dissolve_only_when_enabled():
    static = run(model("structure=hybrid", "structure.dynamic_ties=false"), 12)
    assert static.summary()["ties_formed"] == 0 and static.summary()["ties_dropped"] == 0
    dyn = run(model("structure=network", "power_rule=empowerment"), 12)
    assert dyn.summary()["ties_formed"] + dyn.summary()["ties_dropped"] > 0


def test_tie_count_respects_each_organisations_relationship_time():
    m = run(
        model("structure=network", "power_rule=empowerment", "organisations.relationship_hours=3"),
        16,
    )
    degree = (m.trust > 0).sum(axis=1)
    # Initial ties may exceed the budget; rounds drop the excess.
    assert (degree <= np.maximum(m.tie_budget(), 0)).all()


# --- responses ------------------------------------------------------------------------


def test_a_required_contract_delays_the_first_handoff_by_its_lead_time():
    lead = 6
    m = model("response=bureaucratic", f"response.contract_lead_time_weeks={lead}")
    # Pairs that already work together start under contract (tests/models/test_warmup.py);
    # here no pair has one yet, so each first handoff signs one and waits its lead time.
    m.contract_ready[:] = np.inf
    m.contract_expiry[:] = -np.inf
    while m.records == [] or m.records[-1]["handoffs"] - m.records[-1]["handoffs_failed"] == 0:
        m.step()
    ep = m.episodes
    moved = (ep.state == TRANSIT) & (ep.arrival == m.week)
    assert moved.any()
    assert ep.timer[moved].min() >= lead
    free = model("response=none")
    while free.records == [] or free.records[-1]["handoffs"] == 0:
        free.step()
    fe = free.episodes
    fmoved = (fe.state == TRANSIT) & (fe.arrival == free.week)
    assert fe.timer[fmoved].max(initial=0) < lead


def test_contracts_are_signed_once_per_pair_then_renewed():
    m = run(model("response=bureaucratic", "response.contract_duration_weeks=10"), 25)
    signed = series(m, "contracts_signed")
    assert signed[:3].sum() > 0
    assert signed[11:].sum() > 0  # renewals after expiry
    assert (
        m.summary()["cost_transaction"]
        > run(model("response=none"), 25).summary()["cost_transaction"]
    )


def test_boards_and_inspections_cost_money_on_their_schedule():
    m = run(
        model(
            "response=none",
            "response.components=[boards,inspections]",
            "response.board_interval_weeks=4",
            "response.inspection_interval_weeks=8",
        ),
        16,
    )
    n_serv = len(m.service_ids)
    assert m.summary()["inspections"] == 2 * n_serv
    base = run(model("response=none"), 16)
    board_cost = 4 * 12 * 4.0 * m.hour_gbp  # 4 boards x 12 attendees x 4 hours
    insp_cost = 2 * n_serv * 15000.0
    diff = m.summary()["cost_transaction"] - base.summary()["cost_transaction"]
    # Inspections also lower failure chance, so handoff admin differs slightly too.
    assert diff == pytest.approx(board_cost + insp_cost, rel=0.05)


def test_shared_records_raise_data_sharing_at_go_live_and_cost_an_investment():
    m = run(
        model(
            "power_rule=domination",
            "response=network",
            "response.shared_records_golive_weeks=5",
            "response.components=[shared_records,relationship_time,pooled_budget]",
        ),
        10,
    )
    lvl = series(m, "mean_data_sharing")
    assert lvl[4] == pytest.approx(0.2)
    assert lvl[6] == pytest.approx(0.6)
    conn = series(m, "cost_connection")
    assert conn[0] > conn[1] + 0.9 * 40000.0 * len(m.service_ids)


def test_hub_funding_adds_brokerage_to_the_most_influential_organisations():
    for structure in ("structure=network", "structure.dynamic_ties=false"):
        m = run(model(structure, "power_rule=empowerment", "response=network"), 8)
        influence = m.influence.copy()
        m.step()  # week 8: hubs are chosen every tie_update_weeks (4), ties moving or not
        hubs = np.flatnonzero(m.hub_bonus > 0)
        assert 0 < hubs.size <= 5
        others = m.service_ids[~np.isin(m.service_ids, hubs)]
        assert influence[hubs].min() >= influence[others].max()


# --- shocks ---------------------------------------------------------------------------


def _shock(spec: str) -> str:
    return f"scenario.shocks=[{spec}]"


def test_winter_surge_raises_demand_in_its_window_only():
    base = run(model(), 12)
    surge = run(
        model(_shock("{kind: winter_surge, at_week: 4, duration_weeks: 4, magnitude: 0.5}")), 12
    )
    b, s = series(base, "episodes_started"), series(surge, "episodes_started")
    assert (s[:4] == b[:4]).all()  # common random numbers before the shock
    assert s[4:8].sum() > 1.3 * b[4:8].sum()
    assert series(surge, "demand_multiplier")[4:8].tolist() == [1.5] * 4


def test_budget_cut_removes_that_share_of_capacity():
    m = model(_shock("{kind: budget_cut, at_week: 2, duration_weeks: 3, magnitude: 0.2}"))
    cap0 = m.cap.sum()
    run(m, 3)
    assert m.cap.sum() == pytest.approx(0.8 * cap0)
    run(m, 3)
    assert m.cap.sum() == pytest.approx(cap0)


@pytest.mark.parametrize("target", ["size", "authority", "degree", "betweenness", "random"])
def test_organisation_failure_removes_the_targeted_organisation(target):
    m = model(
        "structure=network",
        _shock(f"{{kind: org_failure, at_week: 3, target: {target}, count: 1}}"),
    )
    run(m, 3)
    before_deg = (m.trust > 0).sum(axis=1)
    before_budget = m.budget.copy()
    m.step()
    failed = m.failed_orgs
    assert len(failed) == 1 and not m.active[failed[0]]
    assert m.cap[failed[0]].sum() == 0 and (m.trust[failed[0]] == 0).all()
    ep = m.episodes
    assert not np.isin(ep.org[np.isin(ep.state, [QUEUED, SERVICE])], failed).any()
    # The sole provider of a service line never fails; among the rest the top one does.
    providers = m.offers.sum(axis=0)
    can_fail = np.array([(providers[m.offers[i]] > 1).all() for i in m.service_ids])
    eligible = m.service_ids[can_fail]
    if target == "degree":
        assert before_deg[failed[0]] == before_deg[eligible].max()
    if target == "size":
        assert before_budget[failed[0]] == before_budget[eligible].max()
    assert series(m, "active_orgs")[-1] == series(m, "active_orgs")[-2] - 1


def test_failed_gp_patients_are_registered_elsewhere():
    m = model(_shock("{kind: org_failure, at_week: 1, target: size, count: 1, kinds: [gp]}"))
    run(m, 2)
    gone = m.failed_orgs[0]
    assert m.kinds[gone] == "gp"
    assert not (m.pop.gp == gone).any()


def test_data_outage_stops_record_sharing_while_it_lasts():
    m = run(
        model(
            "power_rule=empowerment",
            "structure=network",
            _shock("{kind: data_outage, at_week: 3, duration_weeks: 3}"),
        ),
        8,
    )
    shared = series(m, "shared_records_share")
    assert (shared[3:6] == 0).all()
    assert shared[:3].min() > 0 and shared[6:].min() > 0


# --- metrics --------------------------------------------------------------------------


def test_network_and_power_metrics_are_recorded_every_week_and_summarised():
    m = run(model("structure=network", "power_rule=adaptive"), 5)
    keys = [*NETWORK_METRICS, "share_empowerment", "transaction_cost_share"]
    for k in keys:
        assert k in m.records[-1]
    s = m.summary()
    for k in ("final_density", "final_degree_gini", "final_degree_size_corr", "share_empowerment"):
        assert k in s
