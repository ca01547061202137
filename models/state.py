"""The model's state: organisation arrays, pathway tables and the Episodes table.

Organisations are Mesa agents whose state sits in arrays indexed by organisation id (built
here, onto the model); patients and their care episodes are arrays moved in bulk
(:class:`Episodes`). The builders run once, in the order :class:`CareSystemModel` calls
them; :func:`build_entry_tables` and :func:`refresh_hierarchy` are rerun when capacity or
the hierarchy changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from carenet.models.schema import LINES, SERVICE_KINDS, STRATA

from .arrays import flat_index
from .responses.contracting import Contracts
from .structure import (
    branches,
    build_hierarchy,
    build_layout,
    depths,
    escalation_levels,
    initial_ties,
)

if TYPE_CHECKING:
    from .model import CareSystemModel

LINE_NAMES: list[str] = list(LINES)
QUEUED, SERVICE, TRANSIT, REFER = 0, 1, 2, 3
_EP_FIELDS: dict[str, Any] = {
    "pid": np.int32,
    "pw": np.int16,
    "stage": np.int16,
    "org": np.int32,
    "state": np.int8,
    "timer": np.int16,
    "wait": np.int32,
    "arrival": np.int32,
    "exp": np.float32,
    "from_acute": bool,
}


@dataclass
class Episodes:
    """Open care episodes, as parallel arrays (structure of arrays).

    Attributes:
        pid: Patient id.
        pw: Pathway index in the library.
        stage: Index of the current step in the pathway.
        org: Organisation serving (or receiving) the current step.
        state: 0 queued, 1 in service, 2 in handoff transit, 3 awaiting referral.
        timer: Weeks of service (in service) or of delay (in transit) left.
        wait: Weeks waited so far (queues and transit).
        arrival: Week from which it may be admitted (first-come first-served order).
        exp: Experience score so far (1 minus penalties).
        from_acute: Leaving an acute bed (its waiting weeks are excess bed days).
    """

    cols: dict[str, np.ndarray] = field(
        default_factory=lambda: {k: np.zeros(0, dtype=t) for k, t in _EP_FIELDS.items()}
    )

    def __len__(self) -> int:
        return len(self.cols["pid"])

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name]
        except KeyError:
            raise AttributeError(name) from None

    def append(self, **values: np.ndarray) -> None:
        """Append new episodes (every column must be given)."""
        for k, t in _EP_FIELDS.items():
            self.cols[k] = np.concatenate([self.cols[k], np.asarray(values[k], dtype=t)])

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the episodes where mask is True (order preserved)."""
        idx = np.flatnonzero(mask)  # once: a boolean mask per column is several-fold slower
        for k in self.cols:
            self.cols[k] = self.cols[k][idx]


