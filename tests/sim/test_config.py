"""Every bad configuration value stops before anything runs, with one line naming the key,
the value and what is allowed (issue #2 item 7), through the Python API and the CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carenet.models.schema import CarenetConfig
from carenet.sim.config import (
    ConfigError,
    apply_values,
    compose,
    compose_many,
    has_interpolation,
    load_config,
    split_overrides,
    validate,
)
from tests.cli import carenet

MISSING_RULE_FILE = str(Path("/nonexistent/carenet-tests/no_such_rules.py:Cautious"))


def case(cid, overrides, key, value, allowed, *, cli=True, api_bug=None, cli_bug=None):
    """One bad configuration: overrides, the key and value the message must name, and a
    pattern of what it must say is allowed. ``cli``: also run it through ``carenet run``.
    """
    return {
        "id": cid,
        "args": (overrides, key, value, allowed),
        "cli": cli,
        "api_bug": api_bug,
        "cli_bug": cli_bug,
    }


CASES = [
    # The three from the issue.
    case("negative-size", ["population.size=-5"], "population.size", "-5", r"1 to 20000000"),
    case("unknown-structure", ["structure=nonsense"], "structure", "nonsense", r"hierarchy"),
    case("steps-not-int", ["steps=abc"], "steps", "abc", r"integer from 1 to 5200"),
    # Unknown keys.
    case(
        "unknown-key",
        ["population.sise=5"],
        "population.sise",
        "5",
        r"size",
    ),
    case("unknown-key-plus", ["+population.sise=5"], "population.sise", "sise", r"size", cli=False),
    case("unknown-top-key", ["+colour=blue"], "colour", "colour", r"population.*steps", cli=False),
    # Types and ranges.
    case(
        "bool", ["structure.dynamic_ties=maybe"], "structure.dynamic_ties", "maybe", "true or false"
    ),
    case("prob-range", ["handoff.cold_fail=1.5"], "handoff.cold_fail", "1.5", r"from 0 to 1"),
    case("prob-nan", ["handoff.cold_fail=nan"], "handoff.cold_fail", "nan", r"0 to 1", cli=False),
    case("seed-negative", ["seed=-1"], "seed", "-1", r"integer from 0", cli=False),
    case("steps-fraction", ["steps=1.5"], "steps", "1.5", r"integer", cli=False),
    # Lists.
    case(
        "list-length",
        ["population.stratum_shares=[0.5,0.5]"],
        "population.stratum_shares",
        "[0.5, 0.5]",
        r"list of 4 values",
    ),
    case(
        "list-not-list",
        ["population.stratum_shares=abc"],
        "population.stratum_shares",
        "abc",
        r"a list",
        cli=False,
    ),
    case(
        "shares-sum",
        ["population.stratum_shares=[0.4,0.4,0.4,0.4]"],
        "population.stratum_shares",
        "[0.4, 0.4, 0.4, 0.4]",
        r"sum to 1",
    ),
    case(
        "list-item",
        ["population.episode_rate_per_year=[1,2,3,-1]"],
        "population.episode_rate_per_year[3]",
        "-1",
        r"from 0 to 52",
        cli=False,
    ),
    # Power rules.
    case("rule-group", ["power_rule=nonsense"], "power_rule", "nonsense", r"domination.*mixed"),
    case(
        "rule-name",
        ["power_rule.name=nonsense"],
        "power_rule.name",
        "nonsense",
        r"domination.*mixed",
    ),
    case(
        "rule-file-missing",
        [f"power_rule._target_={MISSING_RULE_FILE}"],
        "power_rule._target_",
        "no_such_rules.py",
        r"does not exist|file\.py:Class",
    ),
    case(
        "rule-module-missing",
        ["power_rule._target_=no_such_package.rules.Cautious"],
        "power_rule._target_",
        "no_such_package",
        r"cannot import|package\.module\.Class",
        cli=False,
    ),
    # Shocks.
    case(
        "shock-kind",
        ["scenario.shocks=[{kind:meteor,at_week:1}]"],
        "scenario.shocks[0].kind",
        "meteor",
        r"winter_surge.*data_outage",
    ),
    case(
        "shock-week",
        ["scenario.shocks=[{kind:winter_surge,at_week:-3}]"],
        "scenario.shocks[0].at_week",
        "-3",
        r"integer from 0",
        cli=False,
    ),
    case(
        "shock-unknown-key",
        ["scenario.shocks=[{kind:winter_surge,when:3}]"],
        "scenario.shocks[0].when",
        "when",
        r"at_week",
        cli=False,
    ),
    # Not an override at all.
    case("not-key-value", ["population"], "population", "population", r"KEY=VALUE"),
]


def _params(cli: bool) -> list:
    out = []
    for c in CASES:
        if cli and not c["cli"]:
            continue
        bug = c["cli_bug"] if cli else c["api_bug"]
        out.append(pytest.param(*c["args"], id=c["id"], marks=[bug] if bug else []))
    return out


def _one_line(msg: str) -> None:
    assert msg.strip() and "\n" not in msg.strip(), f"not one line: {msg!r}"


@pytest.mark.parametrize(("overrides", "key", "value", "allowed"), _params(cli=False))
def test_load_config_raises_one_line_naming_key_value_and_rule(overrides, key, value, allowed):
    with pytest.raises(ConfigError) as info:
        load_config(overrides)
    msg = str(info.value)
    _one_line(msg)
    assert key in msg
    assert value in msg
    assert re.search(allowed, msg), f"{msg!r} does not say what is allowed ({allowed})"


def _assert_no_result(out: Path, cwd: Path) -> None:
    assert not (out / "manifest.json").exists()
    assert not out.exists() or not any(out.iterdir())
    # Nothing half-written beside it either (atomic writes use hidden siblings).
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert not (cwd / "outputs").exists()


@pytest.mark.parametrize(("overrides", "key", "value", "allowed"), _params(cli=True))
def test_cli_exits_2_with_one_line_and_writes_nothing(tmp_path, overrides, key, value, allowed):
    out = tmp_path / "res"
    small = [
        "population=small",
        "organisations=small",
        "population.size=2000",
        "steps=2",
        "warmup_weeks=0",
    ]
    r = carenet("run", *small, *overrides, f"out={out}", cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    err = r.stderr.strip()
    _one_line(err)
    assert err.startswith("carenet: error:")
    assert key in err and value in err
    assert re.search(allowed, err)
    assert r.stdout.strip() == ""
    _assert_no_result(out, tmp_path)


def test_cli_error_without_out_creates_no_outputs_folder(tmp_path):
    r = carenet("run", "population.size=-5", cwd=tmp_path)
    assert r.returncode == 2
    assert list(tmp_path.iterdir()) == []


BAD_PARAMS = ["power_rule._target_=carenet.models.power.Domination", "+power_rule.params.bogus=1"]


def test_user_rule_parameters_the_rule_does_not_take_are_a_config_error():
    with pytest.raises(ConfigError, match=r"power_rule\.params.*bogus"):
        load_config(BAD_PARAMS)


def test_cli_user_rule_parameters_the_rule_does_not_take_exit_2(tmp_path):
    small = [
        "population=small",
        "organisations=small",
        "population.size=2000",
        "steps=2",
        "warmup_weeks=0",
    ]
    r = carenet("run", *small, *BAD_PARAMS, f"out={tmp_path / 'res'}", cwd=tmp_path)
    assert "Traceback" not in r.stderr
    assert r.returncode == 2
    _one_line(r.stderr)


def test_output_folder_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "afile"
    f.write_text("keep me")
    r = carenet(
        "run",
        "population=small",
        "organisations=small",
        "steps=2",
        "warmup_weeks=0",
        f"out={f}",
        cwd=tmp_path,
    )
    assert r.returncode == 2
    err = r.stderr.strip()
    _one_line(err)
    assert err.startswith("carenet: error: out:") and str(f) in err
    assert f.read_text() == "keep me"


# --- validate() on hand-built dicts --------------------------------------------------------


def test_validate_accepts_what_compose_returns():
    cfg = validate(compose(["population=small", "organisations=small"]))
    assert isinstance(cfg, CarenetConfig)
    assert cfg.population.size == 50000
    assert cfg.organisations.n_gp == 12


def test_validate_names_the_key_of_a_hand_built_bad_value():
    data = compose([])
    data["structure"]["mean_degree"] = -1.0
    with pytest.raises(ConfigError, match=r"^structure\.mean_degree: -1\.0 is not allowed"):
        validate(data)


def test_validate_names_an_unknown_group_key_and_lists_the_valid_ones():
    data = compose([])
    data["handoff"]["cold_fial"] = 0.2
    with pytest.raises(ConfigError) as info:
        validate(data)
    msg = str(info.value)
    _one_line(msg)
    assert msg.startswith("handoff.cold_fial: unknown key")
    assert "cold_fail" in msg


def test_validate_rejects_a_bool_where_a_number_is_expected():
    data = compose([])
    data["population"]["size"] = True
    with pytest.raises(ConfigError, match=r"population\.size: True is not allowed"):
        validate(data)


def test_defaults_are_valid_and_integers_stay_integers():
    cfg = load_config(["population.size=5e3", "steps=12.0", "warmup_weeks=0"])
    assert cfg.population.size == 5000 and isinstance(cfg.population.size, int)
    assert cfg.steps == 12 and isinstance(cfg.steps, int)


@pytest.mark.parametrize(
    "overrides",
    [
        ["costs.items.gp_consultation.gbp=50"],
        ["+costs.items.link_worker={gbp:35.0,unit:hour,source:assumption,price_year:2024/25}"],
        ["costs.threshold_gbp_per_qaly=30000"],
        ["pathways.library.0.qaly_gain=0.02"],
        ["power_rule.empowering_kinds=[gp,vcse]", "power_rule.assign_by=kind"],
        ["scenario=winter", "scenario.name=my_winter"],
        ["response=network", "response.hub_count=0"],
        ["scenario.shocks=[{kind:org_failure,at_week:3,target:betweenness,kinds:[vcse]}]"],
        ["structure=network", "structure.initial_ties=scale_free", "structure.mean_degree=2.5"],
        ["population.stratum_shares=[0.25,0.25,0.25,0.25]"],
        ["seed=0", "steps=1", "warmup_weeks=0", "overwrite=true", "progress=false", "out=/tmp/a b"],
    ],
    ids=lambda o: o[0].split("=")[0],
)
def test_valid_overrides_are_accepted(overrides):
    cfg = load_config(overrides)
    assert isinstance(cfg, CarenetConfig)


def test_overrides_reach_the_typed_config():
    cfg = load_config(
        [
            "structure=network",
            "power_rule=empowerment",
            "population.size=1234",
            "handoff.cold_fail=0.3",
            "costs.items.gp_consultation.gbp=50",
        ]
    )
    assert cfg.structure.name == "network" and cfg.structure.hierarchy is False
    assert cfg.power_rule.name == "empowerment"
    assert cfg.population.size == 1234
    assert cfg.handoff.cold_fail == 0.3
    assert cfg.costs.items["gp_consultation"]["gbp"] == 50.0


# --- compose_many: one Hydra composition per set of group choices -----------------------

COMBOS = [
    ["seed=1"],
    ["seed=2", "steps=10", "warmup_weeks=0"],
    ["population=small", "seed=3"],
    ["population=small", "population.size=1000", "seed=4"],
    ["structure=network", "handoff.cold_fail=0.5"],
    ["+power_rule.params.k=3", "seed=5"],  # an add to a free-form mapping
    ["power_rule.params.k=3"],  # a new key in a free-form mapping, without +
    ["costs.items.gp_consultation.gbp=50.5"],  # inside a mapping
    ["population.stratum_shares=[0.25,0.25,0.25,0.25]"],  # a list value
    ["out=null", "figures=false", "scenario.name='a b, c'"],  # null and quoted strings
    ["++seed=3", "seed=4"],  # the same key fixed and set: composed together
]


def test_compose_many_equals_composing_each_list_on_its_own():
    many = compose_many(COMBOS)
    assert len(many) == len(COMBOS)
    for overrides, got in zip(COMBOS, many, strict=True):
        assert got == compose(overrides), overrides


def test_compose_many_returns_independent_dicts():
    a, b = compose_many([["seed=1"], ["seed=2"]])
    a["population"]["size"] = -1
    assert b["population"]["size"] != -1 and a["seed"] == 1 and b["seed"] == 2


def test_compose_many_reports_a_bad_key_as_compose_does():
    for overrides in (["population.sise=5"], ["structure=nonsense"]):
        with pytest.raises(ConfigError) as one:
            compose(overrides)
        with pytest.raises(ConfigError) as many:
            compose_many([["seed=1"], overrides])
        assert str(many.value) == str(one.value)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, "population=small", "structure=network"]),
            st.integers(0, 2**31),
            st.sampled_from([None, 13, 52]),
            st.sampled_from([None, 0.0, 0.3, 1.0]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_compose_many_equals_compose_for_random_sweeps(rows):
    combos = []
    for group, seed, steps, share in rows:
        ov = [f"seed={seed}"]
        ov += [group] if group else []
        ov += [f"steps={steps}"] if steps else []
        ov += [f"handoff.cold_fail={share}"] if share is not None else []
        combos.append(ov)
    assert compose_many(combos) == [compose(c) for c in combos]


def _parse(overrides):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(overrides)


def test_split_overrides_separates_group_choices_from_values():
    groups = {"population", "hydra/launcher"}.__contains__
    fixed, values = split_overrides(
        _parse(["population=small", "seed=3", "+replication=0", "hydra/launcher=basic"]), groups
    )
    assert fixed == ["population=small", "hydra/launcher=basic"]
    assert [v.input_line for v in values] == ["seed=3", "+replication=0"]
    # ++ and ~ shape composition; a value on the same key must then be composed with them.
    assert split_overrides(_parse(["++seed=3", "seed=4"]), groups) is None
    assert split_overrides(_parse(["~population.size", "population.size=3"]), groups) is None
    fixed, values = split_overrides(_parse(["++costs.x=1", "seed=4"]), groups)
    assert fixed == ["++costs.x=1"] and [v.input_line for v in values] == ["seed=4"]


def test_apply_values_declines_where_a_plain_update_could_differ_from_hydra():
    data = {"a": {"b": 1, "c": [1, 2], "d": None}, "e": "x"}
    groups = set().__contains__

    def apply(ovs):
        return apply_values(data, split_overrides(_parse(ovs), groups)[1])

    assert apply(["a.b=2", "e=y"]) == {"a": {"b": 2, "c": [1, 2], "d": None}, "e": "y"}
    assert data["a"]["b"] == 1  # not modified
    assert apply(["+a.f=3"])["a"]["f"] == 3
    assert apply(["+a.d=3"])["a"]["d"] == 3  # Hydra adds where the value is null
    assert apply(["+a.b=3"]) is None  # Hydra refuses: already there
    assert apply(["a.z=1"]) is None  # missing key
    assert apply(["a.c=3"]) is None  # a list there
    assert apply(["a=3"]) is None  # a mapping there
    assert apply(["a.b=[1,2]"]) is None  # a list value
    assert apply(["e='${a.b}'"]) is None  # an interpolation
    assert has_interpolation({"a": ["${x}"]}) and not has_interpolation(data)
