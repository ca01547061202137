"""Run a named experiment through the engine: one sweep per arm, then collect and report.

``carenet experiment run NAME [KEY=VALUE ...]`` ends here. In order:

1. **Plan** (:func:`plan_experiment`): merge the experiment's base overrides, its
   ``replications`` and ``seed`` with the user's (a user override replaces a base one of
   the same key; the keys the arms set are the design and cannot be overridden), and
   plan every arm's sweep with :func:`carenet.sim.sweep.plan_sweep`, so a bad value stops
   everything with one line before anything runs.
2. **Run** (:func:`run_experiment`): each arm is a sweep into ``OUT/arms/<arm>/``, started
   with :func:`carenet.commands.cmd_sweep` exactly as ``carenet run -m`` starts one: the
   same seeds (replication 0 is the root seed, the others spawned from it, the same in
   every arm: common random numbers), resume (a finished run is never run again), failure
   records (``failures/``) and launchers (``hydra/launcher=...`` passes through).
3. **Report** (:func:`report_experiment`): ``carenet collect`` and ``carenet report``
   each arm (``runs.parquet``, ``report.md``, ``figures/``), hand the collected runs to
   the experiment's analysis, and write its tables (``OUT/<table>.csv``) and
   ``OUT/report.md``.

Layout of an experiment folder (default ``outputs/experiments/<name>``, or ``out=DIR``)::

    OUT/experiment.json       what was asked: the experiment, overrides, arms, status
    OUT/report.md             the experiment's findings and its arms
    OUT/<table>.csv           the experiment's own tables
    OUT/arms/<arm>/           one sweep folder per arm (sweep.json, runs/, failures/,
                              runs.parquet, report.md, figures/)

Running the same command again resumes: finished runs are skipped, and a killed
experiment (or a failed run) continues where it stopped.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carenet.experiments.common import Findings, Results, Row
from carenet.experiments.declaration import Experiment, ExperimentError, override_key

EXPERIMENT_FILE = "experiment.json"
REPORT_FILE = "report.md"
ARMS = "arms"
DEFAULT_ROOT = Path("outputs") / "experiments"
"""Default parent of an experiment's folder (fixed, so that the same command resumes)."""

KIND = "carenet-experiment"


@dataclass
class ExperimentPlan:
    """An experiment, as asked for, ready to run.

    Attributes:
        experiment: The declaration.
        out: The experiment's folder.
        overrides: The user's overrides, as given (with ``out``).
        common: The overrides every run shares: base and user, with ``replications`` and
            ``seed``, without ``out``.
        arms: Arm id -> the full override list of its sweep (with ``out``).
        replications: Replications per scenario.
        seed: The root seed.
    """

    experiment: Experiment
    out: Path
    overrides: list[str]
    common: list[str]
    arms: dict[str, list[str]]
    replications: int = 1
    seed: int = 0

    def folder(self, arm_id: str) -> Path:
        """The sweep folder of an arm."""
        return self.out / ARMS / arm_id


