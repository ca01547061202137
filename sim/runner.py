"""Run one scenario: (configuration, seed) -> time series, summary, snapshots, manifest.

:func:`simulate` is the pure, Hydra-free core (no files); :func:`run_scenario` adds the
output folder, written atomically: everything is written into a hidden temporary folder
beside the target and renamed into place only when complete, with ``manifest.json``
(``"status": "complete"``) as the last file, so a folder either holds a finished result
or nothing of this run.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from .config import to_dict
from .schema import CarenetConfig

RESULT_FILES: tuple[str, ...] = (
    "timeseries.parquet",
    "summary.json",
    "network.json",
    "figures/overview.png",
    "manifest.json",
)


class OutputError(ValueError):
    """The output folder cannot be used; the message is one line for the user."""


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        summary: Whole-run metrics.
        timeseries: One row per week, one column per metric.
        networks: Network snapshots at the start and the end.
        seed: The run seed.
        seconds: Wall time of the simulation.
        out: The output folder, if written.
        stage_seconds: Time spent in each stage of the step (if profiled).
    """

    summary: dict[str, float]
    timeseries: pd.DataFrame
    networks: dict[str, Any]
    seed: int
    seconds: float
    out: Path | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)


def simulate(cfg: CarenetConfig, seed: int | None = None, progress: bool = False) -> RunResult:
    """Build the model and run it for ``cfg.steps`` weeks, writing nothing.

    Args:
        cfg: Validated configuration.
        seed: Run seed (default ``cfg.seed``).
        progress: Show a progress bar over weeks.

    Returns:
        The run's result.
    """
    from tqdm import tqdm

    from carenet.models.model import CareSystemModel, check_summary

    t0 = time.perf_counter()
    # One BLAS thread: the model's matrices are organisation-sized (n ~ 150-400), too
    # small to gain from threads, and OpenBLAS's spinning threads halve the speed on a
    # busy 2-core machine and oversubscribe parallel sweeps. Results are identical.
    with threadpool_limits(limits=1, user_api="blas"):
        model = CareSystemModel(cfg, seed=seed)
        if progress and not sys.stderr.isatty():
            # In a log file or CI: a plain line at every tenth of the run, no carriage returns.
            tenth = max(1, cfg.steps // 10)

            def line(m: Any) -> None:
                if m.week % tenth == 0 or m.week == cfg.steps:
                    print(f"weeks: {m.week}/{cfg.steps}", file=sys.stderr, flush=True)

            model.run(cfg.steps, callback=line)
        else:
            bar = tqdm(
                total=cfg.steps,
                desc="weeks",
                unit="wk",
                disable=not progress,
                file=sys.stderr,
                mininterval=0.5,
                leave=False,
            )
            with bar:
                model.run(cfg.steps, callback=lambda _m: bar.update(1))
    ts = pd.DataFrame(model.records)
    ts.insert(0, "week", ts.pop("week").astype("int64"))
    summary = model.summary()
    check_summary(summary)  # a NaN headline metric makes the run a failed run
    return RunResult(
        summary=summary,
        timeseries=ts,
        networks={"initial": model.initial_snapshot, "final": model.network_snapshot()},
        seed=model.seed_value,
        seconds=time.perf_counter() - t0,
    )


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
    """A new dated folder under ``base``: outputs/YYYY-MM-DD/HH-MM-SS[-n]."""
    now = _dt.datetime.now()
    day = Path(base) / now.strftime("%Y-%m-%d")
    stem = now.strftime("%H-%M-%S")
    day.mkdir(parents=True, exist_ok=True)
    k = 0
    while True:
        cand = day / (stem if k == 0 else f"{stem}-{k}")
        try:
            cand.mkdir()  # reserve it: two runs started in the same second get two folders
        except FileExistsError:
            k += 1
            continue
        return cand


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an output folder that would lose something the user has.

    Raises:
        OutputError: If ``out`` is a file, holds a finished result (unless ``overwrite``),
            or holds anything else (never deleted, even with ``overwrite``).
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"out: {str(out)!r} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()):
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


def _foreign_files(folder: Path) -> list[str]:
    """Files under ``folder`` that a carenet result does not consist of, sorted."""
    ours = set(RESULT_FILES)
    found = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
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


def scenario_label(cfg: CarenetConfig) -> dict[str, str]:
    """The names that identify an arrangement: structure, rule, response, scenario."""
    rule = cfg.power_rule._target_ or cfg.power_rule.name
    return {
        "structure": cfg.structure.name,
        "power_rule": rule,
        "response": cfg.response.name,
        "scenario": cfg.scenario.name,
    }


def run_scenario(
    cfg: CarenetConfig,
    out: Path | str | None = None,
    *,
    overwrite: bool | None = None,
    progress: bool | None = None,
    seed: int | None = None,
    overrides: list[str] | None = None,
    extra_manifest: dict[str, Any] | None = None,
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

    Returns:
        The result, with ``out`` set.

    Raises:
        OutputError: If the folder cannot be used; nothing is written then.
    """
    overwrite = cfg.overwrite if overwrite is None else overwrite
    progress = cfg.progress if progress is None else progress
    out_path = Path(out or cfg.out or default_out()).expanduser()
    check_out(out_path, overwrite)
    started = _dt.datetime.now(_dt.UTC)
    result = simulate(cfg, seed=seed, progress=progress)
    finished = _dt.datetime.now(_dt.UTC)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.partial-", dir=out_path.parent))
    try:
        write_result(tmp, cfg, result)
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
            "files": [f for f in RESULT_FILES if cfg.figures or not f.startswith("figures/")],
        }
        manifest.update(extra_manifest or {})
        write_json(tmp / "manifest.json", manifest)
        check_out(out_path, overwrite)  # the folder may have changed while we ran
        if out_path.exists():
            old = out_path.with_name(f".{out_path.name}.old-{os.getpid()}")
            out_path.rename(old)
            tmp.rename(out_path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out = out_path
    return result


def write_result(folder: Path, cfg: CarenetConfig, result: RunResult) -> None:
    """Write the time series, summary, network snapshots and figure into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    result.timeseries.to_parquet(folder / "timeseries.parquet", index=False)
    write_json(
        folder / "summary.json",
        {
            "metrics": result.summary,
            "seed": result.seed,
            "steps": cfg.steps,
            "population": cfg.population.size,
            "labels": scenario_label(cfg),
        },
    )
    write_json(folder / "network.json", result.networks)
    if cfg.figures:
        from .plots import overview_figure  # matplotlib is only imported when drawing

        (folder / "figures").mkdir(exist_ok=True)
        overview_figure(result.timeseries, scenario_label(cfg), folder / "figures" / "overview.png")


HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("qalys_gained", "QALYs gained", "{:,.1f}"),
    ("qalys_lost", "QALYs lost", "{:,.1f}"),
    ("cost_total", "Total cost (GBP)", "{:,.0f}"),
    ("cost_direct", "  direct care", "{:,.0f}"),
    ("cost_transaction", "  transaction", "{:,.0f}"),
    ("cost_failure", "  failure", "{:,.0f}"),
    ("cost_connection", "  connection", "{:,.0f}"),
    ("net_monetary_benefit", "Net monetary benefit (GBP)", "{:,.0f}"),
    ("episodes_started", "Episodes started", "{:,.0f}"),
    ("episodes_completed", "Episodes completed", "{:,.0f}"),
    ("episodes_failed", "Episodes failed", "{:,.0f}"),
    ("emergency_admissions_per_1000", "Emergency admissions /1,000/yr", "{:,.1f}"),
    ("mean_wait_weeks", "Mean wait (weeks)", "{:,.2f}"),
    ("handoff_failure_rate", "Handoff failure rate", "{:.1%}"),
    ("continuity_index", "Continuity index", "{:.2f}"),
)


def headline_table(summary: dict[str, float]) -> str:
    """Format the headline metrics as a small two-column table."""
    rows = []
    for key, label, fmt in HEADLINE:
        v = summary.get(key, float("nan"))
        text = "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)
        rows.append(f"  {label:<32} {text:>16}")
    return "\n".join(rows)
