"""carenet's care-system model as a :class:`carenet.spec.ModelSpec`: what the engine runs.

The engine (``carenet.sim``) knows the model only through :class:`CarenetSpec`: its
config package and schema, how to build and run it, its time series, summary and network
snapshots, its metric declarations, the labels of a scenario, the printed headline table,
the overview figure, and the rules across fields that the engine's per-field validation
cannot see (:meth:`CarenetSpec.check`). This module uses only the model's public API.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from carenet.params import ConfigError, bad, typed
from carenet.spec import BaseSpec, Metric

from .ledger import response_prices, unit_costs
from .power import RULES, PowerRule, load_target
from .schema import LINES, SERVICE_KINDS, STRATA, CarenetConfig, CostItem, ShockConfig
from .shocks import scenario_notes, scenario_problem, shock_window


def _metrics() -> tuple[Metric, ...]:
    from carenet.models import METRICS

    return tuple(METRICS)


HEADLINE_TOTALS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "discounted_qalys_net",
        "qalys_net",
        "Net QALYs (gained - lost)",
        ("qalys_gained", "qalys_lost"),
    ),
    (
        "discounted_cost_total",
        "cost_total",
        "Total cost (GBP)",
        ("cost_direct", "cost_transaction", "cost_failure", "cost_connection"),
    ),
    ("discounted_net_monetary_benefit", "net_monetary_benefit", "Net monetary benefit (GBP)", ()),
)
"""The headline totals: (discounted, undiscounted beside it, row label, undiscounted parts).

The discounted total is the headline (NICE reference case); the undiscounted one is shown
beside it, and its parts (undiscounted) under it."""

HEADLINE_ORDER: tuple[str, ...] = (
    *(k for disc, undisc, _, parts in HEADLINE_TOTALS for k in (disc, undisc, *parts)),
    "episodes_started",
    "episodes_completed",
    "episodes_failed",
    "episodes_in_progress",
    "avoidable_emergency_admissions_per_1000",
    "mean_wait_weeks",
    "handoff_failure_rate",
    "continuity_index",
)
"""The headline metrics in order: each discounted total, then the undiscounted total beside
it and its parts, then activity and process. The printed table and ``carenet report``'s
tables (:attr:`CarenetSpec.headline_order`) lead with them in this order."""


def headline() -> tuple[tuple[str, str, str], ...]:
    """Rows of the headline table: summary metric, label and format, from the registry."""
    by_name = {m.name: m for m in _metrics()}
    return tuple((k, by_name[k].label, by_name[k].fmt) for k in HEADLINE_ORDER)


def _cell(summary: dict[str, float], key: str, fmt: str) -> str:
    import math

    v = summary.get(key, float("nan"))
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def headline_rows(summary: dict[str, float], config: Any) -> list[str]:
    """The headline table's metric rows: the totals two columns wide, then the rest.

    Each total is one row, discounted first and undiscounted beside it; its undiscounted
    parts follow in the undiscounted column. The rates used are stated under them.
    """
    fmts = {k: fmt for k, _, fmt in headline()}
    labels = {k: label for k, label, _ in headline()}
    threshold = float(config.costs.threshold_gbp_per_qaly)
    rows = [f"  {'':<{_W}} {'discounted':>16} {'undiscounted':>16}"]
    for disc, undisc, label, parts in HEADLINE_TOTALS:
        if disc.endswith("net_monetary_benefit"):
            label = label.replace(" (GBP)", f" at {threshold:,.0f}/QALY (GBP)")
        rows.append(
            f"  {label:<{_W}} {_cell(summary, disc, fmts[disc]):>16}"
            f" {_cell(summary, undisc, fmts[undisc]):>16}"
        )
        rows += [f"  {labels[k]:<{_W}} {'':>16} {_cell(summary, k, fmts[k]):>16}" for k in parts]
    c, h = float(config.costs.discount_rate_costs), float(config.costs.discount_rate_health)
    start = "the end of the warm-up" if int(config.warmup_weeks) > 0 else "week 0"
    rows.append(
        f"  discounted at {c:.1%}/yr (costs) and {h:.1%}/yr (health) from {start}; "
        f"{config.costs.price_year} prices"
    )
    paired = {k for d, u, _, parts in HEADLINE_TOTALS for k in (d, u, *parts)}
    rows += [
        f"  {labels[k]:<{_W}} {_cell(summary, k, fmts[k]):>16}"
        for k in HEADLINE_ORDER
        if k not in paired
    ]
    return rows


_W = 44
"""Width of the headline table's label column."""


