"""No mechanism silently does nothing (issue #12 item 4, and domination's budget capture).

Each test fails on the behaviour before #12: a referral bias that cancelled, a pool that
changed nothing, savings that only ratcheted up, boards that were pure cost in a tie-less
hierarchy, and a failed practice whose capacity vanished while its list moved.
"""

from __future__ import annotations

import numpy as np
import pytest

from carenet.models.model import CareSystemModel
from carenet.models.power import Domination
from carenet.sim.config import load_config

SMALL = ["population=small", "organisations=small", "population.size=8000", "warmup_weeks=0"]
EMPOWER_HIER = ["structure=hierarchy", "power_rule=empowerment"]
DOMINATE_HIER = ["structure=hierarchy", "power_rule=domination"]
FUNDING_STREAMS = {
    "acute": "icb_core",
    "community": "icb_core",
    "gp": "primary_care",
    "mental_health": "mental_health",
    "social_care": "local_authority",
    "vcse": "local_authority",
}
"""The funding streams as documented (the model's own table is checked against it)."""


def model(*overrides: str, seed: int = 3) -> CareSystemModel:
    return CareSystemModel(load_config([*SMALL, *overrides]), seed=seed)


def stream_totals(m: CareSystemModel) -> dict[str, float]:
    ids = np.flatnonzero(m.service & m.active)
    out: dict[str, float] = {}
    for i in ids:
        s = FUNDING_STREAMS[str(m.kinds[i])]
        out[s] = out.get(s, 0.0) + float(m.budget[i])
    return out


# --- 1. domination's branch bias ------------------------------------------------------


def test_branches_cut_across_service_lines():
    m = model(*DOMINATE_HIER)
    serv = m.service_ids
    kinds_per_branch = {b: set(m.kinds[serv[m.branch[serv] == b]]) for b in set(m.branch[serv])}
    assert max(len(k) for k in kinds_per_branch.values()) >= 3
    # Some line that a referrer chooses a provider for has providers in several branches.
    vcse = m.kinds == "vcse"
    assert len(set(m.branch[vcse])) >= 2


def test_branch_bias_changes_which_provider_a_referrer_chooses():
    m = model(*DOMINATE_HIER)
    view = m.view()
    gp = m.gp_ids[m.org_locality[m.gp_ids] == 1][0]
    cands = np.flatnonzero(m.kinds == "vcse")

    def shares(bias: float) -> np.ndarray:
        w = Domination(branch_bias=bias).referral_weights(int(gp), view)[cands]
        return w / w.sum()

    same = m.branch[cands] == m.branch[gp]
    assert same.any() and (~same).any()
    assert shares(8.0)[same].sum() > shares(1.0)[same].sum() + 0.05


def test_branch_bias_changes_a_result():
    def failed(bias: str) -> float:
        m = model(*DOMINATE_HIER, f"power_rule.branch_bias={bias}")
        m.run(26)
        return m.summary()["handoffs_escalation"]

    assert failed("1") != failed("8")


# --- 2. a pooled budget moves money across organisations and kinds ---------------------


def after_one_round(*overrides: str) -> CareSystemModel:
    m = model(*overrides)
    m.run(53)  # the first budget round is at week 52
    return m


def test_a_pool_moves_money_across_funding_streams_and_no_pool_does_not():
    base = model(*EMPOWER_HIER)
    before = stream_totals(base)
    alone = after_one_round(*EMPOWER_HIER, "response.components=[]")
    pool = after_one_round(
        *EMPOWER_HIER, "response.components=[pooled_budget]", "response.shared_savings_share=0"
    )
    for s, total in before.items():
        assert stream_totals(alone)[s] == pytest.approx(total, rel=1e-9)
    moved = [abs(stream_totals(pool)[s] / t - 1) for s, t in before.items()]
    assert max(moved) > 1e-3
    # Without savings returned, the pool still differs from no pool: by mechanism.
    assert not np.allclose(pool.budget, alone.budget)
    assert sum(stream_totals(pool).values()) == pytest.approx(sum(before.values()), rel=1e-9)


# --- 3. shared savings conserve money --------------------------------------------------


def pooled_model() -> CareSystemModel:
    return model(
        *EMPOWER_HIER, "response.components=[pooled_budget]", "response.shared_savings_share=1"
    )


def test_a_rise_in_failure_cost_claws_back_from_the_pool():
    m = pooled_model()
    m.run(2)
    before = m.budget.sum()
    m.ledger.failure_cost_prev_year = 1.0e6
    m.ledger.failure_cost_year = 1.2e6
    m.stage("governance").allocate_budget()
    assert m.budget.sum() == pytest.approx(before - 0.2e6, rel=1e-9)
    assert m.pool_bonus == pytest.approx(-0.2e6, rel=1e-9)


