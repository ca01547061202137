"""The per-stratum member index stays equal to a scan of the population (#17)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carenet.models.population import Population


def _population(stratum: np.ndarray) -> Population:
    n = stratum.size
    return Population(
        stratum=stratum.astype(np.int8),
        locality=np.zeros(n, dtype=np.int16),
        gp=np.zeros(n, dtype=np.int32),
        health=np.zeros(n, dtype=np.float32),
        in_episode=np.zeros(n, dtype=bool),
    )


def _assert_index_matches_scan(pop: Population) -> None:
    for s in range(pop.n_strata):
        scanned = np.flatnonzero(pop.stratum == s)
        assert pop.count(s) == scanned.size
        np.testing.assert_array_equal(np.sort(pop.members(s)), scanned)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    rounds=st.integers(1, 12),
)
def test_moves_keep_the_index_equal_to_a_scan(seed: int, n: int, rounds: int) -> None:
    rng = np.random.default_rng(seed)
    pop = _population(rng.integers(0, 4, n))
    for _ in range(rounds):
        delta = int(rng.choice([-1, 1]))
        ok = np.flatnonzero((pop.stratum + delta >= 0) & (pop.stratum + delta <= 3))
        movers = rng.choice(ok, size=rng.integers(0, ok.size + 1), replace=False)
        expected = pop.stratum.copy()
        expected[movers] += delta
        pop.move(movers, delta)
        np.testing.assert_array_equal(pop.stratum, expected)
        _assert_index_matches_scan(pop)


def test_stratum_is_read_only_and_set_strata_reindexes() -> None:
    pop = _population(np.array([0, 1, 2, 3, 0, 1]))
    with pytest.raises(ValueError, match="read-only"):
        pop.stratum[0] = 2
    pop.set_strata(np.array([3, 3, 0, 0, 1, 2]))
    _assert_index_matches_scan(pop)
    np.testing.assert_array_equal(np.sort(pop.members(3)), [0, 1])


@pytest.mark.parametrize(
    ("pids", "delta", "message"),
    [
        ([0, 0], 1, "appears twice"),
        ([3], 1, "would leave"),
        ([0], -1, "would leave"),
        ([1], 2, "delta"),
    ],
)
def test_bad_moves_are_refused(pids: list[int], delta: int, message: str) -> None:
    pop = _population(np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=message):
        pop.move(np.array(pids), delta)
    _assert_index_matches_scan(pop)


def test_a_model_keeps_its_index_through_progression_failures_and_recovery(tiny_model) -> None:
    """After weeks of progression, failed handoffs and recoveries, index = scan."""
    assert tiny_model.ledger.totals["strat_failed"].sum() > 0  # failures happened
    _assert_index_matches_scan(tiny_model.pop)


def test_arrivals_are_distinct_free_patients_and_all_arrive_at_rate_one() -> None:
    from carenet.models.model import CareSystemModel
    from carenet.sim.config import load_config
    from tests.models.conftest import TINY

    m = CareSystemModel(load_config(TINY))
    m.run(2)
    new, v = m.stage("demand").arrivals()
    assert new.size > 0 and np.unique(new).size == new.size
    assert not m.pop.in_episode[new].any() and ((v >= 0) & (v < 1)).all()
    m = CareSystemModel(load_config([*TINY, "population.episode_rate_per_year=[52,52,52,52]"]))
    m.run(1)  # one a week: every patient not in an episode has a need this week
    new, _ = m.stage("demand").arrivals()
    np.testing.assert_array_equal(new, np.flatnonzero(~m.pop.in_episode))
