"""Compare the distributions of the headline metrics over seeds, before and after a change.

A change of random-number use (issue #17: demand drawn per stratum instead of one uniform
per patient) cannot leave results identical for a seed, only statistically the same.
This runs a small economy over a set of seeds and saves each headline metric's values;
``compare`` tests each metric's mean (Welch's t) and variance (ratio of variances) between
two samples::

    python benchmarks/distribution_check.py save before.json          # on the old code
    python benchmarks/distribution_check.py save after.json           # on the new code
    python benchmarks/distribution_check.py compare before.json after.json

``save`` takes ``--seeds N`` (default 20), ``--first F`` (default 1: seeds F..F+N-1),
``--legacy`` (draw demand and progression as before #17: :func:`legacy_demand`) and
overrides after the file name (added to :data:`ECONOMY`). ``compare`` exits 1 naming
each metric that differs. ``tests/perf/test_distribution.py`` runs the check against the
committed "before" sample ``tests/perf/distribution_before.json``, which records a hash of
the economy's configuration; when the defaults change (calibration), regenerate it with
the old draws on the new defaults::

    python benchmarks/distribution_check.py save tests/perf/distribution_before.json --legacy
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence

import numpy as np

ECONOMY = [
    "population=small",
    "organisations=small",
    "population.size=20000",
    "steps=78",
    "warmup_weeks=26",
]
"""A small economy: about 0.3 s a run, long enough for strata to move."""

EXTRA = ("qalys_net_well", "qalys_net_ltc", "qalys_net_multimorbid", "qalys_net_frail")
"""Per-stratum metrics checked beside the headline ones (they move with the strata)."""

T_MAX = 4.5
"""Largest |Welch t| accepted for a mean (two-sided p about 6e-5 at 38 degrees of freedom,
so about 0.1% over the 24 metrics when nothing changed)."""

VAR_RATIO_MAX = 5.0
"""Largest ratio of the two variances accepted (F(19, 19): p about 0.0007 on each side)."""


def metrics() -> tuple[str, ...]:
    """The metrics compared: the headline metrics and :data:`EXTRA`."""
    from carenet.models import HEADLINE_METRICS

    return (*HEADLINE_METRICS, *EXTRA)


def config_hash(overrides: Sequence[str] = ()) -> str:
    """A hash of the economy's resolved configuration (seed left out)."""
    from carenet.sim.config import load_config, to_dict

    cfg = to_dict(load_config([*ECONOMY, *overrides]))
    cfg.pop("seed", None)
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _legacy_progress(self) -> None:  # noqa: ANN001 (a Demand stage)
    """Progression as before #17: a scan per stratum, movers drawn with replacement."""
    from carenet.models.schema import STRATA

    pop = self.m.pop
    rng = self.m.streams.get("progression")
    p_week = 1.0 - (1.0 - np.asarray(self.m.cfg.population.progression_per_year)) ** (1 / 52)
    movers = []
    for s in range(len(STRATA) - 1):
        if p_week[s] <= 0:
            continue
        members = np.flatnonzero(pop.stratum == s)
        k = rng.binomial(members.size, p_week[s])
        if k:
            movers.append(np.unique(members[rng.integers(0, members.size, k)]))
    for mv in movers:
        pop.move(mv, 1)


def _legacy_arrivals(self) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Arrivals as before #17: one float32 uniform per patient, reused for the pathway."""
    m = self.m
    pop = m.pop
    rate = np.asarray(m.cfg.population.episode_rate_per_year) / 52.0 * m.demand_mult
    rate = np.minimum(rate, 1.0)
    u = m.streams.get("demand").random(pop.size, dtype=np.float32)
    r = rate[pop.stratum]
    new = np.flatnonzero((u < r) & ~pop.in_episode)
    return new, u[new] / r[new]


