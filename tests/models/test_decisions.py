"""Decisions priced as the accounting charges, and escalation with finite approval capacity.

Issue #12, items 2 and 3: the expected cost a route decision uses equals the mean cost
then charged for a handoff by that route (scripted handoffs, fixed seed, a z-test); an
approving body beyond its weekly capacity queues approvals as documented; the capacity
parameter changes results when it binds.
"""

from __future__ import annotations

import numpy as np
import pytest

from carenet.models.ledger import (
    acute_destination,
    acute_source,
    inflation_factor,
    leaves_acute,
    unit_costs,
)
from carenet.models.model import CareSystemModel
from carenet.models.registry import REC_KEYS
from carenet.models.routes import COLD, DIRECT, ESCALATION, approval_capacity, approvers
from carenet.models.state import QUEUED, REFER, SERVICE, TRANSIT
from carenet.sim.config import load_config

from .conftest import TINY

BIG_CAP = ["handoff.escalation_capacity_per_org=1000000"]


def _model(extra: list[str]) -> CareSystemModel:
    m = CareSystemModel(load_config(TINY + extra))
    m.run(2)
    return m


def _charged(rec: dict[str, float], thr: float) -> float:
    """Money and QALYs (at the threshold) charged into ``rec``."""
    cost = sum(rec[f"cost_{c}"] for c in ("direct", "transaction", "failure", "connection"))
    return cost + thr * rec["qalys_lost"]


def _script_handoffs(m: CareSystemModel, i: int, j: int, n: int, rng: np.random.Generator):
    """Put ``n`` episodes awaiting referral at ``i``, with the mix ``j`` gets by handoff."""
    hs = m.ledger.prices.handoff_steps(m)
    sel = np.flatnonzero(m.offers[j, hs["line"]] & (hs["weight"] > 0))
    w = hs["weight"][sel] / hs["weight"][sel].sum()
    rows = sel[rng.choice(sel.size, size=n, p=w)]
    by_s = [np.flatnonzero(m.pop.stratum == s) for s in range(4)]
    pid = np.array([rng.choice(by_s[s]) for s in hs["s"][rows]])
    m.episodes.keep(np.zeros(len(m.episodes), dtype=bool))
    m.episodes.append(
        pid=pid,
        pw=hs["pw"][rows],
        stage=hs["stage"][rows],
        org=np.full(n, i),
        state=np.full(n, REFER),
        timer=np.zeros(n),
        wait=np.zeros(n),
        arrival=np.zeros(n),
        exp=np.ones(n),
        from_acute=np.zeros(n, dtype=bool),
    )


def _batch(m: CareSystemModel, i: int, j: int, n: int, rng: np.random.Generator):
    """Hand ``n`` scripted episodes from i to j; charge their transit weeks; mean cost.

    The cost is what the ledger charges (money, and QALYs lost at the threshold) plus the
    health gain the handoffs cost (at the threshold): the whole gain of the episodes that
    failed, and the part of the others' gain their weeks of delay take at completion.
    """
    ho, wt = m.stage("handoffs"), m.stage("waiting")
    ho.targets = lambda o, line, pid: np.full(o.size, j)  # the receiver is the scripted j
    strata = m.pop.stratum.copy()
    _script_handoffs(m, i, j, n, rng)
    gain_all = float(m.pw_gain[m.episodes.pw].sum())
    m.queue_line[:] = 0.0
    m.queue_ratio[:] = 0.0
    rec = dict.fromkeys(REC_KEYS, 0.0)
    m.ledger.open(rec)
    t = m.week
    ho.run(t, rec)
    route = int(m.routes.route[i, j])
    expected = float(m.ec_best[i, j])
    m.pop.set_strata(strata)  # failures' progression must not reprice later waits
    ep = m.episodes
    for k in range(1, 60):  # charge the transit weeks only: arrivals are set aside
        ep.state[ep.state == QUEUED] = SERVICE
        if not (ep.state == TRANSIT).any():
            break
        wt.run(t + k, rec)
    decay = m.cfg.health.delay_gain_decay
    gain_kept = float((m.pw_gain[ep.pw] / (1.0 + decay * ep.wait)).sum())
    del ho.targets
    thr = m.ledger.prices.thr
    return (_charged(rec, thr) + thr * (gain_all - gain_kept)) / n, expected, route


def _pair(m: CareSystemModel, src: str, dst: str) -> tuple[int, int]:
    i = int(np.flatnonzero(m.kinds == src)[0])
    j = int(np.flatnonzero(m.kinds == dst)[0])
    return i, j


@pytest.mark.parametrize(
    ("extra", "src", "dst", "tie", "route"),
    [
        (["structure=hybrid"], "acute", "community", 0.9, DIRECT),
        (["structure=hierarchy"], "gp", "community", 0.0, ESCALATION),
        (["structure=hierarchy"], "acute", "social_care", 0.0, ESCALATION),
        (["structure=network"], "gp", "vcse", 0.0, COLD),
    ],
)
def test_expected_route_cost_equals_mean_charge(extra, src, dst, tie, route) -> None:
    """The route's expected cost (the decision's) equals the mean charged, within noise."""
    m = _model(extra + BIG_CAP)
    i, j = _pair(m, src, dst)
    m.trust[i, :] = m.trust[:, i] = 0.0
    m.trust[j, :] = m.trust[:, j] = 0.0
    m.trust[i, j] = m.trust[j, i] = tie
    rng = np.random.default_rng(7)
    got = [_batch(m, i, j, 400, rng) for _ in range(25)]
    means = np.array([g[0] for g in got])
    assert {g[2] for g in got} == {route}
    expected = got[0][1]
    assert all(g[1] == pytest.approx(expected) for g in got)
    z = (means.mean() - expected) / (means.std(ddof=1) / np.sqrt(means.size))
    assert abs(z) < 4.0, (means.mean(), expected, z)


