"""Global sensitivity analysis of a design's results: ``carenet analyse DIR``.

For a Sobol design, SALib's ``sobol.analyze`` gives first-order (``S1``), total (``ST``)
and, on request, second-order (``S2``) indices; for a Morris design, ``morris.analyze``
gives ``mu_star`` (with SALib's bootstrap interval), ``mu`` and ``sigma`` (its interval
from resampling the trajectories). Intervals are 95% bootstrap intervals (SALib's:
value ± half-width).

The outcome of each sample point is a summary metric, or a paired difference between two
arms (``--diff A-B``: the metric under arm A minus under arm B, paired by point and
replication, so they share seeds). With several replications per point the indices are
computed on the points' means, and the **seed share** (the mean within-point variance
over the total variance of all runs) says how much of the outcome's variance is noise
of the random streams rather than the parameters: a parameter's index is read against it.

Written into ``DIR`` (atomically): ``sensitivity.csv``, one row per metric, parameter and
index (``metric, parameter, index, value, lower, upper, flag``; ``flag`` is
``ci_includes_zero``, ``small_sample`` or empty), and ``figures/sensitivity_<metric>.png``
(indices with intervals) or ``figures/morris_<metric>.png`` (``mu_star`` against
``sigma``). The sample matrix is ``design.json``'s unit sample, in SALib's order.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .design import MORRIS_MIN_N, SOBOL_MIN_N, read_record

SENSITIVITY_FILE = "sensitivity.csv"
COLUMNS = ("metric", "parameter", "index", "value", "lower", "upper", "flag")
SEED_SHARE = "seed_share"
"""The index name of the seed share row (parameter ``(seeds)``)."""


class AnalysisError(ValueError):
    """The analysis cannot be made as asked; the message is one line."""


@dataclass
class Outcomes:
    """A design's outcomes for one metric or paired difference.

    Attributes:
        name: The metric, or ``diff(M, A, B)``.
        runs: One row per point, one column per replication.
        record: The folder's ``design.json``.
    """

    name: str
    runs: np.ndarray
    record: dict[str, Any]

    @property
    def means(self) -> np.ndarray:
        """The points' means over replications."""
        return self.runs.mean(axis=1)

    def seed_share(self) -> float:
        """Mean within-point variance over the variance of all runs (NaN with 1 replication)."""
        if self.runs.shape[1] < 2:
            return math.nan
        total = float(np.var(self.runs, ddof=1))
        if total == 0:
            return 0.0
        return float(np.mean(np.var(self.runs, axis=1, ddof=1)) / total)


def _design_record(folder: Path) -> dict[str, Any]:
    rec = read_record(folder)
    if rec is None:
        raise AnalysisError(
            f"{str(folder)!r} holds no design (no design.json); run one with "
            "carenet run -m design=FILE.yaml out=DIR"
        )
    return rec


def _runs_table(folder: Path, metrics: list[str]) -> pd.DataFrame:
    """``run_id`` and the metrics from ``runs.parquet`` (collected first if missing)."""
    import pyarrow.parquet as pq

    from .collect import RUNS_FILE, collect

    path = folder / RUNS_FILE
    if not path.is_file():
        collect(folder)
    names = pq.read_schema(path).names
    for m in metrics:
        if m not in names:
            raise AnalysisError(f"--metric: {m!r} is not a metric of these runs")
    return pq.read_table(path, columns=["run_id", *metrics]).to_pandas().set_index("run_id")


def _matrix(folder: Path, metric: str, arm: str, table: pd.DataFrame, n: int) -> np.ndarray:
    """Points × replications of one metric under one arm (``""``: a design without arms)."""
    from .sweep import load_sweep, run_id

    sweep = load_sweep(folder) or {}
    rows: dict[int, list[float]] = {}
    for sc in sweep.get("scenarios", []):
        vals = sc.get("values", {})
        if vals.get("arm", "") != arm or "design_point" not in vals:
            continue
        rids = [run_id(sc["scenario_id"], s) for s in sc["seeds"]]
        rows[int(vals["design_point"])] = [
            float(table[metric].get(r, math.nan)) if r in table.index else math.nan for r in rids
        ]
    if len(rows) != n:
        known = sorted({sc.get("values", {}).get("arm", "") for sc in sweep.get("scenarios", [])})
        raise AnalysisError(f"--diff: {arm!r} is not an arm of this design; arms: {known}")
    out = np.array([rows[k] for k in range(n)], dtype=float)
    bad = int(np.isnan(out).sum())
    if bad:
        raise AnalysisError(
            f"{metric}: {bad} of {out.size} runs have no value (failed or not finished); "
            "rerun the design's command to resume, then carenet collect DIR"
        )
    return out


