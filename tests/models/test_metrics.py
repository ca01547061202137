"""Network metrics helpers: ranks and rank correlation equal scipy's."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import rankdata as scipy_rankdata
from scipy.stats import spearmanr

from carenet.models.metrics import rankdata, spearman

values = st.one_of(
    arrays(np.float64, st.integers(1, 60), elements=st.floats(-1e6, 1e6)),
    arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 4)),  # many ties
)


@given(values)
def test_rankdata_equals_scipys_average_ranks_exactly(x):
    assert np.array_equal(rankdata(x), scipy_rankdata(x))


@given(
    st.integers(3, 40).flatmap(
        lambda n: st.tuples(*(2 * [arrays(np.int64, n, elements=st.integers(0, 5))]))
    )
)
def test_spearman_equals_scipy_where_defined(ab):
    a, b = ab
    rho = spearman(a, b)
    if np.all(a == a[0]) or np.all(b == b[0]):
        assert np.isnan(rho)
    else:
        assert np.isclose(rho, spearmanr(a, b).statistic, rtol=0, atol=1e-12)


def test_tie_metrics_are_recomputed_exactly_when_the_ties_change():
    """The record stage keeps the tie graph's metrics between weeks whose ties are unchanged;
    every week's network metrics equal a fresh computation from that week's state."""
    from carenet.models.metrics import STRUCTURE_METRICS, network_metrics, tie_structure
    from carenet.models.model import CareSystemModel
    from carenet.sim.config import load_config

    cfg = load_config(
        ["population=small", "organisations=small", "population.size=3000", "warmup_weeks=0"]
        + ["structure=network", "power_rule=empowerment", "structure.tie_update_weeks=2"]
    )
    m = CareSystemModel(cfg, seed=5)
    rec = m.stage("record")
    computed, kept, n_ties = 0, 0, set()
    for _ in range(16):
        before = getattr(rec, "_tie_cache", None)
        m.step()
        after = rec._tie_cache
        computed, kept = (computed + 1, kept) if after is not before else (computed, kept + 1)
        ids = m.service_ids[m.active[m.service_ids]]
        adj = m.trust[np.ix_(ids, ids)] > 0
        fresh = network_metrics(
            adj, m.budget[ids], m.depth[ids], m.authority[ids], m.influence[ids]
        )
        week = m.records[-1]
        for k, v in fresh.items():
            assert (np.isnan(v) and np.isnan(week[k])) or week[k] == v, k
        assert tie_structure(adj)[0] == {k: fresh[k] for k in STRUCTURE_METRICS}
        n_ties.add(week["n_ties"])
    assert kept > 0 and computed > 1 and len(n_ties) > 1  # both paths taken, ties changed
