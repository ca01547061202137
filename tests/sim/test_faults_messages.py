"""Messages that help (issue #10 item 8): a malformed override, a user rule that cannot be
loaded, a usage error, each ends in one line naming the key, the value and the fix, with
exit code 2 and nothing written; the help lists what the command accepts.

Every case runs the real ``carenet`` command in a subprocess (tests/cli.py). Where a
message suggests an override to type instead, the test types it and checks that it works.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from carenet.sim.config import GROUPS, group_options
from tests.cli import carenet

SMALL = [
    "population=small",
    "organisations=small",
    "steps=1",
    "figures=false",
    "progress=false",
    "warmup_weeks=0",
]


def _one_line_error(r, *, code: int = 2) -> str:
    """The stderr of a refused command: exit code, one line, no traceback, no stdout."""
    assert r.returncode == code, (r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    err = r.stderr.strip()
    assert err and "\n" not in err, f"not one line: {err!r}"
    assert err.startswith("carenet: error:"), err
    assert r.stdout.strip() == ""
    return err


def _nothing_written(cwd: Path, keep: set[str] = frozenset()) -> None:
    """Nothing appeared in the working folder (no outputs/, no result, no temp folder)."""
    assert sorted(p.name for p in cwd.iterdir() if p.name not in keep) == []


# --- 1. a value Hydra cannot read: name the key, say why, suggest what works ------------

UNREADABLE = [
    # (override as typed, its value, the folder the suggested override writes)
    pytest.param("out=a,b", "a,b", "a,b", id="comma"),
    pytest.param("out=résultats", "résultats", "résultats", id="non-ascii"),
    pytest.param("out=a=b", "a=b", "a=b", id="stray-equals"),
    pytest.param("out='abc", "'abc", "abc", id="unclosed-single-quote"),
    pytest.param('out="abc', '"abc', "abc", id="unclosed-double-quote"),
    pytest.param("out=it's", "it's", "it's", id="apostrophe"),
    pytest.param("out=a#b", "a#b", "a#b", id="hash"),
]


def _suggestion(err: str) -> list[str]:
    """The override the message suggests, split as the shell would split it."""
    m = re.search(r"(?:quote it|quote the whole value|close it): (.+)$", err)
    assert m, f"no suggestion in {err!r}"
    return shlex.split(m.group(1))[:1]


@pytest.mark.parametrize(("override", "value", "folder"), UNREADABLE)
def test_unreadable_value_names_the_key_and_the_quoting_that_works(
    tmp_path, override, value, folder
):
    r = carenet("run", *SMALL, override, cwd=tmp_path)
    err = _one_line_error(r)
    assert err.startswith("carenet: error: out: could not read the value ")
    assert repr(value) in err
    _nothing_written(tmp_path)
    # The suggested override, typed as the message says, runs and writes that folder.
    fixed = _suggestion(err)
    ok = carenet("run", *SMALL, *fixed, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / folder / "manifest.json").is_file()


def test_comma_without_m_also_says_how_to_sweep(tmp_path):
    err = _one_line_error(carenet("run", *SMALL, "out=a,b", cwd=tmp_path))
    assert "a comma separates values to sweep" in err and "add -m" in err
    err = _one_line_error(carenet("run", *SMALL, "seed=1,2", cwd=tmp_path))
    assert err.startswith("carenet: error: seed: could not read the value '1,2'")
    assert "carenet run -m seed=1,2" in err
    err = _one_line_error(carenet("run", *SMALL, "seed=range(3)", cwd=tmp_path))
    assert err.startswith("carenet: error: seed:") and "add -m" in err
    _nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        pytest.param(
            "population.stratum_shares=[0.25,0.25,0.25,0.25",
            "population.stratum_shares",
            id="list-unclosed",
        ),
        pytest.param(
            "population.stratum_shares=0.25,0.25,0.25,0.25]",
            "population.stratum_shares",
            id="list-unopened",
        ),
        pytest.param(
            "scenario.shocks=[{kind:winter_surge,at_week:0]", "scenario.shocks", id="nested"
        ),
    ],
)
def test_unbalanced_bracket_names_the_key_and_the_closed_value_works(tmp_path, override, key):
    r = carenet("run", *SMALL, override, cwd=tmp_path)
    err = _one_line_error(r)
    assert err.startswith(f"carenet: error: {key}: could not read the value ")
    assert "has no matching" in err
    _nothing_written(tmp_path)
    ok = carenet("run", *SMALL, *_suggestion(err), "out=res", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "res" / "manifest.json").is_file()


def test_unreadable_value_in_a_sweep_gets_the_same_line(tmp_path):
    r = carenet("run", "-m", *SMALL, "seed=1,2", "out=résultats", cwd=tmp_path)
    err = _one_line_error(r)
    assert "out: could not read the value 'résultats'" in err and "out=\"'résultats'\"" in err
    _nothing_written(tmp_path)


# --- 2. power_rule._target_ that cannot be loaded ----------------------------------------

RULES_PY = """\
from carenet.models.power import Domination


