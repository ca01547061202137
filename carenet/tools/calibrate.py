"""``carenet calibrate``: the default economy's activity beside published figures, and a fit.

The targets, their sources, the tolerance and the free parameters are declared in
``configs/calibration/targets.yaml`` (package data, read with :mod:`importlib.resources`).
:func:`evaluate` runs the economy for a few seeds and averages each target's metric;
:func:`compare` gives each target's verdict; :func:`fit` adjusts the free parameters with
SciPy's bounded Powell search to minimise the seed-averaged sum of squared log-ratios of
model to target (:func:`objective`, over the targets marked ``fit: true``), the same seeds
at every trial (common random numbers); :func:`write_fit` writes the fitted values with
the runs that produced them. See docs/calibration.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # NumPy is imported where used: `carenet --help` builds this parser
    import numpy as np

TARGETS_FILE = "calibration/targets.yaml"
"""The targets' file inside the ``carenet.configs`` package."""


KINDS = ("scale", "value", "weights")
"""Kinds of free parameter (see :class:`Free`)."""

LIBRARY = "pathways.library"
"""The pathway library's key: ``weights`` free parameters edit it."""


@dataclass(frozen=True)
class Free:
    """A free parameter of the fit.

    Attributes:
        key: The configuration key (``GROUP.KEY``); for ``weights``, ``pathways.library``.
        kind: ``"scale"`` multiplies a number, or every element of a list, by one factor
            (the default's shape is kept); ``"value"`` sets a number; ``"weights"``
            multiplies one pathway's weights (every stratum) by one factor, which moves
            that pathway's share of episodes against the others'.
        lo: Lower bound (of the factor or the value).
        hi: Upper bound.
        keys: For ``scale``: further keys multiplied by the same factor (one factor for
            a family of parameters whose ratios are kept, e.g. every route delay).
        pathway: For ``weights``: the pathway's name in the library.
    """

    key: str
    kind: str
    lo: float
    hi: float
    keys: tuple[str, ...] = ()
    pathway: str = ""

    @property
    def all_keys(self) -> tuple[str, ...]:
        """Every key the parameter sets (``key`` first)."""
        return (self.key, *self.keys)

    @property
    def label(self) -> str:
        """How the parameter is named in a fit's record."""
        return f"{self.key}[{self.pathway}].weights" if self.kind == "weights" else self.key


def load_targets(text: str | None = None) -> dict[str, Any]:
    """The calibration declaration: tolerance, targets, free parameters, scope.

    Args:
        text: YAML text to read instead of the packaged ``targets.yaml`` (for tests).

    Returns:
        The parsed declaration, its ``free`` entries as :class:`Free`.

    Raises:
        ValueError: A free parameter whose bounds or kind are not allowed.
    """
    import yaml

    if text is None:
        text = resources.files("carenet.configs").joinpath(TARGETS_FILE).read_text()
    data = yaml.safe_load(text)
    free = []
    for f in data.get("free", []):
        lo, hi = float(f["lo"]), float(f["hi"])
        if f["kind"] not in KINDS or not 0 < lo < hi:
            raise ValueError(f"free parameter {f['key']}: kind {f['kind']!r}, bounds {lo}-{hi}")
        if (f["kind"] == "weights") != (f["key"] == LIBRARY) or (
            f["kind"] == "weights" and not f.get("pathway")
        ):
            raise ValueError(
                f"free parameter {f['key']}: kind 'weights' goes with key {LIBRARY} and a pathway"
            )
        keys = tuple(f.get("keys", ()))
        if keys and f["kind"] != "scale":
            raise ValueError(f"free parameter {f['key']}: only kind 'scale' takes more keys")
        free.append(Free(f["key"], f["kind"], lo, hi, keys, str(f.get("pathway", ""))))
    data["free"] = free
    return data


def _run_one(overrides: list[str], seed: int) -> dict[str, float]:
    """One run's summary (module level: joblib's workers call it)."""
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    cfg = load_config([*overrides, "progress=false"])
    return simulate(cfg, seed=seed).summary


