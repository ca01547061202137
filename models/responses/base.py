"""The base of a response component: its name, its parameters, its hooks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from carenet.models.schema import ResponseConfig


class ResponseError(ValueError):
    """A response names a component carenet does not have (bad input, one line)."""


class Component:
    """One part of a response. Subclass it, name it and override the hooks it acts in.

    Class attributes:
        name: The name a response lists it by.
        params: The ``response.*`` keys it reads (it reads no others).
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: ResponseConfig) -> None:
        self.p = SimpleNamespace(**{k: getattr(cfg, k) for k in self.params})

    # --- hooks (stages); the defaults do nothing ---------------------------------------
    def governance(self, m: Any, t: int, rec: dict[str, float]) -> None:
        """Governance stage: fixed activities of the week."""

    def handoff(
        self, m: Any, ho: Any, t: int, p: np.ndarray, d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Handoffs stage: adjust failure chances ``p`` and delays ``d`` of handoffs ``ho``."""
        return p, d

    def sharing_boost(self, m: Any) -> float:
        """Learning stage: added to every organisation's data-sharing level."""
        return 0.0

    def extra_relationship_hours(self) -> float:
        """Learning stage: extra relationship hours per organisation and week."""
        return 0.0
