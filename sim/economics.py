"""Health-economic analysis of arms: incremental analysis, CEAC, EVPI, ICER intervals.

Engine-generic: every function takes plain tables of cost and effect (one row per arm, or
one row per draw and arm of a probabilistic sensitivity analysis) and knows nothing of
any model. The conventions are the textbook ones (Drummond et al., *Methods for the
Economic Evaluation of Health Care Programmes*, 4th ed., 2015, ch. 4; Briggs, Claxton and
Sculpher, *Decision Modelling for Health Economic Evaluation*, 2006, ch. 7 and 9).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

DOMINATED = "dominated"
EXT_DOMINATED = "extendedly dominated"
REFERENCE = "reference"
ON_FRONTIER = "on frontier"

WTP_GRID: tuple[float, ...] = tuple(float(x) for x in range(0, 50_001, 1_000))
"""Willingness-to-pay values of the CEAC: GBP 0 to 50,000 per QALY in steps of 1,000."""

NICE_BAND: tuple[float, float] = (20_000.0, 30_000.0)
"""NICE's range of cost-effectiveness thresholds, GBP per QALY (PMG36)."""


def incremental_analysis(
    arms: pd.DataFrame, cost: str = "cost", effect: str = "effect", name: str = "arm"
) -> pd.DataFrame:
    """The incremental cost-effectiveness table of a set of mutually exclusive options.

    Options are ordered by cost (ties: more effective first). An option is *dominated*
    when another costs no more and is no less effective (one of them strictly); of the
    rest, an option is *extendedly dominated* when its ICER against the previous option
    on the frontier exceeds the next option's ICER against it (a mix of its neighbours
    would do better), removed one at a time until the ICERs rise. ICERs are then those
    of each frontier option against the previous one.

    Args:
        arms: One row per option.
        cost: Column of mean costs.
        effect: Column of mean effects (e.g. QALYs).
        name: Column naming the options.

    Returns:
        The options in cost order with ``status`` (reference, on frontier, dominated,
        extendedly dominated), ``compared_with``, ``inc_cost``, ``inc_effect`` and
        ``icer`` (NaN for the reference and for dominated options).
    """
    df = arms[[name, cost, effect]].copy().reset_index(drop=True)
    df = df.sort_values([cost, effect], ascending=[True, False], kind="stable")
    df = df.reset_index(drop=True)
    c, e = df[cost].to_numpy(float), df[effect].to_numpy(float)
    status = [""] * len(df)
    for i in range(len(df)):
        for j in range(len(df)):
            if i != j and c[j] <= c[i] and e[j] >= e[i] and (c[j] < c[i] or e[j] > e[i]):
                status[i] = DOMINATED
                break
    front = _frontier([i for i in range(len(df)) if not status[i]], c, e, status)
    out = df.assign(status=status, compared_with="", inc_cost=np.nan, inc_effect=np.nan)
    out["icer"] = np.nan
    for k, i in enumerate(front):
        if k == 0:
            out.loc[i, "status"] = REFERENCE
            continue
        p = front[k - 1]
        out.loc[i, ["status", "compared_with"]] = [ON_FRONTIER, df.loc[p, name]]
        out.loc[i, ["inc_cost", "inc_effect"]] = [c[i] - c[p], e[i] - e[p]]
        out.loc[i, "icer"] = (c[i] - c[p]) / (e[i] - e[p])
    return out


def _frontier(idx: list[int], c: np.ndarray, e: np.ndarray, status: list[str]) -> list[int]:
    """Remove extendedly dominated options from ``idx`` (cost order) until ICERs rise."""
    front = list(idx)
    changed = True
    while changed and len(front) > 2:
        changed = False
        icers = [(c[b] - c[a]) / (e[b] - e[a]) for a, b in zip(front, front[1:], strict=False)]
        for k in range(len(icers) - 1):
            if icers[k] > icers[k + 1]:
                status[front[k + 1]] = EXT_DOMINATED
                del front[k + 1]
                changed = True
                break
    return front


def net_benefit(draws: pd.DataFrame, wtp: float, cost: str, effect: str) -> pd.Series:
    """Net monetary benefit of each row at ``wtp`` per unit effect: wtp x effect - cost."""
    return wtp * draws[effect].astype(float) - draws[cost].astype(float)


