"""Run one scenario: (configuration, seed) -> time series, summary, snapshots, manifest.

:func:`simulate` is the pure, Hydra-free core (no files); :func:`run_scenario` adds the
output folder, written atomically (:func:`publish`), so a folder either holds a finished
result or nothing of this run:

* a new folder is built as a hidden ``.NAME.partial-HOST-PID-XXXXXXXX`` beside it and
  renamed into place when complete;
* an existing empty folder (one the user made, with its own group, setgid bit and mode, or
  a mount point) is kept: the files are built in a hidden ``.carenet.partial-*`` folder
  inside it and moved in, ``manifest.json`` (``"status": "complete"``) last;
* a finished result replaced with ``overwrite=true`` is moved aside into a hidden
  ``.carenet.old-*`` folder inside it (manifest first) only once the new files are
  complete, and deleted after the new manifest is in place; a run killed in between is
  rolled back by the next run that writes there.

Writing into an existing folder holds a lock on it (``.carenet.lock``, :func:`hold_folder`,
the ``filelock`` library): a second run into the same folder at the same time stops with
one line naming the holder. Hidden folders and temporary files that a killed carenet
process left (its own names only, of a process no longer running on this host) are removed
the next time a run writes there. New folders get the usual permissions for the umask
(``0777 & ~umask``), files ``0666 & ~umask``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import functools
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import figure_ahead
from .config import to_dict
from .modelspec import spec_of

RESULT_FILES: tuple[str, ...] = (
    "timeseries.parquet",
    "summary.json",
    "network.json",
    "figures/overview.png",
    "manifest.json",
)

if TYPE_CHECKING:
    import pandas as pd

_TOP_LEVEL = frozenset(f.split("/", 1)[0] for f in RESULT_FILES)


class OutputError(ValueError):
    """The output folder cannot be used; the message is one line for the user."""


class FolderBusy(OutputError):
    """Another carenet process is writing into the folder; the message names it."""


class WriteError(RuntimeError):
    """The results could not be written (disk full, read-only ...); nothing was kept.

    Attributes:
        disk_full: Whether the cause was a full disk (or quota).
    """

    def __init__(self, message: str, disk_full: bool = False) -> None:
        super().__init__(message)
        self.disk_full = disk_full


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""OS errors that mean there is no room left to write."""

READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
"""OS errors that mean the folder cannot be written by this user."""


def is_disk_full_errno(exc: OSError) -> bool:
    """Whether an OS error means the disk (or quota) is full."""
    return exc.errno in DISK_FULL_ERRNOS


def os_reason(exc: OSError) -> str:
    """A short reason for an OS error, e.g. ``disk full (No space left on device)``."""
    text = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno in DISK_FULL_ERRNOS:
        return f"disk full ({text})"
    return text


def write_error(exc: OSError, folder: Path) -> WriteError:
    """The :class:`WriteError` for an OS error raised while writing into ``folder``."""
    full = exc.errno in DISK_FULL_ERRNOS
    hint = "free some space and run again" if full else "choose a folder you can write to"
    return WriteError(
        f"out: cannot write {str(folder)!r}: {os_reason(exc)}; nothing was kept; {hint}",
        disk_full=full,
    )


# --- carenet's own hidden names ----------------------------------------------------------

LOCK_NAME = ".carenet.lock"
"""The lock file of a folder carenet writes into (see :func:`hold_folder`)."""

HOLDER_NAME = ".carenet.holder"
"""Who holds the lock: pid, host and since when (JSON), removed when the lock is released."""

_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"
_OWNED = re.compile(
    r"^\.(?P<stem>.+)\.(?P<kind>partial|old|tmp)-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[a-z0-9]+$"
)
_LEGACY = re.compile(r"^\..+\.(partial|old)-[^/]*$")


