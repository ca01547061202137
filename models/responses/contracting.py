"""Components of the bureaucratic response: contracts, partnership boards, inspections."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Component


class Contracts(Component):
    """Cross-organisation work needs a contract first.

    A pair without a contract in force signs one (setup cost, lead time before it is in
    force); an expired one is renewed; monitoring costs a share of the care value that
    flows under it; failure chance under a contract is multiplied (agreed protocol).
    """

    name = "contracts"
    params = (
        "contract_setup_gbp",
        "contract_lead_time_weeks",
        "contract_duration_weeks",
        "contract_renewal_gbp",
        "monitoring_share",
        "contract_fail_multiplier",
    )

    @staticmethod
    def working_pairs(m: Any) -> np.ndarray:
        """[org, org] True where one used pathway step hands on across the pair (symmetric).

        ``i`` has capacity on a step's line and ``j`` on the next step's line, in a pathway
        some stratum uses; an organisation is never paired with itself.
        """
        used = m.pw_prob.sum(axis=0) > 0
        steps = {
            (int(m.step_line[p, k]), int(m.step_line[p, k + 1]))
            for p in range(m.npw)
            if used[p]
            for k in range(int(m.pw_len[p]) - 1)
        }
        has = m.cap > 0
        pairs = np.zeros((m.n, m.n), dtype=bool)
        for a, b in sorted(steps):
            pairs |= has[:, a][:, None] & has[:, b][None, :]
        pairs |= pairs.T
        np.fill_diagonal(pairs, False)
        return pairs

    def start(self, m: Any) -> None:
        """Contracts in force at week 0 between the pairs that already work together.

        The status quo under a bureaucratic response is a system already under contract,
        not one that signs every contract in its first weeks. A pair works together when
        one pathway step leads to the next across it: the first organisation has capacity
        on a line, the second on the line a used pathway (weight above 0) goes to next.
        These are the pairs the handoffs stage can refer between; in the small economy all
        of them have signed within 15 weeks of an empty start (docs/warmup.md). Their
        setup was paid before the run, so none is charged; each expires at a week drawn
        uniformly from 1 to ``contract_duration_weeks`` (the ``contracts`` stream), so
        renewals, charged as they fall due, are staggered rather than all in one week.

        Args:
            m: The model being built (capacity and pathway tables set).
        """
        linked = self.working_pairs(m)
        a, b = np.nonzero(np.triu(linked, 1))
        if a.size == 0:
            return
        rng = m.streams.get("contracts")
        expiry = rng.integers(1, self.p.contract_duration_weeks + 1, size=a.size).astype(float)
        m.contract_ready[a, b] = m.contract_ready[b, a] = 0.0
        m.contract_expiry[a, b] = m.contract_expiry[b, a] = expiry

    def handoff(
        self, m: Any, ho: Any, t: int, p: np.ndarray, d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Wait for the pair's contract; failure chance times the contract multiplier."""
        extra = self.ensure(m, ho.o, ho.tgt, ho.pw, ho.stage, t)
        d = np.maximum(d, extra)
        p *= self.p.contract_fail_multiplier
        return p, d

    def ensure(
        self, m: Any, o: np.ndarray, tgt: np.ndarray, pw: np.ndarray, stage: np.ndarray, t: int
    ) -> np.ndarray:
        """Ensure a contract for each pair; return the weeks each handoff must wait."""
        r = self.p
        rec = m.ledger.rec
        a, b = np.minimum(o, tgt), np.maximum(o, tgt)
        pairs = np.unique(a * m.n + b)
        pa, pb = pairs // m.n, pairs % m.n
        new = ~np.isfinite(m.contract_ready[pa, pb])
        expired = ~new & (m.contract_expiry[pa, pb] <= t)
        gbp = m.ledger.response_gbp  # at costs.price_year prices
        for sel, cost in ((new, gbp["contract_setup_gbp"]), (expired, gbp["contract_renewal_gbp"])):
            if sel.any():
                m.ledger.charge("transaction", cost * float(sel.sum()))
                rec["contracts_signed"] += float(sel.sum())
        ready = np.where(new, t + r.contract_lead_time_weeks, m.contract_ready[pa, pb])
        expiry = np.where(
            new | expired,
            np.maximum(ready, t) + r.contract_duration_weeks,
            m.contract_expiry[pa, pb],
        )
        m.contract_ready[pa, pb] = m.contract_ready[pb, pa] = ready
        m.contract_expiry[pa, pb] = m.contract_expiry[pb, pa] = expiry
        # Monitoring: a share of the care value flowing under the contract.
        value = m.step_cost[pw, stage] * m.step_weeks[pw, stage]
        m.ledger.charge("transaction", r.monitoring_share * float(value.sum()))
        return np.maximum(0.0, m.contract_ready[a, b] - t)