SERIES_PANELS: tuple[tuple[str, str, bool, float], ...] = (
    ("qalys_net", "Net QALYs, cumulative", True, 1.0),
    ("cost_total", "Total cost, cumulative (GBP m)", True, 1e-6),
    ("mean_wait_weeks", "Mean wait (weeks)", False, 1.0),
    ("n_ties", "Ties", False, 1.0),
)
"""The report's time-series panels: metric, title, cumulative?, scale."""


EVALUATION = (
    "Perspective: NHS and personal social services (PSS), the NICE reference case. In: "
    "care delivered by GP practices, acute, community and mental-health trusts and "
    "local-authority social care; VCSE sessions the system funds; transaction costs "
    "(contracting, boards, inspections, handoff admin); failure costs (emergency "
    "admissions, delayed-discharge bed days, repeated assessments); connection costs "
    "(shared records, hubs, tie upkeep); patients' QALYs. Out: costs to patients and "
    "carers, productivity, other public sectors, capital beyond the shared-records "
    "investment. Time horizon: the weeks after the warm-up (steps - warmup_weeks), "
    "with episodes still open at the end not valued further. Costs and QALYs "
    "discounted at costs.discount_rate_costs and costs.discount_rate_health a year "
    "(NICE PMG36 section 4.5: 3.5% each; 1.5% for health as a sensitivity), weekly from "
    "the end of the warm-up; unit costs in costs.price_year prices (NHSCII)."
)
"""The evaluation's perspective, time horizon, discounting and price year (reports, ODD)."""


class CarenetSpec(BaseSpec):
    """carenet's care-system model (``model=carenet``, the default)."""

    name = "carenet"
    evaluation = EVALUATION
    cea_metrics = ("discounted_cost_total", "discounted_qalys_net")
    """The cost and effect of cost-effectiveness analyses (discounted: the reference case)."""
    headline_order = HEADLINE_ORDER
    """The metrics ``carenet report``'s tables lead with, in order (discounted first)."""
    config_package = "carenet.configs"
    schema = CarenetConfig
    panels = SERIES_PANELS
    figure_from_columns = True

    def __init__(self) -> None:
        self.metrics = _metrics()

    def build(self, config: Any, seed: int) -> Any:
        """A new :class:`~carenet.models.model.CareSystemModel`."""
        from .model import CareSystemModel

        return CareSystemModel(config, seed=seed)

    def run(self, model: Any, steps: int, callback: Any) -> None:
        """``model.run`` (weekly steps)."""
        if callback is None:
            model.run(steps)
        else:
            model.run(steps, callback=callback)

    def records(self, model: Any) -> list[dict[str, float]]:
        """One record a week."""
        return model.records

    def summary(self, model: Any) -> dict[str, float]:
        """The run's summary; a headline metric that is not finite fails the run."""
        from .model import check_summary

        summary = model.summary()
        check_summary(summary)
        return summary

    def artefacts(self, model: Any) -> dict[str, Any]:
        """``network.json``: the network at the start and at the end."""
        return {
            "network.json": {"initial": model.initial_snapshot, "final": model.network_snapshot()}
        }

    def labels(self, config: Any) -> dict[str, str]:
        """The names that identify an arrangement: structure, rule, response, scenario."""
        rule = config.power_rule._target_ or config.power_rule.name
        return {
            "structure": config.structure.name,
            "power_rule": rule,
            "response": config.response.name,
            "scenario": config.scenario.name,
        }

    def describe(self, config: Any) -> dict[str, Any]:
        """``population`` and ``warmup_weeks`` in ``summary.json``."""
        return {"population": config.population.size, "warmup_weeks": config.warmup_weeks}

    def warmup_steps(self, config: Any) -> int:
        """``warmup_weeks``: weeks simulated and left out of every summary metric."""
        return int(config.warmup_weeks)

    def notes(self, config: Any) -> list[str]:
        """Shocks that cannot act as configured, or start in the warm-up (warnings)."""
        return scenario_notes(config) + _warmup_notes(config)

    def length_note(self, length: int) -> str:
        """Lists of one value per stratum."""
        return "one per stratum: " + ", ".join(STRATA) if length == len(STRATA) else ""

    def check(self, config: Any) -> None:
        """Rules across fields: shares, cost items, pathways, rule, shocks, the warm-up."""
        _cross_checks(config)
        _check_warmup(config)

    def headline(self, summary: dict[str, float], config: Any) -> str:
        """The headline table: the arrangement, the weeks counted, then the headline metrics.

        Discounted totals lead, the undiscounted beside them (:func:`headline_rows`).
        """
        labels = self.labels(config)
        rows = ["  " + " | ".join(f"{k}: {v}" for k, v in labels.items())]
        warm = int(config.warmup_weeks)
        if warm:
            rows.append(
                f"  weeks {warm} to {config.steps - 1} counted; the first {warm} "
                "(warm-up, warmup_weeks) left out"
            )
        return "\n".join(rows + headline_rows(summary, config))

    def figure(self, timeseries: Any, labels: dict[str, str], path: Any) -> bool:
        """Value and cost over time: four panels, 4-week rolling means."""
        overview_figure(timeseries, labels, Path(path))
        return True


