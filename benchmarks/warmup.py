"""Measure the warm-up of the key weekly metrics and the drift after it (docs/warmup.md).

Runs the three reference arrangements (hierarchy + domination + bureaucratic, network +
empowerment + network, the default hybrid + mixed + none) over several seeds with no
warm-up excluded (``warmup_weeks=0``), and for each weekly metric (total cost, net QALYs,
queue length) finds the truncation point by MSER-5 (White 1997; White, Cobb & Spratt
2000): the weekly series is cut into batches of 5 weeks, and the truncation ``d`` (in
batches, at most half the run) that minimises the squared standard error of the mean of
what is left, ``sum((Y_i - mean)^2 for i > d) / (k - d)^2``, is the warm-up. MSER-5 is
applied to each run's series and to the across-seed mean series (Welch's averaging, which
lowers the noise MSER sees). It then prints the year-by-year means after the warm-up,
over seeds, to check for drift.

Usage::

    python benchmarks/warmup.py                      # small economy, 5 seeds, 260 weeks
    python benchmarks/warmup.py --seeds 3 --steps 156 population.size=20000
    python benchmarks/warmup.py --warmup 26          # the drift table after 26 weeks
    python benchmarks/warmup.py --default-economy --seeds 2 --steps 156

Extra ``key=value`` arguments are configuration overrides for every run.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from carenet.models.model import CareSystemModel
from carenet.sim.config import load_config

ARRANGEMENTS: dict[str, list[str]] = {
    "hierarchy+domination+bureaucratic": [
        "structure=hierarchy",
        "power_rule=domination",
        "response=bureaucratic",
    ],
    "network+empowerment+network": [
        "structure=network",
        "power_rule=empowerment",
        "response=network",
    ],
    "hybrid+mixed+none (default)": [],
}
"""The reference arrangements of issue #12."""

METRICS: tuple[str, ...] = ("cost_total", "qalys_net", "queue_length")
"""The weekly metrics whose warm-up is measured."""

SMALL: list[str] = ["population=small", "organisations=small"]


def mser(y: np.ndarray, batch: int = 5) -> int:
    """MSER-``batch`` truncation point of a series, in steps (a multiple of ``batch``).

    Args:
        y: The weekly series.
        batch: Batch size (5 for MSER-5).

    Returns:
        The number of leading steps to drop; searched over at most half the batches.
    """
    k = len(y) // batch
    if k < 2:
        return 0
    b = np.asarray(y[: k * batch], dtype=float).reshape(k, batch).mean(axis=1)
    best, best_d = math.inf, 0
    for d in range(k // 2 + 1):
        rest = b[d:]
        stat = float(((rest - rest.mean()) ** 2).sum()) / (k - d) ** 2
        if stat < best:
            best, best_d = stat, d
    return best_d * batch


def simulate(overrides: list[str], seed: int) -> pd.DataFrame:
    """One run's weekly records (every week, no warm-up left out)."""
    cfg = load_config([*overrides, "warmup_weeks=0", f"seed={seed}"])
    m = CareSystemModel(cfg)
    m.run(cfg.steps)
    return pd.DataFrame(m.records)


def measure(
    extra: list[str], seeds: int, steps: int
) -> tuple[pd.DataFrame, dict[str, list[pd.DataFrame]]]:
    """MSER-5 truncation per arrangement and metric: per seed and on the mean series."""
    rows, runs = [], {}
    for name, ovs in ARRANGEMENTS.items():
        dfs = [simulate([*ovs, *extra, f"steps={steps}"], 1000 + s) for s in range(seeds)]
        runs[name] = dfs
        for metric in METRICS:
            per = [mser(df[metric].to_numpy()) for df in dfs]
            mean_series = np.mean([df[metric].to_numpy() for df in dfs], axis=0)
            rows.append(
                {
                    "arrangement": name,
                    "metric": metric,
                    "mser5_mean_series": mser(mean_series),
                    "per_seed_median": float(np.median(per)),
                    "per_seed_max": int(max(per)),
                }
            )
    return pd.DataFrame(rows), runs


def drift(runs: dict[str, list[pd.DataFrame]], warmup: int) -> pd.DataFrame:
    """Year-by-year means over seeds after the warm-up: NMB, cost, net QALYs (per year).

    Year 1 starts at week ``warmup``; a last part-year is left out. Each cell is the mean
    over seeds and its standard deviation (the seeds' spread, for reading drift as noise).
    """
    rows = []
    for name, dfs in runs.items():
        n_years = (len(dfs[0]) - warmup) // 52
        for y in range(n_years):
            sl = slice(warmup + 52 * y, warmup + 52 * (y + 1))
            vals = {
                k: [float(df[k].iloc[sl].sum()) for df in dfs]
                for k in ("net_monetary_benefit", "cost_total", "qalys_net")
            }
            q = [float(df["queue_length"].iloc[sl].mean()) for df in dfs]
            rows.append(
                {
                    "arrangement": name,
                    "year": y + 1,
                    "nmb_m": np.mean(vals["net_monetary_benefit"]) / 1e6,
                    "nmb_sd_m": np.std(vals["net_monetary_benefit"], ddof=1) / 1e6,
                    "cost_m": np.mean(vals["cost_total"]) / 1e6,
                    "qalys_net": np.mean(vals["qalys_net"]),
                    "queue": np.mean(q),
                    "queue_sd": np.std(q, ddof=1),
                }
            )
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    """A Markdown table of a DataFrame (floats to 2 decimals)."""

    def cell(v: object) -> str:
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join(lines)


def main() -> None:
    """Print the MSER-5 table and the year-by-year table (Markdown)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=260)
    ap.add_argument("--warmup", type=int, default=None, help="for the drift table")
    ap.add_argument("--default-economy", action="store_true", help="not the small economy")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    economy = [] if a.default_economy else SMALL
    table, runs = measure([*economy, *a.overrides], a.seeds, a.steps)
    print(markdown(table))
    warm = a.warmup if a.warmup is not None else int(table["mser5_mean_series"].max())
    print(f"\nYear-by-year after a warm-up of {warm} weeks (mean over {a.seeds} seeds):\n")
    print(markdown(drift(runs, warm)))


if __name__ == "__main__":
    main()
