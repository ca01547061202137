"""The model's whole-run outputs: the summary, the network snapshot, the summary check."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from carenet.models.schema import STRATA

from .errors import ResultError
from .ledger import discount_factors
from .metrics import NETWORK_METRICS
from .registry import HEADLINE_METRICS, SUMMARY, SUMMED, WeekTable, rates

if TYPE_CHECKING:
    from .model import CareSystemModel


def _nan_div(a: float, b: float) -> float:
    return a / b if b else float("nan")


def summary(m: CareSystemModel) -> dict[str, float]:
    """Whole-run metrics, keyed and ordered as :data:`~carenet.models.registry.SUMMARY`.

    Every metric covers the weeks after the warm-up only (``warmup_weeks``; the records
    flagged ``warmup`` are left out, and the ledger's totals restarted after them); the
    ``final_*`` and ``share_*`` metrics are the last week's values.
    """
    df = WeekTable(m.records)
    if m.records and not len(df):
        raise ResultError(
            f"no week after the warm-up to summarise: {len(m.records)} weeks run, "
            f"warmup_weeks={m.warmup_weeks}; run more weeks or set a shorter warm-up"
        )
    tt = m.ledger.totals
    s: dict[str, float] = {k: df.total(k) if k in df else 0.0 for k in SUMMED}
    s["episodes_in_progress"] = float(len(m.episodes))
    s.update(rates(s, m.pop.size, len(df)))
    s["mean_wait_weeks"] = _nan_div(tt["ended_wait"], tt["ended"])
    s["on_time_share"] = _nan_div(s["completed_on_time"], s["episodes_completed"])
    s["handoff_failure_rate"] = _nan_div(s["handoffs_failed"], s["handoffs"])
    s["continuity_index"] = _nan_div(tt["continuity"], tt["handoffs"])
    s["experience_score"] = _nan_div(tt["exp_sum"], tt["ended"])
    s["cost_per_qaly"] = s["cost_total"] / s["qalys_net"] if s["qalys_net"] > 0 else float("nan")
    s["transaction_cost_share"] = (
        s["cost_transaction"] / s["cost_total"] if s["cost_total"] else 0.0
    )
    s["threshold_gbp_per_qaly"] = m.cfg.costs.threshold_gbp_per_qaly
    s |= discounted(df, m.cfg.costs)
    for j, name in enumerate(STRATA):
        s[f"qalys_net_{name}"] = float(tt["strat_gain"][j] - tt["strat_loss"][j])
        st = tt["strat_started"][j]
        s[f"failed_share_{name}"] = float(tt["strat_failed"][j] / st) if st else float("nan")
    for k in (*NETWORK_METRICS, "mean_trust", "mean_data_sharing"):
        s[f"final_{k}"] = df.last(k) if len(df) else float("nan")
    for k in ("share_empowerment", "share_domination"):
        s[k] = df.last(k) if len(df) else float("nan")
    return {k: s[k] for k in SUMMARY}


def discounted(df: Any, costs: Any) -> dict[str, float]:
    """Discounted totals of the weeks after the warm-up (``df``, in week order).

    Week ``w`` after the warm-up (0 for the first) is weighted by (1 + r) ** -(w / 52),
    with r ``costs.discount_rate_costs`` for costs and ``costs.discount_rate_health``
    for QALYs (:func:`~carenet.models.ledger.discount_factors`).

    Args:
        df: The weekly records after the warm-up (a :class:`WeekTable`, or the
            DataFrame of :func:`after_warmup`).
        costs: The ``costs`` configuration (the rates and the threshold).

    Returns:
        ``discounted_cost_total``, ``discounted_qalys_net``,
        ``discounted_net_monetary_benefit`` and the two rates used.
    """
    rc, rh = float(costs.discount_rate_costs), float(costs.discount_rate_health)
    n = len(df)
    cost = float(np.asarray(df["cost_total"]) @ discount_factors(n, rc)) if n else 0.0
    qalys = float(np.asarray(df["qalys_net"]) @ discount_factors(n, rh)) if n else 0.0
    return {
        "discounted_cost_total": cost,
        "discounted_qalys_net": qalys,
        "discounted_net_monetary_benefit": float(costs.threshold_gbp_per_qaly) * qalys - cost,
        "discount_rate_costs": rc,
        "discount_rate_health": rh,
    }


def network_snapshot(m: CareSystemModel) -> dict[str, Any]:
    """The organisations and ties now.

    Nodes carry kind, locality, parent, depth, budget, authority, influence, data
    sharing, rule and degree; ties carry trust and whether records are shared.
    """
    nodes = [
        {
            "id": int(i),
            "kind": str(m.kinds[i]),
            "locality": int(m.org_locality[i]),
            "parent": int(m.parent[i]),
            "depth": int(m.depth[i]),
            "active": bool(m.active[i]),
            "budget": float(m.budget[i]),
            "authority": float(m.authority[i]),
            "influence": float(m.influence[i]),
            "sharing": float(m.sharing[i]),
            "rule": m.orgs[i].rule.name,
            "degree": int((m.trust[i] > 0).sum()),
        }
        for i in range(m.n)
    ]
    a, b = np.nonzero(np.triu(m.trust > 0, 1))
    thr = m.cfg.handoff.share_threshold
    ties = [
        {
            "a": int(x),
            "b": int(y),
            "trust": float(m.trust[x, y]),
            "shared_records": bool(m.sharing[x] >= thr and m.sharing[y] >= thr),
        }
        for x, y in zip(a, b, strict=True)
    ]
    return {"week": m.week, "nodes": nodes, "ties": ties}


def check_summary(summary: dict[str, Any]) -> None:
    """Refuse a summary whose headline metrics are not all finite numbers.

    Args:
        summary: A run's summary (:meth:`CareSystemModel.summary`).

    Raises:
        ResultError: Naming the first headline metric that is missing, NaN or infinite,
            and why where that is known (nothing to average over).
    """
    for key in HEADLINE_METRICS:
        v = summary.get(key)
        if isinstance(v, int | float | np.integer | np.floating) and math.isfinite(float(v)):
            continue
        ended = (summary.get("episodes_completed") or 0) + (summary.get("episodes_failed") or 0)
        why = "a value in the run was not a finite number"
        if key == "mean_wait_weeks" and ended == 0:
            why = "no care episode ended in the run: run more steps or a larger population"
        elif key in ("handoff_failure_rate", "continuity_index") and not summary.get("handoffs"):
            why = "no handoff happened in the run: run more steps or a larger population"
        raise ResultError(f"summary metric {key} is {v!r}, not a finite number ({why})")