def _value(override: str) -> Any:
    """The value of one plain override, as Hydra reads it (quotes removed)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides([override])[0].value()
    except Exception as exc:  # Hydra's grammar errors are long; keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExperimentError(f"override {override!r}: cannot be parsed ({first})") from None


def _is_sweep(override: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides([override])[0].is_sweep_override()
    except Exception:  # not readable: plan_sweep says why, in one line
        return False


def merge_overrides(exp: Experiment, overrides: list[str]) -> tuple[Path | None, list[str]]:
    """The experiment's folder (if given) and the overrides every run shares.

    Raises:
        ExperimentError: For an override that is not KEY=VALUE, one that sweeps values (the
            experiment declares its own scenarios) or one that changes a key the arms set.
    """
    from carenet.sim.sweep import is_hydra_override

    design: dict[str, list[str]] = {}
    for arm in exp.arms:
        for key in arm.keys:
            design.setdefault(key, []).append(arm.id)
    common = [*exp.base, f"replications={exp.replications}", f"seed={exp.seed}"]
    out: Path | None = None
    for ov in overrides:
        if "=" not in ov:
            raise ExperimentError(f"override {ov!r}: expected KEY=VALUE (e.g. steps=52)")
        key = override_key(ov)
        if key == "out":
            out = Path(str(_value(ov))).expanduser()
            continue
        if key in design:
            raise ExperimentError(
                f"{key}: set by the experiment's arms ({', '.join(design[key])}), so it cannot "
                "be overridden here; vary it with carenet run -m"
            )
        if not is_hydra_override(ov) and _is_sweep(ov):
            raise ExperimentError(
                f"{key}: the experiment declares its own scenarios; give one value "
                f"(sweep it with carenet run -m {ov})"
            )
        common = [c for c in common if override_key(c) != key] + [ov]
    return out, common


def plan_experiment(exp: Experiment, overrides: list[str]) -> ExperimentPlan:
    """Merge the overrides and plan (compose and validate) every arm's sweep.

    Raises:
        ExperimentError: See :func:`merge_overrides`.
        ValueError: ``ConfigError`` or ``SweepError`` of the first arm that cannot be
            planned (a value not allowed, a bad launcher option ...), one line.
    """
    from carenet.sim.app import quote
    from carenet.sim.sweep import is_hydra_override, plan_sweep

    out, common = merge_overrides(exp, list(overrides))
    out = out or DEFAULT_ROOT / exp.name
    jobs = [ov for ov in common if not is_hydra_override(ov)]
    hydra = [ov for ov in common if is_hydra_override(ov)]
    plan = ExperimentPlan(exp, out, list(overrides), common, {})
    for arm in exp.arms:
        folder = plan.folder(arm.id)
        plan.arms[arm.id] = [*jobs, *arm.overrides, f"out={quote(str(folder))}", *hydra]
        swept = plan_sweep(plan.arms[arm.id], multirun=True)
        plan.replications = swept.max_replications
        plan.seed = int(swept.scenarios[0]["root_seed"])
    return plan


# --- the folder -------------------------------------------------------------------------


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The ``experiment.json`` of a folder, or None if there is none.

    Raises:
        ExperimentError: If it is there but unreadable or not a carenet experiment file.
    """
    p = out / EXPERIMENT_FILE
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"{EXPERIMENT_FILE}: {str(p)!r} cannot be read ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ExperimentError(f"{EXPERIMENT_FILE}: {str(p)!r} is not a carenet experiment file")
    return data


def check_folder(plan: ExperimentPlan) -> dict[str, Any] | None:
    """Check that ``plan.out`` can take this experiment; its ``experiment.json`` if any.

    Raises:
        ExperimentError: If it is a file, holds something else, or another experiment.
    """
    from carenet.sim.runner import visible_entries

    out, name = plan.out, plan.experiment.name
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"out: {str(out)!r} is a file; give a folder")
    previous = read_manifest(out) if out.is_dir() else None
    if previous is None and out.is_dir() and visible_entries(out):
        raise ExperimentError(
            f"out: {str(out)!r} is not empty and holds no carenet experiment; "
            "choose an empty or new folder"
        )
    if previous is not None and previous.get("experiment") != name:
        raise ExperimentError(
            f"out: {str(out)!r} holds experiment {previous.get('experiment')!r}, not "
            f"{name!r}; choose another folder"
        )
    return previous


