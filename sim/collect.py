"""One table across a sweep: ``carenet collect DIR``.

Writes two files into ``DIR``:

- ``runs.parquet``: one row per run: ``run_id``, ``scenario`` (the swept values, e.g.
  ``structure=network, power_rule=empowerment``), ``scenario_id``, ``replication``,
  ``seed`` (the run seed), ``root_seed``, ``status`` (``complete`` or ``failed``),
  ``error``, ``path`` (run folder, relative to ``DIR``), the swept keys that are not single
  parameters (config groups such as ``structure``), every parameter of the resolved
  configuration as a dotted column (``population.size``; lists and mappings as JSON text),
  and every summary metric (``qalys_net``, ``cost_total`` ...; empty for failed runs).
- ``timeseries.parquet``: long form, one row per (run, week, metric): ``run_id``,
  ``scenario``, ``replication``, ``week``, ``metric``, ``value``.

Runs are read one at a time and written in row groups (pyarrow ``ParquetWriter``), so
memory stays bounded for thousands of runs. Files are written under a temporary name and
renamed into place.

``DIR`` is a sweep folder (``DIR/runs/<run_id>/``), a folder of run folders, or one run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .runner import is_finished
from .sweep import FAILURES, RUNS, read_sweep, run_id, scenario_id, swept_of

RUNS_FILE = "runs.parquet"
TIMESERIES_FILE = "timeseries.parquet"
SKIPPED_PARAMS = ("seed", "out", "overwrite", "progress")
ROWS_PER_GROUP = 1000
TS_ROWS_PER_GROUP = 500_000

_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}


@dataclass
class Collected:
    """What :func:`collect` wrote."""

    runs_path: Path
    timeseries_path: Path
    n_runs: int
    n_failed: int
    n_timeseries_rows: int
    seconds: float


@dataclass
class _Entry:
    run_id: str
    folder: Path | None  # None for a failed run
    failure: dict[str, Any] | None = None


def param_columns() -> list[tuple[str, pa.DataType]]:
    """Dotted parameter columns and their Arrow types, from the schemas."""
    from .schema import CarenetConfig, iter_params

    cols = []
    for key, f in iter_params(CarenetConfig):
        if key in SKIPPED_PARAMS:
            continue
        t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        cols.append((key, _ARROW_TYPES.get(t, pa.string())))
    return cols


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not _is_leaf_dict(key):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


_LEAF_DICTS: set[str] | None = None


def _is_leaf_dict(key: str) -> bool:
    global _LEAF_DICTS
    if _LEAF_DICTS is None:
        _LEAF_DICTS = {k for k, t in param_columns() if t == pa.string()}
    return key in _LEAF_DICTS


def _cell(value: Any, t: pa.DataType) -> Any:
    if value is None:
        return None
    if t == pa.string():
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if t == pa.float64():
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if t == pa.int64():
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if t == pa.bool_():
        return bool(value)
    return value


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def find_runs(folder: Path) -> list[_Entry]:
    """Finished runs (and recorded failures) under ``folder``, in plan order if known."""
    folder = Path(folder)
    sweep = read_sweep(folder)
    entries: list[_Entry] = []
    if (folder / RUNS).is_dir():
        names = {
            e.name
            for e in os.scandir(folder / RUNS)
            if e.is_dir() and not e.name.startswith(".") and is_finished(Path(e.path))
        }
        order = [r["run_id"] for r in sweep["runs"]] if sweep else []
        ordered = [n for n in order if n in names] + sorted(names - set(order))
        entries = [_Entry(n, folder / RUNS / n) for n in ordered]
        fail_dir = folder / FAILURES
        if fail_dir.is_dir():
            failed = sorted(p for p in fail_dir.glob("*.json") if p.stem not in names)
            for p in failed:
                try:
                    entries.append(_Entry(p.stem, None, _read_json(p)))
                except (OSError, ValueError):
                    continue
    elif is_finished(folder):
        entries = [_Entry(folder.name, folder)]
    elif folder.is_dir():
        subs = sorted(p for p in folder.iterdir() if p.is_dir() and is_finished(p))
        entries = [_Entry(p.name, p) for p in subs]
    return entries


def _plan_lookup(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    sweep = read_sweep(folder) or {}
    return {r["run_id"]: r for r in sweep.get("runs", [])}, swept_of(sweep)


def _describe(entry: _Entry, plan: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Identity columns of a run from its manifest (or failure record) and the plan."""
    if entry.folder is not None:
        manifest = _read_json(entry.folder / "manifest.json")
        config = manifest.get("config", {})
        sw = manifest.get("sweep", {})
        seed = manifest.get("seed")
        labels = manifest.get("labels", {})
    else:
        manifest = {}
        config = entry.failure.get("config") or {} if entry.failure else {}
        sw = {}
        seed = entry.failure.get("seed") if entry.failure else None
        labels = {}
    p = plan.get(entry.run_id, {})
    sid = sw.get("scenario_id") or p.get("scenario_id") or (scenario_id(config) if config else "")
    rid = sw.get("run_id") or entry.run_id
    if not sw and seed is not None and config:
        rid = run_id(sid, int(seed))
    label = p.get("scenario") or " / ".join(str(v) for v in labels.values()) or sid[:12]
    return {
        "run_id": rid,
        "scenario": label,
        "scenario_id": sid,
        "replication": p.get("replication", sw.get("replication", 0)),
        "seed": seed,
        "root_seed": p.get("root_seed", sw.get("root_seed", config.get("seed"))),
        "values": p.get("values", {}),
        "config": config,
        "wall_seconds": manifest.get("wall_seconds"),
    }


