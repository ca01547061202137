"""Organisations: the Mesa agents of carenet.

An organisation's state lives in the model's arrays (indexed by ``org.idx``) so that the
patient flow can be computed in bulk; the agent is the named, inspectable face of that
state and the holder of its power rule. Its decisions are few and rich and run in
Python: which ties to seek and drop (``decide_ties``); under the adaptive rule the model
decides imitation for it (``CareSystemModel._imitation_round``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .mesa_core import mesa
from .power import PowerRule, ask_array

if TYPE_CHECKING:  # pragma: no cover
    from .model import CareSystemModel


class Organisation(mesa.Agent):
    """A health or care organisation.

    Args:
        model: The model it belongs to.
        idx: Its index in the model's organisation arrays.
        kind: Its kind (gp, acute, community, mental_health, social_care, vcse, or a
            bureaucratic body).
        rule: Its power rule.
    """

    model: CareSystemModel

    def __init__(self, model: CareSystemModel, idx: int, kind: str, rule: PowerRule) -> None:
        super().__init__(model)
        self.idx = idx
        self.kind = kind
        self.rule = rule

    # --- state, read from the model's arrays --------------------------------------------
    @property
    def locality(self) -> int:
        """Home locality (-1 for system-wide bodies)."""
        return int(self.model.org_locality[self.idx])

    @property
    def capacity(self) -> float:
        """Concurrent episodes it can serve, over its service lines."""
        return float(self.model.cap[self.idx].sum())

    @property
    def budget(self) -> float:
        """Annual budget (GBP)."""
        return float(self.model.budget[self.idx])

    @property
    def authority(self) -> float:
        """Formal power: from position in the hierarchy and budget, in [0, 1]."""
        return float(self.model.authority[self.idx])

    @property
    def influence(self) -> float:
        """Informal power: from its place in the network, in [0, 1]."""
        return float(self.model.influence[self.idx])

    @property
    def data_sharing(self) -> float:
        """Data-sharing level in [0, 1]."""
        return float(self.model.sharing[self.idx])

    @property
    def active(self) -> bool:
        """Whether it still operates (False after failure)."""
        return bool(self.model.active[self.idx])

    @property
    def degree(self) -> int:
        """Number of peer ties."""
        return int((self.model.trust[self.idx] > 0).sum())

    def __repr__(self) -> str:
        return f"Organisation({self.idx}, {self.kind!r}, rule={self.rule.name!r})"

    # --- decisions ------------------------------------------------------------------------
    def decide_ties(self, view, tie_budget: int, max_new: int) -> tuple[list[int], list[int]]:
        """Choose ties to drop and to seek this round, by its rule's tie scores.

        Keeps at most ``tie_budget`` ties (its relationship time over a tie's upkeep),
        dropping the lowest-scoring beyond that and any whose score is not positive; then
        seeks up to ``max_new`` of the best-scoring partners it has no tie with, while time
        remains.

        Returns:
            (drop, seek): organisation ids, in order of decision.
        """
        m = self.model
        i = self.idx
        scores = ask_array(self.rule, "tie_scores", i, view, m.week, (m.n,), kind="scores", org=i)
        eligible = m.service & m.active
        eligible[i] = False
        current = np.flatnonzero(m.trust[i] > 0)
        # Stable sort on -score then id: reproducible whatever the ties' order.
        keep_order = current[np.lexsort((current, -scores[current]))]
        drop = [int(j) for j in keep_order if scores[j] <= 0]
        kept = [int(j) for j in keep_order if scores[j] > 0]
        if len(kept) > tie_budget:
            drop += kept[tie_budget:]
            kept = kept[:tie_budget]
        seek: list[int] = []
        spare = tie_budget - len(kept)
        if spare > 0 and max_new > 0:
            cand = np.flatnonzero(eligible & (m.trust[i] <= 0) & (scores > 0))
            cand = cand[np.lexsort((cand, -scores[cand]))]
            seek = [int(j) for j in cand[: min(spare, max_new)]]
        return drop, seek
