"""The metric registry: every metric the model reports, declared once.

Each :class:`~carenet.spec.Metric` says its name, unit, which direction is better, how
weekly values make the whole-run value, its scale and meaning, and (for the printed table)
its label and format. Everything else is derived from :data:`METRICS`: the weekly counters
the stages add to (:data:`COUNTED`), the time-series columns (:data:`SERIES`, in order),
the summary's keys (:data:`SUMMARY`) and the headline metrics every finished run must have
as finite numbers (:data:`HEADLINE_METRICS`).

The summary covers the weeks after the warm-up only (``warmup_weeks``): the time series
keeps every week, flagged by the ``warmup`` column, and :func:`after_warmup` is the one
place that leaves the flagged weeks out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from carenet.models.schema import STRATA
from carenet.spec import Metric

from .metrics import NETWORK_METRICS

_G, _Q, _N = "GBP", "QALYs", "count"


def _count(name: str, meaning: str, better: str = "neither", **kw: object) -> Metric:
    return Metric(name, _N, better, "sum", "nonnegative", meaning, **kw)  # type: ignore[arg-type]


def _cost(name: str, meaning: str, **kw: object) -> Metric:
    return Metric(name, _G, "lower", "sum", "nonnegative", meaning, **kw)  # type: ignore[arg-type]


def _weekly(name: str, unit: str, meaning: str, scale: str = "nonnegative") -> Metric:
    """A weekly state, recorded in the time series only."""
    return Metric(name, unit, "neither", "last", scale, meaning, in_summary=False)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Activity:
    """A weekly activity counter, counted by the service stage from the pathway steps.

    Attributes:
        counter: The record's counter (a :data:`COUNTED` metric).
        items: The cost items (``costs.items`` names) of the steps it counts.
        count: ``"units"``: the step's units in each week of service (the units the
            direct cost is charged for, so a step of ``weeks`` x ``units`` adds both
            multiplied); ``"starts"``: one for each step that begins service.
        meaning: What it counts, in a line.
    """

    counter: str
    items: tuple[str, ...]
    count: Literal["units", "starts"]
    meaning: str


ACTIVITY: tuple[Activity, ...] = (
    Activity(
        "gp_consultations",
        ("gp_consultation",),
        "units",
        "Consultations in general practice delivered (gp_consultation units).",
    ),
    Activity(
        "ae_attendances",
        ("ae_attendance",),
        "units",
        "A&E attendances: pathway steps on the ae_attendance item.",
    ),
    Activity(
        "pathway_admissions",
        ("nonelective_short_stay", "nonelective_long_stay"),
        "units",
        "Emergency admissions that are pathway steps (non-elective stay items).",
    ),
    Activity(
        "community_contacts",
        ("district_nurse_contact", "crisis_response_contact"),
        "units",
        "Community health contacts (district nursing, crisis response).",
    ),
    Activity(
        "mental_health_contacts",
        ("mh_contact",),
        "units",
        "Mental-health care contacts.",
    ),
    Activity(
        "social_care_episodes",
        ("social_worker_hour",),
        "starts",
        "Episodes of adult social care support begun (social care steps).",
    ),
)
"""The activity the pathway steps deliver, counted by cost item (see docs/calibration.md)."""


@dataclass(frozen=True)
class Rate:
    """A summary rate: counters summed after the warm-up, per population per year.

    Attributes:
        name: The summary key.
        counters: The counters added into the numerator.
        per: Persons the rate is per (1: per person; 1000: per 1,000 people).
        meaning: What it counts.
    """

    name: str
    counters: tuple[str, ...]
    per: float
    meaning: str


RATES: tuple[Rate, ...] = (
    Rate(
        "avoidable_emergency_admissions_per_1000",
        ("emergency_admissions",),
        1000,
        "Avoidable emergency admissions (from waits and failed handoffs) per 1,000 a year.",
    ),
    Rate(
        "nonelective_admissions_per_1000",
        ("pathway_admissions", "emergency_admissions"),
        1000,
        "All emergency (non-elective) admissions, pathway and avoidable, per 1,000 a year.",
    ),
    Rate(
        "gp_consultations_per_person_year",
        ("gp_consultations",),
        1,
        "Consultations in general practice per person a year.",
    ),
    Rate("ae_attendances_per_1000", ("ae_attendances",), 1000, "A&E attendances per 1,000 a year."),
    Rate(
        "delayed_discharge_bed_days_per_1000",
        ("excess_bed_days",),
        1000,
        "Bed days of delayed discharge (excess_bed_days) per 1,000 a year.",
    ),
    Rate(
        "community_contacts_per_1000",
        ("community_contacts",),
        1000,
        "Community health contacts per 1,000 a year.",
    ),
    Rate(
        "mental_health_contacts_per_1000",
        ("mental_health_contacts",),
        1000,
        "Mental-health care contacts per 1,000 a year.",
    ),
    Rate(
        "social_care_episodes_per_1000",
        ("social_care_episodes",),
        1000,
        "Episodes of adult social care support begun per 1,000 a year.",
    ),
    Rate("cost_per_head", ("cost_total",), 1, "Modelled spend (all costs) per head a year."),
)
"""Per-population yearly rates over the post-warm-up weeks, declared once."""

LOWER_IS_BETTER = frozenset(
    {
        "avoidable_emergency_admissions_per_1000",
        "delayed_discharge_bed_days_per_1000",
        "cost_per_head",
    }
)
"""Rates of harm or spend; the others count activity, neither better nor worse."""


def rate_metric(r: Rate, **kw: object) -> Metric:
    """The summary metric of rate ``r`` (not in the time series)."""
    if r.name == "cost_per_head":
        unit = "GBP/head/yr"
    else:
        unit = "per person/yr" if r.per == 1 else "per 1,000/yr"
    better = "lower" if r.name in LOWER_IS_BETTER else "neither"
    return Metric(r.name, unit, better, "none", "nonnegative", r.meaning, in_series=False, **kw)  # type: ignore[arg-type]


def rates(summed: dict[str, float], population: int, weeks: int) -> dict[str, float]:
    """Every :data:`RATES` value from the summed counters.

    Args:
        summed: Counters summed over the post-warm-up weeks.
        population: Persons in the population.
        weeks: Post-warm-up weeks summed (at least one is assumed).

    Returns:
        Rate name to value: counters per ``per`` persons per year.
    """
    years = max(weeks, 1) / 52.0
    return {r.name: sum(summed[c] for c in r.counters) / population * r.per / years for r in RATES}


_F0, _F1, _F2 = "{:,.0f}", "{:,.1f}", "{:,.2f}"

COUNTED: tuple[Metric, ...] = (
    _count(
        "episodes_started", "Care episodes begun.", headline=True, label="Episodes started", fmt=_F0
    ),
    _count(
        "episodes_completed",
        "Episodes completed.",
        "higher",
        headline=True,
        label="  completed",
        fmt=_F0,
    ),
    _count(
        "episodes_failed",
        "Episodes ended by a failed handoff.",
        "lower",
        headline=True,
        label="  failed",
        fmt=_F0,
    ),
    _count("completed_on_time", "Episodes completed within the on-time wait.", "higher"),
    _count("handoffs", "Handoffs between organisations."),
    _count("handoffs_failed", "Handoffs that failed.", "lower"),
    _count("handoffs_direct", "Handoffs over a direct tie."),
    _count("handoffs_broker", "Handoffs through a broker."),
    _count("handoffs_escalation", "Handoffs escalated through the hierarchy."),
    _count("handoffs_cold", "Handoffs with no relationship (cold)."),
    _count("in_house_transfers", "Steps moved on inside one provider.", in_summary=False),
    _count("repeated_assessments", "Assessments repeated for want of shared records.", "lower"),
    _count(
        "emergency_admissions",
        "Avoidable emergency admissions: those caused by waits and failed handoffs.",
        "lower",
    ),
    *(_count(a.counter, a.meaning) for a in ACTIVITY),
    Metric(
        "excess_bed_days",
        "days",
        "lower",
        "sum",
        "nonnegative",
        "Excess acute bed days awaiting discharge.",
    ),
    Metric(
        "qalys_gained",
        _Q,
        "higher",
        "sum",
        "nonnegative",
        "QALYs gained by completed care.",
        headline=True,
        label="  QALYs gained",
        fmt=_F1,
    ),
    Metric(
        "qalys_lost",
        _Q,
        "lower",
        "sum",
        "nonnegative",
        "QALYs lost to waits, failures and emergencies.",
        headline=True,
        label="  QALYs lost",
        fmt=_F1,
    ),
    _cost(
        "cost_direct",
        "Direct cost of care delivered.",
        headline=True,
        label="  direct care",
        fmt=_F0,
    ),
    _cost(
        "cost_transaction",
        "Contracting, boards, inspections and handoff admin.",
        headline=True,
        label="  transaction",
        fmt=_F0,
    ),
    _cost(
        "cost_failure",
        "Cost of failed care (emergencies, bed days, repeats).",
        headline=True,
        label="  failure",
        fmt=_F0,
    ),
    _cost(
        "cost_connection",
        "Shared records, hub funding and tie upkeep.",
        headline=True,
        label="  connection",
        fmt=_F0,
    ),
    _count("contracts_signed", "Contracts signed or renewed."),
    _count("inspections", "Provider inspections."),
    _count("ties_formed", "Ties formed in tie rounds and, as weak ties, at boards."),
    _count("ties_dropped", "Ties dropped in tie rounds."),
    _count("ties_dissolved", "Ties dissolved for low trust."),
    _count("rule_switches", "Organisations that switched rule (adaptive)."),
    _count("shock_events", "Shock starts and ends that changed the system.", in_summary=False),
    _count("waiting", "Episodes that waited this week.", in_summary=False),
    _weekly("queue_length", _N, "Episodes queued after admission."),
    _weekly(
        "approval_backlog",
        _N,
        "Escalations waiting beyond their approving bodies' weekly capacity, at the week's end.",
    ),
    _weekly("utilisation", "share", "Share of capacity in use.", "share"),
)
"""Weekly counters the stages add to (zero at the start of each week), in column order."""

PRIVATE: tuple[str, ...] = ("_exp_sum", "_wait_sum", "_ended", "_continuity", "_shared")
"""Weekly accumulators the record stage turns into means (not columns)."""


def network_scale(name: str) -> str:
    """The scale of a network metric: correlations are signed, Gini and shares in [0, 1]."""
    if name.endswith("_corr"):
        return "signed"
    if name.endswith(("_gini", "_share")) or name in ("mean_trust", "mean_data_sharing"):
        return "share"
    return "nonnegative"


_NET = tuple(
    _weekly(k, "", f"Network metric {k} (see models/metrics.py).", network_scale(k))
    for k in NETWORK_METRICS
)

DERIVED: tuple[Metric, ...] = (
    Metric(
        "episodes_in_progress",
        _N,
        "neither",
        "last",
        "nonnegative",
        "Episodes open at the end.",
        headline=True,
        label="  still in progress at the end",
        fmt=_F0,
    ),
    Metric(
        "cost_total",
        _G,
        "lower",
        "sum",
        "nonnegative",
        "All costs, undiscounted (beside discounted_cost_total).",
        headline=True,
        label="Total cost, undiscounted (GBP)",
        fmt=_F0,
    ),
    Metric(
        "qalys_net",
        _Q,
        "higher",
        "sum",
        "signed",
        "QALYs gained less lost, undiscounted (beside discounted_qalys_net).",
        headline=True,
        label="Net QALYs, undiscounted (gained - lost)",
        fmt=_F1,
    ),
    Metric(
        "net_monetary_benefit",
        _G,
        "higher",
        "sum",
        "signed",
        "Threshold x net QALYs - total cost, undiscounted (beside "
        "discounted_net_monetary_benefit).",
        headline=True,
        label="Net monetary benefit, undiscounted (GBP)",
        fmt=_F0,
    ),
    _weekly("experience", "score", "Mean experience of episodes ended this week.", "share"),
    rate_metric(RATES[0], headline=True, label="Avoidable emergency adm. /1,000/yr", fmt=_F1),
    *(rate_metric(r) for r in RATES[1:]),
    Metric(
        "mean_wait_weeks",
        "weeks",
        "lower",
        "mean",
        "nonnegative",
        "Mean weeks waited by episodes that ended.",
        headline=True,
        label="Mean wait (weeks)",
        fmt=_F2,
    ),
    Metric(
        "handoff_failure_rate",
        "share",
        "lower",
        "none",
        "share",
        "Share of handoffs that failed.",
        in_series=False,
        headline=True,
        label="Handoff failure rate",
        fmt="{:.1%}",
    ),
    Metric(
        "continuity_index",
        "index",
        "higher",
        "mean",
        "share",
        "Relational continuity of handoffs (0-1).",
        headline=True,
        label="Continuity index (0-1)",
        fmt=_F2,
    ),
    _weekly("shared_records_share", "share", "Share of handoffs with records shared.", "share"),
    *_NET,
    _weekly("mean_trust", "trust", "Mean trust on ties.", "share"),
    _weekly("mean_data_sharing", "share", "Mean data-sharing level.", "share"),
    Metric(
        "share_empowerment",
        "share",
        "neither",
        "last",
        "share",
        "Share of organisations under empowerment.",
    ),
    Metric(
        "share_domination",
        "share",
        "neither",
        "last",
        "share",
        "Share of organisations under domination.",
    ),
    _weekly("active_orgs", _N, "Active service organisations."),
    Metric(
        "transaction_cost_share",
        "share",
        "lower",
        "none",
        "share",
        "Transaction cost over total cost.",
    ),
    _weekly("demand_multiplier", "ratio", "Demand multiplier of surges."),
    _weekly("data_outage", "flag", "Whether a data outage is on.", "share"),
    _weekly(
        "warmup",
        "flag",
        "1 in the warm-up weeks (warmup_weeks), which every summary metric leaves out.",
        "share",
    ),
)
"""Metrics the record stage computes each week (and summary-only ones), in order."""

SUMMARY_ONLY: tuple[Metric, ...] = (
    Metric(
        "discounted_cost_total",
        _G,
        "lower",
        "none",
        "nonnegative",
        "All costs, discounted at discount_rate_costs from the end of the warm-up "
        "(week w after it x (1 + r) ** -(w / 52)); the headline cost.",
        in_series=False,
        headline=True,
        label="Total cost, discounted (GBP)",
        fmt=_F0,
    ),
    Metric(
        "discounted_qalys_net",
        _Q,
        "higher",
        "none",
        "signed",
        "Net QALYs, discounted at discount_rate_health from the end of the warm-up; "
        "the headline effect.",
        in_series=False,
        headline=True,
        label="Net QALYs, discounted",
        fmt=_F1,
    ),
    Metric(
        "discounted_net_monetary_benefit",
        _G,
        "higher",
        "none",
        "signed",
        "Threshold x discounted net QALYs - discounted total cost; the headline NMB.",
        in_series=False,
        headline=True,
        label="Net monetary benefit, discounted (GBP)",
        fmt=_F0,
    ),
    Metric(
        "discount_rate_costs",
        "per year",
        "neither",
        "none",
        "share",
        "The annual discount rate applied to costs.",
        in_series=False,
    ),
    Metric(
        "discount_rate_health",
        "per year",
        "neither",
        "none",
        "share",
        "The annual discount rate applied to QALYs.",
        in_series=False,
    ),
    Metric(
        "on_time_share",
        "share",
        "higher",
        "none",
        "share",
        "Share of completions on time.",
        in_series=False,
    ),
    Metric(
        "experience_score",
        "score",
        "higher",
        "mean",
        "share",
        "Mean experience of ended episodes.",
        in_series=False,
    ),
    Metric(
        "cost_per_qaly",
        "GBP/QALY",
        "lower",
        "none",
        "signed",
        "Total cost over net QALYs.",
        in_series=False,
    ),
    Metric(
        "threshold_gbp_per_qaly",
        "GBP/QALY",
        "neither",
        "none",
        "nonnegative",
        "The threshold used.",
        in_series=False,
    ),
    *(
        m
        for s in STRATA
        for m in (
            Metric(
                f"qalys_net_{s}",
                _Q,
                "higher",
                "sum",
                "signed",
                f"Net QALYs of stratum {s}.",
                in_series=False,
            ),
            Metric(
                f"failed_share_{s}",
                "share",
                "lower",
                "none",
                "share",
                f"Share of stratum {s}'s episodes that failed.",
                in_series=False,
            ),
        )
    ),
    *(
        Metric(
            f"final_{k}",
            "",
            "neither",
            "last",
            network_scale(k),
            f"{k} at the end of the run.",
            in_series=False,
        )
        for k in (*NETWORK_METRICS, "mean_trust", "mean_data_sharing")
    ),
)
"""Metrics of the whole run only."""

WARMUP_NOTE = " Summary: the weeks after the warm-up (warmup_weeks) only."
"""Appended to the meaning of every summary metric aggregated over weeks."""


def _say_warmup(m: Metric) -> Metric:
    """The metric, its meaning saying that the summary leaves out the warm-up weeks."""
    fixed = m.name.startswith(("threshold", "discount_rate"))
    if m.in_summary and m.over_weeks != "last" and not fixed:
        return replace(m, meaning=m.meaning + WARMUP_NOTE)
    return m


METRICS: tuple[Metric, ...] = tuple(_say_warmup(m) for m in COUNTED + DERIVED + SUMMARY_ONLY)
"""Every metric the model reports, each declared once."""

SERIES: tuple[str, ...] = (
    *(m.name for m in COUNTED if m.in_series),
    "week",
    *(m.name for m in DERIVED if m.in_series),
)
"""The time series' columns, in order."""

