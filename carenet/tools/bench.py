"""``carenet bench``: speed and memory of the model, and of the patients-as-agents floor.

For each economy (by default the small, default and large presets: about 50 k, 0.5 M and
2 M patients) the benchmark runs :func:`carenet.sim.runner.simulate` in a fresh Python
process, so that peak memory belongs to that economy alone, and reports:

- wall time of ``simulate`` (model construction, the weekly steps, the outputs), with
  construction (organisations + population) and the outputs shown separately;
- simulated patient-weeks per second (patients x steps / wall) and episodes per second;
- time per step split by stage (the model's declared stages, through its ``stage_timer``);
- peak resident memory of the process, and the part above the process after imports.

In the same run it measures the *floor* that a patients-as-Mesa-agents design pays: an
``AgentSet`` of as many minimal patient agents (:class:`FloorPatient`, whose step only
counts a week) stepped with ``shuffle_do`` -- again in a fresh process. The floor is
stepped for ``--floor-steps`` weeks and extrapolated linearly per step to the run's
length (the output says so). It then fits the scaling exponents of wall time against
population (over the economies) and against steps (over three step counts on one economy,
the fastest of :data:`SCALING_REPEAT` runs each: they are short, and one slow run moves
the exponent).

Timings are only as good as the machine is quiet: the 1-minute load average is printed
beside each figure. Speed is never asserted by a test; ``--quick`` is the smoke version.

The measurement code lives here (so that ``carenet bench`` works from an installed
package); ``benchmarks/`` holds scripts built on it (profiling, sweep overhead, the
identical-results check). ``docs/performance.md`` explains the figures.

Options reach :func:`cmd_bench` as ``args.rest``; while the top-level ``carenet`` parser
rejects options it does not know, write ``carenet bench -- --quick`` (a leading ``--`` is
dropped here, so both spellings keep working once the CLI passes them through).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mesa
from mesa.agentset import AgentSet

STAGES: tuple[str, ...] = (
    "shocks",
    "governance",
    "demand",
    "waiting",
    "admission",
    "service",
    "handoffs",
    "learning",
    "record",
)
"""The stages of a week, in the order the model declares them (``carenet.models.stages``)."""

PRESETS: dict[str, list[str]] = {
    "small": ["population=small", "organisations=small"],
    "default": [],
    "large": ["population=large", "organisations=large"],
}
"""Named economies and the overrides that make them."""

WARMUP: list[str] = ["population=small", "organisations=small", "population.size=2000"]
WARMUP_STEPS = 4
QUICK_SIZES: tuple[str, ...] = ("2000", "4000")
QUICK_STEPS = 8
QUICK_FLOOR_STEPS = 2
SCALING_REPEAT = 3
"""The steps exponent's runs are repeated at least this often, the fastest of each kept.

They are short (0.2-1 s on the small economy), so one slow run on a shared machine moved
the exponent from 1.03 to 1.11 between two benches of the same code; three repeats cost
a few seconds.
"""

TARGETS: dict[str, str] = {
    "default_wall": "default economy (0.5 M patients, 260 weeks) in at most 20 s",
    "pw_per_s_large": "at least 10 M patient-weeks/s at 2 M patients",
    "peak_large": "peak memory at most 1.5 GB at 2 M patients",
    "exp_pop": "wall time ~ population^k with k <= 1.1",
    "exp_steps": "wall time ~ steps^k with k <= 1.1",
    "floor_ratio_default": "at least 20x the patients-as-agents floor at 0.5 M patients",
    "floor_step_default": "#17: at least 100x the floor per step at 0.5 M patients",
    "process_ratio_default": "#17: `carenet run` (figure included) within 2x of simulate at 0.5 M",
    "pw_per_s_large_17": "#17: at least 40 M patient-weeks/s at 2 M patients",
    "peak_large_17": "#17: peak memory at most 600 MB at 2 M patients",
    "steps1_process": "#17: `carenet run steps=1` at most 1.2 s as a whole process",
}
"""The targets of issue #6 and, marked ``#17:``, those of issue #17."""

PROCESS_STEPS1: list[str] = ["steps=1", "warmup_weeks=0"]
"""What ``carenet run steps=1`` needs beside the economy (the warm-up must be shorter)."""


def schema_range(section: str, name: str) -> tuple[int, int, str]:
    """``(lo, hi, unit)`` of a model parameter (``section`` "" for a run key), from the schema.

    The benchmark's options are checked against the ranges ``carenet run`` enforces, so that
    a value the model would refuse is refused here, before any worker starts.
    """
    import dataclasses

    from carenet.models import schema
    from carenet.sim.modelspec import RunKeys

    cls = schema.PopulationConfig if section == "population" else RunKeys
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}[name]
    return int(meta["lo"]), int(meta["hi"]), str(meta.get("unit") or "")


def _in_range(key: str, value: int, lo: int, hi: int | None = None, unit: str = "") -> int:
    """``value`` if ``lo <= value <= hi``; else a one-line ValueError naming ``key``."""
    if value < lo or (hi is not None and value > hi):
        allowed = f"must be at least {lo}" + (f" and at most {hi}" if hi is not None else "")
        raise ValueError(
            f"{key}: {value} is not allowed; {allowed}" + (f" ({unit})" if unit else "")
        )
    return value


