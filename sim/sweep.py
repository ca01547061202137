"""Sweeps and replications: many runs into one folder that resumes and records failures.

``carenet run -m KEY=a,b OTHER=range(...) out=DIR`` (or ``carenet run replications=N``)
ends here. A sweep goes through five stages, in order:

1. **Plan** (:func:`plan_sweep`): expand the overrides with Hydra's sweep syntax, compose
   and validate every combination *before anything runs* (a bad value stops the sweep with
   one line, exit 2), and list every run: scenario × replication, each with its seed.
2. **Prepare** (:func:`prepare_folder`): create ``DIR`` or check that it holds the same
   sweep (resume), remove partial folders a killed sweep left, write ``DIR/sweep.json``.
3. **Launch** (:mod:`carenet.sim.app`): a Hydra multirun with the user's overrides plus one
   hidden sweep dimension, ``+replication``; the launcher (carenet's ``local`` joblib pool
   by default, Hydra's ``basic`` or ``joblib``, or any Hydra launcher such as submitit or
   Ray) calls the Hydra-free, picklable :func:`execute_run` once per run.
4. **Watch** (:class:`Watcher`): a thread that counts finished runs in the folder (so it
   works for any launcher that shares the file system), shows progress and prints each
   failure as it happens.
5. **Report**: update ``sweep.json``, list failures, exit 0 (all finished) or 1.

Layout of a sweep folder::

    DIR/sweep.json               what was asked: overrides, swept keys, every planned run
    DIR/runs/<run_id>/           one finished run each (the files of ``carenet run``)
    DIR/failures/<run_id>.json   a run that raised: its config, seed, error and traceback
    DIR/.hydra/multirun.yaml     Hydra's own record of the multirun

A run is identified by :func:`run_id`: a hash of its resolved configuration (without
``seed``, ``out``, ``overwrite``, ``progress``, ``replications`` and ``figures``) and its
run seed, so a resumed sweep skips exactly the runs already finished, whatever launcher ran
them.

Seeds: replication 0 uses the root ``seed`` itself (so it is the run ``carenet run`` gives);
replication ``i >= 1`` uses a 63-bit seed drawn from child ``i`` of
``numpy.random.SeedSequence(seed)``. A run seed depends only on the root seed and ``i``, so
two scenarios swept with the same root seed share random numbers replication by
replication (common random numbers), and adding replications never changes earlier ones.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REP_KEY = "replication"
"""Config key of the hidden sweep dimension that numbers replications."""

ID_EXCLUDED: tuple[str, ...] = (
    "seed",
    "out",
    "overwrite",
    "progress",
    "replications",
    "figures",
)
"""Top-level keys that do not change a run's numbers (the run seed is hashed separately)."""

DEFAULT_LAUNCHER = "local"
"""Hydra launcher used when the command names none: carenet's joblib pool (see
``hydra_plugins/carenet_launchers/local_launcher.py``); ``hydra/launcher=joblib``, ``basic``
and the cluster launchers are Hydra's."""

SWEEP_FILE = "sweep.json"
RUNS = "runs"
FAILURES = "failures"


class SweepError(ValueError):
    """A sweep cannot start; the message is one line for the user."""


# --- identity and seeds -----------------------------------------------------------------


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def scenario_id(config: dict[str, Any]) -> str:
    """Hash of a resolved configuration, without the keys that do not change numbers.

    Args:
        config: Resolved configuration as plain dicts (``to_dict`` of a validated config).

    Returns:
        64 hex digits; equal for two configurations that give equal numbers for equal seeds.
    """
    kept = {k: v for k, v in config.items() if k not in ID_EXCLUDED}
    return hashlib.sha256(_canonical(kept).encode()).hexdigest()


def run_id(scenario: str, seed: int) -> str:
    """Identity of one run: 16 hex digits from the scenario hash and the run seed."""
    return hashlib.sha256(f"{scenario}:{int(seed)}".encode()).hexdigest()[:16]


def replication_seed(root: int, index: int) -> int:
    """Run seed of replication ``index`` under root seed ``root``.

    Replication 0 uses ``root``; replication ``i >= 1`` a 63-bit integer generated from
    ``SeedSequence(root, spawn_key=(i,))``, which is child ``i`` of
    ``SeedSequence(root).spawn(...)``. The result depends only on ``root`` and ``index``.
    """
    if index < 0:
        raise ValueError(f"replication index must be >= 0, got {index}")
    if index == 0:
        return int(root)
    child = np.random.SeedSequence(int(root), spawn_key=(int(index),))
    return int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def replication_seeds(root: int, n: int) -> list[int]:
    """Run seeds of replications ``0 .. n-1`` (see :func:`replication_seed`)."""
    return [replication_seed(root, i) for i in range(n)]


# --- one run (what every launcher calls) ------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; plain data, so any launcher can pickle and ship it.

    Attributes:
        config: Resolved configuration (plain dicts); its ``out`` is the sweep folder.
        replication: Replication index (0-based).
        overrides: The job's overrides, recorded in the run's manifest.
        progress: Show a progress bar over weeks (only sensible with one run at a time).
    """

    config: dict[str, Any]
    replication: int
    overrides: tuple[str, ...] = ()
    progress: bool = False


def _locate(cfg: Any, rep: int, sweep_dir: Path) -> tuple[int, str, str, Path]:
    """Run seed, scenario id, run id and folder of replication ``rep`` of a config."""
    from .config import to_dict

    seed = replication_seed(cfg.seed, rep)
    sid = scenario_id(to_dict(cfg))
    rid = run_id(sid, seed)
    return seed, sid, rid, sweep_dir / RUNS / rid


def _resolve(spec: RunSpec) -> tuple[dict[str, Any], Path, int, Any]:
    """What a job is: its configuration, sweep folder, replication and validated config.

    Returns:
        A private copy of the job's configuration data, its sweep folder, its replication
        index, and the validated configuration (or the ``ConfigError`` validation raised).
    """
    from .config import ConfigError, validate

    data = json.loads(json.dumps(spec.config))  # a private copy
    sweep_dir = Path(str(data.get("out") or ".")).expanduser()
    try:
        data = _apply_point(data, sweep_dir)
        cfg: Any = validate(data)
    except ConfigError as exc:
        cfg = exc
    return data, sweep_dir, int(spec.replication), cfg


_PARSER: list[Any] = []
"""This process's Hydra override parser (see :func:`_apply_point`)."""


