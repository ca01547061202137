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
