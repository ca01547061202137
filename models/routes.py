"""Routes of a handoff and brokerage: what each route costs, and the best one per pair.

A handoff from one organisation to another goes by one of four routes: a direct tie, a
broker (a common partner with brokerage capacity), escalation through the hierarchy, or
cold (no relationship). :func:`route_tables` prices every route for every pair with the
ledger's prices and picks the cheapest open one; :func:`broker_table` finds each pair's
best broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .arrays import distinct_small, flat_index, nonzero_2d
from .power import ask_rows

if TYPE_CHECKING:
    from .model import CareSystemModel

ROUTES: tuple[str, ...] = ("direct", "broker", "escalation", "cold")
DIRECT, BROKER, ESCALATION, COLD = 0, 1, 2, 3


@dataclass
class PairInputs:
    """What the routes' parameters depend on, per (from, to) pair, this week.

    Attributes:
        T: Trust on the direct tie (0: none).
        B: Trust through the best broker (0: none).
        levels: Hierarchy levels an escalation climbs.
        wait: Weeks an escalation waits for its approver (``None``: no hierarchy).
        share: Whether both ends share records.
        live: Whether shared records are live (routes other than a direct tie).
    """

    T: np.ndarray
    B: np.ndarray
    levels: np.ndarray
    wait: np.ndarray | None
    share: np.ndarray
    live: bool

    def take(self, index: tuple[np.ndarray, np.ndarray] | slice | np.ndarray) -> PairSubset:
        """The inputs of some pairs: rows (a block, or listed), or (from, to) index arrays."""
        return PairSubset(self, index)


class PairSubset:
    """Some pairs' :class:`PairInputs` (:meth:`PairInputs.take`), each taken when first read.

    A route's parameters read only some inputs (a direct tie its trust, an escalation its
    levels and wait; every route ``share``), so the others are never indexed: at 2 M
    patients, indexing all five for each route of the week's handoffs took about 1 ms a
    week. The values read are those of ``PairInputs``'s arrays at ``index``.
    """

    _FIELDS = ("T", "B", "levels", "wait", "share")

    def __init__(
        self, whole: PairInputs, index: tuple[np.ndarray, np.ndarray] | slice | np.ndarray
    ) -> None:
        self._whole = whole
        self._index = index
        self._flat: np.ndarray | None = None
        self.live = whole.live

    def __getattr__(self, name: str) -> np.ndarray | None:
        if name not in PairSubset._FIELDS:
            raise AttributeError(name)
        table = getattr(self._whole, name)
        if table is None:
            value = None
        elif isinstance(self._index, tuple):
            # (from, to) pairs: one flat index for every field read, and ``take``, the
            # same values as ``table[i, j]`` (a two-index gather is several-fold slower).
            if self._flat is None:
                self._flat = flat_index(table, *self._index)
            value = table.reshape(-1).take(self._flat)
        else:
            value = table[self._index]
        self.__dict__[name] = value
        return value


@dataclass
class RouteTables:
    """The week's routes per (from, to) pair.

    Attributes:
        route: The best open route's index.
        broker: Its broker (-1 if none).
        fallback: The best route without a broker (when the broker is full).
        pairs: What the routes' parameters depend on (:meth:`lookup` computes them).
        handoff: The ``handoff`` configuration they are computed with.
    """

    route: np.ndarray
    broker: np.ndarray
    fallback: np.ndarray
    pairs: PairInputs
    handoff: Any

    def lookup(
        self, rt: np.ndarray, o: np.ndarray, tgt: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Failure chance, delay, admin hours and shared records of handoffs by route ``rt``.

        Computed for these handoffs alone, each by its own route (:func:`route_value`),
        the same values the tables were priced with.
        """
        out = (np.empty(rt.size), np.empty(rt.size), np.empty(rt.size), np.empty(rt.size, bool))
        for k in distinct_small(rt):
            sel = np.flatnonzero(rt == k)
            values = route_value(self.handoff, self.pairs.take((o[sel], tgt[sel])), int(k))
            for whole, part in zip(out, values, strict=True):
                whole[sel] = part
        return out


