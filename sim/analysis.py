"""Statistics over replications: means with t-intervals and paired differences.

Intervals follow the usual reporting for stochastic simulation (STRESS-ABS): over ``n``
independent replications, the mean ``x̄`` has the interval ``x̄ ± t(0.975, n−1) · s / √n``,
with ``s`` the sample standard deviation (``n − 1`` in its denominator). A paired difference
between two scenarios is the same interval computed on the per-replication differences
``d_i = x_i(scenario) − x_i(baseline)``, where replication ``i`` of both scenarios used the
same seed (common random numbers), so the noise they share cancels.

A metric with a bounded range gets an interval that stays inside it (``scale``): for a
share in [0, 1] the t-interval is built on the logit scale, for a non-negative quantity
(a cost, a count, a wait) on the log scale, and mapped back: ``g⁻¹(g(x̄) ± t · g'(x̄) · s / √n)``
(the delta method), so it holds the mean, never leaves the range, and matches the plain
t-interval to first order when it is narrow. :func:`metric_scale` says which scale a
metric has: the one its model declares, else one guessed from its name. Differences
between scenarios are unbounded and keep the plain t-interval.

Everything here is plain NumPy/SciPy/pandas and knows nothing of files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LEVEL = 0.95
"""Default confidence level."""

REAL, POSITIVE, SHARE = "real", "positive", "share"
"""Scales of a metric: any real number, non-negative, or a share in [0, 1]."""

SHARE_METRICS = frozenset(
    {
        "on_time_share",
        "handoff_failure_rate",
        "continuity_index",
        "experience_score",
        "transaction_cost_share",
    }
)
"""Metrics in [0, 1] beyond those named ``*_share``, ``share_*`` or ``*_gini``."""

REAL_METRICS = frozenset({"qalys_net", "net_monetary_benefit", "cost_per_qaly"})
"""Metrics that can be negative (beyond correlations, named ``*_corr``)."""


DECLARED_SCALES: dict[str, str] = {"share": SHARE, "nonnegative": POSITIVE, "signed": REAL}
"""A declared metric's scale (:data:`carenet.spec.Scale`) as the interval methods name it."""


def declared_scales(spec: Any) -> dict[str, str]:
    """The interval scale of each metric a model spec declares (its ``metrics``)."""
    return {m.name: DECLARED_SCALES[m.scale] for m in getattr(spec, "metrics", ())}


def metric_scale(name: str, spec: Any = None) -> str:
    """The scale of a metric: :data:`SHARE`, :data:`POSITIVE` or :data:`REAL`.

    A metric the model's spec declares has the scale it declares
    (:attr:`carenet.spec.Metric.scale`: ``share``, ``nonnegative``, ``signed``). Only for
    a metric it does not declare (or without a spec) is the scale guessed from the name
    (:func:`scale_by_name`).

    Args:
        name: The metric (a summary key).
        spec: The model spec whose ``metrics`` declare scales; None for the name rule.

    Example:
        >>> metric_scale("handoff_failure_rate"), metric_scale("cost_total")
        ('share', 'positive')
    """
    declared = declared_scales(spec).get(name) if spec is not None else None
    return declared or scale_by_name(name)


def scale_by_name(name: str) -> str:
    """The scale a metric's name suggests, for metrics no spec declares.

    Shares (``*_share``, ``share_*``, ``*_gini``, :data:`SHARE_METRICS`) are SHARE; net
    values and correlations (:data:`REAL_METRICS`, ``qalys_net*``, ``*_corr``) REAL;
    every other metric (costs, counts, waits, QALYs gained or lost, ties) POSITIVE.
    """
    if name in SHARE_METRICS or name.endswith(("_share", "_gini")) or name.startswith("share_"):
        return SHARE
    if name.startswith("failed_share_"):
        return SHARE
    if name in REAL_METRICS or name.startswith("qalys_net") or name.endswith("_corr"):
        return REAL
    return POSITIVE


