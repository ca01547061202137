"""The integrated care system model: organisations (Mesa agents) and patients (arrays).

:class:`CareSystemModel` holds one integrated care system. Organisations are Mesa agents
whose state sits in arrays indexed by organisation id; patients and their care episodes
are arrays moved in bulk. See :meth:`CareSystemModel.step` for the stages of a week, in
order, and ``docs/model.md`` (the ODD description) for the mechanisms and their sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import mesa
import numpy as np

from carenet.models.schema import LINES, SERVICE_KINDS, STRATA, CarenetConfig

from .errors import ResultError, RuleError
from .metrics import NETWORK_METRICS, network_metrics
from .organisation import Organisation
from .population import build_population
from .power import (
    RULES,
    Domination,
    Empowerment,
    PowerRule,
    RuleView,
    ask_array,
    ask_flag,
    ask_values,
    load_target,
    rule_failure,
)
from .shocks import shock_window
from .streams import Streams
from .structure import (
    branches,
    build_hierarchy,
    build_layout,
    depths,
    escalation_levels,
    initial_ties,
)

LINE_NAMES: list[str] = list(LINES)
QUEUED, SERVICE, TRANSIT, REFER = 0, 1, 2, 3
ROUTES: tuple[str, ...] = ("direct", "broker", "escalation", "cold")
DIRECT, BROKER, ESCALATION, COLD = 0, 1, 2, 3
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
        for k in self.cols:
            self.cols[k] = self.cols[k][mask]


class CareSystemModel(mesa.Model):
    """One integrated care system under a structure, power rule, response and scenario.

    Args:
        config: A validated configuration (see :func:`carenet.sim.config.load_config`).
        seed: Run seed; defaults to ``config.seed``. All randomness comes from named
            streams derived from it (:class:`~carenet.models.streams.Streams`).

    Attributes:
        records: One dict of metrics per completed step.
        totals: Running totals for the summary.
    """

    def __init__(self, config: CarenetConfig, seed: int | None = None) -> None:
        self.cfg = config
        self.seed_value = int(config.seed if seed is None else seed)
        self.streams = Streams(self.seed_value)
        super().__init__(rng=self.streams.seed_for("mesa"))
        self.week = 0
        self._build_organisations()
        self._build_pathways()
        self._build_capacity()
        self._build_structure()
        self._assign_rules()
        self.pop = build_population(
            config.population,
            self.gp_ids,
            self.org_locality[self.gp_ids],
            self.size[self.gp_ids],
            self.streams.get("population"),
        )
        self._calibrate_capacity()
        self.episodes = Episodes()
        self._init_state()
        self.records: list[dict[str, float]] = []
        self._refresh_power()
        self.initial_snapshot = self.network_snapshot()

    # ======================================================================================
    # Construction
    # ======================================================================================
    def _build_organisations(self) -> None:
        cfg = self.cfg
        layout = build_layout(
            cfg.organisations, cfg.population.localities, self.streams.get("structure")
        )
        self.n = layout.n
        self.kinds = np.array(layout.kinds)
        self.org_locality = layout.locality
        self.cover = layout.cover
        self.size = layout.size
        self.service = np.isin(self.kinds, SERVICE_KINDS)
        self.service_ids = np.flatnonzero(self.service)
        self.gp_ids = np.flatnonzero(self.kinds == "gp")
        self.active = np.ones(self.n, dtype=bool)
        self.nl = len(LINE_NAMES)
        self.line_kind = np.array([LINES[x] for x in LINE_NAMES])
        self.offers = self.kinds[:, None] == self.line_kind[None, :]
        self.line_is_gp = self.line_kind == "gp"
        loc_home = np.maximum(self.org_locality, 0)
        # cover_same[o, t]: t covers o's home locality.
        self.cover_same = self.cover[:, loc_home].T.copy()
        self.cover_same[~self.service, :] = False
        bias = cfg.organisations.local_referral_bias
        self.local_weight = np.where(self.cover_same, bias, 1.0)

    def _build_pathways(self) -> None:
        lib = self.cfg.pathways.library
        items = self.cfg.costs.items
        self.pw_names = [p["name"] for p in lib]
        self.npw = len(lib)
        maxlen = max(len(p["steps"]) for p in lib)
        self.pw_len = np.array([len(p["steps"]) for p in lib], dtype=np.int16)
        self.step_line = np.full((self.npw, maxlen), -1, dtype=np.int16)
        self.step_weeks = np.zeros((self.npw, maxlen), dtype=np.int16)
        self.step_cost = np.zeros((self.npw, maxlen))
        for i, p in enumerate(lib):
            for k, st in enumerate(p["steps"]):
                self.step_line[i, k] = LINE_NAMES.index(st["line"])
                self.step_weeks[i, k] = st["weeks"]
                self.step_cost[i, k] = float(items[st["item"]]["gbp"]) * float(st["units"])
        self.pw_gain = np.array([float(p["qaly_gain"]) for p in lib])
        w = np.array([p["weights"] for p in lib], dtype=float).T  # [stratum, pathway]
        self.pw_prob = w / w.sum(axis=1, keepdims=True)
        self.pw_cum = np.cumsum(self.pw_prob, axis=1)
        self.pw_cum[:, -1] = 1.0

    def _build_capacity(self) -> None:
        self.cap = np.zeros((self.n, self.nl))
        self.budget = np.zeros(self.n)

    def _build_structure(self) -> None:
        cfg = self.cfg.structure
        self.hierarchy = bool(cfg.hierarchy)
        self.parent = build_hierarchy(_Layout(self))
        self._refresh_hierarchy()
        rng = self.streams.get("structure")
        ties = initial_ties(
            cfg.initial_ties,
            self.service_ids,
            _Layout(self),
            cfg.mean_degree,
            cfg.rewire_prob,
            cfg.locality_ratio,
            rng,
        )
        self.trust = np.zeros((self.n, self.n))
        half = cfg.initial_trust_spread
        if ties:
            a, b = np.array(ties).T
            t0 = np.clip(cfg.initial_trust + rng.uniform(-half, half, size=len(a)), 0.01, 1.0)
            self.trust[a, b] = t0
            self.trust[b, a] = t0

    def _refresh_hierarchy(self) -> None:
        self.depth = depths(self.parent)
        self.levels = escalation_levels(self.parent).astype(float)
        self.branch = branches(self.parent)

    def _assign_rules(self) -> None:
        pr = self.cfg.power_rule
        dom = Domination(
            sharing=pr.domination_sharing,
            branch_bias=pr.branch_bias,
            capture_strength=pr.capture_strength,
            escalate_out_of_branch=pr.escalate_out_of_branch,
        )
        emp = Empowerment(
            sharing=pr.empowerment_sharing,
            choice_sharpness=pr.choice_sharpness,
            influence_preference=pr.influence_preference,
        )
        self.adaptive = False
        rng = self.streams.get("rules")
        u = rng.random(self.n)  # drawn whatever the rule, so the stream stays aligned
        if pr._target_:
            cls = load_target(pr._target_)
            try:
                user = cls(**pr.params)
            except Exception as exc:
                raise RuleError(cls, "__init__", f"raised {rule_failure(exc)}") from exc
            rules: list[PowerRule] = [user] * self.n
        elif pr.name in ("mixed", "adaptive"):
            if pr.assign_by == "kind":
                rules = [emp if k in pr.empowering_kinds else dom for k in self.kinds]
            else:
                rules = [emp if u[i] < pr.empower_share else dom for i in range(self.n)]
            self.adaptive = pr.name == "adaptive"
        else:
            cls = RULES[pr.name]
            rules = [emp if cls is Empowerment else dom] * self.n
        self.orgs: list[Organisation] = [
            Organisation(self, i, str(self.kinds[i]), rules[i]) for i in range(self.n)
        ]

    def _calibrate_capacity(self) -> None:
        """Size each service line to its expected baseline demand times the headroom."""
        cfg = self.cfg
        rate_w = np.asarray(cfg.population.episode_rate_per_year) / 52.0
        # Expected concurrent episode-weeks per (stratum, line), per patient.
        per_line = np.zeros((len(STRATA), self.nl))
        self.line_cost_week = np.zeros(self.nl)
        line_weight = np.zeros(self.nl)
        line_eps = np.zeros(self.nl)
        for p in range(self.npw):
            for k in range(self.pw_len[p]):
                ln = self.step_line[p, k]
                wk = self.step_weeks[p, k]
                per_line[:, ln] += rate_w * self.pw_prob[:, p] * wk
                w = float((rate_w * self.pw_prob[:, p]).sum() * wk)
                self.line_cost_week[ln] += w * self.step_cost[p, k]
                line_weight[ln] += w
                line_eps[ln] += w / wk
        # Mean weeks of service per episode-step on each line (for expected waits).
        self.line_weeks = np.divide(line_weight, line_eps, out=np.ones(self.nl), where=line_eps > 0)
        self.line_cost_week = np.divide(
            self.line_cost_week, line_weight, out=np.zeros(self.nl), where=line_weight > 0
        )
        head = cfg.organisations.capacity_headroom
        pop = self.pop
        L = cfg.population.localities
        for ln in range(self.nl):
            providers = np.flatnonzero(self.offers[:, ln])
            if self.line_is_gp[ln]:
                # Each practice serves its own list.
                demand = np.bincount(pop.gp, weights=per_line[pop.stratum, ln], minlength=self.n)
                self.cap[providers, ln] = head * demand[providers]
                continue
            dem_loc = np.bincount(pop.locality, weights=per_line[pop.stratum, ln], minlength=L)
            for loc in range(L):
                cov = providers[self.cover[providers, loc]]
                if cov.size == 0:
                    cov = providers
                share = self.size[cov] / self.size[cov].sum()
                self.cap[cov, ln] += head * dem_loc[loc] * share
        self.cap_base = self.cap.copy()
        self.budget = (self.cap * self.line_cost_week[None, :]).sum(axis=1) * 52.0
        self._build_entry_tables()

    def _build_entry_tables(self) -> None:
        """Cumulative entry weights per (locality, line): capacity of covering providers."""
        L = self.cfg.population.localities
        self.entry_cands: dict[tuple[int, int], np.ndarray] = {}
        self.entry_cum: dict[tuple[int, int], np.ndarray] = {}
        for ln in range(self.nl):
            prov = np.flatnonzero(self.offers[:, ln] & self.active)
            for loc in range(L):
                c = prov[self.cover[prov, loc]]
                if c.size == 0 or self.cap[c, ln].sum() <= 0:
                    c = prov
                w = self.cap[c, ln] + 1e-12
                cum = np.cumsum(w / w.sum())
                cum[-1] = 1.0
                self.entry_cands[(loc, ln)] = c
                self.entry_cum[(loc, ln)] = cum

    def _init_state(self) -> None:
        cfg = self.cfg
        self.sharing = np.zeros(self.n)
        self.authority = np.zeros(self.n)
        self.influence = np.zeros(self.n)
        self.flow = np.zeros((self.n, self.n))
        self.queue_ratio = np.zeros(self.n)
        self.expected_wait = np.zeros(self.n)
        self.queue_line = np.zeros((self.n, self.nl))
        self.demand_weeks = np.zeros((self.n, self.nl))
        self.demand_weeks_n = 0
        self.broker_base = np.where(self.service, cfg.organisations.brokerage_capacity, 0.0)
        self.hub_bonus = np.zeros(self.n)
        self.contract_ready = np.full((self.n, self.n), np.inf)
        self.contract_expiry = np.full((self.n, self.n), -np.inf)
        self.inspected_at = np.full(self.n, -np.inf)
        self.perf_sent = np.zeros(self.n)
        self.perf_fail = np.zeros(self.n)
        self.perf_done = np.zeros(self.n)
        self.demand_mult = 1.0
        self.outage = False
        self.shared_live = False
        self.cuts: list[tuple[int, float]] = []
        self.failure_cost_year = 0.0
        self.failure_cost_prev_year = math.nan
        self.pool_bonus = 0.0
        costs = cfg.costs.items
        self.hour_gbp = float(costs["professional_hour"]["gbp"])
        self.night_gbp = float(costs["delayed_discharge_night"]["gbp"])
        h = cfg.health
        self.ea_cost = np.where(
            np.arange(len(STRATA)) >= h.emergency_long_stay_from,
            float(costs["nonelective_long_stay"]["gbp"]),
            float(costs["nonelective_short_stay"]["gbp"]),
        )
        thr = cfg.costs.threshold_gbp_per_qaly
        shares = np.asarray(cfg.population.stratum_shares) * np.asarray(
            cfg.population.episode_rate_per_year
        )
        wts = shares / shares.sum() if shares.sum() > 0 else np.full(len(STRATA), 0.25)
        # Expected monetary weight of a failed handoff and of one week's delay: used by
        # route choice and by empowerment's outcome scoring (derived, not free parameters).
        self.fail_cost = float(
            (
                wts
                * (
                    np.asarray(h.qaly_loss_failure) * thr
                    + np.asarray(h.emergency_prob_failure)
                    * (self.ea_cost + h.qaly_loss_emergency * thr)
                )
            ).sum()
        )
        self.wait_cost = float(
            (
                wts
                * (
                    np.asarray(h.qaly_loss_wait_per_week) * thr
                    + np.asarray(h.emergency_hazard_wait)
                    * (self.ea_cost + h.qaly_loss_emergency * thr)
                )
            ).sum()
        )
        self.tie_cost = cfg.organisations.tie_upkeep_hours * self.hour_gbp
        self.totals: dict[str, Any] = {
            "strat_gain": np.zeros(len(STRATA)),
            "strat_loss": np.zeros(len(STRATA)),
            "strat_started": np.zeros(len(STRATA)),
            "strat_failed": np.zeros(len(STRATA)),
            "ended": 0,
            "ended_wait": 0.0,
            "exp_sum": 0.0,
            "on_time": 0,
            "continuity": 0.0,
            "handoffs": 0,
        }
        self._shocks = []
        for s in cfg.scenario.shocks:
            start, dur = shock_window(s, cfg.steps)
            self._shocks.append(dict(s, at_week=start, duration_weeks=dur))

    # ======================================================================================
    # The week
    # ======================================================================================
    def step(self) -> None:
        """Advance the system by one week.

        The stages, in order:

        1. **shocks**: start or end scheduled shocks (demand surge, budget cut,
           organisation failure, data-sharing outage).
        2. **governance**: the response's fixed activities (shared-records investment
           and go-live, boards, inspections, hub funding) and, every 52 weeks, the
           budget allocation by the organisations' rules (capture, need, pooling).
        3. **demand**: a few patients progress one stratum (``progression`` stream); new
           care episodes arise per patient by stratum (one uniform per patient per week
           from the ``demand`` stream), pick a pathway and enter the queue of their first
           provider.
        4. **waiting**: episodes in handoff transit count down and join their receiver's
           queue; every episode waiting this week (in a queue or in transit) accrues a
           week of wait, health loss, emergency-admission hazard and, if it is leaving
           an acute bed, excess bed days.
        5. **admission**: each provider's queues are served first-come first-served up to
           its free capacity per service line.
        6. **service**: episodes in service incur direct cost; a finished step completes
           the episode (health gain, reduced by its delay) or moves it on, in-house if the
           provider offers the next line, else to referral.
        7. **handoffs**: referral target chosen by the referrer's power rule; the cheapest
           open route (direct tie, broker, hierarchy escalation, cold; a contract first
           under a bureaucratic response); failure, delay and repeated assessment drawn
           per episode from the ``handoff`` stream; failure consequences drawn from the
           ``health`` stream.
        8. **learning**: trust on used ties moves with handoff outcomes; weak ties
           dissolve; every ``tie_update_weeks`` organisations seek and drop ties by their
           rules; under ``adaptive``, organisations imitate better-performing partners;
           data sharing, authority and influence are updated.
        9. **record**: the week's metrics are appended to :attr:`records`.
        """
        t = self.week
        rec: dict[str, float] = dict.fromkeys(_REC_KEYS, 0.0)
        rec["week"] = t
        self._stage_shocks(t, rec)
        self._stage_governance(t, rec)
        self._stage_demand(t, rec)
        self._stage_waiting(t, rec)
        self._stage_admission(t, rec)
        self._stage_service(t, rec)
        self._stage_handoffs(t, rec)
        self._stage_learning(t, rec)
        self._stage_record(t, rec)
        self.week += 1

    def run(self, steps: int, callback: Any = None) -> None:
        """Run ``steps`` weeks, calling ``callback(model)`` after each if given."""
        for _ in range(steps):
            self.step()
            if callback is not None:
                callback(self)

    # --- 1. shocks ------------------------------------------------------------------------
    def _stage_shocks(self, t: int, rec: dict[str, float]) -> None:
        mult = 1.0
        outage = False
        for s in self._shocks:
            start, dur = s["at_week"], s["duration_weeks"]
            on = t >= start and (dur == 0 or t < start + dur)
            if s["kind"] == "winter_surge" and on:
                mult *= 1.0 + s["magnitude"]
            elif s["kind"] == "data_outage" and on:
                outage = True
            elif s["kind"] == "budget_cut":
                if t == start:
                    factor = 1.0 - s["magnitude"]
                    self.cap *= factor
                    self.budget *= factor
                    rec["shock_events"] += 1
                elif dur and t == start + dur:
                    factor = 1.0 / (1.0 - s["magnitude"])
                    self.cap *= factor
                    self.budget *= factor
                    rec["shock_events"] += 1
            elif s["kind"] == "org_failure" and t == start:
                self._fail_orgs(s)
                rec["shock_events"] += 1
        self.demand_mult = mult
        self.outage = outage

    def _fail_orgs(self, s: dict[str, Any]) -> None:
        kinds = s["kinds"] or list(SERVICE_KINDS)
        cand = np.flatnonzero(self.service & self.active & np.isin(self.kinds, kinds))
        # Never remove the last provider of a service line.
        if cand.size == 0:
            return
        target = s["target"]
        rng = self.streams.get("shocks")
        if target == "random":
            score = rng.random(cand.size)
        elif target == "size":
            score = self.budget[cand]
        elif target == "authority":
            score = self.authority[cand]
        elif target == "degree":
            score = (self.trust[cand] > 0).sum(axis=1).astype(float)
        else:  # betweenness
            import networkx as nx

            g = nx.Graph()
            g.add_nodes_from(int(i) for i in self.service_ids[self.active[self.service_ids]])
            a, b = np.nonzero(np.triu(self.trust > 0, 1))
            g.add_edges_from(zip(a.tolist(), b.tolist(), strict=True))
            bc = nx.betweenness_centrality(g)
            score = np.array([bc.get(int(i), 0.0) for i in cand])
        order = cand[np.lexsort((cand, -score))]
        failed = []
        for o in order:
            if len(failed) >= s["count"]:
                break
            lines = np.flatnonzero(self.offers[o])
            others = self.offers[:, lines] & self.active[:, None]
            others[o] = False
            if (others.sum(axis=0) == 0).any():
                continue
            failed.append(int(o))
            self.active[o] = False
            self.cap[o] = 0.0
            self.cap_base[o] = 0.0
            self.budget[o] = 0.0
            self.trust[o, :] = 0.0
            self.trust[:, o] = 0.0
            children = np.flatnonzero(self.parent == o)
            self.parent[children] = self.parent[o]
            if self.kinds[o] == "gp":
                self._reregister(o)
        if failed:
            self._refresh_hierarchy()
            self._build_entry_tables()
            ep = self.episodes
            at = np.isin(ep.org, failed)
            # Episodes at (or travelling to) a failed organisation must be re-referred.
            ep.state[at] = REFER
            ep.timer[at] = 0
        self.failed_orgs = getattr(self, "failed_orgs", []) + failed

    def _reregister(self, gp: int) -> None:
        pop = self.pop
        members = np.flatnonzero(pop.gp == gp)
        loc = self.org_locality[gp]
        alt = self.gp_ids[self.active[self.gp_ids] & (self.org_locality[self.gp_ids] == loc)]
        if alt.size == 0:
            alt = self.gp_ids[self.active[self.gp_ids]]
        u = self.streams.get("shocks").random(members.size)
        w = self.size[alt] / self.size[alt].sum()
        cum = np.cumsum(w)
        cum[-1] = 1.0
        pop.gp[members] = alt[np.searchsorted(cum, u, side="right")]

    # --- 2. governance -------------------------------------------------------------------
    def _stage_governance(self, t: int, rec: dict[str, float]) -> None:
        r = self.cfg.response
        n_serv = int((self.service & self.active).sum())
        if r.shared_records:
            if t == 0:
                rec["cost_connection"] += r.shared_records_investment_gbp * n_serv
            rec["cost_connection"] += r.shared_records_running_gbp * n_serv
            self.shared_live = t >= r.shared_records_golive_weeks
        if r.boards and t % r.board_interval_weeks == 0:
            rec["cost_transaction"] += r.board_attendees * r.board_hours * self.hour_gbp
            if r.board_trust_boost > 0:
                has = self.trust > 0
                self.trust[has] += r.board_trust_boost * (1.0 - self.trust[has])
        if r.inspections:
            ids = np.flatnonzero(self.service & self.active)
            due = ids[(t + ids * 7919) % r.inspection_interval_weeks == 0]
            self.inspected_at[due] = t
            rec["cost_transaction"] += r.inspection_cost_gbp * due.size
            rec["inspections"] += due.size
        if r.hub_funding:
            if t % self.cfg.structure.tie_update_weeks == 0:
                self._fund_hubs()
            rec["cost_connection"] += r.hub_funding_gbp * int((self.hub_bonus > 0).sum())
        if t > 0 and t % 52 == 0:
            self._allocate_budget()

    def _allocate_budget(self) -> None:
        """Annual budget round: rules bid; a pool (if offered) shares by need."""
        ids = np.flatnonzero(self.service & self.active)
        view = self.view()
        old = self.budget[ids].copy()
        total = old.sum()
        t = self.week
        pooled = np.array(
            [
                self.cfg.response.pooled_budget
                and ask_flag(self.orgs[i].rule, "pools_budget", int(i), view, t)
                for i in ids
            ],
            dtype=bool,
        )
        bids = np.zeros(ids.size)
        for rule, group in self._rule_groups():
            at = np.flatnonzero(np.isin(ids, group))
            if at.size:
                bids[at] = ask_values(
                    rule,
                    "budget_bid",
                    ids[at],
                    view,
                    t,
                    0.0,
                    math.inf,
                    "a finite number >= 0 (GBP)",
                )
        need = view.need[ids]
        target = np.zeros(ids.size)
        savings = 0.0
        if pooled.any():
            if not math.isnan(self.failure_cost_prev_year):
                savings = max(0.0, self.failure_cost_prev_year - self.failure_cost_year)
            pool = old[pooled].sum() + self.cfg.response.shared_savings_share * savings
            w = need[pooled]
            target[pooled] = pool * (
                w / w.sum() if w.sum() > 0 else old[pooled] / old[pooled].sum()
            )
        rest = ~pooled
        if rest.any():
            w = np.maximum(bids[rest], 0.0)
            pot = old[rest].sum()
            target[rest] = pot * (w / w.sum() if w.sum() > 0 else old[rest] / old[rest].sum())
        mc = self.cfg.organisations.budget_max_change
        goal = total + self.cfg.response.shared_savings_share * savings * pooled.any()
        new = _bounded_rescale(target, old * (1 - mc), old * (1 + mc), goal)
        ratio = np.divide(new, old, out=np.ones_like(new), where=old > 0)
        self.cap[ids] *= ratio[:, None]
        self.budget[ids] = new
        self.pool_bonus += self.cfg.response.shared_savings_share * savings * pooled.any()
        self.failure_cost_prev_year = self.failure_cost_year
        self.failure_cost_year = 0.0
        self.demand_weeks[:] = 0.0
        self.demand_weeks_n = 0
        self._build_entry_tables()

    # --- 3. demand ----------------------------------------------------------------------
    def _progress_strata(self) -> None:
        """Natural progression: each week a binomial number of each stratum moves up one."""
        pop = self.pop
        rng = self.streams.get("progression")
        p_week = 1.0 - (1.0 - np.asarray(self.cfg.population.progression_per_year)) ** (1 / 52)
        movers = []
        for s in range(len(STRATA) - 1):
            if p_week[s] <= 0:
                continue
            members = np.flatnonzero(pop.stratum == s)
            k = rng.binomial(members.size, p_week[s])
            if k:
                movers.append(np.unique(members[rng.integers(0, members.size, k)]))
        for m in movers:
            pop.stratum[m] += 1

    def _stage_demand(self, t: int, rec: dict[str, float]) -> None:
        self._progress_strata()
        pop = self.pop
        rate = np.asarray(self.cfg.population.episode_rate_per_year) / 52.0 * self.demand_mult
        rate = np.minimum(rate, 1.0)
        u = self.streams.get("demand").random(pop.size, dtype=np.float32)
        r = rate[pop.stratum]
        new = np.flatnonzero((u < r) & ~pop.in_episode)
        if new.size == 0:
            return
        s = pop.stratum[new]
        v = u[new] / r[new]  # uniform on [0, 1) given arrival: reused to pick the pathway
        pw = (v[:, None] >= self.pw_cum[s]).sum(axis=1).astype(np.int16)
        pw = np.minimum(pw, self.npw - 1)
        line0 = self.step_line[pw, 0]
        org = np.empty(new.size, dtype=np.int32)
        gp_first = self.line_is_gp[line0]
        org[gp_first] = pop.gp[new[gp_first]]
        other = np.flatnonzero(~gp_first)
        if other.size:
            ue = self.streams.get("entry").random(other.size)
            loc = pop.locality[new[other]]
            key = loc.astype(np.int64) * self.nl + line0[other]
            for k in np.unique(key):
                sel = other[key == k]
                cands = self.entry_cands[(int(k // self.nl), int(k % self.nl))]
                cum = self.entry_cum[(int(k // self.nl), int(k % self.nl))]
                org[sel] = cands[np.searchsorted(cum, ue[key == k], side="right")]
        pop.in_episode[new] = True
        m = new.size
        self.episodes.append(
            pid=new,
            pw=pw,
            stage=np.zeros(m),
            org=org,
            state=np.full(m, QUEUED),
            timer=np.zeros(m),
            wait=np.zeros(m),
            arrival=np.full(m, t),
            exp=np.ones(m),
            from_acute=np.zeros(m, dtype=bool),
        )
        rec["episodes_started"] += m
        self.totals["strat_started"] += np.bincount(s, minlength=len(STRATA))

    # --- 4. waiting ---------------------------------------------------------------------
    def _stage_waiting(self, t: int, rec: dict[str, float]) -> None:
        ep = self.episodes
        if len(ep) == 0:
            return
        transit = ep.state == TRANSIT
        # Waiting this week: in transit, or queued since an earlier week and not admitted
        # then (this week's demand and arrivals may be admitted before any wait accrues).
        waiting = np.flatnonzero(transit | ((ep.state == QUEUED) & (ep.arrival < t)))
        self._accrue_wait(waiting, rec)
        ep.timer[transit] -= 1
        arrived = transit & (ep.timer <= 0)
        ep.state[arrived] = QUEUED
        ep.arrival[arrived] = t + 1  # this week was spent in transit

    def _accrue_wait(self, idx: np.ndarray, rec: dict[str, float]) -> None:
        if idx.size == 0:
            return
        ep, h = self.episodes, self.cfg.health
        s = self.pop.stratum[ep.pid[idx]]
        ep.wait[idx] += 1
        ep.exp[idx] -= h.experience_wait_penalty
        loss = np.asarray(h.qaly_loss_wait_per_week)[s]
        self._lose(ep.pid[idx], s, loss, rec)
        haz = np.asarray(h.emergency_hazard_wait)[s]
        u = self.streams.get("health").random(idx.size)
        ea = u < haz
        self._emergency(ep.pid[idx][ea], s[ea], rec)
        fa = ep.from_acute[idx]
        nights = 7.0 * fa.sum()
        rec["excess_bed_days"] += nights
        self._fail_cost(nights * self.night_gbp, rec)
        rec["waiting"] += idx.size

    def _lose(
        self, pid: np.ndarray, s: np.ndarray, loss: np.ndarray, rec: dict[str, float]
    ) -> None:
        np.subtract.at(self.pop.health, pid, loss.astype(np.float32))
        rec["qalys_lost"] += float(loss.sum())
        self.totals["strat_loss"] += np.bincount(s, weights=loss, minlength=len(STRATA))

    def _fail_cost(self, gbp: float, rec: dict[str, float]) -> None:
        rec["cost_failure"] += gbp
        self.failure_cost_year += gbp

    def _emergency(self, pid: np.ndarray, s: np.ndarray, rec: dict[str, float]) -> None:
        if pid.size == 0:
            return
        h = self.cfg.health
        rec["emergency_admissions"] += pid.size
        self._fail_cost(float(self.ea_cost[s].sum()), rec)
        self._lose(pid, s, np.full(pid.size, h.qaly_loss_emergency), rec)

    # --- 5. admission -------------------------------------------------------------------
    def _stage_admission(self, t: int, rec: dict[str, float]) -> None:
        ep = self.episodes
        if len(ep) == 0:
            self.queue_line[:] = 0.0
            self.queue_ratio[:] = 0.0
            self.expected_wait[:] = 0.0
            return
        line = self.step_line[ep.pw, ep.stage].astype(np.int64)
        key = ep.org.astype(np.int64) * self.nl + line
        size = self.n * self.nl
        in_service = np.bincount(key[ep.state == SERVICE], minlength=size)
        free = np.maximum(np.floor(self.cap.ravel() + 1e-9) - in_service, 0)
        q = np.flatnonzero((ep.state == QUEUED) & (ep.arrival <= t))
        if q.size:
            order = q[np.lexsort((q, ep.arrival[q], key[q]))]
            k = key[order]
            starts = np.r_[0, np.flatnonzero(k[1:] != k[:-1]) + 1]
            group_start = np.repeat(starts, np.diff(np.r_[starts, k.size]))
            rank = np.arange(k.size) - group_start
            admit = order[rank < free[k]]
            ep.state[admit] = SERVICE
            ep.timer[admit] = self.step_weeks[ep.pw[admit], ep.stage[admit]]
            ep.from_acute[admit] = False
        queued = np.bincount(key[ep.state == QUEUED], minlength=size).reshape(self.n, self.nl)
        served = np.bincount(key[ep.state == SERVICE], minlength=size).reshape(self.n, self.nl)
        self.queue_line = np.divide(
            queued, self.cap, out=np.zeros_like(self.cap), where=self.cap > 0
        )
        self.queue_line[(self.cap <= 0) & (queued > 0)] = 10.0
        capt = self.cap.sum(axis=1)
        self.queue_ratio = np.divide(queued.sum(axis=1), capt, out=np.zeros(self.n), where=capt > 0)
        # Weeks a newcomer would wait: the queue over the episodes finished per week.
        throughput = (self.cap / self.line_weeks[None, :]).sum(axis=1)
        self.expected_wait = np.divide(
            queued.sum(axis=1), throughput, out=np.zeros(self.n), where=throughput > 0
        )
        self.demand_weeks += queued + served
        self.demand_weeks_n += 1
        rec["queue_length"] = float(queued.sum())
        capacity = float(np.floor(self.cap + 1e-9).sum())
        rec["utilisation"] = float(served.sum() / capacity) if capacity > 0 else 0.0

    # --- 6. service ---------------------------------------------------------------------
    def _stage_service(self, t: int, rec: dict[str, float]) -> None:
        ep = self.episodes
        sv = np.flatnonzero(ep.state == SERVICE)
        if sv.size == 0:
            return
        rec["cost_direct"] += float(self.step_cost[ep.pw[sv], ep.stage[sv]].sum())
        ep.timer[sv] -= 1
        done = sv[ep.timer[sv] <= 0]
        if done.size == 0:
            return
        last = ep.stage[done] + 1 >= self.pw_len[ep.pw[done]]
        self._complete(done[last], rec)
        nxt = done[~last]
        ep.stage[nxt] += 1
        line = self.step_line[ep.pw[nxt], ep.stage[nxt]]
        pid = ep.pid[nxt]
        own_gp = self.line_is_gp[line] & (self.pop.gp[pid] == ep.org[nxt])
        in_house = (self.offers[ep.org[nxt], line] & ~self.line_is_gp[line]) | own_gp
        ep.state[nxt[in_house]] = QUEUED
        ep.arrival[nxt[in_house]] = t + 1
        ep.state[nxt[~in_house]] = REFER
        rec["in_house_transfers"] += float(in_house.sum())

    def _complete(self, idx: np.ndarray, rec: dict[str, float]) -> None:
        if idx.size == 0:
            return
        ep, h, pop = self.episodes, self.cfg.health, self.pop
        pid = ep.pid[idx]
        s = pop.stratum[pid]
        gain = self.pw_gain[ep.pw[idx]] / (1.0 + h.delay_gain_decay * ep.wait[idx])
        np.add.at(pop.health, pid, gain.astype(np.float32))
        rec["qalys_gained"] += float(gain.sum())
        self.totals["strat_gain"] += np.bincount(s, weights=gain, minlength=len(STRATA))
        rec["episodes_completed"] += idx.size
        rec["completed_on_time"] += float((ep.wait[idx] <= h.on_time_weeks).sum())
        np.add.at(self.perf_done, ep.org[idx], 1.0)
        rec["_exp_sum"] += float(np.clip(ep.exp[idx], 0, 1).sum())  # failed episodes add 0
        rec["_wait_sum"] += float(ep.wait[idx].sum())
        rec["_ended"] += idx.size
        # Recovery: a completed episode may move the patient down one stratum.
        p = np.asarray(self.cfg.population.recovery_on_completion)[s]
        u = self.streams.get("health").random(idx.size)
        down = (u < p) & (s > 0)
        pop.stratum[pid[down]] -= 1
        pop.in_episode[pid] = False
        ep.state[idx] = -1

    def _end_failed(self, idx: np.ndarray, rec: dict[str, float]) -> None:
        ep, h, pop = self.episodes, self.cfg.health, self.pop
        pid = ep.pid[idx]
        s = pop.stratum[pid]
        self._lose(pid, s, np.asarray(h.qaly_loss_failure)[s], rec)
        u = self.streams.get("health").random((idx.size, 2))
        ea = u[:, 0] < np.asarray(h.emergency_prob_failure)[s]
        self._emergency(pid[ea], s[ea], rec)
        up = (u[:, 1] < np.asarray(self.cfg.population.progression_on_failure)[s]) & (s < 3)
        pop.stratum[pid[up]] += 1
        rec["episodes_failed"] += idx.size
        self.totals["strat_failed"] += np.bincount(s, minlength=len(STRATA))
        rec["_wait_sum"] += float(ep.wait[idx].sum())
        rec["_ended"] += idx.size
        pop.in_episode[pid] = False
        ep.state[idx] = -1

    # --- 7. handoffs --------------------------------------------------------------------
    def _stage_handoffs(self, t: int, rec: dict[str, float]) -> None:
        ep = self.episodes
        h_idx = np.flatnonzero(ep.state == REFER)
        self._routes = self._route_tables()
        if h_idx.size == 0:
            self._finish_handoffs(rec)
            return
        cfgh = self.cfg.handoff
        o = ep.org[h_idx].astype(np.int64)
        line = self.step_line[ep.pw[h_idx], ep.stage[h_idx]].astype(np.int64)
        pid = ep.pid[h_idx]
        tgt = np.empty(h_idx.size, dtype=np.int64)
        gp_line = self.line_is_gp[line]
        tgt[gp_line] = self.pop.gp[pid[gp_line]]
        other = np.flatnonzero(~gp_line)
        R = self._referral_matrix()
        u_ref = self.streams.get("referral").random(h_idx.size)
        for ln in np.unique(line[other]):
            sel = other[line[other] == ln]
            cands = np.flatnonzero(self.offers[:, ln] & self.active)
            # One cumulative row per referrer (not per handoff): many handoffs share one.
            src, inv = np.unique(o[sel], return_inverse=True)
            w = R[np.ix_(src, cands)] * (self.cap[cands, ln] > 0)[None, :]
            rows = w.sum(axis=1, keepdims=True)
            fallback = np.broadcast_to(self.cap[cands, ln] + 1e-12, w.shape)
            w = np.where(rows > 0, w, fallback)
            cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
            cum[:, -1] = 1.0
            pick = (u_ref[sel][:, None] >= cum[inv]).sum(axis=1)
            tgt[sel] = cands[np.minimum(pick, cands.size - 1)]
        rt_tab, brk_tab, fb_tab, P, D, A, S = self._routes
        rt = rt_tab[o, tgt].copy()
        # A failed referrer has no ties or lines left: its patients go cold.
        rt[~self.active[o]] = COLD
        brk = brk_tab[o, tgt]
        # Finite brokerage: handoffs beyond a broker's capacity take the next-best route.
        use_b = np.flatnonzero(rt == BROKER)
        if use_b.size:
            avail = self.broker_base + self.hub_bonus
            kb = brk[use_b]
            order = use_b[np.lexsort((use_b, kb))]
            kk = brk[order]
            starts = np.r_[0, np.flatnonzero(kk[1:] != kk[:-1]) + 1]
            rank = np.arange(kk.size) - np.repeat(starts, np.diff(np.r_[starts, kk.size]))
            over = order[rank >= np.floor(avail[kk])]
            rt[over] = fb_tab[o[over], tgt[over]]
        p = P[rt, o, tgt].copy()
        d = D[rt, o, tgt].copy()
        adm = A[rt, o, tgt].copy()
        shared = S[rt, o, tgt].copy()
        r = self.cfg.response
        if r.contracts_required:
            extra = self._contracts(o, tgt, ep.pw[h_idx], ep.stage[h_idx], t, rec)
            d = np.maximum(d, extra)
            p *= r.contract_fail_multiplier
        if r.inspections:
            since = t - self.inspected_at[o]
            p *= 1.0 - r.inspection_effect * np.power(0.5, since / r.inspection_half_life_weeks)
        p += cfgh.overload_fail_slope * self.queue_line[tgt, line]
        p = np.clip(p, 0.0, 1.0)
        u = self.streams.get("handoff").random((h_idx.size, 3))
        fail = u[:, 0] < p
        weeks = np.floor(d) + (u[:, 1] < (d - np.floor(d)))
        repeat = ~shared & (u[:, 2] < cfgh.repeat_assessment_prob) & ~fail
        # Costs of the handoff itself.
        rec["cost_transaction"] += float(adm.sum()) * self.hour_gbp
        if repeat.any():
            ri = h_idx[repeat]
            wk_cost = self.step_cost[ep.pw[ri], ep.stage[ri]]
            self._fail_cost(float(wk_cost.sum()) * self.cfg.health.repeat_assessment_share, rec)
            ep.exp[ri] -= self.cfg.health.experience_repeat_penalty
            rec["repeated_assessments"] += float(repeat.sum())
        # Counts.
        rec["handoffs"] += h_idx.size
        rec["handoffs_failed"] += float(fail.sum())
        for k, name in enumerate(ROUTES):
            rec[f"handoffs_{name}"] += float((rt == k).sum())
        cont = np.where(rt == DIRECT, np.where(shared, 1.0, 0.5), np.where(rt == BROKER, 0.25, 0.0))
        rec["_continuity"] += float(cont.sum())
        rec["_shared"] += float(shared.sum())
        # Learning signals: trust on the ties used; flow between the pair; performance.
        self._trust_signal(o, tgt, rt, brk, fail)
        np.add.at(self.perf_sent, o, 1.0)
        np.add.at(self.perf_fail, o, fail.astype(float))
        np.add.at(self._flow_step, (o, tgt), 1.0)
        # Outcomes.
        self._end_failed(h_idx[fail], rec)
        ok = h_idx[~fail]
        okw = weeks[~fail].astype(np.int16)
        src_acute = self.kinds[ep.org[ok]] == "acute"
        dst_kind = self.kinds[tgt[~fail]]
        ep.from_acute[ok] = src_acute & np.isin(dst_kind, ["community", "social_care"])
        ep.org[ok] = tgt[~fail]
        ep.timer[ok] = okw
        ep.state[ok] = np.where(okw > 0, TRANSIT, QUEUED)
        ep.arrival[ok] = t + 1
        self._finish_handoffs(rec)

    def _finish_handoffs(self, rec: dict[str, float]) -> None:
        ep = self.episodes
        ended = ep.state < 0
        if ended.any():
            ep.keep(~ended)

    def _contracts(
        self,
        o: np.ndarray,
        tgt: np.ndarray,
        pw: np.ndarray,
        stage: np.ndarray,
        t: int,
        rec: dict[str, float],
    ) -> np.ndarray:
        """Ensure a contract for each pair; return the weeks each handoff must wait."""
        r = self.cfg.response
        a, b = np.minimum(o, tgt), np.maximum(o, tgt)
        pairs = np.unique(a * self.n + b)
        pa, pb = pairs // self.n, pairs % self.n
        new = ~np.isfinite(self.contract_ready[pa, pb])
        expired = ~new & (self.contract_expiry[pa, pb] <= t)
        for sel, cost in ((new, r.contract_setup_gbp), (expired, r.contract_renewal_gbp)):
            if sel.any():
                rec["cost_transaction"] += cost * float(sel.sum())
                rec["contracts_signed"] += float(sel.sum())
        ready = np.where(new, t + r.contract_lead_time_weeks, self.contract_ready[pa, pb])
        expiry = np.where(
            new | expired,
            np.maximum(ready, t) + r.contract_duration_weeks,
            self.contract_expiry[pa, pb],
        )
        self.contract_ready[pa, pb] = self.contract_ready[pb, pa] = ready
        self.contract_expiry[pa, pb] = self.contract_expiry[pb, pa] = expiry
        # Monitoring: a share of the care value flowing under the contract.
        value = self.step_cost[pw, stage] * self.step_weeks[pw, stage]
        rec["cost_transaction"] += r.monitoring_share * float(value.sum())
        return np.maximum(0.0, self.contract_ready[a, b] - t)

    def _route_tables(self) -> tuple[np.ndarray, ...]:
        """Best route, broker and fallback per (from, to), with each route's parameters.

        Returns ``(route, broker, fallback, P, D, A, S)``: the best route's index, its
        broker (-1 if none), the best route without a broker, and for each route
        [4, n, n] failure chance, delay (weeks), admin hours and records-shared flag.
        """
        h = self.cfg.handoff
        n = self.n
        T = self.trust
        inf = np.inf
        share_ok = (self.sharing >= h.share_threshold) & (not self.outage)
        pair_share = share_ok[:, None] & share_ok[None, :]
        has = T > 0
        P = np.empty((4, n, n))
        D = np.empty((4, n, n))
        A = np.empty((4, n, n))
        S = np.zeros((4, n, n), dtype=bool)
        gap_f = h.cold_fail - h.best_fail
        gap_d = h.cold_delay_weeks - h.best_delay_weeks
        P[DIRECT] = h.best_fail + gap_f * (1.0 - T)
        D[DIRECT] = h.best_delay_weeks + gap_d * (1.0 - T)
        A[DIRECT] = h.direct_admin_hours
        S[DIRECT] = pair_share & has
        # Brokers: best max-min trust over common neighbours with brokerage capacity.
        can_broker = self.active & ((self.broker_base + self.hub_bonus) >= 1)
        B, K = _broker_table(T, has, np.flatnonzero(can_broker & (has.sum(axis=1) >= 2)))
        np.fill_diagonal(B, 0.0)
        hasb = B > 0
        P[BROKER] = h.best_fail + gap_f * (1.0 - B)
        D[BROKER] = h.best_delay_weeks + gap_d * (1.0 - B) + h.broker_delay_weeks
        A[BROKER] = h.broker_admin_hours
        S[BROKER] = pair_share & self.shared_live
        P[ESCALATION] = h.escalation_fail
        D[ESCALATION] = h.escalation_delay_per_level * self.levels
        A[ESCALATION] = h.escalation_admin_hours_per_level * self.levels
        S[ESCALATION] = pair_share & self.shared_live
        P[COLD] = h.cold_fail
        D[COLD] = h.cold_delay_weeks
        A[COLD] = h.cold_admin_hours
        S[COLD] = pair_share & self.shared_live
        P = np.where(S, P * h.shared_records_fail_multiplier, P)
        EC = A * self.hour_gbp + D * self.wait_cost + P * self.fail_cost
        EC[DIRECT][~has] = inf
        EC[BROKER][~hasb] = inf
        if not self.hierarchy:
            EC[ESCALATION] = inf
        # Rules that demand approval force escalation out of their branch.
        if self.hierarchy:
            view = self.view()
            force = np.zeros((n, n), dtype=bool)
            for rule, ids in self._rule_groups():
                for i in ids:
                    force[i] = ask_array(
                        rule,
                        "demands_escalation",
                        int(i),
                        view,
                        self.week,
                        (n,),
                        kind="flags",
                        org=int(i),
                    )
            if force.any():
                for k in (DIRECT, BROKER, COLD):
                    EC[k][force] = inf
        route = np.argmin(EC, axis=0)
        fb_ec = EC.copy()
        fb_ec[BROKER] = inf
        fallback = np.argmin(fb_ec, axis=0)
        self._ec_best = np.take_along_axis(EC, route[None], 0)[0]
        alt = EC.copy()
        alt[DIRECT] = inf
        self._ec_alt = alt.min(axis=0)
        nt = self.cfg.structure.new_tie_trust
        p_new = h.best_fail + gap_f * (1.0 - nt)
        p_new = np.where(pair_share, p_new * h.shared_records_fail_multiplier, p_new)
        self._ec_new = (
            h.direct_admin_hours * self.hour_gbp
            + (h.best_delay_weeks + gap_d * (1.0 - nt)) * self.wait_cost
            + p_new * self.fail_cost
        )
        return route, K, fallback, P, D, A, S

    def _rule_groups(self) -> list[tuple[PowerRule, np.ndarray]]:
        """Service organisations grouped by the rule object they follow (in id order).

        Built once and kept until an organisation changes rule (imitation rounds), since
        every stage that asks a rule something asks it by group.
        """
        key = tuple(id(self.orgs[i].rule) for i in self.service_ids)
        cached = getattr(self, "_groups_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        groups: dict[int, tuple[PowerRule, list[int]]] = {}
        for i in self.service_ids:
            rule = self.orgs[i].rule
            groups.setdefault(id(rule), (rule, []))[1].append(int(i))
        out = [(r, np.array(ids)) for r, ids in groups.values()]
        self._groups_cache = (key, out)
        return out

    def _referral_matrix(self) -> np.ndarray:
        view = self.view()
        R = np.zeros((self.n, self.n))
        for rule, ids in self._rule_groups():
            shape = (ids.size, self.n)
            R[ids] = ask_array(rule, "referral_matrix", ids, view, self.week, shape, kind="weights")
        R[:, ~self.active] = 0.0
        return R

    def view(self) -> RuleView:
        """Return the read-only view that power rules decide on."""
        ec = getattr(self, "_ec_best", None)
        if ec is None:
            ec = np.zeros((self.n, self.n))
        alt = getattr(self, "_ec_alt", ec)
        scale = 52.0 / max(self.demand_weeks_n, 1)
        need = (self.demand_weeks * self.line_cost_week[None, :]).sum(axis=1) * scale
        v = RuleView(
            kind=self.kinds,
            active=self.active,
            service=self.service,
            branch=self.branch,
            locality=self.org_locality,
            local_weight=self.local_weight,
            capacity=self.cap.sum(axis=1),
            queue_ratio=self.queue_ratio,
            expected_wait=self.expected_wait,
            budget=self.budget,
            need=need,
            authority=self.authority,
            influence=self.influence,
            tie=self.trust,
            route_cost=np.where(np.isfinite(ec), ec, 1e9),
            alt_cost=np.where(np.isfinite(alt), alt, 1e9),
            new_tie_cost=getattr(self, "_ec_new", np.zeros((self.n, self.n))),
            flow=self.flow,
            tie_cost=float(self.tie_cost),
            wait_cost=self.wait_cost,
            hierarchy=self.hierarchy,
        )
        self._view_cache = v
        return v

    # --- 8. learning --------------------------------------------------------------------
    def _trust_signal(self, o, tgt, rt, brk, fail) -> None:
        succ = (~fail).astype(float)
        bad = fail.astype(float)
        d = rt == DIRECT
        b = rt == BROKER
        for a_, c_, m in ((o, tgt, d), (o, brk, b), (brk, tgt, b)):
            if m.any():
                np.add.at(self._succ, (a_[m], c_[m]), succ[m])
                np.add.at(self._fail, (a_[m], c_[m]), bad[m])

    def _stage_learning(self, t: int, rec: dict[str, float]) -> None:
        cfg = self.cfg
        h = cfg.handoff
        s = self._succ + self._succ.T
        f = self._fail + self._fail.T
        tot = s + f
        used = (tot > 0) & (self.trust > 0)
        if used.any():
            T = self.trust[used]
            self.trust[used] = np.clip(
                T
                + h.trust_gain * (s[used] / tot[used]) * (1 - T)
                - h.trust_loss * (f[used] / tot[used]) * T,
                1e-3,
                1.0,
            )
        weak = (self.trust > 0) & (self.trust < cfg.structure.dissolve_below_trust)
        if weak.any():
            rec["ties_dissolved"] += float(np.triu(weak, 1).sum())
            self.trust[weak] = 0.0
        fl = self._flow_step + self._flow_step.T
        self.flow = 0.9 * self.flow + 0.1 * fl
        self._succ[:] = 0.0
        self._fail[:] = 0.0
        self._flow_step[:] = 0.0
        self._refresh_power()
        st = cfg.structure
        if st.dynamic_ties and t % st.tie_update_weeks == st.tie_update_weeks - 1:
            self._tie_round(rec)
        if (
            self.adaptive
            and t % cfg.power_rule.imitation_weeks == cfg.power_rule.imitation_weeks - 1
        ):
            self._imitation_round(rec)

    def tie_budget(self) -> np.ndarray:
        """Ties each organisation can keep.

        Relationship time over a tie's upkeep, scaled by the square root of the
        organisation's capacity relative to the median service organisation.
        """
        o = self.cfg.organisations
        hours = o.relationship_hours + self.cfg.response.extra_relationship_hours
        capt = self.cap_base.sum(axis=1)
        med = float(np.median(capt[self.service])) if self.service.any() else 1.0
        scale = np.sqrt(np.divide(capt, med, out=np.zeros(self.n), where=med > 0))
        b = np.floor(hours / o.tie_upkeep_hours * scale + 1e-9).astype(int)
        b[~(self.service & self.active)] = 0
        return b

    def _tie_round(self, rec: dict[str, float]) -> None:
        view = self.view()
        budget = self.tie_budget()
        nt = self.cfg.structure.new_tie_trust
        for i in self.service_ids:
            if not self.active[i]:
                continue
            drop, seek = self.orgs[i].decide_ties(
                view, int(budget[i]), self.cfg.structure.max_new_ties
            )
            for j in drop:
                self.trust[i, j] = self.trust[j, i] = 0.0
                rec["ties_dropped"] += 1
            for j in seek:
                if (self.trust[j] > 0).sum() < budget[j] and self.trust[i, j] <= 0:
                    self.trust[i, j] = self.trust[j, i] = nt
                    rec["ties_formed"] += 1

    def _fund_hubs(self) -> None:
        """Give the ``hub_count`` most influential organisations extra brokerage."""
        r = self.cfg.response
        self.hub_bonus[:] = 0.0
        ids = self.service_ids[self.active[self.service_ids]]
        top = ids[np.lexsort((ids, -self.influence[ids]))][: r.hub_count]
        top = top[self.influence[top] > 0]
        self.hub_bonus[top] = r.hub_extra_brokerage

    def performance(self) -> np.ndarray:
        """Each organisation's recent performance (used by adaptive imitation).

        The share of the episodes leaving it (completed, or handed on) that did not fail,
        less 0.1 x its queue relative to its capacity.
        """
        handled = self.perf_sent + self.perf_done
        ok = np.divide(handled - self.perf_fail, handled, out=np.ones(self.n), where=handled > 0)
        return ok - 0.1 * self.queue_ratio

    def _imitation_round(self, rec: dict[str, float]) -> None:
        pr = self.cfg.power_rule
        rng = self.streams.get("adaptive")
        perf = self.performance()
        ids = self.service_ids[self.active[self.service_ids]]
        u = rng.random((ids.size, 3))
        new_rules = {}
        for k, i in enumerate(ids):
            if u[k, 0] >= pr.imitation_rate:
                continue
            partners = np.flatnonzero(self.trust[i] > 0)
            if partners.size == 0:
                partners = ids[ids != i]
            j = int(partners[min(int(u[k, 1] * partners.size), partners.size - 1)])
            if self.orgs[j].rule is self.orgs[i].rule:
                continue
            x = (perf[j] - perf[i]) / pr.imitation_noise
            p = 1.0 / (1.0 + math.exp(-max(min(x, 700.0), -700.0)))
            if u[k, 2] < p:
                new_rules[int(i)] = self.orgs[j].rule
        for i, rule in new_rules.items():
            self.orgs[i].rule = rule
            rec["rule_switches"] += 1
        self.perf_sent[:] = 0.0
        self.perf_fail[:] = 0.0
        self.perf_done[:] = 0.0

    def _refresh_power(self) -> None:
        """Update data sharing, authority (formal) and influence (informal)."""
        if not hasattr(self, "_succ"):
            self._succ = np.zeros((self.n, self.n))
            self._fail = np.zeros((self.n, self.n))
            self._flow_step = np.zeros((self.n, self.n))
        view = self.view()
        boost = self.cfg.response.sharing_boost if self.shared_live else 0.0
        lv = np.zeros(self.n)
        for rule, ids in self._rule_groups():
            lv[ids] = ask_values(
                rule, "data_sharing", ids, view, self.week, 0.0, 1.0, "a number from 0 to 1"
            )
        self.sharing = np.clip(lv + boost, 0.0, 1.0)
        self.sharing[~self.active] = 0.0
        maxd = max(int(self.depth.max()), 1)
        rank = 1.0 - self.depth / maxd if self.hierarchy else np.zeros(self.n)
        bmax = self.budget.max()
        bud = self.budget / bmax if bmax > 0 else np.zeros(self.n)
        self.authority = np.where(self.active, 0.5 * rank + 0.5 * bud, 0.0)
        # Influence: PageRank on the trust-weighted tie network, scaled to max 1.
        T = self.trust
        deg = T.sum(axis=1)
        if deg.sum() <= 0:
            self.influence = np.zeros(self.n)
            return
        W = np.divide(T, deg[:, None], out=np.zeros_like(T), where=deg[:, None] > 0)
        pr = np.full(self.n, 1.0 / self.n)
        for _ in range(30):
            pr = 0.15 / self.n + 0.85 * (W.T @ pr + pr[deg <= 0].sum() / self.n)
        pr[deg <= 0] = 0.0
        self.influence = pr / pr.max() if pr.max() > 0 else pr

    # --- 9. record ----------------------------------------------------------------------
    def _stage_record(self, t: int, rec: dict[str, float]) -> None:
        rec["episodes_in_progress"] = float(len(self.episodes))
        rec["cost_connection"] += float(np.triu(self.trust > 0, 1).sum()) * 2 * self.tie_cost
        rec["cost_total"] = (
            rec["cost_direct"]
            + rec["cost_transaction"]
            + rec["cost_failure"]
            + rec["cost_connection"]
        )
        rec["qalys_net"] = rec["qalys_gained"] - rec["qalys_lost"]
        thr = self.cfg.costs.threshold_gbp_per_qaly
        rec["net_monetary_benefit"] = thr * rec["qalys_net"] - rec["cost_total"]
        ended = rec.pop("_ended")
        exp_sum = rec.pop("_exp_sum")
        rec["experience"] = exp_sum / ended if ended else float("nan")
        wait_sum = rec.pop("_wait_sum")
        rec["mean_wait_weeks"] = wait_sum / ended if ended else float("nan")
        cont = rec.pop("_continuity")
        shared = rec.pop("_shared")
        rec["continuity_index"] = cont / rec["handoffs"] if rec["handoffs"] else float("nan")
        rec["shared_records_share"] = shared / rec["handoffs"] if rec["handoffs"] else float("nan")
        tt = self.totals
        tt["ended"] += ended
        tt["ended_wait"] += wait_sum
        tt["exp_sum"] += exp_sum
        tt["on_time"] += rec["completed_on_time"]
        tt["continuity"] += cont
        tt["handoffs"] += rec["handoffs"]
        ids = self.service_ids[self.active[self.service_ids]]
        adj = self.trust[np.ix_(ids, ids)] > 0
        net = network_metrics(
            adj, self.budget[ids], self.depth[ids], self.authority[ids], self.influence[ids]
        )
        rec.update(net)
        has = self.trust > 0
        rec["mean_trust"] = float(self.trust[has].mean()) if has.any() else float("nan")
        rec["mean_data_sharing"] = float(self.sharing[ids].mean())
        emp = np.array([isinstance(self.orgs[i].rule, Empowerment) for i in ids])
        dom = np.array([isinstance(self.orgs[i].rule, Domination) for i in ids])
        rec["share_empowerment"] = float(emp.mean())
        rec["share_domination"] = float(dom.mean())
        rec["active_orgs"] = float(ids.size)
        rec["transaction_cost_share"] = (
            rec["cost_transaction"] / rec["cost_total"] if rec["cost_total"] else 0.0
        )
        rec["demand_multiplier"] = self.demand_mult
        rec["data_outage"] = float(self.outage)
        self.records.append(rec)

    # ======================================================================================
    # Outputs
    # ======================================================================================
    def summary(self) -> dict[str, float]:
        """Whole-run metrics (see the README for definitions)."""
        import pandas as pd

        df = pd.DataFrame(self.records)
        tt = self.totals
        N = self.pop.size
        years = max(len(df), 1) / 52.0
        s: dict[str, float] = {}
        for k in (
            "qalys_gained",
            "qalys_lost",
            "qalys_net",
            "cost_direct",
            "cost_transaction",
            "cost_failure",
            "cost_connection",
            "cost_total",
            "net_monetary_benefit",
            "episodes_started",
            "episodes_completed",
            "episodes_failed",
            "completed_on_time",
            "handoffs",
            "handoffs_failed",
            "handoffs_direct",
            "handoffs_broker",
            "handoffs_escalation",
            "handoffs_cold",
            "repeated_assessments",
            "emergency_admissions",
            "excess_bed_days",
            "contracts_signed",
            "inspections",
            "ties_formed",
            "ties_dropped",
            "ties_dissolved",
            "rule_switches",
        ):
            s[k] = float(df[k].sum()) if k in df else 0.0
        s["episodes_in_progress"] = float(len(self.episodes))
        s["emergency_admissions_per_1000"] = s["emergency_admissions"] / N * 1000 / years
        s["mean_wait_weeks"] = tt["ended_wait"] / tt["ended"] if tt["ended"] else float("nan")
        s["on_time_share"] = (
            s["completed_on_time"] / s["episodes_completed"]
            if s["episodes_completed"]
            else float("nan")
        )
        s["handoff_failure_rate"] = (
            s["handoffs_failed"] / s["handoffs"] if s["handoffs"] else float("nan")
        )
        s["continuity_index"] = (
            tt["continuity"] / tt["handoffs"] if tt["handoffs"] else float("nan")
        )
        s["experience_score"] = tt["exp_sum"] / tt["ended"] if tt["ended"] else float("nan")
        s["cost_per_qaly"] = (
            s["cost_total"] / s["qalys_net"] if s["qalys_net"] > 0 else float("nan")
        )
        s["transaction_cost_share"] = (
            s["cost_transaction"] / s["cost_total"] if s["cost_total"] else 0.0
        )
        s["threshold_gbp_per_qaly"] = self.cfg.costs.threshold_gbp_per_qaly
        for j, name in enumerate(STRATA):
            s[f"qalys_net_{name}"] = float(tt["strat_gain"][j] - tt["strat_loss"][j])
            st = tt["strat_started"][j]
            s[f"failed_share_{name}"] = float(tt["strat_failed"][j] / st) if st else float("nan")
        last = df.iloc[-1] if len(df) else {}
        for k in (
            *NETWORK_METRICS,
            "share_empowerment",
            "share_domination",
            "mean_trust",
            "mean_data_sharing",
        ):
            s[f"final_{k}" if k not in ("share_empowerment", "share_domination") else k] = (
                float(last[k]) if len(df) else float("nan")
            )
        return s

    def network_snapshot(self) -> dict[str, Any]:
        """The organisations and ties now.

        Nodes carry kind, locality, parent, depth, budget, authority, influence, data
        sharing, rule and degree; ties carry trust and whether records are shared.
        """
        nodes = [
            {
                "id": int(i),
                "kind": str(self.kinds[i]),
                "locality": int(self.org_locality[i]),
                "parent": int(self.parent[i]),
                "depth": int(self.depth[i]),
                "active": bool(self.active[i]),
                "budget": float(self.budget[i]),
                "authority": float(self.authority[i]),
                "influence": float(self.influence[i]),
                "sharing": float(self.sharing[i]),
                "rule": self.orgs[i].rule.name,
                "degree": int((self.trust[i] > 0).sum()),
            }
            for i in range(self.n)
        ]
        a, b = np.nonzero(np.triu(self.trust > 0, 1))
        thr = self.cfg.handoff.share_threshold
        ties = [
            {
                "a": int(x),
                "b": int(y),
                "trust": float(self.trust[x, y]),
                "shared_records": bool(self.sharing[x] >= thr and self.sharing[y] >= thr),
            }
            for x, y in zip(a, b, strict=True)
        ]
        return {"week": self.week, "nodes": nodes, "ties": ties}


HEADLINE_METRICS: tuple[str, ...] = (
    "qalys_gained",
    "qalys_lost",
    "qalys_net",
    "cost_total",
    "cost_direct",
    "cost_transaction",
    "cost_failure",
    "cost_connection",
    "net_monetary_benefit",
    "episodes_started",
    "episodes_completed",
    "episodes_failed",
    "emergency_admissions_per_1000",
    "mean_wait_weeks",
    "handoff_failure_rate",
    "continuity_index",
)
"""Summary metrics every finished run must have as finite numbers (see :func:`check_summary`)."""


def check_summary(summary: dict[str, Any]) -> None:
    """Refuse a summary whose headline metrics are not all finite numbers.

    Args:
        summary: A run's summary (:meth:`CareSystemModel.summary`).

    Raises:
        ResultError: Naming the first headline metric that is missing, NaN or infinite,
            and why where that is known (nothing to average over).
    """
    for key in HEADLINE_METRICS:
        v = summary.get(key)
        if isinstance(v, int | float | np.integer | np.floating) and math.isfinite(float(v)):
            continue
        ended = (summary.get("episodes_completed") or 0) + (summary.get("episodes_failed") or 0)
        why = "a value in the run was not a finite number"
        if key == "mean_wait_weeks" and ended == 0:
            why = "no care episode ended in the run: run more steps or a larger population"
        elif key in ("handoff_failure_rate", "continuity_index") and not summary.get("handoffs"):
            why = "no handoff happened in the run: run more steps or a larger population"
        raise ResultError(f"summary metric {key} is {v!r}, not a finite number ({why})")


def _bounded_rescale(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: float) -> np.ndarray:
    """Scale ``x`` to sum to ``total`` while keeping each value within [lo, hi].

    Values that hit a bound are fixed there and the rest rescaled, until none moves (the
    sum may miss ``total`` only when the bounds make it unreachable).
    """
    x = np.clip(x, lo, hi)
    free = np.ones(x.size, dtype=bool)
    for _ in range(x.size + 1):
        fixed_sum = x[~free].sum()
        fs = x[free].sum()
        if fs <= 0:
            break
        x[free] *= (total - fixed_sum) / fs
        hit = free & ((x < lo) | (x > hi))
        if not hit.any():
            break
        x = np.clip(x, lo, hi)
        free &= ~hit
    return x


def _broker_table(
    T: np.ndarray, has: np.ndarray, ks: np.ndarray, chunk: int = 1 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """Best broker per pair of organisations, without a Python loop over brokers.

    ``B[i, j]`` is the largest min(T[k, i], T[k, j]) over brokers k in ``ks`` tied to
    both, and ``K[i, j]`` the lowest-numbered k attaining it (-1: no broker). All
    (i, k, j) triples are listed at once, ``chunk`` at most at a time (their number is
    the sum of the brokers' squared degrees), in ascending k, so ties keep the first
    broker, exactly as a loop over k with a strict ``>`` would.
    """
    n = T.shape[0]
    B = np.zeros((n, n))
    K = np.full((n, n), -1, dtype=np.int64)
    if ks.size == 0:
        return B, K
    kk, nb = np.nonzero(has[ks])  # neighbours of each broker; brokers in ascending order
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
        m = np.minimum(T[k, a], T[k, b])
        pair = a * n + b
        order = np.lexsort((k, -m, pair))  # per pair: largest m, then lowest k
        ps = pair[order]
        first = order[np.r_[True, ps[1:] != ps[:-1]]]
        p, mv, kv = pair[first], m[first], k[first]
        better = mv > B.flat[p]  # earlier chunks hold lower k: they win ties
        B.flat[p[better]] = mv[better]
        K.flat[p[better]] = kv[better]
        lo = hi
    return B, K


class _Layout:
    """Adapter giving structure builders the layout fields of a model."""

    def __init__(self, m: CareSystemModel) -> None:
        self.kinds = list(m.kinds)
        self.locality = m.org_locality
        self.cover = m.cover
        self.size = m.size
        self.n = m.n


_REC_KEYS: tuple[str, ...] = (
    "episodes_started",
    "episodes_completed",
    "episodes_failed",
    "completed_on_time",
    "handoffs",
    "handoffs_failed",
    "handoffs_direct",
    "handoffs_broker",
    "handoffs_escalation",
    "handoffs_cold",
    "in_house_transfers",
    "repeated_assessments",
    "emergency_admissions",
    "excess_bed_days",
    "qalys_gained",
    "qalys_lost",
    "cost_direct",
    "cost_transaction",
    "cost_failure",
    "cost_connection",
    "contracts_signed",
    "inspections",
    "ties_formed",
    "ties_dropped",
    "ties_dissolved",
    "rule_switches",
    "shock_events",
    "waiting",
    "queue_length",
    "utilisation",
    "_exp_sum",
    "_wait_sum",
    "_ended",
    "_continuity",
    "_shared",
)
