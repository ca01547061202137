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
from carenet.params import ConfigError

if TYPE_CHECKING:
    from .population import Population

COST_CATEGORIES: tuple[str, ...] = ("direct", "transaction", "failure", "connection")
"""The cost categories, in the order ``cost_total`` adds them."""


LEAVES_ACUTE_TO: tuple[str, ...] = ("community", "social_care")
"""Receiver kinds for which a handoff from an acute trust is a discharge: the patient's
waiting weeks until admitted there are excess bed days."""

BED_NIGHTS_PER_WEEK = 7.0
"""Nights of delayed discharge one week of waiting to leave an acute bed adds."""


PRICED_PARAMS: tuple[str, ...] = (
    "contract_setup_gbp",
    "contract_renewal_gbp",
    "inspection_cost_gbp",
    "shared_records_investment_gbp",
    "shared_records_running_gbp",
    "hub_funding_gbp",
)
"""The money parameters outside ``costs.items`` (``response.*``): stated at the prices of
``response.price_year`` and inflated here, with the same index as the unit costs
(:func:`response_prices`). ``costs.threshold_gbp_per_qaly`` is not among them: it is a
value judgement (NICE's), not a price, and is not inflated."""


def inflation_factor(costs: Any, year: str, what: str = "the price year of a cost item") -> float:
    """The factor that inflates a cost of price year ``year`` to ``costs.price_year``.

    Args:
        costs: The ``costs`` configuration (``price_year`` and ``inflation_index``).
        year: The price year of the cost (a key of ``inflation_index``).
        what: What ``year`` is, for the message (a key such as ``response.price_year``).

    Raises:
        ConfigError: If either year has no positive index value.
    """
    index = costs.inflation_index
    for key, y in (("costs.price_year", costs.price_year), (what, year)):
        v = index.get(str(y))
        if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0:
            allowed = ", ".join(sorted(map(str, index))) or "none"
            raise ConfigError(
                f"{key}: {y!r} has no positive value in costs.inflation_index; "
                f"expected one of its years ({allowed}), or add the year's index value"
            )
    return float(index[str(costs.price_year)]) / float(index[str(year)])


def unit_costs(cfg: CarenetConfig) -> dict[str, float]:
    """Every unit cost inflated to the price year: gbp x index[price_year] / index[its year].

    The one place unit costs are read for charging (the ledger, :class:`Prices` and the
    pathways' step costs), so that no cost is charged at another price year.
    """
    costs = cfg.costs
    return {
        name: float(item["gbp"]) * inflation_factor(costs, str(item["price_year"]))
        for name, item in costs.items.items()
    }


def response_prices(cfg: CarenetConfig) -> dict[str, float]:
    """The response's money parameters (:data:`PRICED_PARAMS`) at ``costs.price_year``.

    Each is stated at ``response.price_year`` prices and inflated like a unit cost:
    value x index[costs.price_year] / index[response.price_year]. The components charge
    these figures (``Ledger.response_gbp``), never the raw configuration values.

    Raises:
        ConfigError: If ``response.price_year`` has no positive index value.
    """
    year = str(cfg.response.price_year)
    factor = inflation_factor(cfg.costs, year, "response.price_year")
    return {key: float(getattr(cfg.response, key)) * factor for key in PRICED_PARAMS}


def discount_factors(weeks: int, rate: float) -> np.ndarray:
    """Discount factor of each week after the warm-up: (1 + rate) ** -(w / 52).

    Continuous weekly discounting: week ``w`` (0 = the first week after the warm-up)
    is discounted by the years elapsed at its start, so the first week is undiscounted
    and a week 52 weeks on is discounted by exactly one year's rate.
    """
    return (1.0 + float(rate)) ** (-np.arange(weeks, dtype=float) / 52.0)


def leaves_acute(src_kind: np.ndarray, dst_kind: np.ndarray) -> np.ndarray:
    """Whether a handoff from kind ``src_kind`` to ``dst_kind`` leaves an acute bed.

    It is :func:`acute_source` of the sender and :func:`acute_destination` of the
    receiver, so a table of each per organisation answers it for any handoff.
    """
    return acute_source(src_kind) & acute_destination(dst_kind)


def acute_source(kind: np.ndarray) -> np.ndarray:
    """Whether a handoff from an organisation of kind ``kind`` may leave an acute bed."""
    return np.asarray(kind) == "acute"


def acute_destination(kind: np.ndarray) -> np.ndarray:
    """Whether a handoff from an acute bed to kind ``kind`` leaves the bed (discharge)."""
    return np.isin(kind, LEAVES_ACUTE_TO)


