"""The integrated care system model: organisations (Mesa agents) and patients (arrays).

:class:`CareSystemModel` builds one integrated care system and runs its weeks. The state
is in :mod:`~carenet.models.state`; every cost and QALY goes through the
:mod:`~carenet.models.ledger`; the metrics are declared in :mod:`~carenet.models.registry`;
the response is composed of components (:mod:`~carenet.models.responses`) and the power
rules are registered in :mod:`~carenet.models.rules`. ``docs/model.md`` (the ODD
description) gives the mechanisms and their sources.

The stages of one week, in order (one module each in :mod:`carenet.models.stages`):

1. **shocks**: start or end scheduled shocks (demand surge, budget cut, organisation
   failure, data-sharing outage).
2. **governance**: the response's fixed activities (shared-records investment and go-live,
   boards, inspections, hub funding) and, every 52 weeks, the budget allocation by the
   organisations' rules (capture, need, pooling).
3. **demand**: a few patients progress one stratum; new care episodes arise, pick a
   pathway and enter the queue of their first provider.
4. **waiting**: episodes in transit count down; every waiting episode accrues a week of
   wait, health loss, emergency hazard and excess bed days.
5. **admission**: queues are served first-come first-served up to free capacity.
6. **service**: episodes in service incur direct cost; finished steps complete or move on.
7. **handoffs**: referral target by the referrer's rule; the cheapest open route;
   failure, delay and repeated assessment drawn per episode.
8. **learning**: trust, ties, imitation, data sharing, authority and influence.
9. **record**: the week's metrics are appended to :attr:`CareSystemModel.records`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from carenet.models.schema import CarenetConfig

from . import state
from .ledger import Ledger
from .mesa_core import mesa
from .organisation import Organisation
from .outputs import check_summary, network_snapshot, summary
from .population import build_population
from .power import PowerRule, RuleView
from .registry import REC_KEYS
from .responses import Response
from .rules import assignment
from .shocks import shock_window
from .stages import STAGES, Stage
from .stages.learning import performance, refresh_power, tie_budget
from .state import Episodes
from .streams import Streams

StageHook = Callable[[str, float], None]
"""Called as ``hook(stage_name, seconds)`` after each stage (and ``"build"``)."""

__all__ = ["CareSystemModel", "Episodes", "check_summary"]


class CareSystemModel(mesa.Model):
    """One integrated care system under a structure, power rule, response and scenario.

    Args:
        config: A validated configuration (see :func:`carenet.sim.config.load_config`).
        seed: Run seed; defaults to ``config.seed``. All randomness comes from named
            streams derived from it (:class:`~carenet.models.streams.Streams`).
        on_stage: Timing hook, called as ``on_stage(name, seconds)`` after the build and
            after each stage; defaults to the class attribute :attr:`stage_timer`.

    Attributes:
        records: One dict of metrics per completed step.
        stages: The week's stages, in order (:data:`carenet.models.stages.STAGES`).
        ledger: Every cost and QALY charged (:class:`~carenet.models.ledger.Ledger`).
    """

    stage_timer: ClassVar[StageHook | None] = None
    """A process-wide timing hook (benchmarks set it); ``on_stage`` overrides it."""

    def __init__(
        self, config: CarenetConfig, seed: int | None = None, on_stage: StageHook | None = None
    ) -> None:
        t0 = time.perf_counter()
        self.on_stage = on_stage or type(self).stage_timer
        self.cfg = config
        self.seed_value = int(config.seed if seed is None else seed)
        self.streams = Streams(self.seed_value)
        super().__init__(rng=self.streams.seed_for("mesa"))
        self.week = 0
        self.response = Response(config.response)
        state.build_organisations(self)
        state.build_pathways(self)
        state.build_structure(self)
        self._assign_rules()
        self.pop = build_population(
            config.population,
            self.gp_ids,
            self.org_locality[self.gp_ids],
            self.size[self.gp_ids],
            self.streams.get("population"),
        )
        state.calibrate_capacity(self)
        self.episodes = Episodes()
        state.init_state(self)
        self.ledger = Ledger(config, self.pop)
        self.shocks = [
            dict(s, at_week=start, duration_weeks=dur)
            for s in config.scenario.shocks
            for start, dur in [shock_window(s, config.steps)]
        ]
        self.records: list[dict[str, float]] = []
        self.stages: list[Stage] = [cls(self) for cls in STAGES]
        refresh_power(self)
        self.initial_snapshot = self.network_snapshot()
        if self.on_stage is not None:
            self.on_stage("build", time.perf_counter() - t0)

    def _assign_rules(self) -> None:
        self.assignment = assignment(self.cfg.power_rule)
        u = self.streams.get("rules").random(self.n)  # drawn whatever the rule: aligned
        rules = self.assignment.assign(self.kinds, u)
        self.orgs: list[Organisation] = [
            Organisation(self, i, str(self.kinds[i]), rules[i]) for i in range(self.n)
        ]

    # --- the week ---------------------------------------------------------------------
    def step(self) -> None:
        """Advance the system by one week: each stage of :attr:`stages` in order."""
        t = self.week
        rec: dict[str, float] = dict.fromkeys(REC_KEYS, 0.0)
        rec["week"] = t
        self.ledger.open(rec)
        hook = self.on_stage
        for stage in self.stages:
            if hook is None:
                stage.run(t, rec)
            else:
                s = time.perf_counter()
                stage.run(t, rec)
                hook(stage.name, time.perf_counter() - s)
        self.week += 1

    def run(self, steps: int, callback: Any = None) -> None:
        """Run ``steps`` weeks, calling ``callback(model)`` after each if given."""
        for _ in range(steps):
            self.step()
            if callback is not None:
                callback(self)

    def stage(self, name: str) -> Stage:
        """The stage called ``name``."""
        return next(s for s in self.stages if s.name == name)

    # --- what rules see -----------------------------------------------------------------
    def rule_groups(self) -> list[tuple[PowerRule, np.ndarray]]:
        """Service organisations grouped by the rule object they follow (in id order).

        Built once and kept until an organisation is given a rule (imitation rounds;
        counted by :attr:`Organisation.rule_changes`), since every stage that asks a
        rule something asks it by group.
        """
        key = Organisation.rule_changes
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

    def view(self) -> RuleView:
        """Return the read-only view that power rules decide on."""
        ec = getattr(self, "ec_best", None)
        if ec is None:
            ec = np.zeros((self.n, self.n))
        alt = getattr(self, "ec_alt", ec)
        scale = 52.0 / max(self.demand_weeks_n, 1)
        need = (self.demand_weeks * self.line_cost_week[None, :]).sum(axis=1) * scale
        return RuleView(
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
            route_cost=self._finite(ec),
            alt_cost=self._finite(alt),
            new_tie_cost=getattr(self, "ec_new", np.zeros((self.n, self.n))),
            flow=self.flow,
            tie_cost=float(self.ledger.tie_cost),
            wait_cost=self.ledger.wait_cost,
            hierarchy=self.hierarchy,
            wait_price=getattr(self, "ec_wait", None),
        )

    def _finite(self, table: np.ndarray) -> np.ndarray:
        """``table`` with closed routes (inf) at 1e9, as rules see it; kept per table object.

        The route tables are new arrays each time they are computed, so a view asked for
        again before the next computation reuses the converted copy.
        """
        cache = self.__dict__.setdefault("_finite_cache", {})
        hit = cache.get(id(table))
        if hit is not None and hit[0] is table:
            return hit[1]
        out = np.where(np.isfinite(table), table, 1e9)
        out.setflags(write=False)
        if len(cache) > 8:
            cache.clear()
        cache[id(table)] = (table, out)
        return out

    def tie_budget(self) -> np.ndarray:
        """Ties each organisation can keep (see :func:`~.stages.learning.tie_budget`)."""
        return tie_budget(self)

    def performance(self) -> np.ndarray:
        """Recent performance per organisation (see :func:`~.stages.learning.performance`)."""
        return performance(self)

    @property
    def hour_gbp(self) -> float:
        """Cost of one professional hour (the ledger's price)."""
        return self.ledger.hour_gbp

    # --- outputs ------------------------------------------------------------------------
    def summary(self) -> dict[str, float]:
        """Whole-run metrics (see :mod:`carenet.models.registry`)."""
        return summary(self)

    def network_snapshot(self) -> dict[str, Any]:
        """The organisations and ties now (see :func:`~.outputs.network_snapshot`)."""
        return network_snapshot(self)
