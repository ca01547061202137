"""Per-stage time of the model with the old (before #17) and the new demand draws, alternated.

One process, one BLAS thread, each mode run in turn so that load affects both alike::

    python benchmarks/stage_ab.py legacy,new,legacy,new steps=156

The first argument lists the modes (``legacy``: ``distribution_check.legacy_demand``;
``new``: the code as it is); the rest are configuration overrides. Prints each run's
wall time and its milliseconds a week by stage.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str]) -> int:
    """Run each mode of ``argv[0]`` (comma-separated) on the overrides ``argv[1:]``."""
    import distribution_check as dc
    from threadpoolctl import threadpool_limits

    from carenet.models.model import CareSystemModel
    from carenet.sim.config import load_config

    cfg = load_config(argv[1:])
    acc: dict[str, float] = collections.defaultdict(float)

    def hook(name: str, seconds: float) -> None:
        acc[name] += seconds

    with threadpool_limits(1, "blas"):
        for mode in argv[0].split(","):
            acc.clear()
            ctx = dc.legacy_demand() if mode == "legacy" else contextlib.nullcontext()
            with ctx:
                t0 = time.perf_counter()
                CareSystemModel(cfg, on_stage=hook).run(cfg.steps)
                wall = time.perf_counter() - t0
            stages = sorted(((k, v) for k, v in acc.items() if k != "build"), key=lambda x: -x[1])
            per = " ".join(f"{k} {1000 * v / cfg.steps:.2f}" for k, v in stages)
            print(f"{mode}: wall {wall:.2f} s; ms a week: {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) if len(sys.argv) > 1 else 2)