def size_overrides(token: str) -> list[str]:
    """Overrides for one economy: a preset name, or an integer population (small orgs).

    The population must be within the schema's ``population.size`` range.

    Raises:
        ValueError: If the token is neither, or the population is out of range.
    """
    if token in PRESETS:
        return list(PRESETS[token])
    lo, hi, _ = schema_range("population", "size")
    allowed = (
        f"expected one of {', '.join(PRESETS)} or a whole number of patients from {lo} to {hi}"
    )
    try:
        n = int(token)
    except ValueError:
        raise ValueError(f"--sizes: {token!r} is not allowed; {allowed}") from None
    if not lo <= n <= hi:
        raise ValueError(f"--sizes: {token!r} is not allowed; {allowed}")
    return ["population=small", "organisations=small", f"population.size={n}"]


# ==========================================================================================
# The patients-as-agents floor
# ==========================================================================================
class FloorPatient(mesa.Agent):
    """A minimal patient as a Mesa agent: its step only counts one week."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.weeks = 0

    def step(self) -> None:
        """Age one week: the least work a patient agent can do."""
        self.weeks += 1


class FloorModel(mesa.Model):
    """``n`` minimal patient agents in an ``AgentSet``, stepped with ``shuffle_do``.

    The patients are held twice, as a patients-as-agents design would: in the model's
    own registry (``model.agents``) and in an explicit :class:`mesa.agentset.AgentSet`
    (``patients``). Both can be stepped; the benchmark alternates them and keeps the
    faster as the floor, so the floor is never overstated.

    Args:
        n: Number of patient agents.
        seed: Seed of the model's generator (used by the shuffle).
    """

    def __init__(self, n: int, seed: int = 1) -> None:
        super().__init__(rng=seed)
        FloorPatient.create_agents(self, n)
        self.patients = AgentSet(list(self.agents), random=self.random)

    def step(self) -> None:
        """Step every patient once, in a fresh random order (the explicit AgentSet)."""
        self.patients.shuffle_do("step")

    def step_via(self, via: str) -> None:
        """Step every patient once through ``"patients"`` (the AgentSet) or ``"agents"``.

        Unlike :meth:`step` this does not advance the model's clock: it is the bare cost
        of stepping the patients.
        """
        (self.patients if via == "patients" else self.agents).shuffle_do("step")


# ==========================================================================================
# Workers (each runs in a fresh process)
# ==========================================================================================
def _rss_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024.0 if sys.platform != "darwin" else r / 2**20


def _instrument_model() -> tuple[dict[str, float], list[float]]:
    """Time every stage and the build of CareSystemModel through its timing hook.

    Only ever called in a benchmark worker process: the model's process-wide hook
    (``CareSystemModel.stage_timer``) is set for that process's lifetime. A stage the
    model declares beyond the known ones is timed too (after them, in its order).
    """
    from carenet.models.model import CareSystemModel
    from carenet.models.stages import STAGES as MODEL_STAGES

    names = [*STAGES, *(s.name for s in MODEL_STAGES if s.name not in STAGES)]
    acc = dict.fromkeys(names, 0.0)
    build = [0.0]

    def timer(name: str, seconds: float) -> None:
        if name == "build":
            build[0] += seconds
        else:
            acc[name] = acc.get(name, 0.0) + seconds

    CareSystemModel.stage_timer = staticmethod(timer)  # type: ignore[assignment]
    return acc, build


def _worker_model(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``simulate`` for each step count in ``job['steps']``; the first run's memory."""
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    acc, build = _instrument_model()
    # Warm up: the first run in a process imports pandas/SciPy parts and fills caches;
    # `carenet run` pays that once per process, so it is reported apart (startup_s).
    t0 = time.perf_counter()
    # warmup_weeks=0: the model's warm-up changes what the summary counts, not the work.
    simulate(load_config([*WARMUP, f"steps={WARMUP_STEPS}", "warmup_weeks=0"]), seed=job["seed"])
    startup = time.perf_counter() - t0
    base_mb = _rss_mb()
    runs = []
    for steps in job["steps"]:
        for k in acc:
            acc[k] = 0.0
        build[0] = 0.0
        cfg = load_config([*job["overrides"], f"steps={steps}", "warmup_weeks=0"])
        res = simulate(cfg, seed=job["seed"])
        runs.append(
            {
                "steps": steps,
                "population": cfg.population.size,
                "orgs": len(res.networks["final"]["nodes"]),
                "wall": res.seconds,
                "build": build[0],
                "stages": dict(acc),
                "episodes": float(res.summary.get("episodes_started", 0.0)),
                "peak_mb": _rss_mb(),
                "load": os.getloadavg()[0],
            }
        )
    return {"base_mb": base_mb, "startup": startup, "runs": runs}


def _worker_floor(job: dict[str, Any]) -> dict[str, Any]:
    """Build the floor model and step it ``job['steps']`` times, alternating the sets."""
    base_mb = _rss_mb()
    t0 = time.perf_counter()
    model = FloorModel(job["population"], seed=job["seed"])
    build = time.perf_counter() - t0
    spent = {"patients": [], "agents": []}
    for k in range(job["steps"]):
        via = "patients" if k % 2 == 0 else "agents"
        t1 = time.perf_counter()
        model.step_via(via)
        spent[via].append(time.perf_counter() - t1)
    means = {v: sum(x) / len(x) for v, x in spent.items() if x}
    return {
        "population": job["population"],
        "steps": job["steps"],
        "build": build,
        "per_step": min(means.values()),
        "per_step_by_set": means,
        "peak_mb": _rss_mb(),
        "base_mb": base_mb,
        "load": os.getloadavg()[0],
    }


WORKERS = {"model": _worker_model, "floor": _worker_floor}