class Boards(Component):
    """Partnership boards: the organisations that attend come to know one another.

    Every ``board_interval_weeks`` a board meets, attended by one representative of each
    of the ``board_attendees`` largest active service organisations (by budget; ties by
    id): the providers, councils and practices that sit on a partnership board. The
    attendees' time is the board's cost. A board acts where it meets, among its
    attendees: a tie between two of them closes ``board_trust_boost`` of its gap to full
    trust; two that hand patients to each other but have no tie form a weak one, at
    trust ``board_tie_trust``, while both have relationship time for it (meeting gives a
    named contact for the handoffs they already make). Ties with organisations that do
    not attend are untouched.
    """

    name = "boards"
    params = (
        "board_interval_weeks",
        "board_attendees",
        "board_hours",
        "board_trust_boost",
        "board_tie_trust",
    )

    def governance(self, m: Any, t: int, rec: dict[str, float]) -> None:
        """A board every ``board_interval_weeks``: its hours cost; attendees' trust rises."""
        r = self.p
        if t % r.board_interval_weeks != 0:
            return
        m.ledger.charge("transaction", r.board_attendees * r.board_hours * m.ledger.hour_gbp)
        at = self.attendees(m)
        if at.size < 2:
            return
        sub = np.ix_(at, at)
        T = m.trust[sub]
        has = T > 0
        T[has] += r.board_trust_boost * (1.0 - T[has])
        m.trust[sub] = T
        if r.board_tie_trust > 0:
            rec["ties_formed"] += self.acquaint(m, at)

    def attendees(self, m: Any) -> np.ndarray:
        """The ``board_attendees`` largest active service organisations, by budget."""
        ids = m.service_ids[m.active[m.service_ids]]
        order = ids[np.lexsort((ids, -m.budget[ids]))]
        return np.sort(order[: self.p.board_attendees])

    def acquaint(self, m: Any, at: np.ndarray) -> int:
        """Weak ties between attendees that work together; return how many formed."""
        from carenet.models.stages.learning import tie_budget

        room = tie_budget(m) - (m.trust > 0).sum(axis=1)
        fl = m.flow[np.ix_(at, at)]
        a, b = np.nonzero(np.triu((fl > 0) & (m.trust[np.ix_(at, at)] <= 0), 1))
        order = np.lexsort((b, a, -fl[a, b]))  # most flow first, then by id
        formed = 0
        for i, j in zip(at[a[order]], at[b[order]], strict=True):
            if room[i] > 0 and room[j] > 0:
                m.trust[i, j] = m.trust[j, i] = self.p.board_tie_trust
                room[i] -= 1
                room[j] -= 1
                formed += 1
        return formed


class Inspections(Component):
    """The regulator inspects each provider on a staggered schedule.

    Just after an inspection, the provider's handoff failure falls by
    ``inspection_effect``, halving every ``inspection_half_life_weeks``.
    """

    name = "inspections"
    params = (
        "inspection_interval_weeks",
        "inspection_cost_gbp",
        "inspection_effect",
        "inspection_half_life_weeks",
    )

    def governance(self, m: Any, t: int, rec: dict[str, float]) -> None:
        """Inspect the providers due this week, at a cost each."""
        r = self.p
        ids = np.flatnonzero(m.service & m.active)
        due = ids[(t + ids * 7919) % r.inspection_interval_weeks == 0]
        m.inspected_at[due] = t
        m.ledger.charge("transaction", m.ledger.response_gbp["inspection_cost_gbp"] * due.size)
        rec["inspections"] += due.size

    def handoff(
        self, m: Any, ho: Any, t: int, p: np.ndarray, d: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Recently inspected referrers fail less."""
        r = self.p
        since = t - m.inspected_at[ho.o]
        p *= 1.0 - r.inspection_effect * np.power(0.5, since / r.inspection_half_life_weeks)
        return p, d