def hidden_name(stem: str, kind: str) -> str:
    """A hidden temporary name ``.STEM.KIND-HOST-PID-XXXXXXXX`` owned by this process."""
    return f".{stem}.{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def is_own_hidden(name: str) -> bool:
    """Whether a name is one carenet makes itself (lock, holder, temporary names)."""
    return name in (LOCK_NAME, HOLDER_NAME) or bool(_OWNED.match(name) or _LEGACY.match(name))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def is_stale(name: str) -> bool:
    """Whether a carenet temporary name belongs to a process that is no longer running.

    Names of a process on another host are never stale (it cannot be checked from here);
    names in the format of earlier carenet versions (no host and pid) are.
    """
    m = _OWNED.match(name)
    if m is None:
        return bool(_LEGACY.match(name))
    if m["host"] != _HOST:
        return False
    pid = int(m["pid"])
    return pid != os.getpid() and not _pid_alive(pid)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def remove_stale(folder: Path, stem: str | None = None) -> list[str]:
    """Remove what killed carenet processes left in ``folder``, and roll back a replacement.

    Only carenet's own hidden names are touched (``.STEM.partial-*``, ``.STEM.old-*``,
    ``.STEM.tmp-*``, of ``stem`` only if given), and only those of a process that is no
    longer running (:func:`is_stale`). A ``.carenet.old-*`` folder holds a finished result
    that a killed ``overwrite=true`` run had moved aside: it is moved back when ``folder``
    holds no finished result, else deleted.

    Returns:
        The names removed or restored.
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    done = []
    for name in names:
        m = _OWNED.match(name)
        kind = m["kind"] if m else ("old" if ".old-" in name else "partial")
        if stem is not None and not name.startswith(f".{stem}."):
            continue
        if not is_stale(name):
            continue
        path = folder / name
        if kind == "old" and name.startswith(".carenet.") and path.is_dir():
            if not is_finished(folder) and is_finished(path):
                _restore(folder, path)
        elif kind == "old" and path.is_dir():  # beside: .NAME.old-* of an earlier version
            target = folder / name[1:].split(".old-", 1)[0]
            if not target.exists() and is_finished(path):
                with contextlib.suppress(OSError):
                    path.rename(target)
        _remove(path)
        done.append(name)
    return done


def _restore(folder: Path, old: Path) -> None:
    """Put the result kept in ``old`` back into ``folder`` (manifest last).

    The old result is moved aside completely before any new file is moved in, so the new
    files in ``folder`` are removed only when ``old`` holds every file of its manifest;
    otherwise what is in ``folder`` is the rest of the old result and stays.
    """
    kept = set(os.listdir(old))
    try:
        listed = json.loads((old / "manifest.json").read_text()).get("files") or []
    except (OSError, ValueError, AttributeError):
        listed = []
    whole = {str(f).split("/", 1)[0] for f in listed} <= kept
    for name in os.listdir(folder):
        if name in _TOP_LEVEL and (whole or name in kept):
            _remove(folder / name)
    for name in sorted(kept, key=lambda n: n == "manifest.json"):
        os.replace(old / name, folder / name)


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _holder_text(folder: Path) -> str:
    try:
        h = json.loads((folder / HOLDER_NAME).read_text())
        return f"pid {h['pid']} on {h['host']}, since {h['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


@contextlib.contextmanager
def hold_folder(folder: Path, what: str = "run") -> Iterator[None]:
    """Hold the lock of a folder carenet writes into, or stop at once if another holds it.

    The lock is ``folder/.carenet.lock`` (``filelock``, an OS lock that ends with the
    process, so a killed run never leaves a folder locked); ``folder/.carenet.holder``
    says who holds it while it is held.

    The empty lock file is left in place on release, on purpose: deleting it is not safe.
    A second process may have opened the path and be about to lock the file; if the file
    were deleted between its open and its lock, it would hold a lock on a deleted file
    while a third process creates a new lock file and locks that, and both would write
    into the folder. It is a hidden name of carenet's (see :func:`is_own_hidden`) and is
    never counted as a file of the result (:func:`visible_entries`).

    Args:
        folder: An existing folder.
        what: What takes the lock (``run`` or ``sweep``), for the message.

    Raises:
        FolderBusy: If another process holds the lock (the message names it).
        WriteError: If the lock file cannot be created (read-only folder, disk full).
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / LOCK_NAME), timeout=0, mode=0o666 & ~_umask())
    try:
        lock.acquire()
    except Timeout:
        raise FolderBusy(
            f"out: {str(folder)!r} is in use by another carenet {what} "
            f"({_holder_text(folder)}); wait for it to finish, then run again"
        ) from None
    except OSError as exc:
        raise write_error(exc, folder) from None
    holder = folder / HOLDER_NAME
    try:
        with contextlib.suppress(OSError):  # only for the message of a second process
            tmp = folder / hidden_name("carenet.holder", "tmp")
            try:
                tmp.write_text(
                    json.dumps(
                        {
                            "pid": os.getpid(),
                            "host": socket.gethostname(),
                            "since": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                            "what": what,
                        }
                    )
                )
                os.replace(tmp, holder)
            finally:
                tmp.unlink(missing_ok=True)
        yield
    finally:
        with contextlib.suppress(OSError):
            holder.unlink(missing_ok=True)
        lock.release()


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        summary: Whole-run metrics.
        columns: The time series as one NumPy array per metric (``week`` first), or
            None when the records hold values a plain array cannot (then only
            :attr:`timeseries` has them).
        artefacts: The model's extra results by file name (carenet's ``network.json``:
            network snapshots at the start and the end).
        seed: The run seed.
        seconds: Wall time of the simulation.
        out: The output folder, if written.
        stage_seconds: Time spent in each stage of the step (if profiled).
        records: The model's records, one dict per step, as its spec gave them.
    """

    summary: dict[str, float]
    columns: dict[str, np.ndarray] | None
    artefacts: dict[str, Any]
    seed: int
    seconds: float
    out: Path | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """One row per week, one column per metric (pandas is imported on first use)."""
        import pandas as pd

        if self.columns is not None:
            return pd.DataFrame(self.columns)
        ts = pd.DataFrame(self.records)
        if "week" in ts.columns:
            ts.insert(0, "week", ts.pop("week").astype("int64"))
        return ts

    @property
    def networks(self) -> dict[str, Any]:
        """Carenet's network snapshots (``network.json``), or an empty dict."""
        return self.artefacts.get("network.json", {})


