"""Errors a run raises when it cannot go on: typed, each with a one-line message.

They are not ``ValueError`` subclasses: they mean a run failed (exit code 1), not that the
input was bad (exit code 2, :class:`carenet.sim.config.ConfigError`).
"""

from __future__ import annotations


class RunError(RuntimeError):
    """A run failed; the message is one line for the user."""


class RuleError(RunError):
    """A power rule raised, or returned a value the model cannot use.

    The message names the rule's class, the method, the organisation and week where known,
    and the exception type or the offending value with what was expected.

    Args:
        rule: The rule object (or its class, when making one failed).
        method: The method asked.
        problem: What went wrong, e.g. ``"raised ValueError: boom"`` or
            ``"returned 'lots'; expected a number from 0 to 1"``.
        org: The organisation the rule was asked about, if one.
        week: The week of the run, if known.
    """

    def __init__(
        self,
        rule: object,
        method: str,
        problem: str,
        org: int | None = None,
        week: int | None = None,
    ) -> None:
        self.rule_class = rule.__name__ if isinstance(rule, type) else type(rule).__name__
        self.method = method
        where = []
        if org is not None:
            where.append(f"organisation {org}")
        if week is not None:
            where.append(f"week {week}")
        at = f" ({', '.join(where)})" if where else ""
        super().__init__(f"power rule {self.rule_class}.{method}{at} {problem}")


class ResultError(RunError):
    """A finished run's summary holds a headline metric that is not a finite number."""
