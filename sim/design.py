"""Experiment designs: a YAML design file, its checks, and its sample points.

``carenet run -m design=FILE.yaml [KEY=VALUE ...] out=DIR`` runs a design as a sweep: every
sample point (and, with ``arms``, every point under every arm) becomes one scenario of the
sweep plan (:func:`carenet.sim.sweep.plan_sweep`), so a design gets the same validation
before anything runs, resume after a kill, failure records, launchers and ``collect`` as
any sweep. A design file (documented in ``docs/designs.md``)::

    method: sobol            # sobol (Saltelli), morris, lhs or factorial
    n: 1024                  # sobol: base samples N; morris: trajectories; lhs: points
    second_order: false      # sobol only: also sample for second-order indices
    levels: 4                # morris only: grid levels
    sampler_seed: 1          # seed of the sampler (scrambling, trajectories)
    base: [model=ishigami, steps=1]    # overrides every run starts from
    parameters:
      x1: {type: real, low: -3.14159, high: 3.14159}
      n: {type: integer, low: 1, high: 8}
      kind: {type: categorical, values: [a, b, c]}
      w: {type: real, levels: [0.1, 0.5]}      # factorial: the levels to cross
    arms:                    # optional: each point under each arm, with the same seeds
      network: [structure=network, power_rule=empowerment, response=network]
      hierarchy: [structure=hierarchy, power_rule=domination, response=bureaucratic]

Samples come from SALib (Sobol: ``SALib.sample.sobol``, Saltelli's scheme with a
scrambled Sobol' sequence; Morris: ``SALib.sample.morris``) and ``scipy.stats.qmc``
(Latin hypercube), all drawn on the unit hypercube and then mapped onto each parameter:
a real parameter linearly onto ``[low, high]``; an integer one onto ``low..high`` (each
whole number an equal share of the unit interval); a categorical one onto its values
(equal shares). The unit sample is what the analysis uses (:func:`problem`), so indices
do not depend on a parameter's units.

A ``psa`` design (probabilistic sensitivity analysis, docs/health-economics.md) gives each
parameter a distribution instead (``{dist: beta, alpha: 2, beta: 98, source: ...}``;
:data:`DISTRIBUTIONS`); its points are draws from the named stream ``"psa"`` of the root
seed (:func:`psa_generator`), mapped through the inverse CDFs.

Each point's values are recorded in the sweep folder's ``design.json``; a run of the
sweep finds its point there by the hidden sweep key ``design_point`` (see
:func:`point_overrides`), so the launch is one Hydra multirun per arm over
``design_point=range(0,N)`` and ``replication``, whatever the launcher.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from carenet.params import ConfigError

DESIGN_KEY = "design"
"""The override that names a design file: ``design=FILE.yaml``."""

PSA_KEY = "psa"
"""The override that runs a PSA of ``N`` draws: ``psa=N`` (the shipped design, or with
``design=FILE.yaml`` of method psa, that design with ``n`` set to N)."""

PSA_DESIGN = "pkg://carenet.configs/psa/default.yaml"
"""The shipped PSA design that ``psa=N`` runs when no ``design=`` is given."""

POINT_KEY = "design_point"
"""Hidden sweep key: the index of a run's sample point in ``design.json``."""

ARM_KEY = "arm"
"""The swept key naming a design's arm in ``sweep.json`` and ``runs.parquet``."""

DESIGN_FILE = "design.json"
"""The design's record in its sweep folder: parameters, unit sample, values, arms."""

