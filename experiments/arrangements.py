"""Experiment "arrangements": hierarchy vs network vs a mixed system, side by side.

Declared in ``arrangements.yaml`` (the arms and replications) and run through the engine
like any sweep: ``carenet experiment run arrangements [KEY=VALUE ...]`` runs each
arrangement for several replications (the sweep's seeds: replication 0 is the root seed,
the others spawned from it with SeedSequence, so the arrangements are compared under
common random numbers). :func:`analyse` makes a Markdown table of the headline metrics:
mean and 95% confidence interval (t distribution, n - 1 degrees of freedom) over
replications, also written as ``table.csv``.

Usage::

    carenet experiment run arrangements                   # default economy, 5 replications
    carenet experiment run arrangements replications=3 population=small organisations=small

Extra ``KEY=VALUE`` arguments are Hydra overrides applied to every arrangement.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pandas as pd

from carenet.experiments.common import Findings, Results, interval_figure
from carenet.sim.analysis import mean_ci

METRICS: list[tuple[str, str, float, str]] = [
    ("discounted_net_monetary_benefit", "NMB at £20k/QALY, discounted (GBP m)", 1e-6, "{:,.1f}"),
    ("discounted_qalys_net", "QALYs net, discounted", 1.0, "{:,.0f}"),
    ("discounted_cost_total", "Cost, discounted (GBP m)", 1e-6, "{:,.1f}"),
    ("qalys_net", "QALYs net", 1.0, "{:,.0f}"),
    ("cost_total", "Cost (GBP m)", 1e-6, "{:,.1f}"),
    ("cost_transaction", "Transaction cost (GBP m)", 1e-6, "{:,.1f}"),
    ("cost_failure", "Failure cost (GBP m)", 1e-6, "{:,.1f}"),
    ("cost_connection", "Connection cost (GBP m)", 1e-6, "{:,.1f}"),
    ("net_monetary_benefit", "NMB at £20k/QALY (GBP m)", 1e-6, "{:,.1f}"),
    ("episodes_failed", "Episodes failed", 1.0, "{:,.0f}"),
    (
        "avoidable_emergency_admissions_per_1000",
        "Avoidable emergency adm. /1,000/yr",
        1.0,
        "{:.2f}",
    ),
    ("mean_wait_weeks", "Mean wait (weeks)", 1.0, "{:.2f}"),
    ("handoff_failure_rate", "Handoff failure rate", 100.0, "{:.1f}%"),
    ("continuity_index", "Continuity index", 1.0, "{:.2f}"),
    ("transaction_cost_share", "Transaction share of cost", 100.0, "{:.1f}%"),
    ("repeated_assessments", "Repeated assessments", 1.0, "{:,.0f}"),
    ("excess_bed_days", "Excess bed days", 1.0, "{:,.0f}"),
]


def table(res: dict[str, list[dict]]) -> str:
    """Markdown table: one row per metric, one column per arrangement, mean ± 95% CI."""
    names = list(res)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label, scale, fmt in METRICS:
        cells = []
        for name in names:
            ci = mean_ci(np.array([s[key] for s in res[name]]) * scale)
            cell = fmt.format(ci.mean)
            if not math.isnan(ci.half_width):
                cell += " ± " + fmt.format(ci.half_width).rstrip("%")
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def analyse(results: Results) -> Findings:
    """The arrangements table (Markdown and ``table.csv``) from the arms' runs."""
    res = {results.label(a): results.runs[a] for a in results.runs}
    note = (
        f"{results.replications} replications per arrangement, seeds spawned from root seed "
        f"{results.seed}; mean ± 95% CI half-width (t, n-1 df)."
    )
    return Findings(
        f"{table(res)}\n\n{note}",
        {"table": table_frame(res)},
        {"arrangements": figure(res, results)},
    )


FIGURE_METRICS = ("qalys_net", "net_monetary_benefit", "cost_transaction", "episodes_failed")
"""The metrics of ``figures/arrangements.png``."""


def figure(res: dict[str, list[dict]], results: Results) -> Any:
    """Mean and 95% CI of a few headline metrics, one panel each, one point per arm."""
    labels = {key: (label, scale) for key, label, scale, _ in METRICS}
    short = dict(zip(res, results.runs, strict=True))  # label -> arm id, for the axis
    panels = {
        labels[key][0]: [
            (short[name], mean_ci(np.array([s[key] for s in runs]) * labels[key][1]))
            for name, runs in res.items()
        ]
        for key in FIGURE_METRICS
    }
    n = results.replications
    return interval_figure(panels, f"Arrangements: mean and 95% CI over {n} replications")


def table_frame(res: dict[str, list[dict]]) -> pd.DataFrame:
    """The table as data: one row per (metric, arrangement), mean and 95% CI, unscaled."""
    rows = []
    for key, label, _, _ in METRICS:
        for name, runs in res.items():
            ci = mean_ci(np.array([s[key] for s in runs]))
            rows.append(
                {
                    "metric": key,
                    "label": label,
                    "arrangement": name,
                    "mean": ci.mean,
                    "ci_low": ci.lo,
                    "ci_high": ci.hi,
                    "half_width": ci.half_width,
                    "n": ci.n,
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m carenet.experiments.arrangements [KEY=VALUE ...]``: run the experiment."""
    from carenet.experiments.command import main as experiment

    return experiment(["run", "arrangements", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
