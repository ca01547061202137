"""A readable report of a sweep: ``carenet report DIR [--baseline NAME]``.

Writes ``DIR/report.md`` and the figures it embeds into ``DIR/figures/``:

1. what was run: the command, the swept values, scenarios, replications and every seed;
2. how intervals are computed (STRESS-ABS style: Student t, ``n − 1`` degrees of freedom;
   on the logit scale for shares and the log scale for non-negative quantities, so an
   interval never leaves the metric's range);
3. means with 95% confidence intervals over replications, for each scenario;
4. paired differences against a baseline scenario (the first, or ``--baseline``), pairs
   matched by replication index, which under one root seed means the same run seed
   (common random numbers);
5. figures: time series with bands, the value–cost plane (one point per run), the network
   at the end of a run with hubs highlighted, and a heat-map when two parameters were swept;
6. failed runs, if any.

It reads ``runs.parquet`` and ``timeseries.parquet`` (running ``carenet collect`` first if
they are missing or older than the runs), and only the few time-series metrics it plots.
The tables are also written as CSV (``DIR/summary.csv``, ``DIR/differences.csv``; shares
there as 0–1, in the report as %).

Every file is first written into a hidden folder inside ``DIR`` and renamed into place only
when all are complete (``report.md`` last), so a failure (a full disk, say) changes nothing
and leaves no temporary file. A file of the same name that carenet did not write is never
replaced (the command refuses, naming it); one run's own folder is refused, as by
``carenet collect``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .analysis import (  # noqa: E402
    LEVEL,
    POSITIVE,
    SHARE,
    band,
    mean_ci,
    metric_scale,
    paired_differences,
    t_quantile,
)
from .collect import (  # noqa: E402
    LONG_COLUMNS,
    RUNS_FILE,
    TIMESERIES_FILE,
    CollectError,
    ResultWriteError,
    check_input_folder,
    check_replaceable,
    collect,
    is_our_table,
    planned_note,
    read_sweep_strict,
)
from .sweep import FAILURES, RUNS, SWEEP_FILE, swept_of  # noqa: E402

REPORT_FILE = "report.md"
SUMMARY_CSV = "summary.csv"
DIFFERENCES_CSV = "differences.csv"
FIGURES = ("timeseries.png", "value_cost.png", "network.png", "heatmap.png")
PNG_SOFTWARE = "carenet report"
"""The PNG ``Software`` text of the report's figures: how the report knows its own files."""

KIND_COLOURS: dict[str, str] = {
    "gp": "#4c72b0",
    "acute": "#c44e52",
    "community": "#55a868",
    "mental_health": "#8172b3",
    "social_care": "#dd8452",
    "vcse": "#937860",
    "national_body": "#222222",
    "commissioner": "#7f7f7f",
    "regulator": "#a0a0a0",
    "hwb": "#bcbd22",
}
"""Node colour by organisation kind in the network figures (the report's and the view's);
any other kind is grey."""


@dataclass(frozen=True)
class View:
    """What the report shows of a model's metrics, made from its declarations.

    Attributes:
        table: Metrics in the tables, with their labels, in order.
        percent: Shares shown as % in report.md (differences in percentage points).
        lower: Metrics for which less is better (heat-map colours reversed).
        key: Metrics shown when there are too many scenarios for a column each.
        series: Time-series panels: metric, title, cumulative?, scale.
        spec: The model spec, whose declarations give each metric's interval scale
            (:func:`metric_scale`).
    """

    table: tuple[tuple[str, str], ...]
    percent: frozenset[str]
    lower: frozenset[str]
    key: tuple[str, ...]
    series: tuple[tuple[str, str, bool, float], ...]
    spec: Any


def view_of(spec: Any) -> View:
    """The report's view of a model: from its metric declarations (and ``panels``)."""
    shown = _lead_with(
        [m for m in spec.metrics if m.in_summary], getattr(spec, "headline_order", None)
    )
    table = tuple((m.name, m.title) for m in shown)
    key = tuple(m.name for m in shown if m.headline) or tuple(n for n, _ in table[:6])
    series = getattr(spec, "panels", None) or tuple(
        (m.name, m.title, False, 1.0) for m in spec.metrics if m.in_series
    )
    return View(
        table=table,
        percent=frozenset(m.name for m in shown if "%" in m.fmt),
        lower=frozenset(m.name for m in spec.metrics if m.better == "lower"),
        key=key,
        series=tuple(series)[:4],
        spec=spec,
    )


def _lead_with(metrics: list[Any], order: Any) -> list[Any]:
    """``metrics`` with those named in ``order`` first, in that order, then the rest.

    ``order`` is a spec's ``headline_order`` (carenet's leads with the discounted totals,
    each undiscounted total beside it); a spec without one keeps its declaration order.
    """
    rank = {name: i for i, name in enumerate(order or ())}
    return sorted(metrics, key=lambda m: rank.get(m.name, len(rank)))


def _scale(metric: str) -> str:
    """A metric's interval scale: as the model declares it, else by its name."""
    return metric_scale(metric, _view().spec)


_VIEW: list[View] = []
"""The view of the report being written (set by :func:`_write_report`)."""


def _view() -> View:
    if not _VIEW:
        from .modelspec import load_spec

        _VIEW.append(view_of(load_spec("")))
    return _VIEW[-1]


MAX_WIDE_SCENARIOS = 6
MAX_NETWORK_PANELS = 4


class ReportError(ValueError):
    """The report cannot be written; the message is one line for the user."""


# --- formatting -------------------------------------------------------------------------


def _decimals(x: float) -> int:
    a = abs(x)
    if not math.isfinite(a) or a >= 1000:
        return 0
    if a >= 10:
        return 1
    if a >= 1:
        return 2
    if a == 0:
        return 2
    return min(6, 2 - int(math.floor(math.log10(a))))


