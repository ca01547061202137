"""Power rules and their registry: the single source of truth for ``power_rule.name``.

:data:`RULES` maps each registered name to a rule class (a
:class:`~carenet.models.power.PowerRule` subclass: every organisation follows it) or an
:class:`~carenet.models.rules.assignments.Assignment` class (which gives organisations
different rules). Registering a new rule is one line, ``RULES["cautious"] = Cautious``;
the model needs no change. A rule class declares how the configuration sets it in
``config_keys``; each default is declared once, in the class's constructor, and the
schema reads it from there.
"""

from __future__ import annotations

import inspect
from typing import Any

from carenet.models.power import PowerRule

from .assignments import Adaptive, Assignment, Mixed, Single, assignment
from .domination import Domination
from .empowerment import Empowerment

RULES: dict[str, type[PowerRule] | type[Assignment]] = {
    "domination": Domination,
    "empowerment": Empowerment,
    "mixed": Mixed,
    "adaptive": Adaptive,
}
"""Registered names: rules, and assignments that mix domination and empowerment."""


def default(cls: type, arg: str) -> Any:
    """The default of constructor argument ``arg`` of rule class ``cls``."""
    return inspect.signature(cls.__init__).parameters[arg].default


__all__ = [
    "RULES",
    "Adaptive",
    "Assignment",
    "Domination",
    "Empowerment",
    "Mixed",
    "Single",
    "assignment",
    "default",
]
