"""Mesa's Boltzmann wealth model through carenet's engine: ``carenet run model=boltzmann``."""

from __future__ import annotations

from dataclasses import dataclass

from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannScenario, BoltzmannWealth

from carenet.params import P
from carenet.spec import MesaSpec, Metric


@dataclass
class BoltzmannParams:
    """The Boltzmann wealth model's parameters."""

    n: int = P(100, lo=1, hi=100_000, unit="agents", doc="Number of agents.")
    width: int = P(10, lo=1, hi=1000, unit="cells", doc="Width of the grid.")
    height: int = P(10, lo=1, hi=1000, unit="cells", doc="Height of the grid.")


class BoltzmannSpec(MesaSpec):
    """Agents on a grid give a unit of wealth to a random cellmate each step."""

    name = "boltzmann"
    model_class = BoltzmannWealth
    scenario_class = BoltzmannScenario
    schema = BoltzmannParams
    metrics = (
        Metric(
            "Gini",
            "index",
            "neither",
            "last",
            "share",
            "Gini coefficient of the agents' wealth",
            headline=True,
            fmt="{:.3f}",
        ),
    )
