"""The composition cache gives exactly what a fresh composition gives (issue #17).

Every check compares a cached answer (the entry written by a first composition, then read
by a second) with ``compose(overrides)`` without the cache, type for type
(:func:`carenet.sim.config_cache.same`: 1 is not 1.0, key order counts).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from carenet.sim import config_cache
from carenet.sim.config import ConfigError, compose, compose_many
from carenet.sim.config_cache import lift_values, plain_value, same

LISTS = [
    [],
    ["seed=3", "steps=10", "warmup_weeks=0", "out=results/a", "progress=false"],
    ["population=small", "organisations=small", "population.size=2000", "seed=4"],
    ["structure=network", "handoff.cold_fail=0.5", "out=/tmp/x/run-1"],
    ["+power_rule.params.k=3", "seed=5"],  # an add to a free-form mapping
    ["power_rule.params.k=3"],  # a new key in a free-form mapping, without +
    ["costs.items.gp_consultation.gbp=50.5"],
    ["population.stratum_shares=[0.25,0.25,0.25,0.25]"],
    ["out=null", "figures=false", "scenario.name='a b, c'"],
    ["++seed=3", "seed=4"],  # the same key fixed and set
    ["seed=4", "++seed=3"],
    ["scenario.name=plain_label", "overwrite=true"],
    ["seed=007"],  # not a plain integer: left to Hydra, kept in the key
    ["out=1e3"],  # a number, not a string
    ["out=inf", "seed=-0"],
    ["model=boltzmann", "steps=15", "n=30"],  # a model configured by its schema alone
    ["model=boltzmann", "out=b/c"],
]
"""Override lists: value settings of each form, group choices, +, ++, lists, quoting, a
second model, and sweep jobs' lists (a seed, an output folder and the swept values)."""


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A fresh, empty cache folder for the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CARENET_NO_CACHE", raising=False)
    return tmp_path / "xdg" / "carenet" / "compose"


def _entries(folder):
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.mark.parametrize("overrides", LISTS, ids=lambda o: " ".join(o) or "defaults")
def test_cached_composition_equals_a_fresh_one(cache, overrides):
    fresh = compose(overrides)
    first = compose(overrides, cache=True)  # composes and writes the entry
    assert same(first, fresh)
    assert _entries(cache), "nothing was stored"
    second = compose(overrides, cache=True)  # from the entry
    assert same(second, fresh)
    assert second is not first


def test_sweep_jobs_share_one_entry_per_group_choice(cache):
    """Seeds and output folders are set on one entry: a sweep's jobs hit it."""
    jobs = [
        ["structure=network", "handoff.cold_fail=0.3", f"seed={s}", f"out=sweep/{i}"]
        for i, s in enumerate((1, 2, 3))
    ]
    for job in jobs:
        assert same(compose(job, cache=True), compose(job))
    # the float is not lifted (left to Hydra), so it is in the key: one entry for all three
    assert len(_entries(cache)) == 1
    assert same(compose_many(jobs), [compose(j, cache=True) for j in jobs])


def test_entry_is_not_used_by_other_overrides(cache):
    compose(["population=small"], cache=True)
    got = compose(["population=default"], cache=True)
    assert same(got, compose(["population=default"]))
    assert got["population"]["size"] != compose(["population=small"])["population"]["size"]


def test_lifting_reads_only_plain_values():
    assert plain_value("42") == 42 and plain_value("-3") == -3
    assert plain_value("true") is True and plain_value("false") is False
    assert plain_value("results/a-1.b") == "results/a-1.b"
    for text in ("007", "1e3", "inf", "nan", "null", "True", "1.5", "a b", "'a'", "${x}", "~/a"):
        assert plain_value(text) is None, text
    kept, lifted = lift_values(
        ["population=small", "seed=3", "+x=1", "a.b=2", "a=3", "out=o"], ("population",)
    )
    assert kept == ["population=small", "+x=1", "a.b=2", "a=3"]  # a and a.b touch each other
    assert lifted == [(["seed"], 3), (["out"], "o")]


def test_bad_overrides_still_fail_with_the_same_message(cache):
    for overrides in (["population.sise=5"], ["structure=nonsense"], ["~seed"], ["seed"]):
        with pytest.raises(ConfigError) as fresh:
            compose(overrides)
        for _ in range(2):
            with pytest.raises(ConfigError) as cached:
                compose(overrides, cache=True)
            assert str(cached.value) == str(fresh.value)
    assert _entries(cache) == []


