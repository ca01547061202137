"""Each #17 optimisation gives what the plain computation it replaced gives.

The plain forms are written out here (a loop per organisation, ``argmin`` across the
route axis, ``lexsort`` of every queued episode, whole [4, n, n] route tables), and the
model's fast forms are compared with them, element by element.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carenet.models.model import CareSystemModel
from carenet.models.organisation import tie_decisions
from carenet.models.power import PowerRule, ask_rows
from carenet.models.routes import (
    BROKER,
    COLD,
    DIRECT,
    ESCALATION,
    _choose,
    _choose_block,
    expected_cost,
    new_tie_cost,
    pair_inputs,
    referrer_classes,
    route_tables,
    route_value,
    route_values,
    row_bounds,
)
from carenet.models.rules import Domination, Empowerment
from carenet.models.stages.admission import _first_come
from carenet.models.stages.service import activity_table
from carenet.sim.config import load_config

# --- tie decisions ------------------------------------------------------------------------


def _decide_one(tie, scores, eligible, i, budget, max_new):  # noqa: ANN001, ANN202
    """The per-organisation decision as it was written before #17 (sorted lists)."""
    elig = eligible.copy()
    elig[i] = False
    current = np.flatnonzero(tie)
    keep_order = current[np.lexsort((current, -scores[current]))]
    drop = [int(j) for j in keep_order if scores[j] <= 0]
    kept = [int(j) for j in keep_order if scores[j] > 0]
    if len(kept) > budget:
        drop += kept[budget:]
        kept = kept[:budget]
    seek: list[int] = []
    spare = budget - len(kept)
    if spare > 0 and max_new > 0:
        cand = np.flatnonzero(elig & ~tie & (scores > 0))
        cand = cand[np.lexsort((cand, -scores[cand]))]
        seek = [int(j) for j in cand[: min(spare, max_new)]]
    return drop, seek


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 25),
    max_new=st.integers(0, 4),
    levels=st.integers(1, 4),
)
def test_tie_decisions_match_the_per_organisation_rule(
    seed: int, n: int, max_new: int, levels: int
) -> None:
    rng = np.random.default_rng(seed)
    tie = rng.random((n, n)) < 0.3
    tie = tie | tie.T
    np.fill_diagonal(tie, False)
    # Few distinct score values, so that equal scores (broken by id) are common.
    scores = rng.integers(-levels, levels + 1, (n, n)).astype(float)
    eligible = rng.random(n) < 0.8
    ids = rng.permutation(n)[: rng.integers(1, n + 1)]
    budget = rng.integers(0, 6, ids.size)
    drop, seek = tie_decisions(tie[ids], scores[ids], eligible, ids, budget, max_new)
    for r, i in enumerate(ids):
        d, s = _decide_one(tie[i], scores[i], eligible, int(i), int(budget[r]), max_new)
        assert sorted(d) == list(np.flatnonzero(drop[r]))
        assert sorted(s) == list(np.flatnonzero(seek[r]))


# --- route choice -------------------------------------------------------------------------


def _choose_plain(EC: np.ndarray):  # noqa: ANN202
    route = np.argmin(EC, axis=0)
    fb = EC.copy()
    fb[BROKER] = np.inf
    alt = EC.copy()
    alt[DIRECT] = np.inf
    best = np.take_along_axis(EC, route[None], 0)[0]
    return route, np.argmin(fb, axis=0), best, alt.min(axis=0)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), nan=st.booleans())
