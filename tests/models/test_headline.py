"""The printed headline table is made from the metric registry (labels and formats once)."""

from __future__ import annotations

from carenet.models.registry import HEADLINE_METRICS, METRICS
from carenet.models.spec import HEADLINE_ORDER, headline


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