def test_uncacheable_lists_write_nothing(cache):
    for overrides in (["scenario.name=${seed}"], ["hydra.job.name=x"], ["+hydra.searchpath=[]"]):
        try:
            fresh = compose(overrides)
        except ConfigError:
            continue
        assert same(compose(overrides, cache=True), fresh)
    assert _entries(cache) == []


def test_damaged_entries_are_ignored_and_rewritten(cache):
    overrides = ["seed=9"]
    fresh = compose(overrides)
    compose(overrides, cache=True)
    (entry,) = _entries(cache)
    good = entry.read_text()
    data = json.loads(good)
    data["config"]["seed"] = 1  # a changed value: the checksum no longer matches
    for text in ("", "{not json", "[]", json.dumps({**data, "config": []}), json.dumps(data)):
        entry.write_text(text)
        assert same(compose(overrides, cache=True), fresh)
        assert entry.read_text() == good  # recomposed and written again
    entry.chmod(0)
    assert same(compose(overrides, cache=True), fresh)


def test_off_with_carenet_no_cache(cache, monkeypatch):
    monkeypatch.setenv("CARENET_NO_CACHE", "1")
    assert same(compose(["seed=2"], cache=True), compose(["seed=2"]))
    assert _entries(cache) == []


def test_unwritable_cache_folder_is_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file where the folder should be
    assert same(compose(["seed=2"], cache=True), compose(["seed=2"]))


def test_pruned_to_the_newest_entries(cache, monkeypatch):
    monkeypatch.setattr(config_cache, "MAX_ENTRIES", 2)
    for k in range(4):
        compose([f"handoff.cold_fail=0.{k + 1}"], cache=True)  # floats: in the key
    assert len(_entries(cache)) == 2


USER_MODEL = {
    "usermodel/__init__.py": "",
    "usermodel/spec.py": """
        from dataclasses import dataclass, field

        from carenet.params import P
        from carenet.spec import BaseSpec


        @dataclass
        class Shape:
            size: int = P(3, lo=1, hi=100, doc="Size.")
            kind: str = P("round", doc="Kind.")


        @dataclass
        class Schema:
            shape: Shape = field(default_factory=Shape)


        class UserSpec(BaseSpec):
            name = "user"
            config_package = "usermodel.configs"
            schema = Schema
    """,
    "usermodel/configs/__init__.py": "",
    "usermodel/configs/config.yaml": """
        defaults:
          - shape: small
          - _self_
        seed: 1
        steps: 5
    """,
    "usermodel/configs/shape/__init__.py": "",
    "usermodel/configs/shape/small.yaml": """
        defaults:
          - _schema
          - _self_
        size: 5
    """,
    "usermodel/configs/shape/big.yaml": """
        defaults:
          - _schema
          - _self_
        size: 50
    """,
}

_PROBE = """
import json, sys
from carenet.sim.config import compose
overrides = json.loads(sys.argv[1])
print(json.dumps([compose(overrides, cache=True), compose(overrides)]))
"""


def _compose_in_fresh_python(root, overrides, env):
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(overrides)],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    cached, fresh = json.loads(out.stdout.strip().splitlines()[-1])
    return cached, fresh


def test_a_users_config_package_and_its_edits(tmp_path):
    """A model's own config files are in the key: editing one invalidates the entry.

    Each composition runs in a fresh interpreter, as each ``carenet run`` does (Hydra and
    the model's modules are loaded once per process).
    """
    import os

    root = tmp_path / "user"
    for rel, text in USER_MODEL.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "PYTHONPATH": str(root),
    }
    env.pop("CARENET_NO_CACHE", None)
    model = ["model._target_=usermodel.spec:UserSpec"]
    for overrides in ([], ["shape=big", "seed=4"], ["shape.size=7", "shape.kind=flat"]):
        for _ in range(2):  # miss, then hit
            cached, fresh = _compose_in_fresh_python(root, model + overrides, env)
            assert same(cached, fresh)
    cached, _ = _compose_in_fresh_python(root, model, env)
    assert cached["shape"]["size"] == 5
    small = root / "usermodel/configs/shape/small.yaml"
    small.write_text(small.read_text().replace("size: 5", "size: 6"))  # an edited option
    cached, fresh = _compose_in_fresh_python(root, model, env)
    assert cached["shape"]["size"] == 6 and same(cached, fresh)
    spec = root / "usermodel/spec.py"
    spec.write_text(spec.read_text().replace('P("round"', 'P("square"'))  # a schema default
    cached, fresh = _compose_in_fresh_python(root, model, env)
    assert cached["shape"]["kind"] == "square" and same(cached, fresh)