_CONTROLLER: list[Any] = []
"""threadpoolctl's controller and the ``len(sys.modules)`` it was made at."""


def _blas_controller() -> Any:
    """The loaded thread pools as threadpoolctl sees them, seen again after new imports.

    ``threadpool_limits`` inspects every loaded shared library on each call (about 2.5 ms,
    once per run of a sweep); a controller made once lists them, and a new BLAS can only
    come with a newly imported extension module, so the view is renewed when
    ``sys.modules`` has grown.
    """
    from threadpoolctl import ThreadpoolController

    if not _CONTROLLER or _CONTROLLER[1] != len(sys.modules):
        controller = ThreadpoolController()  # may import modules itself
        _CONTROLLER[:] = [controller, len(sys.modules)]
    return _CONTROLLER[0]


def simulate(cfg: Any, seed: int | None = None, progress: bool = False) -> RunResult:
    """Build the model and run it for ``cfg.steps`` steps, writing nothing.

    Args:
        cfg: Validated configuration (its model's spec builds and runs it).
        seed: Run seed (default ``cfg.seed``).
        progress: Show a progress bar over steps.

    Returns:
        The run's result.
    """
    spec = spec_of(cfg)
    seed = int(cfg.seed if seed is None else seed)
    t0 = time.perf_counter()
    # One BLAS thread: the model's matrices are organisation-sized (n ~ 150-400), too
    # small to gain from threads, and OpenBLAS's spinning threads halve the speed on a
    # busy 2-core machine and oversubscribe parallel sweeps. Results are identical.
    with _blas_controller().limit(limits=1, user_api="blas"):
        model = spec.build(cfg, seed)
        _run_steps(spec, model, cfg.steps, progress)
    records = list(spec.records(model))
    summary = spec.summary(model)  # a spec may refuse a summary (a failed run)
    return RunResult(
        summary=summary,
        columns=record_columns(records),
        artefacts=spec.artefacts(model),
        seed=int(getattr(model, "seed_value", seed)),
        seconds=time.perf_counter() - t0,
        records=records,
    )


