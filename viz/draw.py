"""Matplotlib figures of the view: the organisation network and the value/cost charts.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), so they can be
drawn from Solara's threads. Inputs are plain data (snapshots and weekly series), not the
model, so the live view and the results view draw the same pictures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from carenet.sim.report import KIND_COLOURS

RULE_MARKERS: dict[str, str] = {"empowerment": "o", "domination": "s"}
"""Node marker by power rule (any other rule: triangle)."""

HUB_SHARE = 0.05


def layout(snapshot: Mapping[str, Any], seed: int = 7) -> dict[int, np.ndarray]:
    """Fixed node positions from ties and reporting lines (computed once per run)."""
    import networkx as nx

    nodes = snapshot["nodes"]
    ids = [n["id"] for n in nodes]
    g = nx.Graph()
    g.add_nodes_from(ids)
    g.add_edges_from(
        ((n["id"], n["parent"]) for n in nodes if n.get("parent", -1) in set(ids)), weight=0.3
    )
    g.add_edges_from(((t["a"], t["b"]) for t in snapshot["ties"]), weight=1.0)
    return nx.spring_layout(g, seed=seed, weight="weight", k=1.2 / math.sqrt(max(len(ids), 1)))


def hubs(nodes: Sequence[Mapping[str, Any]], by: str = "degree") -> list[int]:
    """The top 5% of active organisations by ``by`` (degree or influence)."""
    ranked = sorted(
        (n for n in nodes if n.get(by, 0) > 0 and n.get("active", True)),
        key=lambda n: (-n[by], n["id"]),
    )
    return [n["id"] for n in ranked[: max(1, math.ceil(HUB_SHARE * len(nodes)))]]


def network_axes(
    ax: Any,
    snapshot: Mapping[str, Any],
    pos: Mapping[int, Any],
    size_by: str = "degree",
    hierarchy: bool = False,
    title: str = "",
) -> None:
    """Draw one snapshot: colour = kind, marker = power rule, size = degree or influence."""
    nodes = snapshot["nodes"]
    by_id = {n["id"]: n for n in nodes}
    if hierarchy:
        lines = [
            (pos[n["id"]], pos[n["parent"]])
            for n in nodes
            if n.get("parent", -1) in by_id and n["id"] in pos and n["parent"] in pos
        ]
        ax.add_collection(
            LineCollection(lines, linestyles=":", linewidths=0.7, colors="#888888", alpha=0.6)
        )
    ties = [t for t in snapshot["ties"] if t["a"] in pos and t["b"] in pos]
    if ties:
        trust = np.array([float(t.get("trust", 0.5)) for t in ties])
        colours = [
            (0.16, 0.44, 0.59) if t.get("shared_records") else (0.27, 0.27, 0.27) for t in ties
        ]
        ax.add_collection(
            LineCollection(
                [(pos[t["a"]], pos[t["b"]]) for t in ties],
                linewidths=0.3 + 1.7 * trust,
                colors=[(*c, 0.15 + 0.5 * tr) for c, tr in zip(colours, trust, strict=True)],
                zorder=1,
            )
        )
    vals = np.array([float(n.get(size_by, 0.0)) for n in nodes])
    top = vals.max() if len(vals) and vals.max() > 0 else 1.0
    hub_ids = set(hubs(nodes, size_by))
    for marker in {RULE_MARKERS.get(n["rule"], "^") for n in nodes}:
        sel = [
            (n, v)
            for n, v in zip(nodes, vals, strict=True)
            if RULE_MARKERS.get(n["rule"], "^") == marker
        ]
        ax.scatter(
            [pos[n["id"]][0] for n, _ in sel],
            [pos[n["id"]][1] for n, _ in sel],
            s=[18 + 380 * v / top for _, v in sel],
            marker=marker,
            c=[
                KIND_COLOURS.get(n["kind"], "#cccccc") if n.get("active", True) else "white"
                for n, _ in sel
            ],
            edgecolors=["black" if n["id"] in hub_ids else "#555555" for n, _ in sel],
            linewidths=[2.2 if n["id"] in hub_ids else 0.5 for n, _ in sel],
            zorder=2,
        )
    n_ties = len(snapshot["ties"])
    ax.set_title(f"{title}{n_ties} ties at week {snapshot.get('week', '?')}", fontsize=10)
    ax.set_axis_off()


def _legend(fig: Figure, nodes: Sequence[Mapping[str, Any]], hierarchy: bool) -> None:
    kinds = [k for k in KIND_COLOURS if any(n["kind"] == k for n in nodes)]
    h = [Line2D([], [], marker="o", ls="", color=KIND_COLOURS[k], label=k) for k in kinds]
    rules = sorted({n["rule"] for n in nodes})
    h += [
        Line2D([], [], marker=RULE_MARKERS.get(r, "^"), ls="", mfc="white", mec="black", label=r)
        for r in rules
    ]
    h.append(Line2D([], [], marker="o", ls="", mfc="white", mec="black", mew=2, label="hub"))
    if hierarchy:
        h.append(Line2D([], [], ls=":", color="#888888", label="reporting line"))
    fig.legend(handles=h, loc="lower center", ncol=min(6, len(h)), frameon=False, fontsize=8)


# The live view's figures are redrawn while a run plays, so their panels sit at fixed places
# (fractions of the figure) rather than being placed by a layout engine: constrained layout
# draws a figure twice to measure its text, which doubled the time of every redraw.
_NETWORK_GRID = {"left": 0.02, "right": 0.98, "bottom": 0.1, "top": 0.9, "wspace": 0.05}
_CHART_GRID = {"left": 0.06, "right": 0.99, "bottom": 0.08, "wspace": 0.25, "hspace": 0.42}
_DIFF_GRID = {"left": 0.05, "right": 0.99, "bottom": 0.1, "top": 0.84, "wspace": 0.3}


def network_figure(
    panels: Sequence[tuple[str, Mapping[str, Any], Mapping[int, Any]]],
    size_by: str = "degree",
    hierarchy: bool = False,
) -> Figure:
    """Side-by-side network panels: (title, snapshot, positions) each."""
    n = max(len(panels), 1)
    fig = Figure(figsize=(5.2 * n, 5.0))
    axes = fig.subplots(1, n, squeeze=False, gridspec_kw=_NETWORK_GRID)[0]
    nodes: list[Mapping[str, Any]] = []
    for ax, (title, snap, pos) in zip(axes, panels, strict=False):
        network_axes(ax, snap, pos, size_by, hierarchy, title=f"{title}\n" if title else "")
        nodes += list(snap["nodes"])
    _legend(fig, nodes, hierarchy)
    return fig


CHARTS: tuple[tuple[str, Sequence[str], bool], ...] = (
    ("Net QALYs, cumulative", ("qalys_net",), True),
    ("Net monetary benefit, cumulative (GBP m)", ("net_monetary_benefit",), True),
    (
        "Cost parts, cumulative (GBP m)",
        ("cost_direct", "cost_transaction", "cost_failure", "cost_connection"),
        True,
    ),
    ("Failed handoffs per week", ("handoffs_failed",), False),
    ("Mean wait (weeks)", ("mean_wait_weeks",), False),
)
"""Chart panels: title, metrics, cumulative?"""

_SCALE = {"net_monetary_benefit": 1e-6, "cost_direct": 1e-6, "cost_transaction": 1e-6}
_SCALE |= {"cost_failure": 1e-6, "cost_connection": 1e-6}
_STYLES = ("-", "--")


def _prep(values: Sequence[float], cumulative: bool, scale: float) -> np.ndarray:
    y = np.asarray(values, dtype=float) * scale
    if cumulative:
        y = np.nancumsum(y)
    return y


def charts_figure(series: Mapping[str, Mapping[str, Sequence[float]]], title: str = "") -> Figure:
    """Value and cost charts: ``series[label][metric]`` = weekly values, one line per label."""
    fig = Figure(figsize=(11, 5.6))
    axes = list(fig.subplots(2, 3, gridspec_kw=_CHART_GRID | {"top": 0.9 if title else 0.95}).flat)
    colours = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    for ax, (name, metrics, cum) in zip(axes, CHARTS, strict=False):
        for li, (label, data) in enumerate(series.items()):
            for mi, m in enumerate(metrics):
                if m not in data:
                    continue
                y = _prep(data[m], cum, _SCALE.get(m, 1.0))
                tag = m.removeprefix("cost_") if len(metrics) > 1 else ""
                text = ", ".join(t for t in (label, tag) if t)
                ax.plot(
                    np.arange(len(y)),
                    y,
                    ls=_STYLES[li % 2],
                    color=colours[mi % 4] if len(metrics) > 1 else colours[li % 4],
                    lw=1.4,
                    label=text or None,
                )
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("week", fontsize=7)
        if ax.get_legend_handles_labels()[0] and (len(series) > 1 or len(metrics) > 1):
            ax.legend(fontsize=6)
    for ax in axes[len(CHARTS) :]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


DIFF: tuple[tuple[str, str, float], ...] = (
    ("qalys_net", "Net QALYs", 1.0),
    ("net_monetary_benefit", "Net monetary benefit (GBP m)", 1e-6),
    ("cost_total", "Total cost (GBP m)", 1e-6),
    ("handoffs_failed", "Failed handoffs", 1.0),
)


def difference_figure(diff: Mapping[str, Sequence[float]], title: str) -> Figure:
    """Cumulative B - A of the headline metrics, under common random numbers."""
    fig = Figure(figsize=(11, 2.6))
    axes = fig.subplots(1, len(DIFF), gridspec_kw=_DIFF_GRID)
    for ax, (m, label, scale) in zip(axes, DIFF, strict=True):
        y = _prep(diff.get(m, []), True, scale)
        ax.axhline(0, color="#999999", lw=0.8)
        ax.plot(np.arange(len(y)), y, color="#6a3d9a", lw=1.6)
        ax.set_title(f"{label}, B - A", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def interval_figure(table: Any, metrics: Sequence[tuple[str, str]]) -> Figure:
    """Scenario means with 95% intervals, one panel per metric (``table`` from results)."""
    k = len(metrics)
    cols = 3
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(11, 2.4 * rows + 0.4), layout="constrained")
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    scenarios = list(dict.fromkeys(table["scenario"]))
    for ax, (m, label) in zip(axes, metrics, strict=False):
        sub = table[table["metric"] == m].set_index("scenario").reindex(scenarios)
        y = np.arange(len(scenarios))
        mean = sub["mean"].to_numpy(float)
        err = np.vstack([mean - sub["lo"].to_numpy(float), sub["hi"].to_numpy(float) - mean])
        err = np.nan_to_num(err)
        ax.errorbar(mean, y, xerr=err, fmt="o", color="#1f77b4", capsize=3)
        ax.set_yticks(y, scenarios, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes[k:]:
        ax.set_axis_off()
    return fig