def _did_you_mean(word: str, choices: list[str] | set[str], prefix: str = "") -> str:
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" did you mean {prefix}{close[0]}?" if close else ""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_warmup(cfg: Any) -> None:
    """``steps`` must leave weeks after the warm-up for the summary to count."""
    steps, warm = int(cfg.steps), int(cfg.warmup_weeks)
    if warm >= steps:
        raise ConfigError(
            f"warmup_weeks: {warm} is not allowed with steps={steps}; expected warmup_weeks "
            "below steps (the warm-up weeks are left out of every summary metric), e.g. "
            f"steps={warm + 52} or warmup_weeks=0"
        )


def _warmup_notes(cfg: Any) -> list[str]:
    """One line for each shock that starts inside the warm-up (its weeks there not counted)."""
    warm = int(cfg.warmup_weeks)
    notes = []
    for i, s in enumerate(cfg.scenario.shocks):
        start, _ = shock_window(s, cfg.steps)
        if start < warm:
            notes.append(
                f"scenario.shocks[{i}] ({s['kind']}) starts at week {start}, inside the "
                f"warm-up (warmup_weeks={warm}): the summary leaves out its weeks before "
                f"week {warm}"
            )
    return notes


def _cross_checks(cfg: Any) -> None:
    shares = cfg.population.stratum_shares
    if abs(sum(shares) - 1.0) > 1e-6:
        raise bad("population.stratum_shares", shares, "shares that sum to 1")
    # Cost items.
    items: dict[str, Any] = {}
    for name, item in cfg.costs.items.items():
        items[name] = typed(CostItem, item, f"costs.items.{name}.")
        if not items[name].source or not items[name].price_year:
            raise bad(f"costs.items.{name}", item, "a cost with its source and price_year stated")
    cfg.costs.items = {k: asdict(v) for k, v in items.items()}
    unit_costs(cfg)  # every price year, and the target year, in the inflation index
    response_prices(cfg)  # and the response's money parameters' price year
    for required in ("professional_hour", "delayed_discharge_night"):
        if required not in items:
            raise ConfigError(f"costs.items: {required!r} is missing; it is required")
    long_short = ("nonelective_long_stay", "nonelective_short_stay")
    for required in long_short:
        if required not in items:
            raise ConfigError(f"costs.items: {required!r} is missing; it is required")
    _check_pathways(cfg, items)
    # Power rule.
    pr = cfg.power_rule
    if not pr._target_ and pr.name not in RULES:
        raise bad("power_rule.name", pr.name, "one of: " + ", ".join(sorted(RULES)))
    if pr._target_:
        if ":" in pr._target_:
            # Record the file by absolute path, so the manifest reruns from any folder.
            path_s, cls_name = pr._target_.rsplit(":", 1)
            pr._target_ = f"{Path(path_s).expanduser().resolve()}:{cls_name}"
        _check_user_rule(pr._target_, pr.params)
    elif pr.params:
        raise bad(
            "power_rule.params", pr.params, "no params unless power_rule._target_ names a rule"
        )
    for k in pr.empowering_kinds:
        if k not in SERVICE_KINDS:
            raise bad("power_rule.empowering_kinds", k, "kinds among: " + ", ".join(SERVICE_KINDS))
    # Shocks.
    shocks = []
    for i, s in enumerate(cfg.scenario.shocks):
        shock = typed(ShockConfig, s, f"scenario.shocks[{i}].")
        for k in shock.kinds:
            if k not in SERVICE_KINDS:
                raise bad(
                    f"scenario.shocks[{i}].kinds", k, "kinds among: " + ", ".join(SERVICE_KINDS)
                )
        if shock.kind == "budget_cut" and shock.magnitude >= 1.0:
            raise bad(f"scenario.shocks[{i}].magnitude", shock.magnitude, "a cut below 1")
        shocks.append(asdict(shock))
    cfg.scenario.shocks = shocks
    problem = scenario_problem(cfg)  # shocks and hubs that cannot happen in this run
    if problem:
        raise ConfigError(problem)