def test_route_choice_matches_argmin(seed: int, n: int, nan: bool) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct values and many infinities: equal costs and closed routes are common.
    EC = rng.integers(0, 4, (4, n, n)).astype(float)
    EC[rng.random((4, n, n)) < 0.3] = np.inf
    if nan:
        EC[rng.random((4, n, n)) < 0.1] = np.nan
    got = _choose(EC)
    for g, w in zip(got, _choose_plain(EC), strict=True):
        np.testing.assert_array_equal(g, w)


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 6),
    n=st.integers(1, 9),
    hierarchy=st.booleans(),
    forced=st.booleans(),
    nan=st.booleans(),
)
def test_sparse_route_choice_matches_argmin_over_all_four(
    seed: int, rows: int, n: int, hierarchy: bool, forced: bool, nan: bool
) -> None:
    """Direct and broker only where open, escalation only in a hierarchy, forced pairs."""
    rng = np.random.default_rng(seed)
    EC = rng.integers(0, 4, (4, rows, n)).astype(float)  # few values: many equal costs
    EC[rng.random((4, rows, n)) < 0.15] = np.inf
    if nan:
        EC[rng.random((4, rows, n)) < 0.1] = np.nan
    open_ = rng.random((2, rows, n)) < 0.4
    EC[DIRECT][~open_[0]] = np.inf
    EC[BROKER][~open_[1]] = np.inf
    if not hierarchy:
        EC[ESCALATION] = np.inf
    force = rng.random((rows, n)) < 0.3 if hierarchy and forced else None
    sparse = [(*np.nonzero(open_[k]), EC[k][open_[k]]) for k in (DIRECT, BROKER)]
    got = _choose_block(EC[ESCALATION] if hierarchy else None, EC[COLD], *sparse, force)
    if force is not None:
        for k in (DIRECT, BROKER, COLD):
            EC[k][force] = np.inf
    for g, w in zip(got, _choose_plain(EC), strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("which", ["tiny_model", "hierarchy_model"])
def test_referrers_of_a_class_have_the_same_cold_and_new_tie_rows(which, request) -> None:  # noqa: ANN001
    m = request.getfixturevalue(which)
    pairs, _ = pair_inputs(m)
    cold = expected_cost(m, *route_value(m.cfg.handoff, pairs, COLD))  # every row priced
    reps, row_class = referrer_classes(m, pairs.share)
    assert 1 < reps.size < m.n  # classes, not one per referrer
    np.testing.assert_array_equal(cold, cold[reps][row_class])
    every_row = (np.arange(m.n), np.arange(m.n))  # each referrer its own class
    per_row = new_tie_cost(m, pairs.share, every_row)
    np.testing.assert_array_equal(new_tie_cost(m, pairs.share), per_row)
    assert np.isfinite(per_row).all()


def test_route_choice_prefers_the_first_of_equal_routes() -> None:
    EC = np.array([np.inf, 1.0, 1.0, 1.0]).reshape(4, 1, 1)
    assert _choose(EC)[0][0, 0] == BROKER
    assert _choose(EC)[1][0, 0] == ESCALATION  # the fallback skips the broker
    EC = np.array([1.0, 1.0, 1.0, 1.0]).reshape(4, 1, 1)
    assert _choose(EC)[0][0, 0] == DIRECT
    EC = np.array([np.inf, np.inf, np.inf, np.inf]).reshape(4, 1, 1)
    assert _choose(EC)[0][0, 0] == DIRECT == np.argmin(EC[:, 0, 0])
    EC = np.array([3.0, np.inf, 2.0, 2.0]).reshape(4, 1, 1)
    assert _choose(EC)[0][0, 0] == ESCALATION and _choose(EC)[3][0, 0] == 2.0
    EC = np.array([2.0, np.inf, 3.0, 1.0]).reshape(4, 1, 1)
    assert _choose(EC)[0][0, 0] == COLD


# --- route tables -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hierarchy_model() -> CareSystemModel:
    """A small hierarchy under domination, with escalation backlogs, run a few weeks."""
    cfg = load_config(
        [
            "population=small",
            "organisations=small",
            "population.size=5000",
            "structure=hierarchy",
            "power_rule=domination",
            "handoff.escalation_capacity_per_org=0.2",
            "steps=10",
            "warmup_weeks=0",
        ]
    )
    m = CareSystemModel(cfg)
    m.run(6)
    return m


@pytest.mark.parametrize("which", ["tiny_model", "hierarchy_model"])
def test_blocks_and_lookups_equal_whole_tables(which: str, request) -> None:  # noqa: ANN001
    m = request.getfixturevalue(which)
    pairs, _ = pair_inputs(m)
    h = m.cfg.handoff
    P, D, A, S = route_values(h, pairs)  # whole [4, n, n] tables
    whole = expected_cost(m, P, D, A, S)
    for rows in (slice(a, b) for a, b in row_bounds(m.n, cells=7 * m.n)):
        Pb, Db, Ab, Sb = route_values(h, pairs.take(rows))
        np.testing.assert_array_equal(expected_cost(m, Pb, Db, Ab, Sb, rows=rows), whole[:, rows])
    rts = route_tables(m)
    rng = np.random.default_rng(3)
    o = rng.integers(0, m.n, 200)
    t = rng.integers(0, m.n, 200)
    rt = rng.integers(0, 4, 200)
    p, d, a, s = rts.lookup(rt, o, t)
    np.testing.assert_array_equal(p, P[rt, o, t])
    np.testing.assert_array_equal(d, D[rt, o, t])
    np.testing.assert_array_equal(a, A[rt, o, t])
    np.testing.assert_array_equal(s, S[rt, o, t])


@pytest.mark.parametrize("which", ["tiny_model", "hierarchy_model"])
def test_route_tables_equal_a_whole_table_choice(which: str, request) -> None:  # noqa: ANN001
    """Sparse direct and broker pricing, dense escalation and cold, against all four dense."""
    from carenet.models.routes import _forced_escalation

    m = request.getfixturevalue(which)
    pairs, K = pair_inputs(m)
    EC = expected_cost(m, *route_values(m.cfg.handoff, pairs))
    EC[DIRECT][~(m.trust > 0)] = np.inf
    EC[BROKER][K < 0] = np.inf
    if not m.hierarchy:
        EC[ESCALATION] = np.inf
    else:
        force = _forced_escalation(m)
        for k in (DIRECT, BROKER, COLD):
            EC[k][force] = np.inf
    route, fallback, best, alt = _choose_plain(EC)
    rts = route_tables(m)
    np.testing.assert_array_equal(rts.route, route)
    np.testing.assert_array_equal(rts.fallback, fallback)
    np.testing.assert_array_equal(m.ec_best, best)
    np.testing.assert_array_equal(m.ec_alt, alt)
    if which == "tiny_model":  # ties, so the sparse pricing of direct ties was used
        assert np.isfinite(EC[DIRECT]).any()


@pytest.mark.parametrize("live", [False, True])
@pytest.mark.parametrize("wait", [False, True])
def test_escalation_cost_equals_the_plain_form(
    hierarchy_model: CareSystemModel, live: bool, wait: bool
) -> None:
    """Receiver-only terms once per receiver: the same bits as route_value + expected_cost.

    With records shared on some pairs and not others, live or not, and approval waits.
    """
    from dataclasses import replace

    from carenet.models.routes import escalation_cost

    m = hierarchy_model
    pairs, _ = pair_inputs(m)
    rng = np.random.default_rng(11)
    share = rng.random((m.n, m.n)) < 0.5
    w = rng.random((m.n, m.n)) * 3 if wait else None
    pairs = replace(pairs, share=share, live=live, wait=w)
    h = m.cfg.handoff
    for a, b in row_bounds(m.n, cells=5 * m.n):
        rows = slice(a, b)
        plain = expected_cost(m, *route_value(h, pairs.take(rows), ESCALATION), rows=rows)
        np.testing.assert_array_equal(escalation_cost(m, h, pairs, rows), plain)
    assert share.any() and (~share).any()


def test_step_cells_take_what_two_indices_give(tiny_model: CareSystemModel) -> None:
    from carenet.models.state import step_cells

    m = tiny_model
    rng = np.random.default_rng(5)
    pw = rng.integers(0, m.npw, 500).astype(np.int16)
    stage = (rng.random(500) * m.pw_len[pw]).astype(np.int16)
    for table in (m.step_line, m.step_weeks, m.step_cost):
        got = table.take(step_cells(m, pw, stage))
        np.testing.assert_array_equal(got, table[pw, stage])
        assert got.dtype == table.dtype
    empty = np.zeros(0, dtype=np.int16)
    assert m.step_cost.take(step_cells(m, empty, empty)).size == 0


def test_row_bounds_cover_every_row_once() -> None:
    for n in (1, 7, 151, 419):
        for cells in (1, 100, 1 << 14):
            rows = np.concatenate([np.arange(n)[a:b] for a, b in row_bounds(n, cells)])
            np.testing.assert_array_equal(rows, np.arange(n))


def test_approval_waits_enter_the_escalation_delay(hierarchy_model: CareSystemModel) -> None:
    m = hierarchy_model
    assert m.approval_backlog.any(), "the fixture should have escalations waiting"
    pairs, _ = pair_inputs(m)
    D = route_values(m.cfg.handoff, pairs)[1]
    base = m.cfg.handoff.escalation_delay_per_level * m.levels
    assert (D[ESCALATION] > base).any()


# --- vectorised rule forms ----------------------------------------------------------------


@pytest.mark.parametrize("rule", [Domination(), Empowerment(), PowerRule()])
def test_vectorised_forms_equal_the_per_organisation_forms(rule, rule_view) -> None:  # noqa: ANN001
    ids = np.flatnonzero(rule_view.service)
    esc = rule.escalation_matrix(ids, rule_view)
    ties = rule.tie_score_matrix(ids, rule_view)
    for r, i in enumerate(ids):
        np.testing.assert_array_equal(esc[r], rule.demands_escalation(int(i), rule_view))
        np.testing.assert_array_equal(ties[r], rule.tie_scores(int(i), rule_view))


class _OnlyPerOrg(PowerRule):
    """Overrides the per-organisation forms only, and answers badly for organisation 3."""

    def demands_escalation(self, org, view):  # noqa: ANN001, ANN201
        return np.ones(len(view.kind), dtype=bool) if org != 3 else np.zeros(2, dtype=bool)

    def tie_scores(self, org, view):  # noqa: ANN001, ANN201
        return np.full(len(view.kind), float(org))


def test_a_rule_with_only_per_organisation_forms_is_asked_per_organisation(rule_view) -> None:  # noqa: ANN001
    from carenet.models.errors import RuleError

    rule = _OnlyPerOrg()
    ids = np.array([0, 1, 2])
    rows = ask_rows(rule, "tie_score_matrix", ids, rule_view, 0, kind="scores")
    np.testing.assert_array_equal(rows[:, 0], [0.0, 1.0, 2.0])
    assert ask_rows(rule, "escalation_matrix", ids, rule_view, 0, kind="flags").all()
    with pytest.raises(RuleError) as err:
        ask_rows(rule, "escalation_matrix", np.array([1, 3]), rule_view, 5, kind="flags")
    assert "demands_escalation" in str(err.value) and "3" in str(err.value)


# --- admission ----------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200), groups=st.integers(1, 6))
def test_first_come_admits_the_episodes_a_full_ordering_admits(
    seed: int, n: int, groups: int
) -> None:
    rng = np.random.default_rng(seed)
    t = int(rng.integers(-3, 10))  # any weeks: the order needs only their differences
    q = np.sort(rng.choice(3 * n, size=n, replace=False))
    key = rng.integers(0, groups, n)
    arrival = rng.integers(-5, t + 1, n)
    free = rng.integers(0, n // groups + 2, groups).astype(float)
    order = np.lexsort((q, arrival, key))
    k = key[order]
    starts = np.r_[0, np.flatnonzero(k[1:] != k[:-1]) + 1]
    rank = np.arange(k.size) - np.repeat(starts, np.diff(np.r_[starts, k.size]))
    want = np.sort(q[order[rank < free[k]]])
    np.testing.assert_array_equal(np.sort(_first_come(q, key, arrival, free)), want)


# --- activity counts ----------------------------------------------------------------------


def test_activity_counts_equal_a_sum_per_episode(tiny_model: CareSystemModel) -> None:
    from carenet.models.registry import ACTIVITY
    from carenet.models.state import SERVICE

    m = tiny_model
    stage = m.stage("service")
    ep = m.episodes
    sv = np.flatnonzero(ep.state == SERVICE)
    assert sv.size > 0
    rec = {a.counter: 0.0 for a in ACTIVITY}
    stage.count_activity(sv, rec)
    table = activity_table(m.cfg.pathways.library)
    pw, st_ = ep.pw[sv], ep.stage[sv]
    first = ep.timer[sv] >= m.step_weeks[pw, st_]
    for j, a in enumerate(ACTIVITY):
        units = table[j, pw, st_]
        want = units.sum() if a.count == "units" else (units[first] > 0).sum()
        assert rec[a.counter] == float(want), a.counter


# --- referral targets ---------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 6), c=st.integers(1, 40))
def test_binary_search_counts_what_a_full_comparison_counts(seed: int, rows: int, c: int) -> None:
    from carenet.models.stages.handoffs import _count_at_or_below

    rng = np.random.default_rng(seed)
    w = rng.random((rows, c)) * (rng.random((rows, c)) < 0.7)  # zero weights repeat values
    w[:, 0] += 1e-12
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    inv = rng.integers(0, rows, 300)
    u = rng.random(300)
    if c > 1:  # exactly on an edge (below 1: the referral uniform is in [0, 1))
        edge = cum[inv[:20], rng.integers(0, c - 1, 20)]
        u[:20] = np.where(edge < 1.0, edge, u[:20])
    u[20:25] = 0.0
    want = (u[:, None] >= cum[inv]).sum(axis=1)
    np.testing.assert_array_equal(_count_at_or_below(cum, inv, u), want)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50), k=st.integers(0, 200))
