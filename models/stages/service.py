"""Stage 6, service."""

from __future__ import annotations

import numpy as np

from carenet.models.arrays import take_2d
from carenet.models.registry import ACTIVITY
from carenet.models.schema import STRATA
from carenet.models.state import QUEUED, REFER, SERVICE, step_cells

from .base import Stage


class Service(Stage):
    """The service stage (see :attr:`summary`)."""

    name = "service"
    summary = (
        "episodes in service incur direct cost; a finished step completes the episode (health "
        "gain, reduced by its delay) or moves it on, in-house if the provider offers the next "
        "line, else to referral; the activity delivered is counted by cost item (GP "
        "consultations, A&E attendances, admissions, contacts, social care episodes)."
    )

    def __init__(self, model: object) -> None:
        super().__init__(model)  # type: ignore[arg-type]
        self.activity = activity_table(self.m.cfg.pathways.library)

    def run(self, t: int, rec: dict[str, float]) -> None:
        """A week of service; finished steps complete or move on."""
        m = self.m
        ep = m.episodes
        sv = np.flatnonzero(ep.state == SERVICE)
        if sv.size == 0:
            return
        cell = step_cells(m, ep.pw[sv], ep.stage[sv])
        m.ledger.charge("direct", float(m.step_cost.take(cell).sum()))
        self.count_activity(sv, rec, cell)
        left = ep.timer[sv] - 1  # int16, as the column: the same as ``timer[sv] -= 1``
        ep.timer[sv] = left
        # Masks select by ``compress``: a boolean index was 2-3 times slower here.
        done = sv.compress(left <= 0)
        if done.size == 0:
            return
        last = ep.stage[done] + 1 >= m.pw_len[ep.pw[done]]
        self.complete(done.compress(last), rec)
        nxt = done.compress(~last)
        ep.stage[nxt] += 1
        line = take_2d(m.step_line, ep.pw[nxt], ep.stage[nxt])
        pid = ep.pid[nxt]
        own_gp = m.line_is_gp[line] & (m.pop.gp[pid] == ep.org[nxt])
        in_house = (take_2d(m.offers, ep.org[nxt], line) & ~m.line_is_gp[line]) | own_gp
        stay = nxt.compress(in_house)
        ep.state[stay] = QUEUED
        ep.arrival[stay] = t + 1
        ep.state[nxt.compress(~in_house)] = REFER
        rec["in_house_transfers"] += float(in_house.sum())

    def count_activity(
        self, sv: np.ndarray, rec: dict[str, float], cell: np.ndarray | None = None
    ) -> None:
        """Count this week's activity of episodes ``sv`` in service (see :data:`ACTIVITY`).

        Episodes are counted per pathway step, then weighted by each step's units: the
        sum over the episodes, in time proportional to them once, not once per counter
        (exact, as a sum in episode order is, for whole or binary-fraction units).
        ``cell``: the episodes' :func:`~carenet.models.state.step_cells`, if already made.
        """
        m = self.m
        ep = m.episodes
        if cell is None:
            cell = step_cells(m, ep.pw[sv], ep.stage[sv])
        first = ep.timer[sv] >= m.step_weeks.take(cell)  # the step's first week of service
        _, npw, steps = self.activity.shape
        weeks = np.bincount(cell, minlength=npw * steps)
        starts = np.bincount(cell.compress(first), minlength=npw * steps)
        for j, a in enumerate(ACTIVITY):
            units = self.activity[j].ravel()
            n = weeks @ units if a.count == "units" else starts @ (units > 0)
            rec[a.counter] += float(n)

    def complete(self, idx: np.ndarray, rec: dict[str, float]) -> None:
        """Complete episodes ``idx``: health gain, experience, possible recovery."""
        if idx.size == 0:
            return
        m = self.m
        ep, h, pop = m.episodes, m.cfg.health, m.pop
        pid = ep.pid[idx]
        s = pop.stratum[pid]
        gain = m.pw_gain[ep.pw[idx]] / (1.0 + h.delay_gain_decay * ep.wait[idx])
        m.ledger.gain(pid, s, gain)
        rec["episodes_completed"] += idx.size
        rec["completed_on_time"] += float((ep.wait[idx] <= h.on_time_weeks).sum())
        np.add.at(m.perf_done, ep.org[idx], 1.0)
        rec["_exp_sum"] += float(np.clip(ep.exp[idx], 0, 1).sum())  # failed episodes add 0
        rec["_wait_sum"] += float(ep.wait[idx].sum())
        rec["_ended"] += idx.size
        # Recovery: a completed episode may move the patient down one stratum.
        p = np.asarray(m.cfg.population.recovery_on_completion)[s]
        u = m.streams.get("health").random(idx.size)
        down = (u < p) & (s > 0)
        pop.move(pid.compress(down), -1)
        pop.in_episode[pid] = False
        ep.state[idx] = -1


def end_failed(m: object, idx: np.ndarray, rec: dict[str, float]) -> None:
    """End failed episodes ``idx``: QALY loss, possible emergency admission, progression.

    Priced by the ledger's :class:`~carenet.models.ledger.Prices` (``fail_s`` is the
    expected cost decisions weigh a failure at).
    """
    ep, pr, pop = m.episodes, m.ledger.prices, m.pop
    pid = ep.pid[idx]
    s = pop.stratum[pid]
    m.ledger.lose(pid, s, pr.fail_qaly[s])
    u = m.streams.get("health").random((idx.size, 2))
    ea = u[:, 0] < pr.fail_emergency[s]
    m.ledger.emergency(pid.compress(ea), s.compress(ea))
    up = (u[:, 1] < np.asarray(m.cfg.population.progression_on_failure)[s]) & (s < 3)
    pop.move(pid.compress(up), 1)
    rec["episodes_failed"] += idx.size
    m.ledger.totals["strat_failed"] += np.bincount(s, minlength=len(STRATA))
    rec["_wait_sum"] += float(ep.wait[idx].sum())
    rec["_ended"] += idx.size
    pop.in_episode[pid] = False
    ep.state[idx] = -1


def activity_table(library: list[dict]) -> np.ndarray:
    """Units per service week of each :data:`ACTIVITY` counter, by pathway and step.

    Args:
        library: The pathway library (``pathways.library``).

    Returns:
        An array ``[activity, pathway, step]``: the step's units where its cost item is
        one the activity counts, else 0.
    """
    maxlen = max(len(p["steps"]) for p in library)
    table = np.zeros((len(ACTIVITY), len(library), maxlen))
    for j, a in enumerate(ACTIVITY):
        for i, p in enumerate(library):
            for k, step in enumerate(p["steps"]):
                if step["item"] in a.items:
                    table[j, i, k] = float(step["units"])
    return table
