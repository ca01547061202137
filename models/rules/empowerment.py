"""The empowerment rule: power as the capacity to act together."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from carenet.models.power import PowerRule, RuleView


class Empowerment(PowerRule):
    """Power as empowerment: seek value, refer for outcome, share data, pool budget.

    - ties: a tie is worth the handoffs that flow between the pair times the expected
      saving of a direct tie over the best other route (the mean of both directions':
      value for both ends), less its upkeep, plus
      ``influence_preference`` x the partner's influence x the upkeep (well-connected,
      trusted partners are worth tying to: influence accrues to hubs by connectivity);
    - referral: softmax over expected outcome: the route's expected cost (failure, delay,
      admin, repeated assessment) plus the cost of the weeks a patient would wait in the
      receiver's queue, both priced as the accounting charges them (``choice_sharpness``);
    - data: shares much (``sharing``, default 0.8);
    - escalation: never demands it;
    - budget: bids its need (recent demand at cost) and pools when a pool is offered.

    Args:
        sharing: Data-sharing level.
        choice_sharpness: Softmax sharpness of referral by expected outcome.
        influence_preference: Weight on a partner's influence when tying.
    """

    name = "empowerment"
    config_keys: ClassVar[dict[str, str]] = {
        "sharing": "empowerment_sharing",
        "choice_sharpness": "choice_sharpness",
        "influence_preference": "influence_preference",
    }
    classifier = {
        "seeks": "value",
        "shares_data": True,
        "pools_budget": True,
        "demands_escalation": False,
    }

    def __init__(
        self, sharing: float = 0.8, choice_sharpness: float = 3.0, influence_preference: float = 1.0
    ) -> None:
        super().__init__(
            sharing=sharing,
            choice_sharpness=choice_sharpness,
            influence_preference=influence_preference,
        )

    def data_sharing(self, org: int, view: RuleView) -> float:
        """Shares much: records follow the patient."""
        return float(self.params["sharing"])

    def referral_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Softmax of minus (route cost + cost of the expected wait), relative to its scale."""
        wait = view.wait_cost if view.wait_price is None else view.wait_price[orgs]
        cost = view.route_cost[orgs] + view.expected_wait[None, :] * wait
        among = np.ix_(view.service, view.service)  # one copy, then partitioned in place
        scale = max(float(np.median(view.route_cost[among], overwrite_input=True)), 1.0)
        z = -self.params["choice_sharpness"] * cost / scale
        z -= z.max(axis=1, keepdims=True)
        local = view.local_weight[orgs]
        return np.exp(z) * view.capacity[None, :] * local

    def referral_weights(self, org: int, view: RuleView) -> np.ndarray:
        """See :meth:`referral_matrix`."""
        return self.referral_matrix(np.array([org]), view)[0]

    def tie_score_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Expected weekly saving from the tie, less its upkeep, plus hub attraction.

        The saving is the pair's: the handoffs flowing between the two (both directions;
        flow is recorded per pair) times the mean of the two directions' savings, so
        that both ends value a tie alike, the saving to the partner's patients included
        (e.g. an acute trust's discharges, whose waits are bed days, count for the
        community provider it discharges to).
        """
        has = view.tie[orgs] > 0
        out = np.where(has, view.route_cost[orgs], view.new_tie_cost[orgs])
        back = np.where(has, view.route_cost[:, orgs].T, view.new_tie_cost[:, orgs].T)
        saving = 0.5 * (
            np.maximum(0.0, view.alt_cost[orgs] - out)
            + np.maximum(0.0, view.alt_cost[:, orgs].T - back)
        )
        return (
            view.flow[orgs] * saving
            - 2.0 * view.tie_cost
            + self.params["influence_preference"] * view.influence[None, :] * view.tie_cost
        )

    def tie_scores(self, org: int, view: RuleView) -> np.ndarray:
        """See :meth:`tie_score_matrix`."""
        return self.tie_score_matrix(np.array([org]), view)[0]

    def budget_bid(self, org: int, view: RuleView) -> float:
        """Bids its need, not its power (outside a pool: within its funding stream)."""
        return float(view.need[org])

    def pools_budget(self, org: int, view: RuleView) -> bool:
        """Joins a pooled budget: its budget is then shared by need across streams."""
        return True
