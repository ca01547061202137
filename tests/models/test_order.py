"""Organisation order decides nothing in a tie round (issue #12, item 1).

The tie round is simultaneous: every organisation decides on the same start-of-round
view (route costs refreshed on current trust) and the decisions are resolved by
:func:`~carenet.models.stages.learning.resolve_ties`. Tested here: relabelling the
organisations permutes the resolution's outcome and nothing else; visiting the
organisations in another order gives the same ties; a tie worth it to both ends
survives its round and the next (the old veto dropped every tie sought with a
higher-id partner in the round it formed).
"""

from __future__ import annotations

import numpy as np
import pytest

from carenet.models.model import CareSystemModel
from carenet.models.stages.learning import resolve_ties, tie_budget
from carenet.sim.config import load_config

from .conftest import TINY

NETWORK = ["structure=network", "power_rule=empowerment", "response=network"]


def _random_round(n: int, rng: np.random.Generator):
    tie = np.triu(rng.random((n, n)) < 0.15, 1)
    tie = tie | tie.T
    drop = (rng.random((n, n)) < 0.2) & tie
    seek = (rng.random((n, n)) < 0.3) & ~tie
    np.fill_diagonal(seek, False)
    scores = rng.normal(0.5, 1.0, (n, n))
    scores[rng.random((n, n)) < 0.1] = 1.0  # some exact equal sums: priority decides
    budget = rng.integers(2, 12, n)
    key = rng.random((n, n))
    return tie, drop, seek, scores, budget, key + key.T


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_resolution_is_invariant_to_relabelling(seed: int) -> None:
    """Relabel the organisations: the ties ended and formed are relabelled, no more."""
    rng = np.random.default_rng(seed)
    n = 25
    tie, drop, seek, scores, budget, pri = _random_round(n, rng)
    gone, formed = resolve_ties(tie, drop, seek, scores, budget, pri)
    assert formed.any() and gone.any()
    p = rng.permutation(n)  # new label k is old organisation p[k]
    ix = np.ix_(p, p)
    g2, f2 = resolve_ties(tie[ix], drop[ix], seek[ix], scores[ix], budget[p], pri[ix])
    assert np.array_equal(g2, gone[ix])
    assert np.array_equal(f2, formed[ix])


def test_resolution_respects_both_ends() -> None:
    """A sought tie forms only if the other end scores it positive and both have room."""
    n = 4
    tie = np.zeros((n, n), dtype=bool)
    seek = np.zeros((n, n), dtype=bool)
    seek[0, 3] = seek[1, 3] = seek[2, 3] = True
    scores = np.ones((n, n))
    scores[3, 2] = -1.0  # 3 does not want 2
    scores[0, 3], scores[1, 3] = 5.0, 2.0  # the pair 0-3 is worth more than 1-3
    budget = np.array([1, 1, 1, 1])  # 3 has room for one
    key = np.zeros((n, n))
    gone, formed = resolve_ties(tie, tie, seek, scores, budget, key)
    assert not gone.any()
    assert formed[0, 3] and formed[3, 0]
    assert not formed[1, 3] and not formed[2, 3]
    # Either end may drop a tie.
    tie2 = formed.copy()
    drop = np.zeros((n, n), dtype=bool)
    drop[3, 0] = True
    gone, _ = resolve_ties(tie2, drop, np.zeros_like(drop), scores, budget, key)
    assert gone[0, 3] and gone[3, 0]


def _network_model() -> CareSystemModel:
    m = CareSystemModel(load_config(TINY + NETWORK))
    m.run(3)
    return m