def _apply_point(data: dict[str, Any], sweep_dir: Path) -> dict[str, Any]:
    """A design's run: its configuration with its sample point's values set.

    The hidden key ``design_point`` (see :mod:`carenet.sim.design`) is taken out and the
    point's overrides, read from ``design.json`` in the sweep folder, are applied as the
    plan applied them (:func:`carenet.sim.config.apply_values`), so the run's identity is
    the planned one. Anything else is returned as it is.

    Raises:
        ConfigError: If the point cannot be found or applied.
    """
    from .design import POINT_KEY

    if POINT_KEY not in data:
        return data
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .config import ConfigError, apply_values
    from .design import point_overrides

    index = data.pop(POINT_KEY)
    ovs = point_overrides(sweep_dir, int(index))
    if not _PARSER:
        _PARSER.append(OverridesParser.create())  # about 30 ms: once per process
    applied = apply_values(data, _PARSER[0].parse_overrides(ovs))
    if applied is None:
        raise ConfigError(f"{POINT_KEY}: {index}: its values cannot be applied ({ovs})")
    return applied


def needs_running(spec: RunSpec) -> bool:
    """Whether launching this job would do anything, decided without running it.

    False for a replication index beyond the scenario's ``replications`` and for a run
    already finished in the sweep folder (unless ``overwrite``); True otherwise,
    including a configuration that does not validate (running it records the failure).
    carenet's sweeper uses it so that a resumed sweep launches only what is left: no
    SLURM array task or Ray task is spent on a run that would skip itself.
    """
    from .config import ConfigError
    from .runner import is_finished

    _, sweep_dir, rep, cfg = _resolve(spec)
    if isinstance(cfg, ConfigError):
        return True
    if rep >= cfg.replications:
        return False
    return bool(cfg.overwrite) or not is_finished(_locate(cfg, rep, sweep_dir)[3])


