"""The interface between carenet's engine and a model: metric declarations and the spec.

This module is the base layer: the engine (``carenet.sim``) and the models
(``carenet.models``, or a user's package) both import it, and it imports neither. The
engine knows a model only through a :class:`ModelSpec`; a model declares each metric it
reports once, as a :class:`Metric`, and everything downstream (time series, summary, the
printed table, ``collect``, ``report``, the README's metric list and the ODD) is made from
those declarations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Better = Literal["higher", "lower", "neither"]
"""Which direction is better for a metric (``neither`` for descriptive metrics)."""

WeekAggregate = Literal["sum", "mean", "last", "max", "none"]
"""How a metric's weekly values make its whole-run value (``none``: not a weekly series)."""

Scale = Literal["share", "nonnegative", "signed"]
"""The metric's scale, which decides the interval method: [0, 1], >= 0, or any real."""


@dataclass(frozen=True)
class Metric:
    """One metric a model reports, declared once.

    Attributes:
        name: Column name in the time series and key in the summary.
        unit: Unit of the value (``GBP``, ``QALYs``, ``weeks``, ``share``, ``count``...).
        better: Which direction is better.
        over_weeks: How weekly values make the whole-run value.
        scale: The value's scale (for intervals and colour maps).
        meaning: One line saying what the metric counts.
        over_runs: How runs of one scenario are combined (the engine reports means with
            95% confidence intervals).
        in_series: Whether the metric is recorded every step (a column of the time series).
        in_summary: Whether the metric is in the whole-run summary.
        headline: Whether the printed table after a run shows it.
        label: Short label for tables (default: the name).
        fmt: Python format for tables, e.g. ``"{:,.0f}"`` or ``"{:.1%}"``.
    """

    name: str
    unit: str
    better: Better
    over_weeks: WeekAggregate
    scale: Scale
    meaning: str
    over_runs: Literal["mean"] = "mean"
    in_series: bool = True
    in_summary: bool = True
    headline: bool = False
    label: str = ""
    fmt: str = "{:,.3g}"

    @property
    def title(self) -> str:
        """The label shown in tables."""
        return self.label or self.name


@runtime_checkable
class ModelSpec(Protocol):
    """What the engine needs from a model (see docs/architecture.md).

    The engine composes the model's configuration (``config_package``, a Hydra config
    package holding ``config.yaml`` and its groups; or, when it is empty, the schema's
    defaults alone), validates it against ``schema`` plus the engine's run keys (``seed``,
    ``steps``, ``out``...; the engine adds those the schema does not declare), calls
    :meth:`check` for rules across fields, :meth:`build` once per run, :meth:`run` for
    ``steps`` steps, then :meth:`records`, :meth:`summary` and :meth:`artefacts`, and
    writes them. :class:`BaseSpec` gives every method but :meth:`build` a default, and
    the optional ones the engine looks for (:meth:`BaseSpec.warmup_steps`: steps left
    out of the summary, flagged by a ``warmup`` column of the records and shaded in the
    figures).
    """

    name: str
    config_package: str
    schema: type
    metrics: tuple[Metric, ...]

    def build(self, config: Any, seed: int) -> Any:
        """A new model instance for one run."""
        ...

    def run(self, model: Any, steps: int, callback: Callable[[Any], None] | None) -> None:
        """Advance the model ``steps`` steps, calling ``callback(model)`` after each."""
        ...

    def records(self, model: Any) -> list[dict[str, float]]:
        """The time series after the run: one dict per step, with ``week`` (1, 2, ...)."""
        ...

    def summary(self, model: Any) -> dict[str, float]:
        """Whole-run metrics (keys: the metrics with ``in_summary``)."""
        ...

    def artefacts(self, model: Any) -> dict[str, Any]:
        """Extra JSON-able results by file name, e.g. ``{"network.json": {...}}``."""
        ...

    def labels(self, config: Any) -> dict[str, str]:
        """Names that identify the scenario a configuration is (for tables and figures)."""
        ...

    def check(self, config: Any) -> None:
        """Rules across fields; raise :class:`carenet.params.ConfigError` (one line)."""
        ...