def fmt_num(x: float, decimals: int | None = None) -> str:
    """A number for a table: thousands separators, decimals by size."""
    if x is None or not math.isfinite(x):
        return "n/a"
    d = _decimals(x) if decimals is None else decimals
    return f"{x:,.{d}f}"


def fmt_ci(mean: float, lo: float, hi: float) -> str:
    """``mean [lo, hi]`` with one number format chosen for the three."""
    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return fmt_num(mean)
    width = hi - lo
    wide = width > 1e-9 * max(1.0, abs(mean))
    d = max(_decimals(mean), _decimals(width) if wide else 0)
    d = min(d, 6)
    return f"{fmt_num(mean, d)} [{fmt_num(lo, d)}, {fmt_num(hi, d)}]"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# --- data -------------------------------------------------------------------------------


def _needs_collect(folder: Path) -> bool:
    runs = folder / RUNS_FILE
    ts = folder / TIMESERIES_FILE
    if not is_our_table(runs) or not is_our_table(ts, LONG_COLUMNS):
        return True  # missing or damaged: collect again (collect refuses a foreign file)
    t = min(runs.stat().st_mtime_ns, ts.stat().st_mtime_ns)
    for p in (folder / SWEEP_FILE, folder / RUNS, folder / FAILURES):
        if p.exists() and p.stat().st_mtime_ns > t:
            return True
    return False


def load_runs(folder: Path) -> pd.DataFrame:
    """``runs.parquet`` of a folder, collecting it first if missing, stale or unreadable.

    Raises:
        CollectError: As :func:`carenet.sim.collect.collect`.
        ResultWriteError: If collecting could not write its tables.
    """
    if not _needs_collect(folder):
        try:
            return pd.read_parquet(folder / RUNS_FILE)
        except Exception:  # noqa: BLE001 - damaged: collect again (it refuses a foreign file)
            pass
    collect(folder)
    try:
        return pd.read_parquet(folder / RUNS_FILE)
    except Exception as exc:  # noqa: BLE001 - e.g. removed while we read it
        raise CollectError(
            f"{folder / RUNS_FILE}: unreadable just after collecting: {exc}"
        ) from None


def scenario_order(runs: pd.DataFrame) -> list[str]:
    """Scenario labels in order of first appearance (plan order)."""
    return list(dict.fromkeys(runs["scenario"].tolist()))


def resolve_baseline(name: str | None, scenarios: list[str], sweep: dict[str, Any]) -> str:
    """Find the scenario ``--baseline`` names.

    Accepted: the exact label; a scenario id prefix; ``key=value`` pairs (separated by
    commas or spaces) that together match one scenario's swept values; or text found in
    exactly one label. Default: the first scenario.

    Raises:
        ReportError: If nothing, or more than one scenario, matches.
    """
    if not scenarios:
        raise ReportError("no finished runs to report on")
    if not name:
        return scenarios[0]
    if name in scenarios:
        return name
    ids = {s["scenario"]: s.get("scenario_id", "") for s in sweep.get("scenarios", [])}
    values = {s["scenario"]: s.get("values", {}) for s in sweep.get("scenarios", [])}
    hits = [s for s in scenarios if ids.get(s, "").startswith(name)] if len(name) >= 6 else []
    if len(hits) != 1:
        tokens = [t for t in name.replace(",", " ").split() if "=" in t]
        if tokens:
            want = dict(t.split("=", 1) for t in tokens)
            hits = [
                s
                for s in scenarios
                if all(str(values.get(s, {}).get(k.lstrip("+~"))) == v for k, v in want.items())
            ]
    if len(hits) != 1:
        hits = [s for s in scenarios if name in s]
    if len(hits) == 1:
        return hits[0]
    what = "matches several scenarios" if hits else "is not a scenario"
    raise ReportError(f"--baseline: {name!r} {what}; scenarios: " + "; ".join(scenarios))


# --- figures ----------------------------------------------------------------------------


def _colours(scenarios: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10" if len(scenarios) <= 10 else "tab20")
    return {s: cmap(i % cmap.N) for i, s in enumerate(scenarios)}


def timeseries_figure(
    folder: Path, scenarios: list[str], colours: dict[str, Any], path: Path
) -> bool:
    """Mean and 95% band over replications, per scenario, of a few weekly metrics."""
    import pyarrow.parquet as pq

    series = _view().series
    names = [m for m, *_ in series]
    table = pq.read_table(folder / TIMESERIES_FILE, filters=[("metric", "in", [*names, WARMUP])])
    ts = table.to_pandas()
    warm, ts = _warmup_weeks(ts)
    if ts.empty:
        return False
    rows, cols = (2, 2) if len(series) > 2 else (1, len(series))
    fig, axes = plt.subplots(
        rows, cols, figsize=(6 * cols, 4 * rows), constrained_layout=True, squeeze=False
    )
    for ax, (metric, title, cumulative, scale) in zip(axes.flat, series, strict=False):
        sub = ts[ts["metric"] == metric]
        for s in scenarios:
            wide = sub[sub["scenario"] == s].pivot_table(
                index="run_id", columns="week", values="value", aggfunc="first"
            )
            if wide.empty:
                continue
            wide = wide.sort_index(axis=1)
            v = wide.to_numpy(dtype=float)
            if cumulative:  # from the end of the warm-up, as the summary counts
                v = np.nancumsum(np.where(np.isin(wide.columns, warm)[None, :], 0.0, v), axis=1)
            mean, lo, hi = band(v * scale)
            # Weekly values near zero over few replications make a log-scale band explode;
            # the plain band is clipped at the range instead (stated in the title).
            if _scale(metric) == POSITIVE:
                lo = np.maximum(lo, 0.0)
            elif _scale(metric) == SHARE:
                lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
            w = wide.columns.to_numpy()
            ax.plot(w, mean, color=colours[s], label=f"{s} (n={v.shape[0]})", lw=1.6)
            ax.fill_between(w, lo, hi, color=colours[s], alpha=0.2, lw=0)
        if len(warm):
            ax.axvspan(min(warm) - 0.5, max(warm) + 0.5, color="grey", alpha=0.15, lw=0)
        ax.set_title(title)
        ax.set_xlabel("week")
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(2, len(handles)))
    shaded = (
        f"\nshaded: the warm-up, weeks {min(warm)}-{max(warm)}, left out of every total "
        "(cumulative panels start after it)"
        if len(warm)
        else ""
    )
    fig.suptitle(
        f"Mean over replications with {LEVEL:.0%} t-interval bands "
        f"(clipped at zero for non-negative series){shaded}",
        fontsize=10,
    )
    _savefig(fig, path)
    plt.close(fig)
    return True