class Prices:
    """What a week's delay, a failed handoff, an admin hour and a repeated assessment cost.

    The one piece of code that prices them: the stages charge with these figures
    (waiting, handoffs, failed episodes) and the decisions price with them (route tables,
    and the rules through :class:`~carenet.models.power.RuleView`), so that no decision
    weighs a consequence at other than what the accounting then charges. QALYs are
    valued at the threshold, including the health gain a failure forgoes and a delay
    shrinks (:meth:`receivers`). Per-stratum figures are what is charged to one patient;
    the decision prices are their expectations over the strata of the patients a
    receiver gets by handoff (:meth:`receivers`).

    Args:
        cfg: The configuration (unit costs, health effects, threshold).
        ea_cost: Cost of an emergency admission, per stratum.
    """

    def __init__(self, cfg: CarenetConfig, ea_cost: np.ndarray) -> None:
        h, costs = cfg.health, unit_costs(cfg)
        self.cfg = cfg
        self.thr = float(cfg.costs.threshold_gbp_per_qaly)
        self.hour = costs["professional_hour"]
        self.night = costs["delayed_discharge_night"]
        self.bed_week = BED_NIGHTS_PER_WEEK * self.night
        self.ea_cost = ea_cost
        self.emergency_s = ea_cost + h.qaly_loss_emergency * self.thr
        self.wait_qaly = np.asarray(h.qaly_loss_wait_per_week, dtype=float)
        self.wait_hazard = np.asarray(h.emergency_hazard_wait, dtype=float)
        self.fail_qaly = np.asarray(h.qaly_loss_failure, dtype=float)
        self.fail_emergency = np.asarray(h.emergency_prob_failure, dtype=float)
        self.repeat_share = float(h.repeat_assessment_share)
        # Per stratum: a week's wait (health loss, emergency hazard; bed days apart) and a
        # failed episode (health loss, emergency chance x admission cost and its loss).
        self.wait_s = self.wait_qaly * self.thr + self.wait_hazard * self.emergency_s
        self.fail_s = self.fail_qaly * self.thr + self.fail_emergency * self.emergency_s
        mix = np.asarray(cfg.population.stratum_shares) * np.asarray(
            cfg.population.episode_rate_per_year
        )
        self.mix = mix / mix.sum() if mix.sum() > 0 else np.full(len(STRATA), 0.25)
        self._recv: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._pair_wait: tuple[bytes, np.ndarray] | None = None
        self._acute: tuple[bytes, np.ndarray, np.ndarray] | None = None

    def admin(self, hours: np.ndarray | float) -> np.ndarray | float:
        """Cost of ``hours`` of professional admin time."""
        return hours * self.hour

    def repeat(self, step_cost: np.ndarray | float) -> np.ndarray | float:
        """Cost of repeating an assessment: a share of the receiving step's weekly cost."""
        return step_cost * self.repeat_share

    def bed_days(self, n_leaving_acute: float) -> float:
        """Cost of a week's wait of ``n_leaving_acute`` episodes waiting to leave a bed."""
        return n_leaving_acute * self.bed_week

    def handoff_steps(self, m: Any) -> dict[str, np.ndarray]:
        """The pathway steps reached by a handoff, with the rate each is reached at.

        A step is reached by handoff unless the previous step's provider kind offers it
        (in-house). Returns arrays ``s`` (stratum), ``pw``, ``stage``, ``line`` and
        ``weight`` (patients' share x episode rate x pathway probability).
        """
        pop = self.cfg.population
        base = np.asarray(pop.stratum_shares) * np.asarray(pop.episode_rate_per_year)
        rows: list[tuple[int, int, int, int, float]] = []
        for p in range(m.npw):
            for k in range(1, int(m.pw_len[p])):
                ln, prev = int(m.step_line[p, k]), int(m.step_line[p, k - 1])
                if m.line_kind[ln] == m.line_kind[prev]:
                    continue
                for s in range(len(STRATA)):
                    rows.append((s, p, k, ln, float(base[s] * m.pw_prob[s, p])))
        a = np.array(rows, dtype=float).reshape(-1, 5)
        return {
            "s": a[:, 0].astype(int),
            "pw": a[:, 1].astype(int),
            "stage": a[:, 2].astype(int),
            "line": a[:, 3].astype(int),
            "weight": a[:, 4],
        }

    def receivers(self, m: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Expected failure, weekly-wait and repeated-assessment cost per receiver.

        Per receiving organisation, over the patients it gets by handoff (a week's wait
        without bed days: :meth:`pair_wait` adds them). Besides what the ledger charges,
        a failure forgoes the episode's health gain and a week's delay shrinks it (the
        service stage divides it by 1 + ``delay_gain_decay`` x weeks waited): both are
        valued at the threshold, for an episode that has not waited yet (the first
        week's loss, gain x decay / (1 + decay), per week of delay).

        An organisation's patients are the handoff steps of the lines it offers
        (:meth:`handoff_steps`); one offering none gets every handoff step's mix.
        Computed once per model (kinds and pathways do not change).
        """
        if self._recv is not None:
            return self._recv
        hs = self.handoff_steps(m)
        decay = float(self.cfg.health.delay_gain_decay)
        gain = self.thr * m.pw_gain[hs["pw"]]
        rows = np.stack(
            [
                self.fail_s[hs["s"]] + gain,
                self.wait_s[hs["s"]] + gain * decay / (1.0 + decay),
                self.repeat(m.step_cost[hs["pw"], hs["stage"]]),
            ]
        )
        out = np.zeros((3, m.n))
        w_all = hs["weight"]
        out[:] = (rows @ w_all / w_all.sum())[:, None] if w_all.sum() > 0 else 0.0
        for j in range(m.n):
            w = w_all * m.offers[j, hs["line"]]
            if w.sum() > 0:
                out[:, j] = rows @ w / w.sum()
        self._recv = (out[0], out[1], out[2])
        return self._recv

    def acute_ends(self, m: Any) -> tuple[np.ndarray, np.ndarray]:
        """Per organisation, :func:`acute_source` and :func:`acute_destination` of its kind.

        A handoff from ``i`` to ``j`` leaves an acute bed where ``src[i] & dst[j]``
        (:func:`leaves_acute`): two lookups per handoff, not string comparisons. Kept
        until the kinds change.
        """
        key = m.kinds.tobytes()
        if self._acute is None or self._acute[0] != key:
            self._acute = (key, acute_source(m.kinds), acute_destination(m.kinds))
        return self._acute[1], self._acute[2]

    def pair_wait(self, m: Any) -> np.ndarray:
        """[from, to] cost of one week's wait of a patient handed from one to the other.

        The receiver's expected health loss and hazard, plus bed days where the handoff
        leaves an acute bed (:func:`leaves_acute`, from :meth:`acute_ends`).
        """
        key = m.kinds.tobytes()
        if self._pair_wait is not None and self._pair_wait[0] == key:
            return self._pair_wait[1]
        wait = self.receivers(m)[1]
        src, dst = self.acute_ends(m)
        bed = (src[:, None] & dst[None, :]) * self.bed_week
        W = wait[None, :] + bed
        W.setflags(write=False)
        self._pair_wait = (key, W)
        return W


class Ledger:
    """Charges costs and QALYs into the week's record and the run's totals.

    Args:
        cfg: The configuration (unit costs, health effects, threshold).
        pop: The population, whose health the QALY entries move.

    Attributes:
        unit_gbp: Every unit cost, inflated to the price year (:func:`unit_costs`).
        response_gbp: The response's money parameters, inflated to the price year
            (:func:`response_prices`); the components charge these.
        hour_gbp: Cost of one professional hour.
        night_gbp: Cost of one delayed-discharge night.
        ea_cost: Cost of an emergency admission, per stratum.
        prices: What a delay, a failure, an admin hour and a repeated assessment cost
            (:class:`Prices`), for charges and decisions alike.
        fail_cost: Expected cost of one failed handoff over the episode mix (for rules).
        wait_cost: Expected cost of one week's wait over the episode mix, bed days
            apart (for rules; the pair-dependent price is :meth:`Prices.pair_wait`).
        tie_cost: Weekly upkeep of one side of a tie.
        failure_cost_year: Failure cost charged since the last budget round.
        failure_cost_prev_year: The same for the year before (NaN before the first).
        totals: Per-stratum QALYs gained and lost, episodes started and failed.
    """

    def __init__(self, cfg: CarenetConfig, pop: Population) -> None:
        self.cfg = cfg
        self.pop = pop
        self.rec: dict[str, float] = {}
        costs = unit_costs(cfg)
        self.unit_gbp = costs
        self.response_gbp = response_prices(cfg)
        self.hour_gbp = costs["professional_hour"]
        self.night_gbp = costs["delayed_discharge_night"]
        h = cfg.health
        self.ea_cost = np.where(
            np.arange(len(STRATA)) >= h.emergency_long_stay_from,
            costs["nonelective_long_stay"],
            costs["nonelective_short_stay"],
        )
        self.prices = Prices(cfg, self.ea_cost)
        self.fail_cost = float(self.prices.mix @ self.prices.fail_s)
        self.wait_cost = float(self.prices.mix @ self.prices.wait_s)
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
