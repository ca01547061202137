"""Stage 9, record."""

from __future__ import annotations

from typing import Any

import numpy as np

from carenet.models.metrics import network_metrics, tie_structure
from carenet.models.rules import Domination, Empowerment

from .base import Stage


class Record(Stage):
    """The record stage (see :attr:`summary`)."""

    name = "record"
    summary = (
        "the week's metrics are appended to :attr:`records`, flagged ``warmup`` (1) in the "
        "first ``warmup_weeks``; at the end of the warm-up the run's totals restart from zero."
    )

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Tie upkeep, the week's totals and means, network and power metrics."""
        m = self.m
        rec["episodes_in_progress"] = float(len(m.episodes))
        m.ledger.charge("connection", float(np.triu(m.trust > 0, 1).sum()) * 2 * m.ledger.tie_cost)
        m.ledger.close(rec)
        self._means(rec)
        ids = m.service_ids[m.active[m.service_ids]]
        adj = m.trust[np.ix_(ids, ids)] > 0
        ties = self._ties(ids, adj)
        net = network_metrics(
            adj,
            m.budget[ids],
            m.depth[ids],
            m.authority[ids],
            m.influence[ids],
            ties,
            memo=self.__dict__.setdefault("_corr_memo", {}),
        )
        rec.update(net)
        has = m.trust > 0
        rec["mean_trust"] = float(m.trust[has].mean()) if has.any() else float("nan")
        rec["mean_data_sharing"] = float(m.sharing[ids].mean())
        rec["share_empowerment"], rec["share_domination"] = _rule_shares(m, ids.size)
        rec["active_orgs"] = float(ids.size)
        rec["transaction_cost_share"] = (
            rec["cost_transaction"] / rec["cost_total"] if rec["cost_total"] else 0.0
        )
        rec["demand_multiplier"] = m.demand_mult
        rec["data_outage"] = float(m.outage)
        rec["warmup"] = float(t < m.warmup_weeks)
        m.records.append(rec)
        if t + 1 == m.warmup_weeks:
            restart_totals(m.ledger.totals)

    def _ties(self, ids: np.ndarray, adj: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
        """The tie graph's metrics, recomputed only in a week whose ties changed.

        Kept with the exact organisations and adjacency they were computed from (the
        ties change at tie rounds, dissolutions and failures, not every week).
        """
        key = (ids.tobytes(), np.packbits(adj).tobytes())
        cached = getattr(self, "_tie_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, tie_structure(adj))
            self._tie_cache = cached
        return cached[1]

    def _means(self, rec: dict[str, float]) -> None:
        """Turn the week's accumulators into means; add them to the run's totals."""
        ended = rec.pop("_ended")
        exp_sum = rec.pop("_exp_sum")
        rec["experience"] = exp_sum / ended if ended else float("nan")
        wait_sum = rec.pop("_wait_sum")
        rec["mean_wait_weeks"] = wait_sum / ended if ended else float("nan")
        cont = rec.pop("_continuity")
        shared = rec.pop("_shared")
        rec["continuity_index"] = cont / rec["handoffs"] if rec["handoffs"] else float("nan")
        rec["shared_records_share"] = shared / rec["handoffs"] if rec["handoffs"] else float("nan")
        tt = self.m.ledger.totals
        tt["ended"] += ended
        tt["ended_wait"] += wait_sum
        tt["exp_sum"] += exp_sum
        tt["on_time"] += rec["completed_on_time"]
        tt["continuity"] += cont
        tt["handoffs"] += rec["handoffs"]


def _rule_shares(m: Any, n_active: int) -> tuple[float, float]:
    """Shares of the active service organisations whose rule is empowerment, domination.

    Counted over the model's cached rule groups (one ``isinstance`` per rule, not two
    per organisation every week): the same counts, so the same shares as the mean of a
    flag per organisation.
    """
    if n_active == 0:
        return float("nan"), float("nan")
    counts = {Empowerment: 0, Domination: 0}
    for rule, ids in m.rule_groups():
        for kind in counts:
            if isinstance(rule, kind):
                counts[kind] += int(m.active[ids].sum())
    return counts[Empowerment] / n_active, counts[Domination] / n_active


def restart_totals(totals: dict[str, Any]) -> None:
    """Zero the run's totals in place, so that the summary counts only the weeks after.

    Called once, after the last warm-up week's record: the summary's means and per-stratum
    shares (:func:`carenet.models.outputs.summary`) then cover the same weeks as its sums.

    Args:
        totals: The ledger's run totals (:attr:`carenet.models.ledger.Ledger.totals`).
    """
    for key, value in totals.items():
        totals[key] = np.zeros_like(value) if isinstance(value, np.ndarray) else type(value)(0)
