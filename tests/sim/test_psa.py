"""PSA: distributions declared with sources, draws from the root seed's named stream, every
arm under the same draws and seeds, and the CEA results recomputed from the runs table."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from carenet.models.streams import Streams
from carenet.params import ConfigError
from carenet.sim.design import from_dict, load_design, point_values, root_seed, unit_sample
from carenet.sim.psa import cea_tables, psa_draws

ROOT = Path(__file__).resolve().parents[2]

PSA = {
    "method": "psa",
    "n": 4000,
    "parameters": {
        "handoff.cold_fail": {"dist": "beta", "alpha": 25.0, "beta": 75.0, "source": "s"},
        "costs.items.professional_hour.gbp": {
            "dist": "gamma",
            "mean": 57.0,
            "sd": 5.7,
            "source": "s",
        },
        "handoff.shared_records_fail_multiplier": {
            "dist": "lognormal",
            "mean": 0.6,
            "sd": 0.12,
            "source": "s",
        },
    },
    "arms": {"a": ["structure=hierarchy"], "b": ["structure=network"]},
}


def test_draws_come_from_the_named_stream_of_the_root_seed() -> None:
    d = from_dict(PSA)
    unit = unit_sample(d, 777)
    assert np.array_equal(unit, Streams(777).get("psa").random((4000, 3)))
    assert not np.array_equal(unit, unit_sample(d, 778))
    assert root_seed(["steps=3", "seed=777"]) == 777
    assert root_seed([]) == 12345


def test_draws_follow_the_declared_distributions() -> None:
    d = from_dict(PSA)
    unit = unit_sample(d, 1)
    vals = np.array(point_values(d, unit))
    assert vals[:, 0] == pytest.approx(stats.beta(25, 75).ppf(unit[:, 0]))
    means, sds = vals.mean(axis=0), vals.std(axis=0)
    assert means == pytest.approx([0.25, 57.0, 0.6], rel=0.02)
    assert sds == pytest.approx([0.0431, 5.7, 0.12], rel=0.06)
    assert (vals > 0).all()


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"dist": "weibull"}, "dist: 'weibull' is not allowed"),
        ({"source": ""}, "state the distribution's source"),
        ({"alpha": -1.0}, "expected values above 0"),
        ({"mode": 1.0}, "unknown field 'mode'"),
    ],
)
def test_bad_distributions_are_refused_in_one_line(patch: dict, match: str) -> None:
    data = copy.deepcopy(PSA)
    data["parameters"]["handoff.cold_fail"] |= patch
    with pytest.raises(ConfigError, match=match) as e:
        from_dict(data)
    assert "\n" not in str(e.value)


def test_the_shipped_psa_file_is_a_valid_design() -> None:
    d = load_design(ROOT / "configs" / "psa" / "default.yaml")
    assert d.method == "psa" and len(d.arms) == 3
    assert all(p.source for p in d.parameters)


@pytest.fixture(scope="module")
def psa_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny PSA: 3 draws x 2 arms x 2 replications of 6 weeks (12 runs)."""
    tmp = tmp_path_factory.mktemp("psa")
    spec = copy.deepcopy(PSA) | {"n": 3}
    spec["base"] = ["population=small", "organisations=small", "population.size=3000"]
    spec["base"] += ["steps=6", "warmup_weeks=1"]
    (tmp / "psa.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))  # keep the order
    out = tmp / "out"
    cmd = [sys.executable, "-m", "carenet", "run", "-m", f"design={tmp / 'psa.yaml'}"]
    cmd += ["replications=2", "seed=99", f"out={out}", "progress=false"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run(
        [sys.executable, "-m", "carenet", "cea", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_every_arm_runs_under_the_same_draws_and_seeds(psa_run: Path) -> None:
    runs = pd.read_parquet(psa_run / "runs.parquet")
    for _, g in runs.groupby(["design_point", "replication"]):
        assert g["arm"].nunique() == 2
        assert g["seed"].nunique() == 1
        assert g["handoff.cold_fail"].nunique() == 1
    assert runs.groupby("design_point")["handoff.cold_fail"].first().nunique() == 3
    want = point_values(from_dict(PSA | {"n": 3}), unit_sample(from_dict(PSA | {"n": 3}), 99))
    got = runs.groupby("design_point")["handoff.cold_fail"].first().sort_index()
    assert got.tolist() == pytest.approx([v[0] for v in want])


def test_cea_results_recomputed_from_the_runs_table(psa_run: Path) -> None:
    runs = pd.read_parquet(psa_run / "runs.parquet")
    m = runs.groupby(["design_point", "arm"])[["discounted_cost_total", "discounted_qalys_net"]]
    m = m.mean().reset_index()
    draws = pd.read_csv(psa_run / "cea_draws.csv")
    assert draws["cost"].to_numpy() == pytest.approx(m["discounted_cost_total"].to_numpy())
    ceac = pd.read_csv(psa_run / "ceac.csv", index_col="wtp")
    for w in (0.0, 20_000.0, 30_000.0, 50_000.0):
        nmb = w * m["discounted_qalys_net"] - m["discounted_cost_total"]
        wide = m.assign(nmb=nmb).pivot(index="design_point", columns="arm", values="nmb")
        best = wide.idxmax(axis=1)
        for arm in ("a", "b"):
            assert ceac.loc[w, arm] == pytest.approx((best == arm).mean())
        res = cea_tables(psa_draws(psa_run))
        if w in res["evpi"]:
            want = wide.max(axis=1).mean() - wide.mean().max()
            assert res["evpi"][w] == pytest.approx(want, abs=1e-6)
    text = (psa_run / "cea.md").read_text()
    for needle in ("Incremental analysis", "Probability cost-effective", "EVPI per person"):
        assert needle in text
    assert (psa_run / "figures" / "ceac.png").is_file()
    assert (psa_run / "figures" / "ce_plane.png").is_file()


def test_checklists_point_to_sections_that_exist(psa_run: Path) -> None:
    from carenet.tools.checklists import CHEERS, STRESS_ABS, missing_sections, odd_text

    assert len(CHEERS) == 28 and [i[0] for i in CHEERS] == [str(k) for k in range(1, 29)]
    assert len(STRESS_ABS) == 22
    report = (psa_run / "cea.md").read_text()
    assert missing_sections(report, odd_text()) == []
    # ...and the check can fail: a report without its design section does not pass.
    cut = report.replace("## Design: arms and parameter distributions", "## Something else")
    assert any("item 4" in b for b in missing_sections(cut, odd_text()))
    text = (psa_run / "checklists.md").read_text()
    assert "## CHEERS 2022" in text and "## STRESS-ABS" in text
    assert "Location not found" not in text
    for n, topic, _ in CHEERS:
        assert f"| {n} | {topic} |" in text


def test_psa_n_runs_n_draws_of_the_shipped_design_through_the_sweep(tmp_path: Path) -> None:
    from carenet.sim.sweep import plan_sweep

    plan = plan_sweep(["psa=4", "population.size=3000", "steps=6", "warmup_weeks=1"])
    shipped = load_design(ROOT / "configs" / "psa" / "default.yaml")
    assert len(plan.runs) == 4 * len(shipped.arms)
    # With a design of its own, psa=N sets that design's draws.
    (tmp_path / "psa.yaml").write_text(yaml.safe_dump(PSA, sort_keys=False))
    plan = plan_sweep([f"design={tmp_path / 'psa.yaml'}", "psa=5", "population.size=3000"])
    assert len(plan.runs) == 5 * len(PSA["arms"])


@pytest.mark.parametrize(
    ("given", "match"),
    [
        (["psa=1"], "psa: '1' is not allowed: give a whole number of draws >= 2"),
        (["psa=many"], "psa: 'many' is not allowed"),
        (["psa=3", "design=pkg://carenet.experiments/designs/ishigami.yaml"], "sobol design"),
    ],
)
def test_bad_psa_counts_are_refused_in_one_line(given: list[str], match: str) -> None:
    from carenet.sim.sweep import plan_sweep

    with pytest.raises(ConfigError, match=match):
        plan_sweep(given)
