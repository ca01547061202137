"""``carenet audit``: the effect audit. Which parameters change nothing, and where?

The audit perturbs every model parameter one at a time in each reference arrangement, on
a small economy, with common random numbers (the baseline and the perturbed run share
their seeds), and lists the parameters whose perturbation changes no summary metric.

**Perturbations.** A number goes to both ends of its declared range; an end further than
:data:`FACTOR` times (or 1/:data:`FACTOR`) from the arrangement's value is pulled in to
that factor (a validation bound such as 1e9 GBP is not a value to run), an end of 0 is
kept, and a number with no bound on a side goes to the factor. The economy's size
(:data:`SIZE_KEYS`) goes to x1/:data:`SIZE_FACTOR` and x:data:`SIZE_FACTOR` instead, so
the audit's run time stays bounded. A number list is perturbed one element at a time
(``key[i]``), each to its ends; a list that sums to 1 (a share vector) keeps its sum, the
other elements rescaled. A boolean is flipped; a named choice takes each other choice;
``response.components`` adds or removes each component (``response.components[NAME]``);
a list of names is emptied; a unit cost's ``gbp`` goes to 0 and x:data:`FACTOR`
(``costs.items.NAME.gbp``). Free text (names, import paths), structured lists (shocks,
pathways) and a user rule's arguments are not perturbed; the run keys are not model
parameters.

**Inert.** Under common random numbers a parameter that acts changes the numbers at once,
and one that does not act changes nothing: every summary metric is equal to the
baseline's within a relative tolerance of :data:`RTOL` (with NaN equal to NaN), on every
seed, at every end whose configuration is valid. That is the test: it needs no noise
estimate and cannot mistake a small real effect for none. With two seeds or more the CSV
also gives each perturbation's largest effect on a summary metric in units of that
metric's seed-to-seed standard deviation (``noise_ratio``), and the printout lists the
parameters that act but stay below that noise everywhere (for reading, not a failure).
A perturbation whose configuration is refused is ``invalid``; a run that raises is
``failed``; neither stops the audit.

**Explained.** An inert parameter is expected when the arrangement lacks what reads it: a
``response.*`` key of a component the response does not list (the components' ``params``
tuples), or a ``power_rule.*`` key that the arrangement's rules do not read (their
``config_keys``). Every other inert parameter must be declared in ``models/inert.yaml``
with the arrangement and the reason; the audit fails (exit code 1) on one that is not.
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import math
import os
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

ARRANGEMENTS: dict[str, tuple[str, ...]] = {
    "hierarchy": ("structure=hierarchy", "power_rule=domination", "response=bureaucratic"),
    "network": ("structure=network", "power_rule=empowerment", "response=network"),
    "default": (),
}
"""The reference arrangements, by name, as Hydra overrides."""

ECONOMY: tuple[str, ...] = ("population=small", "organisations=small")
"""The small economy the audit runs on (``population.size`` is set by ``--size``)."""

FACTOR = 10.0
"""Range ends further than this factor from the arrangement's value are pulled in to it."""

SIZE_FACTOR = 2.0
"""Factor for the keys that set the economy's size."""

SIZE_KEYS: tuple[str, ...] = (
    "population.size",
    "organisations.n_gp",
    "organisations.n_acute",
    "organisations.n_community",
    "organisations.n_mental_health",
    "organisations.n_social_care",
    "organisations.n_vcse",
)
"""Keys perturbed by :data:`SIZE_FACTOR` (their range ends would make runs far slower)."""

RTOL = 1e-9
"""Relative tolerance within which a summary metric counts as unchanged."""

DECLARATIONS = "inert.yaml"
"""The declaration file of documented inert parameters, in the ``carenet.models`` package."""

ALL = "all"
"""An arrangement name in the declaration file meaning every arrangement."""

_ASSIGNMENT_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "mixed": {"random": ("empower_share", "assign_by"), "kind": ("assign_by", "empowering_kinds")},
}
"""``power_rule.*`` keys that an assignment (not a rule) reads, by ``assign_by``; Adaptive
adds the ``imitation_*`` keys (it ``imitates``). Used where the class declares none."""


