"""The ``carenet`` command.

Subcommands::

    carenet run [KEY=VALUE ...]          run one scenario (Hydra overrides)
    carenet run -m KEY=a,b ...           sweep (Hydra multirun), see carenet.sim.sweep
    carenet collect DIR                  one table across a sweep, see carenet.sim.collect
    carenet report DIR                   tables, intervals and figures, see carenet.sim.report
    carenet reproduce RUN_DIR            rerun a saved run, check it matches exactly
    carenet docs                         ODD description and parameters, see carenet.sim.odd
    carenet bench                        performance benchmark, see carenet.sim.bench
    carenet view [KEY=VALUE ... | DIR]   browser view of a run or results, see carenet.viz

Bad input ends with a one-line message on stderr and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

EXIT_USAGE = 2


def fail(msg: str, code: int = EXIT_USAGE) -> int:
    """Print a one-line error on stderr and return the exit code."""
    print(f"carenet: error: {msg}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario (or, with -m, a sweep) and say where the files are."""
    if args.multirun:
        return _delegate("carenet.sim.sweep", "cmd_sweep", args)
    from .config import ConfigError, load_config
    from .runner import RESULT_FILES, OutputError, check_out, headline_table, run_scenario

    try:
        cfg = load_config(args.overrides)
        if cfg.replications > 1:
            return _delegate("carenet.sim.sweep", "cmd_sweep", args)
        if cfg.out:
            check_out(Path(cfg.out).expanduser(), cfg.overwrite)
        result = run_scenario(cfg, overrides=args.overrides)
    except (ConfigError, OutputError) as exc:
        return fail(str(exc))
    except ValueError as exc:  # e.g. a user rule that cannot be loaded
        return fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # e.g. a user-written rule that raises during the run
        if os.environ.get("CARENET_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        return fail(
            f"the run failed: {type(exc).__name__}: {first} "
            "(nothing was written; set CARENET_DEBUG=1 to see the traceback)",
            1,
        )
    print(f"carenet run finished in {result.seconds:.1f} s (seed {result.seed})")
    print(headline_table(result.summary))
    print(f"Results in {result.out}/")
    files = [f for f in RESULT_FILES if cfg.figures or not f.startswith("figures/")]
    print("  " + "  ".join(files))
    return 0


def _delegate(module: str, func: str, args: argparse.Namespace) -> int:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return fail(f"{args.command}: this feature is not available in this version")
        raise
    return getattr(mod, func)(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``carenet`` command."""
    from carenet import __version__

    p = argparse.ArgumentParser(
        prog="carenet",
        description="Agent-based simulation of integrated care: hierarchies vs networks.",
    )
    p.add_argument("--version", action="version", version=f"carenet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    r = sub.add_parser(
        "run",
        help="run one scenario, or a sweep with -m",
        description="Run one scenario. Overrides are Hydra KEY=VALUE pairs, e.g. "
        "structure=network power_rule=empowerment population.size=50000 out=results/a. "
        "With -m, comma-separated values and range(...) sweep (Hydra multirun).",
    )
    r.add_argument("-m", "--multirun", action="store_true", help="sweep (Hydra multirun)")
    r.add_argument("overrides", nargs="*", help="Hydra overrides KEY=VALUE")
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("collect", help="collect a sweep folder into one table")
    c.add_argument("dir", type=Path)
    c.set_defaults(func=lambda a: _delegate("carenet.sim.collect", "cmd_collect", a))
    rp = sub.add_parser("report", help="write report.md with intervals and figures")
    rp.add_argument("dir", type=Path)
    rp.add_argument("--baseline", default=None, help="scenario to compare against")
    rp.set_defaults(func=lambda a: _delegate("carenet.sim.report", "cmd_report", a))
    rr = sub.add_parser("reproduce", help="rerun a saved run and check the numbers match")
    rr.add_argument("dir", type=Path, help="a run folder (holding manifest.json)")
    rr.set_defaults(func=lambda a: _delegate("carenet.sim.reproduce", "cmd_reproduce", a))
    d = sub.add_parser("docs", help="write the ODD model description and parameter list")
    d.add_argument("--out", type=Path, default=Path("docs"), help="folder to write into")
    d.add_argument("--check", action="store_true", help="fail if the files are out of date")
    d.set_defaults(func=lambda a: _delegate("carenet.sim.odd", "cmd_docs", a))
    b = sub.add_parser("bench", help="benchmark speed and memory")
    b.add_argument("rest", nargs="*", help="benchmark options")
    b.set_defaults(func=lambda a: _delegate("carenet.sim.bench", "cmd_bench", a))
    # `carenet view`: the browser view (carenet.viz owns its options).
    try:
        from carenet.viz import add_parser as _add_view
    except ImportError:  # installed without the view
        pass
    else:
        _add_view(sub).set_defaults(func=lambda a: _delegate("carenet.viz", "cmd_view", a))
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``carenet`` console command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        # `carenet bench --quick`: bench parses its own options (argparse would reject
        # them as unknown to the top-level parser, even with nargs=REMAINDER).
        args = argparse.Namespace(command="bench", rest=argv[1:])
        try:
            return _delegate("carenet.sim.bench", "cmd_bench", args)
        except KeyboardInterrupt:
            return fail("interrupted", 130)
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