@contextlib.contextmanager
def legacy_demand() -> Iterator[None]:
    """Run the demand stage with the draws it made before #17 (for the "before" sample).

    Bit for bit the old stage: ``save --legacy`` on the code after #17 gives the same
    sample as ``save`` on the code before it (checked at the change).
    """
    from carenet.models.stages.demand import Demand

    saved = Demand.progress_strata, Demand.arrivals
    Demand.progress_strata, Demand.arrivals = _legacy_progress, _legacy_arrivals
    try:
        yield
    finally:
        Demand.progress_strata, Demand.arrivals = saved


def sample(seeds: Sequence[int], overrides: Sequence[str] = ()) -> dict[str, object]:
    """Run the economy once per seed and collect every compared metric.

    Args:
        seeds: Run seeds.
        overrides: Extra configuration overrides (after :data:`ECONOMY`).

    Returns:
        ``{"overrides": [...], "seeds": [...], "metrics": {name: [value per seed]}}``.
    """
    from carenet.sim.config import load_config
    from carenet.sim.runner import simulate

    names = metrics()
    values: dict[str, list[float]] = {k: [] for k in names}
    for seed in seeds:
        res = simulate(load_config([*ECONOMY, *overrides, f"seed={seed}"]))
        for k in names:
            values[k].append(float(res.summary[k]))
    return {
        "overrides": [*ECONOMY, *overrides],
        "config_hash": config_hash(overrides),
        "seeds": list(seeds),
        "metrics": values,
    }


def _mean_var(x: Sequence[float]) -> tuple[float, float]:
    n = len(x)
    mean = sum(x) / n
    return mean, sum((v - mean) ** 2 for v in x) / (n - 1)


def differences(before: dict, after: dict) -> list[str]:
    """Each metric whose distribution differs between two samples, with the figures.

    Args:
        before: A sample from :func:`sample` (or its JSON).
        after: Another sample, of the same metrics.

    Returns:
        One line per metric failing Welch's t (|t| > :data:`T_MAX`) or the variance
        ratio (> :data:`VAR_RATIO_MAX` either way); empty when all agree.
    """
    out = []
    for k, a in before["metrics"].items():
        b = after["metrics"][k]
        (ma, va), (mb, vb) = _mean_var(a), _mean_var(b)
        se = math.sqrt(va / len(a) + vb / len(b))
        if se == 0.0:
            if ma != mb:
                out.append(f"{k}: constant {ma:.6g} before, {mb:.6g} after")
            continue
        t = (mb - ma) / se
        ratio = max(va, vb) / min(va, vb) if min(va, vb) > 0 else math.inf
        if abs(t) > T_MAX or ratio > VAR_RATIO_MAX:
            out.append(
                f"{k}: mean {ma:.6g} -> {mb:.6g} (Welch t {t:+.2f}), "
                f"sd {math.sqrt(va):.4g} -> {math.sqrt(vb):.4g} (variance ratio {ratio:.2f})"
            )
    return out


def main(argv: Sequence[str]) -> int:
    """Command line: ``save FILE [--seeds N] [KEY=VALUE ...]`` or ``compare A B``."""
    if len(argv) >= 2 and argv[0] == "save":
        rest = list(argv[2:])
        n, first, legacy = 20, 1, False
        while rest[:1] in (["--seeds"], ["--first"], ["--legacy"]):
            if rest[0] == "--legacy":
                legacy, rest = True, rest[1:]
                continue
            n, first = (int(rest[1]), first) if rest[0] == "--seeds" else (n, int(rest[1]))
            rest = rest[2:]
        t0 = time.perf_counter()
        with legacy_demand() if legacy else contextlib.nullcontext():
            data = sample(range(first, first + n), rest)
        with open(argv[1], "w") as f:
            json.dump(data, f, indent=1)
        print(f"saved {argv[1]}: {n} seeds, {time.perf_counter() - t0:.1f} s")
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        with open(argv[1]) as fa, open(argv[2]) as fb:
            diffs = differences(json.load(fa), json.load(fb))
        print("\n".join(diffs) if diffs else "same distributions: every metric agrees")
        return 1 if diffs else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