WARMUP = "warmup"
"""The time-series column a model flags its warm-up weeks with (1; see ModelSpec)."""


def _warmup_weeks(ts: pd.DataFrame) -> tuple[list[int], pd.DataFrame]:
    """The weeks any run flags as warm-up, and the long-form series without the flag."""
    flag = ts[ts["metric"] == WARMUP]
    weeks = sorted(int(w) for w in flag.loc[flag["value"] > 0, "week"].unique())
    return weeks, ts[ts["metric"] != WARMUP]


def _savefig(fig: Any, path: Path) -> None:
    """Save a report figure, marked as carenet's (see :data:`PNG_SOFTWARE`)."""
    fig.savefig(path, dpi=110, metadata={"Software": PNG_SOFTWARE})


def value_cost_figure(
    ok: pd.DataFrame,
    scenarios: list[str],
    colours: dict[str, Any],
    baseline: str,
    path: Path,
) -> bool:
    """QALYs against cost: one point per run, one colour per scenario, means with CIs."""
    if "qalys_net" not in ok or "cost_total" not in ok:
        return False
    fig, ax = plt.subplots(figsize=(9, 6.5), constrained_layout=True)
    for s in scenarios:
        sub = ok[ok["scenario"] == s]
        x = sub["qalys_net"].to_numpy(float)
        y = sub["cost_total"].to_numpy(float) / 1e6
        ax.scatter(x, y, s=22, color=colours[s], alpha=0.6, label=s)
        cx = mean_ci(x, scale=_scale("qalys_net"))
        cy = mean_ci(y, scale=_scale("cost_total"))
        xerr = None if math.isnan(cx.lo) else [[cx.mean - cx.lo], [cx.hi - cx.mean]]
        yerr = None if math.isnan(cy.lo) else [[cy.mean - cy.lo], [cy.hi - cy.mean]]
        ax.errorbar(
            cx.mean,
            cy.mean,
            xerr=xerr,
            yerr=yerr,
            fmt="D",
            ms=8,
            color=colours[s],
            mec="black",
            capsize=3,
        )
    thr = (
        ok["costs.threshold_gbp_per_qaly"].dropna() if "costs.threshold_gbp_per_qaly" in ok else []
    )
    base = ok[ok["scenario"] == baseline]
    if len(thr) and not base.empty:
        t = float(thr.iloc[0])
        bx, by = base["qalys_net"].mean(), base["cost_total"].mean() / 1e6
        xs = np.array(ax.get_xlim())
        ax.plot(xs, by + t * (xs - bx) / 1e6, ls="--", color="grey", lw=1)
        ax.set_xlim(*xs)
        ax.annotate(
            f"equal net monetary benefit to the baseline at £{t:,.0f}/QALY "
            "(below/right of the line: better)",
            xy=(0.01, 0.01),
            xycoords="axes fraction",
            fontsize=8,
            color="grey",
        )
    ax.set_xlabel("Net QALYs per run")
    ax.set_ylabel("Total cost per run (GBP m)")
    ax.set_title("Value–cost plane (dots: runs; diamonds: means with 95% CIs)")
    ax.grid(alpha=0.3)
    # Outside the axes, on the right: a legend inside would cover runs.
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _savefig(fig, path)
    plt.close(fig)
    return True


def hubs_of(nodes: list[dict[str, Any]], share: float = 0.05) -> list[int]:
    """Ids of the hubs: the top ``share`` of organisations by degree (at least one)."""
    ranked = sorted(
        (n for n in nodes if n.get("degree", 0) > 0), key=lambda n: (-n["degree"], n["id"])
    )
    k = max(1, math.ceil(share * len(nodes)))
    return [n["id"] for n in ranked[:k]]


