r"""The ledger: the one place every cost and QALY of the model is charged.

Every stage charges through :class:`Ledger` (``grep -n "ledger\\." models/`` finds every
charge): costs by category (``direct``: care delivered; ``transaction``: contracting,
boards, inspections and handoff admin; ``failure``: the consequences of failed care;
``connection``: shared records, hubs and tie upkeep) and QALYs gained and lost. The
prices decisions are made with (what a failure, a week's delay, an admin hour and a tie
cost) are computed here too, by the same figures that charge them, so that no agent
underprices what the accounting charges.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from carenet.models.schema import STRATA, CarenetConfig

if TYPE_CHECKING:
    from .population import Population

COST_CATEGORIES: tuple[str, ...] = ("direct", "transaction", "failure", "connection")
"""The cost categories, in the order ``cost_total`` adds them."""


class Ledger:
    """Charges costs and QALYs into the week's record and the run's totals.

    Args:
        cfg: The configuration (unit costs, health effects, threshold).
        pop: The population, whose health the QALY entries move.

    Attributes:
        hour_gbp: Cost of one professional hour.
        night_gbp: Cost of one delayed-discharge night.
        ea_cost: Cost of an emergency admission, per stratum.
        fail_cost: Expected monetary weight of one failed handoff (for decisions).
        wait_cost: Expected monetary weight of one week's delay (for decisions).
        tie_cost: Weekly upkeep of one side of a tie.
        failure_cost_year: Failure cost charged since the last budget round.
        failure_cost_prev_year: The same for the year before (NaN before the first).
        totals: Per-stratum QALYs gained and lost, episodes started and failed.
    """

    def __init__(self, cfg: CarenetConfig, pop: Population) -> None:
        self.cfg = cfg
        self.pop = pop
        self.rec: dict[str, float] = {}
        costs = cfg.costs.items
        self.hour_gbp = float(costs["professional_hour"]["gbp"])
        self.night_gbp = float(costs["delayed_discharge_night"]["gbp"])
        h = cfg.health
        self.ea_cost = np.where(
            np.arange(len(STRATA)) >= h.emergency_long_stay_from,
            float(costs["nonelective_long_stay"]["gbp"]),
            float(costs["nonelective_short_stay"]["gbp"]),
        )
        self._prices()
        self.tie_cost = cfg.organisations.tie_upkeep_hours * self.hour_gbp
        self.failure_cost_year = 0.0
        self.failure_cost_prev_year = math.nan
        self.totals: dict[str, Any] = {
            "strat_gain": np.zeros(len(STRATA)),
            "strat_loss": np.zeros(len(STRATA)),
            "strat_started": np.zeros(len(STRATA)),
            "strat_failed": np.zeros(len(STRATA)),
            "ended": 0,
            "ended_wait": 0.0,
            "exp_sum": 0.0,
            "on_time": 0,
            "continuity": 0.0,
            "handoffs": 0,
        }

    def _prices(self) -> None:
        """Expected monetary weight of a failed handoff and of one week's delay.

        Used by route choice and by empowerment's outcome scoring (derived from the same
        figures the ledger charges, not free parameters).
        """
        cfg, h = self.cfg, self.cfg.health
        thr = cfg.costs.threshold_gbp_per_qaly
        shares = np.asarray(cfg.population.stratum_shares) * np.asarray(
            cfg.population.episode_rate_per_year
        )
        wts = shares / shares.sum() if shares.sum() > 0 else np.full(len(STRATA), 0.25)
        emergency = self.ea_cost + h.qaly_loss_emergency * thr
        self.fail_cost = float(
            (
                wts
                * (
                    np.asarray(h.qaly_loss_failure) * thr
                    + np.asarray(h.emergency_prob_failure) * emergency
                )
            ).sum()
        )
        self.wait_cost = float(
            (
                wts
                * (
                    np.asarray(h.qaly_loss_wait_per_week) * thr
                    + np.asarray(h.emergency_hazard_wait) * emergency
                )
            ).sum()
        )

    # --- the week ---------------------------------------------------------------------
    def open(self, rec: dict[str, float]) -> None:
        """Start charging into ``rec``, the record of the week now running."""
        self.rec = rec

    def charge(self, category: str, gbp: float) -> None:
        """Charge ``gbp`` to a cost category (see :data:`COST_CATEGORIES`)."""
        self.rec[f"cost_{category}"] += gbp
        if category == "failure":
            self.failure_cost_year += gbp

    def gain(self, pid: np.ndarray, s: np.ndarray, gain: np.ndarray) -> None:
        """QALYs gained by patients ``pid`` (strata ``s``)."""
        np.add.at(self.pop.health, pid, gain.astype(np.float32))
        self.rec["qalys_gained"] += float(gain.sum())
        self.totals["strat_gain"] += np.bincount(s, weights=gain, minlength=len(STRATA))

    def lose(self, pid: np.ndarray, s: np.ndarray, loss: np.ndarray) -> None:
        """QALYs lost by patients ``pid`` (strata ``s``)."""
        np.subtract.at(self.pop.health, pid, loss.astype(np.float32))
        self.rec["qalys_lost"] += float(loss.sum())
        self.totals["strat_loss"] += np.bincount(s, weights=loss, minlength=len(STRATA))

    def emergency(self, pid: np.ndarray, s: np.ndarray) -> None:
        """Emergency admissions of patients ``pid``: their cost and their QALY loss."""
        if pid.size == 0:
            return
        self.rec["emergency_admissions"] += pid.size
        self.charge("failure", float(self.ea_cost[s].sum()))
        self.lose(pid, s, np.full(pid.size, self.cfg.health.qaly_loss_emergency))

    def close(self, rec: dict[str, float]) -> None:
        """The week's totals: cost, net QALYs and net monetary benefit."""
        rec["cost_total"] = (
            rec["cost_direct"]
            + rec["cost_transaction"]
            + rec["cost_failure"]
            + rec["cost_connection"]
        )
        rec["qalys_net"] = rec["qalys_gained"] - rec["qalys_lost"]
        thr = self.cfg.costs.threshold_gbp_per_qaly
        rec["net_monetary_benefit"] = thr * rec["qalys_net"] - rec["cost_total"]

    def year_end(self) -> float:
        """Close the budget year; return its failure-cost savings on the year before.

        Both-signed: a year whose failure cost rose returns a negative saving (a claw
        back), so that noise in failure cost alone does not ratchet budgets up.
        """
        if math.isnan(self.failure_cost_prev_year):
            return 0.0
        return self.failure_cost_prev_year - self.failure_cost_year

    def roll_year(self) -> None:
        """Start a new budget year."""
        self.failure_cost_prev_year = self.failure_cost_year
        self.failure_cost_year = 0.0