METHODS = ("sobol", "morris", "lhs", "factorial", "psa")
KINDS = ("real", "integer", "categorical")
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "beta": ("alpha", "beta"),
    "gamma": ("mean", "sd"),
    "lognormal": ("mean", "sd"),
    "normal": ("mean", "sd"),
    "uniform": ("low", "high"),
}
"""A PSA parameter's distributions and their fields (``mean``/``sd`` of the variable)."""
PSA_STREAM = "psa"
"""The named stream a PSA's draws come from (seeded from the root seed, as a run's are)."""
FIELDS = ("method", "n", "second_order", "levels", "sampler_seed", "base", "parameters", "arms")
SOBOL_MIN_N = 256
"""Below this many base samples, Sobol indices are flagged as too small a sample."""
MORRIS_MIN_N = 10
"""Below this many trajectories, Morris measures are flagged as too small a sample."""
RUN_SEED_DEFAULT = 12345
"""The run keys' default root seed (``carenet.sim.modelspec.RunKeys.seed``)."""
_ARM_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class Param:
    """One parameter of a design.

    Attributes:
        name: The configuration key it sets (dotted, e.g. ``costs.tie_upkeep``).
        kind: ``real``, ``integer`` or ``categorical``.
        low: Lower bound (real, integer).
        high: Upper bound (real, integer).
        values: The categories (categorical), or the levels to cross (factorial).
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    dist: tuple[float, ...] = ()
    source: str = ""

    def from_unit(self, u: np.ndarray) -> list[Any]:
        """Map unit-interval values onto this parameter (a PSA's: by its inverse CDF)."""
        if self.kind in DISTRIBUTIONS:
            return [float(x) for x in _frozen(self.kind, self.dist).ppf(np.asarray(u, float))]
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if self.kind == "real":
            assert self.low is not None and self.high is not None
            return [float(x) for x in self.low + u * (self.high - self.low)]
        if self.kind == "integer":
            assert self.low is not None and self.high is not None
            lo, k = int(self.low), int(self.high) - int(self.low) + 1
            return [lo + min(int(math.floor(x * k)), k - 1) for x in u]
        k = len(self.values)
        return [self.values[min(int(math.floor(x * k)), k - 1)] for x in u]


@dataclass(frozen=True)
class Design:
    """A design as declared: how to sample, which parameters, which arms.

    Attributes:
        method: ``sobol``, ``morris``, ``lhs`` or ``factorial``.
        n: Base samples (sobol), trajectories (morris) or points (lhs).
        parameters: The parameters, in declaration order.
        arms: Arm id -> overrides; empty for a design without arms.
        base: Overrides every run starts from.
        second_order: Sobol: sample for second-order indices too.
        levels: Morris grid levels.
        sampler_seed: Seed of the sampler.
        source: Where the design was read from (for messages).
    """

    method: str
    n: int
    parameters: tuple[Param, ...]
    arms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    base: tuple[str, ...] = ()
    second_order: bool = False
    levels: int = 4
    sampler_seed: int = 1
    source: str = "design"

    @property
    def names(self) -> list[str]:
        """The parameters' keys, in order."""
        return [p.name for p in self.parameters]


def _fail(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{DESIGN_KEY}: {where}: {msg}")


def _whole(value: Any, where: str, lo: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise _fail(where, f"{value!r} is not allowed; expected a whole number >= {lo}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"{value!r} is not allowed; expected a finite number")
    return float(value)


def _param(name: str, data: Any, method: str, where: str) -> Param:
    w = f"{where}: parameters.{name}"
    if not isinstance(data, dict):
        raise _fail(w, "expected a mapping with type and low/high, values or levels")
    unknown = sorted(set(data) - {"type", "low", "high", "values", "levels"})
    if unknown:
        raise _fail(w, f"unknown field {unknown[0]!r}; allowed: type, low, high, values, levels")
    kind = data.get("type", "real")
    if kind not in KINDS:
        raise _fail(f"{w}.type", f"{kind!r} is not allowed; expected one of {', '.join(KINDS)}")
    if kind == "categorical" or (method == "factorial" and "levels" in data):
        key = "values" if kind == "categorical" else "levels"
        vals = data.get(key)
        if not isinstance(vals, list) or len(vals) < 1 + (kind == "categorical"):
            raise _fail(f"{w}.{key}", f"{vals!r} is not allowed; expected a list of values")
        if kind != "categorical":
            vals = [_number(v, f"{w}.levels") for v in vals]
            vals = [int(v) for v in vals] if kind == "integer" else vals
        return Param(name, kind, values=tuple(vals))
    if method == "factorial":
        raise _fail(w, "a factorial design needs levels: [...] for a real or integer parameter")
    low, high = _number(data.get("low"), f"{w}.low"), _number(data.get("high"), f"{w}.high")
    if not low < high:
        raise _fail(w, f"low ({low:g}) must be below high ({high:g})")
    if kind == "integer" and (low != int(low) or high != int(high)):
        raise _fail(w, "an integer parameter needs whole-number low and high")
    return Param(name, kind, low, high)


def _frozen(kind: str, a: tuple[float, ...]) -> Any:
    """The scipy distribution of a PSA parameter (gamma, log-normal from mean and sd)."""
    from scipy import stats

    if kind == "beta":
        return stats.beta(a[0], a[1])
    if kind == "gamma":  # shape (mean/sd)^2, scale sd^2/mean
        return stats.gamma((a[0] / a[1]) ** 2, scale=a[1] ** 2 / a[0])
    if kind == "lognormal":  # the variable's mean and sd -> the log's mu and sigma
        s2 = math.log(1.0 + (a[1] / a[0]) ** 2)
        return stats.lognorm(math.sqrt(s2), scale=a[0] / math.sqrt(1.0 + (a[1] / a[0]) ** 2))
    if kind == "normal":
        return stats.norm(a[0], a[1])
    return stats.uniform(a[0], a[1] - a[0])


def _psa_param(name: str, data: Any, where: str) -> Param:
    """A PSA parameter: ``{dist: beta, alpha: .., beta: .., source: ..}`` and the like."""
    w = f"{where}: parameters.{name}"
    if not isinstance(data, dict):
        raise _fail(w, "expected a mapping with dist, its fields and source")
    dist = data.get("dist")
    if dist not in DISTRIBUTIONS:
        raise _fail(
            f"{w}.dist", f"{dist!r} is not allowed; expected one of {', '.join(DISTRIBUTIONS)}"
        )
    need = DISTRIBUTIONS[dist]
    unknown = sorted(set(data) - {"dist", "source", *need})
    if unknown:
        raise _fail(w, f"unknown field {unknown[0]!r}; a {dist} takes {', '.join(need)}, source")
    src = data.get("source")
    if not isinstance(src, str) or not src.strip():
        raise _fail(f"{w}.source", "state the distribution's source or rationale")
    a = tuple(_number(data.get(k), f"{w}.{k}") for k in need)
    positive = dist in ("beta", "gamma", "lognormal")
    if (positive and min(a) <= 0) or (dist == "normal" and a[1] <= 0):
        raise _fail(w, f"{dict(zip(need, a, strict=True))} is not allowed; expected values above 0")
    if dist == "uniform" and not a[0] < a[1]:
        raise _fail(w, f"low ({a[0]:g}) must be below high ({a[1]:g})")
    return Param(name, dist, dist=a, source=src.strip())


def _overrides(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise _fail(where, "expected a list of KEY=VALUE overrides")
    return tuple(value)


def from_dict(data: Any, source: str = "design") -> Design:
    """Build and check a :class:`Design` from parsed YAML.

    Raises:
        ConfigError: One line naming the field, its value and what is allowed.
    """
    if not isinstance(data, dict):
        raise _fail(source, "expected a mapping with method, n, parameters, ...")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise _fail(source, f"unknown field {unknown[0]!r}; allowed: {', '.join(FIELDS)}")
    method = data.get("method")
    if method not in METHODS:
        raise _fail(
            f"{source}: method", f"{method!r} is not allowed; expected one of " + ", ".join(METHODS)
        )
    n = 0 if method == "factorial" else _whole(data.get("n"), f"{source}: n", 2)
    params = data.get("parameters")
    if not isinstance(params, dict) or not params:
        raise _fail(f"{source}: parameters", "expected a mapping of keys to their ranges")
    make = (
        (lambda k, v: _psa_param(k, v, source))
        if method == "psa"
        else (lambda k, v: _param(k, v, method, source))
    )
    plist = tuple(make(str(k), v) for k, v in params.items())
    arms_data = data.get("arms") or {}
    if not isinstance(arms_data, dict):
        raise _fail(f"{source}: arms", "expected a mapping of arm names to override lists")
    arms = {}
    for arm, ovs in arms_data.items():
        if not _ARM_ID.fullmatch(str(arm)):
            raise _fail(f"{source}: arms", f"{arm!r}: use lower-case letters, digits, - or _")
        arms[str(arm)] = _overrides(ovs, f"{source}: arms.{arm}")
    levels = _whole(data.get("levels", 4), f"{source}: levels", 2)
    second = data.get("second_order", False)
    if not isinstance(second, bool):
        raise _fail(f"{source}: second_order", f"{second!r} is not allowed; expected true/false")
    if second and method != "sobol":
        raise _fail(f"{source}: second_order", "only a sobol design has second-order indices")
    return Design(
        method=method,
        n=n,
        parameters=plist,
        arms=arms,
        base=_overrides(data.get("base") or [], f"{source}: base"),
        second_order=second,
        levels=levels,
        sampler_seed=_whole(data.get("sampler_seed", 1), f"{source}: sampler_seed", 0),
        source=source,
    )


def load_design(path: str | Path) -> Design:
    """Read and check a design file (a path, or ``pkg://PACKAGE/FILE`` for a shipped one).

    Raises:
        ConfigError: If the file cannot be read or is not a well-formed design (one line).
    """
    import yaml

    text = str(path)
    try:
        if text.startswith("pkg://"):  # a design shipped in a package (named experiments)
            from importlib import resources

            package, _, rel = text[len("pkg://") :].partition("/")
            p: Any = resources.files(package).joinpath(rel)
        else:
            p = Path(text).expanduser()
        data = yaml.safe_load(p.read_text("utf-8"))
    except ModuleNotFoundError:
        raise _fail(repr(text), "names no installed package (pkg://PACKAGE/FILE)") from None
    except OSError as exc:
        raise _fail(repr(str(path)), f"cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise _fail(repr(str(path)), f"is not valid YAML ({first})") from None
    return from_dict(data, p.name)


def problem(design: Design) -> dict[str, Any]:
    """The SALib problem of a design: its parameters on the unit hypercube."""
    d = len(design.parameters)
    return {"num_vars": d, "names": design.names, "bounds": [[0.0, 1.0]] * d}


def psa_generator(root_seed: int) -> np.random.Generator:
    """The PSA's named stream: as a run's stream ``"psa"`` of the root seed would be."""
    import zlib

    ss = np.random.SeedSequence(
        entropy=int(root_seed), spawn_key=(zlib.crc32(PSA_STREAM.encode()),)
    )
    return np.random.Generator(np.random.PCG64(ss))


def root_seed(overrides: list[str]) -> int:
    """The root seed the overrides set (the last ``seed=``), else the run keys' default.

    Raises:
        ConfigError: If ``seed`` is not one whole number (a PSA needs one root seed).
    """
    from .modelspec import RunKeys

    given = [ov.split("=", 1)[1].strip() for ov in overrides if ov.split("=", 1)[0] == "seed"]
    if not given:
        return int(RunKeys().seed)
    try:
        return int(given[-1])
    except ValueError:
        raise ConfigError(
            f"seed: {given[-1]!r} is not allowed with a psa design; expected one whole number "
            "(the root seed of the parameter draws and of every run)"
        ) from None


def unit_sample(design: Design, seed_of_root: int | None = None) -> np.ndarray:
    """The design's sample on the unit hypercube, one row per point (factorial: indices).

    Sobol and Morris samples come from SALib, Latin hypercubes from ``scipy.stats.qmc``;
    a factorial design's rows are the positions of each level in ``[0, 1]``; a PSA's
    are independent uniform draws from the named stream ``"psa"`` of the root seed
    (:func:`psa_generator`), mapped through each distribution's inverse CDF.
    """
    if design.method == "psa":
        root = int(RUN_SEED_DEFAULT if seed_of_root is None else seed_of_root)
        return psa_generator(root).random((design.n, len(design.parameters)))
    prob, seed = problem(design), design.sampler_seed
    if design.method == "sobol":
        import warnings

        from SALib.sample import sobol

        with warnings.catch_warnings():  # notes() says it once, in carenet's words
            warnings.simplefilter("ignore")
            return sobol.sample(prob, design.n, calc_second_order=design.second_order, seed=seed)
    if design.method == "morris":
        from SALib.sample import morris

        return morris.sample(prob, design.n, num_levels=design.levels, seed=seed)
    if design.method == "lhs":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=prob["num_vars"], seed=seed).random(design.n)
    grids = [[(i + 0.5) / len(p.values) for i in range(len(p.values))] for p in design.parameters]
    return np.array(list(itertools.product(*grids)), dtype=float)


def point_values(design: Design, unit: np.ndarray) -> list[list[Any]]:
    """Each point's parameter values, mapped from the unit sample."""
    cols = []
    for j, p in enumerate(design.parameters):
        if design.method == "factorial":
            k = len(p.values)
            cols.append([p.values[min(int(u * k), k - 1)] for u in unit[:, j]])
        else:
            cols.append(p.from_unit(unit[:, j]))
    return [list(row) for row in zip(*cols, strict=True)] if cols else []


def format_value(value: Any) -> str:
    """A value as a Hydra override writes it (floats exactly, strings quoted if needed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][\w.-]*", text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def overrides_of(design: Design, values: list[Any]) -> list[str]:
    """The overrides that set one point's values."""
    return [f"{p.name}={format_value(v)}" for p, v in zip(design.parameters, values, strict=True)]


def notes(design: Design) -> list[str]:
    """Warnings about a design's size (printed before it runs)."""
    out = []
    n = design.n
    if design.method == "sobol" and n & (n - 1):
        out.append(
            f"design: n={n} is not a power of two; Sobol' sequences keep their balance "
            f"properties only at powers of two (e.g. n={1 << max(1, n.bit_length() - 1)} or "
            f"{1 << n.bit_length()})"
        )
    if design.method == "sobol" and n < SOBOL_MIN_N:
        out.append(f"design: n={n} base samples is small for Sobol indices (< {SOBOL_MIN_N})")
    if design.method == "morris" and n < MORRIS_MIN_N:
        out.append(f"design: n={n} trajectories is small for Morris (< {MORRIS_MIN_N})")
    return out


def record(design: Design, unit: np.ndarray, values: list[list[Any]]) -> dict[str, Any]:
    """What ``design.json`` holds: the design, its unit sample and each point's overrides."""
    return {
        "kind": "carenet-design",
        "method": design.method,
        "n": design.n,
        "second_order": design.second_order,
        "levels": design.levels,
        "sampler_seed": design.sampler_seed,
        "source": design.source,
        "parameters": [
            {"name": p.name, "type": p.kind, "low": p.low, "high": p.high, "values": list(p.values)}
            | ({"dist": list(p.dist), "source": p.source} if p.dist else {})
            for p in design.parameters
        ],
        "arms": {k: list(v) for k, v in design.arms.items()},
        "base": list(design.base),
        "problem": problem(design),
        "unit": unit.tolist(),
        "values": values,
        "points": [overrides_of(design, v) for v in values],
    }


_CACHE: dict[tuple[str, int], list[list[str]]] = {}


def read_record(folder: str | Path) -> dict[str, Any] | None:
    """The ``design.json`` of a sweep folder, or None if it is not a design's folder."""
    p = Path(folder) / DESIGN_FILE
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("kind") == "carenet-design" else None


def point_overrides(folder: str | Path, index: int) -> list[str]:
    """The overrides of sample point ``index`` of the design in a sweep folder.

    Read once per process (and again if ``design.json`` changes).

    Raises:
        ConfigError: If the folder holds no design, or no such point.
    """
    p = Path(folder) / DESIGN_FILE
    try:
        key = (str(p.resolve()), p.stat().st_mtime_ns)
    except OSError:
        raise ConfigError(f"{POINT_KEY}: {str(p)!r} is missing; the design cannot run") from None
    if key not in _CACHE:
        rec = read_record(folder)
        if rec is None:
            raise ConfigError(f"{POINT_KEY}: {str(p)!r} is not a carenet design record")
        _CACHE.clear()
        _CACHE[key] = rec["points"]
    points = _CACHE[key]
    if not 0 <= index < len(points):
        raise ConfigError(f"{POINT_KEY}: {index} is not a point of the design (0..{len(points)})")
    return list(points[index])
