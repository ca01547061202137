"""Power rules: how an organisation uses power.

A power rule is the policy by which an organisation decides which ties to seek, keep or
drop (within its relationship time), whom to refer to, how much data to share, whether to
demand escalation/approval for a handoff, and how it bids for and shares budget.

Every rule implements :class:`PowerRule`. The model asks each organisation's rule through a
read-only :class:`RuleView` of the system; rules never draw random numbers (the model does,
from its named streams), so a rule's decisions are a pure function of what it sees.

Rules are chosen by name from :data:`RULES` (``power_rule=domination``) or, for a rule
written outside carenet, by import path (``power_rule._target_=my_rules.Cautious`` or
``power_rule._target_=/path/to/rules.py:Cautious``).

``mixed`` and ``adaptive`` are not rules but *assignments*: they give each organisation
``domination`` or ``empowerment`` (at random or by kind); ``adaptive`` also lets
organisations imitate better-performing partners during the run (see the model's
learning stage).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


@dataclass
class RuleView:
    """What a rule may see of the system at one step (arrays indexed by organisation id).

    Attributes:
        kind: Kind name per organisation.
        active: Whether each organisation is still operating.
        service: Whether each organisation serves patients.
        branch: Branch per organisation (ancestor below the root); equal = same branch.
        locality: Home locality per organisation.
        local_weight: [org, org] referral weight: the locality bias where the second
            covers the first's home locality, else 1.
        capacity: Total service capacity per organisation (concurrent episodes).
        queue_ratio: Queue length over capacity, per organisation.
        expected_wait: Weeks a newly referred patient would wait in each organisation's
            queue (queue length over the episodes it finishes per week).
        budget: Annual budget per organisation (GBP).
        need: Annualised cost of the demand each organisation saw recently (GBP).
        authority: Formal power score in [0, 1] (position and budget).
        influence: Informal power score in [0, 1] (trust-weighted centrality).
        tie: [org, org] trust on each tie (0 = no tie).
        route_cost: [org, org] expected cost (GBP) of one handoff by the best open route.
        alt_cost: [org, org] expected cost of one handoff by the best route that is not a
            direct tie.
        new_tie_cost: [org, org] expected cost of one handoff over a new direct tie.
        flow: [org, org] recent handoffs per week between each pair (both directions).
        tie_cost: Cost (GBP/week) of keeping one tie, for one end.
        wait_cost: Cost (GBP) of one week of waiting, for scoring a queue.
        hierarchy: Whether hierarchy lines exist.
    """

    kind: np.ndarray
    active: np.ndarray
    service: np.ndarray
    branch: np.ndarray
    locality: np.ndarray
    local_weight: np.ndarray
    capacity: np.ndarray
    queue_ratio: np.ndarray
    expected_wait: np.ndarray
    budget: np.ndarray
    need: np.ndarray
    authority: np.ndarray
    influence: np.ndarray
    tie: np.ndarray
    route_cost: np.ndarray
    alt_cost: np.ndarray
    new_tie_cost: np.ndarray
    flow: np.ndarray
    tie_cost: float
    wait_cost: float
    hierarchy: bool


class PowerRule:
    """Interface of a power rule. Subclass it and override the decisions you change.

    The defaults describe a neutral organisation: it refers in proportion to capacity
    (locally), seeks no ties, shares data at level 0.5, never demands escalation, bids its
    current budget and does not pool.

    Class attributes:
        name: Readable name (used in outputs).
        classifier: Traits, Axelrod-style, e.g. ``{"shares_data": True}``.
    """

    name: ClassVar[str] = "neutral"
    classifier: ClassVar[dict[str, Any]] = {
        "seeks": "nothing",
        "shares_data": False,
        "pools_budget": False,
        "demands_escalation": False,
    }

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    # --- identity -------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Return what rebuilds this rule: its class path and parameters."""
        cls = type(self)
        return {"class": f"{cls.__module__}.{cls.__qualname__}", "params": dict(self.params)}

    @classmethod
    def rebuild(cls, description: dict[str, Any]) -> PowerRule:
        """Rebuild a rule from :meth:`describe`'s output."""
        return cls(**description["params"])

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params == other.params  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, repr(sorted(self.params.items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # --- decisions --------------------------------------------------------------------
    def data_sharing(self, org: int, view: RuleView) -> float:
        """Share of its records the organisation makes available, in [0, 1]."""
        return 0.5

    def referral_weights(self, org: int, view: RuleView) -> np.ndarray:
        """Relative weight of referring a patient to each organisation (any >= 0 array).

        The model keeps only organisations offering the needed service and normalises.
        """
        return view.capacity * view.local_weight[org]

    def demands_escalation(self, org: int, view: RuleView) -> np.ndarray:
        """Boolean array: handoffs to these organisations must go through the hierarchy."""
        return np.zeros(len(view.kind), dtype=bool)

    def tie_scores(self, org: int, view: RuleView) -> np.ndarray:
        """Value (GBP/week) of having a tie with each organisation; <= 0 means not worth it."""
        return np.zeros(len(view.kind))

    def budget_bid(self, org: int, view: RuleView) -> float:
        """Claim on next year's budget (GBP; allocation is proportional to bids)."""
        return float(view.budget[org])

    def pools_budget(self, org: int, view: RuleView) -> bool:
        """Whether the organisation joins a pooled budget when one is offered."""
        return False

    # --- vectorised forms (override for speed; results must match the per-org forms) ---
    def referral_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Rows of :meth:`referral_weights` for several organisations."""
        return np.array([self.referral_weights(int(o), view) for o in orgs], dtype=float)


class Domination(PowerRule):
    """Power as domination: seek control, keep patients in the branch, hoard information.

    - ties: seeks partners of high authority, more so inside its own branch (a tie's worth
      is the partner's authority, scaled to the tie's upkeep);
    - referral: in proportion to capacity, weighted ``branch_bias`` times towards its own
      branch (in-house first, always: the model keeps a step in-house when it can);
    - data: shares little (``sharing``, default 0.2);
    - escalation: demands hierarchy approval for referrals out of its branch
      (``escalate_out_of_branch``), where a hierarchy exists;
    - budget: bids its budget inflated by its authority above the mean
      (``capture_strength``): powerful organisations capture budget; never pools.

    Args:
        sharing: Data-sharing level.
        branch_bias: Weight on its own branch in referrals and ties.
        capture_strength: How strongly authority inflates the budget bid.
        escalate_out_of_branch: Demand approval for out-of-branch handoffs.
    """

    name = "domination"
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

    def demands_escalation(self, org: int, view: RuleView) -> np.ndarray:
        """Out-of-branch handoffs need approval through the hierarchy."""
        if not (view.hierarchy and self.params["escalate_out_of_branch"]):
            return np.zeros(len(view.kind), dtype=bool)
        return view.branch != view.branch[org]

    def tie_scores(self, org: int, view: RuleView) -> np.ndarray:
        """A tie is worth the partner's authority (x branch bias inside the branch)."""
        same = view.branch == view.branch[org]
        bias = np.where(same, self.params["branch_bias"], 1.0)
        return view.authority * bias * view.tie_cost

    def budget_bid(self, org: int, view: RuleView) -> float:
        """Budget inflated by authority above the mean: the powerful capture budget."""
        a = view.authority
        mean = float(a[view.service & view.active].mean()) if view.service.any() else 0.0
        factor = max(0.0, 1.0 + self.params["capture_strength"] * (float(a[org]) - mean))
        return float(view.budget[org]) * factor


class Empowerment(PowerRule):
    """Power as empowerment: seek value, refer for outcome, share data, pool budget.

    - ties: a tie is worth the handoffs that flow between the pair times the expected
      saving of a direct tie over the best other route, less its upkeep, plus
      ``influence_preference`` x the partner's influence x the upkeep (well-connected,
      trusted partners are worth tying to: influence accrues to hubs by connectivity);
    - referral: softmax over expected outcome: the route's expected cost (failure, delay,
      admin) plus the cost of the weeks a patient would wait in the receiver's queue
      (``choice_sharpness``);
    - data: shares much (``sharing``, default 0.8);
    - escalation: never demands it;
    - budget: bids its need (recent demand at cost) and pools when a pool is offered.

    Args:
        sharing: Data-sharing level.
        choice_sharpness: Softmax sharpness of referral by expected outcome.
        influence_preference: Weight on a partner's influence when tying.
    """

    name = "empowerment"
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
        cost = view.route_cost[orgs] + view.expected_wait[None, :] * view.wait_cost
        scale = max(float(np.median(view.route_cost[view.service][:, view.service])), 1.0)
        z = -self.params["choice_sharpness"] * cost / scale
        z -= z.max(axis=1, keepdims=True)
        local = view.local_weight[orgs]
        return np.exp(z) * view.capacity[None, :] * local

    def referral_weights(self, org: int, view: RuleView) -> np.ndarray:
        """See :meth:`referral_matrix`."""
        return self.referral_matrix(np.array([org]), view)[0]

    def tie_scores(self, org: int, view: RuleView) -> np.ndarray:
        """Expected weekly saving from the tie, less its upkeep, plus hub attraction."""
        has = view.tie[org] > 0
        direct = np.where(has, view.route_cost[org], view.new_tie_cost[org])
        saving = np.maximum(0.0, view.alt_cost[org] - direct)
        return (
            view.flow[org] * saving
            - 2.0 * view.tie_cost
            + self.params["influence_preference"] * view.influence * view.tie_cost
        )

    def budget_bid(self, org: int, view: RuleView) -> float:
        """Bids its need, not its power."""
        return float(view.need[org])

    def pools_budget(self, org: int, view: RuleView) -> bool:
        """Joins a pooled budget."""
        return True


RULES: dict[str, type[PowerRule] | None] = {
    "domination": Domination,
    "empowerment": Empowerment,
    "mixed": None,
    "adaptive": None,
}
"""Registered names. ``mixed`` and ``adaptive`` assign domination/empowerment per org."""


def load_target(target: str) -> type[PowerRule]:
    """Import a user-written rule class from ``pkg.module.Class`` or ``file.py:Class``.

    Raises:
        ValueError: With a one-line reason if it cannot be loaded or is not a PowerRule.
    """
    if ":" in target:
        path_s, cls_name = target.rsplit(":", 1)
        path = Path(path_s).expanduser()
        if not path.is_file():
            raise ValueError(f"power_rule._target_: file {str(path)!r} does not exist")
        # A stable module name (same in every process, new if the file changes), loaded
        # once per process, so rules pickle and compare equal across loads and workers.
        digest = hashlib.sha1(str(path.resolve()).encode() + b"\0" + path.read_bytes())
        mod_name = f"carenet_user_rule_{digest.hexdigest()[:16]}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise ValueError(f"power_rule._target_: cannot import {str(path)!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise ValueError(
                    f"power_rule._target_: importing {str(path)!r} failed: {exc}"
                ) from None
    else:
        if "." not in target:
            raise ValueError(
                f"power_rule._target_: {target!r} is not 'package.module.Class' or 'file.py:Class'"
            )
        mod_s, cls_name = target.rsplit(".", 1)
        try:
            module = importlib.import_module(mod_s)
        except Exception as exc:
            raise ValueError(f"power_rule._target_: cannot import {mod_s!r}: {exc}") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, PowerRule)):
        raise ValueError(
            f"power_rule._target_: {target!r} is not a subclass of carenet.models.power.PowerRule"
        )
    return cls
