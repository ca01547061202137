"""The commands that run the engine: ``carenet run -m``, ``collect``, ``report``, ``reproduce``.

This is the command layer, with :mod:`carenet.cli`: the engine modules raise typed
errors (:class:`~carenet.params.ConfigError`, :class:`~carenet.sim.sweep.SweepError`,
:class:`~carenet.sim.runner.OutputError`, :class:`~carenet.sim.collect.CollectError`...),
each with a one-line message, and only these functions turn them into a line on stderr
and an exit code (2: bad input, nothing done; 1: something failed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from carenet.cli import fail

PLAN_NOTE_AT = 1000
"""A sweep of at least this many combinations says so before planning them."""


def cmd_sweep(args: Any) -> int:
    """``carenet run -m ...`` and ``carenet run replications=N``: run a sweep.

    SIGTERM is answered like Ctrl-C (the workers are stopped, the folder stays
    resumable), with one line and exit code 143.
    """
    from carenet.sim.sweep import Terminated, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            return _sweep(args)
    except Terminated:
        return fail("terminated; rerun the same command to resume", 143)


def _plan_note(n: int) -> None:
    if n >= PLAN_NOTE_AT:
        print(f"carenet sweep: planning {n:,} combinations (checking each one)...", flush=True)


def _sweep(args: Any) -> int:
    """``carenet run -m ...`` and ``carenet run replications=N``: run a sweep.

    Returns:
        0 when every planned run is finished, 1 when some failed or are missing, 2 for
        bad input (nothing run).
    """
    from carenet.sim.config import ConfigError
    from carenet.sim.runner import OutputError, WriteError
    from carenet.sim.sweep import SweepError, plan_sweep, run_sweep

    try:
        plan = plan_sweep(list(args.overrides), multirun=bool(args.multirun), on_plan=_plan_note)
    except (ConfigError, SweepError, OutputError) as exc:
        return fail(str(exc))
    _say_plan(plan)
    try:
        result = run_sweep(plan)
    except (SweepError, OutputError) as exc:
        return fail(str(exc))
    except WriteError as exc:
        return fail(str(exc), 1)
    except OSError as exc:  # the sweep folder failed under the launcher
        if os.environ.get("CARENET_DEBUG"):
            raise
        from carenet.sim.runner import os_reason

        return fail(
            f"the sweep failed: {os_reason(exc)} ({exc.filename or plan.out}); "
            "rerun the same command to resume (set CARENET_DEBUG=1 to see the traceback)",
            1,
        )
    return _say_result(plan, result)


def _say_plan(plan: Any) -> None:
    """One line: how many scenarios and replications, into which folder, by what launcher."""
    n_sc = len(plan.scenarios)
    reps = sorted({s["replications"] for s in plan.scenarios})
    rep_text = str(reps[0]) if len(reps) == 1 else f"{reps[0]}-{reps[-1]}"
    print(
        f"carenet sweep: {n_sc} scenario{'s' if n_sc != 1 else ''} × {rep_text} "
        f"replication{'s' if reps != [1] else ''} = {len(plan.runs)} runs "
        f"into {plan.out}/ (launcher: {plan.launcher})",
        flush=True,
    )


def _say_result(plan: Any, result: dict[str, Any]) -> int:
    """Tell what the sweep did: counts, a full disk, failed and missing runs; the exit code."""
    from carenet.sim.sweep import FAILURES, _nearly_full, _read_json

    c = result["counts"]
    print(
        f"carenet sweep: {c['finished']}/{c['planned']} runs finished "
        f"({c['already_finished']} already there), {c['failed']} failed, "
        f"{c['missing']} missing, in {result['_seconds']:.1f} s",
        flush=True,
    )
    if result["_launch_error"]:
        print(f"carenet: error: {result['_launch_error']}", file=sys.stderr)
    records = {
        f["run_id"]: _read_json(plan.out / FAILURES / f"{f['run_id']}.json") or f
        for f in result["failures"]
    }
    full = {rid for rid, rec in records.items() if rec.get("disk_full")}
    if full or (result["_missing"] and _nearly_full(plan.out)):
        n = len(full) + len(result["_missing"])
        print(
            f"carenet: error: disk full: {n} run(s) could not be written into {plan.out}/ "
            "(No space left on device); free some space and rerun the same command to "
            "resume",
            file=sys.stderr,
        )
        return 1
    if records:
        _say_failures(plan, records)
    if result["_missing"]:
        print(
            f"carenet: {len(result['_missing'])} run(s) did not finish; "
            "rerun the same command to resume",
            file=sys.stderr,
        )
    print(f"Results in {plan.out}/  (next: carenet collect {plan.out}; carenet report {plan.out})")
    return 0 if result["status"] == "complete" else 1


def _say_failures(plan: Any, records: dict[str, dict[str, Any]]) -> None:
    """One line a failed run, and where their records are."""
    from carenet.sim.sweep import FAILURES, describe_failure

    by_id = {r.run_id: r for r in plan.runs}
    print(f"carenet: {len(records)} run(s) failed:", file=sys.stderr)
    for rid, rec in records.items():
        print(f"  {describe_failure(rid, rec, by_id.get(rid))}", file=sys.stderr)
    print(
        f"  details (config, seed, traceback) in {plan.out / FAILURES}/; "
        "rerun the same command to retry them",
        file=sys.stderr,
    )


def _guarded(name: str, call: Callable[[], Any], bad: type[Exception]) -> tuple[Any, int | None]:
    """Run ``call`` for command ``name``; its errors as one line and an exit code.

    Returns:
        ``(result, None)``, or ``(None, code)`` once the line is printed: 2 for ``bad``
        (bad input, nothing done), 1 for a failed write or anything unexpected.
    """
    from carenet.sim.collect import ResultWriteError, unexpected

    try:
        return call(), None
    except bad as exc:
        return None, fail(f"{name}: {exc}")
    except ResultWriteError as exc:
        return None, fail(f"{name}: {exc}", 1)
    except Exception as exc:
        if os.environ.get("CARENET_DEBUG"):
            raise
        return None, fail(f"{name}: {unexpected(exc)}", 1)


def cmd_collect(args: Any) -> int:
    """``carenet collect DIR``: write DIR/runs.parquet and DIR/timeseries.parquet."""
    from carenet.sim.collect import CollectError, collect

    res, code = _guarded("collect", lambda: collect(Path(args.dir)), CollectError)
    if code is not None:
        return code
    print(
        f"carenet collect: {res.n_runs} runs ({res.n_failed} failed) in {res.seconds:.1f} s\n"
        f"  {res.runs_path}  (one row per run)\n"
        f"  {res.timeseries_path}  ({res.n_timeseries_rows:,} rows: run, week, metric, value)"
    )
    return 0


def cmd_report(args: Any) -> int:
    """``carenet report DIR [--baseline NAME]``: write DIR/report.md and DIR/figures/."""
    from carenet.sim.report import ReportError, build_report

    baseline = getattr(args, "baseline", None)
    path, code = _guarded("report", lambda: build_report(Path(args.dir), baseline), ReportError)
    if code is not None:
        return code
    if path.name == "cea.md":  # a PSA's report: the reporting checklists beside it
        from carenet.tools.checklists import write_checklists

        write_checklists(path)
    print(f"carenet report: {path}  (figures in {path.parent / 'figures'}/)")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """CLI: rerun a saved run and check that every number matches."""
    from carenet.sim.collect import unexpected
    from carenet.sim.config import ConfigError
    from carenet.sim.reproduce import ReproduceError, compare
    from carenet.sim.runner import versions

    run_dir: Path = args.dir
    try:
        diffs, manifest = compare(run_dir)
    except ReproduceError as exc:
        return fail(f"reproduce: {exc}")
    except ConfigError as exc:
        return fail(f"reproduce: the saved configuration is not valid here: {exc}")
    except Exception as exc:  # e.g. a user-written rule that raises during the rerun
        if os.environ.get("CARENET_DEBUG"):
            raise
        return fail(f"reproduce: {unexpected(exc)}", 1)
    if not diffs:
        print(f"reproduced exactly: {run_dir} (seed {manifest['seed']})")
        return 0
    print(f"NOT reproduced: {len(diffs)} difference(s) in {run_dir}")
    for line in diffs[:20]:
        print(f"  {line}")
    then, now = manifest.get("versions", {}), versions()
    changed = [f"{k} {then.get(k)} -> {now.get(k)}" for k in now if then.get(k) != now.get(k)]
    if changed:
        print("  versions changed since the run: " + "; ".join(changed))
    if manifest.get("git_revision"):
        print(f"  the run was made at git revision {manifest['git_revision']}")
    return 1
