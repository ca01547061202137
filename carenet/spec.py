"""The interface between carenet's engine and a model: metric declarations and the spec.

This module is the base layer: the engine (``carenet.sim``) and the models
(``carenet.models``, or a user's package) both import it, and it imports neither. The
engine knows a model only through a :class:`ModelSpec`; a model declares each metric it
reports once, as a :class:`Metric`, and everything downstream (time series, summary, the
printed table, ``collect``, ``report``, the README's metric list and the ODD) is made from
those declarations.
"""

from __future__ import annotations

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

    The engine composes ``config_package`` (a Hydra config package holding
    ``config.yaml``), validates it against ``schema``, calls :meth:`build` once per run,
    :meth:`step` ``steps`` times with :meth:`record` after each, then :meth:`summary` and
    :meth:`artefacts`, and writes them.
    """

    name: str
    config_package: str
    schema: type
    metrics: tuple[Metric, ...]

    def build(self, config: Any, seed: int) -> Any:
        """A new model instance for one run."""
        ...

    def step(self, model: Any) -> None:
        """Advance the model by one step."""
        ...

    def record(self, model: Any) -> dict[str, float]:
        """The metrics of the step just taken (keys: the metrics with ``in_series``)."""
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
