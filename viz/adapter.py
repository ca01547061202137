"""The view's one link to the model: build, step and read a run through its public API.

Everything the view knows about :mod:`carenet.models` goes through this module, so a
redesign of the model changes this file only. A :class:`LiveRun` is one scenario built
from Hydra overrides (validated by :func:`carenet.sim.config.load_config`) and stepped a
week at a time; :class:`Pair` steps two arrangements under the same seed (common random
numbers) so their difference is the effect of the arrangement, not of chance.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from carenet.models.schema import SCHEMAS, CarenetConfig
from carenet.sim.config import ConfigError, group_options, load_config

CHOICES: tuple[str, ...] = ("structure", "power_rule", "response", "scenario")
"""Config groups offered as drop-downs."""

NUMERIC: tuple[str, ...] = (
    "population.size",
    "organisations.capacity_headroom",
    "structure.mean_degree",
    "handoff.cold_fail",
    "handoff.best_fail",
    "costs.threshold_gbp_per_qaly",
)
"""The main numeric parameters offered as inputs (ranges from the schema)."""

SERIES: tuple[tuple[str, str], ...] = (
    ("qalys_net", "Net QALYs"),
    ("net_monetary_benefit", "Net monetary benefit (GBP)"),
    ("cost_direct", "Direct cost (GBP)"),
    ("cost_transaction", "Transaction cost (GBP)"),
    ("cost_failure", "Failure cost (GBP)"),
    ("cost_connection", "Connection cost (GBP)"),
    ("handoffs_failed", "Failed handoffs"),
    ("mean_wait_weeks", "Mean wait (weeks)"),
)
"""Weekly metrics charted live: value, the four cost parts, failed handoffs, waits."""

__all__ = ["CHOICES", "NUMERIC", "SERIES", "ConfigError", "LiveRun", "Pair", "param_spec"]


def param_spec(key: str) -> dict[str, Any]:
    """Type, range, unit and default of a dotted parameter, from the schema.

    Args:
        key: A dotted key such as ``population.size``.

    Returns:
        ``{"type": "int"|"float", "lo", "hi", "unit", "doc", "default"}``.
    """
    cls: type = CarenetConfig
    parts = key.split(".")
    for part in parts[:-1]:
        f = {f.name: f for f in fields(cls)}[part]
        cls = SCHEMAS[f.type if isinstance(f.type, str) else f.type.__name__]
    f = {f.name: f for f in fields(cls)}[parts[-1]]
    meta = f.metadata
    return {
        "type": f.type if isinstance(f.type, str) else f.type.__name__,
        "lo": meta.get("lo"),
        "hi": meta.get("hi"),
        "unit": meta.get("unit", ""),
        "doc": meta.get("doc", ""),
        "default": f.default,
    }


def options(group: str) -> list[str]:
    """The options of a config group (``structure`` -> hierarchy, hybrid, network)."""
    return group_options(group)


def check(overrides: list[str]) -> CarenetConfig:
    """Validate overrides; raises :class:`ConfigError` with the schema's one-line message."""
    return load_config(list(overrides))


class LiveRun:
    """One scenario, stepped a week at a time.

    Args:
        overrides: Hydra overrides (``structure=network population.size=50000``).
        seed: Run seed; default the configuration's.

    Raises:
        ConfigError: When a value is not allowed (the schema's one-line message).
    """

    def __init__(self, overrides: list[str], seed: int | None = None) -> None:
        from carenet.models.model import CareSystemModel

        self.overrides = list(overrides)
        self.config = load_config(self.overrides)
        self.model = CareSystemModel(self.config, seed=seed)
        self.seed = self.model.seed_value
        self.initial = self.model.initial_snapshot

    @property
    def week(self) -> int:
        """Weeks run so far."""
        return int(self.model.week)

    @property
    def steps(self) -> int:
        """Weeks the scenario is configured to run."""
        return int(self.config.steps)

    @property
    def records(self) -> list[dict[str, float]]:
        """One dict of metrics per week run."""
        return self.model.records

    def step(self) -> None:
        """Run one week."""
        self.model.step()

    def snapshot(self) -> dict[str, Any]:
        """The organisations and ties now (``nodes``, ``ties``, ``week``)."""
        return self.model.network_snapshot()

    def series(self, metric: str) -> list[float]:
        """One weekly metric over the weeks run so far."""
        return [float(r.get(metric, float("nan"))) for r in self.model.records]


class Pair:
    """Two arrangements under one seed (common random numbers), stepped together.

    Args:
        a: Overrides of the first arrangement.
        b: Overrides of the second; it gets the first one's seed.
    """

    def __init__(self, a: list[str], b: list[str]) -> None:
        self.a = LiveRun(a)
        self.b = LiveRun(b, seed=self.a.seed)

    def step(self) -> None:
        """Run one week of both."""
        self.a.step()
        self.b.step()

    def difference(self, metric: str) -> list[float]:
        """Weekly ``b - a`` of a metric."""
        return [y - x for x, y in zip(self.a.series(metric), self.b.series(metric), strict=False)]