def _nmb_matrix(
    draws: pd.DataFrame, wtp: float, cost: str, effect: str, draw: str, arm: str
) -> pd.DataFrame:
    """NMB as a [draw x arm] table (every draw must have every arm)."""
    nmb = draws.assign(_nmb=net_benefit(draws, wtp, cost, effect))
    wide = nmb.pivot_table(index=draw, columns=arm, values="_nmb", aggfunc="mean")
    if wide.isna().any().any():
        missing = wide.columns[wide.isna().any()].tolist()
        raise ValueError(f"arms {missing} lack some draws: every draw needs every arm")
    return wide


def ceac(
    draws: pd.DataFrame,
    wtp: Sequence[float] = WTP_GRID,
    cost: str = "cost",
    effect: str = "effect",
    draw: str = "draw",
    arm: str = "arm",
) -> pd.DataFrame:
    """Cost-effectiveness acceptability curve: P(each arm has the highest NMB) by WTP.

    Args:
        draws: One row per draw and arm (the arms under the same parameter draw).
        wtp: Willingness-to-pay values per unit effect.
        cost: Column of costs.
        effect: Column of effects.
        draw: Column numbering the parameter draws.
        arm: Column naming the arms.

    Returns:
        One row per WTP value (index ``wtp``), one column per arm: the share of draws in
        which that arm's NMB is the highest (ties shared equally).
    """
    rows = {}
    for w in wtp:
        wide = _nmb_matrix(draws, float(w), cost, effect, draw, arm)
        best = wide.to_numpy() == wide.to_numpy().max(axis=1, keepdims=True)
        share = best / best.sum(axis=1, keepdims=True)
        rows[float(w)] = pd.Series(share.mean(axis=0), index=wide.columns)
    out = pd.DataFrame(rows).T
    out.index.name = "wtp"
    return out


def evpi(
    draws: pd.DataFrame,
    wtp: float,
    cost: str = "cost",
    effect: str = "effect",
    draw: str = "draw",
    arm: str = "arm",
) -> float:
    """Expected value of perfect information at ``wtp``: E[max NMB] - max E[NMB].

    In the units of the table's costs (a whole modelled population's NMB gives the
    population EVPI over the time horizon; divide by its size for EVPI per person).
    """
    wide = _nmb_matrix(draws, float(wtp), cost, effect, draw, arm).to_numpy()
    return float(wide.max(axis=1).mean() - wide.mean(axis=0).max())


def icer_interval(
    draws: pd.DataFrame,
    arm_a: str,
    arm_b: str,
    cost: str = "cost",
    effect: str = "effect",
    draw: str = "draw",
    arm: str = "arm",
    level: float = 0.95,
) -> dict[str, float | str]:
    """ICER of ``arm_b`` against ``arm_a`` with an interval over the draws.

    The ICER is mean incremental cost over mean incremental effect. The interval is the
    percentile interval of the draws' ICERs when every draw lies in one quadrant of the
    cost-effectiveness plane with a positive or a negative incremental effect throughout
    (ratios then order monotonically); otherwise it is NaN and ``quadrants`` says so (read
    the CEAC instead: Briggs et al. 2006, ch. 7).

    Returns:
        ``icer``, ``lo``, ``hi``, ``inc_cost``, ``inc_effect`` (means) and ``quadrants``.
    """
    d = draws.pivot_table(index=draw, columns=arm, values=[cost, effect], aggfunc="mean")
    dc = (d[cost][arm_b] - d[cost][arm_a]).to_numpy(float)
    de = (d[effect][arm_b] - d[effect][arm_a]).to_numpy(float)
    mc, me = float(dc.mean()), float(de.mean())
    icer = mc / me if me else math.nan
    quads = sorted({_quadrant(x, y) for x, y in zip(dc, de, strict=True)})
    lo = hi = math.nan
    if len(quads) == 1 and np.all(de != 0):
        q = 100 * (1 - level) / 2
        lo, hi = (float(v) for v in np.percentile(dc / de, [q, 100 - q]))
    return {"icer": icer, "lo": lo, "hi": hi, "inc_cost": mc, "inc_effect": me} | {
        "quadrants": ", ".join(quads)
    }


def _quadrant(dc: float, de: float) -> str:
    if de > 0:
        return "NE (more costly, more effective)" if dc > 0 else "SE (dominant)"
    return "NW (dominated)" if dc > 0 else "SW (cheaper, less effective)"


def prob_cost_effective(
    curve: pd.DataFrame, at: Sequence[float] = (20_000.0, 30_000.0)
) -> pd.DataFrame:
    """The CEAC at the given thresholds (rows), computed there if not on its grid."""
    missing = [w for w in at if float(w) not in curve.index]
    if missing:
        raise ValueError(f"thresholds {missing} are not on the CEAC's grid")
    return curve.loc[[float(w) for w in at]]
