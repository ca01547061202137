"""A design's sweep on several workers against its runs' own compute (issue #17).

Issue #17's target: a 1,000-run design of the small economy, on 2 workers, finishes
within 10% of its runs' own compute, i.e. ``workers x wall <= 1.10 x compute`` where
compute is the sum of the runs' ``wall_seconds`` (``simulate``, from each manifest) and
wall is the whole ``carenet run -m design=FILE`` process (start-up, planning, composing,
launching, writing, indexing). The design is a Latin hypercube (``method: lhs``) of
``--runs`` points over four handoff and organisation parameters of the small economy,
``--steps`` weeks each (default 180, about 1 s a run on the project's 2-core machine).

A run of the design on an idle machine is what the target means: on a machine that
others use, the workers wait for the cores, and both the compute and the wall grow; the
load average is printed at the start and the end. Smaller first::

    python benchmarks/design_overhead.py --runs 100          # about 1 minute
    python benchmarks/design_overhead.py                     # 1,000 runs, about 10 minutes
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_overhead import timed_sweep  # noqa: E402  (the same timing as the sweep benchmark)

CLI = "import sys; from carenet.cli import main; sys.exit(main())"

DESIGN = """\
method: lhs
n: {runs}
sampler_seed: 1
base: [population=small, organisations=small, steps={steps}, warmup_weeks={warmup}]
parameters:
  handoff.trust_gain: {{type: real, low: 0.01, high: 0.15}}
  handoff.trust_loss: {{type: real, low: 0.05, high: 0.5}}
  organisations.tie_upkeep_hours: {{type: real, low: 0.25, high: 3.0}}
  organisations.capacity_headroom: {{type: real, low: 0.8, high: 1.5}}
"""


def load() -> str:
    """The 1-minute load average, as printed."""
    return f"{os.getloadavg()[0]:.2f}"


def run_design(design: Path, out: Path, jobs: int) -> dict[str, float]:
    """Run the design as one whole ``carenet run -m`` process; wall and runs' compute."""
    cmd = [sys.executable, "-c", CLI, "run", "-m", f"design={design}", f"out={out}"]
    cmd += ["hydra/launcher=local", f"hydra.launcher.n_jobs={jobs}"]
    return timed_sweep(cmd, out, "design")


def main() -> None:
    """Parse the options, run the design, print the share of overhead."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="design points (default 1000)")
    ap.add_argument("--jobs", type=int, default=2, help="workers (default 2)")
    ap.add_argument("--steps", type=int, default=180, help="weeks a run (default 180)")
    ap.add_argument("--warmup", type=int, default=0, help="warm-up weeks (default 0)")
    ap.add_argument("--keep", action="store_true", help="keep the design's folder")
    a = ap.parse_args()
    if a.runs < 2 or a.jobs < 1 or a.steps <= a.warmup:
        raise SystemExit("--runs must be at least 2, --jobs at least 1, --steps > --warmup")
    tmp = Path(tempfile.mkdtemp(prefix="carenet-design-bench-"))
    try:
        design = tmp / "design.yaml"
        design.write_text(DESIGN.format(runs=a.runs, steps=a.steps, warmup=a.warmup))
        print(f"design overhead: {a.runs} LHS points of the small economy, {a.steps} weeks")
        print(f"load {load()}: carenet run -m design=..., local launcher, {a.jobs} workers ...")
        r = run_design(design, tmp / "out", a.jobs)
        ratio = a.jobs * r["wall"] / max(r["compute"], 1e-9)
        print(
            f"  {r['runs']} runs, wall {r['wall']:.1f} s (whole process), runs' compute "
            f"{r['compute']:.1f} s ({r['compute'] / max(r['runs'], 1):.2f} s/run); "
            f"{a.jobs} x wall / compute = {ratio:.3f}: {100 * (ratio - 1):+.1f}% "
            "(target <= +10%)"
        )
        print(f"load {load()} at end")
    finally:
        if a.keep:
            print(f"folder kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
