"""What a named experiment is: its arms, replications and analysis, declared in YAML.

A named experiment is one YAML file shipped beside this module
(``experiments/<name>.yaml``, package data of ``carenet.experiments``)::

    description: one line, shown by `carenet experiment list`
    replications: 5          # per scenario of every arm (override: replications=N)
    seed: 12345              # the root seed (override: seed=N)
    base: [population=small] # overrides every run starts from (a user override replaces them)
    analysis: carenet.experiments.arrangements:analyse   # module:function, see runner
    arms:
      hierarchy:             # the arm's folder: OUT/arms/hierarchy/
        label: hierarchy + domination + bureaucratic
        overrides: [structure=hierarchy, power_rule=domination, response=bureaucratic]

Each arm is run as one sweep (:mod:`carenet.experiments.runner`); its overrides may sweep
values (``response=none,network``), or name a design (``design=pkg://carenet.experiments/
designs/NAME.yaml``, see :mod:`carenet.sim.design`: the arm's sweep is then the design's
points and its own arms), and the keys an arm sets are the experiment's design, so a user
override may not change them.

``quick: [KEY=VALUE ...]`` (optional) declares a small version, run with
``carenet experiment run NAME --quick`` (:func:`quick_version`): each override replaces
the same key in the arms or the base, or is added to the base; ``replications=N`` and
``seed=N`` set those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

PACKAGE = "carenet.experiments"
"""Where the declarations are installed."""

FIELDS = ("description", "replications", "seed", "base", "analysis", "arms", "quick")
"""The fields of a declaration."""

_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")


class ExperimentError(ValueError):
    """A named experiment cannot be loaded or run as asked; the message is one line."""


def override_key(override: str) -> str:
    """The key an override sets: ``structure`` for ``structure=network``, ``+x`` -> ``x``."""
    return override.split("=", 1)[0].strip().lstrip("+~")


@dataclass(frozen=True)
class Arm:
    """One arm of an experiment: a sweep of its own.

    Attributes:
        id: Short name, also its folder under ``OUT/arms/``.
        label: What the arm is, as printed in tables.
        overrides: Hydra overrides that make the arm (sweep syntax allowed).
    """

    id: str
    label: str
    overrides: tuple[str, ...]

    @property
    def keys(self) -> set[str]:
        """The keys this arm sets (the experiment's design)."""
        return {override_key(ov) for ov in self.overrides}


@dataclass(frozen=True)
class Experiment:
    """A named experiment as declared in its YAML file.

    Attributes:
        name: The file's stem (``carenet experiment run NAME``).
        description: One line.
        replications: Replications per scenario (default of ``replications=N``).
        seed: Root seed (default of ``seed=N``).
        base: Overrides every run starts from.
        analysis: ``module:function`` that turns the arms' runs into the experiment's
            tables (see :func:`carenet.experiments.runner.analyse`).
        arms: The arms, in declaration order.
    """

    name: str
    description: str
    replications: int
    seed: int
    base: tuple[str, ...]
    analysis: str
    arms: tuple[Arm, ...] = field(default_factory=tuple)
    quick: tuple[str, ...] = ()

    def arm(self, arm_id: str) -> Arm:
        """The arm called ``arm_id``."""
        for a in self.arms:
            if a.id == arm_id:
                return a
        raise KeyError(arm_id)


def names() -> list[str]:
    """The names of the installed experiments, sorted."""
    root = resources.files(PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load(name: str) -> Experiment:
    """Read and check the declaration of the experiment called ``name``.

    Raises:
        ExperimentError: If there is no such experiment or its file is not well formed
            (one line naming the file and the problem).
    """
    known = names()
    if name not in known:
        raise ExperimentError(
            f"experiment: {name!r} is not a named experiment; known: {', '.join(known)}"
        )
    where = f"{name}.yaml"
    try:
        data = yaml.safe_load(resources.files(PACKAGE).joinpath(where).read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExperimentError(f"{where}: cannot be read ({first})") from None
    return from_dict(name, data, where)


def from_dict(name: str, data: Any, where: str = "declaration") -> Experiment:
    """Build an :class:`Experiment` from its parsed YAML, checking every field.

    Raises:
        ExperimentError: One line naming the field that is wrong.
    """
    if not isinstance(data, dict):
        raise ExperimentError(f"{where}: expected a mapping of description, arms, ...")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ExperimentError(f"{where}: unknown field {unknown[0]!r}")
    reps, seed = data.get("replications", 1), data.get("seed", 12345)
    if not isinstance(reps, int) or isinstance(reps, bool) or reps < 1:
        raise ExperimentError(f"{where}: replications must be a whole number >= 1")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ExperimentError(f"{where}: seed must be a whole number")
    analysis = data.get("analysis")
    if not isinstance(analysis, str) or ":" not in analysis:
        raise ExperimentError(f"{where}: analysis must be 'module:function'")
    arms_data = data.get("arms")
    if not isinstance(arms_data, dict) or not arms_data:
        raise ExperimentError(f"{where}: arms must map arm names to label and overrides")
    arms = tuple(_arm(str(k), v, where) for k, v in arms_data.items())
    return Experiment(
        name=name,
        description=str(data.get("description", "")),
        replications=reps,
        seed=seed,
        base=_overrides(data.get("base") or [], f"{where}: base"),
        analysis=analysis,
        arms=arms,
        quick=_overrides(data.get("quick") or [], f"{where}: quick"),
    )


def quick_version(exp: Experiment) -> Experiment:
    """The experiment's small version (its ``quick`` overrides), named ``NAME-quick``.

    Raises:
        ExperimentError: If the experiment declares no quick version.
    """
    if not exp.quick:
        raise ExperimentError(f"--quick: experiment {exp.name!r} declares no quick version")
    quick = {override_key(ov): ov for ov in exp.quick}
    reps, seed = exp.replications, exp.seed
    for key, conv in (("replications", "reps"), ("seed", "seed")):
        if key in quick:
            value = quick.pop(key).split("=", 1)[1]
            if not value.strip().isdigit():
                raise ExperimentError(f"{exp.name}.yaml: quick: {key} must be a whole number")
            reps, seed = (int(value), seed) if conv == "reps" else (reps, int(value))
    arm_keys = {k for arm in exp.arms for k in arm.keys}
    arms = tuple(
        Arm(a.id, a.label, tuple(quick.get(override_key(ov), ov) for ov in a.overrides))
        for a in exp.arms
    )
    base = [quick.get(override_key(ov), ov) for ov in exp.base]
    have = {override_key(ov) for ov in base}
    base += [ov for k, ov in quick.items() if k not in arm_keys and k not in have]
    return Experiment(
        name=f"{exp.name}-quick",
        description=f"{exp.description} (quick version)",
        replications=reps,
        seed=seed,
        base=tuple(base),
        analysis=exp.analysis,
        arms=arms,
    )


def _arm(arm_id: str, data: Any, where: str) -> Arm:
    if not _ID.fullmatch(arm_id):
        raise ExperimentError(f"{where}: arm {arm_id!r}: use lower-case letters, digits, - or _")
    if not isinstance(data, dict) or "overrides" not in data:
        raise ExperimentError(f"{where}: arm {arm_id!r}: expected label and overrides")
    ovs = _overrides(data["overrides"], f"{where}: arm {arm_id!r}")
    return Arm(arm_id, str(data.get("label", arm_id)), ovs)


def _overrides(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise ExperimentError(f"{where}: expected a list of KEY=VALUE overrides")
    return tuple(value)