class Cautious(Domination):
    pass


def helper():
    pass


LIMIT = 3
"""


@pytest.mark.parametrize(
    ("target", "says"),
    [
        pytest.param("rules.py:Cautios", r"has no 'Cautios'; did you mean Cautious\?", id="typo"),
        pytest.param("rules.py:Careful", r"has no 'Careful'; rules in it: Cautious", id="absent"),
        pytest.param("rules.py:helper", r"helper is a function, not a subclass", id="function"),
        pytest.param("rules.py:LIMIT", r"LIMIT is an int, not a subclass", id="not-a-class"),
        pytest.param("nope.py:Cautious", r"nope\.py' does not exist; expected", id="no-file"),
        pytest.param("sub:Cautious", r"is a folder, not a file; expected", id="folder"),
        pytest.param("broken.py:Cautious", r"importing .* failed: boom", id="import-fails"),
        pytest.param(
            "no_such_package.rules.Cautious",
            r"cannot import the module 'no_such_package\.rules'.*expected 'path/to/file\.py",
            id="no-module",
        ),
        pytest.param(
            "carenet.models.power.Dominaton",
            r"has no 'Dominaton'; did you mean Domination\?",
            id="module-typo",
        ),
        pytest.param(
            "carenet.models.power.RULES", r"RULES is a dict, not a subclass", id="module-object"
        ),
        pytest.param("Cautious", r"not a file or module path; expected", id="bare-name"),
    ],
)
def test_rule_target_that_cannot_be_loaded_says_why_in_one_line(tmp_path, target, says):
    (tmp_path / "rules.py").write_text(RULES_PY)
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "sub").mkdir()
    r = carenet("run", *SMALL, f"power_rule._target_={target}", "out=res", cwd=tmp_path)
    err = _one_line_error(r)
    assert err.startswith("carenet: error: power_rule._target_: ")
    assert target.split(":")[-1].split(".")[-1] in err
    assert re.search(says, err), err
    _nothing_written(tmp_path, keep={"rules.py", "broken.py", "sub", "__pycache__"})


# --- 4. siblings: many malformed overrides, each one helpful line -------------------------

SIBLINGS = [
    pytest.param("structure=netwrk", r"structure: 'netwrk' .*did you mean network\?", id="group"),
    pytest.param("strcture=network", r"strcture: unknown key.*did you mean structure\?", id="typo"),
    pytest.param(
        "population.sise=3", r"population\.sise: .*did you mean population\.size\?", id="key"
    ),
    pytest.param("steps=", r"steps: '' is not allowed; expected an integer", id="empty"),
    pytest.param("population=", r"population: '' is not a known option; .*small", id="empty-grp"),
    pytest.param("+steps=3", r"\+steps: steps is already .*drop the '\+'", id="plus-existing"),
    pytest.param("~steps", r"~steps: removing a key is not supported", id="tilde"),
    pytest.param("=3", r"override '=3': the key before '=' is missing", id="no-key"),
    pytest.param("steps=abc", r"steps: 'abc' is not allowed; expected an integer", id="type"),
    pytest.param("steps=[1,2]", r"steps: \[1, 2\] is not allowed", id="list-for-scalar"),
    pytest.param("out=[a,b]", r"out: \['a', 'b'\] is not allowed; expected a string", id="list"),
    pytest.param("seed=99999999999999999999999", r"seed: 9{23} is not allowed", id="huge-int"),
    pytest.param("population.size=1e99", r"population\.size: 1e\+99 is not", id="huge-float"),
    pytest.param("seed=-1", r"seed: -1 is not allowed; expected an integer from 0", id="seed"),
    pytest.param("steps=0", r"steps: 0 is not allowed; expected an integer from 1", id="steps"),
    pytest.param("replications=0", r"replications: 0 is not allowed; .* from 1", id="reps"),
    pytest.param("figures=1", r"figures: 1 is not allowed; expected true or false", id="bool"),
    pytest.param("seed=1=2", r"seed: could not read the value '1=2'.*integer", id="int-equals"),
    pytest.param("steps=${oops}", r"steps: the interpolation \$\{oops\} names no key", id="interp"),
    pytest.param("hydra.foo=1", r"hydra\.foo: not in the configuration", id="hydra-key"),
]


@pytest.mark.parametrize(("override", "says"), SIBLINGS)
def test_malformed_override_is_one_helpful_line(tmp_path, override, says):
    r = carenet("run", *SMALL, override, cwd=tmp_path)  # no out: would write outputs/ here
    err = _one_line_error(r)
    assert re.search(says, err), err
    _nothing_written(tmp_path)


def test_out_inside_a_file_is_bad_input_and_the_file_is_kept(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    f.chmod(0o640)
    r = carenet("run", *SMALL, f"out={f}/res", cwd=tmp_path)
    err = _one_line_error(r)
    assert err.startswith(f"carenet: error: out: '{f}/res' is inside '{f}', which is a file")
    assert f.read_text() == "keep me" and f.stat().st_mode & 0o777 == 0o640
    _nothing_written(tmp_path, keep={"notes.txt"})


# --- usage errors: one line too -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(["run", "--seed", "3"], r"'--seed' is not an option.*seed=VALUE", id="run"),
        pytest.param(["fly"], r"invalid choice: 'fly'", id="command"),
        pytest.param(["report"], r"carenet report: .*required: DIR", id="missing-dir"),
        pytest.param(["docs", "--bogus"], r"carenet docs: unrecognized .*--bogus", id="docs"),
        pytest.param(["bench", "--steps", "abc"], r"carenet bench: .*'abc'", id="bench"),
        pytest.param(["bench", "--bogus"], r"carenet bench: unrecognized .*--bogus", id="bench2"),
    ],
)
def test_usage_error_is_one_line_with_where_help_is(tmp_path, args, says):
    err = _one_line_error(carenet(*args, cwd=tmp_path))
    assert re.search(says, err), err
    assert "--help" in err
    _nothing_written(tmp_path)


# --- 3. help ------------------------------------------------------------------------------


def test_top_level_help_lists_every_command_with_one_line(tmp_path):
    r = carenet("--help", cwd=tmp_path)
    assert r.returncode == 0
    for name in ("run", "collect", "report", "reproduce", "docs", "bench"):
        assert re.search(rf"^\s+{name}\s+\S.*$", r.stdout, re.M), (name, r.stdout)
    _nothing_written(tmp_path)


def test_run_help_lists_groups_options_run_keys_and_where_parameters_are(tmp_path):
    r = carenet("run", "--help", cwd=tmp_path)
    assert r.returncode == 0
    text = r.stdout
    for group in GROUPS:  # read from the installed configs/ folder, as the help does
        line = re.search(rf"^\s+{group}\s+(.+)$", text, re.M)
        assert line, (group, text)
        assert [o.rstrip("*") for o in line.group(1).split(", ")] == group_options(group)
    assert "structure      hierarchy, hybrid*, network" in text
    for key in ("out", "overwrite", "seed", "steps", "replications", "progress", "figures"):
        assert re.search(rf"^\s+{key}\s+[A-Z]\w+", text, re.M), (key, text)
    assert "docs/parameters.md" in text and "carenet docs" in text
    _nothing_written(tmp_path)


def _every_action_has_help(parser: argparse.ArgumentParser, where: str) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                _every_action_has_help(sub, f"{where} {name}")
            continue
        assert action.help and action.help != argparse.SUPPRESS, (where, action.dest)


def test_every_argument_of_every_command_has_a_help_description(tmp_path):
    from carenet import cli
    from carenet.tools import bench

    _every_action_has_help(cli.build_parser(), "carenet")
    _every_action_has_help(bench.build_parser(), "carenet bench")
    # And the command prints them.
    for cmd in ("run", "collect", "report", "reproduce", "docs", "bench"):
        r = carenet(cmd, "--help", cwd=tmp_path)
        assert r.returncode == 0, (cmd, r.stderr)
        assert "usage: carenet " + cmd in r.stdout
    r = carenet("bench", "--help", cwd=tmp_path)
    for opt in ("--quick", "--sizes", "--steps", "--no-floor", "--seed", "--json"):
        assert re.search(rf"^\s+{opt}\b.*\S", r.stdout, re.M), opt
    _nothing_written(tmp_path)


@pytest.mark.parametrize(
    "sweep", [pytest.param(["-m", "seed=1,2"], id="m"), pytest.param(["replications=2"], id="reps")]
)
def test_sweep_out_inside_a_file_is_bad_input_and_the_file_is_kept(tmp_path, sweep):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    r = carenet("run", *sweep, *SMALL, f"out={f}/res", cwd=tmp_path)
    err = _one_line_error(r)
    assert err.startswith(f"carenet: error: out: '{f}/res' is inside '{f}', which is a file")
    assert f.read_text() == "keep me"
    _nothing_written(tmp_path, keep={"notes.txt"})
