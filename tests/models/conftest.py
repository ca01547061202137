"""Shared fixtures for model tests: a small system and the RuleView rules decide on."""

from __future__ import annotations

import pytest

from carenet.models.model import CareSystemModel
from carenet.models.power import RuleView
from carenet.models.schema import CarenetConfig
from carenet.sim.config import load_config

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=8",
    "warmup_weeks=0",
]
"""A system small enough to build in a fraction of a second."""


@pytest.fixture(scope="session")
def tiny_config() -> CarenetConfig:
    """A validated tiny configuration (hybrid structure, so every route exists)."""
    return load_config(TINY)


@pytest.fixture(scope="session")
def tiny_model(tiny_config: CarenetConfig) -> CareSystemModel:
    """A tiny model run for a few weeks, so queues, flows and route costs are non-trivial.

    Session-scoped: tests must only read it.
    """
    m = CareSystemModel(tiny_config)
    m.run(4)
    return m


@pytest.fixture(scope="session")
def rule_view(tiny_model: CareSystemModel) -> RuleView:
    """The RuleView of the tiny model after a few weeks."""
    return tiny_model.view()
