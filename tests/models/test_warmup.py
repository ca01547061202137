"""The warm-up: weeks simulated, flagged, and left out of every summary metric.

Also the status quo at the start: under a bureaucratic response the pairs that already work
together have contracts in force at week 0, with staggered expiry.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carenet.models.model import CareSystemModel
from carenet.models.registry import SUMMED, WeekTable, after_warmup
from carenet.models.responses.contracting import Contracts
from carenet.params import ConfigError
from carenet.sim.config import load_config

SMALL = ["population=small", "organisations=small", "population.size=5000"]


def _run(*overrides: str) -> CareSystemModel:
    cfg = load_config([*SMALL, *overrides])
    m = CareSystemModel(cfg)
    m.run(cfg.steps)
    return m


@pytest.fixture(scope="module")
def warm() -> CareSystemModel:
    """A bureaucratic run of 20 weeks, the first 8 of them warm-up."""
    return _run("response=bureaucratic", "steps=20", "warmup_weeks=8")


def test_records_keep_every_week_and_flag_the_warmup(warm: CareSystemModel) -> None:
    flags = [r["warmup"] for r in warm.records]
    assert len(flags) == 20
    assert flags == [1.0] * 8 + [0.0] * 12


def test_summed_totals_are_the_sums_of_the_weeks_after_the_warmup(warm: CareSystemModel) -> None:
    s = warm.summary()
    df = pd.DataFrame(warm.records)
    after = df[df["week"] >= 8]
    for key in SUMMED:
        assert s[key] == pytest.approx(float(after[key].sum()), rel=1e-9, abs=1e-9), key
    # ...and they differ from the sums over every week: the warm-up is really left out.
    assert s["cost_total"] < float(df["cost_total"].sum())
    assert s["episodes_started"] < float(df["episodes_started"].sum())


def test_means_and_rates_cover_the_same_weeks_as_the_sums(warm: CareSystemModel) -> None:
    s = warm.summary()
    after = pd.DataFrame(warm.records).iloc[8:]
    assert s["handoff_failure_rate"] == pytest.approx(
        after["handoffs_failed"].sum() / after["handoffs"].sum()
    )
    years = len(after) / 52.0
    per_1000 = after["emergency_admissions"].sum() / warm.pop.size * 1000 / years
    assert s["avoidable_emergency_admissions_per_1000"] == pytest.approx(per_1000)
    # Episodes that ended after the warm-up: completed + failed in those weeks.
    ended = after["episodes_completed"].sum() + after["episodes_failed"].sum()
    assert warm.ledger.totals["ended"] == pytest.approx(ended)
    assert float(warm.ledger.totals["strat_started"].sum()) == pytest.approx(
        after["episodes_started"].sum()
    )
    # The per-stratum net QALYs add up to the post-warm-up net QALYs.
    strata = sum(v for k, v in s.items() if k.startswith("qalys_net_"))
    assert strata == pytest.approx(s["qalys_net"], rel=1e-6)


def test_no_warmup_counts_every_week_as_before() -> None:
    m = _run("steps=10", "warmup_weeks=0")
    s = m.summary()
    df = pd.DataFrame(m.records)
    assert (df["warmup"] == 0).all()
    for key in SUMMED:
        assert s[key] == pytest.approx(float(df[key].sum()), rel=1e-9, abs=1e-9), key
    years = len(df) / 52.0
    assert s["avoidable_emergency_admissions_per_1000"] == pytest.approx(
        df["emergency_admissions"].sum() / m.pop.size * 1000 / years
    )
    ended = df["episodes_completed"].sum() + df["episodes_failed"].sum()
    assert m.ledger.totals["ended"] == pytest.approx(ended)


def test_the_warmup_changes_no_week_only_what_is_counted() -> None:
    """The same seed with and without a warm-up simulates the same weeks."""
    a = _run("steps=12", "warmup_weeks=0")
    b = _run("steps=12", "warmup_weeks=5")
    cols = [c for c in a.records[0] if c != "warmup"]
    ra = pd.DataFrame(a.records)[cols]
    rb = pd.DataFrame(b.records)[cols]
    pd.testing.assert_frame_equal(ra, rb)
    assert b.summary()["cost_total"] == pytest.approx(float(rb["cost_total"].iloc[5:].sum()))


def test_after_warmup_leaves_out_only_flagged_weeks() -> None:
    recs = [{"week": w, "x": 1.0, "warmup": float(w < 3)} for w in range(7)]
    assert after_warmup(recs)["week"].tolist() == [3, 4, 5, 6]
    assert len(after_warmup([{"week": 0, "x": 1.0}])) == 1  # unflagged records: all kept


@pytest.mark.parametrize(
    ("steps", "warmup"), [(10, 10), (10, 52), (1, 1)], ids=["equal", "longer", "one_step"]
)
def test_a_warmup_not_below_steps_is_one_line_naming_both_keys(steps: int, warmup: int) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config([*SMALL, f"steps={steps}", f"warmup_weeks={warmup}"])
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(f"warmup_weeks: {warmup} ")
    assert f"steps={steps}" in text


def test_a_negative_warmup_is_one_line() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config([*SMALL, "steps=10", "warmup_weeks=-1"])
    assert str(exc.value).startswith("warmup_weeks: -1 is not allowed")


def test_the_command_refuses_a_warmup_as_long_as_the_run_in_one_line(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "carenet", "run", *SMALL, "steps=8", "warmup_weeks=8"]
        + [f"out={tmp_path / 'r'}", "progress=false"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "warmup_weeks: 8" in lines[0] and "steps=8" in lines[0]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


# --- the status quo at the start: contracts in force -----------------------------------


def test_working_pairs_have_contracts_in_force_at_week_0() -> None:
    cfg = load_config([*SMALL, "response=bureaucratic", "steps=60", "warmup_weeks=0"])
    m = CareSystemModel(cfg)
    pairs = Contracts.working_pairs(m)
    assert pairs.any()
    assert (m.contract_ready[pairs] <= 0).all()  # in force at week 0: no lead time to wait
    assert not np.isfinite(m.contract_ready[~pairs]).any()
    expiry = m.contract_expiry[np.triu(pairs, 1)]
    dur = cfg.response.contract_duration_weeks
    assert expiry.min() >= 1 and expiry.max() <= dur
    # Staggered: renewals spread over the contract term, not bunched in one week.
    counts = np.bincount(expiry.astype(int), minlength=dur + 1)[1:]
    assert counts.max() < 0.2 * expiry.size
    assert np.unique(expiry).size > dur / 4
    # Nothing to sign for the working pairs: week 0 signs no contract and no handoff
    # between them waits for one.
    m.step()
    assert m.records[0]["contracts_signed"] == 0


def test_every_pair_a_handoff_uses_is_a_working_pair() -> None:
    """The pairs started under contract are the pairs the handoffs stage refers between."""
    cfg = load_config([*SMALL, "response=bureaucratic", "steps=30", "warmup_weeks=0"])
    m = CareSystemModel(cfg)
    pairs = Contracts.working_pairs(m)
    m.run(30)
    assert sum(r["handoffs"] for r in m.records) > 0
    # Every pair a handoff used holds a contract (the component ensures one); none is
    # outside the working pairs, and none was new (all were in force from week 0).
    assert not np.isfinite(m.contract_ready[~pairs]).any()
    assert (m.contract_ready[pairs] <= 0).all()
    assert sum(r["contracts_signed"] for r in m.records) > 0  # renewals are still charged


def test_without_contracts_nothing_is_in_force() -> None:
    m = CareSystemModel(load_config([*SMALL, "response=none", "steps=10", "warmup_weeks=0"]))
    assert not np.isfinite(m.contract_ready).any()


def test_contracts_at_the_start_cut_the_first_weeks_transaction_and_waits() -> None:
    """Before: every pair signed in its first weeks (setup cost, 8-week wait)."""
    m = _run("response=bureaucratic", "steps=12", "warmup_weeks=0")
    signed = sum(r["contracts_signed"] for r in m.records)
    n_pairs = int(np.triu(Contracts.working_pairs(m), 1).sum())
    assert signed < 0.5 * n_pairs  # only renewals falling due in 12 of 52 weeks
    assert math.isfinite(m.summary()["mean_wait_weeks"])


def test_a_shock_starting_in_the_warmup_is_a_warning_not_an_error() -> None:
    from carenet.models.spec import CarenetSpec

    shocks = "scenario.shocks=[{kind:data_outage,at_week:4,duration_weeks:2}]"
    cfg = load_config([*SMALL, "steps=20", "warmup_weeks=8", shocks])
    notes = CarenetSpec().notes(cfg)
    assert len(notes) == 1
    assert notes[0].startswith("scenario.shocks[0] (data_outage) starts at week 4")
    assert "warmup_weeks=8" in notes[0]
    late = load_config([*SMALL, "steps=20", "warmup_weeks=3", shocks])
    assert CarenetSpec().notes(late) == []


def test_the_printed_table_says_which_weeks_it_counts(warm: CareSystemModel) -> None:
    from carenet.models.spec import CarenetSpec

    text = CarenetSpec().headline(warm.summary(), warm.cfg)
    assert "weeks 8 to 19 counted; the first 8 (warm-up, warmup_weeks) left out" in text
    cold = CarenetSpec().headline(
        warm.summary(), load_config([*SMALL, "steps=5", "warmup_weeks=0"])
    )
    assert "warm-up" not in cold


def test_a_run_stopped_inside_its_warmup_fails_with_a_reason() -> None:
    """The check on steps can be bypassed by running fewer weeks than configured."""
    from carenet.models.errors import ResultError

    m = CareSystemModel(load_config([*SMALL, "steps=20", "warmup_weeks=8"]))
    m.run(5)
    with pytest.raises(ResultError, match="no week after the warm-up .* warmup_weeks=8"):
        m.summary()


def test_shared_records_investment_falls_in_the_counted_weeks() -> None:
    """The records' investment is charged when the warm-up ends, and go-live counts from it."""
    ov = ("response=network", "steps=20", "response.shared_records_golive_weeks=3")
    warm = _run(*ov, "warmup_weeks=8")
    cold = _run(*ov, "warmup_weeks=0")
    conn = [r["cost_connection"] for r in warm.records]
    invest = warm.cfg.response.shared_records_investment_gbp * int(warm.service.sum())
    assert invest > 0
    assert conn[8] - conn[9] == pytest.approx(invest, rel=0.05)  # week 8: first counted
    assert warm.summary()["cost_connection"] >= invest
    assert cold.records[0]["cost_connection"] - cold.records[1]["cost_connection"] == (
        pytest.approx(invest, rel=0.05)
    )
    m = CareSystemModel(load_config([*SMALL, *ov, "warmup_weeks=8"]))
    live = []
    for _ in range(14):
        m.step()
        live.append(bool(m.shared_live))
    assert live.index(True) == 8 + 3


_VALUE = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(-1e9, 1e9),
    st.just(float("nan")),
    st.sampled_from([0, 1, 0.0, 1.0]),
)
_RECORD = st.fixed_dictionaries(
    {"week": st.integers(0, 500), "warmup": st.sampled_from([0, 1, 0.0, 1.0])},
    optional={"x": _VALUE, "y": _VALUE, "z": st.floats(0, 1)},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_RECORD, max_size=12))
def test_week_table_reads_as_the_after_warmup_dataframe(records) -> None:
    """The summary's pandas-free table: same weeks, columns, sums and last values, bit for bit."""
    df, table = after_warmup(records), WeekTable(records)
    assert len(table) == len(df)
    for name in ("week", "warmup", "x", "y", "z", "absent"):
        assert (name in table) == (name in df)
        if name not in df:
            continue
        assert table[name].dtype == df[name].dtype or len(df) == 0
        assert table.total(name) == float(df[name].sum()) or (
            math.isnan(table.total(name)) and math.isnan(float(df[name].sum()))
        )
        if len(df):
            a, b = table.last(name), float(df.iloc[-1][name])
            assert a == b or (math.isnan(a) and math.isnan(b))
