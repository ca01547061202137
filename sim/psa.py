"""Probabilistic sensitivity analysis: the cost-effectiveness results of a ``psa`` design.

A PSA is a design with ``method: psa`` (:mod:`carenet.sim.design`): each sample point is
one parameter draw, each arm an arrangement, every arm under the same draws and the same
run seeds. :func:`psa_draws` makes the table the analysis reads (one row per draw and
arm: the mean over the draw's replications, so that the runs' noise is averaged within a
draw, apart from parameter uncertainty); :func:`cea_report` writes the results
(``carenet cea DIR``, and ``carenet report DIR`` on a PSA's folder, which also write the
reporting checklists beside it: :mod:`carenet.tools.checklists`): the incremental
analysis of the mean costs and effects, the cost-effectiveness plane, the CEAC over
GBP 0-50,000 per QALY with NICE's band marked, the probability each arm is
cost-effective at GBP 20,000 and 30,000, ICERs with intervals, and the EVPI per person
and for the population.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from .economics import (
    NICE_BAND,
    WTP_GRID,
    ceac,
    evpi,
    icer_interval,
    incremental_analysis,
)

COST = "discounted_cost_total"
"""The cost the analysis reads (discounted, the reference case)."""
EFFECT = "discounted_qalys_net"
"""The effect the analysis reads (discounted net QALYs)."""
DRAWS_CSV = "cea_draws.csv"
CEAC_CSV = "ceac.csv"
CEA_MD = "cea.md"


class PSAError(ValueError):
    """A folder that is not a finished PSA (one line for the command to print)."""


def psa_draws(
    folder: str | Path, cost: str | None = None, effect: str | None = None
) -> pd.DataFrame:
    """One row per (draw, arm): mean cost and effect over the draw's finished replications.

    Args:
        folder: A PSA design's sweep folder (collected first if needed).
        cost: The cost metric (default: the model spec's ``cea_metrics``, else
            :data:`COST`).
        effect: The effect metric (likewise; else :data:`EFFECT`).

    Returns:
        Columns ``draw``, ``arm``, ``cost``, ``effect``, ``n`` (replications) and
        ``population``; only draws that every arm finished.

    Raises:
        PSAError: If the folder holds no PSA design or no draw finished under every arm.
    """
    from .collect import RUNS_FILE, collect
    from .design import read_record

    folder = Path(folder)
    rec = read_record(folder)
    if rec is None or rec.get("method") != "psa":
        raise PSAError(f"{str(folder)!r} holds no psa design; run one with design=FILE.yaml")
    if not (folder / RUNS_FILE).is_file():
        collect(folder)
    spec_cost, spec_effect = getattr(_spec_of(folder), "cea_metrics", None) or (COST, EFFECT)
    cost, effect = cost or spec_cost, effect or spec_effect
    runs = pd.read_parquet(folder / RUNS_FILE)
    runs = runs[runs["status"] == "complete"]
    for m in (cost, effect):
        if m not in runs:
            raise PSAError(f"{str(folder)!r}: the runs have no metric {m!r} to analyse")
    if "arm" not in runs or not len(rec.get("arms") or {}):
        raise PSAError(f"{str(folder)!r}: a psa design needs at least two arms to compare")
    pop = "population.size" if "population.size" in runs else None
    g = runs.groupby(["design_point", "arm"], sort=True)
    t = g.agg(cost=(cost, "mean"), effect=(effect, "mean"), n=(cost, "size"))
    t["population"] = g[pop].first() if pop else float("nan")
    t = t.reset_index().rename(columns={"design_point": "draw"})
    t["draw"] = t["draw"].astype(int)
    arms = sorted(t["arm"].unique())
    full = t.groupby("draw")["arm"].nunique() == len(arms)
    t = t[t["draw"].isin(full[full].index)].sort_values(["draw", "arm"]).reset_index(drop=True)
    if t.empty:
        raise PSAError(f"{str(folder)!r}: no draw has finished under every arm yet")
    return t


def cea_tables(draws: pd.DataFrame, comparator: str | None = None) -> dict[str, Any]:
    """Every result of the analysis, as tables and numbers (no files).

    Args:
        draws: :func:`psa_draws`' table.
        comparator: The arm the ICERs are against (default: the cheapest on average).
    """
    means = draws.groupby("arm", sort=True)[["cost", "effect"]].mean().reset_index()
    inc = incremental_analysis(means)
    comp = comparator or str(inc.iloc[0]["arm"])
    curve = ceac(draws, WTP_GRID)
    per = float(draws["population"].iloc[0]) if "population" in draws else float("nan")
    ev = {w: evpi(draws, w) for w in (20_000.0, 30_000.0)}
    icers = {a: icer_interval(draws, comp, a) for a in sorted(draws["arm"].unique()) if a != comp}
    return {"means": means, "incremental": inc, "ceac": curve, "evpi": ev, "icers": icers} | {
        "comparator": comp,
        "population": per,
        "n_draws": int(draws["draw"].nunique()),
    }


@contextmanager
def _figure(
    path: Path, size: tuple[float, float], xlabel: str, ylabel: str, title: str
) -> Iterator[Any]:
    """One of the PSA's figures: yields its axes, then labels, saves and closes it.

    The figure is closed even when drawing fails, so no figure is left open.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _plane_figure(draws: pd.DataFrame, comp: str, path: Path) -> None:
    """The cost-effectiveness plane: each arm against the comparator, one point a draw."""
    wide = draws.pivot(index="draw", columns="arm", values=["cost", "effect"])
    with _figure(
        path,
        (6, 4.5),
        "incremental QALYs (discounted)",
        "incremental cost, GBP (discounted)",
        "Cost-effectiveness plane: one point per parameter draw",
    ) as ax:
        for a in wide["cost"].columns:
            if a == comp:
                continue
            dc = wide["cost"][a] - wide["cost"][comp]
            de = wide["effect"][a] - wide["effect"][comp]
            ax.scatter(de, dc, s=8, alpha=0.6, label=f"{a} vs {comp}")
        lim = ax.get_xlim()
        for w, style in ((NICE_BAND[0], "--"), (NICE_BAND[1], ":")):
            label = f"GBP {w:,.0f}/QALY"
            ax.plot(lim, [w * x for x in lim], style, color="grey", lw=1, label=label)
        ax.axhline(0, color="black", lw=0.5)
        ax.axvline(0, color="black", lw=0.5)


