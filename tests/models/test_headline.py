"""The printed headline table is made from the metric registry (labels and formats once)."""

from __future__ import annotations

from carenet.models.registry import HEADLINE_METRICS, METRICS
from carenet.models.spec import HEADLINE_ORDER, HEADLINE_TOTALS, CarenetSpec, headline
from carenet.sim.report import view_of


def test_the_table_lists_every_headline_metric_once():
    assert sorted(HEADLINE_ORDER) == sorted(HEADLINE_METRICS)
    assert len(set(HEADLINE_ORDER)) == len(HEADLINE_ORDER)


def test_labels_and_formats_are_the_registrys():
    by_name = {m.name: m for m in METRICS}
    rows = headline()
    assert [k for k, _, _ in rows] == list(HEADLINE_ORDER)
    for key, label, fmt in rows:
        assert (label, fmt) == (by_name[key].label, by_name[key].fmt)
        assert label.strip()


def test_discounted_totals_lead_with_the_undiscounted_beside_them():
    """The reference case's discounted totals come first; each undiscounted total and its
    parts follow it, before activity and process (#15 item 1)."""
    firsts = [HEADLINE_ORDER.index(d) for d, _, _, _ in HEADLINE_TOTALS]
    assert firsts[0] == 0
    for (disc, undisc, _, parts), start in zip(HEADLINE_TOTALS, firsts, strict=True):
        assert HEADLINE_ORDER[start : start + 2 + len(parts)] == (disc, undisc, *parts)
    assert set(HEADLINE_ORDER[: firsts[-1] + 2]) >= {"cost_total", "qalys_net"}


def test_the_report_tables_lead_with_the_headline_order():
    table = [name for name, _ in view_of(CarenetSpec()).table]
    assert table[: len(HEADLINE_ORDER)] == list(HEADLINE_ORDER)
    assert table[0] == "discounted_qalys_net"
    assert table.index("discounted_cost_total") < table.index("cost_total")
