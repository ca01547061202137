"""Array helpers: what NumPy's general forms give, in forms faster for the model's shapes.

Each returns the same values, in the same order and dtype, as the form it names (tests
in ``tests/models/test_arrays.py`` compare them), so using one leaves results identical.
"""

from __future__ import annotations

import numpy as np


def nonzero_2d(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-d array: the (row, column) indices of its true entries.

    The same arrays, in the same (row-major) order and dtype, through ``flatnonzero``
    and one ``divmod``: NumPy's 2-d ``nonzero`` took 0.25-0.3 ms on a 419 x 419 mask
    here, this 0.05 ms (route tables, the broker table and the path search call it
    every week).

    Args:
        mask: A 2-d array (entries are tested for being non-zero).

    Returns:
        (rows, columns), int64 (``intp``) arrays.
    """
    return np.divmod(np.flatnonzero(mask), max(mask.shape[1], 1))


def flat_index(table: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Flat indices of ``table[i, j]`` into a C-contiguous 2-d table (``i * columns + j``).

    ``table.reshape(-1).take(flat_index(table, i, j))`` is ``table[i, j]``; one index can
    serve several tables of the same shape.
    """
    return np.asarray(i, dtype=np.intp) * table.shape[1] + j


def take_2d(table: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``table[i, j]`` for index arrays ``i`` and ``j`` (non-negative), the same values.

    Through one flat index and ``take`` where the table is C-contiguous (a two-index
    gather is several-fold slower: 87 us against 37 us for 30,000 pairs here).
    """
    if table.flags.c_contiguous:
        return table.reshape(-1).take(flat_index(table, i, j))
    return table[i, j]


def add_at_2d(table: np.ndarray, i: np.ndarray, j: np.ndarray, values: float | np.ndarray) -> None:
    """``np.add.at(table, (i, j), values)``: unbuffered adds into a 2-d table, in place.

    Through one flat index into the table's memory where it is C-contiguous: the same
    adds in the same order (so the same sums, bit for bit), where NumPy's two-index
    ``add.at`` took 240 us for 16,000 adds into a 419 x 419 table here and the flat
    one 27 us. Any other table takes the two-index form.

    Args:
        table: The 2-d table added into.
        i: Row of each add (non-negative).
        j: Column of each add (non-negative).
        values: What is added (one number, or one per add).
    """
    if table.flags.c_contiguous:
        np.add.at(table.reshape(-1), flat_index(table, i, j), values)
    else:
        np.add.at(table, (i, j), values)


def distinct_small(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` for small non-negative integers (strata, lines, routes), ascending.

    By counting, not sorting: one pass over ``x`` (``np.unique`` sorted 140,000 arrivals'
    strata every week at 2 M patients). The values come back as int64.
    """
    return np.flatnonzero(np.bincount(x))


def argsort_stable(key: np.ndarray) -> np.ndarray:
    """``np.argsort(key, kind="stable")`` for a 1-d integer ``key``: the same indices.

    Each key is packed with its index into one int64, ``(key - min) << bits | index``,
    and the packed values are sorted with NumPy's default sort. They are distinct, so
    any sort puts them in one order: by key, then by index, as a stable sort does. The
    default sort uses the CPU's vector instructions where it can, and the stable one
    does not: 0.07 ms against 0.65 ms for 10,000 keys here (admission, handoffs and
    the demand stage's entry order every week). Keys whose range does not fit beside
    the index take NumPy's stable sort.

    Args:
        key: A 1-d array of integers (booleans count as 0 and 1).

    Returns:
        The indices that sort ``key`` stably, int64 (``intp``).
    """
    key = np.asarray(key)
    n = key.size
    if n < 2 or key.ndim != 1 or key.dtype.kind not in "biu":
        return np.argsort(key, kind="stable")
    lo, hi = int(key.min()), int(key.max())
    bits = (n - 1).bit_length()
    if (hi - lo) >> (62 - bits):  # the packed value would not fit in 63 bits
        return np.argsort(key, kind="stable")
    if key.dtype.kind == "u":  # subtracted first: uint64 keys may not fit in int64
        packed = (key - key.dtype.type(lo)).astype(np.int64)
    else:  # booleans and signed integers fit in int64
        packed = key.astype(np.int64) - lo
    packed <<= bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    packed &= (1 << bits) - 1
    return packed.astype(np.intp, copy=False)


def run_ranks(keys: np.ndarray) -> np.ndarray:
    """Each element's place in its run of equal neighbours: 0, 1, 2... from each run's start.

    For keys sorted by group, the rank of each element within its group, as
    ``arange(n) - repeat(starts, run lengths)`` gives it, by one running maximum of the
    runs' starts (the model ranks episodes per queue, broker and approving body).

    Args:
        keys: A 1-d array (runs are maximal stretches of equal values).

    Returns:
        The ranks, int64 (``intp``).
    """
    n = keys.size
    idx = np.arange(n)
    start = np.zeros(n, dtype=np.intp)
    if n > 1:
        np.multiply(idx[1:], keys[1:] != keys[:-1], out=start[1:])
    np.maximum.accumulate(start, out=start)
    return idx - start
