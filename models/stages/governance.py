"""Stage 2, governance."""

from __future__ import annotations

import math

import numpy as np

from carenet.models.power import ask_flag, ask_values
from carenet.models.schema import OrganisationsConfig
from carenet.models.state import build_entry_tables

from .base import Stage


class Governance(Stage):
    """The governance stage (see :attr:`summary`)."""

    name = "governance"
    summary = (
        "the response's fixed activities (shared-records investment and go-live, boards, "
        "inspections, hub funding) and, every 52 weeks, the budget allocation by the "
        "organisations' rules (capture, need, pooling)."
    )

    def run(self, t: int, rec: dict[str, float]) -> None:
        """The response's components act; a budget round at each year's end."""
        self.m.response.governance(self.m, t, rec)
        if t > 0 and t % 52 == 0:
            self.allocate_budget()

    def _bids(self, ids: np.ndarray, view: object, t: int) -> np.ndarray:
        bids = np.zeros(ids.size)
        for rule, group in self.m.rule_groups():
            at = np.flatnonzero(np.isin(ids, group))
            if at.size:
                bids[at] = ask_values(
                    rule,
                    "budget_bid",
                    ids[at],
                    view,
                    t,
                    0.0,
                    math.inf,
                    "a finite number >= 0 (GBP)",
                )
        return bids

    def allocate_budget(self) -> None:
        """Annual budget round: a pool (if offered) by need; the rest by bids, by stream.

        Pooled members' budgets form one pot, across funding streams, shared by need and
        changed by the pool's share of the year's change in failure cost (both signs).
        The others' bids compete within their funding stream (:data:`FUNDING_STREAMS`)
        for ``organisations.budget_ring_fence`` of its total, and across streams for the
        rest. Every budget stays within ``organisations.budget_max_change`` of the old;
        capacity follows budget.
        """
        m = self.m
        ids = np.flatnonzero(m.service & m.active)
        view = m.view()
        old = m.budget[ids].copy()
        t = m.week
        pool = m.response.pooled()
        pooled = np.array(
            [
                pool is not None and ask_flag(m.orgs[i].rule, "pools_budget", int(i), view, t)
                for i in ids
            ],
            dtype=bool,
        )
        bids = self._bids(ids, view, t)
        bonus = 0.0
        if pooled.any():
            bonus = pool.p.shared_savings_share * m.ledger.year_end()
        group = np.array([STREAM_INDEX[FUNDING_STREAMS[k]] for k in m.kinds[ids]], dtype=int)
        group[pooled] = len(STREAM_INDEX)  # the pool is a group of its own
        target = _targets(old, bids, view.need[ids], group, pooled, m.cfg.organisations)
        goal = np.bincount(group, weights=target, minlength=len(STREAM_INDEX) + 1)
        goal[-1] = old[pooled].sum() + bonus
        new = _rescale_groups(target, old, group, goal, m.cfg.organisations.budget_max_change)
        ratio = np.divide(new, old, out=np.ones_like(new), where=old > 0)
        m.cap[ids] *= ratio[:, None]
        m.budget[ids] = new
        m.pool_bonus += float(new[pooled].sum() - old[pooled].sum())
        m.ledger.roll_year()
        m.demand_weeks[:] = 0.0
        m.demand_weeks_n = 0
        build_entry_tables(m)


FUNDING_STREAMS: dict[str, str] = {
    "acute": "icb_core",
    "community": "icb_core",
    "gp": "primary_care",
    "mental_health": "mental_health",
    "social_care": "local_authority",
    "vcse": "local_authority",
}
"""The funding stream each service kind is paid from, outside a pool.

ICB core services (acute and community contracts); the delegated primary medical care
allocation, identified separately in NHS England's allocations to ICBs (GP practices);
mental health, whose spending the Mental Health Investment Standard requires to grow at
least in line with the ICB's allocation; and local-authority budgets (adult social care
under the Care Act 2014, and the council's grants to the voluntary sector). Money moves
between these streams by statute only through pooled arrangements (section 75 of the NHS
Act 2006; the Better Care Fund), which the ``pooled_budget`` component represents.
"""

STREAM_INDEX: dict[str, int] = {s: i for i, s in enumerate(dict.fromkeys(FUNDING_STREAMS.values()))}


def _share(pot: float, w: np.ndarray, old: np.ndarray) -> np.ndarray:
    """``pot`` split in proportion to ``w`` (to ``old`` where every weight is zero)."""
    w = np.maximum(w, 0.0)
    if w.sum() > 0:
        return pot * w / w.sum()
    return pot * old / old.sum() if old.sum() > 0 else np.full(w.size, pot / max(w.size, 1))


def _targets(
    old: np.ndarray,
    bids: np.ndarray,
    need: np.ndarray,
    group: np.ndarray,
    pooled: np.ndarray,
    cfg: OrganisationsConfig,
) -> np.ndarray:
    """Each organisation's budget before the bounds: pool by need, the rest by bids.

    A non-pooled organisation's target is its bid's share of its stream's ring-fenced
    part (``budget_ring_fence`` of the stream's budgets) plus its bid's share of the
    unfenced part of all non-pooled budgets.
    """
    target = np.zeros(old.size)
    if pooled.any():
        target[pooled] = _share(old[pooled].sum(), need[pooled], old[pooled])
    rest = ~pooled
    if rest.any():
        r = cfg.budget_ring_fence
        target[rest] = (1.0 - r) * _share(old[rest].sum(), bids[rest], old[rest])
        for g in np.unique(group[rest]):
            at = rest & (group == g)
            target[at] += r * _share(old[at].sum(), bids[at], old[at])
    return target


def _rescale_groups(
    target: np.ndarray, old: np.ndarray, group: np.ndarray, goal: np.ndarray, mc: float
) -> np.ndarray:
    """Bound each budget to ``old`` +/- ``mc`` and rescale each group to its goal.

    The non-pooled groups' goals are first moved within what their members' bounds
    allow, keeping their sum (money that a bound stops in one stream goes to the others,
    in proportion); the pool's goal (the last group) is only bounded.
    """
    lo, hi = old * (1 - mc), old * (1 + mc)
    k = goal.size
    glo = np.bincount(group, weights=lo, minlength=k)
    ghi = np.bincount(group, weights=hi, minlength=k)
    streams = np.arange(k - 1)
    present = np.isin(streams, group)
    if present.any():
        s = streams[present]
        goal[s] = bounded_rescale(goal[s].copy(), glo[s], ghi[s], float(goal[s].sum()))
    goal[-1] = min(max(goal[-1], glo[-1]), ghi[-1])
    new = np.zeros(old.size)
    for g in np.unique(group):
        at = group == g
        new[at] = bounded_rescale(target[at].copy(), lo[at], hi[at], float(goal[g]))
    return new


def bounded_rescale(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """Scale ``x`` to sum to ``total`` while keeping each value within [lo, hi].

    Values that hit a bound are fixed there and the rest rescaled, until none moves (the
    sum may miss ``total`` only when the bounds make it unreachable).
    """
    x = np.clip(x, lo, hi)
    free = np.ones(x.size, dtype=bool)
    for _ in range(x.size + 1):
        fixed_sum = x[~free].sum()
        fs = x[free].sum()
        if fs <= 0:
            break
        x[free] *= (total - fixed_sum) / fs
        hit = free & ((x < lo) | (x > hi))
        if not hit.any():
            break
        x = np.clip(x, lo, hi)
        free &= ~hit
    return x