def _check_user_rule(target: str, params: dict[str, Any]) -> None:
    """Load a user-written rule and check its parameters bind to its constructor."""
    import inspect

    try:
        cls = load_target(target)
    except ValueError as exc:
        raise _target_error(target, exc) from None
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        raise ConfigError(
            f"power_rule.params: {params!r} do not fit "
            f"{cls.__name__}{inspect.signature(cls)}: {exc}"
        ) from None


_TARGET_FORMS = (
    "expected 'path/to/file.py:ClassName' or 'package.module.ClassName' naming a subclass "
    "of carenet.models.power.PowerRule, or power_rule=NAME for a built-in rule"
)


def _target_error(target: str, exc: Exception) -> ConfigError:
    """One line for a ``power_rule._target_`` that cannot be loaded, and what is allowed.

    Names the rules the file or module does hold, where it could be imported.
    """
    import importlib
    import inspect
    import sys

    key = "power_rule._target_"
    why = _first_line(exc).removeprefix(f"{key}: ")
    module = None
    if ":" in target:
        path_s, name = target.rsplit(":", 1)
        path = Path(path_s).expanduser()
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            return ConfigError(f"{key}: {target!r}: the file {str(path)!r} {what}; {_TARGET_FORMS}")
        if not name:
            return ConfigError(f"{key}: {target!r}: no class named after ':'; {_TARGET_FORMS}")
        resolved = path.resolve()
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if f and str(getattr(mod, "__name__", "")).startswith("carenet_user_rule_"):
                if Path(f).resolve() == resolved:
                    module = mod
        where = f"the file {str(path)!r}"
    else:
        if "." not in target:
            return ConfigError(f"{key}: {target!r} is not a file or module path; {_TARGET_FORMS}")
        mod_s, name = target.rsplit(".", 1)
        module = sys.modules.get(mod_s)
        if module is None:
            try:
                module = importlib.import_module(mod_s)
            except Exception as err:
                return ConfigError(
                    f"{key}: {target!r}: cannot import the module {mod_s!r} "
                    f"({_first_line(err)}); {_TARGET_FORMS}"
                )
        where = f"the module {mod_s!r}"
    if module is None:  # the file could not be imported
        return ConfigError(f"{key}: {target!r}: {why}; fix the file so that it imports")
    rules = sorted(
        n
        for n, v in vars(module).items()
        if isinstance(v, type) and issubclass(v, PowerRule) and v is not PowerRule
    )
    there = f"rules in it: {', '.join(rules)}" if rules else "it holds no PowerRule subclass"
    obj = getattr(module, name, None)
    if obj is None:
        return ConfigError(
            f"{key}: {target!r}: {where} has no {name!r};{_did_you_mean(name, rules)} {there}"
        )
    kind = "class" if inspect.isclass(obj) else type(obj).__name__
    article = "an" if kind[:1] in "aeiou" else "a"
    return ConfigError(
        f"{key}: {target!r}: {name} is {article} {kind}, not a subclass of "
        f"carenet.models.power.PowerRule; {there}"
    )