BLAS_VARS: tuple[str, ...] = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_setting() -> str:
    """The BLAS thread setting workers inherit (``OPENBLAS_NUM_THREADS``), for the header."""
    return os.environ.get("OPENBLAS_NUM_THREADS", "unset (all cores)")


def run_worker(job: dict[str, Any], blas_threads: int | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh Python process and return its result.

    Args:
        job: What to measure (``kind``: ``model`` or ``floor``, and its parameters).
        blas_threads: Limit the worker's BLAS threads (None: inherit the environment).

    Raises:
        RuntimeError: If the worker fails: one line, the worker's exception (its whole error
            output goes to stderr first when ``CARENET_DEBUG`` is set).
    """
    cmd = [sys.executable, "-m", "carenet.tools.bench", "--worker", json.dumps(job)]
    env = dict(os.environ)
    if blas_threads is not None:
        env.update(dict.fromkeys(BLAS_VARS, str(blas_threads)))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    if os.environ.get("CARENET_DEBUG"):
        sys.stderr.write(proc.stderr)
    if proc.returncode < 0:
        import signal

        try:
            why = f"killed by {signal.Signals(-proc.returncode).name}"
        except ValueError:
            why = f"killed by signal {-proc.returncode}"
        if proc.returncode == -signal.SIGKILL:
            why += " (out of memory?)"
    else:
        err = [ln.strip() for ln in proc.stderr.strip().splitlines() if ln.strip()]
        why = err[-1] if err else f"exit status {proc.returncode}, no result"
    raise RuntimeError(
        f"bench: the {job['kind']} worker failed: {why} "
        "(nothing was written; set CARENET_DEBUG=1 to see its traceback)"
    )


def measure_process(
    overrides: list[str], repeat: int = 1, blas_threads: int | None = None
) -> dict[str, Any]:
    """Time ``carenet run OVERRIDES`` as a whole process (start-up, run, files, figure).

    Each repeat runs in a fresh temporary folder (its outputs are deleted after); the
    fastest is kept. Memory is the child's own peak resident set (``wait4``).

    Args:
        overrides: The run's overrides.
        repeat: Runs; the fastest is kept.
        blas_threads: Limit the run's BLAS threads (None: inherit the environment).

    Returns:
        ``{"command", "wall", "walls", "peak_mb", "load"}``.

    Raises:
        RuntimeError: If the run fails (one line: its last line of error output).
    """
    import shutil
    import tempfile

    cmd = [sys.executable, "-m", "carenet", "run", *overrides]
    env = dict(os.environ)
    if blas_threads is not None:
        env.update(dict.fromkeys(BLAS_VARS, str(blas_threads)))
    walls, peaks = [], []
    for _ in range(repeat):
        folder = tempfile.mkdtemp(prefix="carenet-bench-")
        try:
            t0 = time.perf_counter()
            child = subprocess.Popen(
                cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            err = child.stderr.read() if child.stderr else b""
            _, status, usage = os.wait4(child.pid, 0)
            walls.append(time.perf_counter() - t0)
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.stderr:
                child.stderr.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if child.returncode != 0:
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            why = lines[-1].strip() if lines else f"exit status {child.returncode}"
            raise RuntimeError(f"bench: `carenet run {' '.join(overrides)}` failed: {why}")
        peaks.append(
            usage.ru_maxrss / 1024.0 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
        )
    best = min(range(repeat), key=walls.__getitem__)
    return {
        "command": "carenet run " + " ".join(overrides),
        "wall": walls[best],
        "walls": walls,
        "peak_mb": peaks[best],
        "load": os.getloadavg()[0],
    }


def _measure_processes(
    economies: list[EconomyResult], seed: int, repeat: int, say: Any, blas_threads: int | None
) -> dict[str, dict[str, Any]]:
    """``carenet run`` on the default economy (or the last one measured), and ``steps=1``.

    The full run uses the economy's overrides and steps, with its figure and files; its
    ``simulate`` time is that economy's wall, so the ratio compares the two.
    """
    if not economies:
        return {}
    by = {e.name: e for e in economies}
    eco = by.get("default", economies[-1])
    ov = [*size_overrides(eco.name), f"seed={seed}"]
    say(f"  {eco.name}: whole process, carenet run steps={eco.steps} ...")
    full = measure_process([*ov, f"steps={eco.steps}", "warmup_weeks=0"], repeat, blas_threads)
    full.update(economy=eco.name, steps=eco.steps, simulate_wall=eco.wall)
    full["ratio"] = full["wall"] / eco.wall
    say(f"  {eco.name}: whole process, carenet run steps=1 ...")
    one = measure_process([*ov, *PROCESS_STEPS1], repeat, blas_threads)
    one.update(economy=eco.name, steps=1)
    return {"run": full, "steps1": one}


# ==========================================================================================
# The benchmark
# ==========================================================================================
@dataclass
class EconomyResult:
    """Figures for one economy (best of the repeats by wall time)."""

    name: str
    population: int
    orgs: int
    steps: int
    wall: float
    build: float
    stages: dict[str, float]
    episodes: float
    peak_mb: float
    base_mb: float
    load: float
    startup: float = 0.0
    walls: list[float] = field(default_factory=list)
    floor: dict[str, Any] | None = None

    @property
    def patient_weeks_per_s(self) -> float:
        """Simulated patient-weeks per second of wall time."""
        return self.population * self.steps / self.wall

    @property
    def episodes_per_s(self) -> float:
        """Care episodes started per second of wall time."""
        return self.episodes / self.wall

    @property
    def floor_wall(self) -> float:
        """The floor's wall time for ``steps`` weeks (extrapolated per step), seconds."""
        if not self.floor:
            return math.nan
        return self.floor["build"] + self.floor["per_step"] * self.steps

    @property
    def floor_ratio(self) -> float:
        """How many times faster than the floor carenet runs the same patient-weeks."""
        return self.floor_wall / self.wall if self.floor else math.nan

    @property
    def step_s(self) -> float:
        """Seconds per step of carenet's stages (without build and outputs)."""
        return sum(self.stages.values()) / self.steps

    @property
    def floor_step_ratio(self) -> float:
        """The floor's seconds per step over carenet's (construction left out of both)."""
        if not self.floor or self.step_s <= 0:
            return math.nan
        return self.floor["per_step"] / self.step_s