def network_figure(
    panels: list[tuple[str, Path]], path: Path, skipped: list[str] | None = None
) -> bool:
    """The tie network at the end of one run per scenario; hubs outlined and named.

    The layout uses ties and reporting lines (drawn faint and dotted), so a hierarchy with
    few ties still shows its shape; hubs are numbered H1, H2 ... and listed in the panel.
    """
    snaps = _read_snapshots(panels, skipped)
    if not snaps:
        return False
    n = len(snaps)
    cols = min(2, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 6.4 * rows), squeeze=False)
    for ax, (title, snap) in zip(axes.flat, snaps, strict=False):
        _network_panel(ax, title, snap)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    _network_legend(fig, snaps)
    fig.suptitle(
        "Organisations at the end of the run: colour = kind, size = degree, edge width = trust",
        y=0.995,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    _savefig(fig, path)
    plt.close(fig)
    return True


def _read_snapshots(
    panels: list[tuple[str, Path]], skipped: list[str] | None
) -> list[tuple[str, dict[str, Any]]]:
    """The final network snapshot of each panel's run; unreadable ones go to ``skipped``."""
    snaps = []
    for title, run_dir in panels:
        p = run_dir / "network.json"
        if p.is_file():
            try:
                snap = json.loads(p.read_text())["final"]
                snap["nodes"], snap["ties"]  # noqa: B018 - what the panel draws
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
                if skipped is not None:
                    skipped.append(str(p))
                continue
            snaps.append((title, snap))
    return snaps


def _network_panel(ax: Any, title: str, snap: dict[str, Any]) -> None:
    """One run's network: reporting lines, ties by trust, organisations, hubs listed."""
    import networkx as nx

    nodes = sorted(snap["nodes"], key=lambda x: x["id"])
    ids = {x["id"] for x in nodes}
    ties = nx.Graph()
    ties.add_nodes_from(sorted(ids))
    ties.add_edges_from((t["a"], t["b"], {"trust": t.get("trust", 0.5)}) for t in snap["ties"])
    lines = [(x["id"], x["parent"]) for x in nodes if x.get("parent", -1) in ids]
    layout = nx.Graph()
    layout.add_nodes_from(sorted(ids))
    layout.add_edges_from(lines, weight=0.3)
    layout.add_edges_from(ties.edges, weight=1.0)
    pos = nx.spring_layout(layout, seed=7, weight="weight", k=1.2 / math.sqrt(len(ids)))
    deg = {x["id"]: int(x.get("degree", ties.degree(x["id"]))) for x in nodes}
    hubs = hubs_of(nodes)
    nx.draw_networkx_edges(
        nx.Graph(lines), pos, ax=ax, style=":", width=0.6, alpha=0.35, edge_color="#888888"
    )
    widths = [0.4 + 1.6 * ties.edges[e]["trust"] for e in ties.edges]
    nx.draw_networkx_edges(ties, pos, ax=ax, width=widths, alpha=0.45, edge_color="#444444")
    _network_nodes(ax, nodes, pos, deg, hubs)
    _hub_listing(ax, nodes, deg, hubs)
    n_ties = ties.number_of_edges()
    ax.set_title(f"{title}\n{n_ties} ties at week {snap.get('week', '?')}", fontsize=10)
    ax.set_axis_off()


def _network_nodes(
    ax: Any, nodes: list[dict[str, Any]], pos: Any, deg: dict[int, int], hubs: list[int]
) -> None:
    """Organisations coloured by kind and sized by degree; hubs outlined and numbered."""
    dmax = max(deg.values()) or 1
    for x in nodes:
        i = x["id"]
        colour = KIND_COLOURS.get(x["kind"], "#cccccc")
        is_hub = i in hubs
        ax.scatter(
            *pos[i],
            s=25 + 450 * deg[i] / dmax,
            color=colour if x.get("active", True) else "white",
            edgecolors="black" if is_hub else colour,
            linewidths=2.4 if is_hub else 0.8,
            zorder=3 if is_hub else 2,
        )
        if is_hub:
            ax.annotate(
                f"H{hubs.index(i) + 1}",
                pos[i],
                xytext=(7, 7),
                textcoords="offset points",
                fontsize=9,
                weight="bold",
                zorder=4,
            )


def _hub_listing(
    ax: Any, nodes: list[dict[str, Any]], deg: dict[int, int], hubs: list[int]
) -> None:
    """The panel's list of hubs (H1: kind #id, degree d) in its lower left corner."""
    listing = "\n".join(
        f"H{k + 1}: {nodes_by_id['kind']} #{h}, degree {deg[h]}"
        for k, h in enumerate(hubs)
        for nodes_by_id in [next(x for x in nodes if x["id"] == h)]
    )
    if listing:
        ax.text(
            0.01,
            0.01,
            listing,
            transform=ax.transAxes,
            fontsize=8,
            va="bottom",
            bbox={"boxstyle": "round", "fc": "white", "ec": "#999999", "alpha": 0.9},
        )


def _network_legend(fig: Any, snaps: list[tuple[str, dict[str, Any]]]) -> None:
    """The kinds present (in :data:`KIND_COLOURS` order), hubs and reporting lines."""
    order = list(KIND_COLOURS)
    kinds = sorted(
        {x["kind"] for _, s in snaps for x in s["nodes"]},
        key=lambda k: order.index(k) if k in order else len(order),
    )
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=KIND_COLOURS.get(k, "#ccc"), label=k)
        for k in kinds
    ]
    handles.append(
        plt.Line2D([], [], marker="o", ls="", mfc="white", mec="black", mew=2, label="hub (top 5%)")
    )
    handles.append(plt.Line2D([], [], ls=":", color="#888888", label="reporting line"))
    fig.legend(handles=handles, loc="lower center", ncol=min(7, len(handles)), frameon=False)


def _typed_order(values: list[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return values


def heatmap_figure(
    ok: pd.DataFrame, sweep: dict[str, Any], path: Path
) -> tuple[bool, list[str], list[str]]:
    """Means over runs on the grid of the first two swept keys (others averaged)."""
    swept = {k: v for k, v in swept_of(sweep).items() if len(v) > 1}
    if len(swept) < 2:
        return False, [], []
    kx, ky = list(swept)[:2]
    values = {s["scenario"]: s.get("values", {}) for s in sweep.get("scenarios", [])}
    d = ok.copy()
    d["_x"] = d["scenario"].map(lambda s: values.get(s, {}).get(kx))
    d["_y"] = d["scenario"].map(lambda s: values.get(s, {}).get(ky))
    xs = _typed_order(list(dict.fromkeys(swept[kx])))
    ys = _typed_order(list(dict.fromkeys(swept[ky])))
    metrics = [
        m
        for m in ("net_monetary_benefit", "qalys_net", "cost_total")
        if m in d and d[m].notna().any()
    ]
    if not metrics:
        return False, [], []
    fig, axes = plt.subplots(
        1,
        len(metrics),
        figsize=(5.2 * len(metrics), 0.6 * len(ys) + 3.2),
        squeeze=False,
        constrained_layout=True,
    )
    for ax, m in zip(axes.flat, metrics, strict=True):
        grid = np.full((len(ys), len(xs)), np.nan)
        for i, yv in enumerate(ys):
            for j, xv in enumerate(xs):
                cell = d[(d["_x"] == xv) & (d["_y"] == yv)][m]
                if cell.notna().any():
                    grid[i, j] = cell.mean()
        scale, unit = (1e-6, " (GBP m)") if m != "qalys_net" else (1.0, "")
        lower_better = m in _view().lower
        cmap = "viridis_r" if lower_better else "viridis"
        im = ax.imshow(grid * scale, cmap=cmap, aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)), xs, rotation=30, ha="right")
        ax.set_yticks(range(len(ys)), ys)
        ax.set_xlabel(kx)
        ax.set_ylabel(ky)
        ax.set_title(f"{m}{unit}, mean over runs", fontsize=10)
        for i in range(len(ys)):
            for j in range(len(xs)):
                if np.isfinite(grid[i, j]):
                    r, g, b, _ = im.cmap(im.norm(grid[i, j] * scale))
                    dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
                    colour = "white" if dark else "black"
                    text = fmt_num(grid[i, j] * scale)
                    ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=8)
        better = "lower" if lower_better else "higher"
        fig.colorbar(im, ax=ax, shrink=0.8, label=f"{m}{unit}: yellow = better ({better})")
    _savefig(fig, path)
    plt.close(fig)
    return True, [kx, ky], [k for k in swept if k not in (kx, ky)]