def _check_pathways(cfg: Any, items: dict[str, Any]) -> None:
    lib = cfg.pathways.library
    if not lib:
        raise bad("pathways.library", lib, "at least one pathway")
    names = set()
    totals = [0.0] * len(STRATA)
    for i, pw in enumerate(lib):
        key = f"pathways.library[{i}]"
        if not isinstance(pw, dict):
            raise bad(key, pw, "a mapping with name, weights, qaly_gain, steps")
        extra = set(pw) - {"name", "weights", "qaly_gain", "steps"}
        if extra:
            raise ConfigError(
                f"{key}.{sorted(extra)[0]}: unknown key; valid: name, weights, qaly_gain, steps"
            )
        name = pw.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise bad(f"{key}.name", name, "a unique, non-empty name")
        names.add(name)
        w = pw.get("weights")
        if not isinstance(w, list) or len(w) != len(STRATA):
            raise bad(f"{key}.weights", w, "a list of 4 weights (one per stratum)")
        for j, x in enumerate(w):
            if isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x <= 1e6:
                raise bad(f"{key}.weights[{j}]", x, "a number >= 0")
            totals[j] += float(x)
        g = pw.get("qaly_gain")
        if isinstance(g, bool) or not isinstance(g, int | float) or not 0 <= g <= 1:
            raise bad(f"{key}.qaly_gain", g, "a number from 0 to 1 (QALY)")
        steps = pw.get("steps")
        if not isinstance(steps, list) or not steps:
            raise bad(f"{key}.steps", steps, "a non-empty list of steps")
        for k, st in enumerate(steps):
            sk = f"{key}.steps[{k}]"
            if not isinstance(st, dict) or set(st) != {"line", "weeks", "item", "units"}:
                raise bad(sk, st, "a mapping with exactly line, weeks, item, units")
            if st["line"] not in LINES:
                raise bad(f"{sk}.line", st["line"], "one of: " + ", ".join(LINES))
            wk = st["weeks"]
            if isinstance(wk, bool) or not isinstance(wk, int) or not 1 <= wk <= 104:
                raise bad(f"{sk}.weeks", wk, "an integer from 1 to 104 (weeks)")
            if st["item"] not in items:
                raise bad(f"{sk}.item", st["item"], "a cost item among: " + ", ".join(items))
            u = st["units"]
            if isinstance(u, bool) or not isinstance(u, int | float) or not 0 <= u <= 1000:
                raise bad(f"{sk}.units", u, "a number from 0 to 1000 (units per week)")
    for j, t in enumerate(totals):
        if t <= 0:
            raise bad(
                "pathways.library", f"weights for {STRATA[j]}", "some pathway with weight > 0"
            )


# --- the overview figure -------------------------------------------------------------

COST_COLOURS = {
    "cost_direct": "#4c72b0",
    "cost_transaction": "#dd8452",
    "cost_failure": "#c44e52",
    "cost_connection": "#55a868",
}


def _legend_outside(ax: Any) -> None:
    """A legend right of the axes, where it cannot cover a line."""
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def shade_warmup(ax: Any, ts: Any, label: bool = True) -> None:
    """Shade the warm-up weeks (``warmup`` column 1) of a time series on ``ax``.

    ``ts`` is a DataFrame or a dict of arrays (any table read by column name).
    """
    if "warmup" not in ts:
        return
    warm = np.asarray(ts["warmup"]) > 0
    if not warm.any():
        return
    weeks = np.asarray(ts["week"])[warm]
    ax.axvspan(
        float(weeks.min()) - 0.5,
        float(weeks.max()) + 0.5,
        color="grey",
        alpha=0.15,
        lw=0,
        label="warm-up (not in totals)" if label else None,
    )