def outcomes(folder: str | Path, metric: str, diff: str | None = None) -> Outcomes:
    """The outcomes of a design for a metric, or a paired difference ``A-B`` of two arms.

    Raises:
        AnalysisError: One line, if the folder, metric or arms do not fit.
    """
    folder = Path(folder)
    rec = _design_record(folder)
    n = len(rec["points"])
    arms = list(rec.get("arms") or {})
    table = _runs_table(folder, [metric])
    if diff is None:
        if len(arms) > 1:
            raise AnalysisError(
                f"--diff: this design has arms {arms}; give --diff A-B (e.g. "
                f"--diff {arms[0]}-{arms[1]})"
            )
        y = _matrix(folder, metric, arms[0] if arms else "", table, n)
        return Outcomes(metric, y, rec)
    a, b = parse_diff(diff, arms)
    y = _matrix(folder, metric, a, table, n) - _matrix(folder, metric, b, table, n)
    return Outcomes(f"diff({metric}, {a}, {b})", y, rec)


def parse_diff(diff: str, arms: list[str]) -> tuple[str, str]:
    """The two arms of ``A-B`` (arm names may hold ``-``: the split must name two arms)."""
    for i in [m.start() for m in re.finditer("-", diff)]:
        a, b = diff[:i], diff[i + 1 :]
        if a in arms and b in arms and a != b:
            return a, b
    raise AnalysisError(f"--diff: {diff!r} is not ARM_A-ARM_B; arms: {', '.join(arms) or 'none'}")


def _flag(value: float, lower: float, upper: float, small: bool) -> str:
    """``ci_includes_zero`` and/or ``small_sample`` (joined by ``;``), or empty."""
    flags = ["ci_includes_zero"] if lower <= 0 <= upper else []
    return ";".join(flags + (["small_sample"] if small else []))


def sobol_rows(out: Outcomes, second_order: bool, resamples: int, seed: int) -> list[dict]:
    """SALib's Sobol indices of the outcomes' means, one row per parameter and index."""
    from SALib.analyze import sobol

    rec = out.record
    if second_order and not rec.get("second_order"):
        raise AnalysisError("--second-order: the design was sampled without second_order: true")
    si = sobol.analyze(
        rec["problem"],
        out.means,
        calc_second_order=bool(rec.get("second_order")),
        num_resamples=resamples,
        conf_level=0.95,
        seed=seed,
    )
    small = rec["n"] < SOBOL_MIN_N
    names = rec["problem"]["names"]
    rows = []
    for idx in ("S1", "ST"):
        for j, name in enumerate(names):
            v, h = float(si[idx][j]), float(si[f"{idx}_conf"][j])
            rows.append(_row(out.name, name, idx, v, v - h, v + h, small))
    if second_order:
        for j, k in zip(*np.triu_indices(len(names), 1), strict=True):
            v, h = float(si["S2"][j, k]), float(si["S2_conf"][j, k])
            rows.append(_row(out.name, f"{names[j]},{names[k]}", "S2", v, v - h, v + h, small))
    return rows


def _row(metric: str, param: str, index: str, v: float, lo: float, hi: float, small: bool) -> dict:
    flag = _flag(v, lo, hi, small)
    return dict(zip(COLUMNS, (metric, param, index, v, lo, hi, flag), strict=True))