def _ceac_figure(curve: pd.DataFrame, path: Path) -> None:
    """The CEAC over the willingness-to-pay grid, NICE's band shaded."""
    with _figure(
        path,
        (6, 4),
        "willingness to pay, GBP per QALY",
        "probability cost-effective",
        "Cost-effectiveness acceptability curve",
    ) as ax:
        ax.axvspan(*NICE_BAND, color="grey", alpha=0.2, label="NICE GBP 20,000-30,000")
        for a in curve.columns:
            ax.plot(curve.index, curve[a], label=str(a))
        ax.set_xlim(0, max(WTP_GRID))
        ax.set_ylim(-0.02, 1.02)


def _num(x: float, fmt: str = "{:,.0f}") -> str:
    return "n/a" if pd.isna(x) else fmt.format(x)


def cea_section(res: dict[str, Any]) -> list[str]:
    """The report's health-economic section (Markdown lines) from :func:`cea_tables`."""
    n, comp, pop = res["n_draws"], res["comparator"], res["population"]
    out = ["## Health-economic analysis (PSA)", ""]
    out.append(
        f"{n} parameter draws; cost `{COST}`, effect `{EFFECT}` (discounted, the reference "
        "case), each the mean over a draw's replications. Every arm ran under the same "
        "draws and the same run seeds."
    )
    out += ["", "### Incremental analysis (mean over draws)", ""]
    out += ["| arm | cost (GBP) | QALYs | status | vs | incr. cost | incr. QALYs | ICER |"]
    out += ["|---|---:|---:|---|---|---:|---:|---:|"]
    for r in res["incremental"].itertuples():
        out.append(
            f"| {r.arm} | {_num(r.cost)} | {_num(r.effect, '{:,.2f}')} | {r.status} | "
            f"{r.compared_with} | {_num(r.inc_cost)} | {_num(r.inc_effect, '{:,.3f}')} | "
            f"{_num(r.icer)} |"
        )
    out += ["", f"### ICERs against {comp} (95% interval over draws)", ""]
    out += ["| arm | ICER (GBP/QALY) | 95% interval | draws' quadrants |", "|---|---:|---|---|"]
    for a, r in res["icers"].items():
        span = f"{_num(r['lo'])} to {_num(r['hi'])}" if not pd.isna(r["lo"]) else "undefined"
        icer = _num(r["icer"])
        if r["inc_effect"] < 0 < r["inc_cost"] or r["inc_effect"] > 0 > r["inc_cost"]:
            icer = f"{icer} ({'dominated' if r['inc_cost'] > 0 else 'dominant'} on average)"
        out.append(f"| {a} | {icer} | {span} | {r['quadrants']} |")
    out += ["", "### Probability cost-effective", ""]
    curve = res["ceac"]
    out += ["| arm | at GBP 20,000/QALY | at GBP 30,000/QALY |", "|---|---:|---:|"]
    for a in curve.columns:
        out.append(f"| {a} | {curve.loc[20_000.0, a]:.2f} | {curve.loc[30_000.0, a]:.2f} |")
    out += ["", "### Expected value of perfect information", ""]
    out += ["| threshold | EVPI, population (GBP) | EVPI per person (GBP) |", "|---|---:|---:|"]
    for w, v in res["evpi"].items():
        out.append(f"| GBP {w:,.0f}/QALY | {_num(v)} | {_num(v / pop, '{:,.4f}')} |")
    out += [
        "",
        f"The population is the modelled system ({_num(pop)} people) over the time horizon; "
        "per person is that over its size.",
        "",
        "![Cost-effectiveness plane](figures/ce_plane.png)",
        "",
        "![CEAC](figures/ceac.png)",
    ]
    return out


