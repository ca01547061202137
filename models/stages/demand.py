"""Stage 3, demand."""

from __future__ import annotations

import numpy as np

from carenet.models.arrays import argsort_stable, distinct_small
from carenet.models.schema import STRATA
from carenet.models.state import QUEUED

from .base import Stage


class Demand(Stage):
    """The demand stage (see :attr:`summary`)."""

    name = "demand"
    summary = (
        "a few patients progress one stratum (``progression`` stream); new care episodes "
        "arise by stratum (``demand`` stream: a binomial number of each stratum's members, "
        "drawn without replacement; those already in an episode are dropped), pick a "
        "pathway and enter the queue of their first provider."
    )

    def progress_strata(self) -> None:
        """Natural progression: each week a binomial number of each stratum moves up one.

        Movers are drawn without replacement from the stratum's members (the same as each
        member moving independently), in time proportional to the movers.
        """
        pop = self.m.pop
        rng = self.m.streams.get("progression")
        p_week = 1.0 - (1.0 - np.asarray(self.m.cfg.population.progression_per_year)) ** (1 / 52)
        movers = [
            _draw_members(rng, pop.members(s), p_week[s])
            for s in range(len(STRATA) - 1)
            if p_week[s] > 0
        ]
        if movers:
            pop.move(np.concatenate(movers), 1)

    def _entry(self, new: np.ndarray, line0: np.ndarray) -> np.ndarray:
        """First provider of each new episode: the GP, or a covering provider by capacity."""
        m = self.m
        pop = m.pop
        # Everyone's GP, then the arrivals whose first line is not a GP's overwritten:
        # one ordered gather, not a masked gather and scatter.
        org = pop.gp.take(new)
        other = np.flatnonzero(~m.line_is_gp[line0])
        if other.size:
            ue = m.streams.get("entry").random(other.size)
            loc = pop.locality[new[other]]
            key = loc.astype(np.int64) * m.nl + line0[other]
            # Grouped by one stable sort (each group keeps its arrivals' order), not a
            # pass over every arrival per (locality, line).
            order = argsort_stable(key)
            ks = key[order]
            cut = [0, *(np.flatnonzero(ks[1:] != ks[:-1]) + 1).tolist(), ks.size]
            for lo, hi in zip(cut[:-1], cut[1:], strict=True):
                k = int(ks[lo])
                grp = order[lo:hi]
                cands = m.entry_cands[(k // m.nl, k % m.nl)]
                cum = m.entry_cum[(k // m.nl, k % m.nl)]
                org[other[grp]] = cands[np.searchsorted(cum, ue[grp], side="right")]
        return org

    def arrivals(self) -> tuple[np.ndarray, np.ndarray]:
        """This week's new episodes: the patients, and a uniform each to pick the pathway.

        Per stratum, the number of patients with a need this week is binomial (members,
        weekly rate) and they are drawn without replacement from the stratum's members:
        the same as one independent chance per patient, at a cost proportional to the
        episodes. Every arrival draws its pathway uniform, and only then are those already
        in an episode dropped, so the ``demand`` stream's use depends only on the strata.

        Returns:
            The patients whose episodes start (sorted ids) and their pathway uniforms.
        """
        m = self.m
        pop = m.pop
        rate = np.asarray(m.cfg.population.episode_rate_per_year) / 52.0 * m.demand_mult
        rate = np.minimum(rate, 1.0)
        rng = m.streams.get("demand")
        drawn = [_draw_members(rng, pop.members(s), rate[s]) for s in range(len(STRATA))]
        arrived = np.sort(np.concatenate(drawn))
        v = rng.random(arrived.size)
        keep = ~pop.in_episode[arrived]
        return arrived.compress(keep), v.compress(keep)  # compress: as [keep], faster

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Progression, then new episodes into their first provider's queue."""
        m = self.m
        self.progress_strata()
        pop = m.pop
        new, v = self.arrivals()
        if new.size == 0:
            return
        s = pop.stratum[new]
        pw = np.minimum(_pick_pathways(m.pw_cum, s, v), m.npw - 1).astype(np.int16)
        org = self._entry(new, m.step_line[:, 0].take(pw))
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


def _draw_members(rng: np.random.Generator, members: np.ndarray, p: float) -> np.ndarray:
    """Each of ``members`` independently with chance ``p``: a binomial count, then a draw.

    Args:
        rng: The stream to draw from.
        members: The candidates (one stratum's members).
        p: The chance of each, in [0, 1].

    Returns:
        The chosen members (a new array), in the order drawn.
    """
    n = members.size
    if n == 0 or p <= 0:
        return members[:0].copy()
    k = int(rng.binomial(n, p))
    return members[rng.choice(n, size=k, replace=False)] if k else members[:0].copy()


def _pick_pathways(cum: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pathway of each arrival: the number of its stratum's cumulative shares at or below ``v``.

    Args:
        cum: Cumulative pathway shares, ``[stratum, pathway]`` (non-decreasing rows).
        s: Stratum of each arrival.
        v: Uniform of each arrival.

    Returns:
        Pathway indices (one per arrival; ``npw`` where ``v`` is at or above the last).
    """
    pw = np.empty(v.size, dtype=np.int64)
    for k in distinct_small(s):
        sel = np.flatnonzero(s == k)
        pw[sel] = np.searchsorted(cum[k], v[sel], side="right")
    return pw