def test_referrers_grouped_by_counting_equal_np_unique(seed: int, n: int, k: int) -> None:
    from carenet.models.stages.handoffs import _unique_ids

    ids = np.random.default_rng(seed).integers(0, n, k)
    src, inv = _unique_ids(ids, n)
    want_src, want_inv = np.unique(ids, return_inverse=True)
    np.testing.assert_array_equal(src, want_src)
    np.testing.assert_array_equal(inv, want_inv)


def test_new_tie_cost_equals_whole_tables(tiny_model: CareSystemModel) -> None:
    from carenet.models.routes import new_tie_cost

    m = tiny_model
    h, nt, n = m.cfg.handoff, m.cfg.structure.new_tie_trust, m.n
    share = pair_inputs(m)[0].share
    p = h.best_fail + (h.cold_fail - h.best_fail) * (1.0 - nt)
    p = np.where(share, p * h.shared_records_fail_multiplier, p)
    d = np.full((n, n), h.best_delay_weeks + (h.cold_delay_weeks - h.best_delay_weeks) * (1.0 - nt))
    a = np.full((n, n), h.direct_admin_hours)
    np.testing.assert_array_equal(new_tie_cost(m, share), expected_cost(m, p, d, a, share))


class _EmpowermentWithOwnTies(Empowerment):
    """A built-in rule's subclass that overrides only the per-organisation forms."""

    def tie_scores(self, org, view):  # noqa: ANN001, ANN201
        return np.full(len(view.kind), -1.0)

    def referral_weights(self, org, view):  # noqa: ANN001, ANN201
        return np.ones(len(view.kind))


