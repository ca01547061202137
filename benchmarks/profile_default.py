"""Profile one scenario line by line and print the hot spots (file:line, % of run time).

Uses line_profiler (``pip install line_profiler`` into the venv; not a carenet dependency)
on every function of ``carenet.models`` (model, metrics, power rules, organisations),
then prints the lines that take most of the run, with their share of ``simulate``'s wall
time, and each stage's share::

    python benchmarks/profile_default.py                       # the default scenario
    python benchmarks/profile_default.py population=small organisations=small --top 15
    OPENBLAS_NUM_THREADS=1 python benchmarks/profile_default.py

For a sampling profile of the same run (lower overhead, whole call stacks)::

    py-spy record -r 200 -f raw -o prof.raw -- python -c \\
        "from carenet.sim.config import load_config as L; \\
         from carenet.sim.runner import simulate; simulate(L([]))"

line_profiler adds overhead per line executed, which inflates cheap lines that run often
(Python loops) relative to NumPy calls: read the shares as a ranking and confirm a
speed-up by timing the change (``benchmarks/identical.py`` checks the results).
"""

from __future__ import annotations

import argparse
import inspect
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    from line_profiler import LineProfiler

    from carenet.models import metrics, model, organisation, power
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    lp = LineProfiler()
    for mod in (model, metrics, power, organisation):
        for _, obj in vars(mod).items():
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__:
                lp.add_function(obj)
            elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
                for _, f in vars(obj).items():
                    if inspect.isfunction(f):
                        lp.add_function(f)
    cfg = load_config(a.overrides)
    simulate(load_config(["population=small", "organisations=small", "steps=3"]))  # imports
    t0 = time.perf_counter()
    lp.runcall(simulate, cfg)
    wall = time.perf_counter() - t0
    stats = lp.get_stats()
    root = Path(model.__file__).resolve().parent.parent
    lines = []
    stage_time = {}
    for (fn, _lineno, name), timings in stats.timings.items():
        rel = os.path.relpath(fn, root)
        tot = sum(t for _, _, t in timings) * stats.unit
        if name.split(".")[-1].startswith("_stage_"):
            stage_time[name] = tot
        for ln, hits, t in timings:
            lines.append((t * stats.unit, hits, f"{rel}:{ln}", name))
    lines.sort(reverse=True)
    print(
        f"profiled {' '.join(a.overrides) or 'default'}: simulate {wall:.2f} s under line_profiler"
    )
    print(
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}  "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("\nStages (inclusive, % of wall):")
    for name, t in sorted(stage_time.items(), key=lambda x: -x[1]):
        print(f"  {name:<20} {t:7.2f} s  {100 * t / wall:5.1f}%")
    print(f"\nTop {a.top} lines (own time incl. callees not profiled, % of wall):")
    for t, hits, where, name in lines[: a.top]:
        src = ""
        try:
            path, ln = where.rsplit(":", 1)
            src = (root / path).read_text().splitlines()[int(ln) - 1].strip()[:70]
        except (OSError, IndexError, ValueError):
            pass
        print(f"  {100 * t / wall:5.1f}%  {t:6.2f} s  {hits:>7}  {where:<28} {name:<22} {src}")


if __name__ == "__main__":
    main()