def morris_rows(out: Outcomes, resamples: int, seed: int) -> list[dict]:
    """SALib's Morris measures: ``mu_star`` with SALib's interval, ``mu`` and ``sigma``."""
    from SALib.analyze import morris

    rec = out.record
    x = np.asarray(rec["unit"], dtype=float)
    y = out.means
    si = morris.analyze(
        rec["problem"], x, y, num_resamples=resamples, num_levels=rec["levels"], seed=seed
    )
    lo_sigma, hi_sigma, lo_mu, hi_mu = _trajectory_intervals(rec, x, y, resamples, seed)
    small = rec["n"] < MORRIS_MIN_N
    rows = []
    for j, name in enumerate(rec["problem"]["names"]):
        ms, h = float(si["mu_star"][j]), float(si["mu_star_conf"][j])
        rows.append(_row(out.name, name, "mu_star", ms, ms - h, ms + h, small))
        rows.append(_row(out.name, name, "mu", float(si["mu"][j]), lo_mu[j], hi_mu[j], small))
        sg = float(si["sigma"][j])
        rows.append(_row(out.name, name, "sigma", sg, lo_sigma[j], hi_sigma[j], small))
    return rows


def _trajectory_intervals(
    rec: dict[str, Any], x: np.ndarray, y: np.ndarray, resamples: int, seed: int
) -> tuple[np.ndarray, ...]:
    """95% intervals of Morris ``sigma`` and ``mu``: bootstrap over whole trajectories."""
    from SALib.analyze import morris

    d = rec["problem"]["num_vars"]
    size = d + 1
    r = len(y) // size
    rng = np.random.default_rng(seed)
    sig, mu = [], []
    for _ in range(resamples):
        pick = rng.integers(0, r, r)
        rows = (pick[:, None] * size + np.arange(size)).ravel()
        si = morris.analyze(
            rec["problem"], x[rows], y[rows], num_resamples=2, num_levels=rec["levels"], seed=1
        )
        sig.append(si["sigma"])
        mu.append(si["mu"])
    sig_a, mu_a = np.asarray(sig, dtype=float), np.asarray(mu, dtype=float)
    q = [2.5, 97.5]
    ls, hs = np.nanpercentile(sig_a, q, axis=0)
    lm, hm = np.nanpercentile(mu_a, q, axis=0)
    return ls, hs, lm, hm


def analyse(
    folder: str | Path,
    metrics: list[str],
    diff: str | None = None,
    second_order: bool = False,
    resamples: int = 200,
    seed: int = 12345,
    figures: bool = True,
) -> pd.DataFrame:
    """Sensitivity indices of a design's results, written to ``sensitivity.csv``.

    Args:
        folder: The design's sweep folder.
        metrics: Summary metrics to analyse.
        diff: ``ARM_A-ARM_B``: analyse the paired difference A − B of each metric.
        second_order: Also second-order Sobol indices (the design must sample them).
        resamples: Bootstrap resamples for the intervals.
        seed: Seed of the bootstrap.
        figures: Draw the figures.

    Returns:
        The table written (columns :data:`COLUMNS`).

    Raises:
        AnalysisError: One line, for a folder, metric, arm or method that does not fit.
    """
    folder = Path(folder)
    rec = _design_record(folder)
    if rec["method"] not in ("sobol", "morris"):
        raise AnalysisError(
            f"analyse: a {rec['method']} design has no Sobol or Morris indices; use a "
            "sobol or morris design, or carenet discover on this one"
        )
    rows: list[dict] = []
    for metric in metrics:
        out = outcomes(folder, metric, diff)
        if rec["method"] == "sobol":
            found = sobol_rows(out, second_order, resamples, seed)
        else:
            found = morris_rows(out, resamples, seed)
        share = out.seed_share()
        found.append(_row(out.name, "(seeds)", SEED_SHARE, share, share, share, False))
        found[-1]["flag"] = "one_replication" if math.isnan(share) else ""
        rows += found
        if figures:
            draw(folder, out.name, found, rec["method"])
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    write_csv_atomic(table, folder / SENSITIVITY_FILE)
    return table


def write_csv_atomic(table: pd.DataFrame, path: Path) -> None:
    """Write a CSV through a temporary file and a rename (never half-written)."""
    from .runner import hidden_name

    tmp = path.with_name(hidden_name(path.name, "tmp"))
    try:
        table.to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


