"""Sweep throughput: the per-run overhead of the sweep machinery, and parallel efficiency.

Measures, for a sweep of ``--runs`` small runs (about 1 s each by default):

1. in one process, ``load_config`` + ``run_scenario`` (simulate and write the files)
   against ``load_config`` + ``simulate``: what writing a run costs;
2. through ``carenet run -m seed=range(...)`` with the default launcher (carenet's
   ``local``) one at a time (``hydra.launcher.n_jobs=1``): sweep wall time, as a whole
   process, against the runs' own compute (the ``wall_seconds`` of ``simulate`` in each
   run's manifest); the difference is the sweep's overhead (start-up, planning,
   composition, writing, watching), printed per run and as a share of the compute;
3. the same sweep with ``--jobs`` workers: parallel efficiency = (one-worker sweep wall) /
   (workers x parallel sweep wall);
4. with ``--hydra``, steps 2 and 3 again with Hydra's own ``basic`` and ``joblib``
   launchers, for comparison.

Targets (issue #6): overhead at most 10% of the runs' compute for 1 s runs; parallel
efficiency at least 80% on 2 workers. The default, 180 weeks of the small economy, is
about 1 s a run on the project's 2-core machine. Timings depend on the machine's load,
which is printed; run it on a quiet machine::

    python benchmarks/sweep_overhead.py                   # 40 runs of about 1 s
    python benchmarks/sweep_overhead.py --runs 10 --steps 52 --hydra
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = "import sys; from carenet.cli import main; sys.exit(main())"


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def in_process(base: list[str], reps: int, tmp: Path) -> dict[str, float]:
    from carenet.sim.config import load_config
    from carenet.sim.runner import run_scenario, simulate

    base = [*base, "figures=false"]  # as in a sweep
    simulate(load_config([*base, "steps=3", "warmup_weeks=0"]))  # imports, caches
    sims, full = [], []
    for k in range(reps):
        t0 = time.perf_counter()
        simulate(load_config(base))
        sims.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_scenario(load_config(base), tmp / f"inproc-{k}", progress=False)
        full.append(time.perf_counter() - t0)
    return {"simulate": min(sims), "run_scenario": min(full)}


def sweep(base: list[str], runs: int, out: Path, launcher: list[str]) -> dict[str, float]:
    cmd = [sys.executable, "-c", CLI, "run", "-m", f"seed=range(1,{runs + 1})", *base]
    return timed_sweep([*cmd, f"out={out}", *launcher], out, "sweep")


def timed_sweep(cmd: list[str], out: Path, what: str) -> dict[str, float]:
    """Run one ``carenet run -m`` process writing to ``out``: its wall time and runs' compute.

    The compute is the sum of the runs' ``wall_seconds`` (``simulate``, from each manifest).
    """
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    manifests = list((out / "runs").glob("*/manifest.json"))
    compute = sum(json.loads(m.read_text())["wall_seconds"] for m in manifests)
    return {"wall": wall, "compute": compute, "runs": len(manifests)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=180)
    ap.add_argument(
        "--economy",
        default="population=small organisations=small",
        help="overrides of each run (default: the small economy, about 1 s a run)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the sweep folders")
    ap.add_argument("--hydra", action="store_true", help="also time Hydra's basic and joblib")
    a = ap.parse_args()
    base = [*a.economy.split(), f"steps={a.steps}"]
    tmp = Path(tempfile.mkdtemp(prefix="carenet-sweep-bench-"))
    env_blas = os.environ.get("OPENBLAS_NUM_THREADS", "(unset)")
    print(f"sweep overhead: {a.runs} runs of [{' '.join(base)}]; OPENBLAS_NUM_THREADS={env_blas}")
    try:
        print(f"load {load()}: in-process simulate vs run_scenario (best of 3) ...")
        ip = in_process(base, 3, tmp)
        write = ip["run_scenario"] - ip["simulate"]
        print(
            f"  load_config + simulate {ip['simulate']:.2f} s; load_config + run_scenario "
            f"{ip['run_scenario']:.2f} s; writing the files {write:.3f} s/run "
            f"({100 * write / ip['simulate']:.0f}%; best of 3, so noisy)"
        )
        launchers = [("local", "hydra/launcher=local", "hydra.launcher.n_jobs")]
        if a.hydra:
            launchers += [("basic", "hydra/launcher=basic", None)]
            launchers += [("joblib", "hydra/launcher=joblib", "hydra.launcher.n_jobs")]
        serial: dict[str, float] = {}
        for name, choice, n_key in launchers:
            if name == "joblib":
                one = serial["basic"]
            else:
                print(f"load {load()}: carenet run -m, {name} launcher, one run at a time ...")
                extra = [choice] + ([f"{n_key}=1"] if n_key else [])
                s1 = sweep(base, a.runs, tmp / f"{name}-1", extra)
                over = s1["wall"] - s1["compute"]
                per = over / max(s1["runs"], 1)
                print(
                    f"  {s1['runs']} runs, sweep wall {s1['wall']:.1f} s (whole process), runs' "
                    f"compute {s1['compute']:.1f} s ({s1['compute'] / max(s1['runs'], 1):.2f} "
                    f"s/run); overhead {over:.1f} s = {per:.3f} s/run = "
                    f"{100 * over / s1['compute']:.1f}% of compute (target <= 10%)"
                )
                serial[name] = one = s1["wall"]
                if name == "basic":
                    continue
            print(f"load {load()}: carenet run -m, {name} launcher, {a.jobs} workers ...")
            s2 = sweep(base, a.runs, tmp / f"{name}-{a.jobs}", [choice, f"{n_key}={a.jobs}"])
            eff = one / (a.jobs * s2["wall"])
            print(
                f"  {s2['runs']} runs, sweep wall {s2['wall']:.1f} s (runs' compute "
                f"{s2['compute']:.1f} s); parallel efficiency {100 * eff:.0f}% vs the "
                f"one-worker sweep (target >= 80%)"
            )
        print(f"load {load()} at end")
    finally:
        if a.keep:
            print(f"folders kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
