"""Confidence intervals and paired differences over replications."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from carenet.sim.analysis import (
    POSITIVE,
    REAL,
    SHARE,
    band,
    mean_ci,
    metric_scale,
    paired_differences,
    scale_by_name,
    summarise,
    t_quantile,
)
from carenet.spec import Metric


def test_mean_ci_is_the_student_t_interval_with_n_minus_1_df():
    x = [3.1, 2.7, 3.9, 3.3, 2.8]
    ci = mean_ci(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert math.isclose(ci.lo, lo) and math.isclose(ci.hi, hi)
    assert ci.n == 5 and math.isclose(ci.sd, np.std(x, ddof=1))
    assert math.isclose(t_quantile(3), 4.302652729911275)


def test_mean_ci_drops_missing_values_and_has_no_interval_for_one_value():
    assert mean_ci([1.0, None, float("nan"), 3.0]).n == 2
    one = mean_ci([2.0])
    assert one.mean == 2.0 and math.isnan(one.lo) and one.fmt() == "2"
    assert math.isnan(mean_ci([]).mean)


def test_paired_differences_match_by_replication_index():
    base = pd.Series([10.0, 20.0, 30.0], index=[0, 1, 2])
    scen = pd.Series([12.0, 21.0, 33.0, 99.0], index=[0, 1, 2, 3])  # 3 has no pair
    ci, n = paired_differences(scen, base)
    assert n == 3
    ref = mean_ci([2.0, 1.0, 3.0])
    assert math.isclose(ci.mean, 2.0) and math.isclose(ci.half_width, ref.half_width)
    # Pairing removes the shared noise: narrower than the unpaired interval.
    assert ci.half_width < mean_ci(scen.iloc[:3]).half_width


def test_summarise_and_band():
    runs = pd.DataFrame({"scenario": ["a", "a", "b", "b"], "m": [1.0, 3.0, 5.0, 5.0]})
    s = summarise(runs, "scenario", ["m"])
    assert s["scenario"].tolist() == ["a", "b"] and s["mean"].tolist() == [2.0, 5.0]
    mean, lo, hi = band(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert mean.tolist() == [2.0, 3.0] and (lo < mean).all() and (hi > mean).all()
    mean, lo, hi = band(np.array([[1.0, 2.0]]))
    assert (lo == mean).all()


# --- a metric's scale: declared by its model, else guessed from its name ------------------


def test_a_declared_scale_wins_over_the_name_rule():
    """carenet declares ``utilisation`` a share and the discounted NMB signed; by name
    alone the first would be a non-negative quantity and so would the second."""
    from carenet.sim.modelspec import load_spec

    spec = load_spec("")
    assert metric_scale("utilisation", spec) == SHARE
    assert scale_by_name("utilisation") == POSITIVE
    assert metric_scale("discounted_net_monetary_benefit", spec) == REAL
    assert scale_by_name("discounted_net_monetary_benefit") == POSITIVE
    assert metric_scale("discounted_cost_total", spec) == POSITIVE
    for m in spec.metrics:  # every declaration is read as declared
        want = {"share": SHARE, "nonnegative": POSITIVE, "signed": REAL}[m.scale]
        assert metric_scale(m.name, spec) == want, m.name


def test_another_models_declarations_are_read_too():
    spec = SimpleNamespace(
        metrics=(
            Metric("odd_count", "count", "neither", "sum", "signed", "May be negative."),
            Metric("cost_share", "share", "lower", "sum", "nonnegative", "Not in [0, 1]."),
        )
    )
    assert metric_scale("odd_count", spec) == REAL
    assert metric_scale("cost_share", spec) == POSITIVE
    assert (scale_by_name("odd_count"), scale_by_name("cost_share")) == (POSITIVE, SHARE)


def test_undeclared_metrics_fall_back_to_the_name_rule():
    from carenet.sim.modelspec import load_spec

    spec = load_spec("")
    for name, want in [
        ("made_up_share", SHARE),
        ("share_made_up", SHARE),
        ("made_up_gini", SHARE),
        ("made_up_corr", REAL),
        ("qalys_net_made_up", REAL),
        ("made_up_weeks", POSITIVE),
    ]:
        assert name not in {m.name for m in spec.metrics}
        assert metric_scale(name, spec) == want == metric_scale(name), name
