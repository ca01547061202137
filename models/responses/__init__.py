"""The response to an integration mandate, composed from components.

A response is a list of components (``response.components`` in the configuration, e.g.
``[contracts, boards, inspections]``); each component is a small class in this package
with the parameters it reads and the stages (hooks) it acts in. ``configs/response/*.yaml``
are presets; a user composes their own by listing components, e.g.
``response.components=[contracts,shared_records]``. A component acts only when it is
listed, and its parameters (``response.*``) act only then. (The boolean switches of
earlier versions, such as ``response.hub_funding``, are gone: a switch set to false under
a preset that listed the component could not turn it off.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Component, ResponseError
from .contracting import Boards, Contracts, Inspections
from .networking import HubFunding, PooledBudget, RelationshipTime, SharedRecords

if TYPE_CHECKING:
    from carenet.models.schema import ResponseConfig

COMPONENTS: dict[str, type[Component]] = {
    c.name: c
    for c in (
        Contracts,
        SharedRecords,
        Boards,
        Inspections,
        HubFunding,
        RelationshipTime,
        PooledBudget,
    )
}
"""Registered components by name, in the order their hooks run within a stage."""

__all__ = ["COMPONENTS", "Component", "Response", "ResponseError", "response_problem"]


def response_problem(cfg: ResponseConfig) -> str:
    """What is wrong with a response configuration in one line, or ``""``."""
    unknown = [c for c in cfg.components if c not in COMPONENTS]
    if unknown:
        return f"response.components: unknown component {unknown[0]!r}; known: " + ", ".join(
            COMPONENTS
        )
    return ""


class Response:
    """The components a run's response is made of, and the hooks the stages call.

    Args:
        cfg: The response configuration.

    Raises:
        ResponseError: When ``cfg.components`` names an unknown component.
    """

    def __init__(self, cfg: ResponseConfig) -> None:
        problem = response_problem(cfg)
        if problem:
            raise ResponseError(problem)
        on = [c for name, c in COMPONENTS.items() if name in cfg.components]
        self.components: list[Component] = [c(cfg) for c in on]
        self.names = [c.name for c in self.components]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def governance(self, m: Any, t: int, rec: dict[str, float]) -> None:
        """The components' fixed weekly activities (governance stage)."""
        for c in self.components:
            c.governance(m, t, rec)

    def handoff(
        self, m: Any, ho: Any, t: int, p: np.ndarray, d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adjust this week's handoffs' failure chances ``p`` and delays ``d``."""
        for c in self.components:
            p, d = c.handoff(m, ho, t, p, d)
        return p, d

    def sharing_boost(self, m: Any) -> float:
        """Added to every organisation's data-sharing level now."""
        return sum((c.sharing_boost(m) for c in self.components), 0.0)

    def extra_relationship_hours(self) -> float:
        """Extra relationship time funded per organisation (hours/week)."""
        return sum((c.extra_relationship_hours() for c in self.components), 0.0)

    def pooled(self) -> PooledBudget | None:
        """The pooled-budget component, if the response has one."""
        return next((c for c in self.components if isinstance(c, PooledBudget)), None)
