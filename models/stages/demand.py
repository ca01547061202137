"""Stage 3, demand."""

from __future__ import annotations

import numpy as np

from carenet.models.schema import STRATA
from carenet.models.state import QUEUED

from .base import Stage


class Demand(Stage):
    """The demand stage (see :attr:`summary`)."""

    name = "demand"
    summary = (
        "a few patients progress one stratum (``progression`` stream); new care episodes "
        "arise per patient by stratum (one uniform per patient per week from the ``demand`` "
        "stream), pick a pathway and enter the queue of their first provider."
    )

    def progress_strata(self) -> None:
        """Natural progression: each week a binomial number of each stratum moves up one."""
        pop = self.m.pop
        rng = self.m.streams.get("progression")
        p_week = 1.0 - (1.0 - np.asarray(self.m.cfg.population.progression_per_year)) ** (1 / 52)
        movers = []
        for s in range(len(STRATA) - 1):
            if p_week[s] <= 0:
                continue
            members = np.flatnonzero(pop.stratum == s)
            k = rng.binomial(members.size, p_week[s])
            if k:
                movers.append(np.unique(members[rng.integers(0, members.size, k)]))
        for mv in movers:
            pop.stratum[mv] += 1

    def _entry(self, new: np.ndarray, line0: np.ndarray) -> np.ndarray:
        """First provider of each new episode: the GP, or a covering provider by capacity."""
        m = self.m
        pop = m.pop
        org = np.empty(new.size, dtype=np.int32)
        gp_first = m.line_is_gp[line0]
        org[gp_first] = pop.gp[new[gp_first]]
        other = np.flatnonzero(~gp_first)
        if other.size:
            ue = m.streams.get("entry").random(other.size)
            loc = pop.locality[new[other]]
            key = loc.astype(np.int64) * m.nl + line0[other]
            for k in np.unique(key):
                sel = other[key == k]
                cands = m.entry_cands[(int(k // m.nl), int(k % m.nl))]
                cum = m.entry_cum[(int(k // m.nl), int(k % m.nl))]
                org[sel] = cands[np.searchsorted(cum, ue[key == k], side="right")]
        return org

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Progression, then new episodes into their first provider's queue."""
        m = self.m
        self.progress_strata()
        pop = m.pop
        rate = np.asarray(m.cfg.population.episode_rate_per_year) / 52.0 * m.demand_mult
        rate = np.minimum(rate, 1.0)
        u = m.streams.get("demand").random(pop.size, dtype=np.float32)
        r = rate[pop.stratum]
        new = np.flatnonzero((u < r) & ~pop.in_episode)
        if new.size == 0:
            return
        s = pop.stratum[new]
        v = u[new] / r[new]  # uniform on [0, 1) given arrival: reused to pick the pathway
        pw = (v[:, None] >= m.pw_cum[s]).sum(axis=1).astype(np.int16)
        pw = np.minimum(pw, m.npw - 1)
        org = self._entry(new, m.step_line[pw, 0])
        pop.in_episode[new] = True
        n = new.size
        m.episodes.append(
            pid=new,
            pw=pw,
            stage=np.zeros(n),
            org=org,
            state=np.full(n, QUEUED),
            timer=np.zeros(n),
            wait=np.zeros(n),
            arrival=np.full(n, t),
            exp=np.ones(n),
            from_acute=np.zeros(n, dtype=bool),
        )
        rec["episodes_started"] += n
        m.ledger.totals["strat_started"] += np.bincount(s, minlength=len(STRATA))
