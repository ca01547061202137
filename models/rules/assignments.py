"""Assignments: how the organisations get their rules at the start, and whether they change.

A registered name in ``power_rule.name`` is either a rule (every organisation follows one
instance of it: :class:`Single`) or an assignment that mixes rules (:class:`Mixed`, and
:class:`Adaptive`, which also lets organisations imitate better-performing partners).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from carenet.models.errors import RuleError
from carenet.models.power import PowerRule, load_target, rule_failure


class Assignment:
    """Gives each organisation a rule.

    Attributes:
        imitation_weeks: Weeks between imitation rounds (0: rules never change).
        imitation_rate: Chance per round that an organisation compares itself to a partner.
        imitation_noise: Noise of the Fermi imitation rule.
    """

    name: ClassVar[str] = ""
    imitates: ClassVar[bool] = False

    def __init__(self, pr: Any) -> None:
        self.pr = pr
        self.imitation_weeks = int(pr.imitation_weeks) if self.imitates else 0
        self.imitation_rate = pr.imitation_rate
        self.imitation_noise = pr.imitation_noise

    def assign(self, kinds: np.ndarray, u: np.ndarray) -> list[PowerRule]:
        """One rule per organisation (``u``: one uniform per organisation)."""
        raise NotImplementedError


class Single(Assignment):
    """Every organisation follows one instance of one rule class."""

    def __init__(self, pr: Any, rule: PowerRule) -> None:
        super().__init__(pr)
        self.rule = rule

    def assign(self, kinds: np.ndarray, u: np.ndarray) -> list[PowerRule]:
        """The same rule for all."""
        return [self.rule] * len(kinds)


class Mixed(Assignment):
    """Empowerment for some organisations, domination for the rest.

    By kind (``assign_by=kind``) or a random share (``empower_share``).
    """

    name = "mixed"

    def assign(self, kinds: np.ndarray, u: np.ndarray) -> list[PowerRule]:
        """Empowerment where ``assign_by`` says, else domination."""
        from . import RULES

        pr = self.pr
        dom = RULES["domination"].from_config(pr)
        emp = RULES["empowerment"].from_config(pr)
        if pr.assign_by == "kind":
            return [emp if k in pr.empowering_kinds else dom for k in kinds]
        return [emp if u[i] < pr.empower_share else dom for i in range(len(kinds))]


class Adaptive(Mixed):
    """Mixed at the start; then, every few weeks, organisations may imitate a partner.

    Rounds are ``imitation_weeks`` apart (``imitation_rate``, ``imitation_noise``).
    """

    name = "adaptive"
    imitates = True


def assignment(pr: Any) -> Assignment:
    """The assignment a ``power_rule`` configuration names (or its user ``_target_``)."""
    from . import RULES

    if pr._target_:
        cls = load_target(pr._target_)
        try:
            user = cls(**pr.params)
        except Exception as exc:
            raise RuleError(cls, "__init__", f"raised {rule_failure(exc)}") from exc
        return Single(pr, user)
    entry = RULES[pr.name]
    if isinstance(entry, type) and issubclass(entry, Assignment):
        return entry(pr)
    return Single(pr, entry.from_config(pr))
