"""Stage 7, handoffs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from carenet.models.arrays import add_at_2d, argsort_stable, distinct_small, run_ranks, take_2d
from carenet.models.routes import (
    BROKER,
    COLD,
    DIRECT,
    ESCALATION,
    ROUTES,
    approval_capacity,
    approvers,
    referral_matrix,
    route_tables,
)
from carenet.models.state import QUEUED, REFER, TRANSIT

from .base import Stage
from .service import end_failed


class Handoffs(Stage):
    """The handoffs stage (see :attr:`summary`)."""

    name = "handoffs"
    summary = (
        "referral target chosen by the referrer's power rule; the cheapest open route (direct "
        "tie, broker, hierarchy escalation, cold; a contract first under a bureaucratic "
        "response); escalations beyond their approving body's weekly capacity queue for "
        "it; failure, delay and repeated assessment drawn per episode from the "
        "``handoff`` stream; failure consequences drawn from the ``health`` stream."
    )

    def __init__(self, model: object) -> None:
        super().__init__(model)
        model.approval_backlog = np.zeros(model.n)

    def run(self, t: int, rec: dict[str, float]) -> None:
        """Hand every episode awaiting referral on, or end it as failed."""
        m = self.m
        ep = m.episodes
        h_idx = np.flatnonzero(ep.state == REFER)
        m.routes = route_tables(m)
        if h_idx.size == 0:
            self._finish()
            return
        o = ep.org[h_idx].astype(np.int64)
        line = take_2d(m.step_line, ep.pw[h_idx], ep.stage[h_idx]).astype(np.int64)
        tgt = self.targets(o, line, ep.pid[h_idx])
        rt, brk = self.routes(o, tgt)
        ho = SimpleNamespace(idx=h_idx, o=o, tgt=tgt, pw=ep.pw[h_idx], stage=ep.stage[h_idx])
        p, d, adm, shared = m.routes.lookup(rt, o, tgt)
        p, d = m.response.handoff(m, ho, t, p, d)
        d = d + self.approval_delay(o, tgt, rt)
        cfgh = m.cfg.handoff
        p += cfgh.overload_fail_slope * take_2d(m.queue_line, tgt, line)
        p = np.clip(p, 0.0, 1.0)
        u = m.streams.get("handoff").random((h_idx.size, 3))
        fail = u[:, 0] < p
        weeks = np.floor(d) + (u[:, 1] < (d - np.floor(d)))
        repeat = ~shared & (u[:, 2] < cfgh.repeat_assessment_prob) & ~fail
        self._charge(h_idx, adm, repeat, rec)
        self._count(h_idx, rt, fail, shared, rec)
        # Learning signals: trust on the ties used; flow between the pair; performance.
        trust_signal(m, o, tgt, rt, brk, fail)
        np.add.at(m.perf_sent, o, 1.0)
        np.add.at(m.perf_fail, o, fail.astype(float))
        add_at_2d(m.flow_step, o, tgt, 1.0)
        # Outcomes.
        # Masks select by ``compress``: a boolean index was 2-3 times slower here.
        end_failed(m, h_idx.compress(fail), rec)
        good = ~fail
        ok = h_idx.compress(good)
        okw = weeks.compress(good).astype(np.int16)
        to = tgt.compress(good)
        src_acute, dst_leaves = m.ledger.prices.acute_ends(m)
        ep.from_acute[ok] = src_acute[ep.org[ok]] & dst_leaves[to]
        ep.org[ok] = to
        ep.timer[ok] = okw
        ep.state[ok] = np.where(okw > 0, TRANSIT, QUEUED)
        ep.arrival[ok] = t + 1
        self._finish()

    def targets(self, o: np.ndarray, line: np.ndarray, pid: np.ndarray) -> np.ndarray:
        """Receiver of each handoff: the patient's GP, or drawn by the referrer's rule."""
        m = self.m
        tgt = np.empty(o.size, dtype=np.int64)
        gp_line = m.line_is_gp[line]
        to_gp = np.flatnonzero(gp_line)
        tgt[to_gp] = m.pop.gp[pid.take(to_gp)]
        other = np.flatnonzero(~gp_line)
        R = referral_matrix(m)
        u_ref = m.streams.get("referral").random(o.size)
        line_other = line.take(other)
        for ln in distinct_small(line_other):
            sel = other.compress(line_other == ln)
            cands = np.flatnonzero(m.offers[:, ln] & m.active)
            # One cumulative row per referrer (not per handoff): many handoffs share one.
            src, inv = _unique_ids(o[sel], m.n)
            w = R[np.ix_(src, cands)] * (m.cap[cands, ln] > 0)[None, :]
            rows = w.sum(axis=1, keepdims=True)
            fallback = np.broadcast_to(m.cap[cands, ln] + 1e-12, w.shape)
            w = np.where(rows > 0, w, fallback)
            cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
            cum[:, -1] = 1.0
            pick = _count_at_or_below(cum, inv, u_ref[sel])
            tgt[sel] = cands[np.minimum(pick, cands.size - 1)]
        return tgt

    def routes(self, o: np.ndarray, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Route and broker of each handoff; beyond a broker's capacity, the next best."""
        m = self.m
        rts = m.routes
        rt = take_2d(rts.route, o, tgt)
        # A failed referrer has no ties or lines left: its patients go cold.
        rt[~m.active[o]] = COLD
        brk = take_2d(rts.broker, o, tgt)
        use_b = np.flatnonzero(rt == BROKER)
        if use_b.size:
            avail = m.broker_base + m.hub_bonus
            kb = brk[use_b]
            order = use_b[argsort_stable(kb)]  # by broker, then in episode order
            kk = brk[order]
            rank = run_ranks(kk)
            over = order[rank >= np.floor(avail[kk])]
            rt[over] = take_2d(rts.fallback, o[over], tgt[over])
        return rt, brk

    def approval_delay(self, o: np.ndarray, tgt: np.ndarray, rt: np.ndarray) -> np.ndarray:
        """Extra weeks each escalated handoff waits for its approving body's capacity.

        Each body (the pair's lowest common superior) approves
        :func:`~carenet.models.routes.approval_capacity` handoffs a week, first come
        first served (this week's in episode order, after the backlog carried over):
        the k-th approval waits floor((backlog + k) / capacity) weeks in transit, and
        the backlog left is what exceeded the week's capacity.
        """
        m = self.m
        extra = np.zeros(o.size)
        esc = np.flatnonzero(rt == ESCALATION)
        if not m.hierarchy:
            return extra
        if esc.size == 0:
            m.approval_backlog = np.maximum(m.approval_backlog - approval_capacity(m), 0.0)
            m.ledger.rec["approval_backlog"] = float(m.approval_backlog.sum())
            return extra
        cap = approval_capacity(m)
        lca = approvers(m)
        body = take_2d(lca, o[esc], tgt[esc])
        order = esc[argsort_stable(body)]
        bo = take_2d(lca, o[order], tgt[order])
        rank = run_ranks(bo)
        c = np.maximum(cap[bo], 1e-9)
        extra[order] = np.floor((m.approval_backlog[bo] + rank) / c)
        arrivals = np.bincount(body, minlength=m.n).astype(float)
        m.approval_backlog = np.maximum(m.approval_backlog + arrivals - cap, 0.0)
        m.ledger.rec["approval_backlog"] = float(m.approval_backlog.sum())
        return extra

    def _charge(
        self, h_idx: np.ndarray, adm: np.ndarray, repeat: np.ndarray, rec: dict[str, float]
    ) -> None:
        """Charge the handoffs' admin time and repeated assessments (records not shared)."""
        m = self.m
        ep = m.episodes
        pr = m.ledger.prices
        m.ledger.charge("transaction", float(pr.admin(adm.sum())))
        if repeat.any():
            ri = h_idx.compress(repeat)
            m.ledger.charge("failure", float(pr.repeat(m.step_cost[ep.pw[ri], ep.stage[ri]]).sum()))
            ep.exp[ri] -= m.cfg.health.experience_repeat_penalty
            rec["repeated_assessments"] += float(repeat.sum())

    def _count(
        self,
        h_idx: np.ndarray,
        rt: np.ndarray,
        fail: np.ndarray,
        shared: np.ndarray,
        rec: dict[str, float],
    ) -> None:
        rec["handoffs"] += h_idx.size
        rec["handoffs_failed"] += float(fail.sum())
        for k, name in enumerate(ROUTES):
            rec[f"handoffs_{name}"] += float((rt == k).sum())
        cont = np.where(rt == DIRECT, np.where(shared, 1.0, 0.5), np.where(rt == BROKER, 0.25, 0.0))
        rec["_continuity"] += float(cont.sum())
        rec["_shared"] += float(shared.sum())

    def _finish(self) -> None:
        ep = self.m.episodes
        ended = ep.state < 0
        if ended.any():
            ep.keep(~ended)