def test_wait_price_is_pair_dependent_where_the_charge_is() -> None:
    """A week's wait leaving an acute bed is priced with its bed days, elsewhere not."""
    m = _model(["structure=hybrid"])
    pr = m.ledger.prices
    W = pr.pair_wait(m)
    a, c = _pair(m, "acute", "community")
    g, _ = _pair(m, "gp", "community")
    assert leaves_acute(np.array(["acute"]), np.array(["community"]))[0]
    assert W[a, c] - W[g, c] == pytest.approx(7 * pr.night)
    # GBP 395 a night at its own price year, inflated to the run's (ledger.unit_costs).
    night = unit_costs(m.cfg)["delayed_discharge_night"]
    assert night == pytest.approx(395.0 * inflation_factor(m.cfg.costs, "2022/23"))
    assert pr.bed_week == pytest.approx(7 * night)
    assert np.array_equal(m.view().wait_price, m.ec_wait)


def _escalate(m: CareSystemModel, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    i, j = _pair(m, "gp", "community")
    o = np.full(n, i)
    tgt = np.full(n, j)
    return o, tgt, np.full(n, ESCALATION)


def test_escalation_beyond_capacity_queues_for_the_approver() -> None:
    """Beyond its weekly capacity a body's approvals queue; the backlog carries over."""
    m = _model(["structure=hierarchy", "handoff.escalation_capacity_per_org=0.2"])
    ho = m.stage("handoffs")
    o, tgt, rt = _escalate(m, 10)
    body = int(approvers(m)[o[0], tgt[0]])
    assert m.kinds[body] == "commissioner"  # GP and community report to the ICB
    cap = float(approval_capacity(m)[body])
    assert cap == pytest.approx(0.2 * 15)  # 12 GPs, an acute, a community and an MH trust
    m.approval_backlog[:] = 0.0
    extra = ho.approval_delay(o, tgt, rt)
    assert np.array_equal(extra, np.floor(np.arange(10) / cap))
    assert m.approval_backlog[body] == pytest.approx(10 - cap)
    extra2 = ho.approval_delay(o[:2], tgt[:2], rt[:2])
    assert np.array_equal(extra2, np.floor((10 - cap + np.arange(2)) / cap))
    # Decisions see the wait: escalation's expected delay includes backlog / capacity.
    from carenet.models.routes import route_tables

    rts = route_tables(m)
    before = rts.lookup(np.array([ESCALATION]), o[:1], tgt[:1])[1][0]
    base = m.cfg.handoff.escalation_delay_per_level * m.levels[o[0], tgt[0]]
    assert before == pytest.approx(base + m.approval_backlog[body] / cap)
    # Weeks with no escalation work the backlog down by the capacity.
    left = m.approval_backlog[body]
    ho.approval_delay(o[:0], tgt[:0], rt[:0])
    assert m.approval_backlog[body] == pytest.approx(max(left - cap, 0.0))


def test_no_approval_queue_without_a_hierarchy() -> None:
    """In a network there are no escalations and nothing queues."""
    m = _model(["structure=network"])
    o, tgt, rt = _escalate(m, 5)
    assert not m.stage("handoffs").approval_delay(o, tgt, rt).any()


def test_approval_capacity_is_not_inert_when_it_binds() -> None:
    """A binding approval capacity changes the run: longer waits, a worse NMB."""
    arr = ["structure=hierarchy", "power_rule=domination", "steps=16"]
    out = {}
    for cap in ("1000000", "0.5"):
        m = CareSystemModel(
            load_config(TINY + arr + [f"handoff.escalation_capacity_per_org={cap}"])
        )
        m.run(16)
        out[cap] = dict(m.summary(), _backlog=max(r["approval_backlog"] for r in m.records))
    assert out["0.5"]["net_monetary_benefit"] < out["1000000"]["net_monetary_benefit"]
    assert out["0.5"]["mean_wait_weeks"] > out["1000000"]["mean_wait_weeks"]
    # The backlog is recorded week by week (the approval_backlog time series).
    assert out["1000000"]["_backlog"] == 0.0
    assert out["0.5"]["_backlog"] > 0.0


def test_leaves_acute_is_a_source_test_and_a_destination_test() -> None:
    """Handoffs and wait prices read ``leaves_acute`` from one table of each per organisation."""
    kinds = np.array(["acute", "community", "social_care", "gp", "mental_health", "acute"])
    pairs = leaves_acute(kinds[:, None], kinds[None, :])
    assert np.array_equal(pairs, acute_source(kinds)[:, None] & acute_destination(kinds)[None, :])
    assert pairs[0, 1] and pairs[0, 2] and not pairs[0, 3] and not pairs[1, 2]
    m = _model(["structure=hybrid"])
    src, dst = m.ledger.prices.acute_ends(m)
    want = leaves_acute(m.kinds[:, None], m.kinds[None, :])
    assert want.any() and np.array_equal(src[:, None] & dst[None, :], want)
