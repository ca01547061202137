"""carenet discover: PRIM boxes, their significance and stability, CART, the expression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carenet.sim import discovery as dv
from carenet.sim.sensitivity import AnalysisError
from tests.sim.design_fixtures import run_design, write_design


def _known_box(n=2000, seed=1):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.uniform(0, 1, (n, 3)), columns=["a", "b", "c"])
    y = ((x["a"] > 0.6) & (x["b"] < 0.4)).to_numpy()
    return x, y


def test_prim_finds_a_known_box():
    x, y = _known_box()
    boxes = dv.prim(x, y)
    assert boxes[0].coverage == 1.0 and boxes[0].mass == 1.0
    dens = [b.density for b in boxes]
    assert dens == sorted(dens)  # each peel raises the density
    box = boxes[dv.choose(boxes, 0.9)]
    full = dv.full_limits(x)
    assert box.restricted(full) == ["a", "b"] or sorted(box.restricted(full)) == ["a", "b"]
    assert box.limits["a"][0] == pytest.approx(0.6, abs=0.05)
    assert box.limits["b"][1] == pytest.approx(0.4, abs=0.05)
    assert box.density >= 0.9 and box.coverage >= 0.8
    p = dv.quasi_p(x, y, box, full)
    assert p["a"] < 1e-6 and p["b"] < 1e-6
    stab = dv.stability(x, y, 0.9, 10, seed=3)
    assert stab["a"] == 1.0 and stab["b"] == 1.0 and stab["c"] <= 0.5


def test_inside_the_box_the_condition_holds_outside_it_mostly_not():
    x, y = _known_box(seed=2)
    box = (b := dv.prim(x, y))[dv.choose(b, 0.9)]
    fresh, truth = _known_box(seed=99)  # new runs, inside and outside the box
    inside = dv.in_box(fresh, box.limits)
    assert truth[inside].mean() >= 0.8 and truth[~inside].mean() <= 0.05


def test_prim_peels_categories():
    rng = np.random.default_rng(4)
    x = pd.DataFrame({"k": rng.choice(["p", "q", "r"], 900), "v": rng.uniform(0, 1, 900)})
    y = (x["k"] == "q").to_numpy() & (x["v"] > 0.2).to_numpy()
    box = (b := dv.prim(x, y, alpha=0.1))[dv.choose(b, 0.9)]
    assert box.limits["k"] == ("q",)


def test_cart_is_a_second_view():
    x, y = _known_box()
    tree = dv.cart(x, y, depth=2, seed=0)
    assert tree["accuracy"] > 0.95 and "a <=" in tree["text"] and "b <=" in tree["text"]


@pytest.fixture(scope="module")
def lhs_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lhs")
    out = tmp / "o"
    f = write_design(tmp, method="lhs", n=120, arms={"a7": ["a=7"], "a5": ["a=5"]})
    run_design(f, out)
    return out


def test_expression_evaluates_metrics_differences_and_parameters(lhs_dir):
    from carenet.examples.ishigami import ishigami
    from carenet.sim.design import read_record

    rec = read_record(lhs_dir)
    y7 = np.array([ishigami(*v, a=7) for v in rec["values"]])
    y5 = np.array([ishigami(*v, a=5) for v in rec["values"]])
    assert np.array_equal(dv.evaluate(lhs_dir, "value(y, a7) > 3"), y7 > 3)
    got = dv.evaluate(lhs_dir, "diff(y, a7, a5) > 1 and not x1 < 0")
    assert np.array_equal(got, ((y7 - y5) > 1) & ~(np.array(rec["values"])[:, 0] < 0))


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("y > 1", "name an arm"),
        ("__import__('os')", "allowed calls"),
        ("diff(y, a7, zz) > 0", "'zz' is not an arm"),
        ("value(y, a7)", "is not a condition"),
        ("y >", "cannot be read"),
        ("x1 > -10", "holds at every point"),
    ],
)
def test_bad_expressions_are_one_line(lhs_dir, expr, words):
    with pytest.raises(AnalysisError, match=words) as err:
        dv.discover(lhs_dir, expr, resamples=1)
    assert "\n" not in str(err.value)


def test_discover_writes_its_files_and_finds_the_region(lhs_dir):
    res = dv.discover(lhs_dir, "x1 > 1.0 and value(y, a7) > -100", threshold=1.0, resamples=5)
    box = res["box"].set_index("parameter")
    assert box.loc["x1", "restricted"] and box.loc["x1", "low"] > 0.9
    assert not box.loc["x3", "restricted"]
    for name in (
        "discovery.md",
        "discovery_box.csv",
        "discovery_trajectory.csv",
        "figures/discovery_tradeoff.png",
        "figures/discovery_tree.png",
    ):
        assert (lhs_dir / name).stat().st_size > 0
    text = (lhs_dir / "discovery.md").read_text()
    assert "Coverage" in text and "| x1 |" in text and "CART" in text


def test_cli_discover(lhs_dir):
    from tests.cli import carenet

    res = carenet("discover", str(lhs_dir), "--where", "x2 < 0", "--resamples", "2")
    assert res.returncode == 0, res.stderr
    assert "| x2 |" in res.stdout
    res = carenet("discover", str(lhs_dir), "--where", "x2 <", "--resamples", "2")
    assert res.returncode == 2 and res.stderr.count("\n") == 1
