"""Profile one scenario line by line and print the hot spots (file:line, % of run time).

Uses line_profiler (``pip install line_profiler`` into the venv; not a carenet dependency)
on every function of every module of ``carenet.models`` (the model, its stages, routes,
ledger, rules, responses...), then prints the lines that take most of the run, with their
share of ``simulate``'s wall time, and each stage's share, timed through the model's stage
timing hook (``CareSystemModel.stage_timer``, as ``carenet bench`` does)::

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


def _profile_models(lp: object) -> None:
    """Add every function and method defined in a module of ``carenet.models`` to ``lp``."""
    import importlib
    import pkgutil

    import carenet.models as pkg

    names = sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, f"{pkg.__name__}."))
    for mod in (pkg, *(importlib.import_module(n) for n in names)):
        for obj in vars(mod).values():
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                lp.add_function(obj)  # type: ignore[attr-defined]
            elif inspect.isclass(obj):
                for f in vars(obj).values():
                    if inspect.isfunction(f) and not hasattr(f, "__wrapped__"):
                        lp.add_function(f)  # type: ignore[attr-defined]


def _time_stages() -> dict[str, float]:
    """Seconds by stage (and the build), summed through the model's stage timing hook."""
    from carenet.models.model import CareSystemModel

    acc: dict[str, float] = {}

    def timer(name: str, seconds: float) -> None:
        acc[name] = acc.get(name, 0.0) + seconds

    CareSystemModel.stage_timer = staticmethod(timer)  # type: ignore[assignment]
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    from line_profiler import LineProfiler

    from carenet.models import model
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    lp = LineProfiler()
    _profile_models(lp)
    cfg = load_config(a.overrides)
    warm = ["population=small", "organisations=small", "steps=3", "warmup_weeks=0"]
    simulate(load_config(warm))  # imports
    stage_time = _time_stages()
    t0 = time.perf_counter()
    lp.runcall(simulate, cfg)
    wall = time.perf_counter() - t0
    stats = lp.get_stats()
    root = Path(model.__file__).resolve().parent.parent
    lines = []
    for (fn, _lineno, name), timings in stats.timings.items():
        rel = os.path.relpath(fn, root)
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
    print("\nStages (inclusive, % of wall; from the stage timing hook):")
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
