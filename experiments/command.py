"""``carenet experiment``: list, run and report the named experiments.

Subcommands::

    carenet experiment list                         the named experiments and their arms
    carenet experiment run NAME [KEY=VALUE ...]     run (or resume) one into out=DIR
    carenet experiment report NAME [out=DIR]        collect, report and analyse it again

``KEY=VALUE`` overrides apply to every run (``population=small steps=26``), ``out=DIR``
chooses the folder (default ``outputs/experiments/NAME``) and ``hydra/launcher=...`` with
its options chooses where the runs go, as for ``carenet run -m``. Bad input ends with one
line on stderr and exit code 2, before anything runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

ACTIONS = ("list", "run", "report")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``carenet experiment`` (also of ``python -m`` entry points)."""
    p.add_argument("action", choices=ACTIONS, help="list, run or report")
    p.add_argument("name", nargs="?", metavar="NAME", help="a named experiment (see list)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="Hydra overrides for every run, out=DIR, hydra/launcher=... (as carenet run -m)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the experiment's small version (if it declares one), into NAME-quick",
    )


def _fail(msg: str, code: int = 2) -> int:
    print(f"carenet: error: {msg}", file=sys.stderr)
    return code


def cmd_list() -> int:
    """Print the named experiments: name, description, arms and replications."""
    from carenet.experiments.declaration import load, names

    for name in names():
        exp = load(name)
        print(f"{name}: {exp.description}")
        print(f"  {len(exp.arms)} arms x {exp.replications} replications (seed {exp.seed})")
        for arm in exp.arms:
            print(f"    {arm.id:<28}{' '.join(arm.overrides)}")
    return 0


def _load(name: str, quick: bool = False) -> Any:
    """The experiment called ``name``, or its quick version."""
    from carenet.experiments.declaration import load, quick_version

    return quick_version(load(name)) if quick else load(name)


def _report(name: str, overrides: list[str], quick: bool = False) -> int:
    """Collect, report and analyse an experiment's folder again (nothing is run)."""
    from carenet.experiments.declaration import ExperimentError, override_key
    from carenet.experiments.runner import (
        DEFAULT_ROOT,
        merge_overrides,
        plan_experiment,
        read_manifest,
        report_experiment,
    )
    from carenet.sim.app import quote

    exp = _load(name, quick)
    name = exp.name
    extra = [ov for ov in overrides if override_key(ov) != "out"]
    if extra:
        raise ExperimentError(f"report takes only out=DIR, not {extra[0]!r}")
    out = merge_overrides(exp, overrides)[0] or DEFAULT_ROOT / name
    manifest = read_manifest(out) if out.is_dir() else None
    if manifest is None or manifest.get("experiment") != name:
        raise ExperimentError(f"out: {str(out)!r} holds no run of experiment {name!r}")
    asked = (manifest.get("invocations") or [{}])[-1].get("overrides", [])
    again = [ov for ov in asked if override_key(ov) != "out"]
    plan = plan_experiment(exp, [*again, f"out={quote(str(out))}"])
    findings = report_experiment(plan)
    print(findings.markdown)
    print(f"\nReport in {plan.out / 'report.md'}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    """``carenet experiment ACTION [NAME] [KEY=VALUE ...]``.

    Returns:
        0 on success; 1 when a run failed or did not finish, or the report could not be
        written; 2 for bad input (one line on stderr, nothing run).
    """
    if args.action == "list":
        if args.name or args.overrides:
            return _fail("carenet experiment list: takes no NAME or overrides")
        return cmd_list()
    if not args.name:
        return _fail(f"carenet experiment {args.action}: give NAME (see carenet experiment list)")
    try:
        if args.action == "report":
            return _report(args.name, list(args.overrides), bool(getattr(args, "quick", False)))
        from carenet.experiments.runner import plan_experiment, run_experiment

        exp = _load(args.name, bool(getattr(args, "quick", False)))
        return run_experiment(plan_experiment(exp, list(args.overrides)))
    except ValueError as exc:  # ExperimentError, ConfigError, SweepError, CollectError ...
        return _fail(" ".join(str(exc).split()) or type(exc).__name__)
    except (OSError, RuntimeError) as exc:  # a folder that cannot be written
        if os.environ.get("CARENET_DEBUG"):
            raise
        return _fail(f"experiment {args.name}: {type(exc).__name__}: {exc}", 1)


def main(argv: list[str] | None = None) -> int:
    """``python -m carenet.experiments.command ACTION [NAME] [KEY=VALUE ...]``.

    The same as ``carenet experiment ...`` (one-line usage errors included).
    """
    from carenet.cli import main as carenet

    return carenet(["experiment", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