def _column(values: list[Any]) -> np.ndarray | None:
    """One column as pandas would type it (bool, int64 or float64), or None if neither."""
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return np.array(values, dtype=bool)
    if any(isinstance(v, (bool, np.bool_)) for v in values):
        return None  # pandas keeps a mix of booleans and numbers as objects
    if all(isinstance(v, (int, np.integer)) for v in values):
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            return None
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in values):
        return np.array(values, dtype=np.float64)
    return None


def record_columns(records: list[dict[str, Any]]) -> dict[str, np.ndarray] | None:
    """The records as columns, typed as ``pandas.DataFrame(records)`` types them.

    ``week`` (cast to int64) comes first, then the other keys in the records' order. Only
    plain numbers and booleans, with every key in every record, are taken; anything else
    (text, None, a key some records lack) gives None, and the time series is then
    pandas's own reading of the records.

    Args:
        records: One dict per step.

    Returns:
        One array per column, or None.
    """
    if not records:
        return None
    names = list(records[0])
    if any(len(r) != len(names) or any(k not in r for k in names) for r in records):
        return None
    columns: dict[str, np.ndarray] = {}
    for name in names:
        col = _column([r[name] for r in records])
        if col is None:
            return None
        columns[name] = col
    if "week" in columns:
        columns = {"week": columns.pop("week").astype(np.int64), **columns}
    return columns


