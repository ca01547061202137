"""The stages of one week, one module each, in the order the model runs them."""

from __future__ import annotations

from .admission import Admission
from .base import Stage
from .demand import Demand
from .governance import Governance
from .handoffs import Handoffs
from .learning import Learning
from .record import Record
from .service import Service
from .shocks import Shocks
from .waiting import Waiting

STAGES: tuple[type[Stage], ...] = (
    Shocks,
    Governance,
    Demand,
    Waiting,
    Admission,
    Service,
    Handoffs,
    Learning,
    Record,
)
"""The stages of a week, in order."""

__all__ = [
    "STAGES",
    "Admission",
    "Demand",
    "Governance",
    "Handoffs",
    "Learning",
    "Record",
    "Service",
    "Shocks",
    "Stage",
    "Waiting",
]