def step_cells(m: CareSystemModel, pw: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """Flat indices of (pathway, step) pairs into the model's [pathway, step] tables.

    ``table.take(step_cells(m, pw, stage))`` is ``table[pw, stage]`` (``step_line``,
    ``step_weeks``, ``step_cost``), the same values: NumPy's two-index gather with the
    episodes' int16 columns took 108 us for 30,000 episodes here, the flat index and
    ``take`` 37 us, and a stage that reads two tables computes the index once.
    """
    return flat_index(m.step_line, pw, stage)


class Layout:
    """Adapter giving structure builders the layout fields of a model."""

    def __init__(self, m: CareSystemModel) -> None:
        self.kinds = list(m.kinds)
        self.locality = m.org_locality
        self.cover = m.cover
        self.size = m.size
        self.n = m.n


def build_organisations(m: CareSystemModel) -> None:
    """Lay out the organisations: kinds, localities, coverage, sizes and service lines."""
    cfg = m.cfg
    layout = build_layout(cfg.organisations, cfg.population.localities, m.streams.get("structure"))
    m.n = layout.n
    m.kinds = np.array(layout.kinds)
    m.org_locality = layout.locality
    m.cover = layout.cover
    m.size = layout.size
    m.service = np.isin(m.kinds, SERVICE_KINDS)
    m.service_ids = np.flatnonzero(m.service)
    m.gp_ids = np.flatnonzero(m.kinds == "gp")
    m.active = np.ones(m.n, dtype=bool)
    m.nl = len(LINE_NAMES)
    m.line_kind = np.array([LINES[x] for x in LINE_NAMES])
    m.offers = m.kinds[:, None] == m.line_kind[None, :]
    m.line_is_gp = m.line_kind == "gp"
    loc_home = np.maximum(m.org_locality, 0)
    # cover_same[o, t]: t covers o's home locality.
    m.cover_same = m.cover[:, loc_home].T.copy()
    m.cover_same[~m.service, :] = False
    bias = cfg.organisations.local_referral_bias
    m.local_weight = np.where(m.cover_same, bias, 1.0)
    m.cap = np.zeros((m.n, m.nl))
    m.budget = np.zeros(m.n)


def build_pathways(m: CareSystemModel) -> None:
    """Tabulate the pathway library: each step's line, weeks and cost; gains; weights."""
    lib = m.cfg.pathways.library
    from .ledger import unit_costs

    items = unit_costs(m.cfg)  # inflated to the price year
    m.pw_names = [p["name"] for p in lib]
    m.npw = len(lib)
    maxlen = max(len(p["steps"]) for p in lib)
    m.pw_len = np.array([len(p["steps"]) for p in lib], dtype=np.int16)
    m.step_line = np.full((m.npw, maxlen), -1, dtype=np.int16)
    m.step_weeks = np.zeros((m.npw, maxlen), dtype=np.int16)
    m.step_cost = np.zeros((m.npw, maxlen))
    for i, p in enumerate(lib):
        for k, st in enumerate(p["steps"]):
            m.step_line[i, k] = LINE_NAMES.index(st["line"])
            m.step_weeks[i, k] = st["weeks"]
            m.step_cost[i, k] = items[st["item"]] * float(st["units"])
    m.pw_gain = np.array([float(p["qaly_gain"]) for p in lib])
    w = np.array([p["weights"] for p in lib], dtype=float).T  # [stratum, pathway]
    m.pw_prob = w / w.sum(axis=1, keepdims=True)
    m.pw_cum = np.cumsum(m.pw_prob, axis=1)
    m.pw_cum[:, -1] = 1.0


def build_structure(m: CareSystemModel) -> None:
    """The hierarchy (parents) and the initial ties with their trust."""
    cfg = m.cfg.structure
    m.hierarchy = bool(cfg.hierarchy)
    m.parent = build_hierarchy(Layout(m))
    refresh_hierarchy(m)
    rng = m.streams.get("structure")
    ties = initial_ties(
        cfg.initial_ties,
        m.service_ids,
        Layout(m),
        cfg.mean_degree,
        cfg.rewire_prob,
        cfg.locality_ratio,
        rng,
    )
    m.trust = np.zeros((m.n, m.n))
    half = cfg.initial_trust_spread
    if ties:
        a, b = np.array(ties).T
        t0 = np.clip(cfg.initial_trust + rng.uniform(-half, half, size=len(a)), 0.01, 1.0)
        m.trust[a, b] = t0
        m.trust[b, a] = t0


def refresh_hierarchy(m: CareSystemModel) -> None:
    """Depths, escalation levels and branches from the current parents."""
    m.depth = depths(m.parent)
    m.levels = escalation_levels(m.parent).astype(float)
    m.branch = branches(m.parent, m.org_locality, m.service)


def calibrate_capacity(m: CareSystemModel) -> None:
    """Size each service line to its expected baseline demand times the headroom."""
    cfg = m.cfg
    rate_w = np.asarray(cfg.population.episode_rate_per_year) / 52.0
    # Expected concurrent episode-weeks per (stratum, line), per patient.
    per_line = np.zeros((len(STRATA), m.nl))
    m.line_cost_week = np.zeros(m.nl)
    line_weight = np.zeros(m.nl)
    line_eps = np.zeros(m.nl)
    for p in range(m.npw):
        for k in range(m.pw_len[p]):
            ln = m.step_line[p, k]
            wk = m.step_weeks[p, k]
            per_line[:, ln] += rate_w * m.pw_prob[:, p] * wk
            w = float((rate_w * m.pw_prob[:, p]).sum() * wk)
            m.line_cost_week[ln] += w * m.step_cost[p, k]
            line_weight[ln] += w
            line_eps[ln] += w / wk
    # Mean weeks of service per episode-step on each line (for expected waits).
    m.line_weeks = np.divide(line_weight, line_eps, out=np.ones(m.nl), where=line_eps > 0)
    m.line_cost_week = np.divide(
        m.line_cost_week, line_weight, out=np.zeros(m.nl), where=line_weight > 0
    )
    head = cfg.organisations.capacity_headroom
    pop = m.pop
    L = cfg.population.localities
    for ln in range(m.nl):
        providers = np.flatnonzero(m.offers[:, ln])
        if m.line_is_gp[ln]:
            # Each practice serves its own list.
            demand = np.bincount(pop.gp, weights=per_line[pop.stratum, ln], minlength=m.n)
            m.cap[providers, ln] = head * demand[providers]
            continue
        dem_loc = np.bincount(pop.locality, weights=per_line[pop.stratum, ln], minlength=L)
        for loc in range(L):
            cov = providers[m.cover[providers, loc]]
            if cov.size == 0:
                cov = providers
            share = m.size[cov] / m.size[cov].sum()
            m.cap[cov, ln] += head * dem_loc[loc] * share
    m.cap_base = m.cap.copy()
    m.budget = (m.cap * m.line_cost_week[None, :]).sum(axis=1) * 52.0
    build_entry_tables(m)


def build_entry_tables(m: CareSystemModel) -> None:
    """Cumulative entry weights per (locality, line): capacity of covering providers."""
    L = m.cfg.population.localities
    m.entry_cands: dict[tuple[int, int], np.ndarray] = {}
    m.entry_cum: dict[tuple[int, int], np.ndarray] = {}
    for ln in range(m.nl):
        prov = np.flatnonzero(m.offers[:, ln] & m.active)
        for loc in range(L):
            c = prov[m.cover[prov, loc]]
            if c.size == 0 or m.cap[c, ln].sum() <= 0:
                c = prov
            w = m.cap[c, ln] + 1e-12
            cum = np.cumsum(w / w.sum())
            cum[-1] = 1.0
            m.entry_cands[(loc, ln)] = c
            m.entry_cum[(loc, ln)] = cum


def init_state(m: CareSystemModel) -> None:
    """The dynamic state every stage reads and writes, at week 0."""
    cfg = m.cfg
    n = m.n
    m.sharing = np.zeros(n)
    m.authority = np.zeros(n)
    m.influence = np.zeros(n)
    m.flow = np.zeros((n, n))
    m.queue_ratio = np.zeros(n)
    m.expected_wait = np.zeros(n)
    m.queue_line = np.zeros((n, m.nl))
    m.demand_weeks = np.zeros((n, m.nl))
    m.demand_weeks_n = 0
    m.broker_base = np.where(m.service, cfg.organisations.brokerage_capacity, 0.0)
    m.hub_bonus = np.zeros(n)
    m.contract_ready = np.full((n, n), np.inf)
    m.contract_expiry = np.full((n, n), -np.inf)
    m.warmup_weeks = int(cfg.warmup_weeks)
    for c in m.response.components:
        if isinstance(c, Contracts):
            c.start(m)  # the status quo: contracts already in force between partners
    m.inspected_at = np.full(n, -np.inf)
    m.perf_sent = np.zeros(n)
    m.perf_fail = np.zeros(n)
    m.perf_done = np.zeros(n)
    m.tie_succ = np.zeros((n, n))
    m.tie_fail = np.zeros((n, n))
    m.flow_step = np.zeros((n, n))
    m.demand_mult = 1.0
    m.outage = False
    m.shared_live = False
    m.pool_bonus = 0.0
    m.failed_orgs = []