# --- the report -------------------------------------------------------------------------


def build_report(folder: Path | str, baseline: str | None = None) -> Path:
    """Write ``report.md``, its figures, ``summary.csv`` and ``differences.csv``.

    Args:
        folder: A sweep folder (or any folder ``carenet collect`` accepts).
        baseline: Scenario to compare against (see :func:`resolve_baseline`).

    Returns:
        The path of ``report.md``.

    Raises:
        ReportError: If there is nothing to report, the baseline is unknown, an input file
            is unreadable, or a file carenet did not write is in the way (nothing written).
        ResultWriteError: If the files cannot be written (nothing is changed then).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"{str(folder)!r} is a file, not a folder; give a sweep folder")
    if not folder.is_dir():
        raise ReportError(f"{str(folder)!r}: no such folder; give a sweep folder")
    from .design import read_record

    rec = read_record(folder)
    if rec is not None and rec.get("method") == "psa":  # a PSA: its cost-effectiveness
        from .psa import PSAError, cea_report

        try:
            return cea_report(folder)
        except PSAError as exc:
            raise ReportError(str(exc)) from None
    if rec is not None:  # a design: its analyses, not a table per point
        from .sensitivity import design_report

        return design_report(folder)
    try:
        check_input_folder(folder, "report")
        sweep = read_sweep_strict(folder) or {}
        _check_outputs(folder)
        runs = load_runs(folder)
    except CollectError as exc:
        raise ReportError(str(exc)) from None
    try:
        stage = Path(tempfile.mkdtemp(prefix=".report.tmp-", dir=folder))
    except OSError as exc:
        raise ResultWriteError(_write_failed(folder, exc)) from None
    try:
        written = _write_report(folder, stage, runs, sweep, baseline)
        _check_outputs(folder)  # the folder may have changed while we drew
        (folder / "figures").mkdir(exist_ok=True)
        for rel in sorted(written, key=lambda r: r == REPORT_FILE):  # report.md last
            os.replace(stage / rel, folder / rel)
    except CollectError as exc:
        raise ReportError(str(exc)) from None
    except OSError as exc:
        raise ResultWriteError(_write_failed(folder, exc)) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return folder / REPORT_FILE


def _write_failed(folder: Path, exc: OSError) -> str:
    why = exc.strerror or str(exc) or type(exc).__name__
    return (
        f"could not write the report in {folder}: {why} (nothing was changed: the files "
        "there before are as they were; free space or choose a writable folder)"
    )


def _is_our_png(path: Path) -> bool:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return PNG_SOFTWARE in str(getattr(im, "text", {}).get("Software", ""))
    except Exception:  # noqa: BLE001 - unreadable is not recognisably ours
        return False


def _starts_with(prefix: str) -> Any:
    def check(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read(len(prefix)) == prefix
        except (OSError, UnicodeDecodeError):
            return False

    return check


def _check_outputs(folder: Path) -> None:
    """Refuse to write where a file of the same name is not one the report wrote."""
    targets: dict[str, Any] = {
        REPORT_FILE: _starts_with("# carenet report:"),
        SUMMARY_CSV: _starts_with("scenario,metric,label,n,mean"),
        DIFFERENCES_CSV: lambda p: (
            _starts_with("scenario,baseline,metric")(p) or _starts_with("\n")(p)
        ),
    }
    fig = folder / "figures"
    if fig.is_symlink() or (fig.exists() and not fig.is_dir()):
        raise CollectError(
            f"{fig}: is in the way of the report's figures folder and is not one it made; "
            "move it, or report on another folder"
        )
    targets |= {f"figures/{name}": _is_our_png for name in FIGURES}
    check_replaceable(folder, targets, "report")


def _write_report(
    folder: Path, stage: Path, runs: pd.DataFrame, sweep: dict[str, Any], baseline: str | None
) -> list[str]:
    """Write every file of the report into ``stage``; return their paths relative to it."""
    from .collect import folder_model
    from .modelspec import load_spec

    ok = runs[runs["status"] == "complete"].copy()
    failed = runs[runs["status"] != "complete"]
    scenarios = scenario_order(ok)
    base = resolve_baseline(baseline, scenarios, sweep)
    figdir = stage / "figures"
    figdir.mkdir()
    spec = load_spec(folder_model(folder))
    _VIEW[:] = [view_of(spec)]
    metrics = [(m, lab) for m, lab in _view().table if m in ok.columns]

    out = _header(folder, ok, len(runs), len(failed), scenarios)
    out += evaluation_section(spec)
    out += ["", "## What was run", ""]
    out += _design_section(ok, sweep, scenarios, base)
    out += ["", "## How intervals are computed", ""]
    out += _methods_section(ok, scenarios)
    out += _summary_section(ok, scenarios, metrics, stage / SUMMARY_CSV)
    out += _differences_section(ok, scenarios, metrics, base, stage / DIFFERENCES_CSV)
    out += incremental_section(ok, scenarios, getattr(spec, "cea_metrics", None))
    lines, figures = _figure_sections(folder, ok, sweep, scenarios, base, figdir)
    out += lines + _failed_section(failed) + _files_section()
    (stage / REPORT_FILE).write_text("\n".join(out) + "\n")
    return [REPORT_FILE, SUMMARY_CSV, DIFFERENCES_CSV, *figures]


def _header(
    folder: Path, ok: pd.DataFrame, n_runs: int, n_failed: int, scenarios: list[str]
) -> list[str]:
    """The report's title, when and from what it was written, and an incomplete sweep."""
    from carenet import __version__

    out: list[str] = [f"# carenet report: {folder.resolve().name}", ""]
    out.append(
        f"Written {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by carenet {__version__} "
        f"from `{folder}`: {len(ok)} finished runs in {len(scenarios)} scenarios"
        + (f", {n_failed} failed." if n_failed else ".")
    )
    note = planned_note(folder, n_runs)
    if note:
        out += ["", f"**Incomplete: {note}.** The intervals below use only the finished runs."]
    return out