@dataclass
class BenchResult:
    """Everything one ``carenet bench`` run measured."""

    economies: list[EconomyResult]
    scaling_name: str
    scaling: list[dict[str, Any]]
    exp_pop: float
    exp_steps: float
    meta: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Whole-process ``carenet run`` timings (:func:`measure_process`), by name."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of all figures."""
        eco = []
        for e in self.economies:
            d = asdict(e)
            d.update(
                patient_weeks_per_s=e.patient_weeks_per_s,
                episodes_per_s=e.episodes_per_s,
                floor_wall=e.floor_wall,
                floor_ratio=e.floor_ratio,
                floor_step_ratio=e.floor_step_ratio,
            )
            eco.append(d)
        return {
            "economies": eco,
            "scaling_economy": self.scaling_name,
            "scaling": self.scaling,
            "exp_pop": self.exp_pop,
            "exp_steps": self.exp_steps,
            "processes": self.processes,
            "targets": check_targets(self),
            "meta": self.meta,
        }


def fit_exponent(x: list[float], y: list[float]) -> float:
    """Slope of log(y) on log(x) by least squares (NaN with fewer than two distinct x)."""
    import numpy as np

    xs, ys = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(set(xs.tolist())) < 2:
        return math.nan
    return float(np.polyfit(xs, ys, 1)[0])


def measure(
    sizes: list[str],
    steps: int,
    scaling_steps: list[int],
    scaling_size: str,
    floor_steps: int,
    repeat: int = 1,
    seed: int = 1,
    floor: bool = True,
    log: Any = None,
    blas_threads: int | None = None,
    process: bool = True,
) -> BenchResult:
    """Run the whole benchmark (every measurement in its own process).

    Args:
        sizes: Economies (preset names or populations), in increasing size.
        steps: Weeks per run.
        scaling_steps: Step counts for the steps exponent (on ``scaling_size``).
        scaling_size: The economy the steps exponent is measured on.
        floor_steps: Weeks the floor is stepped (extrapolated to ``steps``).
        repeat: Repeats of each measurement; the fastest is kept (the steps exponent's
            runs at least :data:`SCALING_REPEAT` times).
        seed: Run seed.
        floor: Measure the patients-as-agents floor.
        log: Called with a progress line (e.g. ``print``), or None.
        blas_threads: Limit the workers' BLAS threads (None: inherit the environment).
        process: Also time ``carenet run`` as whole processes (:func:`measure_process`).
    """
    say = log or (lambda _s: None)
    meta: dict[str, Any] = {
        "load_start": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "mesa": mesa.__version__,
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "blas_threads": str(blas_threads) if blas_threads is not None else blas_setting(),
    }
    economies: list[EconomyResult] = []
    for token in sizes:
        eco = _measure_economy(token, steps, repeat, seed, say, blas_threads)
        if floor:
            eco.floor = _measure_floor(eco, steps, floor_steps, repeat, seed, say, blas_threads)
        economies.append(eco)
    say(f"  steps scaling on {scaling_size}: {scaling_steps} ...")
    scaling_repeat = max(repeat, SCALING_REPEAT)
    scaling = _measure_scaling(scaling_size, scaling_steps, scaling_repeat, seed, blas_threads)
    exp_pop = fit_exponent([e.population for e in economies], [e.wall for e in economies])
    exp_steps = fit_exponent([s["steps"] for s in scaling], [s["wall"] for s in scaling])
    processes = _measure_processes(economies, seed, repeat, say, blas_threads) if process else {}
    meta["load_end"] = os.getloadavg()[0]
    meta["repeat"] = repeat
    meta["scaling_repeat"] = scaling_repeat
    meta["floor_steps"] = floor_steps
    meta["seed"] = seed
    return BenchResult(economies, scaling_size, scaling, exp_pop, exp_steps, meta, processes)


def _measure_economy(
    token: str, steps: int, repeat: int, seed: int, say: Any, blas_threads: int | None
) -> EconomyResult:
    """One economy's run, ``repeat`` times in fresh processes; the fastest is kept."""
    ov = size_overrides(token)
    best = None
    walls: list[float] = []
    for r in range(repeat):
        say(f"  {token}: carenet run {r + 1}/{repeat} ...")
        out = run_worker(
            {"kind": "model", "overrides": ov, "steps": [steps], "seed": seed}, blas_threads
        )
        run = out["runs"][0]
        walls.append(run["wall"])
        if best is None or run["wall"] < best[0]["wall"]:
            best = (run, out["base_mb"], out["startup"])
    assert best is not None
    run, base, startup = best
    return EconomyResult(
        name=token,
        population=run["population"],
        orgs=run["orgs"],
        steps=steps,
        wall=run["wall"],
        build=run["build"],
        stages=run["stages"],
        episodes=run["episodes"],
        peak_mb=run["peak_mb"],
        base_mb=base,
        load=run["load"],
        startup=startup,
        walls=walls,
    )