def _progress(total: int, desc: str) -> Any:
    """A tqdm bar in a terminal; sparse plain lines (every tenth) otherwise."""
    from tqdm import tqdm

    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, leave=False)
    return _PlainProgress(total, desc)


class _PlainProgress:
    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.n = total, desc, 0
        self.step = max(1, total // 10)

    def update(self, k: int = 1) -> None:
        before, self.n = self.n, self.n + k
        if self.total >= 20 and self.n // self.step > before // self.step:
            print(f"carenet {self.desc}: {self.n}/{self.total}", file=sys.stderr, flush=True)

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def collect(folder: Path | str) -> Collected:
    """Write ``runs.parquet`` and ``timeseries.parquet`` for the runs under ``folder``.

    Args:
        folder: A sweep folder, a folder of run folders, or one run folder.

    Returns:
        What was written.

    Raises:
        FileNotFoundError: If there is no such folder.
        ValueError: If it holds no finished or failed run.
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(folder)!r} is not a folder")
    entries = find_runs(folder)
    if not entries:
        raise ValueError(f"{str(folder)!r} holds no carenet run")
    plan, swept = _plan_lookup(folder)
    pcols = param_columns()
    leaf_names = {k for k, _ in pcols}
    extra_cols = [k for k in swept if k not in leaf_names]
    # First pass, small files only: the union of metric names, in first-seen order.
    metrics: dict[str, None] = {}
    for e in entries:
        if e.folder is not None:
            for m in _read_json(e.folder / "summary.json").get("metrics", {}):
                metrics.setdefault(m, None)
    fields = [
        pa.field("run_id", pa.string()),
        pa.field("scenario", pa.string()),
        pa.field("scenario_id", pa.string()),
        pa.field("replication", pa.int64()),
        pa.field("seed", pa.int64()),
        pa.field("root_seed", pa.int64()),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("path", pa.string()),
        pa.field("wall_seconds", pa.float64()),
    ]
    fields += [pa.field(k, pa.string()) for k in extra_cols]
    fields += [pa.field(k, t) for k, t in pcols]
    fields += [pa.field(m, pa.float64()) for m in metrics if m not in leaf_names]
    schema = pa.schema(fields)
    ts_schema = pa.schema(
        [
            pa.field("run_id", pa.string()),
            pa.field("scenario", pa.string()),
            pa.field("replication", pa.int64()),
            pa.field("week", pa.int64()),
            pa.field("metric", pa.string()),
            pa.field("value", pa.float64()),
        ]
    )
    runs_path = folder / RUNS_FILE
    ts_path = folder / TIMESERIES_FILE
    tmp_runs = folder / f".{RUNS_FILE}.tmp-{os.getpid()}"
    tmp_ts = folder / f".{TIMESERIES_FILE}.tmp-{os.getpid()}"
    n_failed = 0
    n_ts = 0
    try:
        with (
            pq.ParquetWriter(tmp_runs, schema) as rw,
            pq.ParquetWriter(tmp_ts, ts_schema) as tw,
            _progress(len(entries), "collect") as bar,
        ):
            rows: list[dict[str, Any]] = []
            ts_parts: list[pa.Table] = []
            ts_rows = 0
            for e in entries:
                row, ts = _read_run(folder, e, plan, extra_cols, pcols, metrics, leaf_names)
                n_failed += row["status"] == "failed"
                rows.append(row)
                if ts is not None:
                    ts_parts.append(ts)
                    ts_rows += ts.num_rows
                if len(rows) >= ROWS_PER_GROUP:
                    rw.write_table(pa.Table.from_pylist(rows, schema=schema))
                    rows = []
                if ts_rows >= TS_ROWS_PER_GROUP:
                    tw.write_table(pa.concat_tables(ts_parts))
                    n_ts += ts_rows
                    ts_parts, ts_rows = [], 0
                bar.update(1)
            if rows:
                rw.write_table(pa.Table.from_pylist(rows, schema=schema))
            if ts_parts:
                tw.write_table(pa.concat_tables(ts_parts))
                n_ts += ts_rows
        os.replace(tmp_runs, runs_path)
        os.replace(tmp_ts, ts_path)
    finally:
        tmp_runs.unlink(missing_ok=True)
        tmp_ts.unlink(missing_ok=True)
    return Collected(runs_path, ts_path, len(entries), n_failed, n_ts, time.perf_counter() - t0)


def _read_run(
    folder: Path,
    e: _Entry,
    plan: dict[str, dict[str, Any]],
    extra_cols: list[str],
    pcols: list[tuple[str, pa.DataType]],
    metrics: dict[str, None],
    leaf_names: set[str],
) -> tuple[dict[str, Any], pa.Table | None]:
    d = _describe(e, plan)
    flat = _flatten(d["config"])
    row: dict[str, Any] = {
        "run_id": d["run_id"],
        "scenario": d["scenario"],
        "scenario_id": d["scenario_id"],
        "replication": d["replication"],
        "seed": d["seed"],
        "root_seed": d["root_seed"],
        "status": "complete" if e.folder is not None else "failed",
        "error": None if e.failure is None else e.failure.get("error"),
        "path": os.path.relpath(e.folder, folder) if e.folder is not None else None,
        "wall_seconds": d["wall_seconds"],
    }
    for k in extra_cols:
        row[k] = d["values"].get(k)
    for k, t in pcols:
        row[k] = _cell(flat.get(k), t)
    ts_table = None
    if e.folder is not None:
        summary = _read_json(e.folder / "summary.json").get("metrics", {})
        for m in metrics:
            if m not in leaf_names:
                row[m] = _cell(summary.get(m), pa.float64())
        ts_table = _long_timeseries(e.folder / "timeseries.parquet", d)
    return row, ts_table


def _long_timeseries(path: Path, d: dict[str, Any]) -> pa.Table:
    """One run's weekly table in long form: (run_id, scenario, replication, week, metric, value)."""
    import numpy as np

    t = pq.read_table(path)
    weeks = t.column("week").to_numpy().astype("int64")
    names = [c for c in t.column_names if c != "week"]
    n, k = len(weeks), len(names)
    values = np.empty(n * k, dtype="float64")
    for j, c in enumerate(names):
        col = t.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False)
        values[j * n : (j + 1) * n] = col
    return pa.table(
        {
            "run_id": pa.array([d["run_id"]] * (n * k), pa.string()),
            "scenario": pa.array([d["scenario"]] * (n * k), pa.string()),
            "replication": pa.array(np.full(n * k, int(d["replication"] or 0)), pa.int64()),
            "week": pa.array(np.tile(weeks, k), pa.int64()),
            "metric": pa.array(np.repeat(np.array(names, dtype=object), n), pa.string()),
            "value": pa.array(values, pa.float64()),
        }
    )


def iter_runs(folder: Path | str, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Rows of ``runs.parquet``, one batch at a time (for very large sweeps)."""
    pf = pq.ParquetFile(Path(folder) / RUNS_FILE)
    for batch in pf.iter_batches(columns=columns):
        yield from batch.to_pylist()


def cmd_collect(args: Any) -> int:
    """``carenet collect DIR``: write DIR/runs.parquet and DIR/timeseries.parquet."""
    from .cli import fail

    try:
        res = collect(Path(args.dir))
    except (FileNotFoundError, ValueError) as exc:
        return fail(f"collect: {exc}")
    print(
        f"carenet collect: {res.n_runs} runs ({res.n_failed} failed) in {res.seconds:.1f} s\n"
        f"  {res.runs_path}  (one row per run)\n"
        f"  {res.timeseries_path}  ({res.n_timeseries_rows:,} rows: run, week, metric, value)"
    )
    return 0
