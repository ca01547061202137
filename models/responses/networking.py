"""Components of the network response.

Shared records, relationship time, pooled budget and hub funding.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Component


class SharedRecords(Component):
    """Interoperable shared records: an investment, running costs, and a go-live.

    From go-live, records are shared on every route between organisations that share
    data, and each organisation's data-sharing level rises by ``sharing_boost``.
    """

    name = "shared_records"
    params = (
        "shared_records_investment_gbp",
        "shared_records_running_gbp",
        "shared_records_golive_weeks",
        "sharing_boost",
    )

    def governance(self, m: Any, t: int, rec: dict[str, float]) -> None:
        """Invest when the warm-up ends, pay running costs each week, go live on schedule.

        The investment and its go-live count from the end of the warm-up
        (``warmup_weeks``), the first week the totals count: the evaluation bears the
        up-front cost and the lead time of the records it gets the benefit of (charged in
        week 0 of a warm-up, the investment would fall outside every total).
        """
        r = self.p
        start = int(getattr(m, "warmup_weeks", 0))
        n_serv = int((m.service & m.active).sum())
        gbp = m.ledger.response_gbp  # at costs.price_year prices
        if t == start:
            m.ledger.charge("connection", gbp["shared_records_investment_gbp"] * n_serv)
        m.ledger.charge("connection", gbp["shared_records_running_gbp"] * n_serv)
        m.shared_live = t >= start + r.shared_records_golive_weeks

    def sharing_boost(self, m: Any) -> float:
        """The boost to data sharing, once live."""
        return self.p.sharing_boost if m.shared_live else 0.0


class RelationshipTime(Component):
    """Extra relationship time funded per organisation: more ties can be kept."""

    name = "relationship_time"
    params = ("extra_relationship_hours",)

    def extra_relationship_hours(self) -> float:
        """The funded hours."""
        return self.p.extra_relationship_hours


class PooledBudget(Component):
    """A pooled budget across funding streams (section 75 / Better Care Fund style).

    At the annual round, the organisations whose rule pools put their budgets in one pot,
    which is shared by need across every kind and funding stream; outside a pool, money
    moves between streams only beyond ``organisations.budget_ring_fence`` (see
    :meth:`~carenet.models.stages.governance.Governance.allocate_budget`). The pot changes
    by ``shared_savings_share`` of the year's change in failure cost on the year before,
    both ways: savings are returned, a rise is clawed back.
    """

    name = "pooled_budget"
    params = ("shared_savings_share",)


class HubFunding(Component):
    """The most influential organisations get extra brokerage capacity, at a cost."""

    name = "hub_funding"
    params = ("hub_count", "hub_extra_brokerage", "hub_funding_gbp")

    def governance(self, m: Any, t: int, rec: dict[str, float]) -> None:
        """Choose the hubs every tie round; pay for each funded hub weekly."""
        if t % m.cfg.structure.tie_update_weeks == 0:
            self.fund(m)
        hub = m.ledger.response_gbp["hub_funding_gbp"]  # at costs.price_year prices
        m.ledger.charge("connection", hub * int((m.hub_bonus > 0).sum()))

    def fund(self, m: Any) -> None:
        """Give the ``hub_count`` most influential organisations extra brokerage."""
        r = self.p
        m.hub_bonus[:] = 0.0
        ids = m.service_ids[m.active[m.service_ids]]
        top = ids[np.lexsort((ids, -m.influence[ids]))][: r.hub_count]
        top = top[m.influence[top] > 0]
        m.hub_bonus[top] = r.hub_extra_brokerage
