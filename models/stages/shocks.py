"""Stage 1, shocks."""

from __future__ import annotations

from typing import Any

import numpy as np

from carenet.models.schema import SERVICE_KINDS
from carenet.models.state import REFER, build_entry_tables, refresh_hierarchy

from .base import Stage


class Shocks(Stage):
    """The shocks stage (see :attr:`summary`)."""

    name = "shocks"
    summary = (
        "start or end scheduled shocks (demand surge, budget cut, organisation failure, "
        "data-sharing outage)."
    )

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Apply the shocks on at week ``t``."""
        m = self.m
        mult = 1.0
        outage = False
        for s in m.shocks:
            start, dur = s["at_week"], s["duration_weeks"]
            on = t >= start and (dur == 0 or t < start + dur)
            if s["kind"] == "winter_surge" and on:
                mult *= 1.0 + s["magnitude"]
            elif s["kind"] == "data_outage" and on:
                outage = True
            elif s["kind"] == "budget_cut":
                if t == start:
                    factor = 1.0 - s["magnitude"]
                    m.cap *= factor
                    m.budget *= factor
                    rec["shock_events"] += 1
                elif dur and t == start + dur:
                    factor = 1.0 / (1.0 - s["magnitude"])
                    m.cap *= factor
                    m.budget *= factor
                    rec["shock_events"] += 1
            elif s["kind"] == "org_failure" and t == start:
                self.fail_orgs(s)
                rec["shock_events"] += 1
        m.demand_mult = mult
        m.outage = outage

    def _scores(self, target: str, cand: np.ndarray) -> np.ndarray:
        m = self.m
        if target == "random":
            return m.streams.get("shocks").random(cand.size)
        if target == "size":
            return m.budget[cand]
        if target == "authority":
            return m.authority[cand]
        if target == "degree":
            return (m.trust[cand] > 0).sum(axis=1).astype(float)
        import networkx as nx  # betweenness

        g = nx.Graph()
        g.add_nodes_from(int(i) for i in m.service_ids[m.active[m.service_ids]])
        a, b = np.nonzero(np.triu(m.trust > 0, 1))
        g.add_edges_from(zip(a.tolist(), b.tolist(), strict=True))
        bc = nx.betweenness_centrality(g)
        return np.array([bc.get(int(i), 0.0) for i in cand])

    def fail_orgs(self, s: dict[str, Any]) -> None:
        """Close the ``count`` highest-scoring organisations (never a line's last one)."""
        m = self.m
        kinds = s["kinds"] or list(SERVICE_KINDS)
        cand = np.flatnonzero(m.service & m.active & np.isin(m.kinds, kinds))
        if cand.size == 0:
            return
        score = self._scores(s["target"], cand)
        order = cand[np.lexsort((cand, -score))]
        failed = []
        for o in order:
            if len(failed) >= s["count"]:
                break
            lines = np.flatnonzero(m.offers[o])
            others = m.offers[:, lines] & m.active[:, None]
            others[o] = False
            if (others.sum(axis=0) == 0).any():
                continue  # never remove the last provider of a service line
            failed.append(int(o))
            self._close(int(o))
        if failed:
            refresh_hierarchy(m)
            build_entry_tables(m)
            ep = m.episodes
            at = np.isin(ep.org, failed)
            # Episodes at (or travelling to) a failed organisation must be re-referred.
            ep.state[at] = REFER
            ep.timer[at] = 0
        m.failed_orgs = m.failed_orgs + failed

    def _close(self, o: int) -> None:
        m = self.m
        held = (m.cap[o].copy(), m.cap_base[o].copy(), float(m.budget[o]))
        m.active[o] = False
        m.cap[o] = 0.0
        m.cap_base[o] = 0.0
        m.budget[o] = 0.0
        m.trust[o, :] = 0.0
        m.trust[:, o] = 0.0
        children = np.flatnonzero(m.parent == o)
        m.parent[children] = m.parent[o]
        if m.kinds[o] == "gp":
            self._reregister(o, *held)

    def _reregister(self, gp: int, cap: np.ndarray, cap_base: np.ndarray, budget: float) -> None:
        """Register a failed practice's patients elsewhere; its capacity follows them.

        Each patient joins another active practice of the locality (any active practice
        if none is left there), drawn in proportion to size; each receiving practice
        gains the failed one's capacity and budget in proportion to the patients it
        received, so capacity per registered patient is kept (the list is served by the
        practices that take it on, as when NHS England disperses a closing practice's list
        and its funding follows the patients under the GMS capitation).
        """
        m = self.m
        pop = m.pop
        members = np.flatnonzero(pop.gp == gp)
        loc = m.org_locality[gp]
        alt = m.gp_ids[m.active[m.gp_ids] & (m.org_locality[m.gp_ids] == loc)]
        if alt.size == 0:
            alt = m.gp_ids[m.active[m.gp_ids]]
        u = m.streams.get("shocks").random(members.size)
        w = m.size[alt] / m.size[alt].sum()
        cum = np.cumsum(w)
        cum[-1] = 1.0
        pop.gp[members] = alt[np.searchsorted(cum, u, side="right")]
        got = np.bincount(pop.gp[members], minlength=m.n)[alt].astype(float)
        share = got / got.sum() if got.sum() > 0 else w
        m.cap[alt] += share[:, None] * cap[None, :]
        m.cap_base[alt] += share[:, None] * cap_base[None, :]
        m.budget[alt] += share * budget
