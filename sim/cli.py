"""The ``carenet`` command.

Subcommands::

    carenet run [KEY=VALUE ...]      run one scenario (Hydra overrides)

Bad input ends with a one-line message on stderr and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

EXIT_USAGE = 2


def _fail(msg: str, code: int = EXIT_USAGE) -> int:
    print(f"carenet: error: {msg}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario and print its headline metrics and where the files are."""
    from .config import ConfigError, load_config
    from .runner import OutputError, check_out, headline_table, run_scenario

    try:
        cfg = load_config(args.overrides)
        if cfg.out:
            from pathlib import Path

            check_out(Path(cfg.out).expanduser(), cfg.overwrite)
        result = run_scenario(cfg, overrides=args.overrides)
    except (ConfigError, OutputError) as exc:
        return _fail(str(exc))
    except ValueError as exc:  # e.g. a user rule that cannot be loaded
        return _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    print(f"carenet run finished in {result.seconds:.1f} s (seed {result.seed})")
    print(headline_table(result.summary))
    print(f"Results in {result.out}/")
    print("  timeseries.parquet  summary.json  network.json  manifest.json  figures/overview.png")
    return 0


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
        help="run one scenario",
        description="Run one scenario. Overrides are Hydra KEY=VALUE pairs, e.g. "
        "structure=network power_rule=empowerment population.size=50000 out=results/a",
    )
    r.add_argument("overrides", nargs="*", help="Hydra overrides KEY=VALUE")
    r.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``carenet`` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
