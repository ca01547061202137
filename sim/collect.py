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
renamed into place only when both are complete, so a failure (a full disk, say) leaves the
files that were there before and no temporary file.

``DIR`` is a sweep folder (``DIR/runs/<run_id>/``) or a folder of run folders. One run's own
folder (from ``carenet run``) is refused: its ``timeseries.parquet`` is the run's result
and must not be replaced by the long table. An existing ``runs.parquet`` or
``timeseries.parquet`` is replaced only when it is a table this command wrote (or the folder
is a sweep folder, where these names are carenet's); anything else is refused, never lost.

Unreadable input stops the command with one line naming the file: a ``sweep.json``, a run's
``manifest.json``, ``summary.json`` or ``timeseries.parquet`` that is truncated or not
what carenet writes (a run is never silently left out of the table).
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
from .sweep import FAILURES, RUNS, SWEEP_FILE, load_sweep, run_id, scenario_id, swept_of

RUNS_FILE = "runs.parquet"
TIMESERIES_FILE = "timeseries.parquet"
SKIPPED_PARAMS = ("seed", "out", "overwrite", "progress")
ROWS_PER_GROUP = 1000
TS_ROWS_PER_GROUP = 500_000

_ARROW_TYPES = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}


FIXED_COLUMNS = (
    "run_id",
    "scenario",
    "scenario_id",
    "replication",
    "seed",
    "root_seed",
    "status",
    "error",
    "path",
    "wall_seconds",
)
"""The columns every ``runs.parquet`` starts with."""

_ROOT_SEED_KEYS = ("seed",)
"""Swept keys whose values are already a fixed column (a swept ``seed`` is ``root_seed``)."""


def _swept_column(key: str) -> str:
    """The column of a swept key that is not a parameter, such as a group choice.

    Its own name, or ``KEY_option`` where that is a fixed column (a sweep over
    ``scenario=`` beside the ``scenario`` label).
    """
    return f"{key}_option" if key in FIXED_COLUMNS else key


class CollectError(ValueError):
    """The folder cannot be collected (bad input); the message is one line for the user."""


class ResultWriteError(RuntimeError):
    """A result file could not be written (e.g. a full disk); nothing was changed.

    The message is one line for the user.
    """


LONG_COLUMNS = ("run_id", "scenario", "replication", "week", "metric", "value")
"""Columns of the long ``timeseries.parquet`` this command writes."""


def is_sweep_folder(folder: Path) -> bool:
    """Whether ``folder`` is a sweep folder (``sweep.json`` or ``runs/`` made by carenet)."""
    folder = Path(folder)
    return (folder / SWEEP_FILE).is_file() or (folder / RUNS).is_dir()


SWEEP_NOTE = (
    "it records what the sweep ran and is needed for the scenario labels and the baseline: "
    "restore it, or run the sweep again"
)
"""What a damaged ``sweep.json`` means to ``collect`` and ``report``."""


def read_sweep_strict(folder: Path) -> dict[str, Any] | None:
    """The ``sweep.json`` of ``folder``; None if there is none.

    Raises:
        CollectError: If it exists but cannot be read or is not a sweep record.
    """
    return load_sweep(folder, SWEEP_NOTE, CollectError)


def check_input_folder(folder: Path, what: str) -> None:
    """Refuse, before any work, a folder that ``collect`` or ``report`` cannot use.

    A sweep's own ``runs/`` folder (the sweep folder above it is meant), and a folder that
    cannot be written (a read-only mount, no write permission): the tables and the report
    are written there.

    Raises:
        CollectError: One line naming the folder and what to give instead.
    """
    folder = Path(folder)
    parent = folder.resolve().parent
    if folder.resolve().name == RUNS and (parent / SWEEP_FILE).is_file():
        raise CollectError(
            f"{str(folder)!r} is the runs/ folder of the sweep in {str(parent)!r}; give the "
            f"sweep folder (carenet {what} {parent})"
        )
    readonly = False
    try:
        readonly = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        pass
    if readonly or not os.access(folder, os.W_OK | os.X_OK):
        why = "read-only file system" if readonly else "no permission to write there"
        raise CollectError(
            f"{str(folder)!r} cannot be written ({why}); carenet {what} writes its files "
            "into the sweep folder: copy the folder somewhere writable (cp -r) and run "
            f"carenet {what} on the copy"
        )


