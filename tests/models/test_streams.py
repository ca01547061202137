"""Named random streams: common random numbers between scenarios that share a seed.

Switching the power rule, the response or the scenario must not change what those do not
touch: the population, the organisations, the initial ties and the first week's demand.
"""

from __future__ import annotations

import random
import zlib

import numpy as np
import pytest

from carenet.models.model import CareSystemModel
from carenet.models.streams import Streams, stream_key
from carenet.sim.config import load_config

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=6",
    "warmup_weeks=0",
]
SEED = 2024

VARIANTS = [
    "power_rule=domination",
    "power_rule=empowerment",
    "power_rule=adaptive",
    "power_rule.empower_share=0.9",
    "power_rule._target_=carenet.models.power.PowerRule",
    "response=bureaucratic",
    "response=network",
    "scenario=winter",
    "scenario=budget_cut",
    "scenario=hub_failure",
    "scenario=random_failure",
    "scenario=outage",
]


def build(*overrides: str, seed: int = SEED) -> CareSystemModel:
    return CareSystemModel(load_config([*TINY, *overrides]), seed=seed)


def first_week(model: CareSystemModel) -> tuple[np.ndarray, float]:
    """Step one week; return the patients whose episodes started, and the count."""
    started: list[np.ndarray] = []
    stage = model.stage("demand")
    demand = stage.run

    def spy(t, rec):
        before = len(model.episodes)
        demand(t, rec)
        started.append(model.episodes.pid[before:].copy())

    stage.run = spy  # instance attribute: wraps this model's stage only
    model.step()
    return started[0], model.records[0]["episodes_started"]


@pytest.fixture(scope="module")
def reference():
    m = build()
    state = {
        "stratum": m.pop.stratum.copy(),
        "locality": m.pop.locality.copy(),
        "gp": m.pop.gp.copy(),
        "trust": m.trust.copy(),
        "size": m.size.copy(),
        "kinds": m.kinds.copy(),
        "org_locality": m.org_locality.copy(),
    }
    state["pids"], state["started"] = first_week(m)
    return state


@pytest.mark.parametrize("variant", VARIANTS)
def test_switching_rule_response_or_scenario_keeps_shared_random_numbers(reference, variant):
    m = build(variant)
    np.testing.assert_array_equal(m.pop.stratum, reference["stratum"])
    np.testing.assert_array_equal(m.pop.locality, reference["locality"])
    np.testing.assert_array_equal(m.pop.gp, reference["gp"])
    np.testing.assert_array_equal(m.size, reference["size"])
    np.testing.assert_array_equal(m.kinds, reference["kinds"])
    np.testing.assert_array_equal(m.org_locality, reference["org_locality"])
    np.testing.assert_array_equal(m.trust > 0, reference["trust"] > 0)
    np.testing.assert_array_equal(m.trust, reference["trust"])
    pids, started = first_week(m)
    assert started == reference["started"] > 0
    np.testing.assert_array_equal(pids, reference["pids"])


@pytest.mark.parametrize("structure", ["structure=hierarchy", "structure=network"])
def test_switching_structure_keeps_population_and_organisations(reference, structure):
    m = build(structure)
    np.testing.assert_array_equal(m.pop.stratum, reference["stratum"])
    np.testing.assert_array_equal(m.pop.gp, reference["gp"])
    np.testing.assert_array_equal(m.size, reference["size"])


def test_a_different_seed_draws_a_different_population(reference):
    m = build(seed=SEED + 1)
    assert not np.array_equal(m.pop.stratum, reference["stratum"])
    assert not np.array_equal(m.size, reference["size"])


def test_weeks_before_a_shock_are_identical_to_the_baseline():
    shock = "scenario.shocks=[{kind:winter_surge,at_week:4,duration_weeks:2,magnitude:0.5}]"
    base, shocked = build(), build(shock)
    base.run(6)
    shocked.run(6)
    for week in range(4):
        assert base.records[week] == pytest.approx(shocked.records[week], nan_ok=True), week
    assert shocked.records[4]["demand_multiplier"] == 1.5
    assert shocked.records[4]["episodes_started"] != base.records[4]["episodes_started"]


def test_the_model_never_touches_global_random_state():
    np_state = np.random.get_state()  # noqa: NPY002 (checks the global state is unused)
    py_state = random.getstate()
    build("power_rule=adaptive", "scenario=random_failure").run(3)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], np_state[1]) and after[2] == np_state[2]
    assert random.getstate() == py_state


# --- Streams ------------------------------------------------------------------------------


def test_a_stream_is_reproducible_from_seed_and_name():
    a = Streams(7).get("demand").random(50)
    b = Streams(7).get("demand").random(50)
    np.testing.assert_array_equal(a, b)


def test_get_returns_the_same_generator_so_draws_continue():
    s = Streams(7)
    assert s.get("demand") is s.get("demand")
    first = s.get("demand").random(5)
    second = s.get("demand").random(5)
    np.testing.assert_array_equal(np.r_[first, second], Streams(7).get("demand").random(10))


def test_streams_are_independent_of_each_other_and_of_use_order():
    s = Streams(7)
    s.get("handoff").random(1000)  # heavy use of one stream ...
    s.get("referral")
    after = s.get("demand").random(20)
    fresh = Streams(7).get("demand").random(20)  # ... leaves another untouched
    np.testing.assert_array_equal(after, fresh)
    x = Streams(7).get("a").random(20_000)
    y = Streams(7).get("b").random(20_000)
    assert not np.array_equal(x[:20], y[:20])
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.03


def test_different_seeds_give_different_streams():
    assert not np.array_equal(
        Streams(1).get("demand").random(20), Streams(2).get("demand").random(20)
    )


def test_stream_keys_and_first_draws_are_pinned():
    # A stable key (crc32, not the salted hash()) gives the same streams in every process.
    assert stream_key("demand") == zlib.crc32(b"demand") == 1116567923
    # Pinned first draws: a change here changes every result (mark it [output]).
    assert Streams(12345).get("demand").integers(0, 2**31) == 1209605054
    assert Streams(12345).get("population").integers(0, 2**31) == 597076897


def test_seed_for_gives_a_32_bit_seed_from_its_stream():
    v = Streams(3).seed_for("structure")
    assert isinstance(v, int) and 0 <= v < 2**31
    assert v == Streams(3).seed_for("structure")