class AuditError(ValueError):
    """Bad input to the audit (an option or the declaration file); one line for the user."""


@dataclass(frozen=True)
class Perturbation:
    """One perturbed value of one parameter.

    Attributes:
        key: The audited key (``handoff.cold_fail``, ``population.stratum_shares[3]``,
            ``response.components[boards]``, ``costs.items.gp_consultation.gbp``).
        label: The perturbed value as text.
        path: Where the value goes in the composed configuration.
        value: The value put there (a whole list for a list element).
    """

    key: str
    label: str
    path: tuple[str, ...]
    value: Any


@dataclass
class Outcome:
    """One perturbation's effect in one arrangement, over the seeds.

    Attributes:
        arrangement: The reference arrangement's name.
        p: The perturbation.
        status: ``active``, ``inert``, ``invalid`` or ``failed``.
        changed: Summary metrics that changed (on any seed).
        largest: The metric with the largest relative change, and that change.
        noise_ratio: Largest |mean paired change| / seed-to-seed sd of a changed metric
            (NaN with one seed).
        message: Why it is invalid or failed.
    """

    arrangement: str
    p: Perturbation
    status: str
    changed: list[str] = field(default_factory=list)
    largest: tuple[str, float] = ("", 0.0)
    noise_ratio: float = math.nan
    message: str = ""


# ==========================================================================================
# Perturbations
# ==========================================================================================
def numeric_ends(key: str, value: float, meta: dict[str, Any], integer: bool) -> list[Any]:
    """The perturbed values of a number: its range ends, pulled in to :data:`FACTOR`.

    Args:
        key: The parameter's key (size keys use :data:`SIZE_FACTOR`).
        value: Its value in the arrangement.
        meta: Its declared metadata (``lo``, ``hi``).
        integer: Whether it is an integer.

    Returns:
        The distinct values to run, none equal to ``value``, each within the range.
    """
    lo, hi = meta.get("lo"), meta.get("hi")
    v = float(value)
    if key in SIZE_KEYS:
        ends = [v / SIZE_FACTOR, v * SIZE_FACTOR]
    else:
        ends = []
        for end, far in ((lo, v / FACTOR), (hi, v * FACTOR)):
            if end is None or (end != 0 and v != 0 and not v / FACTOR <= end <= v * FACTOR):
                end = far
            ends.append(float(end))
    out: list[Any] = []
    for e in ends:
        e = min(max(e, lo if lo is not None else e), hi if hi is not None else e)
        e = int(round(e)) if integer else e
        if integer and lo is not None and e < lo:
            e = int(math.ceil(lo))
        if e != value and e not in out:
            out.append(e)
    return out


def _element_values(base: list[float], i: int, end: float) -> list[float]:
    """``base`` with element ``i`` set to ``end``; a share vector keeps its sum of 1."""
    new = [float(x) for x in base]
    new[i] = float(end)
    if abs(sum(base) - 1.0) < 1e-9 and len(base) > 1:
        rest = sum(x for j, x in enumerate(base) if j != i)
        scale = (1.0 - end) / rest if rest > 0 else 0.0
        new = [new[i] if j == i else float(x) * scale for j, x in enumerate(base)]
    return new


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, bool):
        return str(x).lower()
    return str(x)


def _leaf_perturbations(key: str, f: Any, value: Any) -> list[Perturbation] | str:
    """The perturbations of one schema leaf, or the reason it is not perturbed."""
    from carenet.params import type_name

    meta = dict(f.metadata)
    t = type_name(f)
    path = tuple(key.split("."))
    if t == "bool":
        return [Perturbation(key, _fmt(not value), path, not value)]
    if t in ("int", "float"):
        ends = numeric_ends(key, value, meta, t == "int")
        return [Perturbation(key, _fmt(e), path, e) for e in ends] or "no value to move to"
    if t == "str":
        choices = meta.get("choices") or _named_choices(key)
        if not choices:
            return "free text (a name, label or import path)"
        return [Perturbation(key, c, path, c) for c in choices if c != value]
    if t == "list":
        return _list_perturbations(key, meta, value)
    if t == "dict" and key == "costs.items":
        return _cost_perturbations(value)
    return "a mapping (a user rule's arguments)"


