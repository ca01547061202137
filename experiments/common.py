"""What an experiment's analysis gets and gives back.

The runner (:mod:`carenet.experiments.runner`) runs every arm as a sweep, collects it
(``carenet collect``: ``runs.parquet``) and hands the analysis a :class:`Results`: each
arm's finished runs as rows of that table, in plan order (scenario by scenario, each
replication by replication, so two arms' rows pair up seed by seed). The analysis returns
:class:`Findings`: Markdown for the experiment's report and tables written as CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from carenet.experiments.declaration import Experiment

Row = dict[str, Any]
"""One run: a row of ``runs.parquet`` (identity columns, parameters, summary metrics)."""


@dataclass
class Results:
    """The finished runs of an experiment, by arm.

    Attributes:
        experiment: The declaration.
        runs: Arm id -> rows in plan order.
        overrides: The overrides every run shares (the experiment's base with the user's),
            without ``replications`` and ``seed``.
        replications: Replications per scenario.
        seed: The root seed.
        folders: Arm id -> its sweep folder (a design's analysis reads ``design.json``).
    """

    experiment: Experiment
    runs: dict[str, list[Row]]
    overrides: list[str]
    replications: int
    seed: int
    folders: dict[str, Any] = field(default_factory=dict)

    def of(self, *arm_ids: str) -> list[Row]:
        """The rows of these arms, one arm after the other."""
        return [r for a in arm_ids for r in self.runs[a]]

    def label(self, arm_id: str) -> str:
        """The printed name of an arm."""
        return self.experiment.arm(arm_id).label


@dataclass
class Findings:
    """What an analysis made of the runs.

    Attributes:
        markdown: The experiment's own section of ``report.md`` (also printed).
        tables: File stem -> table, each written as ``OUT/<stem>.csv``.
        figures: File stem -> matplotlib figure, each saved as ``OUT/figures/<stem>.png``.
    """

    markdown: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)


Analysis = Callable[[Results], Findings]
"""The signature of an experiment's ``analysis`` function."""


def interval_figure(
    panels: dict[str, list[tuple[str, Any]]], title: str, ylabel: str | None = None
) -> Any:
    """Means with 95% intervals (:class:`~carenet.sim.analysis.Interval`), one panel each.

    Args:
        panels: Panel title -> (category, interval) pairs, drawn left to right.
        title: The figure's title.
        ylabel: The y axis label of every panel (default: the panel title).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(3.6 * len(panels), 6.0)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 3.8), squeeze=False)
    for ax, (name, bars) in zip(axes[0], panels.items(), strict=True):
        xs = range(len(bars))
        means = [ci.mean for _, ci in bars]
        errs = [[ci.mean - ci.lo for _, ci in bars], [ci.hi - ci.mean for _, ci in bars]]
        ax.errorbar(xs, means, yerr=errs, fmt="o", capsize=4, color="#4c72b0")
        ax.set_xticks(list(xs), [c for c, _ in bars], rotation=20, ha="right", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(ylabel or name, fontsize=8)
        if ylabel:  # differences: show where zero is
            ax.axhline(0, color="#999999", lw=0.5)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def where(rows: list[Row], **values: Any) -> list[Row]:
    """The rows whose columns equal these values (``where(rows, response="none")``).

    Keys with dots are given with ``__`` (``handoff__trust_loss=0.3``).
    """
    want = {k.replace("__", "."): v for k, v in values.items()}
    return [r for r in rows if all(r.get(k) == v for k, v in want.items())]


def column(rows: list[Row], key: str) -> list[Any]:
    """One column of the rows, in order."""
    return [r[key] for r in rows]