SUMMARY: tuple[str, ...] = tuple(m.name for m in METRICS if m.in_summary)
"""The summary's keys, in order."""

SUMMED: tuple[str, ...] = tuple(
    m.name for m in METRICS if m.in_series and m.in_summary and m.over_weeks == "sum"
)
"""Summary metrics that are the sum of their weekly values."""

HEADLINE_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.headline)
"""Summary metrics every finished run must have as finite numbers (shown after a run)."""


def after_warmup(records: list[dict[str, float]]) -> Any:
    """The weekly records after the warm-up, as a DataFrame: what every summary aggregates.

    Args:
        records: The model's weekly records, each flagged ``warmup`` (1 in the warm-up).

    Returns:
        The records whose ``warmup`` flag is 0, in week order (all of them when none is
        flagged, as in records written before the flag existed).
    """
    import pandas as pd

    df = pd.DataFrame(records)
    if "warmup" in df:
        df = df[df["warmup"] == 0].reset_index(drop=True)
    return df


class WeekTable:
    """The weekly records after the warm-up, read by column: :func:`after_warmup` without pandas.

    ``len(table)`` is the number of weeks, ``name in table`` whether any record has that
    column, and ``table[name]`` the column as a NumPy array typed as pandas would type it
    (a week without the value is NaN), so the summary's sums and products are those of the
    DataFrame, bit for bit, and a run need not import pandas (about 0.4 s of start-up).

    Args:
        records: The model's weekly records, each flagged ``warmup`` (1 in the warm-up).
    """

    def __init__(self, records: list[dict[str, Any]]) -> None:
        import numpy as np

        self.records = records
        self._names = {k: None for r in records for k in r}  # pandas's column order
        self._keep: Any = slice(None)
        if "warmup" in self._names:
            self._keep = np.array([r.get("warmup", float("nan")) == 0 for r in records], bool)
        self._weeks = len(records) if "warmup" not in self._names else int(self._keep.sum())
        self._columns: dict[str, Any] = {}

    def __len__(self) -> int:
        return self._weeks

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        col = self._columns.get(name)
        if col is None:  # typed over every week, as the DataFrame's column, then filtered
            import numpy as np

            nan = float("nan")
            whole = np.array([r.get(name, nan) for r in self.records])
            col = self._columns[name] = whole[self._keep]
        return col

    def total(self, name: str) -> float:
        """The column's sum over the weeks, NaN weeks left out (``Series.sum()``)."""
        import numpy as np

        col = self[name]
        if col.dtype.kind == "f":
            col = np.where(np.isnan(col), 0.0, col)
        return float(col.sum())

    def last(self, name: str) -> float:
        """The column's value in the last week (``df.iloc[-1][name]``), as a float."""
        return float(self[name][-1])


REC_KEYS: tuple[str, ...] = (*(m.name for m in COUNTED), *PRIVATE)
"""The keys each week's record starts with, at zero."""
