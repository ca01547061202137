"""The array helpers give what the NumPy forms they replace give (models/arrays.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from carenet.models.arrays import (
    add_at_2d,
    argsort_stable,
    distinct_small,
    flat_index,
    nonzero_2d,
    run_ranks,
    take_2d,
)


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


@given(arrays(np.int8, st.integers(0, 200), elements=st.integers(0, 6)))
def test_distinct_small_equals_numpy_unique(x: np.ndarray) -> None:
    got = distinct_small(x)
    np.testing.assert_array_equal(got, np.unique(x))
    assert [int(v) for v in got] == sorted({int(v) for v in x})


@given(st.integers(0, 2**32 - 1), st.integers(1, 9), st.integers(1, 9))
def test_flat_index_reads_what_two_indices_read(seed: int, r: int, c: int) -> None:
    rng = np.random.default_rng(seed)
    table = rng.random((r, c))
    i, j = rng.integers(0, r, 30).astype(np.int16), rng.integers(0, c, 30).astype(np.int16)
    np.testing.assert_array_equal(table.reshape(-1).take(flat_index(table, i, j)), table[i, j])


_INT_DTYPES = st.sampled_from(
    [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64]
)


@given(_INT_DTYPES.flatmap(lambda dt: arrays(dt, st.integers(0, 300))))
def test_argsort_stable_equals_numpy_stable_argsort(key: np.ndarray) -> None:
    """Every integer dtype, full ranges (negative, above 2**63) and many ties."""
    got = argsort_stable(key)
    want = np.argsort(key, kind="stable")
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


@given(st.integers(0, 2**32 - 1), st.integers(0, 3_000), st.sampled_from([2, 50, 10**6, 2**61]))
def test_argsort_stable_packed_and_fallback(seed: int, n: int, span: int) -> None:
    """Keys packed beside their index, and a range too wide to pack (NumPy's sort)."""
    rng = np.random.default_rng(seed)
    key = rng.integers(-span // 2, span // 2 + 1, n, dtype=np.int64)
    np.testing.assert_array_equal(argsort_stable(key), np.argsort(key, kind="stable"))


@given(arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 4)), st.booleans())
def test_run_ranks_equals_the_repeat_form(keys: np.ndarray, grouped: bool) -> None:
    """Ranks within runs, sorted (grouped) keys or not, as the model's old form gave them."""
    keys = np.sort(keys) if grouped else keys
    starts = np.r_[0, np.flatnonzero(keys[1:] != keys[:-1]) + 1] if keys.size else keys[:0]
    want = np.arange(keys.size) - np.repeat(starts, np.diff(np.r_[starts, keys.size]))
    got = run_ranks(keys)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.intp