def route_tables(m: CareSystemModel) -> RouteTables:
    """Best route, broker and fallback per (from, to), with each route's parameters.

    A route's expected cost is priced by the ledger's
    :class:`~carenet.models.ledger.Prices`, the figures the stages then charge: admin
    hours, the delay's weeks of waiting (pair-dependent: bed days where the handoff leaves
    an acute bed), the failure chance (with the receiver's overload, as the handoffs stage
    adds it) times a failed episode's cost, and, where records are not shared, the
    chance of a repeated assessment times its cost. Escalation's delay includes the wait
    for the approving body's capacity (:func:`approval_wait`).

    Also sets the model's expected-cost tables the rules decide on (``ec_best``,
    ``ec_alt``, ``ec_new``, and ``ec_wait``, the price of a week's wait per pair).
    """
    pairs, K = pair_inputs(m)
    h = m.cfg.handoff
    force = _forced_escalation(m) if m.hierarchy else None
    n = m.n
    route = np.empty((n, n), dtype=np.intp)
    fallback = np.empty((n, n), dtype=np.intp)
    m.ec_best = np.empty((n, n))
    m.ec_alt = np.empty((n, n))
    m.ec_wait = m.ledger.prices.pair_wait(m)
    # A direct tie is open only where there is a tie, a broker only where a broker is:
    # both are priced for those pairs alone. Cold costs the same for every referrer of a
    # kind that shares records alike: priced once per such class of rows. Escalation
    # (its levels and approvers differ by pair) is priced for every pair.
    sparse = [(k, *nonzero_2d(open_)) for k, open_ in ((DIRECT, m.trust > 0), (BROKER, K >= 0))]
    sparse = [(k, i, j, _route_cost(m, h, pairs, k, (i, j))) for k, i, j in sparse]
    reps, row_class = referrer_classes(m, pairs.share)
    cold = _route_cost(m, h, pairs, COLD, reps)
    for r0, r1 in row_bounds(n):
        rows = slice(r0, r1)
        esc = _route_cost(m, h, pairs, ESCALATION, rows) if force is not None else None
        f = force[rows] if force is not None and force[rows].any() else None
        block = []
        for _, i, j, cost in sparse:
            lo, hi = np.searchsorted(i, (r0, r1))
            block.append((i[lo:hi] - r0, j[lo:hi], cost[lo:hi]))
        route[rows], fallback[rows], m.ec_best[rows], m.ec_alt[rows] = _choose_block(
            esc, cold[row_class[rows]], block[0], block[1], f
        )
    m.ec_new = new_tie_cost(m, pairs.share, (reps, row_class))
    return RouteTables(route, K, fallback, pairs, h)