def test_a_subclass_overriding_per_organisation_forms_is_asked_those(rule_view) -> None:  # noqa: ANN001
    """Its own ``tie_scores``/``referral_weights``, not the parent's vectorised forms."""
    from carenet.models.power import asks_per_org

    rule = _EmpowermentWithOwnTies()
    assert asks_per_org(rule, "tie_score_matrix") and asks_per_org(rule, "referral_matrix")
    assert not asks_per_org(Empowerment(), "tie_score_matrix")
    ids = np.flatnonzero(rule_view.service)[:3]
    assert (ask_rows(rule, "tie_score_matrix", ids, rule_view, 0, kind="scores") == -1.0).all()
    assert (ask_rows(rule, "referral_matrix", ids, rule_view, 0, kind="weights") == 1.0).all()


# --- hierarchy levels ---------------------------------------------------------------------


def _levels_loop(parent: np.ndarray) -> np.ndarray:
    """Escalation levels as first written: each pair's lowest common superior by a walk."""
    from carenet.models.structure import depths

    n, d = len(parent), depths(parent)
    anc = []
    for i in range(n):
        path = [i]
        while parent[path[-1]] >= 0:
            path.append(int(parent[path[-1]]))
        anc.append(path)
    out = np.zeros((n, n), dtype=np.int32)
    for i in range(n):
        ai = set(anc[i])
        for j in range(i + 1, n):
            lca = next(a for a in anc[j] if a in ai)
            out[i, j] = out[j, i] = d[i] + d[j] - 2 * d[lca]
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40))
def test_escalation_levels_equal_a_walk_up_the_tree(seed: int, n: int) -> None:
    from carenet.models.structure import escalation_levels

    rng = np.random.default_rng(seed)
    parent = np.full(n, -1)
    for i in range(1, n):
        parent[i] = rng.integers(0, i)
    perm = rng.permutation(n)  # the root anywhere, parents after or before children
    inv = np.argsort(perm)
    parent = np.where(parent[perm] >= 0, inv[np.maximum(parent[perm], 0)], -1)
    np.testing.assert_array_equal(escalation_levels(parent), _levels_loop(parent))