def _named_choices(key: str) -> tuple[str, ...]:
    """Choices a string key takes that its metadata does not list (the rule registry)."""
    if key == "power_rule.name":
        from carenet.models.rules import RULES

        return tuple(RULES)
    return ()


def _list_perturbations(key: str, meta: dict[str, Any], value: list) -> list[Perturbation] | str:
    path = tuple(key.split("."))
    if key == "response.components":
        from carenet.models.responses import COMPONENTS

        out = []
        for name in COMPONENTS:
            new = [c for c in value if c != name] if name in value else [*value, name]
            sign = "-" if name in value else "+"
            out.append(Perturbation(f"{key}[{name}]", f"{sign}{name}", path, new))
        return out
    if value and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
        out = []
        for i, x in enumerate(value):
            for e in numeric_ends(key, x, meta, integer=False):
                new = _element_values(value, i, e)
                out.append(Perturbation(f"{key}[{i}]", _fmt(e), path, new))
        return out or "no value to move to"
    if value and all(isinstance(x, str) for x in value):
        return [Perturbation(key, "[]", path, [])]
    return "a structured list (shocks, pathways) or an empty list"


def _cost_perturbations(items: dict[str, Any]) -> list[Perturbation]:
    out = []
    for name, item in items.items():
        gbp = float(item["gbp"])
        key = f"costs.items.{name}.gbp"
        for e in dict.fromkeys(x for x in (0.0, gbp * FACTOR) if x != gbp):
            out.append(Perturbation(key, _fmt(e), ("costs", "items", name, "gbp"), e))
    return out


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def perturbations(data: dict[str, Any]) -> tuple[list[Perturbation], dict[str, str]]:
    """Every perturbation of a composed configuration's model parameters.

    Args:
        data: The arrangement's composed configuration (plain dicts).

    Returns:
        The perturbations, in schema order, and the keys not perturbed with the reason.
    """
    from carenet.models.schema import CarenetConfig
    from carenet.params import iter_params
    from carenet.sim.modelspec import RUN_KEYS

    out: list[Perturbation] = []
    skipped: dict[str, str] = {}
    for key, f in iter_params(CarenetConfig):
        if key in RUN_KEYS:
            continue
        got = _leaf_perturbations(key, f, _get(data, tuple(key.split("."))))
        if isinstance(got, str):
            skipped[key] = got
        else:
            out.extend(got)
    return out, skipped


def with_value(data: dict[str, Any], p: Perturbation) -> dict[str, Any]:
    """A deep copy of ``data`` with the perturbed value in place."""
    new = copy.deepcopy(data)
    node = new
    for part in p.path[:-1]:
        node = node[part]
    node[p.path[-1]] = copy.deepcopy(p.value)
    return new


# ==========================================================================================
# Which keys an arrangement cannot read (recognised automatically)
# ==========================================================================================
def rule_keys(pr: Any) -> set[str]:
    """The ``power_rule.*`` keys the arrangement's power rule (or assignment) reads."""
    from carenet.models.power import PowerRule
    from carenet.models.rules import RULES

    entry = RULES.get(pr.name)
    if pr._target_ or entry is None:
        return set(_all_rule_keys())
    if issubclass(entry, PowerRule):
        return set(entry.config_keys.values())
    keys = set(RULES["domination"].config_keys.values()) | set(
        RULES["empowerment"].config_keys.values()
    )
    own = getattr(entry, "config_keys", None)
    if own:
        return keys | set(own.values() if isinstance(own, dict) else own)
    keys |= set(_ASSIGNMENT_KEYS["mixed"].get(pr.assign_by, ()))
    if getattr(entry, "imitates", False):
        keys |= {"imitation_rate", "imitation_noise", "imitation_weeks"}
    return keys


def _all_rule_keys() -> set[str]:
    from carenet.models.power import PowerRule
    from carenet.models.rules import RULES

    keys = {"imitation_rate", "imitation_noise", "imitation_weeks"}
    for entry in RULES.values():
        if issubclass(entry, PowerRule):
            keys |= set(entry.config_keys.values())
    for by in _ASSIGNMENT_KEYS["mixed"].values():
        keys |= set(by)
    return keys