def running_sweep(folder: Path) -> str:
    """``""``, or a sentence naming the sweep that is still running in ``folder``."""
    from .runner import HOLDER_NAME, _holder_text

    try:
        sweep = read_sweep_strict(folder)
    except CollectError:
        return ""
    if not sweep or sweep.get("status") != "running":
        return ""
    held = (Path(folder) / HOLDER_NAME).exists()
    who = _holder_text(Path(folder)) if held else "no holder recorded: it may have been killed"
    return f"a sweep is still running there (sweep.json status running; {who})"


def planned_note(folder: Path, finished: int) -> str:
    """``"2 of 6 planned runs finished; 4 missing (sweep in progress)"``, or ``""``.

    Empty when ``sweep.json`` is missing or unreadable, or every planned run finished.
    """
    try:
        sweep = read_sweep_strict(folder)
    except CollectError:
        return ""
    if not sweep:
        return ""
    planned = len({r["run_id"] for r in sweep.get("runs", [])})
    if not planned or finished >= planned:
        return ""
    why = "sweep in progress" if running_sweep(folder) else "not run"
    return f"{finished} of {planned} planned runs finished; {planned - finished} missing ({why})"


def unexpected(exc: BaseException) -> str:
    """The one-line message for an error nobody foresaw (the traceback with CARENET_DEBUG=1)."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"failed: {type(exc).__name__}: {first} (the files there before are unchanged; "
        "set CARENET_DEBUG=1 to see the traceback)"
    )


def _why(exc: BaseException) -> str:
    """A short reason for an unreadable file."""
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON, truncated? {exc.msg} (line {exc.lineno})"
    if isinstance(exc, UnicodeDecodeError):
        return "not text"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return first[:200]


def read_run_json(path: Path) -> dict[str, Any]:
    """A JSON file of a finished run.

    Raises:
        CollectError: If it is missing, truncated or not a JSON object; names the file.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CollectError(
            f"{path}: unreadable ({_why(exc)}); this run's result is damaged: delete its "
            "folder and run it again (a sweep resumed with the same command reruns it), "
            "or move it away"
        ) from None
    if not isinstance(data, dict):
        raise CollectError(f"{path}: not what carenet writes (a JSON object); move it away")
    return data


def is_our_table(path: Path, columns: tuple[str, ...] | None = None) -> bool:
    """Whether ``path`` is a Parquet table with exactly ``columns`` (or runs.parquet's)."""
    try:
        names = pq.read_schema(path).names
    except Exception:  # noqa: BLE001 - anything unreadable is not recognisably ours
        return False
    if columns is not None:
        return tuple(names) == columns
    return {"run_id", "scenario", "scenario_id", "status", "path"} <= set(names)


def check_replaceable(folder: Path, targets: dict[str, Any], what: str) -> None:
    """Refuse to write over a file that this command did not write.

    Args:
        folder: Where the files go.
        targets: Relative path -> a function telling whether an existing file is ours.
        what: The command, for the message.

    Raises:
        CollectError: If a target exists and is not recognisably carenet's.
    """
    sweep = is_sweep_folder(folder)
    for rel, ours in targets.items():
        p = Path(folder) / rel
        if not (p.exists() or p.is_symlink()):
            continue
        if p.is_symlink() or not p.is_file():
            raise CollectError(
                f"{p}: is in the way of {what}'s {rel} and is not a file it wrote; "
                "move it, or collect into another folder"
            )
        if sweep or ours(p):
            continue
        raise CollectError(
            f"{p}: exists and was not written by carenet {what}; it is not replaced: move it "
            "away or give a folder made by a carenet sweep"
        )


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


def param_columns(model: str = "") -> list[tuple[str, pa.DataType]]:
    """Dotted parameter columns and their Arrow types, from the model's schema and run keys."""
    from carenet.params import iter_params

    from .modelspec import run_schema

    cols = []
    for key, f in iter_params(run_schema(model)):
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
    return read_run_json(path)


def _has_manifest(folder: Path) -> bool:
    return (Path(folder) / "manifest.json").exists()


def _finished_or_refuse(folder: Path) -> bool:
    """Whether a folder holds a finished run; an unreadable manifest stops the command."""
    if not _has_manifest(folder):
        return False
    if is_finished(folder):
        return True
    read_run_json(folder / "manifest.json")  # raises, naming the file, when unreadable
    return False  # a readable manifest of a run that did not finish


def _sweep_run_or_refuse(run: Path) -> bool:
    """A folder under a sweep's ``runs/`` is a finished run, or the command stops naming it.

    Runs are renamed into ``runs/`` whole, so one that is not finished was changed since.
    """
    if _finished_or_refuse(run):
        return True
    raise CollectError(
        f"{str(run)!r} is not a finished run (no complete manifest.json); rerun the sweep's "
        "command to run it again (the folder is kept aside), then collect"
    )