def trust_signal(m: object, o, tgt, rt, brk, fail) -> None:  # noqa: ANN001
    """Count successes and failures on the ties each handoff used (learning's input)."""
    succ = (~fail).astype(float)
    bad = fail.astype(float)
    d = rt == DIRECT
    b = rt == BROKER
    for a_, c_, mk in ((o, tgt, d), (o, brk, b), (brk, tgt, b)):
        if mk.any():
            at = np.flatnonzero(mk)
            a_at, c_at = a_.take(at), c_.take(at)
            add_at_2d(m.tie_succ, a_at, c_at, succ.take(at))
            add_at_2d(m.tie_fail, a_at, c_at, bad.take(at))


def _unique_ids(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ids, return_inverse=True)`` for ids in [0, n), by counting, not sorting."""
    present = np.bincount(ids, minlength=n) > 0
    where = np.cumsum(present) - 1
    return np.flatnonzero(present), where[ids]


def _count_at_or_below(cum: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each i, how many entries of ``cum[rows[i]]`` are at or below ``u[i]``.

    ``(u[:, None] >= cum[rows]).sum(axis=1)`` by a binary search per element (about
    log2 of the row length steps, no [elements, row] temporary). Exact where, along each
    row, the entries at or below ``u[i]`` come first: non-decreasing cumulative shares,
    and a last entry set to 1 above a ``u`` below 1.
    """
    c = cum.shape[1]
    pos = np.zeros(u.size, dtype=np.int64)
    step = 1 << (c.bit_length() - 1) if c else 0
    # cum[rows, k] as one flat index (rows * c + k) and ``take``: the same entries.
    flat = np.ascontiguousarray(cum).reshape(-1)
    base = np.asarray(rows, dtype=np.intp) * c - 1
    while step:
        cand = pos + step
        ok = (cand <= c) & (flat.take(base + np.minimum(cand, c)) <= u)
        pos = np.where(ok, cand, pos)
        step >>= 1
    return pos