def test_noise_in_failure_cost_does_not_ratchet_budgets_up():
    m = pooled_model()
    m.run(2)
    start = m.budget.sum()
    noise = 1.0e6 + np.random.default_rng(11).normal(0.0, 5.0e4, size=12)
    m.ledger.failure_cost_year = float(noise[0])
    m.ledger.roll_year()
    for x in noise[1:]:
        m.ledger.failure_cost_year = float(x)
        m.stage("governance").allocate_budget()
    drift = m.budget.sum() - start
    # Savings and claw-backs telescope: the drift is the first year's cost less the last.
    assert drift == pytest.approx(noise[0] - noise[-1], rel=1e-6)
    ratchet = np.maximum(0.0, noise[:-1] - noise[1:]).sum()  # only savings counted (old)
    assert abs(drift) < 0.5 * ratchet


# --- 4. boards act where they meet, even in a tie-less hierarchy -----------------------


def test_boards_change_results_in_a_tie_less_hierarchy():
    runs = {}
    for comps in ("[]", "[boards]"):
        # A weak board tie is used once its trust has grown over many boards: priced as
        # the accounting charges (#12 item 2), direct beats approval only at high trust.
        # With the calibrated route delays (#13) approval is quick and that takes longer
        # than this run; at the uncalibrated approval delay (0.25 weeks a level) it comes
        # within 130 weeks.
        slow = "handoff.escalation_delay_per_level=0.25"
        m = model(*DOMINATE_HIER, slow, f"response.components={comps}")
        m.run(130)
        runs[comps] = (m, m.summary())
    (bare, s0), (board, s1) = runs["[]"], runs["[boards]"]
    assert (bare.trust > 0).sum() == 0
    assert s0["handoffs_direct"] == 0
    assert (board.trust > 0).sum() > 0
    assert s1["handoffs_direct"] > 0
    assert s1["episodes_failed"] != s0["episodes_failed"]


def test_boards_only_touch_ties_between_attendees():
    m = model("structure=hybrid", "power_rule=domination", "response.components=[boards]")
    m.run(3)
    board = next(c for c in m.response.components if c.name == "boards")
    at = board.attendees(m)
    before = m.trust.copy()
    board.governance(m, 4, m.ledger.rec)
    changed = np.argwhere(m.trust != before)
    assert changed.size > 0
    assert np.isin(changed, at).all()


# --- 5. a failed practice's capacity follows its list ---------------------------------


def test_capacity_per_registered_patient_is_kept_after_a_gp_fails():
    shock = "scenario.shocks=[{kind: org_failure, at_week: 1, target: size, count: 1, kinds: [gp]}]"
    m = model(shock)
    gp_line = np.flatnonzero(m.line_is_gp)
    m.run(1)
    cap_before = m.cap[np.ix_(m.gp_ids, gp_line)].sum(axis=1)
    budget_before = m.budget[m.gp_ids].sum()
    lists_before = np.bincount(m.pop.gp, minlength=m.n)[m.gp_ids]
    m.run(1)
    gone = m.gp_ids == m.failed_orgs[0]
    cap_after = m.cap[np.ix_(m.gp_ids, gp_line)].sum(axis=1)
    lists_after = np.bincount(m.pop.gp, minlength=m.n)[m.gp_ids]
    per_patient = cap_before.sum() / lists_before.sum()
    assert cap_after.sum() / lists_after.sum() == pytest.approx(per_patient, rel=1e-9)
    assert m.budget[m.gp_ids].sum() == pytest.approx(budget_before, rel=1e-9)
    # Each receiving practice gains the failed one's capacity per patient it took on.
    got = (lists_after - lists_before)[~gone]
    gain = (cap_after - cap_before)[~gone]
    assert got.sum() == lists_before[gone].sum() > 0
    assert np.allclose(gain, got * cap_before[gone].sum() / lists_before[gone].sum())


# --- 6. domination's budget capture, bounded by the funding streams --------------------


def test_the_funding_streams_are_as_documented():
    from carenet.models.stages.governance import FUNDING_STREAMS as model_streams

    assert model_streams == FUNDING_STREAMS


@pytest.mark.parametrize("fence", ["1", "0"])
def test_capture_crosses_funding_streams_only_beyond_the_ring_fence(fence):
    base = model(*DOMINATE_HIER)
    before = stream_totals(base)
    m = after_one_round(
        *DOMINATE_HIER, "response.components=[]", f"organisations.budget_ring_fence={fence}"
    )
    change = {s: stream_totals(m)[s] / t - 1 for s, t in before.items()}
    if fence == "1":
        assert all(abs(c) < 1e-9 for c in change.values())
    else:
        assert max(abs(c) for c in change.values()) > 1e-3
