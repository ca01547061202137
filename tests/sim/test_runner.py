"""``carenet run`` end to end, output folders, and determinism (issue #2 item 7).

The CLI runs in a subprocess from a temporary working directory, as a user would run it;
determinism is checked both through the CLI (file bytes) and in process (:func:`simulate`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carenet.models.spec import HEADLINE_TOTALS, headline
from carenet.sim.config import load_config, to_dict
from carenet.sim.runner import (
    RESULT_FILES,
    OutputError,
    check_out,
    run_scenario,
    simulate,
)
from tests.cli import carenet

SMALL = ["population=small", "organisations=small", "steps=12", "seed=7", "warmup_weeks=0"]
TINY = [
    "population=small",
    "organisations=small",
    "population.size=3000",
    "steps=3",
    "warmup_weeks=0",
]

SUMMARY_KEYS = (
    "qalys_gained",
    "qalys_lost",
    "cost_total",
    "cost_direct",
    "cost_transaction",
    "cost_failure",
    "cost_connection",
    "net_monetary_benefit",
    "episodes_started",
    "episodes_completed",
    "episodes_failed",
    "avoidable_emergency_admissions_per_1000",
    "mean_wait_weeks",
)
ADDITIVE = SUMMARY_KEYS[:11]
"""Summary metrics that are sums of their weekly columns."""


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and modification time of every file under a folder."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One ``carenet run`` of the small system, from a working directory of its own."""
    cwd = tmp_path_factory.mktemp("cwd")
    out = tmp_path_factory.mktemp("results") / "small"
    r = carenet("run", *SMALL, f"out={out}", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    return {"out": out, "cwd": cwd, "proc": r, "args": [*SMALL, f"out={out}"]}


# --- the files ---------------------------------------------------------------------------


def test_every_result_file_is_written_and_nothing_else(small_run):
    out = small_run["out"]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(RESULT_FILES)
    # No partial or old folders left beside the result, nothing in the working directory.
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    assert list(small_run["cwd"].iterdir()) == []


def test_timeseries_has_one_row_per_week_and_the_summary_metrics_per_week(small_run):
    ts = pd.read_parquet(small_run["out"] / "timeseries.parquet")
    assert len(ts) == 12
    assert ts["week"].tolist() == list(range(12))
    assert ts["week"].dtype == "int64"
    per_week = [k for k in SUMMARY_KEYS if k != "avoidable_emergency_admissions_per_1000"]
    missing = [
        k for k in [*per_week, "emergency_admissions", "episodes_in_progress"] if k not in ts
    ]
    assert not missing
    assert ts["episodes_started"].sum() > 0


def test_summary_holds_the_headline_metrics_and_matches_the_time_series(small_run):
    data = json.loads((small_run["out"] / "summary.json").read_text())
    assert data["seed"] == 7 and data["steps"] == 12 and data["population"] == 50000
    assert data["labels"] == {
        "structure": "hybrid",
        "power_rule": "mixed",
        "response": "none",
        "scenario": "baseline",
    }
    m = data["metrics"]
    for k in SUMMARY_KEYS:
        assert isinstance(m[k], int | float) and math.isfinite(m[k]), k
    ts = pd.read_parquet(small_run["out"] / "timeseries.parquet")
    for k in ADDITIVE:
        assert m[k] == pytest.approx(ts[k].sum(), rel=1e-12), k
    per_1000 = ts["emergency_admissions"].sum() / 50000 * 1000 / (12 / 52)
    assert m["avoidable_emergency_admissions_per_1000"] == pytest.approx(per_1000, rel=1e-12)
    assert 0 <= m["mean_wait_weeks"] <= 12


def test_manifest_records_full_config_seed_versions_and_times(small_run):
    man = json.loads((small_run["out"] / "manifest.json").read_text())
    assert man["status"] == "complete"
    assert man["seed"] == 7
    assert man["overrides"] == small_run["args"]
    expected = json.loads(json.dumps(to_dict(load_config(small_run["args"]))))
    assert man["config"] == expected
    for pkg in ("python", "carenet", "mesa", "numpy", "pandas", "hydra-core"):
        assert man["versions"].get(pkg) not in (None, "", "not installed"), pkg
    started = dt.datetime.fromisoformat(man["started"])
    finished = dt.datetime.fromisoformat(man["finished"])
    assert started.tzinfo is not None
    assert started <= finished <= dt.datetime.now(dt.UTC)
    assert man["wall_seconds"] > 0
    assert "git_revision" in man


def test_network_snapshots_at_start_and_end(small_run):
    net = json.loads((small_run["out"] / "network.json").read_text())
    assert net["initial"]["week"] == 0 and net["final"]["week"] == 12
    assert len(net["initial"]["nodes"]) == len(net["final"]["nodes"]) > 0


def test_overview_figure_is_a_real_png(small_run):
    png = small_run["out"] / "figures" / "overview.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 600 and height >= 400
    assert 20_000 < len(data) < 5_000_000


def test_printed_table_shows_headline_metrics_and_where_the_files_are(small_run):
    """Every headline metric is printed with its summary value; the totals lead,
    discounted first with the undiscounted beside them on the same row."""
    stdout = small_run["proc"].stdout
    lines = stdout.splitlines()
    metrics = json.loads((small_run["out"] / "summary.json").read_text())["metrics"]
    fmts = {k: fmt for k, _, fmt in headline()}
    shown = {k: label for k, label, _ in headline()}

    def row(label: str) -> str:
        found = [ln for ln in lines if ln.strip().startswith(label.strip())]
        assert found, f"no row for {label!r}"
        return found[0]

    header = next(i for i, ln in enumerate(lines) if ln.split() == ["discounted", "undiscounted"])
    order = []
    for disc, undisc, label, parts in HEADLINE_TOTALS:
        line = row(label.replace(" (GBP)", ""))
        order.append(lines.index(line))
        assert line.split()[-2:] == [
            fmts[disc].format(metrics[disc]),
            fmts[undisc].format(metrics[undisc]),
        ], line
        for k in parts:
            assert row(shown[k]).split()[-1] == fmts[k].format(metrics[k])
            assert lines.index(row(shown[k])) > lines.index(line)
        shown = {k: v for k, v in shown.items() if k not in (disc, undisc, *parts)}
    assert header < order[0] < order[1] < order[2]
    assert "at 20,000/QALY" in row("Net monetary benefit")
    assert "discounted at 3.5%/yr (costs) and 3.5%/yr (health)" in stdout
    for key, label in shown.items():
        line = row(label)
        assert lines.index(line) > order[-1]
        if metrics.get(key) is not None:
            assert line.rstrip().endswith(fmts[key].format(metrics[key])), line
    assert f"Results in {small_run['out']}/" in stdout
    assert "(seed 7)" in stdout
    assert "Traceback" not in small_run["proc"].stderr


# --- output folders --------------------------------------------------------------------


def test_refuses_a_folder_with_a_finished_result_and_leaves_it_untouched(small_run, tmp_path):
    out = tmp_path / "prev"
    shutil.copytree(small_run["out"], out)
    before = snapshot(out)
    r = carenet("run", *TINY, f"out={out}", cwd=tmp_path)
    assert r.returncode == 2
    err = r.stderr.strip()
    assert err.startswith("carenet: error: out:") and "\n" not in err
    assert "overwrite=true" in err
    assert "Traceback" not in r.stderr
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev"]


def test_overwrite_true_replaces_a_finished_result(small_run, tmp_path):
    out = tmp_path / "prev"
    shutil.copytree(small_run["out"], out)
    old = json.loads((out / "manifest.json").read_text())
    r = carenet("run", *TINY, f"out={out}", "overwrite=true", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    new = json.loads((out / "manifest.json").read_text())
    assert new["status"] == "complete"
    assert new["config"]["steps"] == 3 and old["config"]["steps"] == 12
    assert len(pd.read_parquet(out / "timeseries.parquet")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev"]  # no .old/.partial left


def test_overwrite_never_deletes_a_users_file_kept_beside_a_result(small_run, tmp_path):
    out = tmp_path / "prev"
    shutil.copytree(small_run["out"], out)
    (out / "notes.md").write_text("my notes on this run")
    r = carenet("run", *TINY, f"out={out}", "overwrite=true", cwd=tmp_path)
    assert "Traceback" not in r.stderr
    assert (out / "notes.md").is_file(), f"deleted (exit {r.returncode})"
    assert (out / "notes.md").read_text() == "my notes on this run"


@pytest.mark.parametrize("overwrite", [False, True])
def test_refuses_a_folder_holding_foreign_files_even_with_overwrite(tmp_path, overwrite):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    before = snapshot(out)
    r = carenet("run", *TINY, f"out={out}", f"overwrite={str(overwrite).lower()}", cwd=tmp_path)
    assert r.returncode == 2
    err = r.stderr.strip()
    assert err.startswith("carenet: error: out:") and "\n" not in err
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_an_empty_existing_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    r = carenet("run", *TINY, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_default_out_is_a_new_dated_folder_under_outputs_of_the_cwd(tmp_path):
    before = dt.date.today()
    r = carenet("run", *TINY, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    days = list((tmp_path / "outputs").iterdir())
    assert len(days) == 1
    assert days[0].name in {before.isoformat(), dt.date.today().isoformat()}
    runs = list(days[0].iterdir())
    assert len(runs) == 1
    assert dt.datetime.strptime(runs[0].name, "%H-%M-%S")
    assert json.loads((runs[0] / "manifest.json").read_text())["status"] == "complete"
    assert f"Results in outputs/{days[0].name}/{runs[0].name}/" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]


def test_run_scenario_refuses_to_overwrite_a_finished_result_in_process(tmp_path):
    cfg = load_config([*TINY, "progress=false"])
    out = tmp_path / "r"
    res = run_scenario(cfg, out)
    assert res.out == out
    before = snapshot(out)
    with pytest.raises(OutputError, match="overwrite=true"):
        run_scenario(cfg, out)
    with pytest.raises(OutputError):
        check_out(out, overwrite=False)
    check_out(out, overwrite=True)
    assert snapshot(out) == before


# --- determinism --------------------------------------------------------------------------


def test_same_config_and_seed_give_identical_files_through_the_cli(small_run, tmp_path):
    out = tmp_path / "again"
    r = carenet("run", *SMALL, f"out={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    first = small_run["out"]
    assert (out / "timeseries.parquet").read_bytes() == (first / "timeseries.parquet").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "timeseries.parquet"), pd.read_parquet(first / "timeseries.parquet")
    )
    a = json.loads((first / "summary.json").read_text())
    b = json.loads((out / "summary.json").read_text())
    assert a == b
    assert (out / "network.json").read_bytes() == (first / "network.json").read_bytes()


def test_simulate_in_process_matches_the_cli_run(small_run):
    res = simulate(load_config(small_run["args"]))
    pd.testing.assert_frame_equal(
        res.timeseries, pd.read_parquet(small_run["out"] / "timeseries.parquet")
    )
    metrics = json.loads((small_run["out"] / "summary.json").read_text())["metrics"]
    for k, v in res.summary.items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            assert metrics[k] is None, k
        else:
            assert metrics[k] == v, k


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def test_same_seed_same_results_different_seed_different_results():
    cfg = load_config(
        ["population=small", "organisations=small", "population.size=8000", "warmup_weeks=0"]
    )
    cfg.steps = 10
    a, b = simulate(cfg), simulate(cfg)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    assert _parquet_bytes(a.timeseries) == _parquet_bytes(b.timeseries)
    assert json.dumps(a.summary, sort_keys=True) == json.dumps(b.summary, sort_keys=True)
    c = simulate(cfg, seed=cfg.seed + 1)
    assert c.seed == cfg.seed + 1
    assert not a.timeseries.equals(c.timeseries)
    assert a.summary["episodes_started"] != c.summary["episodes_started"]
    assert a.summary["cost_total"] != c.summary["cost_total"]


FAILING_RULE = """
from carenet.models.power import PowerRule


class FailsLater(PowerRule):
    name = "fails_later"

    def tie_scores(self, org, view):
        raise RuntimeError("rule broke in week 4")
"""


def test_a_run_that_fails_midway_leaves_nothing_behind(tmp_path):
    rule = tmp_path / "failing_rule.py"
    rule.write_text(FAILING_RULE)
    cfg = load_config(
        [
            *TINY,
            "steps=8",
            "structure.tie_update_weeks=4",
            f"power_rule._target_={rule}:FailsLater",
            "progress=false",
        ]
    )
    out = tmp_path / "results" / "run"
    with pytest.raises(RuntimeError, match="week 4"):
        run_scenario(cfg, out)
    assert not out.exists()
    leftovers = list((tmp_path / "results").iterdir()) if (tmp_path / "results").exists() else []
    assert leftovers == []


def _pandas_reading(records: list[dict]) -> pd.DataFrame:
    """The time series as the runner read it before #17: pandas's own typing."""
    ts = pd.DataFrame(records)
    if "week" in ts.columns:
        ts.insert(0, "week", ts.pop("week").astype("int64"))
    return ts


_CELL = st.one_of(
    st.integers(-(2**62), 2**62),
    st.floats(allow_infinity=False),
    st.booleans(),
    st.just(None),
    st.text(max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"week": st.integers(0, 10**6)}, optional={"a": _CELL, "b": _CELL, "c": st.floats()}
        ),
        max_size=8,
    )
)
def test_record_columns_are_typed_as_pandas_types_the_records(records) -> None:
    """The pandas-free time series equals pandas's reading, or it declines (None)."""
    from carenet.sim.runner import RunResult, record_columns

    cols = record_columns(records)
    result = RunResult({}, cols, {}, 1, 0.0, records=records)
    pd.testing.assert_frame_equal(result.timeseries, _pandas_reading(records))
    if cols is not None:
        assert list(cols) == list(_pandas_reading(records).columns)


def test_timeseries_parquet_written_without_pandas_reads_as_before(tmp_path) -> None:
    from carenet.sim.runner import write_timeseries

    res = simulate(load_config(TINY))
    assert res.columns is not None  # the model's records are plain numbers
    write_timeseries(tmp_path / "ts.parquet", res)
    res.timeseries.to_parquet(tmp_path / "old.parquet", index=False)
    back = pd.read_parquet(tmp_path / "ts.parquet")
    pd.testing.assert_frame_equal(back, pd.read_parquet(tmp_path / "old.parquet"))
    pd.testing.assert_frame_equal(back, _pandas_reading(res.records))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "week": st.integers(0, 10**6),
                "n": st.integers(-(2**62), 2**62),
                "x": st.floats(allow_infinity=False),
                "flag": st.booleans(),
            }
        ),
        max_size=70,
    )
)
def test_parquet_by_pyarrow_holds_what_pandas_wrote(tmp_path_factory, records) -> None:
    """Columns, types and nulls (NaN as null) as ``to_parquet`` writes them, read by pyarrow."""
    import pyarrow.parquet as pq

    from carenet.sim.runner import RunResult, record_columns, write_timeseries

    tmp = tmp_path_factory.mktemp("pq")
    result = RunResult({}, record_columns(records), {}, 1, 0.0, records=records)
    write_timeseries(tmp / "new.parquet", result)
    _pandas_reading(records).to_parquet(tmp / "old.parquet", index=False)
    new, old = pq.read_table(tmp / "new.parquet"), pq.read_table(tmp / "old.parquet")
    assert new.equals(old, check_metadata=False)
    assert [c.null_count for c in new.columns] == [c.null_count for c in old.columns]
