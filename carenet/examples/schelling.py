"""Mesa's Schelling segregation model through carenet's engine: ``model=schelling``."""

from __future__ import annotations

from dataclasses import dataclass

from mesa.examples.basic.schelling.model import Schelling, SchellingScenario

from carenet.params import PROB, P
from carenet.spec import MesaSpec, Metric


@dataclass
class SchellingParams:
    """The Schelling model's parameters."""

    height: int = P(20, lo=1, hi=1000, unit="cells", doc="Height of the grid.")
    width: int = P(20, lo=1, hi=1000, unit="cells", doc="Width of the grid.")
    density: float = P(0.8, **PROB, doc="Chance that a cell holds an agent.")
    minority_pc: float = P(0.5, **PROB, doc="Chance that an agent is of the minority type.")
    homophily: float = P(0.4, **PROB, doc="Share of similar neighbours an agent wants.")
    radius: int = P(1, lo=1, hi=10, unit="cells", doc="Radius of the neighbourhood.")


class SchellingSpec(MesaSpec):
    """Agents move until enough of their neighbours are of their own type."""

    name = "schelling"
    model_class = Schelling
    scenario_class = SchellingScenario
    schema = SchellingParams
    metrics = (
        Metric(
            "pct_happy",
            "%",
            "higher",
            "last",
            "nonnegative",
            "Share of happy agents (%)",
            headline=True,
            fmt="{:.1f}",
        ),
        Metric("happy", "agents", "higher", "last", "nonnegative", "Happy agents"),
    )