def write_atomic(path: Path, text: str) -> None:
    """Write text through a temporary file and a rename (never half-written)."""
    from carenet.sim.runner import hidden_name

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(hidden_name(path.name, "tmp"))
    try:
        tmp.write_text(text, "utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_manifest(plan: ExperimentPlan, status: str, previous: dict[str, Any] | None) -> None:
    """Write ``OUT/experiment.json``: what was asked, the arms, and where they are."""
    exp = plan.experiment
    invocations = list((previous or {}).get("invocations", []))
    if status == "running":
        invocations.append(
            {"started": _dt.datetime.now(_dt.UTC).isoformat(), "overrides": plan.overrides}
        )
    manifest = {
        "kind": KIND,
        "experiment": exp.name,
        "description": exp.description,
        "status": status,
        "common_overrides": plan.common,
        "replications": plan.replications,
        "seed": plan.seed,
        "arms": [
            {
                "id": arm.id,
                "label": arm.label,
                "overrides": plan.arms[arm.id],
                "folder": f"{ARMS}/{arm.id}",
            }
            for arm in exp.arms
        ],
        "invocations": invocations,
    }
    write_atomic(plan.out / EXPERIMENT_FILE, json.dumps(manifest, indent=2) + "\n")


# --- run and report ---------------------------------------------------------------------


def run_experiment(plan: ExperimentPlan, arm_reports: bool = True) -> int:
    """Run every arm's sweep (resuming what is there), then collect and report.

    Args:
        plan: From :func:`plan_experiment`.
        arm_reports: Also write each arm's ``carenet report`` (see :func:`report_experiment`).

    Returns:
        0 when every run finished and the report is written; 1 when a run failed or did
        not finish (rerun the same command to resume); 2 for bad input.
    """
    from carenet.commands import cmd_sweep

    previous = check_folder(plan)
    plan.out.mkdir(parents=True, exist_ok=True)
    write_manifest(plan, "running", previous)
    arms = plan.experiment.arms
    incomplete = []
    for i, arm in enumerate(arms, 1):
        print(f"carenet experiment {plan.experiment.name}: arm {i}/{len(arms)}, {arm.label}")
        args = argparse.Namespace(command="experiment", multirun=True, overrides=plan.arms[arm.id])
        rc = cmd_sweep(args)
        if rc == 2:  # bad input (e.g. an arm's folder holds a different sweep): stop here
            if previous is not None:  # this invocation did not happen: keep the record true
                write_atomic(plan.out / EXPERIMENT_FILE, json.dumps(previous, indent=2) + "\n")
            return 2
        if rc != 0:
            incomplete.append(arm.id)
    if incomplete:
        write_manifest(plan, "incomplete", read_manifest(plan.out))
        print(
            f"carenet: error: experiment {plan.experiment.name}: arm(s) "
            f"{', '.join(incomplete)} did not finish; rerun the same command to resume",
            file=sys.stderr,
        )
        return 1
    findings = report_experiment(plan, arm_reports)
    write_manifest(plan, "complete", read_manifest(plan.out))
    print(findings.markdown)
    print(f"\nReport in {plan.out / REPORT_FILE}")
    return 0


def arm_runs(folder: Path) -> list[Row]:
    """``carenet collect`` an arm's sweep folder and return its runs, in plan order.

    Raises:
        ExperimentError: If a planned run of the arm has not finished.
    """
    import pandas as pd

    from carenet.sim.collect import RUNS_FILE, collect
    from carenet.sim.sweep import load_sweep

    collect(folder)
    sweep = load_sweep(folder) or {}
    planned = [r["run_id"] for r in sweep.get("runs", [])]
    table = pd.read_parquet(folder / RUNS_FILE)
    done = table[table["status"] == "complete"]
    rows = {r["run_id"]: r for r in done.to_dict("records")}
    missing = [rid for rid in planned if rid not in rows]
    if missing or not planned:
        raise ExperimentError(
            f"{folder}: {len(missing)} of {len(planned)} planned runs have not finished; "
            "rerun carenet experiment run with the same overrides to resume them"
        )
    return [rows[rid] for rid in planned]


def analyse(plan: ExperimentPlan, runs: dict[str, list[Row]]) -> Findings:
    """Hand the arms' runs to the experiment's analysis function (``module:function``)."""
    from carenet.sim.sweep import is_hydra_override

    module, _, func = plan.experiment.analysis.partition(":")
    try:
        analysis = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise ExperimentError(
            f"{plan.experiment.name}.yaml: analysis {plan.experiment.analysis!r} cannot be "
            f"loaded ({type(exc).__name__}: {exc})"
        ) from None
    run_keys = ("replications", "seed")
    shared = [
        ov for ov in plan.common if override_key(ov) not in run_keys and not is_hydra_override(ov)
    ]
    folders = {arm.id: plan.folder(arm.id) for arm in plan.experiment.arms}
    return analysis(Results(plan.experiment, runs, shared, plan.replications, plan.seed, folders))


def report_experiment(plan: ExperimentPlan, arm_reports: bool = True) -> Findings:
    """Collect (and report) every arm, analyse, and write the experiment's files.

    Args:
        plan: The experiment (its arms finished).
        arm_reports: Also write each arm's ``carenet report`` (report.md, figures/).

    Returns:
        The findings, also written to ``OUT/report.md`` and ``OUT/<table>.csv``.

    Raises:
        ExperimentError: If an arm has runs that have not finished.
        ValueError: ``CollectError`` / ``ReportError`` of an arm, one line.
    """
    from carenet.sim.design import read_record
    from carenet.sim.report import build_report

    runs = {}
    for arm in plan.experiment.arms:
        runs[arm.id] = arm_runs(plan.folder(arm.id))
        # A design's arm has a scenario per sample point: its report is the analysis's
        # (carenet analyse, carenet discover), not a table of every point.
        if arm_reports and read_record(plan.folder(arm.id)) is None:
            build_report(plan.folder(arm.id))
    findings = analyse(plan, runs)
    for stem, table in findings.tables.items():
        write_atomic(plan.out / f"{stem}.csv", table.to_csv(index=False))
    save_figures(plan.out / "figures", findings.figures)
    write_atomic(plan.out / REPORT_FILE, report_text(plan, runs, findings))
    return findings


def save_figures(folder: Path, figures: dict[str, Any]) -> None:
    """Save each figure as ``folder/<stem>.png`` (through a temporary name) and close it."""
    import matplotlib.pyplot as plt

    from carenet.sim.runner import hidden_name

    for stem, fig in figures.items():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / hidden_name(f"{stem}.png", "tmp")
        try:
            fig.savefig(tmp, dpi=110, format="png")
            os.replace(tmp, folder / f"{stem}.png")
        finally:
            tmp.unlink(missing_ok=True)
            plt.close(fig)


def report_text(plan: ExperimentPlan, runs: dict[str, list[Row]], findings: Findings) -> str:
    """``OUT/report.md``: the findings, the arms and their folders, and how to rerun."""
    exp = plan.experiment
    lines = [
        f"# Experiment: {exp.name}",
        "",
        f"{exp.description[:1].upper()}{exp.description[1:]}.",
        "",
        "Rerun (resumes; nothing finished is run again): "
        f"`{' '.join(['carenet experiment run', exp.name, *plan.overrides])}`",
        "",
        findings.markdown,
        "",
        "## Arms",
        "",
        f"Every run: `{' '.join(plan.common)}`. Each arm is a sweep folder "
        "(`carenet collect` and `carenet report` work on it).",
        "",
        "| arm | overrides | runs | report |",
        "|---|---|---:|---|",
    ]
    for arm in exp.arms:
        rel = f"{ARMS}/{arm.id}"
        lines.append(
            f"| {arm.label} | `{' '.join(arm.overrides)}` | {len(runs[arm.id])} "
            f"| [{rel}/report.md]({rel}/report.md) |"
        )
    if findings.tables:
        lines += ["", "Tables: " + ", ".join(f"`{s}.csv`" for s in findings.tables) + "."]
    for stem in findings.figures:
        lines += ["", f"![{stem}](figures/{stem}.png)"]
    return "\n".join(lines).rstrip() + "\n"
