"""Stage 4, waiting."""

from __future__ import annotations

import numpy as np

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
        ep.timer[transit] -= 1
        arrived = transit & (ep.timer <= 0)
        ep.state[arrived] = QUEUED
        ep.arrival[arrived] = t + 1  # this week was spent in transit

    def accrue_wait(self, idx: np.ndarray, rec: dict[str, float]) -> None:
        """A week of wait for episodes ``idx``: its health loss, hazard and bed days."""
        if idx.size == 0:
            return
        m = self.m
        ep, h = m.episodes, m.cfg.health
        s = m.pop.stratum[ep.pid[idx]]
        ep.wait[idx] += 1
        ep.exp[idx] -= h.experience_wait_penalty
        loss = np.asarray(h.qaly_loss_wait_per_week)[s]
        m.ledger.lose(ep.pid[idx], s, loss)
        haz = np.asarray(h.emergency_hazard_wait)[s]
        u = m.streams.get("health").random(idx.size)
        ea = u < haz
        m.ledger.emergency(ep.pid[idx][ea], s[ea])
        fa = ep.from_acute[idx]
        nights = 7.0 * fa.sum()
        rec["excess_bed_days"] += nights
        m.ledger.charge("failure", nights * m.ledger.night_gbp)
        rec["waiting"] += idx.size
