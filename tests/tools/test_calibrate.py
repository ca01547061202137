"""``carenet calibrate``: targets with sources, verdicts, a fit that lowers the objective."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from carenet.models.registry import SUMMARY
from carenet.sim.config import load_config
from carenet.tools.calibrate import (
    LIBRARY,
    compare,
    fit,
    free_defaults,
    free_overrides,
    load_targets,
    objective,
    write_fit,
)
from tests.cli import carenet

TINY = [
    "population=small",
    "organisations=small",
    "population.size=3000",
    "steps=12",
    "warmup_weeks=4",
]

SOURCE_FIELDS = ("statistic", "publisher", "edition", "url", "england", "scaling", "unit")


def test_every_target_names_its_source_scaling_and_a_model_metric():
    decl = load_targets()
    assert decl["tolerance"] == 0.25
    names = [t["name"] for t in decl["targets"]]
    for needed in ("gp_consultations", "ae_attendances", "nonelective_admissions"):
        assert needed in names
    for t in decl["targets"]:
        assert t["metric"] in SUMMARY, t["name"]
        assert all(str(t.get(f, "")).strip() for f in SOURCE_FIELDS), t["name"]
        assert t["url"].startswith("https://"), t["name"]
        assert t["value"] > 0
        # An approximate figure must say so and be marked for checking.
        if "approx" in t["england"] or "order" in t["england"]:
            assert t["verify"] is True, t["name"]
    assert any(t["fit"] for t in decl["targets"])
    for key in ("covered", "outside", "share_of_spend", "transaction_share"):
        assert decl["scope"][key].strip()


def test_free_parameters_are_configuration_keys_with_bounds_around_the_default():
    decl = load_targets()
    defaults = free_defaults(decl["free"], [])
    for f in decl["free"]:
        start = defaults[f.key] if f.kind == "value" else 1.0
        assert f.lo <= start <= f.hi, f.label
    kinds = [f.kind for f in decl["free"]]
    x = np.array([2.0 if k != "value" else 1.0 for k in kinds])
    over, values = free_overrides(decl["free"], x, defaults)
    assert values["population.episode_rate_per_year"] == [
        2 * x for x in defaults["population.episode_rate_per_year"]
    ]
    # The overrides compose into a configuration that has exactly the values they name.
    cfg = load_config(over)
    assert list(cfg.population.episode_rate_per_year) == values["population.episode_rate_per_year"]
    for f in decl["free"]:
        if f.kind == "weights":
            got = next(p for p in cfg.pathways.library if p["name"] == f.pathway)
            base = next(p for p in defaults[LIBRARY] if p["name"] == f.pathway)
            assert list(got["weights"]) == [2 * w for w in base["weights"]]
        for key in f.all_keys if f.kind == "scale" and f.keys else ():
            group, name = key.split(".")
            assert getattr(getattr(cfg, group), name) == pytest.approx(2 * defaults[key])


def test_a_weights_parameter_moves_one_pathway_and_keeps_the_others():
    decl = load_targets(
        "targets: []\nfree:\n"
        "  - {key: pathways.library, kind: weights, pathway: ae_discharged, lo: 0.1, hi: 10}\n"
    )
    defaults = free_defaults(decl["free"], [])
    over, values = free_overrides(decl["free"], np.array([3.0]), defaults)
    assert len(over) == 1 and over[0].startswith("pathways.library=[")
    lib = load_config(over).pathways.library
    for new, old in zip(lib, defaults[LIBRARY], strict=True):
        factor = 3.0 if old["name"] == "ae_discharged" else 1.0
        assert list(new["weights"]) == pytest.approx([factor * w for w in old["weights"]])
        assert new["steps"] == old["steps"] and new["qaly_gain"] == old["qaly_gain"]
    assert (
        values["pathways.library[ae_discharged].weights"]
        == lib[[p["name"] for p in lib].index("ae_discharged")]["weights"]
    )


@pytest.mark.parametrize(
    "entry",
    [
        "{key: a.b, kind: scale, lo: 2, hi: 1}",
        "{key: a.b, kind: guess, lo: 1, hi: 2}",
        "{key: pathways.library, kind: weights, lo: 1, hi: 2}",
        "{key: a.b, kind: weights, pathway: x, lo: 1, hi: 2}",
        "{key: a.b, kind: value, keys: [c.d], lo: 1, hi: 2}",
    ],
)
def test_bad_declarations_are_refused(entry):
    with pytest.raises(ValueError, match="free parameter"):
        load_targets(f"targets: []\nfree:\n  - {entry}\n")


def test_a_pathway_the_library_lacks_is_refused():
    decl = load_targets(
        "targets: []\nfree:\n"
        "  - {key: pathways.library, kind: weights, pathway: nowhere, lo: 0.1, hi: 10}\n"
    )
    with pytest.raises(ValueError, match="nowhere"):
        free_defaults(decl["free"], [])


def test_verdicts_and_objective():
    decl = {
        "tolerance": 0.25,
        "targets": [
            {"name": "a", "metric": "m1", "value": 100.0, "fit": True},
            {"name": "b", "metric": "m2", "value": 10.0, "fit": True},
            {"name": "c", "metric": "m3", "value": 1.0, "fit": False},
        ],
    }
    rows = compare({"m1": 120.0, "m2": 5.0, "m3": 2.0}, decl)
    assert [r["verdict"] for r in rows] == ["within", "low", "high"]
    assert objective({"m1": 100.0, "m2": 10.0, "m3": 9.0}, decl) == 0.0
    got = objective({"m1": 200.0, "m2": 10.0, "m3": 1.0}, decl)
    assert got == pytest.approx(math.log(2) ** 2)


def test_fit_lowers_the_objective_on_a_tiny_economy(tmp_path):
    decl = load_targets()
    decl["targets"] = [t for t in decl["targets"] if t["name"] == "gp_consultations"]
    decl["free"] = [f for f in decl["free"] if f.key == "population.episode_rate_per_year"]
    low = "population.episode_rate_per_year=[0.3,1.2,2.5,4.0]"  # the uncalibrated rates
    result = fit(decl, [*TINY, low], seeds=[1, 2], trials=6)
    assert 2 <= len(result["history"]) <= 6
    assert result["best"]["objective"] < 0.5 * result["start"]["objective"]
    factor = result["best"]["values"]["population.episode_rate_per_year"][0] / 0.3
    assert factor > 2  # more episodes: more GP consultations, toward 5.5 a person a year
    paths = write_fit(tmp_path, {"fit": result, "seeds": [1, 2]}, "test")
    record = json.loads(paths[0].read_text())
    assert record["fit"]["best"]["objective"] == result["best"]["objective"]
    fitted = yaml.safe_load(paths[1].read_text())
    assert (
        fitted["population"]["episode_rate_per_year"]
        == result["best"]["values"]["population.episode_rate_per_year"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibrated.yaml", "calibration.json"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--seeds", "0"], "--seeds"),
        (["--trials", "many"], "--trials"),
        (["population.size=-1"], "population.size"),
        (["--steps", "10"], "warmup_weeks"),
        (
            [
                "--fit",
                "pathways.library=[{name:a,weights:[1,1,1,1],qaly_gain:0.1,"
                "steps:[{line:gp_consult,weeks:1,item:gp_consultation,units:1}]}]",
            ],
            "no pathway 'gp_only'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, names):
    r = carenet("calibrate", *args)
    assert r.returncode == 2
    assert names in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_calibrate_prints_every_target_with_a_verdict():
    r = carenet("calibrate", "--seeds", "1", "--steps", "12", *TINY[:3], "warmup_weeks=4")
    assert r.returncode == 0, r.stderr
    for t in load_targets()["targets"]:
        line = next(x for x in r.stdout.splitlines() if x.startswith(t["name"]))
        assert any(v in line for v in ("within", "low", "high")), line


def test_the_shipped_defaults_are_the_recorded_fits_best_point():
    from importlib import resources

    record = json.loads(
        resources.files("carenet.configs").joinpath("calibration/fitted.json").read_text()
    )
    best = record["fit"]["best"]
    assert best["objective"] == min(r["objective"] for r in record["fit"]["history"])
    assert record["command"].startswith("carenet calibrate --fit")
    decl = load_targets()
    defaults = free_defaults(decl["free"], [])
    for f in decl["free"]:
        if f.kind == "weights":
            now = next(p for p in defaults[LIBRARY] if p["name"] == f.pathway)["weights"]
            assert now == best["values"][f.label], f.label
        for key in () if f.kind == "weights" else f.all_keys:
            assert defaults[key] == pytest.approx(best["values"][key]), key
    # Every fitted target was within tolerance at the best point.
    assert all(r["verdict"] == "within" for r in record["comparison"] if r["fit"])
    # History entries are compact: the library is kept once, at the start and the best.
    assert all(LIBRARY not in r["values"] for r in record["fit"]["history"])
