"""Stage 4, waiting."""

from __future__ import annotations

import numpy as np

from carenet.models.ledger import BED_NIGHTS_PER_WEEK
from carenet.models.state import QUEUED, TRANSIT

from .base import Stage


class Waiting(Stage):
    """The waiting stage (see :attr:`summary`)."""

    name = "waiting"
    summary = (
        "episodes in handoff transit count down and join their receiver's queue; every "
        "episode waiting this week (in a queue or in transit) accrues a week of wait, health "
        "loss, emergency-admission hazard and, if it is leaving an acute bed, excess bed "
        "days."
    )

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Accrue a week's wait; move arrivals from transit into queues."""
        ep = self.m.episodes
        if len(ep) == 0:
            return
        transit = ep.state == TRANSIT
        # Waiting this week: in transit, or queued since an earlier week and not admitted
        # then (this week's demand and arrivals may be admitted before any wait accrues).
        waiting = np.flatnonzero(transit | ((ep.state == QUEUED) & (ep.arrival < t)))
        self.accrue_wait(waiting, rec)
        # By index, not by mask: a boolean index was 2-3 times slower here.
        moving = np.flatnonzero(transit)
        left = ep.timer[moving] - 1  # int16, as the column: the same as ``-= 1``
        ep.timer[moving] = left
        arrived = moving.compress(left <= 0)
        ep.state[arrived] = QUEUED
        ep.arrival[arrived] = t + 1  # this week was spent in transit

    def accrue_wait(self, idx: np.ndarray, rec: dict[str, float]) -> None:
        """A week of wait for episodes ``idx``: its health loss, hazard and bed days.

        Priced by the ledger's :class:`~carenet.models.ledger.Prices`, the figures route
        choice and the rules decide on.
        """
        if idx.size == 0:
            return
        m = self.m
        ep, pr = m.episodes, m.ledger.prices
        pid = ep.pid[idx]
        s = m.pop.stratum[pid]
        ep.wait[idx] += 1
        ep.exp[idx] -= m.cfg.health.experience_wait_penalty
        m.ledger.lose(pid, s, pr.wait_qaly[s])
        u = m.streams.get("health").random(idx.size)
        ea = u < pr.wait_hazard[s]
        m.ledger.emergency(pid.compress(ea), s.compress(ea))
        fa = float(ep.from_acute[idx].sum())
        rec["excess_bed_days"] += fa * BED_NIGHTS_PER_WEEK
        m.ledger.charge("failure", pr.bed_days(fa))
        rec["waiting"] += idx.size
