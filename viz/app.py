"""The Solara app behind ``carenet view``: a Mesa SolaraViz of one or two live runs.

:class:`CarenetView` is a small Mesa model that holds the run(s) the page shows (built
through :mod:`carenet.viz.adapter`); :class:`~carenet.viz.controls.RunControls` gives it
step, play, pause and reset (redraws paced to the drawing), Mesa's SolaraViz the parameter
controls (applied on Reset; values the schema refuses are shown with the
schema's message and nothing runs). With *Compare* on, a second arrangement runs beside
the first under the same seed and the difference is charted as they run.
:func:`Page` is the app's page: the live view, or with ``CARENET_VIEW_DIR`` set the results
view of a finished run or sweep folder (see :mod:`carenet.viz.results`).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import mesa
import solara

from . import draw
from .adapter import CHOICES, SERIES, ConfigError, LiveRun, Pair, options, param_spec
from .controls import RunControls

ENV_OVERRIDES = "CARENET_VIEW_OVERRIDES"
ENV_DIR = "CARENET_VIEW_DIR"

_ARGS: dict[str, str] = {
    "population_size": "population.size",
    "capacity_headroom": "organisations.capacity_headroom",
    "mean_degree": "structure.mean_degree",
    "cold_fail": "handoff.cold_fail",
    "best_fail": "handoff.best_fail",
    "threshold": "costs.threshold_gbp_per_qaly",
}
"""Keyword argument of :class:`CarenetView` -> dotted parameter."""


class CarenetView(mesa.Model):
    """The page's model: one live run, or two arrangements under one seed.

    Args:
        overrides: Overrides given on the command line (applied first).
        structure: Structure preset.
        power_rule: Power rule preset.
        response: Response preset.
        scenario_name: Scenario preset (shocks).
        compare: Run a second arrangement beside the first, under the same seed.
        structure_b: Structure of the second arrangement.
        power_rule_b: Power rule of the second arrangement.
        scenario: What Mesa's Reset passes for its own scenarios; not used.
        **numbers: The main numeric parameters (see ``_ARGS``), as numbers or text.
    """

    def __init__(
        self,
        overrides: tuple[str, ...] | list[str] = (),
        structure: str = "hybrid",
        power_rule: str = "mixed",
        response: str = "none",
        scenario_name: str = "baseline",
        compare: bool = False,
        structure_b: str = "network",
        power_rule_b: str = "empowerment",
        rng: Any = None,
        scenario: Any = None,
        **numbers: Any,
    ) -> None:
        super().__init__()
        self.lock = threading.RLock()
        """Held while a week is stepped and while the panels read the runs: play steps in a
        worker thread, and a click redraws a panel in another."""
        self.error: str | None = None
        self.live: LiveRun | None = None
        self.pair: Pair | None = None
        groups = {"structure": structure, "power_rule": power_rule}
        groups |= {"response": response, "scenario": scenario_name}
        a = list(overrides) + [f"{k}={v}" for k, v in groups.items()]
        for arg, value in numbers.items():
            if arg not in _ARGS:
                raise TypeError(f"unknown parameter {arg!r}")
            text = str(value).strip().replace(",", "") or "''"
            a.append(f"{_ARGS[arg]}={text}")
        self.overrides_a = a
        try:
            if compare:
                b = a + [f"structure={structure_b}", f"power_rule={power_rule_b}"]
                self.pair = Pair(a, b)
                self.label_a = f"A: {structure}, {power_rule}"
                self.label_b = f"B: {structure_b}, {power_rule_b}"
            else:
                self.live = LiveRun(a)
                self.label_a = f"{structure}, {power_rule}"
        except (ConfigError, ValueError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.error = f"not run: {text}"
            self.running = False
            return
        first = self.runs[0]
        self.pos = draw.layout(
            {
                "nodes": first.initial["nodes"],
                "ties": [t for r in self.runs for t in r.initial["ties"]],
            }
        )

    @property
    def runs(self) -> list[LiveRun]:
        """The runs shown (one, or A and B)."""
        if self.pair is not None:
            return [self.pair.a, self.pair.b]
        return [self.live] if self.live is not None else []

    @property
    def labels(self) -> list[str]:
        """Their labels."""
        return [self.label_a, self.label_b] if self.pair is not None else [self.label_a]

    def step(self) -> None:
        """One week of every run shown; stops at the configured number of weeks."""
        if self.error or not self.runs:
            self.running = False
            return
        with self.lock:
            if self.pair is not None:
                self.pair.step()
            else:
                self.live.step()  # type: ignore[union-attr]
            if self.runs[0].week >= self.runs[0].steps:
                self.running = False


def model_params(overrides: list[str]) -> dict[str, Any]:
    """SolaraViz controls, starting from the configuration the overrides give.

    Raises:
        ConfigError: When the overrides are not allowed.
    """
    from .adapter import check

    cfg = check(overrides)
    params: dict[str, Any] = {"overrides": tuple(overrides)}
    for group in CHOICES:
        params[group if group != "scenario" else "scenario_name"] = {
            "type": "Select",
            "value": getattr(cfg, group).name,
            "values": options(group),
            "label": group.replace("_", " "),
        }
    for arg, key in _ARGS.items():
        spec = param_spec(key)
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        unit = f" ({spec['unit']})" if spec["unit"] else ""
        if spec["type"] == "int":
            params[arg] = {"type": "InputText", "value": str(value), "label": f"{key}{unit}"}
        else:
            lo, hi = float(spec["lo"]), float(spec["hi"])
            hi = min(hi, 10.0) if key == "organisations.capacity_headroom" else hi
            hi = min(hi, 20.0) if key == "structure.mean_degree" else hi
            hi = min(hi, 100000.0) if key == "costs.threshold_gbp_per_qaly" else hi
            step = 1000.0 if hi > 1000 else (hi - lo) / 100
            params[arg] = {
                "type": "SliderFloat",
                "value": float(value),
                "min": lo,
                "max": hi,
                "step": step,
                "label": f"{key}{unit}",
            }
    params["compare"] = {"type": "Checkbox", "value": False, "label": "Compare with B (same seed)"}
    params["structure_b"] = {
        "type": "Select",
        "value": "network",
        "values": options("structure"),
        "label": "B: structure",
    }
    params["power_rule_b"] = {
        "type": "Select",
        "value": "empowerment",
        "values": options("power_rule"),
        "label": "B: power rule",
    }
    return params


# --- components --------------------------------------------------------------------------


@solara.component
def Status(model: CarenetView, tick: int = 0) -> None:
    """Week reached, seed, and the reason nothing runs (if so)."""
    with solara.Column(style={"padding": "4px 12px"}):
        if model.error:
            solara.Error(model.error)
            solara.Text("Change the value and press Reset.")
            return
        with model.lock:
            r = model.runs[0]
            week = r.week
        solara.Text(
            f"Week {week} of {r.steps} · seed {r.seed} · "
            + " vs ".join(model.labels)
            + " · controls take effect on Reset"
        )


@solara.component
def Network(model: CarenetView, tick: int = 0) -> None:
    """The organisation network now: kind, power rule, size by degree or influence."""
    size_by = solara.use_reactive("degree")
    hierarchy = solara.use_reactive(False)
    with solara.Column():
        with solara.Row():
            solara.ToggleButtonsSingle(value=size_by, values=["degree", "influence"])
            solara.Checkbox(label="hierarchy lines", value=hierarchy)
        if model.error or not model.runs:
            return
        with model.lock:
            panels = [
                (lab, r.snapshot(), model.pos)
                for lab, r in zip(model.labels, model.runs, strict=True)
            ]
        solara.FigureMatplotlib(
            draw.network_figure(panels, size_by.value, hierarchy.value), format="png", dpi=80
        )


@solara.component
def Charts(model: CarenetView, tick: int = 0) -> None:
    """Live value and cost charts; with Compare, the B - A difference too."""
    if model.error or not model.runs:
        return
    with model.lock:
        series = {
            lab: {m: r.series(m) for m, _ in SERIES} | {"cost_total": r.series("cost_total")}
            for lab, r in zip(model.labels, model.runs, strict=True)
        }
        diff = (
            {m: model.pair.difference(m) for m, _, _ in draw.DIFF}
            if model.pair is not None
            else None
        )
    with solara.Column():
        solara.FigureMatplotlib(draw.charts_figure(series), format="png", dpi=80)
        if diff is not None:
            solara.FigureMatplotlib(
                draw.difference_figure(diff, f"{model.label_b} minus {model.label_a}"),
                format="png",
                dpi=80,
            )


# --- results view -------------------------------------------------------------------------


@solara.component
def ResultsPage(folder: str) -> None:
    """A finished run or sweep: scenarios compared, time series, networks; nothing rerun."""
    from . import results

    res = solara.use_memo(lambda: results.load(folder), [folder])
    size_by = solara.use_reactive("degree")
    hierarchy = solara.use_reactive(False)
    table = res.table()
    with solara.AppBar():
        solara.AppBarTitle(f"carenet results: {folder}")
    with solara.Column(style={"padding": "12px"}):
        solara.Text(
            f"{len(res.runs)} run(s), {len(res.scenarios)} scenario(s) · "
            "means with 95% intervals over replications"
        )
        wide = table.assign(
            value=[
                f"{m:,.1f}" if n < 2 else f"{m:,.1f} [{lo:,.1f}, {hi:,.1f}]"
                for m, lo, hi, n in zip(
                    table["mean"], table["lo"], table["hi"], table["n"], strict=True
                )
            ]
        ).pivot(index="label", columns="scenario", values="value")
        solara.DataFrame(wide.reset_index(), items_per_page=20)
        solara.FigureMatplotlib(draw.interval_figure(table, results.METRICS), format="png", dpi=80)
        series = {
            sc: {m: res.timeseries(sc, m).tolist() for m, _ in SERIES} for sc in res.scenarios
        }
        solara.FigureMatplotlib(draw.charts_figure(series), format="png", dpi=80)
        with solara.Row():
            solara.ToggleButtonsSingle(value=size_by, values=["degree", "influence"])
            solara.Checkbox(label="hierarchy lines", value=hierarchy)
        for sc in res.scenarios:
            net = res.network(sc)
            if not net:
                continue
            pos = draw.layout(net["initial"])
            panels = [(f"{sc}: start", net["initial"], pos), (f"{sc}: end", net["final"], pos)]
            solara.FigureMatplotlib(
                draw.network_figure(panels, size_by.value, hierarchy.value), format="png", dpi=80
            )


# --- page ---------------------------------------------------------------------------------


@solara.component
def LivePage(overrides: list[str]) -> None:
    """One scenario running (or two side by side), with its run and parameter controls."""
    from mesa.visualization.solara_viz import ModelCreator

    params = solara.use_memo(lambda: model_params(overrides), [tuple(overrides)])
    model = solara.use_reactive(
        solara.use_memo(
            lambda: CarenetView(
                overrides=tuple(overrides),
                **{k: v["value"] for k, v in params.items() if isinstance(v, dict)},
            ),
            [tuple(overrides)],
        )
    )
    reactive_params = solara.use_reactive({})
    weeks = solara.use_reactive(1)
    with solara.AppBar():
        solara.AppBarTitle("carenet view")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            solara.SliderInt("Weeks per Step", value=weeks, min=1, max=52, step=1)
            RunControls(model, reactive_params, weeks)
        with solara.Card("Parameters (applied on Reset)"):
            ModelCreator(model, params, model_parameters=reactive_params)
    with solara.Column(style={"padding": "8px"}):
        Live(model.value)


@solara.component
def Live(model: CarenetView) -> None:
    """The live panels; redrawn whenever the run controls redraw (Mesa's update counter)."""
    from mesa.visualization.utils import update_counter

    tick = update_counter.get()
    Status(model, tick)
    Charts(model, tick)
    Network(model, tick)


@solara.component
def Page() -> None:
    """The page ``carenet view`` serves (configured through the environment)."""
    folder = os.environ.get(ENV_DIR)
    if folder:
        ResultsPage(folder)
    else:
        LivePage(json.loads(os.environ.get(ENV_OVERRIDES, "[]")))