def _measure_floor(
    eco: EconomyResult,
    steps: int,
    floor_steps: int,
    repeat: int,
    seed: int,
    say: Any,
    blas_threads: int | None,
) -> dict[str, Any] | None:
    """The patients-as-agents floor for ``eco``'s population; the fastest extrapolation."""
    fbest = None
    for r in range(repeat):
        say(f"  {eco.name}: patients-as-agents floor {r + 1}/{repeat} ...")
        f = run_worker(
            {"kind": "floor", "population": eco.population, "steps": floor_steps, "seed": seed},
            blas_threads,
        )
        if fbest is None or f["build"] + f["per_step"] * steps < (
            fbest["build"] + fbest["per_step"] * steps
        ):
            fbest = f
    return fbest


def _measure_scaling(
    size: str, scaling_steps: list[int], repeat: int, seed: int, blas_threads: int | None
) -> list[dict[str, Any]]:
    """Runs of ``size`` at each step count (one process a repeat); the fastest of each."""
    scaling: list[dict[str, Any]] = []
    for r in range(repeat):
        out = run_worker(
            {
                "kind": "model",
                "overrides": size_overrides(size),
                "steps": list(scaling_steps),
                "seed": seed,
            },
            blas_threads,
        )
        for k, run in enumerate(out["runs"]):
            if r == 0:
                scaling.append(run)
            elif run["wall"] < scaling[k]["wall"]:
                scaling[k] = run
    return scaling


def check_targets(res: BenchResult) -> dict[str, dict[str, Any]]:
    """Each target of issue #6: its value here and whether it is met (None: not measured)."""
    by = {e.name: e for e in res.economies}
    d, lg = by.get("default"), by.get("large")
    out: dict[str, dict[str, Any]] = {}

    def put(key: str, value: float | None, ok: bool | None, shown: str) -> None:
        out[key] = {"target": TARGETS[key], "value": value, "met": ok, "shown": shown}

    if d is not None and d.steps == 260:
        put("default_wall", d.wall, d.wall <= 20.0, f"{d.wall:.1f} s")
    else:
        put("default_wall", None, None, "not measured (needs --sizes default and 260 steps)")
    _targets_large(lg, put, "", 10e6, 1536.0)
    for key, v in (("exp_pop", res.exp_pop), ("exp_steps", res.exp_steps)):
        ok = None if math.isnan(v) else v <= 1.1
        put(key, None if math.isnan(v) else v, ok, "n/a" if math.isnan(v) else f"{v:.2f}")
    if d is not None and d.floor:
        put("floor_ratio_default", d.floor_ratio, d.floor_ratio >= 20.0, f"{d.floor_ratio:.1f}x")
    else:
        put("floor_ratio_default", None, None, "not measured (needs --sizes default, floor)")
    _targets_17(res, d, lg, put)
    return out


def _targets_large(
    lg: EconomyResult | None, put: Any, suffix: str, min_pw: float, max_mb: float
) -> None:
    """The 2 M economy's speed and memory targets.

    Keys ``pw_per_s_large`` and ``peak_large`` with ``suffix``: at least ``min_pw``
    patient-weeks/s, at most ``max_mb`` MB.
    """
    pw_key, mb_key = f"pw_per_s_large{suffix}", f"peak_large{suffix}"
    if lg is None:
        put(pw_key, None, None, "not measured (needs --sizes large)")
        put(mb_key, None, None, "not measured (needs --sizes large)")
        return
    pw = lg.patient_weeks_per_s
    put(pw_key, pw, pw >= min_pw, f"{pw / 1e6:.1f} M/s")
    put(mb_key, lg.peak_mb, lg.peak_mb <= max_mb, f"{lg.peak_mb:,.0f} MB")


def _targets_17(
    res: BenchResult, d: EconomyResult | None, lg: EconomyResult | None, put: Any
) -> None:
    """The targets of issue #17 (per-step floor ratio, whole process, 2 M figures)."""
    if d is not None and d.floor and not math.isnan(d.floor_step_ratio):
        r = d.floor_step_ratio
        put("floor_step_default", r, r >= 100.0, f"{r:.1f}x")
    else:
        put("floor_step_default", None, None, "not measured (needs --sizes default, floor)")
    run = res.processes.get("run")
    if run is not None and run.get("economy") == "default" and run.get("steps") == 260:
        put("process_ratio_default", run["ratio"], run["ratio"] <= 2.0, f"{run['ratio']:.2f}x")
    else:
        put("process_ratio_default", None, None, "not measured (needs default, 260 steps)")
    _targets_large(lg, put, "_17", 40e6, 600.0)
    one = res.processes.get("steps1")
    if one is not None and one.get("economy") == "default":
        put("steps1_process", one["wall"], one["wall"] <= 1.2, f"{one['wall']:.2f} s")
    elif one is not None:
        put("steps1_process", None, None, f"{one['wall']:.2f} s on {one['economy']}, not default")
    else:
        put("steps1_process", None, None, "not measured (--no-process)")


