"""What the named experiments share: running summaries in parallel, and their CLI.

Every experiment runs :func:`carenet.sim.runner.simulate` (no files) for lists of
(overrides, seed) jobs with joblib, seeds from :func:`carenet.sim.sweep.replication_seeds`,
and takes the same options: ``--reps``, ``--seed``, ``--jobs`` and Hydra overrides.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def summary(overrides: list[str], seed: int) -> dict[str, float]:
    """The summary metrics of one run (nothing written)."""
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    return simulate(load_config([*overrides, "progress=false"]), seed=seed).summary


def batch(jobs: list[tuple[list[str], int]], n_jobs: int) -> list[dict[str, float]]:
    """Summaries of (overrides, seed) jobs, in job order, on ``n_jobs`` joblib workers."""
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(summary)(ov, s) for ov, s in jobs)


def experiment_main(
    prog: str,
    reps: int,
    body: Callable[[argparse.Namespace], None],
    argv: list[str] | None = None,
    base: list[str] | None = None,
) -> int:
    """Parse the shared options, check the overrides, and run ``body``.

    Args:
        prog: Program name for the help text.
        reps: Default number of replications.
        body: Runs the experiment and prints it; gets the parsed options, with
            ``overrides`` prefixed by ``base``.
        argv: Command-line arguments (default ``sys.argv[1:]``).
        base: Overrides every run starts from.

    Returns:
        0, or 2 with a one-line message when an override is not allowed.
    """
    from carenet.sim.config import ConfigError, load_config

    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--reps", type=int, default=reps, help="replications (seeds) per arm")
    p.add_argument("--seed", type=int, default=12345, help="root seed")
    p.add_argument("--jobs", type=int, default=-1, help="parallel workers (joblib)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    a = p.parse_args(argv)
    a.overrides = [*(base or []), *a.overrides]
    try:
        load_config(a.overrides)
    except ConfigError as exc:
        print(f"carenet: error: {exc}", file=sys.stderr)
        return 2
    body(a)
    return 0