def automatic_reason(key: str, cfg: Any) -> str:
    """Why ``key`` cannot act in this configuration (a component or rule absent), or ``""``."""
    from carenet.models.responses import COMPONENTS

    group, _, rest = key.partition(".")
    name = rest.split("[")[0]
    if group == "response":
        owners = [c.name for c in COMPONENTS.values() if name in c.params]
        if owners and not any(o in cfg.response.components for o in owners):
            return f"component {' or '.join(owners)} is not in the response"
    if group == "power_rule" and name in _all_rule_keys() and name not in rule_keys(cfg.power_rule):
        rule = cfg.power_rule._target_ or cfg.power_rule.name
        detail = f", assign_by={cfg.power_rule.assign_by}" if rule in _ASSIGNMENT_KEYS else ""
        return f"the power rule {rule}{detail} does not read it"
    return ""


# ==========================================================================================
# Declarations (models/inert.yaml)
# ==========================================================================================
def load_declarations(text: str | None = None) -> dict[str, dict[str, str]]:
    """The documented inert parameters: ``{key: {arrangement or "all": reason}}``.

    Args:
        text: YAML text (default: ``models/inert.yaml`` of the installed package).

    Raises:
        AuditError: When the file is not a mapping of keys to arrangements and reasons.
    """
    import yaml

    if text is None:
        text = resources.files("carenet.models").joinpath(DECLARATIONS).read_text("utf-8")
    data = yaml.safe_load(text) or {}
    where = f"models/{DECLARATIONS}"
    if not isinstance(data, dict):
        raise AuditError(f"{where}: expected a mapping of parameter keys")
    out: dict[str, dict[str, str]] = {}
    for key, by in data.items():
        if not isinstance(by, dict) or not by:
            raise AuditError(f"{where}: {key}: expected a mapping of arrangement: reason")
        for arr, why in by.items():
            if arr != ALL and arr not in ARRANGEMENTS:
                allowed = ", ".join([ALL, *ARRANGEMENTS])
                raise AuditError(f"{where}: {key}: {arr!r} is not an arrangement; one of {allowed}")
            if not isinstance(why, str) or not why.strip():
                raise AuditError(f"{where}: {key}.{arr}: the reason must be non-empty text")
        out[str(key)] = {str(a): " ".join(str(w).split()) for a, w in by.items()}
    return out


def declared_reason(decl: dict[str, dict[str, str]], key: str, arrangement: str) -> str:
    """The declared reason ``key`` is inert in ``arrangement``, or ``""``."""
    by = decl.get(key, {})
    return by.get(arrangement) or by.get(ALL, "")


