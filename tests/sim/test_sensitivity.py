"""carenet analyse: SALib's indices on a design's runs, recomputed independently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from carenet.sim import sensitivity as sa
from tests.sim.design_fixtures import run_design, write_design


@pytest.fixture(scope="module")
def sobol_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sobol")
    out = tmp / "o"
    run_design(write_design(tmp, n=32), out)  # 160 runs
    return out


@pytest.fixture(scope="module")
def paired_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paired")
    out = tmp / "o"
    f = write_design(tmp, n=8, arms={"a7": ["a=7"], "a5": ["a=5"]})
    run_design(f, out, "replications=2")
    return out


def _y_by_point(folder) -> np.ndarray:
    """y per design point, read straight from runs.parquet and sweep.json."""
    runs = pd.read_parquet(folder / "runs.parquet")
    runs["design_point"] = runs["design_point"].astype(int)
    return runs.sort_values("design_point")["y"].to_numpy()


def test_analyse_equals_salib_called_directly(sobol_dir):
    from SALib.analyze import sobol

    table = sa.analyse(sobol_dir, ["y"], resamples=100, seed=7, figures=False)
    rec = json.loads((sobol_dir / "design.json").read_text())
    direct = sobol.analyze(
        rec["problem"],
        _y_by_point(sobol_dir),
        calc_second_order=False,
        num_resamples=100,
        conf_level=0.95,
        seed=7,
    )
    for idx in ("S1", "ST"):
        got = table[table["index"] == idx].set_index("parameter")
        for j, name in enumerate(("x1", "x2", "x3")):
            assert got.loc[name, "value"] == pytest.approx(direct[idx][j], abs=1e-12)
            half = direct[f"{idx}_conf"][j]
            assert got.loc[name, "upper"] == pytest.approx(direct[idx][j] + half, abs=1e-12)
    saved = pd.read_csv(sobol_dir / "sensitivity.csv")
    assert list(saved.columns) == list(sa.COLUMNS) and len(saved) == 7


def test_flags_small_samples_and_intervals_through_zero(sobol_dir):
    table = sa.analyse(sobol_dir, ["y"], figures=True)
    assert table[table["index"] == "S1"]["flag"].str.contains("small_sample").all()  # n = 32
    s1_x3 = table[(table["index"] == "S1") & (table["parameter"] == "x3")].iloc[0]
    assert s1_x3["lower"] <= 0 <= s1_x3["upper"]  # x3 has no first-order effect
    assert "ci_includes_zero" in s1_x3["flag"]
    seeds = table[table["index"] == sa.SEED_SHARE].iloc[0]
    assert np.isnan(seeds["value"]) and seeds["flag"] == "one_replication"
    assert (sobol_dir / "figures" / "sensitivity_y.png").stat().st_size > 0


def test_paired_difference_is_paired_by_point_and_replication(paired_dir):
    from carenet.examples.ishigami import ishigami

    out = sa.outcomes(paired_dir, "y", "a7-a5")
    rec = out.record
    expected = [ishigami(*v, a=7) - ishigami(*v, a=5) for v in rec["values"]]
    assert out.runs.shape == (8 * 5, 2)
    assert np.allclose(out.runs[:, 0], expected) and np.allclose(out.runs[:, 1], expected)
    assert out.seed_share() == 0.0  # a deterministic function: no seed noise
    table = sa.analyse(paired_dir, ["y"], diff="a7-a5", figures=False)
    st = table[table["index"] == "ST"].set_index("parameter")["value"]
    assert st["x2"] > 0.9  # the difference 2 sin(x2)^2 depends on x2 alone


def test_seed_share_separates_noise_from_parameters():
    rng = np.random.default_rng(3)
    point = rng.normal(0, 2.0, 400)[:, None]  # parameter variance 4
    noise = rng.normal(0, 1.0, (400, 5))  # seed variance 1
    out = sa.Outcomes("m", point + noise, {})
    assert out.seed_share() == pytest.approx(1 / 5, abs=0.04)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"metrics": ["nope"]}, "'nope' is not a metric"),
        ({"metrics": ["y"], "diff": "a7-zz"}, "is not ARM_A-ARM_B"),
        ({"metrics": ["y"]}, "give --diff A-B"),
    ],
)
def test_bad_requests_are_one_line(paired_dir, kwargs, words):
    with pytest.raises(sa.AnalysisError, match=words):
        sa.analyse(paired_dir, figures=False, **kwargs)


def test_morris_matches_salib_and_ranks_inputs(tmp_path):
    from SALib.analyze import morris

    from carenet.examples.ishigami import ishigami

    out = tmp_path / "o"
    run_design(write_design(tmp_path, method="morris", n=20, levels=4), out)  # 80 runs
    table = sa.analyse(out, ["y"], resamples=50, seed=2, figures=True)
    rec = json.loads((out / "design.json").read_text())
    # Morris trajectories can share points (one run each): y from the function itself
    y = np.array([ishigami(*v) for v in rec["values"]])
    direct = morris.analyze(
        rec["problem"],
        np.asarray(rec["unit"]),
        y,
        num_resamples=50,
        num_levels=4,
        seed=2,
    )
    ms = table[table["index"] == "mu_star"].set_index("parameter")["value"]
    assert np.allclose(ms.to_numpy(), direct["mu_star"])
    sig = table[table["index"] == "sigma"]
    assert (sig["lower"] <= sig["value"]).all() and (sig["value"] <= sig["upper"]).all()
    assert (out / "figures" / "morris_y.png").is_file()


def test_cli_analyse(sobol_dir, tmp_path):
    from tests.cli import carenet

    res = carenet("analyse", str(sobol_dir), "--metric", "y")
    assert res.returncode == 0, res.stderr
    assert "sensitivity.csv" in res.stdout
    res = carenet("analyse", str(tmp_path), "--metric", "y")
    assert res.returncode == 2 and "holds no design" in res.stderr
    assert res.stderr.strip().count("\n") == 0


def test_report_of_a_design_shows_its_analyses(sobol_dir):
    from carenet.sim.report import build_report

    sa.analyse(sobol_dir, ["y"], figures=False)
    text = build_report(sobol_dir).read_text()
    assert "(a sobol design)" in text and "160 of 160 runs finished" in text
    assert "| y | x2 | ST |" in text and "Not yet explored: `carenet discover" in text