class BaseSpec:
    """Defaults for a :class:`ModelSpec`: subclass it and give ``build`` (and the fields).

    Attributes:
        name: The model's name (``model=NAME``).
        config_package: Importable Hydra config package, or ``""`` for the schema alone.
        schema: The parameters, a dataclass of :func:`carenet.params.param` fields.
        metrics: The metrics the model reports.
        figure_from_columns: Whether :meth:`figure` is given the time series as a dict of
            NumPy arrays (``week`` and one per metric) rather than a pandas DataFrame, so
            a run that draws it need not import pandas (about 0.4 s of start-up).
    """

    name: str = ""
    config_package: str = ""
    schema: type = object
    metrics: tuple[Metric, ...] = ()
    figure_from_columns: bool = False

    def build(self, config: Any, seed: int) -> Any:  # pragma: no cover - abstract
        """A new model instance for one run."""
        raise NotImplementedError

    def run(self, model: Any, steps: int, callback: Callable[[Any], None] | None) -> None:
        """``model.step()`` ``steps`` times, calling ``callback(model)`` after each."""
        for _ in range(steps):
            model.step()
            if callback is not None:
                callback(model)

    def records(self, model: Any) -> list[dict[str, float]]:
        """The time series (default: ``model.records``)."""
        return list(model.records)

    def summary(self, model: Any) -> dict[str, float]:
        """Whole-run metrics (default: ``model.summary()``)."""
        return dict(model.summary())

    def artefacts(self, model: Any) -> dict[str, Any]:
        """Extra JSON results by file name (default: none)."""
        return {}

    def labels(self, config: Any) -> dict[str, str]:
        """Scenario labels (default: the model's name)."""
        return {"model": self.name}

    def check(self, config: Any) -> None:
        """Rules across fields (default: none)."""

    def notes(self, config: Any) -> list[str]:
        """Warnings to print before a run (default: none)."""
        return []

    def warmup_steps(self, config: Any) -> int:
        """Steps simulated first and left out of the summary (default: none).

        A model with a warm-up also flags those steps in its time series with a
        ``warmup`` column (1 in the warm-up, else 0), which the engine's figures shade.
        """
        return 0

    def describe(self, config: Any) -> dict[str, Any]:
        """Extra keys for ``summary.json`` (default: none)."""
        return {}

    def length_note(self, length: int) -> str:
        """What a required list length means, for messages (default: nothing)."""
        return ""

    def headline(self, summary: dict[str, float], config: Any) -> str:
        """The table printed after a run: the labels, then the headline metrics."""
        labels = self.labels(config)
        rows = ["  " + " | ".join(f"{k}: {v}" for k, v in labels.items())]
        shown = [m for m in self.metrics if m.headline and m.in_summary] or [
            m for m in self.metrics if m.in_summary
        ]
        for m in shown:
            v = summary.get(m.name, float("nan"))
            bad = v is None or (isinstance(v, float) and math.isnan(v))
            rows.append(f"  {m.title:<40} {'n/a' if bad else m.fmt.format(v):>16}")
        return "\n".join(rows)

    def figure(self, timeseries: Any, labels: dict[str, str], path: Any) -> bool:
        """Draw the run's overview figure at ``path``; False to let the engine draw it."""
        return False


class MesaSpec(BaseSpec):
    """A spec for any Mesa model: its time series are its ``DataCollector`` model reporters.

    Give the model class, its parameters as a dataclass (``schema``, fields made with
    :func:`carenet.params.param`), and the reporters to keep as metrics. The model is made
    with ``model_class(scenario=scenario_class(rng=seed, **params))`` when
    ``scenario_class`` is given (Mesa 3.5's ``Scenario``), else
    ``model_class(rng=seed, **params)``; each step is ``model.step()``; after the run the
    model's ``datacollector.model_vars`` are the time series (the row collected before the
    first step, if any, is left out), and each metric's whole-run value is its series
    aggregated as the metric says (``over_weeks``: last, mean, sum or max).

    Example::

        @dataclass
        class BoltzmannParams:
            n: int = P(100, lo=1, doc="Number of agents.")

        class BoltzmannSpec(MesaSpec):
            name = "boltzmann"
            model_class = BoltzmannWealth
            scenario_class = BoltzmannScenario
            schema = BoltzmannParams
            metrics = (Metric("Gini", "index", "lower", "last", "share", "Wealth inequality"),)
    """

    model_class: Any = None
    scenario_class: Any = None

    def params(self, config: Any) -> dict[str, Any]:
        """The model's own parameters of a configuration (the schema's fields)."""
        from dataclasses import fields

        return {f.name: getattr(config, f.name) for f in fields(self.schema)}

    def build(self, config: Any, seed: int) -> Any:
        """The Mesa model, seeded with the run seed."""
        kw = self.params(config)
        if self.scenario_class is not None:
            return self.model_class(scenario=self.scenario_class(rng=seed, **kw))
        return self.model_class(rng=seed, **kw)

    def run(self, model: Any, steps: int, callback: Callable[[Any], None] | None) -> None:
        """``model.step()`` ``steps`` times; remembers how many rows came before."""
        model._carenet_rows_before = _collected_rows(model)
        super().run(model, steps, callback)

    def records(self, model: Any) -> list[dict[str, float]]:
        """The reporters' values after each step, one dict per step with ``week``."""
        dc = model.datacollector
        names = [m.name for m in self.metrics if m.in_series] or list(dc.model_vars)
        skip = int(getattr(model, "_carenet_rows_before", 0))
        n = _collected_rows(model) - skip
        return [
            {"week": i + 1, **{k: float(dc.model_vars[k][skip + i]) for k in names}}
            for i in range(n)
        ]

    def summary(self, model: Any) -> dict[str, float]:
        """Each metric's series aggregated over the run as it declares."""
        rows = self.records(model)
        out: dict[str, float] = {}
        for m in self.metrics:
            if not m.in_summary:
                continue
            values = [r[m.name] for r in rows if m.name in r]
            out[m.name] = _aggregate(values, m.over_weeks)
        return out

    def labels(self, config: Any) -> dict[str, str]:
        """The model's name and its parameters."""
        return {"model": self.name, **{k: str(v) for k, v in self.params(config).items()}}


def _collected_rows(model: Any) -> int:
    data = model.datacollector.model_vars
    return len(next(iter(data.values()))) if data else 0


def _aggregate(values: list[float], how: str) -> float:
    if not values:
        return float("nan")
    if how == "sum":
        return float(sum(values))
    if how == "mean":
        return float(sum(values) / len(values))
    if how == "max":
        return float(max(values))
    return float(values[-1])