def evaluation_section(spec: Any) -> list[str]:
    """The evaluation's perspective, time horizon and discounting, as the model states them.

    A model states them in its spec's ``evaluation`` text; a model that does not gets a
    line saying so, so that every report says what its costs and effects cover.
    """
    text = str(getattr(spec, "evaluation", "") or "").strip()
    if not text:
        text = (
            f"The model {getattr(spec, 'name', '')!r} states no perspective, time horizon or "
            "discounting (its spec has no `evaluation` text)."
        )
    return ["", "## Perspective, time horizon and discounting", "", text]


def incremental_section(
    ok: pd.DataFrame, scenarios: list[str], cea: tuple[str, str] | None
) -> list[str]:
    """The base case's incremental analysis of the scenarios' mean cost and effect.

    ``cea`` is the model spec's ``cea_metrics`` (cost, effect); nothing where a model
    declares none or the runs lack them.
    """
    from .economics import incremental_analysis

    if not cea or not set(cea) <= set(ok.columns) or len(scenarios) < 2:
        return []
    cost, effect = cea
    means = ok.groupby("scenario")[[cost, effect]].mean().reindex(scenarios).reset_index()
    t = incremental_analysis(means, cost, effect, "scenario")
    out = ["", "## Incremental analysis (base case, means over replications)", ""]
    out.append(f"Cost `{cost}`, effect `{effect}`; ordered by cost; ICER in cost per effect.")
    out += ["", "| scenario | cost | effect | status | vs | ICER |", "|---|---:|---:|---|---|---:|"]
    for r in t.itertuples():
        icer = "" if math.isnan(r.icer) else fmt_num(r.icer, 0)
        out.append(
            f"| {r.scenario} | {fmt_num(getattr(r, cost), 0)} | {fmt_num(getattr(r, effect), 2)}"
            f" | {r.status} | {r.compared_with} | {icer} |"
        )
    return out


def _summary_section(
    ok: pd.DataFrame, scenarios: list[str], metrics: list[tuple[str, str]], csv: Path
) -> list[str]:
    """Means with intervals by scenario: the table, also written to ``summary.csv``."""
    summary_rows = []
    for s in scenarios:
        sub = ok[ok["scenario"] == s]
        for m, lab in metrics:
            ci = mean_ci(sub[m].tolist(), scale=_scale(m))
            summary_rows.append(
                {"scenario": s, "metric": m, "label": lab, "n": ci.n, "mean": ci.mean}
                | {"lo": ci.lo, "hi": ci.hi, "sd": ci.sd, "half_width": ci.half_width}
            )
    summary = pd.DataFrame(summary_rows)
    summary.to_csv(csv, index=False)
    out = ["", f"## Results by scenario: mean [{LEVEL:.0%} CI] over replications", ""]
    out.append(_wide_table(summary, scenarios, metrics, _ci_cell))
    return out


def _difference_rows(
    ok: pd.DataFrame, scenarios: list[str], metrics: list[tuple[str, str]], base: str
) -> pd.DataFrame:
    """Paired differences of each scenario against the baseline, by replication."""
    diff_rows = []
    base_sub = ok[ok["scenario"] == base].set_index("replication")
    for s in scenarios:
        if s == base:
            continue
        sub = ok[ok["scenario"] == s].set_index("replication")
        common = sub.index.intersection(base_sub.index)
        same_seed = bool(
            len(common) and (sub.loc[common, "seed"] == base_sub.loc[common, "seed"]).all()
        )
        for m, lab in metrics:
            ci, n = paired_differences(sub[m], base_sub[m])
            diff_rows.append(
                {"scenario": s, "baseline": base, "metric": m, "label": lab, "pairs": n}
                | {"mean": ci.mean, "lo": ci.lo, "hi": ci.hi, "sd": ci.sd}
                | {"half_width": ci.half_width, "same_seeds": same_seed}
            )
    return pd.DataFrame(diff_rows)


