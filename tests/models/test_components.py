"""The model in parts: composed responses, registered rules, the ledger, the timing hook."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from carenet.models import METRICS, RULES
from carenet.models.model import CareSystemModel
from carenet.models.power import PowerRule
from carenet.models.registry import SERIES, SUMMARY
from carenet.models.responses import ResponseError
from carenet.models.stages import STAGES
from carenet.sim.config import ConfigError, load_config

from .conftest import TINY

MODELS = Path(__file__).resolve().parents[2] / "models"


def _run(*overrides: str, steps: int = 8) -> CareSystemModel:
    m = CareSystemModel(load_config([*TINY, *overrides]))
    m.run(steps)
    return m


def test_a_user_composes_a_response_from_components_without_editing_carenet():
    m = _run("response=none", "response.components=[contracts,shared_records]")
    assert m.response.names == ["contracts", "shared_records"]
    s = m.summary()
    assert s["contracts_signed"] > 0  # contracts act
    assert s["cost_connection"] > _run("response=none").summary()["cost_connection"]
    assert s["inspections"] == 0  # and nothing the user did not ask for


def test_the_presets_are_lists_of_components():
    assert load_config([*TINY, "response=bureaucratic"]).response.components == [
        "contracts",
        "boards",
        "inspections",
    ]
    m = CareSystemModel(load_config([*TINY, "response=network"]))
    assert m.response.names == [
        "shared_records",
        "hub_funding",
        "relationship_time",
        "pooled_budget",
    ]


def test_a_component_acts_only_when_listed():
    m = CareSystemModel(load_config([*TINY, "response=none", "response.components=[boards]"]))
    assert m.response.names == ["boards"]
    # A preset's component is removed by listing the others (no switch can fail to act).
    without_hubs = "[shared_records,relationship_time,pooled_budget]"
    m = CareSystemModel(
        load_config([*TINY, "response=network", f"response.components={without_hubs}"])
    )
    assert "hub_funding" not in m.response.names and "pooled_budget" in m.response.names


def test_the_old_switches_are_refused_not_ignored():
    with pytest.raises(ConfigError, match=r"response.hub_funding"):
        load_config([*TINY, "response=network", "response.hub_funding=false"])


def test_an_unknown_component_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"response.components: unknown component 'contrcts'"):
        load_config([*TINY, "response.components=[contrcts]"])
    cfg = load_config(TINY)
    cfg.response.components = ["contrcts"]
    with pytest.raises(ResponseError) as err:
        CareSystemModel(cfg)
    assert isinstance(err.value, ValueError) and "\n" not in str(err.value)


class Hermit(PowerRule):
    """A third rule: shares nothing and refers to itself first."""

    name = "hermit"
    config_keys = {}

    def data_sharing(self, org, view):
        return 0.0


def test_a_third_registered_rule_acts_with_no_change_to_the_model():
    RULES["hermit"] = Hermit
    try:
        m = _run("power_rule.name=hermit", steps=2)  # the engine validates by the registry
    finally:
        del RULES["hermit"]
    assert all(type(o.rule) is Hermit for o in m.orgs)
    assert m.records[-1]["mean_data_sharing"] == 0.0  # its answer acted
    assert m.records[-1]["share_domination"] == 0.0


def test_the_registry_has_no_empty_entries():
    assert all(v is not None for v in RULES.values())


def test_every_cost_and_qaly_is_charged_through_the_ledger():
    text = "\n".join(p.read_text() for p in MODELS.rglob("*.py") if p.name != "ledger.py")
    assert not re.search(r'rec\["(cost_\w+|qalys_\w+)"\]\s*[+-]?=', text)
    assert len(re.findall(r"ledger\.(charge|gain|lose|emergency)\(", text)) >= 14


def test_metrics_are_declared_once_and_make_the_columns_and_summary():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    m = _run(steps=2)
    assert list(m.records[-1]) == list(SERIES)
    assert list(m.summary()) == list(SUMMARY)


def test_the_timing_hook_sees_the_build_and_every_stage_in_order():
    seen: list[str] = []
    m = CareSystemModel(load_config(TINY), on_stage=lambda name, s: seen.append(name))
    m.step()
    assert seen == ["build", *(s.name for s in STAGES)]


def test_the_model_imports_nothing_from_the_engine():
    code = (
        "import sys, carenet.models; print(any(k.startswith('carenet.sim') for k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
