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

    @property
    def rule(self) -> PowerRule:
        """Its power rule.

        Setting one counts in :attr:`rule_changes`, which the model's rule groups are
        kept by.
        """
        return self._rule

    @rule.setter
    def rule(self, value: PowerRule) -> None:
        self._rule = value
        Organisation.rule_changes += 1

    rule_changes: int = 0
    """Rule assignments so far, in this process (any organisation, any model)."""

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
        remains (:func:`tie_decisions`, for this organisation alone).

        Returns:
            (drop, seek): organisation ids, ascending.
        """
        m = self.model
        i = self.idx
        scores = ask_array(self.rule, "tie_scores", i, view, m.week, (m.n,), kind="scores", org=i)
        ids = np.array([i])
        drop, seek = tie_decisions(
            m.trust[ids] > 0, scores[None, :], m.service & m.active, ids, [tie_budget], max_new
        )
        return [int(j) for j in np.flatnonzero(drop[0])], [int(j) for j in np.flatnonzero(seek[0])]


def tie_decisions(
    tie: np.ndarray,
    scores: np.ndarray,
    eligible: np.ndarray,
    ids: np.ndarray,
    budget: np.ndarray,
    max_new: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each organisation's ties to drop and to seek this round, all at once.

    Organisation ``ids[r]`` ranks its current ties by its score, best first (equal
    scores by partner id), keeps the first ``budget[r]`` of those scoring above 0 and
    drops the rest; then, with ``s`` ties to spare, seeks the ``min(s, max_new)``
    best-scoring eligible partners it has no tie with and scores above 0 (equal scores
    by partner id). Each row is decided on its own: the result does not depend on the
    order of ``ids``.

    Args:
        tie: [k, n] whether each organisation has a tie with each other one.
        scores: [k, n] each organisation's tie scores.
        eligible: [n] partners that may be sought (active service organisations).
        ids: [k] the deciding organisations (never their own partner).
        budget: [k] ties each can keep.
        max_new: Most new ties an organisation seeks in one round.

    Returns:
        (drop, seek): [k, n] boolean matrices.
    """
    k, n = scores.shape
    budget = np.asarray(budget, dtype=np.int64)
    drop = np.zeros((k, n), dtype=bool)
    seek = np.zeros((k, n), dtype=bool)
    r, c = np.nonzero(tie)
    order = np.lexsort((c, -scores[r, c], r))
    r, c = r[order], c[order]
    rank = np.arange(r.size) - np.searchsorted(r, r)  # position within its row
    keep = (scores[r, c] > 0) & (rank < budget[r])
    drop[r[~keep], c[~keep]] = True
    spare = budget - np.bincount(r[keep], minlength=k)
    want = np.minimum(spare, max_new)
    seekers = np.flatnonzero(want > 0)
    if seekers.size == 0:
        return drop, seek
    # The best candidates one at a time (argmax: the highest score, the lowest id among
    # equal ones), want[r] <= max_new rounds: no sort of every candidate pair.
    cand = (~tie[seekers]) & (scores[seekers] > 0) & eligible[None, :]
    cand[np.arange(seekers.size), ids[seekers]] = False
    sc = np.where(cand, scores[seekers], -np.inf)
    at = np.arange(seekers.size)
    for j in range(int(want[seekers].max())):
        best = np.argmax(sc, axis=1)
        ok = (sc[at, best] > -np.inf) & (want[seekers] > j)
        seek[seekers[ok], best[ok]] = True
        sc[at, best] = -np.inf
    return drop, seek
