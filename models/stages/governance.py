"""Stage 2, governance."""

from __future__ import annotations

import math

import numpy as np

from carenet.models.power import ask_flag, ask_values
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
        """Annual budget round: rules bid; a pool (if offered) shares by need."""
        m = self.m
        ids = np.flatnonzero(m.service & m.active)
        view = m.view()
        old = m.budget[ids].copy()
        total = old.sum()
        t = m.week
        pool = m.response.pooled()
        share = pool.p.shared_savings_share if pool is not None else 0.0
        pooled = np.array(
            [
                pool is not None and ask_flag(m.orgs[i].rule, "pools_budget", int(i), view, t)
                for i in ids
            ],
            dtype=bool,
        )
        bids = self._bids(ids, view, t)
        need = view.need[ids]
        target = np.zeros(ids.size)
        savings = 0.0
        if pooled.any():
            savings = m.ledger.year_end()
            pot = old[pooled].sum() + share * savings
            w = need[pooled]
            target[pooled] = pot * (w / w.sum() if w.sum() > 0 else old[pooled] / old[pooled].sum())
        rest = ~pooled
        if rest.any():
            w = np.maximum(bids[rest], 0.0)
            pot = old[rest].sum()
            target[rest] = pot * (w / w.sum() if w.sum() > 0 else old[rest] / old[rest].sum())
        mc = m.cfg.organisations.budget_max_change
        goal = total + share * savings * pooled.any()
        new = bounded_rescale(target, old * (1 - mc), old * (1 + mc), goal)
        ratio = np.divide(new, old, out=np.ones_like(new), where=old > 0)
        m.cap[ids] *= ratio[:, None]
        m.budget[ids] = new
        m.pool_bonus += share * savings * pooled.any()
        m.ledger.roll_year()
        m.demand_weeks[:] = 0.0
        m.demand_weeks_n = 0
        build_entry_tables(m)


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