def test_tie_round_is_invariant_to_visit_order() -> None:
    """Two identical systems visited in opposite orders form and drop the same ties."""
    a, b = _network_model(), _network_model()
    assert np.array_equal(a.trust, b.trust)
    b.service_ids = b.service_ids[::-1].copy()
    ra, rb = dict.fromkeys(("ties_dropped", "ties_formed"), 0.0), {}
    rb = dict(ra)
    a.stage("learning").tie_round(ra)
    b.stage("learning").tie_round(rb)
    assert ra == rb
    assert ra["ties_formed"] + ra["ties_dropped"] > 0
    assert np.array_equal(a.trust, b.trust)


def test_a_tie_worth_it_to_both_ends_survives_its_round() -> None:
    """A GP and the (higher-id) community provider with much flow: the tie forms and stays."""
    m = _network_model()
    gp = int(np.flatnonzero(m.kinds == "gp")[0])
    com = int(np.flatnonzero(m.kinds == "community")[0])
    assert com > gp  # the old veto: the higher-id end scored it against stale costs
    m.trust[gp, :] = m.trust[:, gp] = 0.0
    m.trust[com, :] = m.trust[:, com] = 0.0
    m.flow[:] = 0.0
    m.flow[gp, com] = m.flow[com, gp] = 50.0
    assert tie_budget(m)[[gp, com]].min() > 0
    rec = dict.fromkeys(("ties_dropped", "ties_formed"), 0.0)
    m.stage("learning").tie_round(rec)
    assert m.trust[gp, com] == m.cfg.structure.new_tie_trust
    # Scored on current costs as an existing tie, it is still worth keeping next round.
    m.stage("learning").tie_round(rec)
    assert m.trust[gp, com] > 0


# --- the whole model: organisation ids relabelled ------------------------------------------

ARRANGEMENTS = {
    "hierarchy": ["structure=hierarchy", "power_rule=domination", "response=bureaucratic"],
    "network": NETWORK,
    "default": [],
}


def _relabelled(perm_seed: int):  # noqa: ANN202
    """``build_layout`` with the organisations' ids permuted (same kinds, places, sizes)."""
    from carenet.models.structure import OrgLayout, build_layout

    def build(cfg, localities, rng):  # noqa: ANN001, ANN202
        lay = build_layout(cfg, localities, rng)
        p = np.random.default_rng(perm_seed).permutation(lay.n)
        return OrgLayout(
            kinds=[lay.kinds[i] for i in p],
            locality=lay.locality[p],
            cover=lay.cover[p],
            size=lay.size[p],
        )

    return build


@pytest.mark.parametrize("arrangement", sorted(ARRANGEMENTS))
def test_relabelling_organisation_ids_keeps_the_distribution_of_results(
    arrangement: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Organisation order does not decide outcomes.

    Relabelling the ids (a random permutation of the laid-out organisations, with services
    and bureaucratic bodies mixed) changes which per-organisation draws (sizes, rules,
    initial ties) an organisation gets, so single runs differ; over seeds the headline
    results must come from the same distribution (Welch's t within 3 on each metric).
    """
    import carenet.models.state as state

    cfg = load_config(
        ["population=small", "organisations=small", "population.size=10000", "steps=52"]
        + ["warmup_weeks=0", *ARRANGEMENTS[arrangement]]
    )
    metrics = ("net_monetary_benefit", "episodes_failed", "cost_total")
    out: dict[str, np.ndarray] = {}
    for label, perm in (("ids", None), ("relabelled", 7)):
        if perm is not None:
            monkeypatch.setattr(state, "build_layout", _relabelled(perm))
        rows = []
        for seed in range(1, 7):
            m = CareSystemModel(cfg, seed=seed)
            m.run(cfg.steps)
            s = m.summary()
            rows.append([s[k] for k in metrics])
        out[label] = np.array(rows)
    assert not np.array_equal(out["ids"], out["relabelled"])  # the relabelling took effect
    a, b = out["ids"], out["relabelled"]
    se = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    t = np.abs(a.mean(axis=0) - b.mean(axis=0)) / np.maximum(se, 1e-12)
    assert (t < 3.0).all(), dict(zip(metrics, t.round(2), strict=True))
