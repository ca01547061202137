"""Sweep scaling: one sweep run with 1, 2, 4, ... worker processes of the local launcher.

For each worker count, ``carenet run -m seed=range(...)`` runs the same ``--runs`` runs
(carenet's ``local`` launcher, ``hydra.launcher.n_jobs=N``) as a whole process, and the
script prints: sweep wall time, the runs' own compute (sum of each run's
``wall_seconds``), the mean run time (it grows when workers share memory bandwidth), the
speed-up over one worker and the parallel efficiency (speed-up / N). With ``--no-serial``
the one-worker sweep is skipped and efficiency is taken against the runs' compute alone
(sum of compute / (N x wall)), which is what a one-worker sweep would take at best::

    python benchmarks/sweep_scaling.py --jobs 1,2                      # a laptop
    python benchmarks/sweep_scaling.py --jobs 1,2,4,8,16 --runs 32     # a 16-core node
    python benchmarks/sweep_scaling.py --jobs 8,16 --runs 32 --no-serial \\
        --economy "population=default organisations=default" --steps 260
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_overhead import load, sweep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=180)
    ap.add_argument("--economy", default="population=small organisations=small")
    ap.add_argument("--no-serial", action="store_true", help="efficiency vs compute only")
    ap.add_argument("--json", help="write every figure to this file")
    a = ap.parse_args()
    jobs = [int(j) for j in a.jobs.split(",")]
    base = [*a.economy.split(), f"steps={a.steps}"]
    print(
        f"sweep scaling: {a.runs} runs of [{' '.join(base)}], local launcher; "
        f"{os.cpu_count()} CPUs; load {load()}"
    )
    print("| workers | wall s | runs' compute s | mean run s | speed-up | efficiency | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    tmp = Path(tempfile.mkdtemp(prefix="carenet-scaling-"))
    rows = []
    one = None
    try:
        for n in jobs:
            s = sweep(
                base, a.runs, tmp / f"n{n}", ["hydra/launcher=local", f"hydra.launcher.n_jobs={n}"]
            )
            if n == 1:
                one = s["wall"]
            ref = s["compute"] if (one is None or a.no_serial) else one
            speed = ref / s["wall"]
            row = {
                "workers": n,
                "wall": s["wall"],
                "compute": s["compute"],
                "mean_run": s["compute"] / max(s["runs"], 1),
                "speedup": speed,
                "efficiency": speed / n,
                "against": "compute" if ref is s["compute"] else "one-worker sweep",
                "load": load(),
            }
            rows.append(row)
            print(
                f"| {n} | {row['wall']:.1f} | {row['compute']:.1f} | {row['mean_run']:.2f} | "
                f"{speed:.1f} | {100 * row['efficiency']:.0f}% | {row['load']} |",
                flush=True,
            )
            shutil.rmtree(tmp / f"n{n}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("speed-up and efficiency against: " + ", ".join(sorted({r["against"] for r in rows})))
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
