"""Stage 8, learning."""

from __future__ import annotations

import math

import numpy as np

from carenet.models.arrays import nonzero_2d
from carenet.models.organisation import tie_decisions
from carenet.models.power import ask_rows, ask_values
from carenet.models.routes import route_tables

from .base import Stage


class Learning(Stage):
    """The learning stage (see :attr:`summary`)."""

    name = "learning"
    summary = (
        "trust on used ties moves with handoff outcomes; weak ties dissolve; every "
        "``tie_update_weeks`` organisations seek and drop ties by their rules; under "
        "``adaptive``, organisations imitate better-performing partners; data sharing, "
        "authority and influence are updated."
    )

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Update trust, ties, rules and power from the week's handoffs."""
        m = self.m
        cfg = m.cfg
        self._trust(rec)
        fl = m.flow_step + m.flow_step.T
        m.flow = 0.9 * m.flow + 0.1 * fl
        m.tie_succ[:] = 0.0
        m.tie_fail[:] = 0.0
        m.flow_step[:] = 0.0
        refresh_power(m)
        st = cfg.structure
        if st.dynamic_ties and t % st.tie_update_weeks == st.tie_update_weeks - 1:
            self.tie_round(rec)
        every = m.assignment.imitation_weeks
        if every and t % every == every - 1:
            self.imitation_round(rec)

    def _trust(self, rec: dict[str, float]) -> None:
        m = self.m
        h = m.cfg.handoff
        s = m.tie_succ + m.tie_succ.T
        f = m.tie_fail + m.tie_fail.T
        tot = s + f
        used = (tot > 0) & (m.trust > 0)
        if used.any():
            T = m.trust[used]
            m.trust[used] = np.clip(
                T
                + h.trust_gain * (s[used] / tot[used]) * (1 - T)
                - h.trust_loss * (f[used] / tot[used]) * T,
                1e-3,
                1.0,
            )
        weak = (m.trust > 0) & (m.trust < m.cfg.structure.dissolve_below_trust)
        if weak.any():
            rec["ties_dissolved"] += float(np.triu(weak, 1).sum())
            m.trust[weak] = 0.0

    def tie_round(self, rec: dict[str, float]) -> None:
        """Every active service organisation drops and seeks ties by its rule, at once.

        The round is simultaneous, so the order organisations are visited in decides
        nothing: the route-cost tables are first refreshed on the current trust (it
        moved, and weak ties dissolved, since this week's handoffs), every organisation
        decides on that same start-of-round view, and the decisions are then resolved
        by :func:`resolve_ties`: a tie either end drops ends; a tie one end seeks forms
        if the other end also scores it worth having and both have tie time to spare.
        """
        m = self.m
        route_tables(m)
        view = m.view()
        budget = tie_budget(m)
        n = m.n
        drop = np.zeros((n, n), dtype=bool)
        seek = np.zeros((n, n), dtype=bool)
        scores = np.zeros((n, n))
        for rule, ids in m.rule_groups():
            ids = ids[m.active[ids]]
            if ids.size:
                scores[ids] = ask_rows(rule, "tie_score_matrix", ids, view, m.week, kind="scores")
        ids = m.service_ids[m.active[m.service_ids]]
        drop[ids], seek[ids] = tie_decisions(
            m.trust[ids] > 0,
            scores[ids],
            m.service & m.active,
            ids,
            budget[ids],
            m.cfg.structure.max_new_ties,
        )
        key = m.streams.get("ties").random((n, n))
        gone, formed = resolve_ties(m.trust > 0, drop, seek, scores, budget, key + key.T)
        m.trust[gone] = 0.0
        m.trust[formed] = m.cfg.structure.new_tie_trust
        rec["ties_dropped"] += float(np.triu(gone, 1).sum())
        rec["ties_formed"] += float(np.triu(formed, 1).sum())

    def imitation_round(self, rec: dict[str, float]) -> None:
        """Organisations compare themselves to a partner and may adopt its rule (Fermi)."""
        m = self.m
        a = m.assignment
        rng = m.streams.get("adaptive")
        perf = performance(m)
        ids = m.service_ids[m.active[m.service_ids]]
        u = rng.random((ids.size, 3))
        new_rules = {}
        for k, i in enumerate(ids):
            if u[k, 0] >= a.imitation_rate:
                continue
            partners = np.flatnonzero(m.trust[i] > 0)
            if partners.size == 0:
                partners = ids[ids != i]
            j = int(partners[min(int(u[k, 1] * partners.size), partners.size - 1)])
            if m.orgs[j].rule is m.orgs[i].rule:
                continue
            x = (perf[j] - perf[i]) / a.imitation_noise
            p = 1.0 / (1.0 + math.exp(-max(min(x, 700.0), -700.0)))
            if u[k, 2] < p:
                new_rules[int(i)] = m.orgs[j].rule
        for i, rule in new_rules.items():
            m.orgs[i].rule = rule
            rec["rule_switches"] += 1
        m.perf_sent[:] = 0.0
        m.perf_fail[:] = 0.0
        m.perf_done[:] = 0.0