def find_runs(folder: Path) -> list[_Entry]:
    """Finished runs (and recorded failures) under ``folder``, in plan order if known.

    Raises:
        CollectError: If ``folder`` is one run's own folder, or a run's manifest, a failure
            record or ``sweep.json`` is unreadable.
    """
    folder = Path(folder)
    if _has_manifest(folder) and not (folder / RUNS).is_dir():
        raise CollectError(
            f"{str(folder)!r} is one run's folder (from carenet run), not a sweep: its files "
            "are the result already (summary.json, timeseries.parquet); to compare runs, "
            "run a sweep (carenet run -m ... or replications=N) or collect a folder that "
            "holds several run folders"
        )
    sweep = read_sweep_strict(folder)
    entries: list[_Entry] = []
    if (folder / RUNS).is_dir():
        names = {
            e.name
            for e in os.scandir(folder / RUNS)
            if e.is_dir() and not e.name.startswith(".") and _sweep_run_or_refuse(Path(e.path))
        }
        order = [r["run_id"] for r in sweep["runs"]] if sweep else []
        ordered = [n for n in order if n in names] + sorted(names - set(order))
        entries = [_Entry(n, folder / RUNS / n) for n in ordered]
        fail_dir = folder / FAILURES
        if fail_dir.is_dir():
            failed = sorted(p for p in fail_dir.glob("*.json") if p.stem not in names)
            for p in failed:
                entries.append(_Entry(p.stem, None, read_run_json(p)))
    elif folder.is_dir():
        subs = sorted(p for p in folder.iterdir() if p.is_dir() and _finished_or_refuse(p))
        entries = [_Entry(p.name, p) for p in subs]
    return entries