def ignore_sigint() -> None:
    """Worker initialiser: leave SIGINT (Ctrl-C) to the sweep's own process.

    Ctrl-C reaches the whole process group; the sweep's process answers it by stopping
    its workers, and a worker that took it between two runs would print a traceback.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the sweep's process (see :func:`sigterm_as_interrupt`)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """In the main thread, answer SIGTERM as Ctrl-C: raise :class:`Terminated`.

    ``kill PID`` (or a scheduler ending the job) then takes the same way out as Ctrl-C:
    joblib stops and joins its worker processes (none is left running once the sweep's
    process is gone), the partial run folders are removed or cleaned up on resume,
    ``sweep.json`` records the interrupted invocation, and the semaphores and folders of
    the pool are released (no "leaked semlock" warnings). Elsewhere it does nothing.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute_run(spec: RunSpec) -> dict[str, Any]:
    """Run one (scenario, replication) of a sweep into ``<out>/runs/<run_id>``.

    Never raises for a failing run (only for interruption): a run that raises is written
    to ``<out>/failures/<run_id>.json`` with its configuration, seed and error, so the
    other runs go on. A run already finished is skipped (resume) unless ``overwrite``.

    Args:
        spec: The run.

    Returns:
        ``{"run_id", "status", "seconds", "error"}``; status is ``finished``, ``skipped``,
        ``failed`` or ``not_planned`` (replication index beyond ``replications``).
    """
    from .config import ConfigError, to_dict
    from .runner import OutputError, is_finished, run_scenario

    t0 = time.perf_counter()
    data, sweep_dir, rep, cfg = _resolve(spec)
    if isinstance(cfg, ConfigError):
        rid = "invalid-" + scenario_id(data)[:8]
        _record_failure(sweep_dir, rid, data, None, rep, spec.overrides, cfg)
        return {"run_id": rid, "status": "failed", "seconds": 0.0, "error": str(cfg)}
    if rep >= cfg.replications:
        return {"run_id": None, "status": "not_planned", "seconds": 0.0, "error": None}
    seed, sid, rid, folder = _locate(cfg, rep, sweep_dir)
    if is_finished(folder) and not cfg.overwrite:
        return {"run_id": rid, "status": "skipped", "seconds": 0.0, "error": None}
    root_seed = cfg.seed
    cfg.out = str(folder)
    extra = {
        "sweep": {
            "run_id": rid,
            "scenario_id": sid,
            "replication": rep,
            "root_seed": root_seed,
            "seed": seed,
            "sweep_dir": str(sweep_dir),
        }
    }
    try:
        run_scenario(
            cfg,
            folder,
            overwrite=cfg.overwrite,
            progress=spec.progress,
            seed=seed,
            overrides=list(spec.overrides),
            extra_manifest=extra,
            sweep_run=True,
        )
    except OutputError as exc:
        if is_finished(folder):  # another worker (e.g. of a killed sweep) finished it first
            return {"run_id": rid, "status": "skipped", "seconds": 0.0, "error": None}
        _record_failure(sweep_dir, rid, to_dict(cfg), seed, rep, spec.overrides, exc)
        return {"run_id": rid, "status": "failed", "seconds": 0.0, "error": str(exc)}
    except Exception as exc:  # a failing run must not stop the sweep
        _record_failure(sweep_dir, rid, to_dict(cfg), seed, rep, spec.overrides, exc)
        secs = time.perf_counter() - t0
        return {"run_id": rid, "status": "failed", "seconds": secs, "error": _one_line(exc)}
    stale = sweep_dir / FAILURES / f"{rid}.json"
    if stale.exists():
        stale.unlink(missing_ok=True)
    return {
        "run_id": rid,
        "status": "finished",
        "seconds": time.perf_counter() - t0,
        "error": None,
    }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _record_failure(
    sweep_dir: Path,
    rid: str,
    config: dict[str, Any],
    seed: int | None,
    rep: int,
    overrides: tuple[str, ...],
    exc: BaseException,
) -> bool:
    """Write ``failures/<rid>.json``; on a full disk, a short record, else nothing.

    Returns:
        Whether a record was written.
    """
    record = {
        "run_id": rid,
        "status": "failed",
        "error": _one_line(exc),
        "disk_full": is_disk_full(exc),
        "seed": seed,
        "replication": rep,
        "time": _dt.datetime.now(_dt.UTC).isoformat(),
        "pid": os.getpid(),
    }
    full = {
        **record,
        "traceback": "".join(traceback.format_exception(exc)),
        "overrides": list(overrides),
        "config": config,
    }
    for rec in (full, record):  # the short one may still fit when the disk is full
        try:
            write_json_atomic(sweep_dir / FAILURES / f"{rid}.json", rec)
            return True
        except OSError:
            continue
    return False


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or quota) is full."""
    from .runner import DISK_FULL_ERRNOS, WriteError

    if isinstance(exc, WriteError):
        return exc.disk_full
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON into ``path`` through a temporary file and a rename (never half-written)."""
    from .runner import hidden_name, write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(hidden_name(path.name, "tmp"))
    try:
        write_json(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- plan -------------------------------------------------------------------------------


@dataclass
class PlannedRun:
    """One run of a plan."""

    run_id: str
    scenario_id: str
    scenario: str
    replication: int
    seed: int
    root_seed: int
    values: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``sweep.json``."""
        return {
            "run_id": self.run_id,
            "scenario_id": self.scenario_id,
            "scenario": self.scenario,
            "replication": self.replication,
            "seed": self.seed,
            "root_seed": self.root_seed,
            "values": self.values,
        }


@dataclass
class Plan:
    """What a sweep command asks for, expanded and validated.

    Attributes:
        out: The sweep folder.
        overrides: The command's overrides, as given.
        job_overrides: Overrides for the carenet config (sweep syntax kept, no ``out``).
        hydra_overrides: Overrides of Hydra itself (``hydra/launcher=...``, ``hydra.*``).
        swept: Swept keys and their values, in command order.
        scenarios: One entry per combination of swept values.
        runs: Every planned run, without duplicates, in plan order.
        launcher: Name of the Hydra launcher.
        max_replications: The largest ``replications`` of any scenario.
    """

    out: Path
    overrides: list[str]
    job_overrides: list[str]
    hydra_overrides: list[str]
    swept: dict[str, list[str]]
    scenarios: list[dict[str, Any]]
    runs: list[PlannedRun]
    launcher: str
    max_replications: int
    overwrite: bool = False
    progress: bool = True
    multirun: bool = True
    model: str = ""
    design: dict[str, Any] | None = None
    launch_groups: list[list[str]] | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat())

    @property
    def run_ids(self) -> list[str]:
        """Planned run ids, in plan order."""
        return [r.run_id for r in self.runs]


LOCAL_BACKENDS: tuple[str, ...] = ("loky", "multiprocessing", "threading")
"""joblib backends of carenet's ``local`` launcher (``hydra.launcher.backend``)."""


def check_n_jobs(value: str) -> None:
    """``hydra.launcher.n_jobs`` must be a whole number other than 0 (-1: one per core).

    Raises:
        ConfigError: One line naming the key, the value and what is allowed.
    """
    from .config import ConfigError

    if not re.fullmatch(r"-?\d+", value.strip()) or int(value) == 0:
        raise ConfigError(
            f"hydra.launcher.n_jobs: {value.strip()!r} is not allowed; expected a whole "
            "number of worker processes other than 0 (-1: one per core)"
        )


def check_backend(value: str) -> None:
    """``hydra.launcher.backend`` of the ``local`` launcher: one of :data:`LOCAL_BACKENDS`.

    Raises:
        ConfigError: One line naming the key, the value and what is allowed.
    """
    from .config import ConfigError

    if value.strip().strip("'\"") not in LOCAL_BACKENDS:
        raise ConfigError(
            f"hydra.launcher.backend: {value.strip()!r} is not allowed; expected one of "
            + ", ".join(LOCAL_BACKENDS)
        )


CHECKED_OPTIONS: dict[str, dict[str, Callable[[str], None]]] = {
    "local": {"n_jobs": check_n_jobs, "backend": check_backend},
    "joblib": {"n_jobs": check_n_jobs},
    "basic": {},
}
"""The built-in launchers whose options carenet checks itself, and the checks."""


def check_launcher_options(launcher: str, hydra_overrides: list[str]) -> bool:
    """Check the options of the built-in launchers before anything runs.

    Args:
        launcher: The launcher's name (``hydra/launcher``).
        hydra_overrides: The ``hydra`` overrides of the command.

    Returns:
        Whether every ``hydra`` override was checked here (a launcher choice, or an option
        in :data:`CHECKED_OPTIONS`); otherwise Hydra's own configuration has to be
        composed to check the rest (:func:`carenet.sim.config.check_hydra_overrides`).

    Raises:
        ConfigError: One line naming the key, the value and what is allowed.
    """
    checks = CHECKED_OPTIONS.get(launcher)
    covered = checks is not None
    for ov in hydra_overrides:
        key, _, value = ov.partition("=")
        key = key.lstrip("+~")
        if key == "hydra/launcher":
            continue
        name = key.split(".", 2)[2] if key.startswith("hydra.launcher.") else None
        if checks is not None and name in checks:
            checks[name](value)
        else:
            covered = False
    return covered


LAUNCHER_PACKAGES: dict[str, tuple[str, str]] = {
    "slurm": ("hydra_plugins.hydra_submitit_launcher", "pip install 'carenet[slurm]'"),
    "submitit_slurm": ("hydra_plugins.hydra_submitit_launcher", "pip install 'carenet[slurm]'"),
    "submitit_local": ("hydra_plugins.hydra_submitit_launcher", "pip install 'carenet[slurm]'"),
    "ray": ("ray", "pip install 'carenet[ray]'"),
}
"""Launchers whose plugin or library is an optional extra: what to import, how to install."""


def check_launcher_installed(launcher: str) -> None:
    """Stop in the plan, before anything is written, if a launcher's extra is missing.

    Raises:
        SweepError: One line naming the launcher and the command that installs it.
    """
    import importlib.util

    need = LAUNCHER_PACKAGES.get(launcher)
    if need is None:
        return
    module, install = need
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise SweepError(f"hydra/launcher: {launcher!r} is not installed here; {install}")


def _sweep_values(ov: Any, key: str) -> list[str]:
    """The values of a sweep override, or one line saying why there are none.

    Raises:
        SweepError: For ``glob(...)`` (list the options instead), a ``range`` that gives
            no values or has step 0, or any other value Hydra cannot expand.
    """
    from hydra.core.override_parser.types import Glob

    if isinstance(ov.value(), Glob):
        raise SweepError(f"{key}: glob(...) cannot be swept here; list the values: {key}=a,b")
    try:
        values = list(ov.sweep_string_iterator())
    except Exception as exc:  # Hydra's own errors (e.g. range step 0) are one line of text
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SweepError(
            f"{key}: {ov.input_line.split('=', 1)[-1]!r} cannot be swept ({reason})"
        ) from None
    if not values:
        raise SweepError(
            f"{key}: {ov.input_line.split('=', 1)[-1]!r} gives no values to sweep; "
            "a range(start,stop[,step]) needs start < stop for a positive step"
        )
    return values


def is_hydra_override(ov: str) -> bool:
    """Whether an override string sets a ``hydra`` key or group (``hydra.x``, ``hydra/x``)."""
    key = ov.split("=", 1)[0].lstrip("+~")
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def _key(ov: str) -> str:
    return ov.split("=", 1)[0].lstrip("+~")


def plan_sweep(
    overrides: list[str],
    multirun: bool = True,
    on_plan: Callable[[int], None] | None = None,
) -> Plan:
    """Expand, compose and validate a sweep, and list its runs; runs and writes nothing.

    A ``design=FILE.yaml`` override makes the scenarios a design's sample points (and
    arms) instead of the product of swept values (see :mod:`carenet.sim.design`).

    Args:
        overrides: Hydra overrides as typed after ``carenet run -m``.
        multirun: Whether ``-m`` was given (without it, sweep syntax is refused).
        on_plan: Called with the number of combinations once they are counted, before
            they are composed and validated (the long part of a large sweep's plan).

    Returns:
        The plan.

    Raises:
        ConfigError: At the first combination with a value that is not allowed.
        SweepError: If the sweep cannot be expanded (bad syntax, ``out`` swept ...).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .config import ConfigError, parse_readable
    from .modelspec import split_model

    given_overrides = list(overrides)
    overrides, design = _take_design(overrides)
    for ov in overrides:
        if "=" not in ov and not ov.startswith("~"):
            raise ConfigError(f"override {ov!r}: expected KEY=VALUE (e.g. population.size=50000)")
        if _key(ov) in (REP_KEY, "design_point"):
            raise SweepError(f"{_key(ov)}: reserved for sweeps; use replications=N or a design")
    hydra_ovs = [ov for ov in overrides if is_hydra_override(ov)]
    model, job_ovs = split_model([ov for ov in overrides if not is_hydra_override(ov)])
    if not any(_key(ov).lstrip("+~") == "figures" for ov in job_ovs):
        # Per-run figures cost about a second a run; carenet report draws a sweep's figures.
        job_ovs.append("figures=false")
    try:
        parsed = parse_readable(OverridesParser.create(), job_ovs, multirun=True)
    except ConfigError:
        raise
    except Exception as exc:  # Hydra's grammar errors are long; keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SweepError(f"cannot parse overrides: {first}") from None
    axes, swept, out_value = _axes(parsed, multirun)
    base = [f"model={model}"] if model else []
    if design is not None:
        if swept:
            raise SweepError(
                f"{next(iter(swept))}: a design cannot also sweep values; add it to the "
                "design's parameters, or give one value"
            )
        unit, points, combos = _design_combos(design, base + [a[0] for a in axes], on_plan)
    else:
        if on_plan is not None:
            on_plan(math.prod(len(axis) for axis in axes))
        product: list[list[str]] = [base]
        for axis in axes:
            product = [c + [a] for c in product for a in axis]
        combos = [
            (c, {_key(x): x.split("=", 1)[1] for x in c if _key(x) in swept}) for c in product
        ]
    plan = plan_from_combos(combos, swept, out_value, hydra_ovs, model)
    plan.overrides = given_overrides
    plan.job_overrides = [ov for ov in job_ovs if _key(ov) != "out"]
    plan.multirun = multirun
    if design is not None:
        _attach_design(plan, design, unit, points, combos)
    return plan


def _take_design(overrides: list[str]) -> tuple[list[str], Any]:
    """Take ``design=FILE`` out of the overrides: the design's base first, then the rest."""
    from .design import DESIGN_KEY, PSA_DESIGN, PSA_KEY, load_design, notes

    found = [ov for ov in overrides if _key(ov) == DESIGN_KEY]
    draws = [ov for ov in overrides if _key(ov) == PSA_KEY]
    if not found and not draws:
        return list(overrides), None
    if len(found) > 1 or len(draws) > 1:
        raise SweepError(f"{DESIGN_KEY if len(found) > 1 else PSA_KEY}: give it once")
    path = found[0].split("=", 1)[1].strip().strip("'\"") if found else PSA_DESIGN
    design = load_design(path)
    if draws:
        design = _with_draws(design, draws[0].split("=", 1)[1].strip())
    for note in notes(design):
        print(f"carenet: warning: {note}", file=sys.stderr)
    rest = [ov for ov in overrides if _key(ov) not in (DESIGN_KEY, PSA_KEY)]
    given = {_key(ov) for ov in rest}
    return [ov for ov in design.base if _key(ov) not in given] + rest, design


def _with_draws(design: Any, text: str) -> Any:
    """The PSA ``design`` with ``n`` set from ``psa=N`` (N a whole number of at least 2)."""
    import dataclasses

    from .config import ConfigError
    from .design import PSA_KEY

    if design.method != "psa":
        raise ConfigError(
            f"{PSA_KEY}: {text!r} is not allowed with a {design.method} design "
            f"({design.source}): psa=N sets the draws of a design of method psa"
        )
    n = int(text) if text.isdigit() else 0
    if n < 2:
        raise ConfigError(f"{PSA_KEY}: {text!r} is not allowed: give a whole number of draws >= 2")
    return dataclasses.replace(design, n=n)


def _axes(parsed: list[Any], multirun: bool) -> tuple[list[list[str]], dict[str, list[str]], Any]:
    """Each override's values (one for a plain override), the swept keys, and ``out``."""
    axes: list[list[str]] = []
    swept: dict[str, list[str]] = {}
    out_value: str | None = None
    for ov in parsed:
        key = ov.get_key_element()
        bare = key.lstrip("+~")
        if ov.is_sweep_override():
            if not multirun:
                raise SweepError(f"{bare}: several values need -m (carenet run -m {ov.input_line})")
            if not ov.is_discrete_sweep():
                raise SweepError(f"{bare}: only lists and range(...) can be swept here")
            if bare in ("out", "overwrite", "progress"):
                raise SweepError(f"{bare}: cannot be swept")
            values = _sweep_values(ov, bare)
            swept[bare] = values
            axes.append([f"{key}={v}" for v in values])
        else:
            if bare == "out":
                out_value = str(ov.value())
                continue
            axes.append([f"{key}={ov.get_value_element_as_str()}"])
    return axes, swept, out_value


def _design_combos(
    design: Any, fixed: list[str], on_plan: Callable[[int], None] | None
) -> tuple[Any, list[list[Any]], list[tuple[list[str], dict[str, str]]]]:
    """A design's unit sample, its points' values, and one combination per (arm, point)."""
    from .design import ARM_KEY, POINT_KEY, overrides_of, point_values, root_seed, unit_sample

    unit = unit_sample(design, root_seed(fixed) if design.method == "psa" else None)
    values = point_values(design, unit)
    arms = list(design.arms.items()) or [("", ())]
    if on_plan is not None:
        on_plan(len(values) * len(arms))
    combos = []
    for arm, arm_ovs in arms:
        tag = {ARM_KEY: arm} if arm else {}
        for k, v in enumerate(values):
            ovs = [*fixed, *arm_ovs, *overrides_of(design, v)]
            combos.append((ovs, {**tag, POINT_KEY: str(k)}))
    return unit, values, combos


def checked_launcher(hydra_ovs: list[str], model: str) -> str:
    """The launcher a sweep's ``hydra`` overrides choose, with its options checked.

    Raises:
        ConfigError: For a launcher option that is not allowed (one line).
        SweepError: For a launcher whose optional extra is not installed.
    """
    from .config import check_hydra_overrides

    launcher = DEFAULT_LAUNCHER
    for ov in hydra_ovs:
        if _key(ov) == "hydra/launcher":
            launcher = ov.split("=", 1)[1]
    check_launcher_installed(launcher)
    if not check_launcher_options(launcher, hydra_ovs):
        # A typo in a launcher's name or option stops here, in one line (about 0.15 s).
        check_hydra_overrides(hydra_choices(hydra_ovs), model)
    return launcher


def plan_from_combos(
    combos: list[tuple[list[str], dict[str, str]]],
    swept: dict[str, list[str]],
    out_value: str | None,
    hydra_ovs: list[str],
    model: str,
) -> Plan:
    """Compose and validate each combination and list its runs: the core of every plan.

    Args:
        combos: One (override list, labelling values) pair per scenario.
        swept: The swept keys and their values (recorded in ``sweep.json``).
        out_value: ``out`` as given, or None.
        hydra_ovs: The ``hydra`` overrides (launcher and its options).
        model: The model's selector.

    Returns:
        The plan (``job_overrides``, ``overrides`` and ``multirun`` for the caller to set).
    """
    from .config import check_out_path, compose_many, to_dict, validate
    from .runner import default_out, scenario_label

    scenarios: list[dict[str, Any]] = []
    runs: list[PlannedRun] = []
    seen: set[str] = set()
    first_cfg = None
    composed_all = compose_many([c for c, _ in combos])
    for (combo, values), composed in zip(combos, composed_all, strict=True):
        cfg = validate(composed)
        first_cfg = first_cfg or cfg
        label = ", ".join(f"{k}={v}" for k, v in values.items())
        if not label:
            label = " / ".join(scenario_label(cfg).values())
        sid = scenario_id(to_dict(cfg))
        seeds = replication_seeds(cfg.seed, cfg.replications)
        scenarios.append(
            {
                "scenario": label,
                "scenario_id": sid,
                "values": values,
                "overrides": combo,
                "root_seed": cfg.seed,
                "replications": cfg.replications,
                "seeds": seeds,
            }
        )
        for i, s in enumerate(seeds):
            rid = run_id(sid, s)
            if rid not in seen:
                seen.add(rid)
                runs.append(PlannedRun(rid, sid, label, i, s, cfg.seed, values))
    assert first_cfg is not None
    given = out_value or first_cfg.out
    if given:
        check_out_path(str(Path(given).expanduser()))  # a file in the way: bad input
    launcher = checked_launcher(hydra_ovs, model)
    # The default folder is made only now that the plan is valid: bad input leaves none.
    out = Path(given).expanduser() if given else default_out()
    return Plan(
        out=out,
        overrides=[],
        job_overrides=[],
        hydra_overrides=hydra_ovs,
        swept=swept,
        scenarios=scenarios,
        runs=runs,
        launcher=launcher,
        max_replications=max(s["replications"] for s in scenarios),
        overwrite=first_cfg.overwrite,
        progress=first_cfg.progress,
        model=model,
    )


def _attach_design(
    plan: Plan,
    design: Any,
    unit: Any,
    values: list[list[Any]],
    combos: list[tuple[list[str], dict[str, str]]],
) -> None:
    """Make a plan a design's: its record, its swept keys and one launch per arm.

    Checks, before anything runs, that each parameter can be set on a run's composed
    configuration as a plain value (a config group cannot: vary groups with arms), since
    that is how a run finds its point (:func:`_apply_point`).

    Raises:
        SweepError: For a design parameter that is not a plain value of the configuration.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from .config import apply_values, compose_many
    from .design import ARM_KEY, POINT_KEY, record

    rec = record(design, unit, values)
    n = len(values)
    arms = list(design.arms.items()) or [("", ())]
    first = combos[0][0][: len(combos[0][0]) - len(design.parameters)]
    bare, with_point = compose_many([first, combos[0][0]])
    parser = OverridesParser.create()
    for ov in rec["points"][0]:
        if apply_values(bare, parser.parse_overrides([ov])) is None:
            raise SweepError(
                f"design: parameters.{_key(ov)}: cannot be set per run as a plain value (a "
                "config group or a list?); vary config groups with the design's arms"
            )
    applied = apply_values(bare, parser.parse_overrides(rec["points"][0]))
    if applied is None or scenario_id(applied) != scenario_id(with_point):
        raise SweepError("design: its parameters cannot be applied to a run's configuration")
    plan.design = rec
    plan.swept = ({ARM_KEY: [a for a, _ in arms]} if design.arms else {}) | {
        POINT_KEY: [str(k) for k in range(n)]
    }
    plan.launch_groups = [
        [*plan.job_overrides, *arm_ovs, f"+{POINT_KEY}=range(0,{n})"] for _, arm_ovs in arms
    ]


# --- the folder -------------------------------------------------------------------------


RESUME_NOTE = "the sweep cannot be resumed: restore the file, or choose another folder"
"""What a damaged ``sweep.json`` means to a resume (:func:`load_sweep`'s default)."""


def load_sweep(
    folder: Path, then: str = RESUME_NOTE, error: type[ValueError] = SweepError
) -> dict[str, Any] | None:
    """The ``sweep.json`` of a folder, or None if there is none.

    Every reader of a sweep's record (resume, ``collect``, ``report``, experiments) reads
    it here, so a damaged one is refused the same way.

    Args:
        folder: The sweep folder.
        then: What the damage means to the caller, ending the one-line message.
        error: The typed error to raise (``SweepError``; ``collect`` passes its own).

    Raises:
        SweepError: (or ``error``) If it is there but cannot be read, is truncated or
            corrupt, or is not a carenet sweep record (one line naming the file).
    """
    p = Path(folder) / SWEEP_FILE
    if not p.exists() and not p.is_symlink():
        return None
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise error(f"{p}: unreadable ({exc.strerror or exc}); {then}") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        where = f"line {exc.lineno} column {exc.colno}: " if hasattr(exc, "lineno") else ""
        raise error(
            f"{p}: unreadable, truncated or corrupt ({where}{_first(exc)}); {then}"
        ) from None
    if not _is_sweep_record(data):
        raise error(f"{p}: not a carenet sweep record; {then}")
    return data


def _is_sweep_record(data: Any) -> bool:
    """Whether ``data`` has the shape of a ``sweep.json`` that carenet wrote."""
    if not isinstance(data, dict) or data.get("kind") != "carenet-sweep":
        return False
    runs = data.get("runs", [])
    if not isinstance(runs, list) or not all(isinstance(r, dict) and "run_id" in r for r in runs):
        return False
    try:
        swept_of(data)
    except (KeyError, TypeError, AttributeError, ValueError):
        return False
    return True


def _first(exc: BaseException) -> str:
    text = str(getattr(exc, "msg", "") or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def swept_of(sweep: dict[str, Any] | None) -> dict[str, list[str]]:
    """Swept keys and values of a ``sweep.json``, in the order the command gave them."""
    swept = (sweep or {}).get("swept") or []
    if isinstance(swept, dict):
        return dict(swept)
    return {item["key"]: list(item["values"]) for item in swept}


DAMAGED = "damaged"
"""Sub-folder of a sweep where run folders found incomplete on resume are moved."""


def damaged_files(run: Path) -> list[str]:
    """What a run folder lacks to be a finished run: its manifest, or a file it lists."""
    from .runner import is_finished

    if not is_finished(run):
        return ["manifest.json"]
    try:
        listed = json.loads((run / "manifest.json").read_text()).get("files") or []
    except (OSError, ValueError, AttributeError):
        return ["manifest.json"]
    return [f for f in listed if not (run / f).is_file() or (run / f).stat().st_size == 0]


def set_aside_damaged(out: Path, run_ids: list[str]) -> list[str]:
    """Move planned run folders that are not whole into ``DIR/damaged/`` so they run again.

    A run folder is written atomically, so one without its manifest or a file the manifest
    lists was changed after the run (a file deleted or emptied). It is kept, not deleted,
    and a line on stderr says where it went.

    Returns:
        The run ids set aside.
    """
    moved = []
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for rid in sorted(finished_ids(out) & set(run_ids)):
        lacks = damaged_files(out / RUNS / rid)
        if not lacks:
            continue
        target = out / DAMAGED / f"{rid}-{stamp}"
        try:
            target.parent.mkdir(exist_ok=True)
            (out / RUNS / rid).rename(target)
        except OSError as exc:
            raise _folder_error(exc, out) from None
        print(
            f"carenet sweep: run {rid} was incomplete (no {lacks[0]}); kept in "
            f"{target} and run again",
            file=sys.stderr,
        )
        moved.append(rid)
    return moved


def finished_ids(folder: Path) -> set[str]:
    """Run ids with a finished folder under ``folder/runs`` (atomic renames: present = done)."""
    runs = Path(folder) / RUNS
    if not runs.is_dir():
        return set()
    return {e.name for e in os.scandir(runs) if e.is_dir() and not e.name.startswith(".")}


def failed_records(folder: Path) -> dict[str, dict[str, Any]]:
    """Failure records under ``folder/failures``, by run id."""
    out: dict[str, dict[str, Any]] = {}
    d = Path(folder) / FAILURES
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            out[p.stem] = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return out


def prepare_folder(plan: Plan) -> dict[str, Any]:
    """Create or reopen the sweep folder and write ``sweep.json`` (status ``running``).

    A folder that already holds a sweep is resumed when every run it planned is also in
    this plan (the same sweep, or one extended with more values or replications).

    Returns:
        The sweep manifest written.

    Raises:
        SweepError: If the folder is a file, holds something that is not a carenet sweep,
            or holds a different sweep.
    """
    from carenet import __version__

    from .runner import git_revision, remove_stale

    out = plan.out
    previous = check_sweep_folder(out)
    invocations: list[dict[str, Any]] = []
    created = plan.created
    if previous is not None:
        old = {r["run_id"] for r in previous.get("runs", [])}
        missing = sorted(old - set(plan.run_ids))
        if missing:
            raise SweepError(
                f"out: {str(out)!r} holds a different sweep ({len(missing)} of its runs are "
                f"not in this one, e.g. {missing[0]}); resume it with the same command "
                "or choose another folder"
            )
        invocations = list(previous.get("invocations", []))
        created = previous.get("created", created)
    try:
        (out / RUNS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _folder_error(exc, out) from None
    remove_stale(out / RUNS)  # what killed runs left (see carenet.sim.runner.remove_stale)
    remove_stale(out / FAILURES)
    remove_stale(out, SWEEP_FILE)
    set_aside_damaged(out, plan.run_ids)
    invocations.append(
        {
            "started": _dt.datetime.now(_dt.UTC).isoformat(),
            "command": sys.argv,
            "overrides": plan.overrides,
            "launcher": plan.launcher,
        }
    )
    manifest = {
        "kind": "carenet-sweep",
        "status": "running",
        "created": created,
        "overrides": plan.overrides,
        "job_overrides": plan.job_overrides,
        "hydra_overrides": plan.hydra_overrides,
        "swept": [{"key": k, "values": v} for k, v in plan.swept.items()],
        "multirun": plan.multirun,
        "launcher": plan.launcher,
        "n_scenarios": len(plan.scenarios),
        "n_runs": len(plan.runs),
        "scenarios": plan.scenarios,
        "runs": [r.as_dict() for r in plan.runs],
        "seeds": "replication 0 uses the root seed; replication i >= 1 a 63-bit seed from "
        "numpy SeedSequence(root seed, spawn_key=(i,))",
        "run_identity": "sha256 of the resolved config without "
        + ", ".join(ID_EXCLUDED)
        + ", then with the run seed",
        "carenet_version": __version__,
        "git_revision": git_revision(),
        "invocations": invocations,
    }
    try:
        if plan.design is not None:  # before sweep.json: a run reads its point from it
            from .design import DESIGN_FILE

            write_json_atomic(out / DESIGN_FILE, plan.design)
        write_json_atomic(out / SWEEP_FILE, manifest)
    except OSError as exc:
        raise _folder_error(exc, out) from None
    return manifest


def check_sweep_folder(out: Path) -> dict[str, Any] | None:
    """Check that ``out`` can take this sweep, writing nothing; its ``sweep.json`` if any.

    Raises:
        SweepError: If ``out`` is a file, holds something that is not a carenet sweep, has a
            corrupt ``sweep.json``, or cannot be written.
    """
    from .runner import path_problem, visible_entries, write_problem

    problem = path_problem(out)
    if problem:
        raise SweepError(problem)
    previous = load_sweep(out)
    if previous is None and out.is_dir() and visible_entries(out):
        raise SweepError(
            f"out: {str(out)!r} is not empty and holds no carenet sweep; "
            "choose an empty or new folder"
        )
    problem = write_problem(out)
    if problem:
        raise SweepError(problem)
    return previous


def _folder_error(exc: OSError, out: Path) -> Exception:
    """The error for an OS error on the sweep folder: bad folder (2) or disk full (1)."""
    from .runner import WriteError, is_disk_full_errno, os_reason

    if is_disk_full_errno(exc):
        return WriteError(
            f"out: cannot write {str(out)!r}: {os_reason(exc)}; free some space and "
            "rerun the same command to resume",
            disk_full=True,
        )
    return SweepError(
        f"out: {str(out)!r} cannot be written ({os_reason(exc)}); choose a folder you can write to"
    )


# --- progress ---------------------------------------------------------------------------


class Watcher:
    """Progress over the runs of a sweep, and each failure printed as it happens.

    It polls the sweep folder from a thread, so it sees runs finished by any launcher
    (local processes, a cluster) that writes to the same file system. In a terminal it
    shows a tqdm bar; otherwise (log file, CI) it prints a plain line at every tenth of the
    sweep and at most once a minute in between, never carriage returns.

    Args:
        plan: The sweep.
        interval: Seconds between polls.
        stream: Where to write (default stderr).
    """

    def __init__(self, plan: Plan, interval: float = 0.5, stream: Any = None) -> None:
        self.plan = plan
        self.interval = interval
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.planned = set(plan.run_ids)
        self.by_id = {r.run_id: r for r in plan.runs}
        self.total = len(self.planned)
        self.start_done = len(finished_ids(plan.out) & self.planned)
        self._seen_fail = self._failure_stamps() if not plan.overwrite else {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Any = None
        self._t0 = time.monotonic()
        self._last_line = self._t0
        self._last_done = self.start_done
        self.failures_seen: list[str] = []
        self._disk_full_said = False

    def _failure_stamps(self) -> dict[str, int]:
        d = self.plan.out / FAILURES
        if not d.is_dir():
            return {}
        stamps = {}
        for e in os.scandir(d):
            if e.name.endswith(".json") and not e.name.startswith("."):
                try:
                    stamps[e.name[:-5]] = e.stat().st_mtime_ns
                except OSError:
                    continue
        return stamps

    def __enter__(self) -> Watcher:
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total,
                initial=self.start_done,
                desc="runs",
                unit="run",
                file=self.stream,
                dynamic_ncols=True,
            )
        else:
            self._write(f"carenet sweep: {self.start_done}/{self.total} runs finished")
        self._thread = threading.Thread(target=self._loop, name="carenet-watcher", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.poll(final=True)
        if self._bar is not None:
            self._bar.close()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except OSError:  # the folder is being written; try again next time
                continue

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def poll(self, final: bool = False) -> None:
        """Look at the folder once: report new failures and progress."""
        stamps = self._failure_stamps()
        for rid in sorted(stamps):
            if self._seen_fail.get(rid) == stamps[rid]:
                continue
            self._seen_fail[rid] = stamps[rid]
            rec = _read_json(self.plan.out / FAILURES / f"{rid}.json") or {}
            self.failures_seen.append(rid)
            if rec.get("disk_full"):  # every run after it fails alike: say it once
                if self._disk_full_said:
                    continue
                self._disk_full_said = True
            self._write("carenet: " + describe_failure(rid, rec, self.by_id.get(rid)))
        finished = finished_ids(self.plan.out)
        done = len(finished & self.planned)
        failed = len(set(self.failures_seen) - finished)
        if self._bar is not None:
            self._bar.n = done
            self._bar.set_postfix_str(f"failed={failed}" if failed else "", refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        step = max(1, self.total // 10)
        crossed = done // step > self._last_done // step
        if done != self._last_done and (crossed or now - self._last_line >= 60 or final):
            elapsed = _dt.timedelta(seconds=round(now - self._t0))
            extra = f", {failed} failed" if failed else ""
            self._write(f"carenet sweep: {done}/{self.total} runs finished{extra} ({elapsed})")
            self._last_line = now
            self._last_done = done


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def describe_failure(rid: str, rec: dict[str, Any], planned: PlannedRun | None = None) -> str:
    """One line naming a failed run (scenario, replication, seed) and its error."""
    where = []
    if planned is not None:
        where.append(planned.scenario)
        where.append(f"replication {planned.replication}")
    elif rec.get("replication") is not None:
        where.append(f"replication {rec['replication']}")
    if rec.get("seed") is not None:
        where.append(f"seed {rec['seed']}")
    return f"run {rid} failed ({'; '.join(where)}): {rec.get('error', 'unknown error')}"


# --- the command ------------------------------------------------------------------------


def hydra_choices(hydra_overrides: list[str]) -> list[str]:
    """The user's ``hydra`` overrides with carenet's launcher and sweeper defaults.

    ``hydra.sweep.dir`` is dropped (a sweep's Hydra files go in its own folder), and
    ``hydra/launcher=submitit_slurm`` means carenet's SLURM preset
    (``configs/hydra/launcher/slurm.yaml``: the plugin with carenet's defaults; its
    options override as usual).
    """
    hydra = [ov for ov in hydra_overrides if _key(ov) not in ("hydra.sweep.dir",)]
    hydra = [
        "hydra/launcher=slurm" if ov.replace(" ", "") == "hydra/launcher=submitit_slurm" else ov
        for ov in hydra
    ]
    if not any(_key(ov) == "hydra/sweeper" for ov in hydra):
        hydra.insert(0, "hydra/sweeper=carenet")  # plan_sweep already validated every job
    if not any(_key(ov) == "hydra/launcher" for ov in hydra):
        hydra.insert(0, f"hydra/launcher={DEFAULT_LAUNCHER}")
    return hydra


def launcher_overrides(plan: Plan, group: list[str] | None = None) -> list[str]:
    """The Hydra command line of a plan: job overrides, replications, output, launcher.

    Args:
        plan: The sweep.
        group: The job overrides of one launch of a design (one arm's), instead of the
            plan's own.
    """
    from .app import quote

    ovs = list(plan.job_overrides if group is None else group)
    ovs.append(f"out={quote(str(plan.out.resolve()))}")
    ovs.append(f"+{REP_KEY}=range(0,{plan.max_replications})")
    hydra = hydra_choices(plan.hydra_overrides)
    hydra += [
        f"hydra.sweep.dir={quote(str((plan.out / '.hydra').resolve()))}",
        "hydra.sweep.subdir=.",
        "hydra.output_subdir=null",
        "hydra.job.chdir=false",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
    ]
    return ovs + hydra


def run_sweep(plan: Plan, stream: Any = None) -> dict[str, Any]:
    """Prepare the folder, launch the pending runs, watch them, and write the outcome.

    Args:
        plan: From :func:`plan_sweep`.
        stream: Where progress and failure lines go (default stderr).

    Returns:
        The final sweep manifest, with ``counts`` and ``failures``.

    Raises:
        SweepError: If the folder cannot be used.
    """
    from .runner import LOCK_NAME, hold_folder

    try:
        check_sweep_folder(plan.out)  # before anything is created in the user's folder
    except SweepError:
        # Another sweep may hold the folder and have begun to fill it (runs, not yet its
        # sweep.json): that is a busy folder, said by the lock, not a foreign one.
        if (plan.out / LOCK_NAME).is_file():
            with hold_folder(plan.out, "sweep"):
                pass
        raise
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _folder_error(exc, plan.out) from None
    # One invocation at a time per folder: a second one stops at once with one line naming
    # the holder (it can resume when the first ends); sweep.json is read, changed and
    # written only under the lock, so no invocation is ever lost from it.
    with hold_folder(plan.out, "sweep"):
        return _run_locked(plan, stream)


def _run_locked(plan: Plan, stream: Any) -> dict[str, Any]:
    from .app import launch

    manifest = prepare_folder(plan)
    planned = set(plan.run_ids)
    already = finished_ids(plan.out) & planned
    pending = planned if plan.overwrite else planned - already
    t0 = time.perf_counter()
    launch_error = None
    if pending:
        with Watcher(plan, stream=stream):
            try:
                for group in plan.launch_groups or [None]:  # a design: one launch per arm
                    launch(launcher_overrides(plan, group), plan.model)
            except SystemExit as exc:  # Hydra reports its own errors and exits
                if exc.code not in (0, None):
                    launch_error = f"the launcher stopped (exit {exc.code})"
            except KeyboardInterrupt:
                _mark_interrupted(plan, manifest, time.perf_counter() - t0)
                raise
            except Exception as exc:
                launch_error = f"the launcher stopped: {_one_line(exc)}"
    seconds = time.perf_counter() - t0
    done = finished_ids(plan.out) & planned
    records = failed_records(plan.out)
    failures = {rid: rec for rid, rec in records.items() if rid not in done}
    missing = sorted(planned - done - set(failures))
    manifest["status"] = "complete" if done == planned else "incomplete"
    manifest["counts"] = {
        "planned": len(planned),
        "finished": len(done),
        "already_finished": 0 if plan.overwrite else len(already),
        "failed": len(failures),
        "missing": len(missing),
    }
    manifest["failures"] = [
        {
            "run_id": rid,
            "error": rec.get("error"),
            "seed": rec.get("seed"),
            "replication": rec.get("replication"),
        }
        for rid, rec in sorted(failures.items())
    ]
    manifest["invocations"][-1].update(
        {
            "finished": _dt.datetime.now(_dt.UTC).isoformat(),
            "wall_seconds": seconds,
            "counts": manifest["counts"],
            "launch_error": launch_error,
        }
    )
    try:
        write_json_atomic(plan.out / SWEEP_FILE, manifest)
    except OSError as exc:
        raise _folder_error(exc, plan.out) from None
    manifest["_missing"] = missing
    manifest["_seconds"] = seconds
    manifest["_launch_error"] = launch_error
    return manifest


def _mark_interrupted(plan: Plan, manifest: dict[str, Any], seconds: float) -> None:
    """Record an interrupted invocation in ``sweep.json`` (best effort; it stays resumable)."""
    done = finished_ids(plan.out) & set(plan.run_ids)
    manifest["status"] = "interrupted"
    manifest["invocations"][-1].update(
        {
            "finished": _dt.datetime.now(_dt.UTC).isoformat(),
            "wall_seconds": seconds,
            "interrupted": True,
            "counts": {"planned": len(plan.run_ids), "finished": len(done)},
        }
    )
    try:
        write_json_atomic(plan.out / SWEEP_FILE, manifest)
    except OSError:
        pass


def _nearly_full(folder: Path, room: int = 1 << 20) -> bool:
    """Whether the file system of ``folder`` has less than ``room`` bytes free."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < room
