"""Unit-cost sources (#13 item 5): each default cites its original, says where in it and
whether it has been read there; the generated parameter docs show which are to be opened."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from carenet.models.schema import DEFAULT_COST_ITEMS, CostItem
from carenet.params import ConfigError
from carenet.sim.config import load_config
from carenet.tools import paramdocs

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"\((19|20)\d\d\)|doi:10\.|https://")
"""A citation names its year, a DOI or an address."""


def _published() -> dict[str, dict]:
    return {k: v for k, v in DEFAULT_COST_ITEMS.items() if not v["source"].startswith("assumption")}


def test_every_default_unit_cost_cites_its_original():
    assert set(DEFAULT_COST_ITEMS) >= {"gp_consultation", "delayed_discharge_night"}
    for name, item in DEFAULT_COST_ITEMS.items():
        assert set(item) == {f for f in CostItem.__dataclass_fields__}, name
        assert "as quoted" not in item["source"].lower(), name
        assert "DESIGN.md" not in item["source"], name
        assert isinstance(item["checked"], bool), name
    for name, item in _published().items():
        assert CITED.search(item["source"]), (name, item["source"])
        assert item["where"].strip(), f"{name}: where in the source is not said"
    assert all(not DEFAULT_COST_ITEMS[k]["checked"] for k in ("gp_consultation", "mh_contact"))


def test_the_psa_cost_distributions_cite_their_originals():
    design = yaml.safe_load((ROOT / "configs/psa/default.yaml").read_text())
    costs = {k: v for k, v in design["parameters"].items() if k.startswith("costs.items.")}
    assert len(costs) >= 3
    for key, p in costs.items():
        assert "as quoted" not in p["source"].lower(), key
        assert CITED.search(p["source"]), (key, p["source"])
        item = DEFAULT_COST_ITEMS[key.split(".")[2]]
        assert p["mean"] == item["gbp"], key  # the distribution is centred on the default


def test_the_parameter_docs_show_where_and_which_citations_are_to_be_opened():
    table = paramdocs._cost_table()
    assert "where in the source" in table[0] and "checked" in table[0]
    rows = {r.split("|")[1].strip().strip("`"): r for r in table[2:]}
    assert set(rows) == set(DEFAULT_COST_ITEMS)
    for name, item in DEFAULT_COST_ITEMS.items():
        cells = [c.strip() for c in rows[name].strip("|").split(" | ")]
        if item["checked"]:
            assert cells[-1] == "yes", name
        elif item["source"].startswith("assumption"):
            assert cells[-1] == "n/a (assumption)", name
        else:
            assert cells[-1] == "**no**: to be opened", name
    text = (ROOT / "docs/parameters.md").read_text()
    assert "as quoted" not in text.lower()
    assert "**no**: to be opened" in text


def test_checked_must_be_a_boolean():
    with pytest.raises(ConfigError, match=r"costs\.items\.gp_consultation\.checked"):
        load_config(["costs.items.gp_consultation.checked=perhaps"])


def test_a_user_item_without_where_or_checked_takes_the_defaults():
    cfg = load_config(
        ["+costs.items.extra={gbp: 1.0, unit: x, source: assumption, price_year: 2024/25}"]
    )
    assert cfg.costs.items["extra"]["where"] == ""
    assert cfg.costs.items["extra"]["checked"] is False
