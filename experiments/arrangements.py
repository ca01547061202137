"""Experiment "arrangements": hierarchy vs network vs a mixed system, side by side.

Runs each arrangement for several replications (the sweep's seeds: replication 0 is the
root seed, the others spawned from it with SeedSequence, so the arrangements are compared
under common random numbers) and prints a Markdown table of
the headline metrics: mean and 95% confidence interval (t distribution, n - 1 degrees of
freedom) over replications.

Usage::

    python -m carenet.experiments.arrangements                   # default economy, 5 reps
    python -m carenet.experiments.arrangements --reps 3 population=small organisations=small

Extra ``KEY=VALUE`` arguments are Hydra overrides applied to every arrangement.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from carenet.experiments.common import batch, experiment_main
from carenet.sim.analysis import mean_ci
from carenet.sim.sweep import replication_seeds

ARRANGEMENTS: dict[str, list[str]] = {
    "hierarchy + domination + bureaucratic": [
        "structure=hierarchy",
        "power_rule=domination",
        "response=bureaucratic",
    ],
    "network + empowerment + network": [
        "structure=network",
        "power_rule=empowerment",
        "response=network",
    ],
    "hybrid + mixed + none (default)": ["structure=hybrid", "power_rule=mixed", "response=none"],
}
"""The arrangements compared, as Hydra overrides."""

METRICS: list[tuple[str, str, float, str]] = [
    ("qalys_net", "QALYs net", 1.0, "{:,.0f}"),
    ("cost_total", "Cost (GBP m)", 1e-6, "{:,.1f}"),
    ("cost_transaction", "Transaction cost (GBP m)", 1e-6, "{:,.1f}"),
    ("cost_failure", "Failure cost (GBP m)", 1e-6, "{:,.1f}"),
    ("cost_connection", "Connection cost (GBP m)", 1e-6, "{:,.1f}"),
    ("net_monetary_benefit", "NMB at £20k/QALY (GBP m)", 1e-6, "{:,.1f}"),
    ("episodes_failed", "Episodes failed", 1.0, "{:,.0f}"),
    ("emergency_admissions_per_1000", "Emergency adm. /1,000/yr", 1.0, "{:.2f}"),
    ("mean_wait_weeks", "Mean wait (weeks)", 1.0, "{:.2f}"),
    ("handoff_failure_rate", "Handoff failure rate", 100.0, "{:.1f}%"),
    ("continuity_index", "Continuity index", 1.0, "{:.2f}"),
    ("transaction_cost_share", "Transaction share of cost", 100.0, "{:.1f}%"),
    ("repeated_assessments", "Repeated assessments", 1.0, "{:,.0f}"),
    ("excess_bed_days", "Excess bed days", 1.0, "{:,.0f}"),
]


def run(reps: int, root_seed: int, extra: list[str], n_jobs: int) -> dict[str, list[dict]]:
    """Run every arrangement for ``reps`` replications; return summaries by arrangement."""
    seeds = replication_seeds(root_seed, reps)
    jobs = [(name, ov, s) for name, ov in ARRANGEMENTS.items() for s in seeds]
    out = batch([([*ov, *extra], s) for _, ov, s in jobs], n_jobs)
    res: dict[str, list[dict]] = {name: [] for name in ARRANGEMENTS}
    for (name, _, _), summary in zip(jobs, out, strict=True):
        res[name].append(summary)
    return res


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


def main(argv: list[str] | None = None) -> int:
    """Run the experiment and print the table."""

    def body(a: argparse.Namespace) -> None:
        print(table(run(a.reps, a.seed, a.overrides, a.jobs)))
        print(
            f"\n{a.reps} replications per arrangement, seeds spawned from root seed {a.seed}; "
            "mean ± 95% CI half-width (t, n-1 df)."
        )

    return experiment_main("python -m carenet.experiments.arrangements", 5, body, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
