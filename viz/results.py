"""Read a finished run or sweep folder for the view; nothing is recomputed or written.

A run folder holds ``timeseries.parquet``, ``summary.json``, ``network.json`` and
``manifest.json``; a sweep folder holds ``runs/<id>/...`` (and, after ``carenet collect``,
``runs.parquet``). :func:`load` returns the runs with their scenario labels, and the
scenario means with 95% t-intervals over replications.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carenet.sim.runner import is_finished

METRICS: tuple[tuple[str, str], ...] = (
    ("qalys_net", "Net QALYs"),
    ("net_monetary_benefit", "Net monetary benefit (GBP)"),
    ("cost_total", "Total cost (GBP)"),
    ("cost_direct", "Direct cost (GBP)"),
    ("cost_transaction", "Transaction cost (GBP)"),
    ("cost_failure", "Failure cost (GBP)"),
    ("cost_connection", "Connection cost (GBP)"),
    ("handoffs_failed", "Failed handoffs"),
    ("mean_wait_weeks", "Mean wait (weeks)"),
)
"""Whole-run metrics compared across scenarios."""


class ResultsError(ValueError):
    """The folder holds no finished run or sweep; the message is one line for the user."""


@dataclass
class Results:
    """What a results folder holds.

    Attributes:
        folder: The folder given.
        runs: One row per finished run: ``run_id``, ``scenario``, ``path`` and metrics.
        scenarios: Scenario labels in plan order.
    """

    folder: Path
    runs: pd.DataFrame
    scenarios: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Per scenario and metric: ``n``, ``mean``, ``lo``, ``hi`` (95% t-interval)."""
        from scipy import stats

        rows = []
        for sc in self.scenarios:
            sub = self.runs[self.runs["scenario"] == sc]
            for key, label in METRICS:
                if key not in sub:
                    continue
                x = pd.to_numeric(sub[key], errors="coerce").dropna()
                n = len(x)
                mean = float(x.mean()) if n else math.nan
                if n > 1:
                    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))
                else:
                    half = math.nan
                rows.append(
                    {
                        "scenario": sc,
                        "metric": key,
                        "label": label,
                        "n": n,
                        "mean": mean,
                        "lo": mean - half,
                        "hi": mean + half,
                    }
                )
        return pd.DataFrame(rows)

    def run_dirs(self, scenario: str) -> list[Path]:
        """The run folders of one scenario, in order."""
        sub = self.runs[self.runs["scenario"] == scenario]
        return [Path(p) for p in sub["path"]]

    def timeseries(self, scenario: str, metric: str) -> pd.Series:
        """Mean over the scenario's runs of a weekly metric, indexed by week."""
        parts = []
        for d in self.run_dirs(scenario):
            p = d / "timeseries.parquet"
            if p.is_file():
                ts = pd.read_parquet(p, columns=["week", metric])
                parts.append(ts.set_index("week")[metric])
        if not parts:
            return pd.Series(dtype=float)
        return pd.concat(parts, axis=1).mean(axis=1)

    def network(self, scenario: str) -> dict[str, Any] | None:
        """``{"initial": ..., "final": ...}`` of the scenario's first run, if saved."""
        for d in self.run_dirs(scenario):
            p = d / "network.json"
            if p.is_file():
                return json.loads(p.read_text())
        return None


def _summary_row(run_id: str, scenario: str, path: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": run_id, "scenario": scenario, "path": str(path)}
    data = json.loads((path / "summary.json").read_text())
    row.update(data.get("metrics", data))
    return row


def _label(path: Path) -> str:
    try:
        labels = json.loads((path / "manifest.json").read_text()).get("labels") or {}
    except (OSError, ValueError):
        labels = {}
    if labels:
        return ", ".join(f"{k}={v}" for k, v in labels.items())
    return path.name


def load(folder: Path | str) -> Results:
    """Read a finished run, a sweep folder, or a folder of run folders.

    Raises:
        ResultsError: When the folder does not exist or holds no finished run.
    """
    folder = Path(folder).expanduser()
    shown = str(folder)
    if not folder.exists():
        raise ResultsError(f"DIR: {shown!r} does not exist; give a run or sweep folder")
    if not folder.is_dir():
        raise ResultsError(f"DIR: {shown!r} is not a folder; give a run or sweep folder")
    try:
        rows = _rows(folder)
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ResultsError(f"DIR: {shown!r} cannot be read ({first})") from None
    if not rows:
        raise ResultsError(
            f"DIR: {shown!r} holds no finished carenet run or sweep "
            "(expected manifest.json, or runs/<id>/manifest.json)"
        )
    runs = pd.DataFrame(rows)
    return Results(folder, runs, list(dict.fromkeys(runs["scenario"].tolist())))


def _rows(folder: Path) -> list[dict[str, Any]]:
    if is_finished(folder):
        return [_summary_row(folder.name, _label(folder), folder)]
    parquet = folder / "runs.parquet"
    runs_dir = folder / "runs"
    if parquet.is_file():
        df = pd.read_parquet(parquet)
        if "status" in df:
            df = df[df["status"] == "complete"]
        df = df.copy()
        df["path"] = [str(folder / p) for p in df["path"]]
        return df.to_dict("records")
    if runs_dir.is_dir():
        plan: dict[str, str] = {}
        sweep = folder / "sweep.json"
        if sweep.is_file():
            plan = {r["run_id"]: r["scenario"] for r in json.loads(sweep.read_text())["runs"]}
        ids = sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and is_finished(p))
        order = [i for i in plan if i in ids] + [i for i in ids if i not in plan]
        return [_summary_row(i, plan.get(i) or _label(runs_dir / i), runs_dir / i) for i in order]
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and is_finished(p))
    return [_summary_row(p.name, _label(p), p) for p in subs]
