"""Network and power metrics of the tie network.

They are computed with NumPy/SciPy on the trust matrix, fast enough to record every week.

Definitions (over active service organisations only):

- ``density``: ties / possible ties.
- ``clustering``: mean local clustering coefficient (0 for degree < 2).
- ``mean_path_length``: mean shortest path (in ties) over connected pairs.
- ``degree_gini``: Gini coefficient of degrees (0 equal, 1 all ties on one).
- ``top_hub_share``: share of tie ends held by the top 5% of organisations by degree.
- ``centralisation``: Freeman degree centralisation, sum(max - d_i) / ((n-1)(n-2)).
- ``authority_gini``, ``influence_gini``: Gini of the two power scores.
- ``degree_size_corr``: Spearman rank correlation of degree with organisation size (budget).
- ``degree_rank_corr``: Spearman correlation of degree with hierarchy rank, where rank is
  minus depth (so positive = hubs sit high in the hierarchy).
"""

from __future__ import annotations

import numpy as np

from .arrays import nonzero_2d

NETWORK_METRICS: tuple[str, ...] = (
    "n_ties",
    "density",
    "clustering",
    "mean_path_length",
    "degree_gini",
    "top_hub_share",
    "centralisation",
    "max_degree",
    "authority_gini",
    "influence_gini",
    "degree_size_corr",
    "degree_rank_corr",
)
"""Metrics :func:`network_metrics` returns, in order."""


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 when all equal or all zero)."""
    x = np.sort(np.asarray(x, dtype=float))
    n = x.size
    if n == 0 or x.sum() <= 0:
        return 0.0
    cum = np.cumsum(x)
    return float((n + 1 - 2 * (cum.sum() / cum[-1])) / n)


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties given their average rank: ``scipy.stats.rankdata(x)``'s values.

    scipy's own algorithm (sort, mark where values change, average the ranks of each run
    of equal values), without importing ``scipy.stats`` (about 0.5 s a process). For
    values without NaN (network metrics have none); scipy would return all NaN.
    """
    x = np.asarray(x).ravel()
    order = np.argsort(x, kind="mergesort")
    inverse = np.empty(x.size, dtype=np.intp)
    inverse[order] = np.arange(x.size, dtype=np.intp)
    xs = x[order]
    changes = np.r_[True, xs[1:] != xs[:-1]]
    dense = np.cumsum(changes)[inverse]
    count = np.r_[np.nonzero(changes)[0], x.size]
    return 0.5 * (count[dense] + count[dense - 1] + 1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either is constant."""
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


STRUCTURE_METRICS: tuple[str, ...] = NETWORK_METRICS[:8]
"""The metrics of :data:`NETWORK_METRICS` that depend on the tie graph alone."""


def path_length_sum(adj: np.ndarray) -> tuple[int, int]:
    """The sum of the shortest path lengths over every ordered pair joined by a path.

    A breadth-first search from every organisation at once, the visited sets as bit
    sets (one bit per organisation): each level ORs the neighbours' frontiers, in time
    proportional to the ties times the path length, with no distance matrix. The mean
    path length is the sum over the number of pairs, as from
    ``scipy.sparse.csgraph.shortest_path`` (exact: both are integer sums).

    Args:
        adj: Boolean adjacency (symmetric, no self-ties).

    Returns:
        (sum of lengths, number of ordered pairs (i, j), i != j, with a path).
    """
    n = adj.shape[0]
    words = (n + 63) // 64
    reached = np.zeros((n, words), dtype=np.uint64)
    ids = np.arange(n)
    reached[ids, ids // 64] = np.left_shift(np.uint64(1), (ids % 64).astype(np.uint64))
    frontier = reached.copy()
    src, nb = nonzero_2d(adj)  # by source, ascending
    has = np.flatnonzero(np.bincount(src, minlength=n))
    starts = np.searchsorted(src, has)
    total = pairs = 0
    level = 0
    while True:
        level += 1
        nxt = np.zeros_like(frontier)
        if src.size:
            nxt[has] = np.bitwise_or.reduceat(frontier[nb], starts, axis=0)
        nxt &= ~reached
        new = int(np.bitwise_count(nxt).sum())
        if new == 0:
            return total, pairs
        total += level * new
        pairs += new
        reached |= nxt
        frontier = nxt


def tie_structure(adj: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """The metrics of the tie graph alone (:data:`STRUCTURE_METRICS`), and the degrees.

    They change only when the ties do (tie rounds, dissolutions, failures), so a caller
    may keep them between weeks while the adjacency is unchanged.

    Args:
        adj: Boolean adjacency among the organisations considered (symmetric).

    Returns:
        Metric name to value, and each organisation's degree.
    """
    n = adj.shape[0]
    a = adj.astype(np.float64)
    deg = a.sum(axis=1)
    m = deg.sum() / 2
    out: dict[str, float] = {}
    out["n_ties"] = float(m)
    out["density"] = float(m / (n * (n - 1) / 2)) if n > 1 else 0.0
    tri = ((a @ a) * a).sum(axis=1) / 2
    possible = deg * (deg - 1) / 2
    cc = np.divide(tri, possible, out=np.zeros_like(tri), where=possible > 0)
    out["clustering"] = float(cc.mean()) if n else 0.0
    if m > 0:
        total, pairs = path_length_sum(adj)
        out["mean_path_length"] = float(total) / pairs if pairs else float("nan")
    else:
        out["mean_path_length"] = float("nan")
    out["degree_gini"] = gini(deg)
    top = max(1, int(np.ceil(0.05 * n)))
    out["top_hub_share"] = float(np.sort(deg)[::-1][:top].sum() / deg.sum()) if m > 0 else 0.0
    out["centralisation"] = (
        float((deg.max() - deg).sum() / ((n - 1) * (n - 2))) if n > 2 and m > 0 else 0.0
    )
    out["max_degree"] = float(deg.max()) if n else 0.0
    return out, deg


def network_metrics(
    adj: np.ndarray,
    size: np.ndarray,
    depth: np.ndarray,
    authority: np.ndarray,
    influence: np.ndarray,
    structure: tuple[dict[str, float], np.ndarray] | None = None,
    memo: dict[str, tuple[bytes, float]] | None = None,
) -> dict[str, float]:
    """Compute the network and power metrics of one snapshot.

    Args:
        adj: Boolean adjacency among the organisations considered (symmetric).
        size: Size (budget) of each.
        depth: Hierarchy depth of each.
        authority: Authority score of each.
        influence: Influence score of each.
        structure: :func:`tie_structure` of ``adj``, if already computed (it is then
            not recomputed; the caller vouches that it belongs to ``adj``).
        memo: Where to keep each rank correlation with the exact values it was
            computed from, so that a week with the same degrees, sizes and depths reuses
            it (the record stage keeps one per run).

    Returns:
        Metric name to value, in the order of :data:`NETWORK_METRICS`.
    """
    tied, deg = tie_structure(adj) if structure is None else structure
    out = dict(tied)
    m = deg.sum() / 2
    out["authority_gini"] = gini(authority)
    out["influence_gini"] = gini(influence)
    pairs = {"degree_size_corr": size, "degree_rank_corr": -depth.astype(float)}
    for name, other in pairs.items():
        out[name] = _remembered(memo, name, deg, other) if m > 0 else float("nan")
    return out


def _remembered(
    memo: dict[str, tuple[bytes, float]] | None, name: str, a: np.ndarray, b: np.ndarray
) -> float:
    """``spearman(a, b)``, kept in ``memo[name]`` with the values it was computed from."""
    if memo is None:
        return spearman(a, b)
    key = a.tobytes() + b"|" + np.asarray(b, dtype=float).tobytes()
    hit = memo.get(name)
    if hit is None or hit[0] != key:
        hit = (key, spearman(a, b))
        memo[name] = hit
    return hit[1]