def evaluate(
    overrides: list[str], metrics: list[str], seeds: list[int], jobs: int = 1
) -> dict[str, float]:
    """Seed-averaged values of ``metrics`` for the economy given by ``overrides``.

    Args:
        overrides: Hydra overrides (the economy, steps, warm-up, parameter values).
        metrics: Summary metrics to average.
        seeds: The run seeds.
        jobs: Runs at once (joblib processes; 1 runs here).

    Returns:
        Metric name to its mean over the seeds.
    """
    if jobs > 1 and len(seeds) > 1:
        from joblib import Parallel, delayed

        runs = Parallel(n_jobs=min(jobs, len(seeds)))(
            delayed(_run_one)(overrides, s) for s in seeds
        )
    else:
        runs = [_run_one(overrides, s) for s in seeds]
    import numpy as np

    return {k: float(np.mean([r[k] for r in runs])) for k in metrics}


def compare(values: dict[str, float], decl: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target's model value, target, ratio and verdict.

    Args:
        values: Model metric values (:func:`evaluate`).
        decl: The declaration (:func:`load_targets`).

    Returns:
        One row per target: name, metric, model, target, ratio, tolerance, verdict
        (``within``, ``low`` or ``high``), verify and fit flags.
    """
    tol = float(decl.get("tolerance", 0.25))
    rows = []
    for t in decl["targets"]:
        v, target = values[t["metric"]], float(t["value"])
        ratio = v / target if target else math.nan
        verdict = "within" if abs(ratio - 1) <= tol else ("low" if ratio < 1 else "high")
        rows.append(
            {
                "name": t["name"],
                "metric": t["metric"],
                "model": v,
                "target": target,
                "ratio": ratio,
                "tolerance": tol,
                "verdict": verdict,
                "verify": bool(t.get("verify", False)),
                "fit": bool(t.get("fit", False)),
            }
        )
    return rows


def objective(values: dict[str, float], decl: dict[str, Any]) -> float:
    """Sum over the ``fit: true`` targets of the squared log-ratio of model to target.

    A model value of zero counts as a ratio of 1e-6 (a finite, large penalty).
    """
    total = 0.0
    for t in decl["targets"]:
        if t.get("fit"):
            ratio = max(values[t["metric"]], 0.0) / float(t["value"])
            total += math.log(max(ratio, 1e-6)) ** 2
    return total


def _hydra(value: Any) -> str:
    """A value written in Hydra's override grammar (lists, dicts, numbers, strings)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_hydra(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _scaled(default: Any, factor: float) -> Any:
    """A number, or each element of a list, times ``factor`` (rounded to 6 digits)."""
    if isinstance(default, list | tuple):
        return [round(float(d) * factor, 6) for d in default]
    return round(float(default) * factor, 6)


def free_overrides(
    free: list[Free], x: np.ndarray, defaults: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """Overrides (and values) setting the free parameters to point ``x``.

    Every ``weights`` parameter edits one copy of the library, written as a single
    ``pathways.library=[...]`` override.

    Args:
        free: The free parameters.
        x: One factor or value per free parameter.
        defaults: Each key's default (:func:`free_defaults`).

    Returns:
        The Hydra overrides and the key-to-value mapping they set (a ``weights``
        parameter's entry is the pathway's new weights, under :attr:`Free.label`).
    """
    out, values = [], {}
    library = None
    for f, xi in zip(free, x, strict=True):
        if f.kind == "weights":
            if library is None:
                library = [dict(p) for p in defaults[LIBRARY]]
            i = [p["name"] for p in library].index(f.pathway)
            library[i]["weights"] = _scaled(library[i]["weights"], float(xi))
            values[f.label] = library[i]["weights"]
            continue
        for key in f.all_keys:
            v = _scaled(defaults[key], float(xi)) if f.kind == "scale" else round(float(xi), 6)
            out.append(f"{key}={_hydra(v)}")
            values[key] = v
    if library is not None:
        out.append(f"{LIBRARY}={_hydra(library)}")
        values[LIBRARY] = library
    return out, values


def free_defaults(free: list[Free], overrides: list[str]) -> dict[str, Any]:
    """Each key the free parameters set, at its value in the configuration ``overrides``.

    Raises:
        ValueError: A ``weights`` parameter names a pathway the library does not have.
    """
    from carenet.sim.config import load_config

    cfg = load_config(overrides)
    out: dict[str, Any] = {}
    for f in free:
        for key in f.all_keys:
            node: Any = cfg
            for part in key.split("."):
                node = getattr(node, part)
            if key == LIBRARY:
                node = [_plain(p) for p in node]
                if f.pathway not in [p["name"] for p in node]:
                    raise ValueError(f"free parameter {f.label}: no pathway {f.pathway!r}")
            elif hasattr(node, "__len__") and not isinstance(node, str):  # a list (config)
                node = [float(e) for e in node]
            else:
                node = float(node)
            out[key] = node
    return out


def _plain(node: Any) -> Any:
    """A configuration node as plain dicts, lists and scalars."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def fit(
    decl: dict[str, Any],
    overrides: list[str],
    seeds: list[int],
    trials: int,
    jobs: int = 1,
    log: Any = None,
) -> dict[str, Any]:
    """Fit the free parameters: bounded Powell (SciPy) on the seed-averaged objective.

    The search runs on each parameter's log (bounds are positive), from the default
    (factor 1 or the default value, clipped to the bounds); every trial reuses the same
    seeds. ``trials`` caps the points run (a point met again is not rerun).

    Args:
        decl: The declaration (:func:`load_targets`).
        overrides: The economy's overrides.
        seeds: Run seeds.
        trials: Objective evaluations at most (each one run per seed).
        jobs: Runs at once.
        log: Called with each trial's record (for progress), if given.

    Returns:
        ``start`` and ``best`` trials (values, overrides, objective, metrics) and every
        trial in ``history``.
    """
    import numpy as np
    from scipy.optimize import minimize

    free: list[Free] = decl["free"]
    defaults = free_defaults(free, overrides)
    metrics = [t["metric"] for t in decl["targets"]]
    lo = np.log([f.lo for f in free])
    hi = np.log([f.hi for f in free])
    start = [defaults[f.key] if f.kind == "value" else 1.0 for f in free]
    z0 = np.clip(np.log(start), lo, hi)
    history: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], float] = {}

    def f(z: np.ndarray) -> float:
        over, values = free_overrides(free, np.exp(np.clip(z, lo, hi)), defaults)
        if tuple(over) in seen:  # the same point again (rounded): no new runs
            return seen[tuple(over)]
        if len(history) >= trials:  # the budget is spent: no more runs
            return history[-1]["objective"] + 1e9
        vals = evaluate([*overrides, *over], metrics, seeds, jobs)
        rec = {
            "trial": len(history),
            "values": values,
            "overrides": over,
            "objective": objective(vals, decl),
            "metrics": vals,
        }
        history.append(rec)
        seen[tuple(over)] = rec["objective"]
        if log is not None:
            log(rec)
        return rec["objective"]

    f(z0)
    if trials > 1:
        minimize(
            f,
            z0,
            method="Powell",
            bounds=list(zip(lo, hi, strict=True)),
            options={"maxfev": 4 * trials, "xtol": 1e-3, "ftol": 1e-4},
        )
    best = min(history, key=lambda r: r["objective"])
    return {"start": history[0], "best": best, "history": history}


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary file, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def override_yaml(values: dict[str, Any], command: str) -> str:
    """The fitted values as a YAML file of nested keys (GROUP: {KEY: value})."""
    import yaml

    nested: dict[str, dict[str, Any]] = {}
    for key, v in values.items():
        if "[" in key:  # a pathway's weights: written within the whole library
            continue
        group, name = key.split(".", 1)
        nested.setdefault(group, {})[name] = v
    head = (
        f"# Fitted by: {command}\n# Apply with carenet run and the overrides in calibration.json.\n"
    )
    return head + yaml.safe_dump(nested, sort_keys=True)


def compact_trial(rec: dict[str, Any]) -> dict[str, Any]:
    """A trial without its copy of the whole pathway library (for the history).

    Each ``weights`` parameter's new weights stay under its label, so the trial's point
    is still complete; ``start`` and ``best`` keep the library and its override.
    """
    out = dict(rec)
    out["values"] = {k: v for k, v in rec["values"].items() if k != LIBRARY}
    out["overrides"] = [o for o in rec["overrides"] if not o.startswith(f"{LIBRARY}=")]
    return out


def write_fit(out: Path, record: dict[str, Any], command: str) -> list[Path]:
    """Write ``calibration.json`` (the whole record) and ``calibrated.yaml`` atomically.

    Returns:
        The two paths written.
    """
    from carenet.sim.runner import _json_safe, git_revision, versions

    record = {**record, "command": command, "versions": versions(), "git": git_revision()}
    if "fit" in record and "history" in record["fit"]:
        fit_ = dict(record["fit"])
        fit_["history"] = [compact_trial(r) for r in fit_["history"]]
        record["fit"] = fit_
    js = out / "calibration.json"
    _atomic_write(js, json.dumps(_json_safe(record), indent=2, sort_keys=True) + "\n")
    ym = out / "calibrated.yaml"
    _atomic_write(ym, override_yaml(record["fit"]["best"]["values"], command))
    return [js, ym]


def table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a text table (one line per target)."""
    head = f"{'target':<28}{'model':>10}{'target':>10}{'ratio':>8}  tol    verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        note = (" (fitted)" if r["fit"] else "") + (" (verify source)" if r["verify"] else "")
        lines.append(
            f"{r['name']:<28}{r['model']:>10.4g}{r['target']:>10.4g}{r['ratio']:>8.2f}"
            f"  ±{r['tolerance']:.0%}  {r['verdict']}{note}"
        )
    return "\n".join(lines)


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: give a whole number >= 1")
    return n


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``carenet calibrate``."""
    p.add_argument("--seeds", type=_positive, default=3, metavar="N", help="seeds (default 3)")
    p.add_argument(
        "--steps", type=_positive, default=104, metavar="N", help="weeks per run (default 104)"
    )
    p.add_argument("--jobs", type=_positive, default=1, metavar="N", help="runs at once")
    p.add_argument("--fit", action="store_true", help="fit the free parameters (targets.yaml)")
    p.add_argument(
        "--trials", type=_positive, default=40, metavar="N", help="fit: evaluations (default 40)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("calibration"), metavar="DIR", help="fit: folder"
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides")


def _checked_config(args: argparse.Namespace, overrides: list[str]) -> Any:
    """The economy's configuration, or ValueError at the first input not allowed."""
    from carenet.sim.config import load_config

    cfg = load_config(overrides)
    if cfg.warmup_weeks >= args.steps:
        raise ValueError(
            f"--steps: {args.steps} is not allowed with warmup_weeks={cfg.warmup_weeks}: "
            "give more steps than warm-up weeks"
        )
    if args.fit and args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out: {str(args.out)!r} is a file; give a folder")
    return cfg


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Print every target's comparison; with ``--fit``, fit and write the result."""
    from carenet.cli import fail

    decl = load_targets()
    overrides = [*args.overrides, f"steps={args.steps}"]
    seeds = list(range(1, args.seeds + 1))
    try:
        cfg = _checked_config(args, overrides)
        if args.fit:  # a free parameter the economy's configuration cannot take
            free_defaults(decl["free"], overrides)
    except ValueError as exc:  # ConfigError included
        return fail(str(exc).splitlines()[0])
    metrics = [t["metric"] for t in decl["targets"]]
    t0 = time.perf_counter()
    command = "carenet calibrate " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
    if not args.fit:
        values = evaluate(overrides, metrics, seeds, args.jobs)
        print(
            f"Default economy, {len(seeds)} seeds x {args.steps} weeks "
            f"({time.perf_counter() - t0:.0f} s), after a {cfg.warmup_weeks}-week warm-up:"
        )
        print(table(compare(values, decl)))
        print(
            f"objective (sum of squared log-ratios, fitted targets): {objective(values, decl):.4f}"
        )
        return 0

    def log(rec: dict[str, Any]) -> None:
        shown = {k: v for k, v in rec["values"].items() if k != LIBRARY}
        print(f"trial {rec['trial']:>3}: objective {rec['objective']:.4f}  {shown}", flush=True)

    result = fit(decl, overrides, seeds, args.trials, args.jobs, log)
    best = result["best"]
    record = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "overrides": overrides,
        "seeds": seeds,
        "steps": args.steps,
        "trials": args.trials,
        "seconds": time.perf_counter() - t0,
        "targets": decl["targets"],
        "free": [f.__dict__ for f in decl["free"]],
        "fit": result,
        "comparison": compare(best["metrics"], decl),
    }
    paths = write_fit(args.out, record, command or "carenet calibrate --fit")
    print(
        f"start objective {result['start']['objective']:.4f}, best {best['objective']:.4f} "
        f"(trial {best['trial']})"
    )
    print(table(record["comparison"]))
    print("Fitted values in " + ", ".join(str(p) for p in paths))
    return 0
