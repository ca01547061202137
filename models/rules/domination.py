"""The domination rule: power as control."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from carenet.models.power import PowerRule, RuleView


class Domination(PowerRule):
    """Power as domination: seek control, keep patients in the branch, hoard information.

    - ties: seeks partners of high authority, more so inside its own branch (a tie's worth
      is the partner's authority, scaled to the tie's upkeep);
    - referral: in proportion to capacity, weighted ``branch_bias`` times towards its own
      branch, its place: the providers of every kind based in its home locality (in-house
      first, always: the model keeps a step in-house when it can);
    - data: shares little (``sharing``, default 0.2);
    - escalation: demands hierarchy approval for referrals out of its branch
      (``escalate_out_of_branch``), where a hierarchy exists;
    - budget: bids its budget inflated by its authority above the mean
      (``capture_strength``): powerful organisations capture budget from the others of
      their funding stream (and across streams beyond the ring-fence); never pools.

    Args:
        sharing: Data-sharing level.
        branch_bias: Weight on its own branch in referrals and ties.
        capture_strength: How strongly authority inflates the budget bid.
        escalate_out_of_branch: Demand approval for out-of-branch handoffs.
    """

    name = "domination"
    config_keys: ClassVar[dict[str, str]] = {
        "sharing": "domination_sharing",
        "branch_bias": "branch_bias",
        "capture_strength": "capture_strength",
        "escalate_out_of_branch": "escalate_out_of_branch",
    }
    classifier = {
        "seeks": "authority",
        "shares_data": False,
        "pools_budget": False,
        "demands_escalation": True,
    }

    def __init__(
        self,
        sharing: float = 0.2,
        branch_bias: float = 4.0,
        capture_strength: float = 0.5,
        escalate_out_of_branch: bool = True,
    ) -> None:
        super().__init__(
            sharing=sharing,
            branch_bias=branch_bias,
            capture_strength=capture_strength,
            escalate_out_of_branch=escalate_out_of_branch,
        )

    def data_sharing(self, org: int, view: RuleView) -> float:
        """Shares little: information is power."""
        return float(self.params["sharing"])

    def referral_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Capacity-weighted, local, and ``branch_bias`` times towards its own branch."""
        same = view.branch[orgs][:, None] == view.branch[None, :]
        local = view.local_weight[orgs]
        return view.capacity[None, :] * local * np.where(same, self.params["branch_bias"], 1.0)

    def referral_weights(self, org: int, view: RuleView) -> np.ndarray:
        """See :meth:`referral_matrix`."""
        return self.referral_matrix(np.array([org]), view)[0]

    def escalation_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Out-of-branch handoffs need approval through the hierarchy."""
        if not (view.hierarchy and self.params["escalate_out_of_branch"]):
            return np.zeros((len(orgs), len(view.kind)), dtype=bool)
        return view.branch[orgs][:, None] != view.branch[None, :]

    def demands_escalation(self, org: int, view: RuleView) -> np.ndarray:
        """See :meth:`escalation_matrix`."""
        return self.escalation_matrix(np.array([org]), view)[0]

    def tie_score_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """A tie is worth the partner's authority (x branch bias inside the branch)."""
        same = view.branch[orgs][:, None] == view.branch[None, :]
        bias = np.where(same, self.params["branch_bias"], 1.0)
        return view.authority[None, :] * bias * view.tie_cost

    def tie_scores(self, org: int, view: RuleView) -> np.ndarray:
        """See :meth:`tie_score_matrix`."""
        return self.tie_score_matrix(np.array([org]), view)[0]

    def budget_bid(self, org: int, view: RuleView) -> float:
        """Budget inflated by authority above the mean: the powerful capture budget.

        Bids compete within the organisation's funding stream for its ring-fenced part
        and across streams for the rest (``organisations.budget_ring_fence``).
        """
        a = view.authority
        mean = float(a[view.service & view.active].mean()) if view.service.any() else 0.0
        factor = max(0.0, 1.0 + self.params["capture_strength"] * (float(a[org]) - mean))
        return float(view.budget[org]) * factor