def _differences_section(
    ok: pd.DataFrame,
    scenarios: list[str],
    metrics: list[tuple[str, str]],
    base: str,
    csv: Path,
) -> list[str]:
    """The paired differences against the baseline, also written to ``differences.csv``."""
    out = ["", f"## Differences against the baseline: {base}", ""]
    diffs = _difference_rows(ok, scenarios, metrics, base)
    diffs.to_csv(csv, index=False)
    if diffs.empty:
        out.append("Only one scenario: nothing to compare.")
        return out
    others = [s for s in scenarios if s != base]
    out.append(
        f"Each cell: mean of the paired differences *scenario − baseline* over the "
        f"replications both finished, with its {LEVEL:.0%} t-interval; ✱ marks an interval "
        "that excludes 0. Differences of the metrics shown in % are in percentage points."
    )
    out.append("")
    out.append(_wide_table(diffs, others, metrics, _diff_cell))
    unpaired = diffs.loc[~diffs["same_seeds"], "scenario"].unique().tolist()
    if unpaired:
        out += [
            "",
            "Note: replications of "
            + "; ".join(unpaired)
            + " did not use the same seeds as the baseline's (different root seeds), so "
            "these differences do not share random numbers.",
        ]
    return out


def _figure_sections(
    folder: Path,
    ok: pd.DataFrame,
    sweep: dict[str, Any],
    scenarios: list[str],
    base: str,
    figdir: Path,
) -> tuple[list[str], list[str]]:
    """The report's figures and their sections; returns the lines and the figures drawn."""
    colours = _colours(scenarios)
    written: list[str] = []
    out = ["", "## Value and cost over time", ""]
    if timeseries_figure(folder, scenarios, colours, figdir / "timeseries.png"):
        written.append("figures/timeseries.png")
        out.append(
            f"Lines: mean over replications; bands: {LEVEL:.0%} t-interval at each week, "
            "clipped at zero for the non-negative cost, wait and ties (a week's values near "
            "zero over few replications would make a log-scale band meaningless, so here the "
            "plain band is cut at the bound instead). QALYs and cost are cumulative from week 1."
        )
        out += ["", "![Time series with bands](figures/timeseries.png)"]
    else:
        out.append("No time series found.")
    out += ["", "## The value–cost plane", ""]
    if value_cost_figure(ok, scenarios, colours, base, figdir / "value_cost.png"):
        written.append("figures/value_cost.png")
        out.append(
            "One dot per run (net QALYs against total cost), one colour per scenario; "
            "diamonds are scenario means with 95% intervals. The dashed line holds the "
            "baseline's net monetary benefit at the NICE threshold in the configuration."
        )
        out += ["", "![Value-cost plane](figures/value_cost.png)"]
    out += _network_section(folder, ok, scenarios, figdir / "network.png", written)
    out += _heatmap_section(ok, sweep, figdir / "heatmap.png", written)
    return out, written


def _network_section(
    folder: Path, ok: pd.DataFrame, scenarios: list[str], path: Path, written: list[str]
) -> list[str]:
    """The network at the end of each scenario's first replication (appends to ``written``)."""
    out = ["", "## The network at the end of a run", ""]
    panels = []
    for s in scenarios[:MAX_NETWORK_PANELS]:
        first = ok[ok["scenario"] == s].sort_values("replication").iloc[0]
        panels.append(
            (f"{s} (replication {int(first['replication'])})", folder / str(first["path"]))
        )
    skipped: list[str] = []
    if network_figure(panels, path, skipped):
        written.append("figures/network.png")
        more = (
            f" (first {MAX_NETWORK_PANELS} scenarios)"
            if len(scenarios) > MAX_NETWORK_PANELS
            else ""
        )
        out.append(
            f"The first replication of each scenario{more}, from its `network.json`. Nodes are "
            "organisations coloured by kind and sized by degree (number of ties); hubs, the "
            "top 5% by degree, are outlined in black and named. Edge width grows with trust."
        )
        out += ["", "![Network with hubs](figures/network.png)"]
    if skipped:
        out += ["", "Left out, unreadable: " + ", ".join(f"`{x}`" for x in skipped) + "."]
    return out


def _heatmap_section(
    ok: pd.DataFrame, sweep: dict[str, Any], path: Path, written: list[str]
) -> list[str]:
    """The heat-map of a two-key sweep, if there is one (appends to ``written``)."""
    hm, keys, averaged = heatmap_figure(ok, sweep, path)
    if not hm:
        return []
    written.append("figures/heatmap.png")
    out = ["", f"## Sweep heat-map: {keys[0]} × {keys[1]}", ""]
    note = f", averaged over {', '.join(averaged)}" if averaged else ""
    out.append(
        f"Mean over replications{note} in each cell. Colours (viridis): yellow is the "
        "better end of each metric, so the scale is reversed for costs (lower is better) "
        "and each colour bar says which way is better."
    )
    out += ["", "![Sweep heat-map](figures/heatmap.png)"]
    return out


def _failed_section(failed: pd.DataFrame) -> list[str]:
    """The runs that raised an error, with where their records are."""
    if not len(failed):
        return []
    out = ["", "## Failed runs", ""]
    out.append(
        f"{len(failed)} run(s) raised an error and are not in the tables above; their "
        f"configuration, seed and traceback are in `{FAILURES}/<run_id>.json`."
    )
    out.append("")
    rows = [
        [r.run_id, str(r.scenario), str(r.replication), str(r.seed), str(r.error)]
        for r in failed.itertuples()
    ]
    out.append(_md_table(["run", "scenario", "replication", "seed", "error"], rows))
    return out


def _files_section() -> list[str]:
    """What each file of the folder holds."""
    return [
        "",
        "## Files",
        "",
        "`runs.parquet` (one row per run: parameters, seed, every summary metric), "
        "`timeseries.parquet` (long form: run, week, metric, value), `summary.csv` and "
        "`differences.csv` (the tables above, unrounded; shares there as 0–1), `sweep.json` "
        f"(what was asked), `{RUNS}/<run_id>/` (each run's own files and manifest).",
    ]


def _pct(r: Any) -> float:
    return 100.0 if r.metric in _view().percent else 1.0


def _ci_cell(r: Any) -> str:
    k = _pct(r)
    return fmt_ci(r.mean * k, r.lo * k, r.hi * k)


