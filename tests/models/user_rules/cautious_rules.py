"""A user-written power rule, kept outside carenet, as a user would write one.

carenet selects it from configuration alone, either by file
(``power_rule._target_=/abs/path/cautious_rules.py:Cautious``) or, with this folder on
``PYTHONPATH``, by dotted path (``power_rule._target_=cautious_rules.Cautious``).
"""

from __future__ import annotations

import numpy as np

from carenet.models.power import PowerRule, RuleView


class Cautious(PowerRule):
    """Refers away from long queues, shares a set amount of data, keeps trusted ties.

    Args:
        sharing: Data-sharing level in [0, 1].
        queue_aversion: How strongly a receiver's queue lowers its referral weight.
        min_trust: Trust below which a tie is not worth keeping.
    """

    name = "cautious"
    classifier = {
        "seeks": "trust",
        "shares_data": True,
        "pools_budget": False,
        "demands_escalation": False,
    }

    def __init__(
        self, sharing: float = 0.6, queue_aversion: float = 2.0, min_trust: float = 0.3
    ) -> None:
        super().__init__(sharing=sharing, queue_aversion=queue_aversion, min_trust=min_trust)

    def data_sharing(self, org: int, view: RuleView) -> float:
        return float(self.params["sharing"])

    def referral_weights(self, org: int, view: RuleView) -> np.ndarray:
        penalty = 1.0 + self.params["queue_aversion"] * view.queue_ratio
        return view.capacity * view.local_weight[org] / penalty

    def tie_scores(self, org: int, view: RuleView) -> np.ndarray:
        return (view.tie[org] - self.params["min_trust"]) * view.tie_cost