def inert_notes(decl: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """For the parameter list: ``{schema key: "inert in A, B: reason; ..."}``.

    Holds the declared reasons (a list element's or a unit cost's on its schema key, the
    element named) and the automatic ones: a response component's parameter or a power
    rule's parameter in the reference arrangements that lack it.
    """
    decl = load_declarations() if decl is None else decl
    notes: dict[str, dict[tuple[str, str], list[str]]] = {}
    for key, by in decl.items():
        base = "costs.items" if key.startswith("costs.items.") else key.split("[")[0]
        part = key.removeprefix(base).lstrip(".")
        for arr, why in by.items():
            notes.setdefault(base, {}).setdefault((part, why.rstrip(".")), []).append(
                "every arrangement" if arr == ALL else arr
            )
    from carenet.models.schema import CarenetConfig
    from carenet.params import iter_params

    configs = _reference_configs()
    for key, _ in iter_params(CarenetConfig):
        for arr, cfg in configs.items():
            why = automatic_reason(key, cfg)
            if why:
                notes.setdefault(key, {}).setdefault(("", why), []).append(arr)
    return {
        k: "; ".join(
            (f"`{part}` " if part else "") + f"inert in {', '.join(arrs)}: {why}"
            for (part, why), arrs in by.items()
        )
        for k, by in notes.items()
    }


@functools.cache
def _reference_configs() -> dict[str, Any]:
    """Each reference arrangement's validated configuration (default economy)."""
    from carenet.sim.config import load_config

    return {arr: load_config(list(ov)) for arr, ov in ARRANGEMENTS.items()}


# ==========================================================================================
# Running
# ==========================================================================================
@dataclass
class Audit:
    """What an audit ran and found.

    Attributes:
        outcomes: Every perturbation's outcome, in order.
        skipped: Keys not perturbed and why.
        runs: Number of model runs (baselines included).
        seconds: Wall time.
        seeds: The run seeds (common to baseline and perturbed runs).
        configs: Each arrangement's baseline configuration.
    """

    outcomes: list[Outcome]
    skipped: dict[str, str]
    runs: int
    seconds: float
    seeds: list[int]
    configs: dict[str, Any]


def economy(
    arrangement: str, size: int, steps: int, overrides: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The composed configuration of a reference arrangement on the audit's economy.

    ``overrides`` (Hydra overrides) come last, e.g. ``warmup_weeks=0`` for short runs.
    """
    from carenet.sim.config import compose

    fixed = [*ECONOMY, f"population.size={size}", f"steps={steps}", *overrides]
    return compose([*ARRANGEMENTS[arrangement], *fixed, "progress=false", "figures=false"])


def _summary(cfg: Any, seed: int) -> dict[str, float] | str:
    """One run's summary, or the one-line reason it failed."""
    from carenet.sim.runner import simulate

    try:
        return simulate(cfg, seed=seed).summary
    except Exception as exc:  # a failed run is a finding, not a crash of the audit
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{type(exc).__name__}: {first}"


def _same(a: Any, b: Any, rtol: float) -> bool:
    if a is None or b is None:
        return a is b
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-300


def _rel(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) == math.isnan(b) else math.inf
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > 0 else 0.0


def compare(
    base: list[dict[str, float]], pert: list[dict[str, float]], rtol: float = RTOL
) -> tuple[list[str], tuple[str, float], float]:
    """How perturbed summaries differ from their paired baselines.

    Args:
        base: Baseline summaries, one per seed.
        pert: Perturbed summaries, same seeds, same order.
        rtol: Relative tolerance of "unchanged".

    Returns:
        The metrics that changed on any seed, the metric with the largest relative
        change and that change, and the largest noise ratio of a changed metric (its
        |mean paired change| over its seed-to-seed sd; NaN with one seed).
    """
    changed: list[str] = []
    largest = ("", 0.0)
    for m in base[0]:
        diffs = [not _same(b.get(m), p.get(m), rtol) for b, p in zip(base, pert, strict=True)]
        if any(diffs):
            changed.append(m)
            rel = max(_rel(float(b[m]), float(p[m])) for b, p in zip(base, pert, strict=True))
            if rel > largest[1]:
                largest = (m, rel)
    return changed, largest, _noise_ratio(base, pert, tuple(changed))


def _noise_ratio(base: list[dict], pert: list[dict], metrics: tuple[str, ...]) -> float:
    """Largest |mean paired change| / sd across the baseline's seeds, over ``metrics``."""
    import numpy as np

    if len(base) < 2:
        return math.nan
    ratio = 0.0
    for m in metrics:
        b = np.array([float(s[m]) for s in base])
        p = np.array([float(s[m]) for s in pert])
        if not (np.isfinite(b).all() and np.isfinite(p).all()):
            continue
        change, sd = abs(float((p - b).mean())), float(b.std(ddof=1))
        if change > 0:
            ratio = max(ratio, change / sd if sd > 0 else math.inf)
    return ratio


def _matches(key: str, only: list[str] | None) -> bool:
    if not only:
        return True
    base = key.split("[")[0]
    return any(key == o or base == o or key.startswith(o.rstrip(".") + ".") for o in only)


def _plan(
    arrangements: list[str],
    size: int,
    steps: int,
    only: list[str] | None,
    overrides: tuple[str, ...] = (),
) -> tuple[list[tuple[str, Perturbation | None, Any]], dict[str, Any], dict[str, str]]:
    """What to run, in order: per arrangement its baseline (``None``), then each perturbation.

    Each entry holds the validated configuration, or the one-line reason it is invalid.
    Also returns each arrangement's baseline configuration and the keys not perturbed.
    """
    from carenet.params import ConfigError
    from carenet.sim.config import validate

    todo: list[tuple[str, Perturbation | None, Any]] = []
    configs: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for arr in arrangements:
        data = economy(arr, size, steps, overrides)
        configs[arr] = validate(copy.deepcopy(data))
        todo.append((arr, None, configs[arr]))
        perts, skip = perturbations(data)
        skipped.update({k: v for k, v in skip.items() if _matches(k, only)})
        for p in perts:
            if not _matches(p.key, only):
                continue
            try:
                todo.append((arr, p, validate(with_value(data, p))))
            except (ConfigError, ValueError) as exc:
                todo.append((arr, p, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    if only and len(todo) == len(arrangements) and not skipped:
        raise AuditError(
            f"--only: {' '.join(only)!r} matches no model parameter; give keys such as "
            "handoff.cold_fail or a group such as response"
        )
    return todo, configs, skipped


def run_audit(
    arrangements: list[str] | None = None,
    size: int = 20_000,
    steps: int = 104,
    seeds: int = 2,
    jobs: int = 1,
    only: list[str] | None = None,
    rtol: float = RTOL,
    quick: bool = False,
    overrides: tuple[str, ...] = (),
) -> Audit:
    """Perturb every model parameter one at a time in each arrangement, paired by seed.

    Args:
        arrangements: Names from :data:`ARRANGEMENTS` (default: all three).
        size: Population of the small economy.
        steps: Weeks each run lasts.
        seeds: Seeds per configuration (the same for the baseline and every perturbation).
        jobs: Worker processes (joblib, loky; 1 runs in this process, -1 every core).
        only: Audit only these keys or groups.
        rtol: Relative tolerance of "unchanged".
        quick: Run a key's other values only if its first valid value changed nothing
            (the verdicts are the same; the other values' effects are not measured).
        overrides: Hydra overrides applied to every arrangement (e.g. ``warmup_weeks=0``).

    Returns:
        Every perturbation's outcome (under ``quick``, those that ran).
    """
    from carenet.sim.sweep import replication_seeds

    t0 = time.perf_counter()
    arrangements = list(arrangements or ARRANGEMENTS)
    todo, configs, skipped = _plan(arrangements, size, steps, only, tuple(overrides))
    run_seeds = replication_seeds(int(todo[0][2].seed), seeds)
    valid = [i for i, (_, _, cfg) in enumerate(todo) if not isinstance(cfg, str)]
    first: dict[tuple[str, str], int] = {}
    for i in valid:
        arr, p, _ = todo[i]
        first.setdefault((arr, p.key if p else ""), i)
    phase1 = sorted(first.values()) if quick else valid
    results = _execute(todo, phase1, run_seeds, jobs)
    outcomes = _outcomes(todo, results, rtol)
    if quick:
        acted = {(o.arrangement, o.p.key) for o in outcomes if o.status == "active"}
        rest = [i for i in valid if i not in results and (todo[i][0], todo[i][1].key) not in acted]
        results.update(_execute(todo, rest, run_seeds, jobs))
        outcomes = _outcomes(todo, results, rtol)
    runs = len(results) * len(run_seeds)
    return Audit(outcomes, skipped, runs, time.perf_counter() - t0, run_seeds, configs)


def _execute(todo: list, idx: list[int], run_seeds: list[int], jobs: int) -> dict[int, list]:
    """Run entries ``idx`` of the plan on every seed: ``{index: [summary or failure]}``."""
    runs = [(todo[i][2], s) for i in idx for s in run_seeds]
    if jobs == 1:
        flat = [_summary(cfg, s) for cfg, s in runs]
    else:
        from joblib import Parallel, delayed

        flat = Parallel(n_jobs=jobs, backend="loky")(delayed(_summary)(c, s) for c, s in runs)
    k = len(run_seeds)
    return {i: flat[j * k : (j + 1) * k] for j, i in enumerate(idx)}


def _outcomes(todo: list, results: dict[int, list], rtol: float) -> list:
    """The outcome of every planned perturbation that ran or was refused, in plan order."""
    outcomes: list[Outcome] = []
    base: list[Any] = []
    for i, (arr, p, cfg) in enumerate(todo):
        if isinstance(cfg, str):
            outcomes.append(Outcome(arr, p, "invalid", message=cfg))
        elif p is None:
            base = results[i]
        elif i in results:
            outcomes.append(_outcome(arr, p, base, results[i], rtol))
    return outcomes


def _outcome(arr: str, p: Perturbation, base: list, res: list, rtol: float) -> Outcome:
    failed = next((r for r in [*base, *res] if isinstance(r, str)), None)
    if failed is not None:
        return Outcome(arr, p, "failed", message=failed)
    changed, largest, ratio = compare(base, res, rtol)
    return Outcome(arr, p, "active" if changed else "inert", changed, largest, ratio)


# ==========================================================================================
# Findings, printout, CSV, command
# ==========================================================================================
@dataclass
class Finding:
    """One parameter's verdict in one arrangement, over all its perturbed values.

    Attributes:
        arrangement: The arrangement's name.
        key: The audited key.
        verdict: ``active`` (some valid value changed a summary metric), ``inert`` (no
            valid value did) or ``untestable`` (no value was valid and ran).
        why: For an inert key: the automatic or declared reason (empty: undocumented).
        explained: ``automatic``, ``declared`` or ``""``.
        below_noise: Active, but every change below the seed-to-seed noise (2+ seeds).
        stale: Declared inert here, but found active.
    """

    arrangement: str
    key: str
    verdict: str
    why: str = ""
    explained: str = ""
    below_noise: bool = False
    stale: bool = False


def findings(audit: Audit, decl: dict[str, dict[str, str]] | None = None) -> list[Finding]:
    """Each audited key's verdict per arrangement, with the reason where it is inert."""
    decl = load_declarations() if decl is None else decl
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in audit.outcomes:
        groups.setdefault((o.arrangement, o.p.key), []).append(o)
    out = []
    for (arr, key), outs in groups.items():
        active = [o for o in outs if o.status == "active"]
        declared = declared_reason(decl, key, arr)
        if active:
            quiet = len(audit.seeds) > 1 and all(o.noise_ratio < 1.0 for o in active)
            out.append(Finding(arr, key, "active", below_noise=quiet, stale=bool(declared)))
        elif any(o.status == "inert" for o in outs):
            auto = automatic_reason(key, audit.configs[arr])
            why, how = (auto, "automatic") if auto else (declared, "declared" if declared else "")
            out.append(Finding(arr, key, "inert", why, how))
        else:
            out.append(Finding(arr, key, "untestable"))
    return out


def report(audit: Audit, found: list[Finding], size: int, steps: int) -> str:
    """The audit's printout: what ran, the inert parameters and what is wrong."""
    arrs = list(dict.fromkeys(o.arrangement for o in audit.outcomes)) or list(audit.configs)
    lines = [
        f"carenet audit: {len(arrs)} arrangement(s) x {len(audit.seeds)} seed(s), "
        f"population {size:,}, {steps} weeks: {audit.runs:,} runs in {audit.seconds:.0f} s",
        f"inert: no summary metric changed at any valid value, on any seed (relative "
        f"tolerance {RTOL:g}, common random numbers)",
    ]
    for arr in arrs:
        mine = [f for f in found if f.arrangement == arr]
        lines += ["", f"{arr} ({' '.join(ARRANGEMENTS[arr]) or 'the defaults'}):"]
        auto: dict[str, list[str]] = {}
        for f in mine:
            if f.verdict == "inert" and f.explained == "automatic":
                auto.setdefault(f.why, []).append(f.key)
            elif f.verdict == "inert":
                mark = "  documented:" if f.explained else "  UNDOCUMENTED:"
                lines.append(f"{mark} {f.key}" + (f" ({f.why})" if f.why else ""))
        for why, keys in auto.items():
            lines.append(f"  expected ({why}): {', '.join(keys)}")
        for f in mine:
            if f.stale:
                lines.append(f"  declared inert but active (update models/{DECLARATIONS}): {f.key}")
            if f.verdict == "untestable":
                lines.append(f"  untestable (no valid value ran): {f.key}")
        quiet = [f.key for f in mine if f.below_noise]
        if quiet:
            lines.append(f"  active, but below seed-to-seed noise: {', '.join(quiet)}")
    lines += _problems(audit, found)
    return "\n".join(lines)


def _problems(audit: Audit, found: list[Finding]) -> list[str]:
    failed = [o for o in audit.outcomes if o.status == "failed"]
    lines = [""]
    for o in failed:
        lines.append(f"run failed: {o.arrangement} {o.p.key}={o.p.label}: {o.message}")
    bad = [f for f in found if f.verdict == "inert" and not f.explained]
    if bad:
        lines.append(
            f"{len(bad)} undocumented inert parameter(s): fix the mechanism or declare it in "
            f"models/{DECLARATIONS} with the arrangement and the reason"
        )
    else:
        lines.append("every inert parameter is explained")
    return lines


CSV_COLUMNS = (
    "arrangement",
    "key",
    "value",
    "status",
    "verdict",
    "why",
    "metrics_changed",
    "largest_metric",
    "largest_rel_change",
    "noise_ratio",
    "message",
)
"""Columns of the ``--out`` CSV: one row per perturbation."""


def write_csv(path: Path, audit: Audit, found: list[Finding]) -> None:
    """Write one row per perturbation to ``path``, atomically (a temporary file, renamed)."""
    verdicts = {(f.arrangement, f.key): f for f in found}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS)
            for o in audit.outcomes:
                f = verdicts[(o.arrangement, o.p.key)]
                w.writerow(
                    [o.arrangement, o.p.key, o.p.label, o.status, f.verdict, f.why]
                    + [len(o.changed), o.largest[0], f"{o.largest[1]:.6g}"]
                    + [f"{o.noise_ratio:.6g}", o.message]
                )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected an integer >= 1")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; expected -1 or >= 1")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``carenet audit``."""
    p.add_argument(
        "--arrangement",
        action="append",
        choices=list(ARRANGEMENTS),
        help="audit only this reference arrangement (repeat for more; default: all three)",
    )
    p.add_argument("--size", type=_positive, default=20_000, help="population (default 20000)")
    p.add_argument("--steps", type=_positive, default=104, help="weeks per run (default 104)")
    p.add_argument("--seeds", type=_positive, default=2, help="seeds per run (default 2)")
    p.add_argument(
        "--jobs", type=_jobs, default=1, help="worker processes (joblib; -1: every core)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="CSV",
        help="write one row per perturbation to this CSV file",
    )
    p.add_argument("--only", nargs="+", metavar="KEY", help="audit only these keys or groups")
    p.add_argument(
        "--quick",
        action="store_true",
        help="stop at a key's first value that acts (same verdicts, fewer runs; the CSV then "
        "lacks the other values)",
    )


def cmd_audit(args: argparse.Namespace) -> int:
    """Run the audit and print it; exit code 1 if an inert parameter is undocumented."""
    from carenet.params import ConfigError

    if args.out is not None and args.out.is_dir():
        print(
            f"carenet: error: --out: {str(args.out)!r} is a folder; give a CSV file path",
            file=sys.stderr,
        )
        return 2
    try:
        decl = load_declarations()
        audit = run_audit(
            args.arrangement,
            args.size,
            args.steps,
            args.seeds,
            args.jobs,
            args.only,
            quick=args.quick,
        )
    except (AuditError, ConfigError) as exc:
        print(f"carenet: error: {exc}", file=sys.stderr)
        return 2
    found = findings(audit, decl)
    print(report(audit, found, args.size, args.steps))
    if args.out is not None:
        try:
            write_csv(args.out, audit, found)
        except OSError as exc:
            print(
                f"carenet: error: --out: cannot write {str(args.out)!r}: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
        print(f"every perturbation's effect: {args.out}")
    return 1 if any(f.verdict == "inert" and not f.explained for f in found) else 0
