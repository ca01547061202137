"""Figures of one run, readable by a person (matplotlib's Agg canvas, without pyplot).

A model may draw its own overview figure (``spec.figure``); otherwise the engine draws
:func:`series_figure`: one panel per time-series metric the model declares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_PANELS = 6
WARMUP = "warmup"
"""A model's flag column for warm-up steps (1), shaded in the figure."""


def series_figure(ts: pd.DataFrame, metrics: Any, labels: dict[str, str], path: Path) -> None:
    """The run's time series, one panel per declared series metric (at most six).

    Args:
        ts: The time series (a ``week`` column and one column per metric).
        metrics: The model's metric declarations (:class:`carenet.spec.Metric`).
        labels: The scenario's labels (the figure's title).
        path: Where to write the PNG.

    Steps flagged ``warmup`` (a column, 1 in a model's warm-up) are shaded grey.
    """
    names = [m.name for m in metrics if m.in_series and m.name in ts.columns and m.name != WARMUP]
    if not names:
        names = [c for c in ts.columns if c not in ("week", WARMUP)]
    names = names[:MAX_PANELS]
    titles = {m.name: m.title for m in metrics}
    cols = 2 if len(names) > 1 else 1
    rows = max(1, -(-len(names) // cols))
    fig = Figure(figsize=(6 * cols, 3.5 * rows))  # no pyplot: no GUI machinery, no global state
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    x = ts["week"] if "week" in ts.columns else ts.index
    warm = x[ts[WARMUP] > 0] if WARMUP in ts.columns else x[:0]
    for ax, name in zip(axes.flat, names, strict=False):
        if len(warm):
            ax.axvspan(float(warm.min()) - 0.5, float(warm.max()) + 0.5, color="grey", alpha=0.15)
        ax.plot(x, ts[name], color="#4c72b0")
        ax.set_title(titles.get(name, name))
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    title = " | ".join(f"{k}: {v}" for k, v in labels.items())
    fig.suptitle(f"carenet run - {title}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
