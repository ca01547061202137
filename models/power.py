"""Power rules: how an organisation uses power.

A power rule is the policy by which an organisation decides which ties to seek, keep or
drop (within its relationship time), whom to refer to, how much data to share, whether to
demand escalation/approval for a handoff, and how it bids for and shares budget.

Every rule implements :class:`PowerRule`. The model asks each organisation's rule through a
read-only :class:`RuleView` of the system; rules never draw random numbers (the model does,
from its named streams), so a rule's decisions are a pure function of what it sees.

Rules are chosen by name from :data:`RULES` (``power_rule=domination``) or, for a rule
written outside carenet, by import path (``power_rule._target_=my_rules.Cautious`` or
``power_rule._target_=/path/to/rules.py:Cautious``).

``mixed`` and ``adaptive`` are not rules but *assignments*: they give each organisation
``domination`` or ``empowerment`` (at random or by kind); ``adaptive`` also lets
organisations imitate better-performing partners during the run (see the model's
learning stage).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .errors import RuleError


@dataclass
class RuleView:
    """What a rule may see of the system at one step (arrays indexed by organisation id).

    Attributes:
        kind: Kind name per organisation.
        active: Whether each organisation is still operating.
        service: Whether each organisation serves patients.
        branch: Branch per organisation (ancestor below the root); equal = same branch.
        locality: Home locality per organisation.
        local_weight: [org, org] referral weight: the locality bias where the second
            covers the first's home locality, else 1.
        capacity: Total service capacity per organisation (concurrent episodes).
        queue_ratio: Queue length over capacity, per organisation.
        expected_wait: Weeks a newly referred patient would wait in each organisation's
            queue (queue length over the episodes it finishes per week).
        budget: Annual budget per organisation (GBP).
        need: Annualised cost of the demand each organisation saw recently (GBP).
        authority: Formal power score in [0, 1] (position and budget).
        influence: Informal power score in [0, 1] (trust-weighted centrality).
        tie: [org, org] trust on each tie (0 = no tie).
        route_cost: [org, org] expected cost (GBP) of one handoff by the best open route,
            priced as the accounting charges it (:class:`~carenet.models.ledger.Prices`).
        alt_cost: [org, org] expected cost of one handoff by the best route that is not a
            direct tie.
        new_tie_cost: [org, org] expected cost of one handoff over a new direct tie.
        flow: [org, org] recent handoffs per week between each pair (both directions).
        tie_cost: Cost (GBP/week) of keeping one tie, for one end.
        wait_cost: Cost (GBP) of one week of waiting over the whole episode mix, bed days
            apart (a summary figure; ``wait_price`` is what each pair's week costs).
        hierarchy: Whether hierarchy lines exist.
        wait_price: [org, org] cost (GBP) of one week's wait of a patient handed from the
            first to the second, as the accounting charges it (health loss, emergency
            hazard, and bed days where the handoff leaves an acute bed).
    """

    kind: np.ndarray
    active: np.ndarray
    service: np.ndarray
    branch: np.ndarray
    locality: np.ndarray
    local_weight: np.ndarray
    capacity: np.ndarray
    queue_ratio: np.ndarray
    expected_wait: np.ndarray
    budget: np.ndarray
    need: np.ndarray
    authority: np.ndarray
    influence: np.ndarray
    tie: np.ndarray
    route_cost: np.ndarray
    alt_cost: np.ndarray
    new_tie_cost: np.ndarray
    flow: np.ndarray
    tie_cost: float
    wait_cost: float
    hierarchy: bool
    wait_price: np.ndarray | None = None


class PowerRule:
    """Interface of a power rule. Subclass it and override the decisions you change.

    The defaults describe a neutral organisation: it refers in proportion to capacity
    (locally), seeks no ties, shares data at level 0.5, never demands escalation, bids its
    current budget and does not pool.

    Class attributes:
        name: Readable name (used in outputs).
        classifier: Traits, Axelrod-style, e.g. ``{"shares_data": True}``.
    """

    name: ClassVar[str] = "neutral"
    classifier: ClassVar[dict[str, Any]] = {
        "seeks": "nothing",
        "shares_data": False,
        "pools_budget": False,
        "demands_escalation": False,
    }

    config_keys: ClassVar[dict[str, str]] = {}
    """Constructor argument -> the ``power_rule.*`` key it is read from (registered rules)."""

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    @classmethod
    def from_config(cls, pr: Any) -> PowerRule:
        """The rule as a configuration's ``power_rule`` group sets it."""
        return cls(**{arg: getattr(pr, key) for arg, key in cls.config_keys.items()})

    # --- identity -------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Return what rebuilds this rule: its class path and parameters."""
        cls = type(self)
        return {"class": f"{cls.__module__}.{cls.__qualname__}", "params": dict(self.params)}

    @classmethod
    def rebuild(cls, description: dict[str, Any]) -> PowerRule:
        """Rebuild a rule from :meth:`describe`'s output."""
        return cls(**description["params"])

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params == other.params  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, repr(sorted(self.params.items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # --- decisions --------------------------------------------------------------------
    def data_sharing(self, org: int, view: RuleView) -> float:
        """Share of its records the organisation makes available, in [0, 1]."""
        return 0.5

    def referral_weights(self, org: int, view: RuleView) -> np.ndarray:
        """Relative weight of referring a patient to each organisation (any >= 0 array).

        The model keeps only organisations offering the needed service and normalises.
        """
        return view.capacity * view.local_weight[org]

    def demands_escalation(self, org: int, view: RuleView) -> np.ndarray:
        """Boolean array: handoffs to these organisations must go through the hierarchy."""
        return np.zeros(len(view.kind), dtype=bool)

    def tie_scores(self, org: int, view: RuleView) -> np.ndarray:
        """Value (GBP/week) of having a tie with each organisation; <= 0 means not worth it."""
        return np.zeros(len(view.kind))

    def budget_bid(self, org: int, view: RuleView) -> float:
        """Claim on next year's budget (GBP; allocation is proportional to bids)."""
        return float(view.budget[org])

    def pools_budget(self, org: int, view: RuleView) -> bool:
        """Whether the organisation joins a pooled budget when one is offered."""
        return False

    # --- vectorised forms (override for speed; results must match the per-org forms) ---
    def referral_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Rows of :meth:`referral_weights` for several organisations."""
        return np.array([self.referral_weights(int(o), view) for o in orgs], dtype=float)

    def escalation_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Rows of :meth:`demands_escalation` for several organisations."""
        if type(self).demands_escalation is PowerRule.demands_escalation:
            return np.zeros((len(orgs), len(view.kind)), dtype=bool)
        return np.array([self.demands_escalation(int(o), view) for o in orgs], dtype=bool)

    def tie_score_matrix(self, orgs: np.ndarray, view: RuleView) -> np.ndarray:
        """Rows of :meth:`tie_scores` for several organisations."""
        if type(self).tie_scores is PowerRule.tie_scores:
            return np.zeros((len(orgs), len(view.kind)))
        return np.array([self.tie_scores(int(o), view) for o in orgs], dtype=float)


def load_target(target: str) -> type[PowerRule]:
    """Import a user-written rule class from ``pkg.module.Class`` or ``file.py:Class``.

    Raises:
        ValueError: With a one-line reason if it cannot be loaded or is not a PowerRule.
    """
    if ":" in target:
        path_s, cls_name = target.rsplit(":", 1)
        path = Path(path_s).expanduser()
        if not path.is_file():
            raise ValueError(f"power_rule._target_: file {str(path)!r} does not exist")
        # A stable module name (same in every process, new if the file changes), loaded
        # once per process, so rules pickle and compare equal across loads and workers.
        digest = hashlib.sha1(str(path.resolve()).encode() + b"\0" + path.read_bytes())
        mod_name = f"carenet_user_rule_{digest.hexdigest()[:16]}"
        module = sys.modules.get(mod_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise ValueError(f"power_rule._target_: cannot import {str(path)!r}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise ValueError(
                    f"power_rule._target_: importing {str(path)!r} failed: {exc}"
                ) from None
    else:
        if "." not in target:
            raise ValueError(
                f"power_rule._target_: {target!r} is not 'package.module.Class' or 'file.py:Class'"
            )
        mod_s, cls_name = target.rsplit(".", 1)
        try:
            module = importlib.import_module(mod_s)
        except Exception as exc:
            raise ValueError(f"power_rule._target_: cannot import {mod_s!r}: {exc}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        where = repr(str(path)) if ":" in target else repr(mod_s)
        raise ValueError(f"power_rule._target_: {where} has no class {cls_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, PowerRule)):
        raise ValueError(
            f"power_rule._target_: {target!r} is not a subclass of carenet.models.power.PowerRule"
        )
    return cls


# --- asking a rule: the one place where rule calls are made and their answers checked ---


def rule_failure(exc: BaseException) -> str:
    """An exception a rule raised, as ``Type: first line of its message``."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _show(value: Any) -> str:
    """A short text of an offending value (type and repr, at most about 60 characters)."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({value.dtype}): {text}"
    return text


# Each vectorised form and the per-organisation decision it stacks.
ROW_FORMS: dict[str, str] = {
    "referral_matrix": "referral_weights",
    "escalation_matrix": "demands_escalation",
    "tie_score_matrix": "tie_scores",
}


def _method_name(rule: PowerRule, method: str) -> str:
    """The per-organisation name when the rule's matrix form is the default one calling it."""
    base = getattr(PowerRule, method, None)
    if method in ROW_FORMS and getattr(type(rule), method) is base:
        return ROW_FORMS[method]
    return method


def _defined_in(cls: type, name: str) -> int:
    """Position in ``cls``'s MRO of the class that defines ``name`` (0: ``cls`` itself)."""
    return next(i for i, k in enumerate(cls.__mro__) if name in vars(k))


def asks_per_org(rule: PowerRule, method: str) -> bool:
    """Whether a vectorised decision must be asked one organisation at a time.

    So when the per-organisation form (``referral_weights``, ``demands_escalation``,
    ``tie_scores``) is defined in a more derived class than the vectorised one: a rule
    that overrides only the per-organisation form, directly or in a subclass of a
    built-in rule, is asked that form, never a vectorised form it did not write.
    """
    cls = type(rule)
    return _defined_in(cls, ROW_FORMS[method]) < _defined_in(cls, method)


def ask_rows(
    rule: PowerRule,
    method: str,
    ids: np.ndarray,
    view: RuleView,
    week: int,
    *,
    kind: str,
) -> np.ndarray:
    """Ask a rule's vectorised decision (:data:`ROW_FORMS`) for organisations ``ids``.

    A rule whose vectorised form is as derived as its per-organisation form (the
    built-in rules define both; the neutral defaults) is asked once for all ``ids``; a
    rule that overrides only the per-organisation form is asked once per organisation
    (:func:`asks_per_org`), so that its answers are used and a bad one names the
    organisation it was about.

    Returns:
        One row per id, as :func:`ask_array` checks and converts it.

    Raises:
        RuleError: If the rule raises, or an answer has the wrong type, shape or values.
    """
    n = len(view.kind)
    if not asks_per_org(rule, method):
        one = int(ids[0]) if len(ids) == 1 else None
        return ask_array(rule, method, ids, view, week, (len(ids), n), kind=kind, org=one)
    per_org = ROW_FORMS[method]
    rows = [ask_array(rule, per_org, int(i), view, week, (n,), kind=kind, org=int(i)) for i in ids]
    return np.array(rows).reshape(len(ids), n)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(
        v, bool | np.bool_
    )


def ask_values(
    rule: PowerRule,
    method: str,
    ids: np.ndarray,
    view: RuleView,
    week: int,
    lo: float,
    hi: float,
    expected: str,
) -> np.ndarray:
    """Ask a rule's per-organisation number (``data_sharing``, ``budget_bid``) for each id.

    Args:
        rule: The rule.
        method: The method's name.
        ids: Organisations to ask about.
        view: What the rule sees.
        week: Week of the run (for messages).
        lo: Smallest value allowed.
        hi: Largest value allowed.
        expected: What is allowed, in words (for messages).

    Returns:
        The answers as floats, one per id.

    Raises:
        RuleError: If the rule raises, or an answer is not a finite number in [lo, hi].
    """
    fn = getattr(rule, method)
    vals: list[Any] = []
    org = -1
    try:
        for org in ids:
            vals.append(fn(int(org), view))
    except Exception as exc:
        raise RuleError(rule, method, f"raised {rule_failure(exc)}", int(org), week) from exc
    arr = np.array(vals) if vals else np.zeros(0)
    if (
        arr.dtype.kind in "iuf"
        and arr.shape == (len(vals),)
        and np.isfinite(arr).all()
        and ((arr >= lo) & (arr <= hi)).all()
    ):
        return arr.astype(float)
    for org, v in zip(ids, vals, strict=True):
        if not (_is_number(v) and math.isfinite(float(v)) and lo <= float(v) <= hi):
            raise RuleError(
                rule, method, f"returned {_show(v)}; expected {expected}", int(org), week
            )
    return arr.astype(float)  # pragma: no cover (a mixture numpy could not type)


def ask_flag(rule: PowerRule, method: str, org: int, view: RuleView, week: int) -> bool:
    """Ask a rule's yes/no decision (``pools_budget``) about one organisation.

    Raises:
        RuleError: If the rule raises or answers other than true or false.
    """
    try:
        v = getattr(rule, method)(org, view)
    except Exception as exc:
        raise RuleError(rule, method, f"raised {rule_failure(exc)}", org, week) from exc
    if not isinstance(v, bool | np.bool_):
        raise RuleError(rule, method, f"returned {_show(v)}; expected True or False", org, week)
    return bool(v)


def ask_array(
    rule: PowerRule,
    method: str,
    first: Any,
    view: RuleView,
    week: int,
    shape: tuple[int, ...],
    *,
    kind: str,
    org: int | None = None,
) -> np.ndarray:
    """Ask a rule for an array (referral weights, escalation flags, tie scores) and check it.

    Args:
        rule: The rule.
        method: ``referral_matrix``, ``demands_escalation``, ``tie_scores``, or a
            vectorised form (:data:`ROW_FORMS`).
        first: The first argument (an organisation id, or an array of them).
        view: What the rule sees.
        week: Week of the run (for messages).
        shape: The shape the answer must have.
        kind: ``"weights"`` (finite, >= 0, with a finite sum per row), ``"flags"`` (true or
            false, or 0/1) or ``"scores"`` (finite numbers).
        org: The organisation asked about, for messages.

    Returns:
        The answer as a float array (``weights``, ``scores``) or a boolean array.

    Raises:
        RuleError: If the rule raises, or the answer has the wrong type, shape or values.
    """
    name = _method_name(rule, method)
    try:
        value = getattr(rule, method)(first, view)
    except Exception as exc:
        raise RuleError(rule, name, f"raised {rule_failure(exc)}", org, week) from exc
    expected = {
        "weights": "finite weights >= 0",
        "flags": "True/False values",
        "scores": "finite numbers",
    }[kind]
    want = f"an array of shape {shape} of {expected}"
    try:
        arr = np.asarray(value)
    except Exception:
        arr = None
    if arr is None or arr.dtype.kind not in "biuf" or arr.shape != shape:
        raise RuleError(rule, name, f"returned {_show(value)}; expected {want}", org, week)
    if kind == "flags":
        if arr.dtype.kind != "b" and not np.isin(arr, (0, 1)).all():
            raise RuleError(rule, name, f"returned {_show(value)}; expected {want}", org, week)
        return arr.astype(bool)
    arr = arr.astype(float)
    bad = ~np.isfinite(arr)
    if kind == "weights":
        bad |= arr < 0
    if bad.any():
        at = tuple(int(x) for x in np.argwhere(bad)[0])
        where = f"[{', '.join(map(str, at))}]"
        raise RuleError(
            rule, name, f"returned {float(arr[at])!r} at {where}; expected {want}", org, week
        )
    if kind == "weights" and not np.isfinite(arr.sum(axis=-1)).all():
        raise RuleError(
            rule, name, f"returned weights too large to add up; expected {want}", org, week
        )
    return arr


# The built-in rules and the registry live in carenet.models.rules; re-exported here, where
# user code and the engine have always imported them from.
from .rules import RULES, Domination, Empowerment  # noqa: E402

__all__ = [
    "RULES",
    "Domination",
    "Empowerment",
    "PowerRule",
    "RuleView",
    "ask_array",
    "ask_flag",
    "ask_rows",
    "ask_values",
    "asks_per_org",
    "load_target",
    "rule_failure",
]
