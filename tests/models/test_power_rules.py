"""The shared contract every power rule passes (Axelrod style), and user-written rules.

:class:`RuleContract` holds the tests; each rule gets a subclass that names the rule class,
a non-default set of parameters and the overrides that select it from configuration. A
user-written rule (``tests/models/user_rules/cautious_rules.py``) passes the same contract
and is selected from configuration alone, by file and by dotted path.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from carenet.models.model import CareSystemModel
from carenet.models.power import Domination, Empowerment, PowerRule, RuleView, load_target
from carenet.sim.config import ConfigError, load_config

TINY = [
    "population=small",
    "organisations=small",
    "population.size=5000",
    "steps=8",
    "warmup_weeks=0",
]
USER_RULES = Path(__file__).parent / "user_rules"

CAUTIOUS_FILE = (USER_RULES / "cautious_rules.py").resolve()
CAUTIOUS_TARGET = f"{CAUTIOUS_FILE}:Cautious"


def _decisions(rule: PowerRule, view: RuleView, org: int) -> dict[str, Any]:
    return {
        "data_sharing": rule.data_sharing(org, view),
        "referral_weights": rule.referral_weights(org, view),
        "demands_escalation": rule.demands_escalation(org, view),
        "tie_scores": rule.tie_scores(org, view),
        "budget_bid": rule.budget_bid(org, view),
        "pools_budget": rule.pools_budget(org, view),
    }


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)


def _service_orgs(view: RuleView) -> list[int]:
    return [int(i) for i in np.flatnonzero(view.service & view.active)]


class RuleContract:
    """Tests every power rule passes. Subclasses set the class attributes below."""

    rule_class: ClassVar[type[PowerRule]]
    custom_params: ClassVar[dict[str, Any]]
    """Non-default parameters the rule accepts."""
    select: ClassVar[list[str]]
    """Overrides that select the rule from configuration."""

    def make(self, **params: Any) -> PowerRule:
        return self.rule_class(**params)

    # --- identity -------------------------------------------------------------------------
    def test_constructs_with_defaults(self):
        rule = self.make()
        assert isinstance(rule, PowerRule)
        assert isinstance(rule.name, str) and rule.name
        assert {"seeks", "shares_data", "pools_budget", "demands_escalation"} <= set(
            rule.classifier
        )
        assert type(rule).__name__ in repr(rule)

    def test_accepts_its_documented_parameters(self):
        rule = self.make(**self.custom_params)
        assert rule.params == {**self.make().params, **self.custom_params}

    @pytest.mark.parametrize("custom", [False, True], ids=["defaults", "custom"])
    def test_describe_then_rebuild_gives_an_equal_rule(self, custom):
        rule = self.make(**(self.custom_params if custom else {}))
        desc = rule.describe()
        json.dumps(desc)  # a description can go into a manifest
        rebuilt = type(rule).rebuild(desc)
        assert rebuilt == rule
        assert hash(rebuilt) == hash(rule)
        assert type(rebuilt) is type(rule)

    def test_description_names_an_importable_class(self):
        desc = self.make().describe()
        mod, _, cls = desc["class"].rpartition(".")
        assert getattr(importlib.import_module(mod), cls) is self.rule_class

    def test_custom_parameters_make_a_different_rule(self):
        assert self.make(**self.custom_params) != self.make()

    def test_pickle_round_trip(self, rule_view):
        rule = self.make(**self.custom_params)
        back = pickle.loads(pickle.dumps(rule))
        assert back == rule
        org = _service_orgs(rule_view)[0]
        assert _same(_decisions(back, rule_view, org), _decisions(rule, rule_view, org))

    # --- decisions ------------------------------------------------------------------------
    def test_same_view_gives_same_decisions(self, rule_view):
        rule = self.make()
        for org in _service_orgs(rule_view)[:6]:
            assert _same(_decisions(rule, rule_view, org), _decisions(rule, rule_view, org))
        orgs = np.array(_service_orgs(rule_view))
        assert np.array_equal(
            rule.referral_matrix(orgs, rule_view), rule.referral_matrix(orgs, rule_view)
        )

    def test_decisions_neither_change_the_view_nor_draw_global_random_numbers(
        self, tiny_model: CareSystemModel
    ):
        view = tiny_model.view()
        before = {k: np.array(v, copy=True) for k, v in vars(view).items()}
        state = np.random.get_state()[1].copy()  # noqa: NPY002 (checks global state)
        rule = self.make()
        for org in _service_orgs(view):
            _decisions(rule, view, org)
        rule.referral_matrix(np.array(_service_orgs(view)), view)
        for k, v in vars(view).items():
            assert np.array_equal(np.asarray(v), before[k]), k
        assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002

    def test_decisions_have_the_documented_shape_type_and_range(self, rule_view):
        rule = self.make()
        n = len(rule_view.kind)
        for org in _service_orgs(rule_view):
            d = _decisions(rule, rule_view, org)
            share = d["data_sharing"]
            assert isinstance(share, float) and 0.0 <= share <= 1.0
            w = np.asarray(d["referral_weights"])
            assert w.shape == (n,) and np.issubdtype(w.dtype, np.floating)
            assert np.all(np.isfinite(w)) and np.all(w >= 0)
            esc = d["demands_escalation"]
            assert isinstance(esc, np.ndarray) and esc.dtype == bool and esc.shape == (n,)
            ts = np.asarray(d["tie_scores"])
            assert ts.shape == (n,) and np.all(np.isfinite(ts))
            bid = d["budget_bid"]
            assert isinstance(bid, float) and np.isfinite(bid) and bid >= 0
            assert isinstance(d["pools_budget"], bool | np.bool_)

    def test_referral_matrix_rows_equal_referral_weights(self, rule_view):
        rule = self.make(**self.custom_params)
        orgs = np.array(_service_orgs(rule_view))
        mat = np.asarray(rule.referral_matrix(orgs, rule_view))
        assert mat.shape == (orgs.size, len(rule_view.kind))
        for row, org in zip(mat, orgs, strict=True):
            np.testing.assert_allclose(row, rule.referral_weights(int(org), rule_view), rtol=1e-12)

    # --- in a model -----------------------------------------------------------------------
    def test_selected_from_configuration_and_runs_in_a_model(self):
        m = CareSystemModel(load_config([*TINY, *self.select]))
        service = np.flatnonzero(m.service)
        # By name, not identity: a file rule's class is re-imported for each model.
        want = (self.rule_class.__module__, self.rule_class.__qualname__)
        assert {
            (type(m.orgs[i].rule).__module__, type(m.orgs[i].rule).__qualname__) for i in service
        } == {want}
        m.run(3)
        assert len(m.records) == 3
        assert m.summary()["episodes_started"] > 0


class TestNeutralPowerRule(RuleContract):
    rule_class = PowerRule
    custom_params = {"level": 1.0}
    select = ["power_rule._target_=carenet.models.power.PowerRule"]


class TestDomination(RuleContract):
    rule_class = Domination
    custom_params = {
        "sharing": 0.1,
        "branch_bias": 2.0,
        "capture_strength": 0.5,
        "escalate_out_of_branch": False,
    }
    select = ["power_rule=domination"]


class TestEmpowerment(RuleContract):
    rule_class = Empowerment
    custom_params = {"sharing": 0.9, "choice_sharpness": 1.0, "influence_preference": 2.0}
    select = ["power_rule=empowerment"]


_CAUTIOUS_MODULE = load_target(CAUTIOUS_TARGET).__module__


class TestCautiousUserRule(RuleContract):
    @property
    def rule_class(self) -> type[PowerRule]:  # type: ignore[override]
        # The class of the latest load: each load_target() call re-imports the file (see
        # test_loading_a_file_rule_twice_gives_the_same_class), and pickle finds a class by
        # its module's current contents.
        return sys.modules[_CAUTIOUS_MODULE].Cautious

    custom_params = {"sharing": 0.3, "queue_aversion": 5.0, "min_trust": 0.5}
    select = [f"power_rule._target_={CAUTIOUS_TARGET}"]


# --- user-written rules chosen from configuration alone -----------------------------------


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "carenet", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _assert_ran_with_cautious(out: Path, target: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["config"]["power_rule"]["_target_"] == target
    assert manifest["labels"]["power_rule"] == target
    net = json.loads((out / "network.json").read_text())
    rules = {node["rule"] for node in net["final"]["nodes"]}
    assert rules == {"cautious"}


def test_file_rule_is_selected_by_carenet_run_from_another_folder(tmp_path):
    out = tmp_path / "res"
    r = _cli(
        [*TINY, "steps=3", f"power_rule._target_={CAUTIOUS_TARGET}", f"out={out}"],
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    _assert_ran_with_cautious(out, CAUTIOUS_TARGET)


def test_dotted_rule_is_selected_by_carenet_run_with_its_folder_on_pythonpath(tmp_path):
    out = tmp_path / "res"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(USER_RULES.resolve()), env.get("PYTHONPATH", "")) if p
    )
    target = "cautious_rules.Cautious"
    r = _cli([*TINY, "steps=3", f"power_rule._target_={target}", f"out={out}"], tmp_path, env)
    assert r.returncode == 0, r.stderr
    _assert_ran_with_cautious(out, target)


def test_dotted_rule_is_selected_in_process(monkeypatch):
    monkeypatch.syspath_prepend(str(USER_RULES.resolve()))
    m = CareSystemModel(load_config([*TINY, "power_rule._target_=cautious_rules.Cautious"]))
    assert {m.orgs[i].rule.name for i in range(m.n)} == {"cautious"}
    assert type(m.orgs[0].rule).__module__ == "cautious_rules"


def test_user_rule_parameters_come_from_configuration_with_plus():
    cfg = load_config(
        [*TINY, f"power_rule._target_={CAUTIOUS_TARGET}", "+power_rule.params.queue_aversion=7"]
    )
    m = CareSystemModel(cfg)
    assert m.orgs[0].rule.params["queue_aversion"] == 7


def test_user_rule_parameters_can_be_given_as_a_mapping():
    cfg = load_config(
        [*TINY, f"power_rule._target_={CAUTIOUS_TARGET}", "power_rule.params={queue_aversion:7}"]
    )
    assert cfg.power_rule.params == {"queue_aversion": 7}


def test_file_rule_description_survives_a_second_load():
    a = load_target(CAUTIOUS_TARGET)
    b = load_target(CAUTIOUS_TARGET)
    assert a().describe() == b().describe()


def test_loading_a_file_rule_twice_gives_the_same_class():
    first = load_target(CAUTIOUS_TARGET)(sharing=0.4)
    second = load_target(CAUTIOUS_TARGET)(sharing=0.4)
    assert type(first) is type(second)
    assert first == second
    assert pickle.loads(pickle.dumps(first)) == first


def test_file_rule_description_is_the_same_in_every_process():
    code = (
        "from carenet.models.power import load_target;"
        f"print(load_target({CAUTIOUS_TARGET!r})().describe()['class'])"
    )
    names = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(k)},
        ).stdout.strip()
        for k in (1, 2)
    }
    assert len(names) == 1, names


def test_a_class_that_is_not_a_rule_is_refused():
    with pytest.raises(ValueError, match="not a subclass"):
        load_target("carenet.models.power.RuleView")


def test_a_rule_name_that_is_not_registered_is_refused():
    with pytest.raises(ConfigError, match="power_rule.name"):
        load_config([*TINY, "power_rule.name=cautious"])
