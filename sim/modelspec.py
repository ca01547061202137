"""Which model the engine runs: ``model=NAME`` or ``model._target_=package.module:Spec``.

The engine knows a model only through a :class:`carenet.spec.ModelSpec`. This module
finds the spec an override names (never importing a model until it is named), owns the
run keys every model gets (:class:`RunKeys`), and makes the schema a configuration is
validated against: the model's schema plus the run keys it does not declare itself.

A configuration of a model other than the default records it under the top-level key
``model`` (its selector), so that a sweep's jobs, a run's manifest and ``reproduce`` all
know which model they are; the default model's configurations hold no such key, so their
identities are what they were before models were selectable.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import sys
from dataclasses import dataclass, fields
from typing import Any

from carenet.params import ConfigError, P, field_default
from carenet.spec import ModelSpec

MODEL_KEY = "model"
"""Top-level key naming the model (absent for the default model)."""

DEFAULT_MODEL = "carenet"

SPEC_GROUP = "carenet.specs"
"""Entry-point group of the models known by name (``model=NAME``; see pyproject.toml)."""


def named_models() -> dict[str, str]:
    """The models known by name and their targets (``package.module:Spec``)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=SPEC_GROUP)}


@dataclass
class RunKeys:
    """The engine's run keys: every model's configuration has them."""

    seed: int = P(12345, lo=0, hi=2**63 - 1, doc="Root seed of all random streams.")
    steps: int = P(260, lo=1, hi=5200, unit="weeks", doc="Number of weekly steps to run.")
    out: str = P("", doc="Output folder (default: a new dated folder under outputs/).")
    overwrite: bool = P(False, doc="Replace a finished result already in out.")
    progress: bool = P(True, doc="Show a progress bar.")
    figures: bool = P(
        True,
        doc="Draw figures/overview.png for the run (sweeps default to false: their figures "
        "come from carenet report).",
    )
    replications: int = P(
        1,
        lo=1,
        hi=100000,
        unit="runs",
        doc="Replications: seeds spawned from the root seed with numpy SeedSequence.",
    )


RUN_KEYS: tuple[str, ...] = tuple(f.name for f in fields(RunKeys))


def run_keys(cfg: Any) -> RunKeys:
    """The run keys of a validated configuration."""
    return RunKeys(**{k: getattr(cfg, k) for k in RUN_KEYS})


_TARGET = re.compile(r"^[A-Za-z_][\w.]*(:|\.)[A-Za-z_]\w*$")
_SPECS: dict[str, ModelSpec] = {}


def _import_spec(selector: str, target: str) -> ModelSpec:
    mod_s, _, name = target.rpartition(":") if ":" in target else target.rpartition(".")
    key = "model._target_" if selector == target else "model"
    try:
        module = importlib.import_module(mod_s)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{key}: {selector!r}: cannot import the module {mod_s!r} ({first}); expected "
            "'package.module:SpecClass' naming a carenet.spec.ModelSpec"
        ) from None
    obj = getattr(module, name, None)
    if obj is None:
        raise ConfigError(f"{key}: {selector!r}: the module {mod_s!r} has no {name!r}")
    spec = obj() if isinstance(obj, type) else obj
    missing = [a for a in ("name", "schema", "metrics", "build") if not hasattr(spec, a)]
    if missing or not dataclasses.is_dataclass(getattr(spec, "schema", None)):
        what = f"it lacks {', '.join(missing)}" if missing else "its schema is not a dataclass"
        raise ConfigError(
            f"{key}: {selector!r} is not a model spec ({what}); subclass carenet.spec.BaseSpec"
        )
    return spec


def load_spec(selector: str = "") -> ModelSpec:
    """The spec a selector names: ``""`` (the default), a name, or ``package.module:Spec``.

    Raises:
        ConfigError: One line naming the selector and what is allowed.
    """
    selector = selector or DEFAULT_MODEL
    if selector not in _SPECS:
        names = named_models()
        if selector in names:
            target = names[selector]
        elif _TARGET.match(selector) and ("." in selector or ":" in selector):
            target = selector
        else:
            raise ConfigError(
                f"model: {selector!r} is not a known model; allowed: {', '.join(names)}, "
                "or model._target_=package.module:SpecClass"
            )
        _SPECS[selector] = _import_spec(selector, target)
    return _SPECS[selector]


def split_model(overrides: list[str]) -> tuple[str, list[str]]:
    """Take the model's selection out of a list of overrides.

    Returns:
        The selector (``""`` for the default model) and the other overrides.

    Raises:
        ConfigError: If two overrides select different models, or one selects none.
    """
    selector = ""
    rest: list[str] = []
    for ov in overrides:
        key, eq, value = ov.partition("=")
        bare = key.lstrip("+")
        if bare not in (MODEL_KEY, f"{MODEL_KEY}._target_"):
            rest.append(ov)
            continue
        value = value.strip().strip("'\"")
        if not eq or not value:
            raise ConfigError(f"{bare}: give a model, e.g. model=boltzmann")
        if "," in value:
            raise ConfigError(f"{bare}: {value!r}: one model per command; models cannot be swept")
        if selector and value != selector:
            raise ConfigError(f"{bare}: {value!r}: another override already chose {selector!r}")
        selector = value
    if selector == DEFAULT_MODEL:
        selector = ""
    return selector, rest


_SCHEMAS: dict[str, type] = {}


def run_schema(selector: str = "") -> type:
    """The schema a configuration of this model is validated against.

    The model's schema with the engine's run keys (:class:`RunKeys`) added where it does
    not declare them: a subclass, so ``isinstance(cfg, spec.schema)`` holds, whose run keys
    come first (as ``seed``, ``steps``... lead a configuration file) and whose own
    declarations of a run key, if any, are kept.
    """
    selector = selector or ""
    if selector in _SCHEMAS:
        return _SCHEMAS[selector]
    schema = load_spec(selector).schema
    own = {f.name for f in fields(schema)}
    safe = re.sub(r"\W", "_", selector or DEFAULT_MODEL)
    keys = dataclasses.make_dataclass(
        f"RunKeys_{safe}",
        [
            (f.name, f.type, dataclasses.field(default=field_default(f), metadata=f.metadata))
            for f in fields(RunKeys)
            if f.name not in own
        ],
        module=__name__,
    )
    # Fields are collected from the last base to the first: the run keys come first.
    cls = dataclasses.make_dataclass(
        f"Run_{safe}",
        [],
        bases=(schema, keys),
        namespace={"_carenet_model": selector},
        module=__name__,
    )
    for c in (keys, cls):  # picklable by name in this process
        setattr(sys.modules[__name__], c.__name__, c)
    _SCHEMAS[selector] = cls
    return cls


def selector_of(cfg: Any) -> str:
    """The selector of a validated configuration (``""`` for the default model)."""
    return str(getattr(type(cfg), "_carenet_model", ""))


def spec_of(cfg: Any) -> ModelSpec:
    """The spec of a validated configuration."""
    return load_spec(selector_of(cfg))


def __getattr__(name: str) -> type:
    """Make a run schema on first use by name (``Run_carenet``...).

    A pickled configuration then loads in a fresh process (a launcher's worker) before
    any configuration was made there.
    """
    kind, _, safe = name.partition("_")
    if kind in ("Run", "RunKeys") and safe:
        if safe == DEFAULT_MODEL:
            run_schema("")
        elif safe in named_models():
            run_schema(safe)
        if name in globals():
            return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