def test_escalation_levels_refuse_two_roots() -> None:
    from carenet.models.structure import escalation_levels

    with pytest.raises(ValueError, match="share no root"):
        escalation_levels(np.array([-1, -1, 0]))


# --- network metrics ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 130), p=st.floats(0.0, 0.2))
def test_path_length_sum_equals_scipy_shortest_paths(seed: int, n: int, p: float) -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    from carenet.models.metrics import path_length_sum

    rng = np.random.default_rng(seed)
    adj = rng.random((n, n)) < p
    adj = adj | adj.T
    np.fill_diagonal(adj, False)
    dist = shortest_path(csr_matrix(adj.astype(float)), method="D", unweighted=True)
    joined = np.isfinite(dist) & (dist > 0)
    total, pairs = path_length_sum(adj)
    assert (total, pairs) == (int(dist[joined].sum()), int(joined.sum()))
    if pairs:
        assert float(total) / pairs == float(dist[joined].mean())


# --- brokers ------------------------------------------------------------------------------


def _brokers_loop(T: np.ndarray, has: np.ndarray, ks: np.ndarray):  # noqa: ANN202
    """Each pair's best broker by a loop over brokers in id order (strict ``>``)."""
    n = T.shape[0]
    B = np.zeros((n, n))
    K = np.full((n, n), -1, dtype=np.int64)
    for k in ks:
        nb = np.flatnonzero(has[k])
        m = np.minimum(T[k, nb][:, None], T[k, nb][None, :])
        sub = B[np.ix_(nb, nb)]
        better = m > sub
        rows, cols = np.nonzero(better)
        B[nb[rows], nb[cols]] = m[rows, cols]
        K[nb[rows], nb[cols]] = k
    return B, K


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    levels=st.integers(1, 5),
    chunk=st.sampled_from([1, 7, 1 << 20]),
)
def test_broker_table_equals_a_loop_over_brokers(
    seed: int, n: int, levels: int, chunk: int
) -> None:
    from carenet.models.routes import broker_table

    rng = np.random.default_rng(seed)
    has = rng.random((n, n)) < 0.3
    has = has | has.T
    np.fill_diagonal(has, False)
    T = np.where(has, rng.integers(1, levels + 1, (n, n)) / levels, 0.0)  # equal trusts
    T = np.maximum(T, T.T) * has
    ks = np.flatnonzero(has.sum(axis=1) >= 2)
    B, K = broker_table(T, has, ks, chunk=chunk)
    Bw, Kw = _brokers_loop(T, has, ks)
    np.testing.assert_array_equal(B, Bw)
    np.testing.assert_array_equal(K, Kw)