def _arrow_column(col: np.ndarray) -> Any:
    """One column as pyarrow's ``from_pandas`` makes it (a float NaN is a null), from buffers.

    ``pa.array`` and ``pa.table`` ask whether their input is a pandas object, which imports
    pandas (about 0.4 s); an array made from the column's buffers does not.
    """
    import pyarrow as pa

    n = len(col)
    if col.dtype.kind == "b":
        bits = np.packbits(col, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    kind = pa.int64() if col.dtype.kind == "i" else pa.float64()
    data = pa.py_buffer(np.ascontiguousarray(col))
    missing = np.isnan(col) if col.dtype.kind == "f" else None
    if missing is None or not missing.any():
        return pa.Array.from_buffers(kind, n, [None, data], null_count=0)
    valid = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(kind, n, [valid, data], null_count=int(missing.sum()))


def write_timeseries(path: Path, result: RunResult) -> None:
    """Write the run's time series as Parquet, as ``DataFrame.to_parquet(index=False)`` does.

    The same columns, types and nulls (a NaN is written as a null, as pandas writes it);
    the file lacks only pandas's own schema note, which reading it back does not need.
    Records :func:`record_columns` declines are written by pandas itself.
    """
    if result.columns is None:
        result.timeseries.to_parquet(path, index=False)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = list(result.columns)
    table = pa.Table.from_arrays([_arrow_column(result.columns[k]) for k in names], names=names)
    with open(path, "wb") as f:  # a Python file, as pandas writes: a full disk is an OSError
        pq.write_table(table, f)


def _run_steps(spec: Any, model: Any, steps: int, progress: bool) -> None:
    """Run the model, with a progress bar (a terminal) or a line a tenth (a log) if asked."""
    if progress and not sys.stderr.isatty():
        # In a log file or CI: a plain line at every tenth of the run, no carriage returns.
        tenth = max(1, steps // 10)
        done = [0]

        def line(_m: Any) -> None:
            done[0] += 1
            if done[0] % tenth == 0 or done[0] == steps:
                print(f"weeks: {done[0]}/{steps}", file=sys.stderr, flush=True)

        spec.run(model, steps, line)
    elif not progress:
        # No tqdm object at all: creating one (even disabled) makes tqdm's
        # multiprocessing lock, a semaphore that a sweep worker killed by Ctrl-C would
        # leave behind ("leaked semaphore objects" at exit).
        spec.run(model, steps, None)
    else:
        from tqdm import tqdm

        bar = tqdm(
            total=steps,
            desc="weeks",
            unit="wk",
            file=sys.stderr,
            mininterval=0.5,
            leave=False,
        )
        with bar:
            spec.run(model, steps, lambda _m: bar.update(1))


def is_finished(folder: Path) -> bool:
    """Whether a folder holds a finished run (a manifest marked complete)."""
    m = Path(folder) / "manifest.json"
    if not m.is_file():
        return False
    try:
        return json.loads(m.read_text()).get("status") == "complete"
    except (OSError, ValueError):
        return False


def default_out(base: Path | str = "outputs") -> Path:
    """A new dated folder under ``base``: outputs/YYYY-MM-DD/HH-MM-SS[-n].

    Raises:
        OutputError: If the folder cannot be created (e.g. a read-only working folder).
    """
    now = _dt.datetime.now()
    day = Path(base) / now.strftime("%Y-%m-%d")
    stem = now.strftime("%H-%M-%S")
    k = 0
    made = [p for p in (day, *day.parents) if not p.exists() and not p.is_symlink()]
    try:
        day.mkdir(parents=True, exist_ok=True)
        while True:
            cand = day / (stem if k == 0 else f"{stem}-{k}")
            try:
                cand.mkdir()  # reserve it: two runs started in the same second get two folders
            except FileExistsError:
                k += 1
                continue
            _CREATED[cand] = [cand, *made]
            return cand
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            raise OutputError(f"out: {str(day)!r} is a file; give out=DIR") from None
        raise OutputError(
            f"out: cannot create {str(day)!r} for the results: {os_reason(exc)}; "
            "give out=DIR in a folder you can write to"
        ) from None


_CREATED: dict[Path, list[Path]] = {}
"""Folders :func:`default_out` created in this process, by the folder it returned."""


def release_default_out(out: Path) -> None:
    """Remove a folder :func:`default_out` made (and the dated parents it made) if empty.

    Only folders this process created and that are still empty are removed (``rmdir``
    fails on anything else, which is then kept): a run that failed or was interrupted
    leaves no empty ``outputs/DATE/TIME`` behind.
    """
    for folder in _CREATED.pop(Path(out), []):
        try:
            os.rmdir(folder)
        except OSError:
            return


def visible_entries(folder: Path) -> list[str]:
    """The names in a folder, without carenet's own hidden ones (lock, temporary names)."""
    return sorted(n for n in os.listdir(folder) if not is_own_hidden(n))


def writable_base(path: Path) -> Path:
    """``path`` or its nearest existing parent (where writing has to start)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def enclosing_sweep(out: Path) -> Path | None:
    """The nearest folder above ``out`` that holds a sweep (``sweep.json``), if any."""
    for parent in Path(os.path.abspath(out)).parents:
        if (parent / "sweep.json").is_file():
            return parent
    return None


def check_out(out: Path, overwrite: bool, *, sweep_run: bool = False) -> None:
    """Refuse an output folder that would lose something the user has, or cannot be written.

    Args:
        out: The run's folder.
        overwrite: Whether a finished result there may be replaced.
        sweep_run: The run is one of a sweep's (its folder is ``SWEEP/runs/<id>``).

    Raises:
        OutputError: If ``out`` is a file or a symbolic link to nothing, holds a sweep, is
            inside a sweep (unless ``sweep_run``: a single run there would corrupt the
            sweep), holds a finished result (unless ``overwrite``), holds anything else
            (never deleted, even with ``overwrite``), or it (or the folder it would be made
            in) cannot be written.
    """
    problem = path_problem(out)
    if problem:
        raise OutputError(problem)
    if not sweep_run:
        if out.is_dir() and (out / "sweep.json").exists():
            raise OutputError(
                f"out: {str(out)!r} holds a sweep; resume it with carenet run -m ... "
                f"out={out}, or choose another folder for a single run"
            )
        sweep = enclosing_sweep(out)
        if sweep is not None:
            raise OutputError(
                f"out: {str(out)!r} is inside sweep {str(sweep)!r}; a single run there "
                f"would corrupt it: rerun the sweep instead (carenet run -m ... out={sweep}), "
                "or choose a folder outside it"
            )
    if out.is_dir() and not is_finished(out):
        remove_stale(out, "carenet")  # roll back a replacement a killed run left half-done
    if out.is_dir() and visible_entries(out):
        if is_finished(out):
            if not overwrite:
                raise OutputError(
                    f"out: {str(out)!r} already holds a finished result; "
                    "add overwrite=true to replace it, or choose another folder"
                )
            foreign = _foreign_files(out)
            if foreign:
                raise OutputError(
                    f"out: {str(out)!r} also holds files that are not part of a carenet "
                    f"result (e.g. {foreign[0]!r}); overwriting would lose them: move them "
                    "or choose another folder"
                )
        else:
            raise OutputError(
                f"out: {str(out)!r} is not empty and holds no carenet result; "
                "choose an empty or new folder"
            )
    problem = write_problem(out)
    if problem:
        raise OutputError(problem)


def path_problem(out: Path) -> str | None:
    """Why ``out`` cannot be an output folder at all (a dangling link, a file), or None.

    Shared by a run's and a sweep's checks, which raise their own typed errors with it.
    """
    if out.is_symlink() and not out.exists():
        return (
            f"out: {str(out)!r} is a symbolic link to {os.readlink(out)!r}, which does not "
            "exist; create the folder it points to, or choose another folder"
        )
    if out.exists() and not out.is_dir():
        return f"out: {str(out)!r} is a file; give a folder"
    return None


def write_problem(out: Path) -> str | None:
    """Why ``out`` (or the folder it would be made in) cannot be written, or None."""
    base = writable_base(out)
    if base.is_dir() and not os.access(base, os.W_OK | os.X_OK):
        why = "read-only file system" if read_only_fs(base) else "permission denied"
        return (
            f"out: {str(out)!r} cannot be written ({str(base)!r}: {why}); "
            "choose a folder you can write to"
        )
    return None


def read_only_fs(path: Path) -> bool:
    """Whether ``path`` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _foreign_files(folder: Path) -> list[str]:
    """Files under ``folder`` that a carenet result does not consist of, sorted."""
    ours = set(RESULT_FILES)
    found = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if is_own_hidden(rel.split("/", 1)[0]):
            continue
        if p.is_dir():
            if rel != "figures":
                found.append(rel + "/")
        elif rel not in ours:
            found.append(rel)
    return [
        f for f in found if not any(f.startswith(d) and d != f for d in found if d.endswith("/"))
    ]


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _json_safe(x.item())
    return x


def write_json(path: Path, data: Any) -> None:
    """Write JSON with NaN/inf as null, sorted keys, two-space indent."""
    path.write_text(json.dumps(_json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n")


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("carenet", "mesa", "numpy", "pandas", "pyarrow", "networkx", "scipy", "hydra-core"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return tuple(out.items())


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a result depends on (read once per process)."""
    return dict(_versions())


@functools.cache
def git_revision() -> str | None:
    """The git revision of the carenet source, with ``-dirty`` if it has local changes.

    Read once per process: the code a process runs is the code it imported at start.
    """
    src = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "") if rev else None


def scenario_label(cfg: Any) -> dict[str, str]:
    """The names that identify a scenario (the model's labels, e.g. structure, rule...)."""
    return spec_of(cfg).labels(cfg)


def run_scenario(
    cfg: Any,
    out: Path | str | None = None,
    *,
    overwrite: bool | None = None,
    progress: bool | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    extra_manifest: dict[str, Any] | None = None,
    sweep_run: bool = False,
) -> RunResult:
    """Run one scenario and write its files into ``out``.

    Args:
        cfg: Validated configuration.
        out: Output folder (default ``cfg.out``, else a new dated folder under outputs/).
        overwrite: Replace a finished result in ``out`` (default ``cfg.overwrite``).
        progress: Show a progress bar (default ``cfg.progress``).
        seed: Run seed (default ``cfg.seed``).
        overrides: The command-line overrides, recorded in the manifest.
        extra_manifest: More fields for the manifest (e.g. sweep bookkeeping).
        sweep_run: The run is one of a sweep's (``out`` is ``SWEEP/runs/<id>``).

    Returns:
        The result, with ``out`` set.

    Raises:
        OutputError: If the folder cannot be used; nothing is written then.
        WriteError: If the files could not be written (disk full ...); nothing was kept.
    """
    overwrite = cfg.overwrite if overwrite is None else overwrite
    progress = cfg.progress if progress is None else progress
    reserved = not (out or cfg.out)
    out_path = Path(out or cfg.out or default_out()).expanduser()
    try:
        return _run_into(
            cfg, out_path, overwrite, progress, seed, overrides, extra_manifest, sweep_run, reserved
        )
    finally:
        if reserved:  # a run that failed or was interrupted leaves no empty dated folder
            release_default_out(out_path)


def _run_into(
    cfg: Any,
    out_path: Path,
    overwrite: bool,
    progress: bool,
    seed: int | None,
    overrides: list[str] | None,
    extra_manifest: dict[str, Any] | None,
    sweep_run: bool,
    reserved: bool,
) -> RunResult:
    check_out(out_path, overwrite, sweep_run=sweep_run)
    started = _dt.datetime.now(_dt.UTC)
    result = simulate(cfg, seed=seed, progress=progress)
    finished = _dt.datetime.now(_dt.UTC)
    manifest = {
        "status": "complete",
        "seed": result.seed,
        "config": to_dict(cfg),
        "overrides": list(overrides or []),
        "labels": scenario_label(cfg),
        "versions": versions(),
        "git_revision": git_revision(),
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "wall_seconds": result.seconds,
        "platform": platform.platform(),
        "command": sys.argv,
        "files": result_files(cfg, result),
    }
    manifest.update(extra_manifest or {})

    def write(folder: Path) -> None:
        write_result(folder, cfg, result)
        write_json(folder / "manifest.json", manifest)

    publish(out_path, write, overwrite=overwrite, replace_empty=reserved, sweep_run=sweep_run)
    result.out = out_path
    return result


def publish(
    out: Path,
    write: Callable[[Path], None],
    *,
    overwrite: bool,
    replace_empty: bool = False,
    sweep_run: bool = False,
) -> None:
    """Write a result into ``out`` atomically: complete (manifest last) or not at all.

    ``write(folder)`` writes every file of the result, ``manifest.json`` last, into a new
    hidden folder; it is then renamed into place (a new ``out``), or its files moved into
    an existing empty ``out`` (which keeps its group, mode and mount), or swapped with the
    finished result there (``overwrite``; the old one is deleted only once the new one is
    in place). Whatever fails, the hidden folder is removed and what ``out`` held stays.

    Args:
        out: The result folder.
        write: Writes the files into the folder it is given.
        overwrite: Replace a finished result in ``out``.
        replace_empty: ``out`` is an empty folder this process reserved (:func:`default_out`):
            replace it by a rename, with no lock.
        sweep_run: ``out`` is a run folder of a sweep (see :func:`check_out`).

    Raises:
        OutputError: If ``out`` cannot be used (or was taken by another run meanwhile).
        FolderBusy: If another run is writing into ``out``.
        WriteError: If writing failed (disk full, read-only ...); nothing was kept.
    """
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, out) from None
    remove_stale(parent, out.name)
    for _ in range(3):
        if out.is_dir() and not replace_empty:
            with hold_folder(out, "run"):
                remove_stale(out, "carenet")
                check_out(out, overwrite, sweep_run=sweep_run)  # it may have changed meanwhile
                _fill(out, write)
            return
        tmp = parent / hidden_name(out.name, "partial")
        try:
            os.mkdir(tmp)  # 0777 & ~umask, unlike tempfile.mkdtemp's 0700
            write(tmp)
            check_out(out, overwrite, sweep_run=sweep_run)
            os.rename(tmp, out)  # fails if another run put a result there meanwhile
            return
        except OSError as exc:
            _remove(tmp)
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise write_error(exc, out) from None
            replace_empty = False  # another run wrote there: check it, under its lock
        except BaseException:
            _remove(tmp)
            raise
    raise OutputError(f"out: {str(out)!r} keeps changing while carenet writes it; try again")


def _fill(out: Path, write: Callable[[Path], None]) -> None:
    """Write into the existing folder ``out`` (held): build inside, then move the files in."""
    tmp = out / hidden_name("carenet", "partial")
    old: Path | None = None
    moved: list[str] = []
    try:
        try:
            os.mkdir(tmp)
            write(tmp)
            if is_finished(out):  # overwrite: move the old result aside, manifest first
                _keep_modes(out, tmp)
                old = out / hidden_name("carenet", "old")
                os.mkdir(old)
                kept = [n for n in os.listdir(out) if n in _TOP_LEVEL]
                for name in sorted(kept, key=lambda n: n != "manifest.json"):
                    os.rename(out / name, old / name)
            for name in sorted(os.listdir(tmp), key=lambda n: n == "manifest.json"):
                os.rename(tmp / name, out / name)
                moved.append(name)
        except BaseException:
            for name in moved:
                _remove(out / name)
            if old is not None:
                _restore(out, old)
            raise
    except OSError as exc:
        raise write_error(exc, out) from None
    finally:
        _remove(tmp)
        if old is not None and (is_finished(out) or not _entries_or_none(old)):
            _remove(old)  # kept if it could not be put back: the next run restores it


def _keep_modes(old: Path, new: Path) -> None:
    """Give each new file the permission bits of the file it replaces (e.g. ``0660``).

    A result the user shared with a group (files ``0660`` in a setgid ``2770`` folder) stays
    shared after ``overwrite=true``, whatever this process's umask; new files with no
    counterpart keep ``0666 & ~umask``.
    """
    for path in new.rglob("*"):
        before = old / path.relative_to(new)
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink() and before.is_file():
                os.chmod(path, before.stat().st_mode & 0o7777)


def _entries_or_none(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def result_files(cfg: Any, result: RunResult) -> list[str]:
    """The files a run's folder holds, in :data:`RESULT_FILES` order, then the model's own."""
    written = {"timeseries.parquet", "summary.json", "manifest.json", *result.artefacts}
    if cfg.figures:
        written.add("figures/overview.png")
    listed = [f for f in RESULT_FILES if f in written]
    return listed + sorted(written - set(listed))


def write_result(folder: Path, cfg: Any, result: RunResult) -> None:
    """Write the time series, summary, the model's artefacts and the figure into ``folder``."""
    spec = spec_of(cfg)
    labels = scenario_label(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "figures" / "overview.png"
    from_columns = getattr(spec, "figure_from_columns", False) and result.columns
    drawn = None
    if cfg.figures:
        (folder / "figures").mkdir(exist_ok=True)
        ahead = figure_ahead.active() if from_columns else None
        if ahead is not None:  # the command's forked child draws while the files are written
            drawn = ahead.draw(spec.figure, result.columns, labels, path)
    try:
        write_timeseries(folder / "timeseries.parquet", result)
        write_json(
            folder / "summary.json",
            {
                "metrics": result.summary,
                "seed": result.seed,
                "steps": cfg.steps,
                **spec.describe(cfg),
                "labels": labels,
            },
        )
        for name, data in result.artefacts.items():
            write_json(folder / name, data)
    except BaseException:
        if drawn is not None:
            drawn()  # the child is done with the folder before it is removed
        raise
    if cfg.figures and (drawn is None or not drawn()):  # the child did not draw it
        if not spec.figure(result.columns if from_columns else result.timeseries, labels, path):
            from .plots import series_figure  # matplotlib is only imported when drawing

            series_figure(result.timeseries, spec.metrics, labels, path)


def headline_table(summary: dict[str, float], cfg: Any) -> str:
    """The headline metrics of a run as a small table under its scenario's labels.

    Args:
        summary: The run's summary metrics.
        cfg: Its configuration (its model's spec words the table).

    Returns:
        The table as text, one row per line.
    """
    return spec_of(cfg).headline(summary, cfg)
