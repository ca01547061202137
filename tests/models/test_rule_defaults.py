"""Each power rule's default is declared once, in its class; the schema reads it there."""

from __future__ import annotations

import inspect

import pytest

from carenet.models.rules import RULES, default
from carenet.models.schema import PowerRuleConfig


@pytest.mark.parametrize("name", [n for n, c in RULES.items() if getattr(c, "config_keys", None)])
def test_schema_defaults_are_the_rule_classes(name: str):
    cls = RULES[name]
    schema = PowerRuleConfig()
    for arg, key in cls.config_keys.items():
        declared = inspect.signature(cls.__init__).parameters[arg].default
        assert declared is not inspect.Parameter.empty, (name, arg)
        assert getattr(schema, key) == declared == default(cls, arg), (name, arg, key)
