import pytest

from carenet.experiments.declaration import ExperimentError, from_dict, load, names
from carenet.experiments.runner import merge_overrides, plan_experiment

from .conftest import TINY


def test_the_named_experiments_are_installed_as_yaml_declarations():
    assert {"arrangements", "patterns"} <= set(names())
    exp = load("arrangements")
    assert [a.id for a in exp.arms] == ["hierarchy", "network", "hybrid"]
    assert exp.replications == 5 and exp.seed == 12345


@pytest.mark.parametrize("name", ["arrangements", "patterns"])
def test_every_arm_of_every_experiment_plans_as_a_sweep(name, tmp_path):
    plan = plan_experiment(load(name), [*TINY, "replications=2", f"out={tmp_path / 'x'}"])
    assert list(plan.arms) == [a.id for a in load(name).arms]
    assert plan.replications == 2 and plan.seed == 12345
    assert not (tmp_path / "x").exists()  # planning writes nothing


def test_a_user_override_replaces_the_base_one_of_the_same_key():
    out, common = merge_overrides(load("patterns"), ["steps=8", "seed=7", "out=somewhere"])
    assert common.count("steps=8") == 1 and "steps=156" not in common
    assert "seed=7" in common and "seed=12345" not in common
    assert str(out) == "somewhere"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("structure=network", "structure: set by the experiment's arms"),
        ("steps=5,6", "steps: the experiment declares its own scenarios"),
        ("steps", "expected KEY=VALUE"),
    ],
)
def test_overrides_that_would_change_the_design_are_refused(override, message):
    with pytest.raises(ExperimentError, match=message):
        merge_overrides(load("arrangements"), [override])


def test_an_unknown_experiment_names_the_known_ones():
    with pytest.raises(
        ExperimentError, match="known: arrangements, ishigami, patterns, where-network-wins"
    ):
        load("nope")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"arms": {"a": {"overrides": ["x=1"]}}, "analysis": "m"}, "module:function"),
        ({"arms": {}, "analysis": "m:f"}, "arms must map"),
        ({"arms": {"A b": {"overrides": ["x=1"]}}, "analysis": "m:f"}, "lower-case"),
        ({"arms": {"a": {"overrides": ["x"]}}, "analysis": "m:f"}, "KEY=VALUE"),
        ({"arms": {"a": {"overrides": []}}, "analysis": "m:f", "reps": 2}, "unknown field"),
        ({"arms": {"a": {"overrides": []}}, "analysis": "m:f", "replications": 0}, ">= 1"),
    ],
)
def test_a_malformed_declaration_is_refused_in_one_line(data, message):
    with pytest.raises(ExperimentError, match=message):
        from_dict("x", data)