def draw(folder: Path, name: str, rows: list[dict], method: str) -> Path:
    """The figure of one metric's indices; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    if method == "sobol":
        path = folder / "figures" / f"sensitivity_{_slug(name)}.png"
        for off, idx in ((-0.2, "S1"), (0.2, "ST")):
            d = df[df["index"] == idx]
            pos = np.arange(len(d)) + off
            err = [d["value"] - d["lower"], d["upper"] - d["value"]]
            ax.bar(pos, d["value"], 0.4, yerr=err, capsize=3, label=idx)
            ax.set_xticks(np.arange(len(d)), d["parameter"], rotation=30, ha="right")
        ax.set_ylabel("Sobol index (95% bootstrap interval)")
        ax.legend()
    else:
        path = folder / "figures" / f"morris_{_slug(name)}.png"
        ms, sg = df[df["index"] == "mu_star"], df[df["index"] == "sigma"]
        ax.errorbar(
            ms["value"],
            sg["value"].to_numpy(),
            xerr=[ms["value"] - ms["lower"], ms["upper"] - ms["value"]],
            fmt="o",
        )
        for x, yv, p in zip(ms["value"], sg["value"], ms["parameter"], strict=True):
            ax.annotate(p, (x, yv), fontsize=8)
        ax.set_xlabel("mu* (95% interval)")
        ax.set_ylabel("sigma")
    ax.set_title(name)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def design_report(folder: str | Path) -> Path:
    """``carenet report`` of a design's folder: the design, its runs, its analyses.

    A design has a scenario per sample point, so a table of every scenario (a sweep's
    report) says little; this report shows the design, the runs' status, the sensitivity
    indices of ``sensitivity.csv`` and the discovery of ``discovery.md`` where
    ``carenet analyse`` and ``carenet discover`` made them (and says how, where not).

    Returns:
        The path of ``report.md`` (written atomically).
    """
    from .sweep import failed_records, finished_ids, load_sweep

    folder = Path(folder)
    rec = _design_record(folder)
    sweep = load_sweep(folder) or {}
    planned = {r["run_id"] for r in sweep.get("runs", [])}
    done = finished_ids(folder) & planned
    failed = set(failed_records(folder)) - done
    lines = [
        f"# carenet report: {folder.resolve().name} (a {rec['method']} design)",
        "",
        f"{len(rec['points'])} sample points x {max(len(rec.get('arms') or {}), 1)} arm(s); "
        f"{len(done)} of {len(planned)} runs finished, {len(failed)} failed.",
        "",
        "| parameter | type | range or values |",
        "|---|---|---|",
    ]
    for p in rec["parameters"]:
        span = f"{p['low']:g} to {p['high']:g}" if p["low"] is not None else str(p["values"])
        lines.append(f"| {p['name']} | {p['type']} | {span} |")
    for arm, ovs in (rec.get("arms") or {}).items():
        lines.append(f"\nArm `{arm}`: `{' '.join(ovs)}`")
    from .collect import folder_model
    from .modelspec import load_spec
    from .report import evaluation_section

    lines += evaluation_section(load_spec(folder_model(folder)))
    lines += ["", "## Sensitivity", ""]
    path = folder / SENSITIVITY_FILE
    if path.is_file():
        t = pd.read_csv(path).fillna({"flag": ""})
        lines += [
            "| metric | parameter | index | value | 95% interval | flag |",
            "|---|---|---|---:|---|---|",
        ]
        lines += [
            f"| {r.metric} | {r.parameter} | {r.index} | {r.value:.3f} | {r.lower:.3f} to "
            f"{r.upper:.3f} | {r.flag} |"
            for r in t.itertuples()
        ]
    else:
        lines.append(f"Not yet analysed: `carenet analyse {folder} --metric METRIC`.")
    lines += ["", "## Scenario discovery", ""]
    disc = folder / "discovery.md"
    if disc.is_file():
        body = disc.read_text().splitlines()[1:]  # its own title dropped
        lines += [("#" + x) if x.startswith("## ") else x for x in body]
    else:
        lines.append(f'Not yet explored: `carenet discover {folder} --where "EXPR"`.')
    from .runner import hidden_name

    out = folder / "report.md"
    tmp = out.with_name(hidden_name(out.name, "tmp"))
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)
    return out