def referrer_classes(m: CareSystemModel, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classes of referrers whose cold and new-tie costs are the same towards everyone.

    Those costs depend on the referrer only through its kind (the bed days a handoff
    from an acute bed adds to the pair's wait price) and whether it shares records (its
    row of ``share``); everything else is the receiver's.

    Returns:
        (reps, row_class): the first referrer of each class, and each referrer's class.
    """
    kinds = getattr(m, "_kind_codes", None)
    if kinds is None or kinds[0] != m.kinds.tobytes():
        kinds = (m.kinds.tobytes(), np.unique(m.kinds, return_inverse=True)[1].ravel())
        m._kind_codes = kinds
    key = kinds[1] * 2 + share.any(axis=1)
    _, reps, row_class = np.unique(key, return_index=True, return_inverse=True)
    return reps, row_class.ravel()


def _choose_block(
    esc: np.ndarray | None,
    cold: np.ndarray,
    direct: tuple[np.ndarray, np.ndarray, np.ndarray],
    broker: tuple[np.ndarray, np.ndarray, np.ndarray],
    force: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_choose` for a block of rows whose direct and broker routes are sparse.

    Args:
        esc: Escalation's costs (None: no hierarchy, so never open).
        cold: Cold's costs.
        direct: (rows, columns, costs) of the pairs with a direct tie.
        broker: The same for the pairs with a broker.
        force: Pairs that must escalate (None: none in the block).

    Returns:
        What :func:`_choose` returns for the four routes' [4, rows, n] costs, the closed
        routes infinite: the same passes over the dense routes, the direct tie and the
        broker visited only where they are open.
    """
    (di, dj, dc), (bi, bj, bc) = direct, broker
    if force is not None:
        cold = np.where(force, np.inf, cold)
        dc = np.where(force[di, dj], np.inf, dc)
        bc = np.where(force[bi, bj], np.inf, bc)
    dense = [c for c in (esc, cold) if c is not None]
    if any(np.isnan(c).any() for c in (*dense, dc, bc)):
        EC = np.full((4, *cold.shape), np.inf)
        EC[DIRECT][di, dj] = dc
        EC[BROKER][bi, bj] = bc
        EC[COLD] = cold
        if esc is not None:
            EC[ESCALATION] = esc
        return _choose(EC)
    route = np.zeros(cold.shape, dtype=np.intp)
    best = np.full(cold.shape, np.inf)
    best[di, dj] = dc
    for k, cost in ((ESCALATION, esc), (COLD, cold)):
        if cost is None:
            continue
        lower = cost < best
        route[lower] = k
        np.minimum(best, cost, out=best)
    fallback = route.copy()
    b_best, b_route = best[bi, bj], route[bi, bj]
    # The broker comes before escalation and cold: it wins their ties, not the direct's.
    lower = (bc < b_best) | ((bc == b_best) & (b_route > BROKER))
    route[bi[lower], bj[lower]] = BROKER
    best[bi, bj] = np.minimum(b_best, bc)
    alt = cold.copy() if esc is None else np.minimum(esc, cold)
    alt[bi, bj] = np.minimum(bc, alt[bi, bj])
    return route, fallback, best, alt


def _route_cost(
    m: CareSystemModel,
    h: Any,
    pairs: PairInputs,
    k: int,
    at: slice | np.ndarray | tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Expected cost of route ``k`` for some rows (a block or listed) or listed pairs."""
    if k == ESCALATION and isinstance(at, slice):
        return escalation_cost(m, h, pairs, at)
    P, D, A, S = route_value(h, pairs.take(at), k)
    if isinstance(at, tuple):
        return expected_cost(m, P, D, A, S, pairs=at)
    return expected_cost(m, P, D, A, S, rows=at)


def escalation_cost(m: CareSystemModel, h: Any, pairs: PairInputs, rows: slice) -> np.ndarray:
    """Escalation's expected cost for a block of rows, with its receiver-only parts once.

    The same values as ``expected_cost(m, *route_value(h, pairs.take(rows), ESCALATION),
    rows=rows)``, bit for bit, in fewer passes over the block. Escalation's failure chance
    is one number, times the shared-records multiplier where records are shared, so
    every term that depends on it (the chance with the receiver's overload, clipped;
    times the receiver's failure price; one minus it) takes one of two values per
    receiver. Those are computed once per receiver, with the same operations, and
    picked per pair by whether its records are shared, where the plain form computed
    them for every pair (``tests/perf/test_equivalence.py`` compares the two).
    """
    pr = m.ledger.prices
    fail_j, _, rep_j = pr.receivers(m)
    x = pairs.take(rows)
    levels = x.levels
    D = h.escalation_delay_per_level * levels
    if x.wait is not None:
        D = D + x.wait
    A = np.asarray(h.escalation_admin_hours_per_level * levels, dtype=float)
    overload = h.overload_fail_slope * m.queue_ratio
    repeat = h.repeat_assessment_prob * rep_j

    def receiver_terms(p: float) -> tuple[np.ndarray, np.ndarray]:
        pe = p + overload
        np.minimum(np.maximum(pe, 0.0, out=pe), 1.0, out=pe)
        return pe * fail_j, 1.0 - pe

    p_plain = float(h.escalation_fail)
    fail0, go0 = receiver_terms(p_plain)
    out = np.asarray(pr.admin(A), dtype=float)
    later = D * pr.pair_wait(m)[rows]
    S = x.share & x.live if x.live else None
    if S is None or not S.any():
        out = out + fail0
        later += repeat
        later *= go0
    else:
        fail1, go1 = receiver_terms(p_plain * float(h.shared_records_fail_multiplier))
        out = out + np.where(S, fail1, fail0)
        later += np.where(S, 0.0, repeat)
        later *= np.where(S, go1, go0)
    out += later
    return out


def row_bounds(n: int, cells: int = 1 << 14) -> list[tuple[int, int]]:
    """Blocks of rows of an [n, n] table with about ``cells`` cells each, as (first, end).

    The route tables are computed a block at a time so that each step's temporaries
    stay in the processor's cache (the cost formula over 419 organisations: 10.8 ms for
    whole tables, 6.0 ms in blocks, in a benchmark here); the values are the same,
    element by element.
    """
    step = max(1, cells // max(n, 1))
    return [(r, min(r + step, n)) for r in range(0, n, step)]


def _choose(EC: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cheapest route per pair, the cheapest without a broker, and two minima.

    The same as ``argmin`` over the routes (the first of equal costs) and the minima over
    all routes and over those but the direct tie, in one pass per route instead of a
    reduction across the route axis (NaN costs fall back to ``argmin``'s rule).

    Returns:
        (route, fallback, best cost, best cost without the direct tie).
    """
    if np.isnan(EC).any():
        route = np.argmin(EC, axis=0)
        fb = EC.copy()
        fb[BROKER] = np.inf
        alt = EC.copy()
        alt[DIRECT] = np.inf
        return route, np.argmin(fb, axis=0), np.take_along_axis(EC, route[None], 0)[0], alt.min(0)
    route = np.zeros(EC.shape[1:], dtype=np.intp)
    best = EC[DIRECT].copy()
    for k in (ESCALATION, COLD):  # without the broker first: the fallback
        lower = EC[k] < best
        route[lower] = k
        np.minimum(best, EC[k], out=best)
    fallback = route.copy()
    lower = EC[BROKER] < best
    # The broker comes before escalation and cold: it wins their ties, not the direct's.
    lower |= (EC[BROKER] == best) & (route > BROKER)
    route[lower] = BROKER
    np.minimum(best, EC[BROKER], out=best)
    alt = np.minimum(EC[BROKER], EC[ESCALATION])
    np.minimum(alt, EC[COLD], out=alt)
    return route, fallback, best, alt


def pair_inputs(m: CareSystemModel) -> tuple[PairInputs, np.ndarray]:
    """This week's inputs of every pair's route parameters, and each pair's best broker.

    Returns:
        (inputs, K): the [n, n] inputs and the best broker per pair (-1: none).
    """
    h = m.cfg.handoff
    T = m.trust
    share_ok = (m.sharing >= h.share_threshold) & (not m.outage)
    pair_share = share_ok[:, None] & share_ok[None, :]
    has = T > 0
    # Brokers: best max-min trust over common neighbours with brokerage capacity.
    can_broker = m.active & ((m.broker_base + m.hub_bonus) >= 1)
    B, K = broker_table(T, has, np.flatnonzero(can_broker & (has.sum(axis=1) >= 2)))
    np.fill_diagonal(B, 0.0)
    K[B <= 0] = -1
    wait = approval_wait(m) if m.hierarchy else None
    # A copy of trust: the tables' lookups stay those of this week's pricing after
    # learning moves trust.
    return PairInputs(T.copy(), B, m.levels, wait, pair_share, bool(m.shared_live)), K


def route_values(h: Any, x: PairInputs | PairSubset) -> tuple[np.ndarray, ...]:
    """Each route's failure chance, delay, admin hours and shared records, for some pairs.

    Args:
        h: The ``handoff`` configuration.
        x: The pairs' inputs (any shape: a block of rows, or a list of pairs).

    Returns:
        (P, D, A, S): arrays of shape ``(4, *x.T.shape)``, by route.
    """
    values = [route_value(h, x, k) for k in (DIRECT, BROKER, ESCALATION, COLD)]
    return tuple(np.stack([v[f] for v in values]) for f in range(4))


def route_value(h: Any, x: PairInputs | PairSubset, k: int) -> tuple[np.ndarray, ...]:
    """Route ``k``'s failure chance, delay, admin hours and shared records, for some pairs.

    Returns:
        (P, D, A, S): arrays of the shape of ``x.share`` (and of ``x.T``).
    """
    shape = x.share.shape
    gap_f = h.cold_fail - h.best_fail
    gap_d = h.cold_delay_weeks - h.best_delay_weeks
    if k == DIRECT:
        P = h.best_fail + gap_f * (1.0 - x.T)
        D = h.best_delay_weeks + gap_d * (1.0 - x.T)
        A = np.full(shape, float(h.direct_admin_hours))
        S = x.share & (x.T > 0)
    elif k == BROKER:
        P = h.best_fail + gap_f * (1.0 - x.B)
        D = h.best_delay_weeks + gap_d * (1.0 - x.B) + h.broker_delay_weeks
        A = np.full(shape, float(h.broker_admin_hours))
        S = x.share & x.live
    elif k == ESCALATION:
        P = np.full(shape, float(h.escalation_fail))
        D = h.escalation_delay_per_level * x.levels
        if x.wait is not None:
            D = D + x.wait
        A = h.escalation_admin_hours_per_level * x.levels
        S = x.share & x.live
    else:
        P = np.full(shape, float(h.cold_fail))
        D = np.full(shape, float(h.cold_delay_weeks))
        A = np.full(shape, float(h.cold_admin_hours))
        S = x.share & x.live
    P = P * np.where(S, h.shared_records_fail_multiplier, 1.0)  # x 1.0 leaves a value as it is
    return P, D, np.asarray(A, dtype=float), np.asarray(S, dtype=bool)


def expected_cost(
    m: CareSystemModel,
    P: np.ndarray,
    D: np.ndarray,
    A: np.ndarray,
    S: np.ndarray,
    rows: slice | np.ndarray | None = None,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Expected cost (GBP) of one handoff per route and pair, as the stages charge it.

    Args:
        m: The model.
        P: Failure chance before the receiver's overload, [..., n, n].
        D: Delay in weeks.
        A: Admin hours.
        S: Whether records are shared.
        rows: The referrers (rows: a block, or listed) the arrays are for, if not all.
        pairs: (from, to) index arrays, if the arrays hold listed pairs (1-d) rather
            than rows of receivers.

    Returns:
        Admin + failure chance (with overload, clipped to [0, 1]) x the receiver's
        failure price + (1 - failure chance) x (delay x the pair's weekly wait price +
        (not shared) x repeat chance x the receiver's repeated-assessment price): a
        failed handoff ends the episode, so only a handoff that goes through waits or
        is assessed again.
    """
    h = m.cfg.handoff
    pr = m.ledger.prices
    fail_j, _, rep_j = pr.receivers(m)
    W = pr.pair_wait(m)
    overload = h.overload_fail_slope * m.queue_ratio
    repeat = h.repeat_assessment_prob * rep_j
    if pairs is not None:
        i, j = pairs
        W, recv = W[i, j], j
    else:
        W = W if rows is None else W[rows]
        recv = (None, slice(None))
    Pe = P + overload[recv]
    np.minimum(np.maximum(Pe, 0.0, out=Pe), 1.0, out=Pe)  # np.clip, in place
    # The same operations, in the same order, as
    # admin(A) + Pe * fail + (1 - Pe) * (D * W + (not S) * repeat_prob * repeat),
    # with fewer temporaries.
    out = np.asarray(pr.admin(A), dtype=float) + Pe * fail_j[recv]
    later = D * W
    later += np.where(S, 0.0, repeat[recv])
    np.subtract(1.0, Pe, out=Pe)
    Pe *= later
    out += Pe
    return out


def new_tie_cost(
    m: CareSystemModel,
    pair_share: np.ndarray,
    classes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Expected cost of one handoff over a new direct tie (trust ``new_tie_trust``).

    Priced once per class of referrers (:func:`referrer_classes`; ``classes`` if already
    made), whose rows are the same, then read by row.
    """
    h = m.cfg.handoff
    nt = m.cfg.structure.new_tie_trust
    reps, row_class = referrer_classes(m, pair_share) if classes is None else classes
    share = pair_share[reps]
    p_new = h.best_fail + (h.cold_fail - h.best_fail) * (1.0 - nt)
    p_new = np.where(share, p_new * h.shared_records_fail_multiplier, p_new)
    # The delay and admin hours are the same for every pair: 0-d arrays broadcast.
    d_new = np.array(h.best_delay_weeks + (h.cold_delay_weeks - h.best_delay_weeks) * (1.0 - nt))
    a_new = np.array(float(h.direct_admin_hours))
    return expected_cost(m, p_new, d_new, a_new, share, reps)[row_class]


def approvers(m: CareSystemModel) -> np.ndarray:
    """[from, to] the body that approves an escalated handoff.

    The pair's lowest common superior in the hierarchy (an end itself where one is above
    the other).

    Cached until the hierarchy changes (an organisation's failure re-parents its
    children).
    """
    key = m.parent.tobytes()
    cached = getattr(m, "_approvers", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    n = m.n
    depth = m.depth.astype(np.int64)
    maxd = int(depth.max()) if n else 0
    # anc[d, i]: i's ancestor at depth d (itself at its own depth; -1 below it).
    anc = np.full((maxd + 1, n), -1, dtype=np.int64)
    cur = np.arange(n)
    for _ in range(maxd + 1):
        anc[depth[cur], np.arange(n)] = cur
        cur = np.where(m.parent[cur] >= 0, m.parent[cur], cur)
    lca = np.full((n, n), -1, dtype=np.int64)
    for d in range(maxd + 1):  # deeper common ancestors overwrite shallower ones
        a = anc[d]
        same = (a[:, None] == a[None, :]) & (a[:, None] >= 0)
        lca = np.where(same, a[:, None], lca)
    m._approvers = (key, lca)
    return lca


def approval_capacity(m: CareSystemModel) -> np.ndarray:
    """Approvals each body can give a week.

    ``escalation_capacity_per_org`` x the active service organisations below it (itself
    included if it serves).

    Cached (read-only) until the hierarchy, the set of active service organisations or
    the capacity per organisation changes.
    """
    serving = m.service & m.active
    per_org = float(m.cfg.handoff.escalation_capacity_per_org)
    key = (m.parent.tobytes(), serving.tobytes(), per_org)
    cached = getattr(m, "_approval_capacity", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    below = np.zeros(m.n)
    for i in np.flatnonzero(serving):
        j = int(i)
        while j >= 0:
            below[j] += 1.0
            j = int(m.parent[j])
    cap = per_org * below
    cap.setflags(write=False)
    m._approval_capacity = (key, cap)
    return cap


def approval_wait(m: CareSystemModel) -> np.ndarray:
    """[from, to] extra weeks an escalation would now wait for its approver's capacity.

    The approver's backlog over its weekly capacity.
    """
    backlog = getattr(m, "approval_backlog", None)
    if backlog is None or not backlog.any():
        return np.zeros((m.n, m.n))
    cap = approval_capacity(m)
    w = np.divide(backlog, cap, out=np.zeros(m.n), where=cap > 0)
    return w[approvers(m)]


def _forced_escalation(m: CareSystemModel) -> np.ndarray:
    """Pairs whose referrer's rule demands approval: they must escalate."""
    view = m.view()
    force = np.zeros((m.n, m.n), dtype=bool)
    for rule, ids in m.rule_groups():
        force[ids] = ask_rows(rule, "escalation_matrix", ids, view, m.week, kind="flags")
    return force


def referral_matrix(m: CareSystemModel) -> np.ndarray:
    """Each organisation's referral weights towards every other (rows by referrer)."""
    view = m.view()
    R = np.zeros((m.n, m.n))
    for rule, ids in m.rule_groups():
        R[ids] = ask_rows(rule, "referral_matrix", ids, view, m.week, kind="weights")
    R[:, ~m.active] = 0.0
    return R


def broker_table(
    T: np.ndarray, has: np.ndarray, ks: np.ndarray, chunk: int = 1 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """Best broker per pair of organisations, without a Python loop over brokers.

    ``B[i, j]`` is the largest min(T[k, i], T[k, j]) over brokers k in ``ks`` tied to
    both, and ``K[i, j]`` the lowest-numbered k attaining it (-1: no broker). All
    (i, k, j) triples are listed at once, ``chunk`` at most at a time (their number is
    the sum of the brokers' squared degrees), in ascending k, so ties keep the first
    broker, exactly as a loop over k with a strict ``>`` would. Each pair's best is
    found by ``np.maximum.at`` and its broker by ``np.minimum.at``, not by sorting the
    triples (a three-key ``lexsort`` of 9,500 triples was 0.6 ms of a week at 2 M
    patients here).
    """
    n = T.shape[0]
    B = np.zeros((n, n))
    K = np.full((n, n), -1, dtype=np.int64)
    if ks.size == 0:
        return B, K
    Bf, Kf = B.reshape(-1), K.reshape(-1)  # views: the updates land in B and K
    kk, nb = nonzero_2d(has[ks])  # neighbours of each broker; brokers in ascending order
    deg = np.bincount(kk, minlength=ks.size)
    start = np.r_[0, np.cumsum(deg)[:-1]]
    sq = deg * deg
    ends = np.cumsum(sq)
    lo = 0
    while lo < ks.size:
        hi = max(lo + 1, int(np.searchsorted(ends, ends[lo] - sq[lo] + chunk, side="right")))
        hi = min(hi, ks.size)
        gs = np.arange(lo, hi)
        g = np.repeat(gs, sq[gs])
        r = np.arange(g.size) - np.repeat(ends[gs] - sq[gs] - (ends[lo] - sq[lo]), sq[gs])
        a = nb[start[g] + r // deg[g]]
        b = nb[start[g] + r % deg[g]]
        k = ks[g]
        mm = np.minimum(T[k, a], T[k, b])
        pair = a * n + b
        # Per pair, the largest m (over this and earlier chunks), and the lowest k that
        # attains it: k ascends within a chunk (brokers are listed in ascending order)
        # and from chunk to chunk, so a chunk's broker replaces an earlier one only
        # where it raises the pair's best, as the loop's strict ``>`` would.
        before = Bf[pair]
        np.maximum.at(Bf, pair, mm)
        after = Bf[pair]
        sel = (mm == after) & (after > before)
        Kf[pair[sel]] = np.iinfo(np.int64).max
        np.minimum.at(Kf, pair[sel], k[sel])
        lo = hi
    return B, K