def _bounded(mean: np.ndarray, hw: np.ndarray, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Interval ends for a mean and its plain t half-width on ``scale`` (delta method)."""
    mean = np.asarray(mean, dtype=float)
    hw = np.asarray(hw, dtype=float)
    lo, hi = mean - hw, mean + hw
    if scale == REAL:
        return lo, hi
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if scale == POSITIVE:
            k = np.exp(hw / mean)
            blo, bhi = mean / k, mean * k
            inside = mean > 0
        else:
            m = np.clip(mean, 0.0, 1.0)
            z = np.log(m / (1.0 - m))
            dz = hw / (m * (1.0 - m))
            blo = 1.0 / (1.0 + np.exp(-(z - dz)))
            bhi = 1.0 / (1.0 + np.exp(-(z + dz)))
            inside = (m > 0) & (m < 1)
    # At the bound itself the values are all equal to it (sd 0): the interval is the point.
    at_bound = ~inside & np.isfinite(mean)
    lo = np.where(inside, blo, np.where(at_bound, mean, lo))
    hi = np.where(inside, bhi, np.where(at_bound, mean, hi))
    return lo, hi


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval.

    Attributes:
        mean: Sample mean (NaN when there are no values).
        lo: Lower end of the interval (NaN when ``n < 2``).
        hi: Upper end of the interval (NaN when ``n < 2``).
        half_width: ``t · s / √n`` (NaN when ``n < 2``).
        sd: Sample standard deviation, ``n − 1`` in the denominator (NaN when ``n < 2``).
        n: Number of finite values used.
        level: Confidence level, e.g. 0.95.
    """

    mean: float
    lo: float
    hi: float
    half_width: float
    sd: float
    n: int
    level: float = LEVEL

    def fmt(self, spec: str = ",.4g") -> str:
        """Format as ``mean [lo, hi]`` (or just the mean when there is no interval)."""
        if math.isnan(self.mean):
            return "n/a"
        if math.isnan(self.half_width):
            return format(self.mean, spec)
        return f"{format(self.mean, spec)} [{format(self.lo, spec)}, {format(self.hi, spec)}]"


def t_quantile(n: int, level: float = LEVEL) -> float:
    """Two-sided Student-t quantile for ``n`` values (``n − 1`` degrees of freedom)."""
    from scipy import stats

    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + level / 2.0, n - 1))


def mean_ci(values: Iterable[float], level: float = LEVEL, scale: str = REAL) -> Interval:
    """Mean and t-interval of the finite values given (NaN and None are dropped).

    Args:
        values: Observations, one per replication.
        level: Confidence level.
        scale: :data:`REAL` (plain t-interval), :data:`POSITIVE` (log scale) or
            :data:`SHARE` (logit scale); see the module notes. ``half_width`` is always
            the plain ``t · s / √n``.

    Returns:
        The mean with its interval; with fewer than two values the interval is NaN.

    Example:
        >>> round(mean_ci([1.0, 2.0, 3.0]).half_width, 4)
        2.4841
    """
    x = np.array([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        nan = float("nan")
        return Interval(nan, nan, nan, nan, nan, 0, level)
    mean = float(x.mean())
    if n < 2:
        nan = float("nan")
        return Interval(mean, nan, nan, nan, nan, 1, level)
    sd = float(x.std(ddof=1))
    hw = t_quantile(n, level) * sd / math.sqrt(n)
    lo, hi = _bounded(np.array(mean), np.array(hw), scale)
    return Interval(mean, float(lo), float(hi), hw, sd, n, level)


def paired_differences(
    scenario: pd.Series, baseline: pd.Series, level: float = LEVEL
) -> tuple[Interval, int]:
    """Interval of the mean paired difference ``scenario − baseline``.

    Args:
        scenario: Values indexed by pairing key (replication index).
        baseline: Values of the baseline, indexed the same way.
        level: Confidence level.

    Returns:
        The interval over the pairs present (finite) in both, and the number of pairs.
    """
    joined = pd.concat([scenario.rename("s"), baseline.rename("b")], axis=1, join="inner")
    d = (joined["s"] - joined["b"]).to_numpy(dtype=float)
    d = d[np.isfinite(d)]
    return mean_ci(d, level), int(d.size)


def summarise(
    runs: pd.DataFrame, by: str, metrics: Sequence[str], level: float = LEVEL
) -> pd.DataFrame:
    """Mean and interval of each metric for each group of runs.

    Args:
        runs: One row per run.
        by: Column naming the group (scenario).
        metrics: Metric columns to summarise.
        level: Confidence level.

    Returns:
        Long table with columns ``by, metric, mean, lo, hi, half_width, sd, n``, groups in
        their order of first appearance.
    """
    rows = []
    for group, sub in runs.groupby(by, sort=False):
        for m in metrics:
            ci = mean_ci(sub[m].tolist() if m in sub else [], level)
            rows.append(
                {
                    by: group,
                    "metric": m,
                    "mean": ci.mean,
                    "lo": ci.lo,
                    "hi": ci.hi,
                    "half_width": ci.half_width,
                    "sd": ci.sd,
                    "n": ci.n,
                }
            )
    return pd.DataFrame(rows)


def band(
    values: np.ndarray, level: float = LEVEL, scale: str = REAL
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and t-interval at each time point of a (replications × time) array.

    ``scale`` as in :func:`mean_ci`: a band of a non-negative or share series stays in range.

    Returns:
        ``(mean, lo, hi)``, each of length ``time``; ``lo``/``hi`` equal the mean when
        there is only one replication.
    """
    v = np.asarray(values, dtype=float)
    n = np.sum(np.isfinite(v), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(v, axis=0) if v.size else np.array([])
        if v.shape[0] < 2:
            return mean, mean.copy(), mean.copy()
        sd = np.nanstd(v, axis=0, ddof=1)
        from scipy import stats

        t = stats.t.ppf(0.5 + level / 2.0, np.maximum(n - 1, 1))
        hw = np.where(n >= 2, t * sd / np.sqrt(np.maximum(n, 1)), 0.0)
    lo, hi = _bounded(mean, hw, scale)
    return mean, lo, hi
