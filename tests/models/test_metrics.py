"""Network metrics helpers: ranks and rank correlation equal scipy's."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import rankdata as scipy_rankdata
from scipy.stats import spearmanr

from carenet.models.metrics import add_at_2d, nonzero_2d, rankdata, spearman, take_2d

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


@given(
    arrays(
        np.bool_,
        st.tuples(st.integers(0, 12), st.integers(0, 12)),
        elements=st.booleans(),
    )
)
def test_nonzero_2d_equals_numpy_nonzero(mask: np.ndarray) -> None:
    rows, cols = nonzero_2d(mask)
    want_r, want_c = np.nonzero(mask)
    np.testing.assert_array_equal(rows, want_r)
    np.testing.assert_array_equal(cols, want_c)
    assert rows.dtype == want_r.dtype and cols.dtype == want_c.dtype


@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 60),
    st.booleans(),
)
def test_add_at_2d_equals_numpy_add_at(seed: int, r: int, c: int, k: int, strided: bool) -> None:
    """The same sums, bit for bit, repeated pairs included, contiguous table or not."""
    rng = np.random.default_rng(seed)
    base = rng.random((r, 2 * c if strided else c))
    table = base[:, ::2] if strided else base
    want = table.copy()
    i, j, v = rng.integers(0, r, k), rng.integers(0, c, k), rng.random(k) * 1e3
    np.add.at(want, (i, j), v)
    add_at_2d(table, i, j, v)
    np.testing.assert_array_equal(table, want)
    add_at_2d(table, i, j, 1.0)
    np.add.at(want, (i, j), 1.0)
    np.testing.assert_array_equal(table, want)


@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.integers(1, 9), st.booleans())
def test_take_2d_equals_two_index_gather(seed: int, r: int, c: int, strided: bool) -> None:
    rng = np.random.default_rng(seed)
    base = rng.integers(-5, 5, (r, 2 * c if strided else c))
    table = base[:, ::2] if strided else base
    i, j = rng.integers(0, r, 40), rng.integers(0, c, 40)
    got = take_2d(table, i, j)
    np.testing.assert_array_equal(got, table[i, j])
    assert got.dtype == table.dtype
    got[:] = 99  # a new array, never a view of the table
    assert not (table == 99).any()