# ==========================================================================================
# Printing
# ==========================================================================================
def _fmt_rate(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def format_report(res: BenchResult) -> str:
    """The benchmark's tables as Markdown-compatible text."""
    lines = _economy_table(res) + _floor_table(res) + _stage_table(res) + _scaling_lines(res)
    return "\n".join(lines)


def _economy_table(res: BenchResult) -> list[str]:
    """The heading line and one row an economy: speed, memory, load and the floor."""
    m = res.meta
    lines = [
        f"carenet bench  {m['started']}  Python {m['python']}  Mesa {m['mesa']}  "
        f"{m['cpus']} CPUs  seed {m['seed']}  best of {m['repeat']}  "
        f"BLAS threads {m['blas_threads']}",
        f"load average (1 min): {m['load_start']:.2f} at start, {m['load_end']:.2f} at end",
        "",
        "| economy | patients | orgs | steps | wall s | build s | patient-weeks/s | "
        "episodes/s | peak MB | load | floor wall s | floor peak MB | x floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in res.economies:
        fw = f"{e.floor_wall:.3g}" if e.floor else "-"
        fp = f"{e.floor['peak_mb']:,.0f}" if e.floor else "-"
        fr = f"{e.floor_ratio:.3g}" if e.floor else "-"
        lines.append(
            f"| {e.name} | {e.population:,} | {e.orgs} | {e.steps} | {e.wall:.2f} | "
            f"{e.build:.2f} | {_fmt_rate(e.patient_weeks_per_s)} | "
            f"{_fmt_rate(e.episodes_per_s)} | {e.peak_mb:,.0f} | {e.load:.2f} | "
            f"{fw} | {fp} | {fr} |"
        )
    return lines


def _floor_table(res: BenchResult) -> list[str]:
    """How the patients-as-agents floor was measured, and its figures (if measured)."""
    if not any(e.floor for e in res.economies):
        return []
    lines = [""]
    lines.append(
        f"Floor: {res.economies[0].floor['steps'] if res.economies[0].floor else '?'} "
        "shuffle_do steps of minimal Mesa patient agents (alternately an explicit AgentSet "
        "and model.agents; the faster kept), extrapolated linearly per step to the "
        "run's steps: floor wall = build + steps x per-step."
    )
    lines.append("| economy | floor build s | floor s/step | floor base MB | carenet s/step |")
    lines.append("|---|---:|---:|---:|---:|")
    for e in res.economies:
        if e.floor:
            lines.append(
                f"| {e.name} | {e.floor['build']:.2f} | {e.floor['per_step']:.3f} | "
                f"{e.floor['base_mb']:,.0f} | {sum(e.stages.values()) / e.steps:.3f} |"
            )
    return lines


def _stage_table(res: BenchResult) -> list[str]:
    """Time per step by stage (from the model's stage timing hook), build and outputs."""
    names = list(res.economies[0].stages) if res.economies else []
    lines = ["", "Time per step by stage (ms/step; share of stepping time):", ""]
    head = "| stage | " + " | ".join(e.name for e in res.economies) + " |"
    lines += [head, "|---|" + "---:|" * len(res.economies)]
    for n in names:
        cells = []
        for e in res.economies:
            tot = sum(e.stages.values()) or 1.0
            cells.append(f"{1000 * e.stages[n] / e.steps:.1f} ({100 * e.stages[n] / tot:.0f}%)")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append(
        "| **all stages (ms/step)** | "
        + " | ".join(f"{1000 * sum(e.stages.values()) / e.steps:.1f}" for e in res.economies)
        + " |"
    )
    lines.append(
        "| build (s, once) | " + " | ".join(f"{e.build:.2f}" for e in res.economies) + " |"
    )
    lines.append(
        "| outputs (s, once) | "
        + " | ".join(
            f"{max(e.wall - e.build - sum(e.stages.values()), 0.0):.2f}" for e in res.economies
        )
        + " |"
    )
    return lines


def _scaling_lines(res: BenchResult) -> list[str]:
    """The population and steps exponents, and each target met or not."""
    lines = [
        "",
        f"Scaling: wall ~ population^{res.exp_pop:.2f} over "
        + ", ".join(f"{e.population:,}" for e in res.economies)
        + " patients (economies as listed: organisations grow with them);",
        f"         wall ~ steps^{res.exp_steps:.2f} over "
        + ", ".join(f"{s['steps']} ({s['wall']:.2f} s)" for s in res.scaling)
        + f" steps on {res.scaling_name}"
        + f" (best of {res.meta.get('scaling_repeat', res.meta.get('repeat', 1))}).",
        *_process_lines(res),
        "",
        "Targets (issues #6 and #17, 2-core machine, one process):",
    ]
    for t in check_targets(res).values():
        mark = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        lines.append(f"  [{mark:>7}] {t['target']}: {t['shown']}")
    return lines


def _process_lines(res: BenchResult) -> list[str]:
    """Whole-process timings and the per-step floor ratio (issue #17's figures)."""
    lines = ["", "Ratios (issue #17):"]
    for e in res.economies:
        if e.floor:
            lines.append(
                f"  {e.name}: {1000 * e.step_s:.1f} ms/step against the floor's "
                f"{1000 * e.floor['per_step']:.0f} ms/step = {e.floor_step_ratio:.1f}x the floor "
                f"per step; {_fmt_rate(e.patient_weeks_per_s)} patient-weeks/s; "
                f"peak {e.peak_mb:,.0f} MB"
            )
    run, one = res.processes.get("run"), res.processes.get("steps1")
    if run:
        lines.append(
            f"  whole process: `{run['command']}` {run['wall']:.2f} s (peak {run['peak_mb']:,.0f} "
            f"MB, load {run['load']:.2f}) = {run['ratio']:.2f}x simulate's "
            f"{run['simulate_wall']:.2f} s"
        )
    if one:
        lines.append(
            f"  whole process: `{one['command']}` {one['wall']:.2f} s "
            f"(peak {one['peak_mb']:,.0f} MB, load {one['load']:.2f})"
        )
    if not run and not one:
        lines.append("  whole-process timings not measured (--no-process)")
    return lines


# ==========================================================================================
# Command line
# ==========================================================================================
def build_parser() -> argparse.ArgumentParser:
    """Options of ``carenet bench`` (a usage error is one line, see :class:`OneLineParser`)."""
    from carenet.cli import OneLineParser

    p = OneLineParser(
        prog="carenet bench",
        description="Benchmark carenet's speed and memory against the patients-as-agents "
        "floor. Each measurement runs in a fresh process.",
    )
    p.add_argument(
        "--quick", action="store_true", help="a fast smoke run (tiny economies, few steps)"
    )
    p.add_argument(
        "--sizes",
        default=None,
        help="comma-separated economies: small, default, large, or a number of patients "
        "(with the small organisations); default: small,default,large",
    )
    p.add_argument("--steps", type=int, default=None, help="weeks per run (default 260)")
    p.add_argument(
        "--scaling-steps",
        default=None,
        help="comma-separated step counts for the steps exponent (default steps/4,steps/2,steps)",
    )
    p.add_argument(
        "--scaling-size",
        default=None,
        help="economy for the steps exponent (default: the first of --sizes)",
    )
    p.add_argument(
        "--floor-steps",
        type=int,
        default=None,
        help="weeks the patients-as-agents floor is stepped, then extrapolated (default 20)",
    )
    p.add_argument("--no-floor", action="store_true", help="skip the patients-as-agents floor")
    p.add_argument(
        "--no-process",
        action="store_true",
        help="skip the whole-process `carenet run` timings (with figure, and steps=1)",
    )
    p.add_argument("--repeat", type=int, default=1, help="repeat each measurement, keep the best")
    p.add_argument("--seed", type=int, default=1, help="run seed (default 1)")
    p.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads in the measured processes (default: inherit, as "
        "`carenet run` does)",
    )
    p.add_argument(
        "--json",
        default=None,
        help="also write all figures to this file (written whole or not at all; an "
        "existing file is replaced only if it is an earlier benchmark result)",
    )
    return p


def _int_list(
    text: str, what: str, lo: int = 1, hi: int | None = None, unit: str = ""
) -> list[int]:
    vals = []
    for x in text.split(","):
        if not x.strip():
            continue
        try:
            vals.append(int(x))
        except ValueError:
            raise ValueError(
                f"{what}: {text!r} is not a comma-separated list of integers"
            ) from None
    if not vals:
        raise ValueError(
            f"{what}: {text!r} gives no step counts; expected comma-separated integers "
            "such as 65,130,260"
        )
    for v in vals:
        _in_range(what, v, lo, hi, unit)
    return vals


def _sizes(text: str) -> list[str]:
    """The economies of ``--sizes``, each checked (a preset or a population in range)."""
    sizes = [s.strip() for s in text.split(",") if s.strip()]
    if not sizes:
        raise ValueError(
            f"--sizes: {text!r} gives no sizes; expected comma-separated integers such as "
            f"50000,500000 (or {', '.join(PRESETS)})"
        )
    for s in sizes:
        size_overrides(s)
    return sizes


# ------------------------------------------------------------------------------------------
# The --json file: checked before anything runs, written atomically after
# ------------------------------------------------------------------------------------------
MAX_RESULT_BYTES = 64 * 2**20
"""A file larger than this is never taken for an earlier benchmark result."""


def _is_bench_result(path: Path) -> bool:
    """Whether ``path`` is empty or holds an earlier ``carenet bench`` result (safe to replace)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return True
        if size > MAX_RESULT_BYTES:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "economies" in data and "meta" in data


def check_json_target(raw: str) -> Path:
    """The file ``--json RAW`` will write (symbolic links followed), checked up front.

    Raises:
        ValueError: One line naming ``--json``, the value and what is wrong: not a file
            name, a folder, not a regular file, a missing or unwritable folder, or an
            existing file that is not an earlier benchmark result (it would be lost).
    """
    import tempfile

    key = f"--json: {raw!r}"
    if not raw.strip():
        raise ValueError(f"{key} is not a file name; expected a file such as bench.json")
    if raw.endswith(("/", os.sep)) or Path(raw).name in ("", ".", ".."):
        raise ValueError(f"{key} names a folder; expected a file name such as bench.json")
    target = Path(os.path.realpath(Path(raw).expanduser()))
    if target.is_dir():
        raise ValueError(
            f"{key} is a folder; expected a file name such as {str(Path(raw) / 'bench.json')!r}"
        )
    if os.path.lexists(target) and not target.is_file():
        raise ValueError(f"{key} is not a regular file; expected a file such as bench.json")
    folder = target.parent
    if not folder.exists():
        raise ValueError(
            f"{key}: the folder {str(folder)!r} does not exist; create it first, or give a "
            "file in an existing folder"
        )
    if not folder.is_dir():
        raise ValueError(
            f"{key}: {str(folder)!r} is not a folder; expected a file in an existing folder"
        )
    if target.is_file():
        if not os.access(target, os.W_OK):
            raise ValueError(f"{key} is read-only; choose a file you can write")
        if not _is_bench_result(target):
            raise ValueError(
                f"{key} already exists and is not a carenet bench result; replacing it "
                "would lose it: remove it or choose another file"
            )
    try:  # the only sure test that a file can be made there (root ignores mode bits)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".carenet-bench-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        try:
            read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
        except OSError:
            read_only = False
        why = "read-only file system" if read_only else (exc.strerror or str(exc)).lower()
        raise ValueError(
            f"{key} cannot be written ({str(folder)!r}: {why}); choose a folder you can write to"
        ) from None
    return target


def json_safe(x: Any) -> Any:
    """``x`` with NaN and infinities as None (JSON has no NaN), tuples as lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``: complete, or not at all (the old file kept).

    The text goes to a temporary file in the same folder, is flushed to disk, then renamed
    over ``path``; on any failure the temporary file is removed and ``path`` is untouched.
    A replaced file keeps its mode (and, where allowed, its owner); a new one gets the
    mode the umask gives. NaN and infinities are written as null.

    Raises:
        OSError: If the file could not be written (disk full, read-only ...).
    """
    import tempfile

    text = json.dumps(json_safe(data), indent=2, default=str, allow_nan=False) + "\n"
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    if old is not None:
        mode = old.st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".carenet-bench-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(tmp, old.st_uid, old.st_gid)
            except OSError:
                pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def parse_options(rest: list[str]) -> dict[str, Any]:
    """Check every option of ``carenet bench`` before anything runs.

    Returns:
        The settings :func:`measure` takes, and ``json`` (the file to write, or None).

    Raises:
        ValueError: One line naming the option, the value and what is allowed.
        SystemExit: From the parser (its one-line usage error, exit 2; or ``--help``).
    """
    opts = build_parser().parse_args(rest)
    steps_lo, steps_hi, steps_unit = schema_range("", "steps")
    seed_lo, seed_hi, _ = schema_range("", "seed")
    if opts.sizes is not None:
        sizes = _sizes(opts.sizes)
    else:
        sizes = list(QUICK_SIZES if opts.quick else PRESETS)
    if opts.steps is not None:
        steps = _in_range("--steps", opts.steps, steps_lo, steps_hi, steps_unit)
    else:
        steps = QUICK_STEPS if opts.quick else 260
    if opts.scaling_steps is not None:
        scaling_steps = sorted(
            set(_int_list(opts.scaling_steps, "--scaling-steps", 1, steps_hi, steps_unit))
        )
    else:
        scaling_steps = sorted({max(1, steps // 4), max(1, steps // 2), steps})
    if opts.scaling_size is not None:
        if not opts.scaling_size.strip():
            raise ValueError(
                f"--scaling-size: {opts.scaling_size!r} gives no economy; expected one of "
                f"{', '.join(PRESETS)} or a number of patients such as 50000"
            )
        scaling_size = opts.scaling_size.strip()
        try:
            size_overrides(scaling_size)
        except ValueError as exc:
            raise ValueError(str(exc).replace("--sizes:", "--scaling-size:", 1)) from None
    else:
        scaling_size = sizes[0]
    if opts.floor_steps is not None:
        floor_steps = _in_range("--floor-steps", opts.floor_steps, 1)
    else:
        floor_steps = QUICK_FLOOR_STEPS if opts.quick else 20
    _in_range("--repeat", opts.repeat, 1)
    _in_range("--seed", opts.seed, seed_lo, seed_hi)
    if opts.blas_threads is not None:
        _in_range("--blas-threads", opts.blas_threads, 1)
    return {
        "sizes": sizes,
        "steps": steps,
        "scaling_steps": scaling_steps,
        "scaling_size": scaling_size,
        "floor_steps": min(floor_steps, steps),
        "repeat": opts.repeat,
        "seed": opts.seed,
        "floor": not opts.no_floor,
        "process": not opts.no_process,
        "blas_threads": opts.blas_threads,
        "json": None if opts.json is None else (opts.json, check_json_target(opts.json)),
    }


def cmd_bench(args: argparse.Namespace) -> int:
    """Entry point of ``carenet bench`` (``args.rest`` holds its options).

    Every option, and the ``--json`` file, is checked before anything runs: bad input is
    one line on stderr and exit 2. A measurement that fails, or a ``--json`` file that
    cannot be written, is one line and exit 1; the file is written atomically, so an
    earlier result there is kept whole.
    """
    from carenet.cli import fail

    rest = list(getattr(args, "rest", []) or [])
    if rest[:1] == ["--"]:  # ``carenet bench -- --quick`` (see the module docstring)
        rest = rest[1:]
    try:
        o = parse_options(rest)
    except SystemExit as exc:  # argparse has printed its usage line (or the help)
        return int(exc.code or 0)
    except ValueError as exc:
        return fail(str(exc))
    json_to = o.pop("json")
    print(
        f"carenet bench: economies {', '.join(o['sizes'])}; {o['steps']} steps; floor stepped "
        f"{o['floor_steps']} weeks and extrapolated; load average {os.getloadavg()[0]:.2f}",
        file=sys.stderr,
    )
    try:
        res = measure(**o, log=lambda s: print(s, file=sys.stderr, flush=True))
    except RuntimeError as exc:
        return fail(str(exc), 1)
    print(format_report(res))
    if json_to is not None:
        raw, target = json_to
        had = target.exists()
        try:
            write_json_atomic(target, res.to_json())
        except OSError as exc:
            kept = f"{raw!r} is unchanged" if had else "nothing was written"
            why = (exc.strerror or str(exc)).lower()
            return fail(f"--json: could not write {raw!r} ({why}); {kept}", 1)
        print(f"\nFigures written to {raw}")
    return 0


def _worker_main(argv: list[str]) -> int:
    """``python -m carenet.tools.bench --worker JOB``: run one measurement, print JSON."""
    job = json.loads(argv[argv.index("--worker") + 1])
    result = WORKERS[job["kind"]](job)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_worker_main(sys.argv))