def _diff_cell(r: Any) -> str:
    k = _pct(r)
    text = fmt_ci(r.mean * k, r.lo * k, r.hi * k)
    if math.isfinite(r.lo) and math.isfinite(r.hi) and (r.lo > 0 or r.hi < 0):
        text += " ✱"
    return text


def _wide_table(
    long: pd.DataFrame, scenarios: list[str], metrics: list[tuple[str, str]], cell: Any
) -> str:
    """Metrics as rows and scenarios as columns; transposed when there are many scenarios."""
    idx = {(r.scenario, r.metric): r for r in long.itertuples()}
    ncol = "n" if "n" in long.columns else "pairs"
    first = metrics[0][0] if metrics else None
    ns = {s: int(getattr(idx[(s, first)], ncol)) for s in scenarios if (s, first) in idx}
    if len(scenarios) <= MAX_WIDE_SCENARIOS:
        header = ["metric"] + [f"{s} (n={ns.get(s, 0)})" for s in scenarios]
        rows = [
            [lab] + [cell(idx[(s, m)]) if (s, m) in idx else "n/a" for s in scenarios]
            for m, lab in metrics
        ]
        return _md_table(header, rows)
    keys = [(m, lab) for m, lab in metrics if m in _view().key]
    header = ["scenario", "n"] + [lab for _, lab in keys]
    rows = [
        [s, str(ns.get(s, 0))] + [cell(idx[(s, m)]) if (s, m) in idx else "n/a" for m, _ in keys]
        for s in scenarios
    ]
    return _md_table(header, rows) + "\n\n(All metrics: see the CSV files.)"


def _design_section(
    ok: pd.DataFrame, sweep: dict[str, Any], scenarios: list[str], base: str
) -> list[str]:
    out = []
    inv = sweep.get("invocations", [])
    if sweep.get("overrides") is not None:
        flag = "-m " if sweep.get("multirun", True) else ""
        out.append(f"- Command: `carenet run {flag}" + " ".join(sweep["overrides"]) + "`")
    if inv:
        out.append(f"- Runs launched {len(inv)} time(s) (a resumed sweep is launched again)")
    for k, v in swept_of(sweep).items():
        out.append(f"- Swept `{k}`: " + ", ".join(f"`{x}`" for x in v))
    reps = ok.groupby("scenario", sort=False)["replication"].nunique()
    rep_text = (
        str(int(reps.iloc[0]))
        if reps.nunique() == 1
        else ", ".join(f"{s}: {int(n)}" for s, n in reps.items())
    )
    out.append(f"- Scenarios: {len(scenarios)}; baseline: **{base}**")
    out.append(f"- Replications per scenario (finished): {rep_text}")
    for col, lab in (("steps", "Weeks simulated"), ("population.size", "Population")):
        if col in ok:
            vals = sorted(ok[col].dropna().unique().tolist())
            if len(vals) == 1:
                out.append(f"- {lab}: {fmt_num(float(vals[0]), 0)}")
    roots = ok["root_seed"].dropna().astype("int64").unique().tolist()
    out.append(f"- Root seed(s): {', '.join(str(r) for r in roots)}")
    seeds = (
        ok[["root_seed", "replication", "seed"]]
        .drop_duplicates()
        .sort_values(["root_seed", "replication"])
    )
    out.append(
        "- Run seeds: replication 0 uses the root seed; replication *i* ≥ 1 a 63-bit seed "
        "from NumPy `SeedSequence(root seed, spawn_key=(i,))`. Every scenario uses the same "
        "run seed for the same replication (common random numbers):"
    )
    out.append("")
    rows = [
        [str(int(r.root_seed)), str(int(r.replication)), str(int(r.seed))]
        for r in seeds.head(50).itertuples()
    ]
    out.append(_md_table(["root seed", "replication", "run seed"], rows))
    if len(seeds) > 50:
        out.append(f"\n({len(seeds) - 50} more in `runs.parquet`.)")
    return out


def _methods_section(ok: pd.DataFrame, scenarios: list[str]) -> list[str]:
    ns = sorted(ok.groupby("scenario")["replication"].nunique().unique().tolist())
    tq = ", ".join(f"t(0.975, {n - 1}) = {t_quantile(n):.3f}" for n in ns if n >= 2)
    lines = [
        f"For each scenario and metric, the {LEVEL:.0%} confidence interval of the mean over "
        "its *n* independent replications is x̄ ± t(0.975, n − 1) · s / √n, with *s* the "
        "sample standard deviation (divisor n − 1) and Student's t with n − 1 degrees of "
        "freedom, as STRESS-ABS asks simulation studies to report"
        + (f" (here {tq})." if tq else "."),
        "",
        "A metric with a bounded range gets an interval that stays inside it: for a share "
        "in [0, 1] (shown in %, and the rates and indices such as the continuity index) the "
        "same interval is built on the logit scale, for a non-negative quantity (costs, "
        "counts, waits, QALYs gained or lost) on the log scale, and mapped back (the delta "
        "method: g⁻¹(g(x̄) ± t · g′(x̄) · s / √n), with g = logit or log). It holds the mean, "
        "never leaves the range, and is close to the plain interval when that is narrow. "
        "Net QALYs and net monetary benefit can be negative and keep the plain interval.",
        "",
        "Differences against the baseline are paired: replication *i* of a scenario and "
        "replication *i* of the baseline used the same run seed, so they share the random "
        "numbers of every process they share (common random numbers). The interval is the "
        "same t-interval computed on the *n* differences d_i, with n − 1 degrees of freedom; "
        "it is usually much narrower than the difference of two separate intervals.",
    ]
    if ns and ns[0] < 2:
        lines += [
            "",
            "With a single replication a scenario has no interval (shown as the mean alone); "
            "add `replications=N` for intervals.",
        ]
    return lines
