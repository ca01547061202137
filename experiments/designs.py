"""Analyses of the design experiments: ``ishigami`` and ``where-network-wins``.

Both read their design arm's folder with ``carenet analyse`` and ``carenet discover``'s
engine functions (:mod:`carenet.sim.sensitivity`, :mod:`carenet.sim.discovery`), and every
sentence of their summaries is generated from the numbers: nothing is concluded in
advance, and the same code reports the hierarchy winning where it does.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd

from carenet.experiments.common import Findings, Results

NMB = "net_monetary_benefit"
"""The outcome that ranks arrangements (one number: QALYs at the threshold less cost)."""


def ishigami(results: Results) -> Findings:
    """Sobol indices of the Ishigami design against the analytical ones."""
    from carenet.examples.ishigami import analytical_indices
    from carenet.sim.sensitivity import analyse

    folder = results.folders["sobol"]
    table = analyse(folder, ["y"])
    exact = analytical_indices()
    rows = []
    for idx in ("S1", "ST"):
        for j, name in enumerate(("x1", "x2", "x3")):
            r = table[(table["index"] == idx) & (table["parameter"] == name)].iloc[0]
            truth = exact[idx][j]
            rows.append(
                {
                    "parameter": name,
                    "index": idx,
                    "estimate": r["value"],
                    "lower": r["lower"],
                    "upper": r["upper"],
                    "analytical": truth,
                    "within": bool(r["lower"] <= truth <= r["upper"]),
                }
            )
    out = pd.DataFrame(rows)
    k = int(out["within"].sum())
    lines = [
        "## Ishigami: Sobol indices through the engine against the analytical values",
        "",
        "| parameter | index | estimate | 95% interval | analytical | within |",
        "|---|---|---:|---|---:|---|",
        *[
            f"| {r.parameter} | {r.index} | {r.estimate:.3f} | {r.lower:.3f} to "
            f"{r.upper:.3f} | {r.analytical:.3f} | {'yes' if r.within else 'NO'} |"
            for r in out.itertuples()
        ],
        "",
        f"{k} of {len(out)} analytical indices lie within their 95% bootstrap intervals.",
    ]
    return Findings("\n".join(lines), tables={"ishigami_indices": out})


# --- where-network-wins -----------------------------------------------------------------


def factorial_effects(rows: list[dict[str, Any]], metric: str = NMB) -> pd.DataFrame:
    """Main effects and interactions of a two-level structure × rule × response factorial.

    Each factor is coded -1/+1 (hierarchy/network, domination/empowerment,
    bureaucratic/network); an effect is the mean of the metric where the product of its
    factors' codes is +1 minus where it is -1 (Box, Hunter and Hunter 2005, ch. 5), with
    a 95% interval from the replications' spread (Welch's t).
    """
    from scipy import stats

    codes = {
        "structure": {"hierarchy": -1, "network": 1},
        "power_rule": {"domination": -1, "empowerment": 1},
        "response": {"bureaucratic": -1, "network": 1},
    }
    df = pd.DataFrame(rows)
    for f, m in codes.items():
        df[f"_{f}"] = df[f].map(m)
    out = []
    for k in (1, 2, 3):
        for combo in itertools.combinations(codes, k):
            sign = np.prod([df[f"_{f}"] for f in combo], axis=0)
            hi, lo = df[metric][sign > 0], df[metric][sign < 0]
            eff = float(hi.mean() - lo.mean())
            se = math.sqrt(hi.var(ddof=1) / len(hi) + lo.var(ddof=1) / len(lo))
            t = float(stats.t.ppf(0.975, max(len(hi) + len(lo) - 2, 1)))
            out.append(
                {
                    "effect": " x ".join(combo),
                    "order": k,
                    "value": eff,
                    "lower": eff - t * se,
                    "upper": eff + t * se,
                }
            )
    return pd.DataFrame(out)


def _summary(sens: pd.DataFrame, share: float, boxes: dict[str, Any], fx: pd.DataFrame) -> str:
    """Plain-language sentences made from the numbers (never written in advance)."""
    st = sens[sens["index"] == "ST"].sort_values("value", ascending=False)
    seeds = sens[sens["index"] == "seed_share"]["value"]
    lines = [
        f"- The network arrangement has the higher net monetary benefit at {share:.0%} of the "
        f"sample points; the hierarchy at {1 - share:.0%}."
    ]
    if len(st):
        top = st.iloc[0]
        firm = "" if not top["flag"] else f" (flagged: {top['flag']})"
        lines.append(
            f"- The assumption that most decides the difference is {top['parameter']} (total "
            f"Sobol index {top['value']:.2f}, 95% interval {top['lower']:.2f} to "
            f"{top['upper']:.2f}){firm}."
        )
    if len(seeds) and not math.isnan(float(seeds.iloc[0])):
        lines.append(
            f"- {float(seeds.iloc[0]):.0%} of the difference's variance across runs is seed "
            "noise, not the parameters."
        )
    for who, res in boxes.items():
        if res is None:
            continue
        t = res["trajectory"].iloc[res["chosen"]]
        restricted = res["box"][res["box"]["restricted"]]["parameter"].tolist()
        lines.append(
            f"- The {who} wins most reliably where {', '.join(restricted) or 'nothing'} "
            f"{'is' if len(restricted) == 1 else 'are'} restricted as in the box below "
            f"(density {t['density']:.0%}, coverage {t['coverage']:.0%})."
        )
    if len(fx):
        main = fx[fx["order"] == 1].reindex(fx[fx["order"] == 1]["value"].abs().sort_values().index)
        big = main.iloc[-1]
        sign = "raises" if big["value"] > 0 else "lowers"
        lines.append(
            f"- At the defaults, of the three factors, moving {big['effect']} from the "
            f"hierarchy's option to the network's {sign} net monetary benefit most "
            f"(by £{abs(big['value']):,.0f}; 95% interval £{big['lower']:,.0f} to "
            f"£{big['upper']:,.0f})."
        )
    return "\n".join(lines)


def _discover(folder: Any, where: str) -> dict[str, Any] | None:
    from carenet.sim.discovery import discover
    from carenet.sim.sensitivity import AnalysisError

    try:
        return discover(folder, where, resamples=20)
    except AnalysisError:  # the condition holds everywhere or nowhere: no region to find
        return None


def where_network_wins(results: Results) -> Findings:
    """Indices, boxes where each arrangement wins, the factorial's effects, a summary."""
    from carenet.sim.discovery import box_lines, evaluate
    from carenet.sim.sensitivity import analyse

    folder = results.folders["design"]
    sens = analyse(folder, [NMB], diff="network-hierarchy")
    wins = evaluate(folder, f"diff({NMB}, network, hierarchy) > 0")
    boxes = {
        "hierarchy": _discover(folder, f"diff({NMB}, network, hierarchy) < 0"),
        "network": _discover(folder, f"diff({NMB}, network, hierarchy) > 0"),
    }  # network last: discovery.md in the folder is the network's
    fx = factorial_effects(results.runs["factorial"]) if "factorial" in results.runs else None
    fx = fx if fx is not None else pd.DataFrame()
    lines = [
        "## Where does the network beat the hierarchy?",
        "",
        _summary(sens, float(wins.mean()), boxes, fx),
        "",
        "### Sensitivity of NMB(network) − NMB(hierarchy)",
        "",
        "| parameter | index | value | 95% interval | flag |",
        "|---|---|---:|---|---|",
        *[
            f"| {r.parameter} | {r.index} | {r.value:.3f} | {r.lower:.3f} to {r.upper:.3f} "
            f"| {r.flag} |"
            for r in sens.fillna({"flag": ""}).itertuples()
        ],
    ]
    share = float(wins.mean())
    for who, res in boxes.items():
        lines += ["", f"### Where the {who} wins (PRIM)", ""]
        if res is not None:
            lines += box_lines(res["box"])
            continue
        every = share == 1.0 if who == "network" else share == 0.0
        lines.append(
            f"The {who} wins at {'every' if every else 'no'} sample point (ties count for "
            "neither): there is no boundary to find within this design's ranges."
        )
    if len(fx):
        lines += [
            "",
            "### Structure × rule × response factorial (at the defaults)",
            "",
            "| effect | NMB change (GBP) | 95% interval |",
            "|---|---:|---|",
            *[
                f"| {r.effect} | {r.value:,.0f} | {r.lower:,.0f} to {r.upper:,.0f} |"
                for r in fx.itertuples()
            ],
        ]
    tables = {"sensitivity": sens, "factorial_effects": fx}
    return Findings("\n".join(lines), tables=tables)