def _plan_lookup(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    sweep = read_sweep_strict(folder) or {}
    return {r["run_id"]: r for r in sweep.get("runs", [])}, swept_of(sweep)


def model_of(entries: list[_Entry]) -> str:
    """The model of a sweep's runs (``""``: the default), from the first run's config."""
    from .modelspec import MODEL_KEY

    for e in entries:
        if e.folder is not None:
            config = _read_json(e.folder / "manifest.json").get("config") or {}
        else:
            config = (e.failure or {}).get("config") or {}
        if isinstance(config, dict) and config:
            return str(config.get(MODEL_KEY) or "")
    return ""


def folder_model(folder: Path) -> str:
    """The model of the runs in a sweep folder (``""``: the default model)."""
    return model_of(find_runs(Path(folder)))


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


_COLUMN_TYPES = {
    "replication": pa.int64(),
    "seed": pa.int64(),
    "root_seed": pa.int64(),
    "week": pa.int64(),
    "wall_seconds": pa.float64(),
    "value": pa.float64(),
}
"""Arrow types of the fixed and long columns that are not strings."""


def collect(folder: Path | str) -> Collected:
    """Write ``runs.parquet`` and ``timeseries.parquet`` for the runs under ``folder``.

    Args:
        folder: A sweep folder, a folder of run folders, or one run folder.

    Returns:
        What was written.

    Raises:
        CollectError: If there is no such folder, it holds no finished or failed run, it is
            one run's own folder, an input file is unreadable, or a file of the same name
            that carenet did not write is in the way.
        ResultWriteError: If the tables cannot be written (nothing is changed then).
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    entries = _entries_to_collect(folder)
    plan, swept = _plan_lookup(folder)
    pcols = param_columns(model_of(entries))
    leaf_names = {k for k, _ in pcols}
    extra_cols = {
        _swept_column(k): k for k in swept if k not in leaf_names and k not in _ROOT_SEED_KEYS
    }
    # First pass, small files only: the union of metric names, in first-seen order.
    metrics: dict[str, None] = {}
    for e in entries:
        if e.folder is not None:
            for m in _metrics_of(e.folder):
                metrics.setdefault(m, None)
    fields = [pa.field(c, _COLUMN_TYPES.get(c, pa.string())) for c in FIXED_COLUMNS]
    fields += [pa.field(c, pa.string()) for c in extra_cols]
    fields += [pa.field(k, t) for k, t in pcols]
    fields += [pa.field(m, pa.float64()) for m in metrics if m not in leaf_names]
    schemas = (
        pa.schema(fields),
        pa.schema([pa.field(c, _COLUMN_TYPES.get(c, pa.string())) for c in LONG_COLUMNS]),
    )

    def read(e: _Entry) -> tuple[dict[str, Any], pa.Table | None]:
        return _read_run(folder, e, plan, extra_cols, pcols, metrics, leaf_names)

    runs_path, ts_path = folder / RUNS_FILE, folder / TIMESERIES_FILE
    n_failed, n_ts = _write_tables(folder, entries, read, schemas)
    note = planned_note(folder, len(entries))
    if note:
        print(f"carenet collect: {note}", file=sys.stderr, flush=True)
    return Collected(runs_path, ts_path, len(entries), n_failed, n_ts, time.perf_counter() - t0)


def _entries_to_collect(folder: Path) -> list[_Entry]:
    """The runs under ``folder``, after refusing a folder ``collect`` cannot use.

    Raises:
        CollectError: No such folder, a file, no run in it, or a table in the way.
    """
    if folder.exists() and not folder.is_dir():
        raise CollectError(f"{str(folder)!r} is a file, not a folder; give a sweep folder")
    if not folder.is_dir():
        raise CollectError(f"{str(folder)!r}: no such folder; give a sweep folder")
    check_input_folder(folder, "collect")
    entries = find_runs(folder)
    if not entries:
        running = running_sweep(folder)
        if running:
            raise CollectError(
                f"{str(folder)!r} holds no finished run yet: {running}; wait until its "
                "first runs finish, then collect"
            )
        raise CollectError(
            f"{str(folder)!r} holds no carenet run; give a sweep folder (carenet run -m ...)"
        )
    check_replaceable(
        folder,
        {RUNS_FILE: is_our_table, TIMESERIES_FILE: lambda p: is_our_table(p, LONG_COLUMNS)},
        "collect",
    )
    return entries


def _write_tables(
    folder: Path,
    entries: list[_Entry],
    read: Any,
    schemas: tuple[pa.Schema, pa.Schema],
) -> tuple[int, int]:
    """Write both tables atomically, in row groups; return (failed runs, time-series rows).

    Raises:
        ResultWriteError: If they cannot be written (the files there before are unchanged).
    """
    schema, ts_schema = schemas
    runs_path, ts_path = folder / RUNS_FILE, folder / TIMESERIES_FILE
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
                row, ts = read(e)
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
        os.replace(tmp_ts, ts_path)
        os.replace(tmp_runs, runs_path)
    except OSError as exc:
        raise ResultWriteError(
            f"could not write {runs_path} and {ts_path.name}: {_why(exc)} "
            "(the files there before are unchanged; free space or choose a writable folder)"
        ) from None
    finally:
        tmp_runs.unlink(missing_ok=True)
        tmp_ts.unlink(missing_ok=True)
    return n_failed, n_ts


def _read_run(
    folder: Path,
    e: _Entry,
    plan: dict[str, dict[str, Any]],
    extra_cols: dict[str, str],
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
    for c, k in extra_cols.items():
        row[c] = d["values"].get(k)
    for k, t in pcols:
        row[k] = _cell(flat.get(k), t)
    ts_table = None
    if e.folder is not None:
        summary = _metrics_of(e.folder)
        for m in metrics:
            if m not in leaf_names:
                row[m] = _cell(summary.get(m), pa.float64())
        ts_table = _long_timeseries(e.folder / "timeseries.parquet", d)
    return row, ts_table


def _metrics_of(run: Path) -> dict[str, Any]:
    """The ``metrics`` of a run's ``summary.json``; refuses, naming it, when unreadable."""
    path = run / "summary.json"
    metrics = read_run_json(path).get("metrics")
    if not isinstance(metrics, dict):
        raise CollectError(f"{path}: holds no metrics (not what carenet writes); move it away")
    return metrics


def _long_timeseries(path: Path, d: dict[str, Any]) -> pa.Table:
    """One run's weekly table in long form: (run_id, scenario, replication, week, metric, value)."""
    import numpy as np

    try:
        t = pq.read_table(path)
        weeks = t.column("week").to_numpy().astype("int64")
        names = [c for c in t.column_names if c != "week"]
        n, k = len(weeks), len(names)
        values = np.empty(n * k, dtype="float64")
        for j, c in enumerate(names):
            col = t.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False)
            values[j * n : (j + 1) * n] = col
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        raise CollectError(
            f"{path}: unreadable ({_why(exc)}); this run's result is damaged: delete its "
            "folder and run it again (a sweep resumed with the same command reruns it), "
            "or move it away"
        ) from None
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