def tie_budget(m: object) -> np.ndarray:
    """Ties each organisation can keep.

    Relationship time over a tie's upkeep, scaled by the square root of the
    organisation's capacity relative to the median service organisation.
    """
    o = m.cfg.organisations
    hours = o.relationship_hours + m.response.extra_relationship_hours()
    capt = m.cap_base.sum(axis=1)
    med = float(np.median(capt[m.service])) if m.service.any() else 1.0
    scale = np.sqrt(np.divide(capt, med, out=np.zeros(m.n), where=med > 0))
    b = np.floor(hours / o.tie_upkeep_hours * scale + 1e-9).astype(int)
    b[~(m.service & m.active)] = 0
    return b


def resolve_ties(
    tie: np.ndarray,
    drop: np.ndarray,
    seek: np.ndarray,
    scores: np.ndarray,
    budget: np.ndarray,
    priority: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Resolve one tie round's decisions, all made on the same state; order-free.

    A tie ends if either end drops it. A tie sought by one end (or both) forms if the
    other end scores it positive too (each end's score is its own rule's view of the
    tie: worth it to both ends) and both ends have ties to spare after this round's
    drops (tie budget less the ties they keep). Where an organisation is offered more
    ties than it can keep, pairs are formed greedily by the sum of both ends' scores,
    best first; exact equal sums are broken by ``priority``, a symmetric random key from
    the ``ties`` stream (so relabelling organisations changes such outcomes only in
    distribution, never in expectation).

    Args:
        tie: [org, org] whether each tie exists now (symmetric).
        drop: [org, org] ``drop[i, j]``: i drops its tie with j.
        seek: [org, org] ``seek[i, j]``: i seeks a new tie with j.
        scores: [org, org] each row's rule's tie scores.
        budget: Ties each organisation can keep.
        priority: [org, org] symmetric tie-break keys.

    Returns:
        (gone, formed): symmetric boolean matrices of the ties ended and formed.
    """
    gone = tie & (drop | drop.T)
    spare = np.asarray(budget) - (tie & ~gone).sum(axis=1)
    want = (seek | seek.T) & ~tie & (scores > 0) & (scores.T > 0)
    a, b = nonzero_2d(np.triu(want, 1))
    value = scores[a, b] + scores[b, a]
    formed = np.zeros_like(tie)
    for k in np.lexsort((priority[a, b], -value)):
        i, j = int(a[k]), int(b[k])
        if spare[i] > 0 and spare[j] > 0:
            formed[i, j] = formed[j, i] = True
            spare[i] -= 1
            spare[j] -= 1
    return gone, formed


def performance(m: object) -> np.ndarray:
    """Each organisation's recent performance (used by adaptive imitation).

    The share of the episodes leaving it (completed, or handed on) that did not fail,
    less 0.1 x its queue relative to its capacity.
    """
    handled = m.perf_sent + m.perf_done
    ok = np.divide(handled - m.perf_fail, handled, out=np.ones(m.n), where=handled > 0)
    return ok - 0.1 * m.queue_ratio


def refresh_power(m: object) -> None:
    """Update data sharing, authority (formal) and influence (informal)."""
    view = m.view()
    boost = m.response.sharing_boost(m)
    lv = np.zeros(m.n)
    for rule, ids in m.rule_groups():
        lv[ids] = ask_values(
            rule, "data_sharing", ids, view, m.week, 0.0, 1.0, "a number from 0 to 1"
        )
    m.sharing = np.clip(lv + boost, 0.0, 1.0)
    m.sharing[~m.active] = 0.0
    maxd = max(int(m.depth.max()), 1)
    rank = 1.0 - m.depth / maxd if m.hierarchy else np.zeros(m.n)
    bmax = m.budget.max()
    bud = m.budget / bmax if bmax > 0 else np.zeros(m.n)
    m.authority = np.where(m.active, 0.5 * rank + 0.5 * bud, 0.0)
    # Influence: PageRank on the trust-weighted tie network, scaled to max 1.
    T = m.trust
    deg = T.sum(axis=1)
    if deg.sum() <= 0:
        m.influence = np.zeros(m.n)
        return
    W = np.divide(T, deg[:, None], out=np.zeros_like(T), where=deg[:, None] > 0)
    pr = np.full(m.n, 1.0 / m.n)
    dangling = deg <= 0  # the same every iteration: made once
    for _ in range(30):
        pr = 0.15 / m.n + 0.85 * (W.T @ pr + pr[dangling].sum() / m.n)
    pr[dangling] = 0.0
    m.influence = pr / pr.max() if pr.max() > 0 else pr