def cea_report(folder: str | Path, comparator: str | None = None) -> Path:
    """Write ``cea.md``, ``cea_draws.csv``, ``ceac.csv`` and the two figures of a PSA.

    Returns:
        The path of ``cea.md``.

    Raises:
        PSAError: If the folder is not a PSA with a draw finished under every arm, or the
            comparator is not one of its arms.
    """
    from .runner import hidden_name

    folder = Path(folder)
    draws = psa_draws(folder)
    if comparator is not None and comparator not in set(draws["arm"]):
        arms = ", ".join(sorted(draws["arm"].unique()))
        raise PSAError(f"--comparator: {comparator!r} is not an arm; expected one of {arms}")
    res = cea_tables(draws, comparator)
    (folder / "figures").mkdir(exist_ok=True)
    _plane_figure(draws, res["comparator"], folder / "figures" / "ce_plane.png")
    _ceac_figure(res["ceac"], folder / "figures" / "ceac.png")
    draws.to_csv(folder / DRAWS_CSV, index=False)
    res["ceac"].to_csv(folder / CEAC_CSV)
    from .design import read_record
    from .report import evaluation_section

    lines = [f"# carenet cost-effectiveness: {folder.resolve().name}", ""]
    lines += evaluation_section(_spec_of(folder))[1:] + [""]
    lines += design_section(read_record(folder) or {}) + [""] + cea_section(res)
    lines += [""] + software_section()
    text = "\n".join(lines) + "\n"
    _write(folder / CEA_MD, text, hidden_name)
    return folder / CEA_MD


def _write(path: Path, text: str, hidden_name: Any) -> None:
    tmp = path.with_name(hidden_name(path.name, "tmp"))
    tmp.write_text(text)
    os.replace(tmp, path)


def design_section(rec: dict[str, Any]) -> list[str]:
    """The arms compared and each parameter's distribution with its source."""
    out = ["## Design: arms and parameter distributions", ""]
    out.append(
        f"{len(rec.get('points', []))} draws from the named stream `psa` of the root seed, "
        "fixed before any run (the design file, recorded in design.json). Base overrides: "
        f"`{' '.join(rec.get('base', [])) or 'none'}`."
    )
    out += ["", "| arm | overrides |", "|---|---|"]
    out += [f"| {a} | `{' '.join(o)}` |" for a, o in (rec.get("arms") or {}).items()]
    out += ["", "| parameter | distribution | fields | source or rationale |", "|---|---|---|---|"]
    for p in rec.get("parameters", []):
        fields = ", ".join(f"{v:g}" for v in p.get("dist", []))
        out.append(f"| {p['name']} | {p['type']} | {fields} | {p.get('source', '')} |")
    return out


def software_section() -> list[str]:
    """Software, system and code access (STRESS-ABS 5.1, 5.4, 6)."""
    import platform

    from carenet import __version__

    return [
        "## Software and reproducibility",
        "",
        f"carenet {__version__} (Python {platform.python_version()}, Mesa, Hydra, numpy, "
        f"scipy) on {platform.system()} {platform.machine()}. Each run's folder holds its "
        "manifest.json (full configuration, seed, git revision): `carenet reproduce RUN_DIR` "
        "reruns it exactly. Code and citation: CITATION.cff at the root of the repository; "
        "the model is described in docs/model.md (ODD protocol).",
    ]


def _spec_of(folder: Path) -> Any:
    from .collect import folder_model
    from .modelspec import load_spec

    return load_spec(folder_model(folder))
