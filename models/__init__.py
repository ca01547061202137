"""carenet.models: carenet's care-system model.

The names the engine uses are re-exported here: the model class, the summary check, the
metric declarations, the rule registry and loader, and the scenario checks.
"""

from __future__ import annotations

from .model import CareSystemModel
from .outputs import check_summary
from .power import RULES, PowerRule, load_target
from .registry import HEADLINE_METRICS, METRICS
from .responses import ResponseError, response_problem
from .shocks import scenario_notes, scenario_problem

__all__ = [
    "HEADLINE_METRICS",
    "METRICS",
    "RULES",
    "CareSystemModel",
    "PowerRule",
    "ResponseError",
    "check_summary",
    "load_target",
    "response_problem",
    "scenario_notes",
    "scenario_problem",
]
