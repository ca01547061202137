"""Figures of one run, readable by a person (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

COST_COLOURS = {
    "cost_direct": "#4c72b0",
    "cost_transaction": "#dd8452",
    "cost_failure": "#c44e52",
    "cost_connection": "#55a868",
}


def _legend_outside(ax: plt.Axes) -> None:
    """A legend right of the axes, where it cannot cover a line."""
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _smooth(s: pd.Series, weeks: int = 4) -> pd.Series:
    return s.rolling(weeks, min_periods=1).mean()


def overview_figure(ts: pd.DataFrame, labels: dict[str, str], path: Path) -> None:
    """Value and cost over time: four panels, 4-week rolling means.

    Panels: QALYs gained and lost per week; cost per week by category (stacked);
    episodes started, completed and failed per week; queue length and mean wait. Legends
    sit right of their panels, so they never cover data.
    """
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), constrained_layout=True)
    w = ts["week"]
    ax = axes[0, 0]
    ax.plot(w, _smooth(ts["qalys_gained"]), label="QALYs gained", color="#55a868")
    ax.plot(w, _smooth(ts["qalys_lost"]), label="QALYs lost", color="#c44e52")
    ax.set_title("Patient value per week")
    ax.set_ylabel("QALYs / week")
    _legend_outside(ax)
    ax = axes[0, 1]
    stack = [_smooth(ts[c]) / 1e6 for c in COST_COLOURS]
    ax.stackplot(
        w,
        stack,
        labels=[c.replace("cost_", "") for c in COST_COLOURS],
        colors=list(COST_COLOURS.values()),
        alpha=0.85,
    )
    ax.set_title("Cost per week by category")
    ax.set_ylabel("GBP million / week")
    _legend_outside(ax)
    ax = axes[1, 0]
    for col, colour in (
        ("episodes_started", "#4c72b0"),
        ("episodes_completed", "#55a868"),
        ("episodes_failed", "#c44e52"),
    ):
        ax.plot(w, _smooth(ts[col]), label=col.replace("episodes_", ""), color=colour)
    ax.set_title("Care episodes per week")
    ax.set_ylabel("episodes / week")
    ax.set_xlabel("week")
    _legend_outside(ax)
    ax = axes[1, 1]
    ax.plot(w, ts["queue_length"], color="#8172b3", label="queue length")
    ax.set_ylabel("episodes queued", color="#8172b3")
    ax.set_xlabel("week")
    ax2 = ax.twinx()
    ax2.plot(w, _smooth(ts["mean_wait_weeks"]), color="#937860", label="mean wait")
    ax2.set_ylabel("mean wait of ended episodes (weeks)", color="#937860")
    ax.set_title("Queues and waits")
    title = " | ".join(f"{k}: {v}" for k, v in labels.items())
    fig.suptitle(f"carenet run - {title}", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)