def _fixed_grid() -> tuple[Any, Any]:
    """A 12 x 8 inch figure of 2 x 2 panels at fixed places, drawn by Agg (no pyplot).

    The margins leave room right of each panel for its legend (or, bottom right, the
    second axis's label), so no layout engine need measure the text: constrained layout
    drew the figure twice and cost more than the drawing itself. Importing
    ``matplotlib.figure`` rather than ``matplotlib.pyplot`` skips the GUI machinery.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(
        2,
        2,
        squeeze=False,
        gridspec_kw={
            "left": 0.075,
            "right": 0.845,
            "bottom": 0.065,
            "top": 0.925,
            "wspace": 0.72,
            "hspace": 0.22,
        },
    )
    return fig, axes


def _smooth(s: Any, weeks: int = 4) -> np.ndarray:
    """The trailing mean over ``weeks`` weeks, as ``rolling(weeks, min_periods=1).mean()``.

    NaN weeks are left out of a window's mean; a window with no number is NaN.
    """
    x = np.asarray(s, dtype=float)
    seen = ~np.isnan(x)
    values = np.where(seen, x, 0.0)
    total = np.zeros_like(x)
    count = np.zeros_like(x)
    for lag in range(min(weeks, len(x))):  # a few shifted sums: no pandas needed
        total[lag:] += values[: len(x) - lag]
        count[lag:] += seen[: len(x) - lag]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def overview_figure(ts: Any, labels: dict[str, str], path: Path) -> None:
    """Value and cost over time: four panels, 4-week rolling means.

    Panels: QALYs gained and lost per week; cost per week by category (stacked);
    episodes started, completed and failed per week; queue length and mean wait. Legends
    sit right of their panels, so they never cover data. The warm-up weeks, which the
    summary leaves out, are shaded grey.

    ``ts`` is the run's time series, a DataFrame or a dict of arrays (the runner gives
    the arrays, so drawing needs no pandas).
    """
    fig, axes = _fixed_grid()
    # Titles at y=1.0: where matplotlib's automatic placement puts them (no panel has
    # ticks on top), without its measuring every y axis at each draw (0.1 s of it).
    w = np.asarray(ts["week"])
    ax = axes[0, 0]
    ax.plot(w, _smooth(ts["qalys_gained"]), label="QALYs gained", color="#55a868")
    ax.plot(w, _smooth(ts["qalys_lost"]), label="QALYs lost", color="#c44e52")
    shade_warmup(ax, ts)
    ax.set_title("Patient value per week", y=1.0)
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
    shade_warmup(ax, ts)
    ax.set_title("Cost per week by category", y=1.0)
    ax.set_ylabel("GBP million / week")
    _legend_outside(ax)
    ax = axes[1, 0]
    for col, colour in (
        ("episodes_started", "#4c72b0"),
        ("episodes_completed", "#55a868"),
        ("episodes_failed", "#c44e52"),
    ):
        ax.plot(w, _smooth(ts[col]), label=col.replace("episodes_", ""), color=colour)
    shade_warmup(ax, ts)
    ax.set_title("Care episodes per week", y=1.0)
    ax.set_ylabel("episodes / week")
    ax.set_xlabel("week")
    _legend_outside(ax)
    ax = axes[1, 1]
    ax.plot(w, np.asarray(ts["queue_length"]), color="#8172b3", label="queue length")
    ax.set_ylabel("episodes queued", color="#8172b3")
    ax.set_xlabel("week")
    ax2 = ax.twinx()
    ax2.plot(w, _smooth(ts["mean_wait_weeks"]), color="#937860", label="mean wait")
    ax2.set_ylabel("mean wait of ended episodes (weeks)", color="#937860")
    shade_warmup(ax, ts, label=False)
    ax.set_title("Queues and waits", y=1.0)
    title = " | ".join(f"{k}: {v}" for k, v in labels.items())
    fig.suptitle(f"carenet run - {title}", fontsize=11)
    fig.savefig(path, dpi=110)
