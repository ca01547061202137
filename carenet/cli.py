"""The ``carenet`` command.

Subcommands::

    carenet run [KEY=VALUE ...]          run one scenario (Hydra overrides)
    carenet run -m KEY=a,b ...           sweep (Hydra multirun), see carenet.sim.sweep
    carenet collect DIR                  one table across a sweep, see carenet.sim.collect
    carenet report DIR                   tables, intervals and figures, see carenet.sim.report
    carenet reproduce RUN_DIR            rerun a saved run, check it matches exactly
    carenet docs                         ODD description and parameters, see carenet.tools.odd
    carenet bench                        performance benchmark, see carenet.tools.bench
    carenet audit                        parameters that change nothing, see carenet.tools.audit
    carenet experiment list|run|report   named experiments, see carenet.experiments.command
    carenet analyse DIR --metric M       sensitivity indices, see carenet.sim.sensitivity
    carenet discover DIR --where EXPR    scenario discovery, see carenet.sim.discovery
    carenet cea DIR                      cost-effectiveness of a psa design, see carenet.sim.psa
    carenet view [KEY=VALUE ... | DIR]   browser view of a run or results, see carenet.viz

Bad input ends with a one-line message on stderr and exit code 2; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

EXIT_USAGE = 2


def fail(msg: str, code: int = EXIT_USAGE) -> int:
    """Print a one-line error on stderr and return the exit code."""
    print(f"carenet: error: {msg}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    """Run one scenario (or, with -m, a sweep) and say where the files are.

    Bad input (a value not allowed, a user rule that cannot be loaded, an output folder
    that cannot be used) ends with exit code 2 before anything runs; a run that fails
    (a user rule that raises or answers nonsense, a headline metric that is not a number)
    ends with exit code 1 and writes nothing. Each is one line on stderr;
    ``CARENET_DEBUG=1`` shows the traceback of a failed run instead.
    """
    if args.multirun:
        return _delegate("carenet.commands", "cmd_sweep", args)
    own = bool(getattr(args, "own_process", False))
    from carenet.sim.figure_ahead import figure_ahead

    # The console command forks a child that loads matplotlib while the run runs and
    # then draws its figure (carenet.sim.figure_ahead): not where figures=false is given.
    with _startup_gc(own), figure_ahead(own and not _no_figure(args.overrides)):
        return _run_one(args)


def _no_figure(overrides: list[str]) -> bool:
    """Whether the overrides turn the figure off (``figures=false``, the last one counts)."""
    given = [o.split("=", 1)[1] for o in overrides if o.strip().startswith("figures=")]
    return bool(given) and given[-1].strip().lower() in ("false", "0", "no", "off")


@contextlib.contextmanager
def _startup_gc(own_process: bool) -> Iterator[None]:
    """No cyclic garbage collection while a run starts; start-up's objects frozen after.

    Importing the model, pandas and Hydra and composing the configuration make some
    200,000 long-lived objects, and the collector's passes over them cost about 0.2 s of a
    2-s ``carenet run steps=1``. Collection is off until :func:`_frozen_start` (just
    before the run) moves what exists to the permanent generation (``gc.freeze``); later
    passes see only what the run makes. The garbage start-up left (cycles from
    composition, about 2 MB) is frozen with it and freed when the process ends.

    Only for the ``carenet`` process itself (``own_process``: :func:`main` called without
    arguments, as the console script does), which ends after the command; a program
    calling ``main([...])`` keeps its collector as it is.
    """
    if not own_process or not gc.isenabled():
        yield
        return
    gc.disable()
    _STARTING.append(True)
    try:
        yield
    finally:
        _STARTING.clear()
        gc.enable()


_STARTING: list[bool] = []
"""Non-empty while :func:`_startup_gc` holds the collector off."""


def _frozen_start() -> None:
    """End the start-up of :func:`_startup_gc`: freeze what exists, collect from now on."""
    if _STARTING:
        _STARTING.clear()
        gc.freeze()
        gc.enable()


def _run_one(args: argparse.Namespace) -> int:
    """:func:`cmd_run` for one scenario (or a replicated one, as a sweep)."""
    from carenet.sim import figure_ahead
    from carenet.sim.config import load_config
    from carenet.sim.runner import (
        OutputError,
        check_out,
        headline_table,
        result_files,
        run_scenario,
    )

    try:
        cfg = load_config(args.overrides, cache=True)
        if cfg.replications > 1:
            figure_ahead.release()  # a sweep draws no figure of one run: the child ends now
            _frozen_start()  # a sweep runs with the collector on
            return _delegate("carenet.commands", "cmd_sweep", args)
        if cfg.out:
            check_out(Path(cfg.out).expanduser(), cfg.overwrite)
    except ValueError as exc:  # ConfigError, OutputError: bad input, nothing ran
        return fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    from carenet.sim.modelspec import spec_of

    spec = spec_of(cfg)
    if cfg.figures:
        figure_ahead.prepare(type(spec).__module__)  # imported by the child meanwhile
    else:
        figure_ahead.release()  # figures off in the configuration: no child needed
    for note in spec.notes(cfg):
        print(f"carenet: warning: {note}", file=sys.stderr)
    _frozen_start()
    try:
        result = run_scenario(cfg, overrides=args.overrides)
    except OutputError as exc:  # the folder changed while the run ran
        return fail(str(exc))
    except Exception as exc:  # a user rule that raises, a metric that is not a number...
        if os.environ.get("CARENET_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return fail(
            f"the run failed: {type(exc).__name__}: {first} "
            "(nothing was written; set CARENET_DEBUG=1 to see the traceback)",
            1,
        )
    print(f"carenet run finished in {result.seconds:.1f} s (seed {result.seed})")
    print(headline_table(result.summary, cfg))
    print(f"Results in {result.out}/")
    print("  " + "  ".join(result_files(cfg, result)))
    return 0


def _delegate(module: str, func: str, args: argparse.Namespace) -> int:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return fail(f"{args.command}: this feature is not available in this version")
        raise
    return getattr(mod, func)(args)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit code 2).

    argparse prints the usage and then the error; this prints only
    ``carenet: error: <prog>: <message>; see <prog> --help``.
    """

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem and where help is, and exit with 2."""
        message = " ".join(message.split())
        self.exit(EXIT_USAGE, f"carenet: error: {self.prog}: {message}; see {self.prog} --help\n")

    def format_help(self) -> str:
        """The help text; an epilog given as a function is written only now.

        ``carenet run``'s epilog reads the config groups and the schema; building it only
        when the help is shown keeps it off the path of every other command line.
        """
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()


class _CommandsFormatter(argparse.HelpFormatter):
    """Help layout of ``carenet --help`` with room for the longest command name."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=24)
        self._action_max_length = 15  # "    reproduce" + 2: each command on one line


RUN_KEYS: tuple[str, ...] = (
    "out",
    "overwrite",
    "seed",
    "steps",
    "replications",
    "progress",
    "figures",
)
"""Run-level keys listed by ``carenet run --help``, in this order (documented in
:class:`carenet.sim.modelspec.RunKeys`)."""


def run_help_epilog() -> str:
    """The end of ``carenet run --help``: config groups and their options, run keys, docs.

    Groups and options are read from the installed ``configs/`` folder and the keys'
    meanings from the schema, so the help cannot drift from what the command accepts.
    """
    import textwrap
    from dataclasses import fields

    from carenet.sim.config import GROUPS, group_options
    from carenet.sim.modelspec import RunKeys

    defaults = _group_defaults()
    lines = [
        "config groups (pick one option of each: GROUP=OPTION, e.g. structure=network; "
        "* marks the default):"
    ]
    width = max(len(g) for g in GROUPS) + 2
    for group in GROUPS:
        opts = [o + ("*" if o == defaults.get(group) else "") for o in group_options(group)]
        lines.append(f"  {group:<{width}}{', '.join(opts)}")
    lines.append("")
    lines.append("run keys (KEY=VALUE):")
    by_name = {f.name: f for f in fields(RunKeys)}
    for key in RUN_KEYS:
        f = by_name[key]
        meta = dict(f.metadata)
        doc = meta.get("doc", "")
        extra = []
        if meta.get("lo") is not None and meta.get("hi") is not None:
            unit = f" {meta['unit']}" if meta.get("unit") else ""
            extra.append(f"{meta['lo']} to {meta['hi']}{unit}")
        default = f.default
        if isinstance(default, bool):
            extra.append(f"default {str(default).lower()}")
        elif default != "":
            extra.append(f"default {default}")
        text = f"{doc} ({'; '.join(extra)})" if extra else doc
        wrapped = textwrap.wrap(text, 100 - 18)
        lines.append(f"  {key:<16}{wrapped[0]}")
        lines.extend(" " * 18 + w for w in wrapped[1:])
    lines += [
        "",
        "every parameter: GROUP.KEY=VALUE, e.g. population.size=50000 handoff.cold_fail=0.3;",
        "  each parameter's type, range, unit, default and meaning is in docs/parameters.md",
        "  (write or refresh it, and the ODD model description, with `carenet docs`).",
        "",
        "quoting: a value holding a comma, '=', a quote or a non-ASCII letter must be quoted for",
        "  Hydra and the shell, e.g. out=\"'results/a,b'\"; a list is [a,b], e.g.",
        "  'population.stratum_shares=[0.25,0.25,0.25,0.25]'.",
        "sweeps: -m with comma-separated values or range(...), e.g. carenet run -m seed=1,2,3",
        "  structure=hierarchy,network; then carenet collect DIR and carenet report DIR.",
    ]
    return "\n".join(lines)


def _group_defaults() -> dict[str, str]:
    """The default option of each config group (the defaults list of config.yaml)."""
    from importlib import resources

    import yaml

    try:
        text = resources.files("carenet.configs").joinpath("config.yaml").read_text("utf-8")
        items = yaml.safe_load(text).get("defaults", [])
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    return {k: str(v) for item in items if isinstance(item, dict) for k, v in item.items()}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``carenet`` command.

    Each command is added by one function of :data:`COMMANDS`, in the order ``carenet
    --help`` lists them; a new command is one more function there.
    """
    from carenet import __version__

    p = OneLineParser(
        prog="carenet",
        description="Agent-based simulation of integrated care: hierarchies vs networks.",
        formatter_class=_CommandsFormatter,
        epilog="Run `carenet COMMAND --help` for a command's options; every parameter is "
        "listed in docs/parameters.md (written by `carenet docs`).",
    )
    p.add_argument("--version", action="version", version=f"carenet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for add in COMMANDS:
        add(sub)
    p.commands = sub.choices  # type: ignore[attr-defined]  # for one-line usage errors
    return p


def _delegated(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A command's function that imports its module only when the command runs."""
    return lambda a: _delegate(module, name, a)


def _add_run(sub: Any) -> None:
    """``carenet run``: one scenario, or a sweep with -m."""
    import textwrap

    r = sub.add_parser(
        "run",
        help="run one scenario, or a sweep with -m",
        description=textwrap.fill(
            "Run one scenario. Overrides are Hydra KEY=VALUE pairs, e.g. "
            "structure=network power_rule=empowerment population.size=50000 out=results/a. "
            "With -m, comma-separated values and range(...) sweep (Hydra multirun).",
            80,
        ),
        epilog=run_help_epilog,  # a function: written when the help is shown
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "-m",
        "--multirun",
        action="store_true",
        help="sweep (Hydra multirun): run every combination of the comma-separated values",
    )
    r.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="Hydra overrides: GROUP=OPTION, a run key or GROUP.KEY=VALUE (see below)",
    )
    r.set_defaults(func=cmd_run)


def _add_collect(sub: Any) -> None:
    """``carenet collect DIR``."""
    c = sub.add_parser(
        "collect",
        help="collect a sweep folder into one table",
        description="Collect the runs of a sweep folder into one tidy table (runs.parquet "
        "and runs.csv in DIR).",
    )
    c.add_argument("dir", type=Path, metavar="DIR", help="a sweep folder (from carenet run -m)")
    c.set_defaults(func=_delegated("carenet.commands", "cmd_collect"))


def _add_report(sub: Any) -> None:
    """``carenet report DIR [--baseline NAME]``."""
    rp = sub.add_parser(
        "report",
        help="write report.md with intervals and figures",
        description="Write DIR/report.md (means with 95% confidence intervals, paired "
        "differences) and DIR/figures/ for a sweep folder (from carenet run -m; a single "
        "run's folder is refused: its summary.json already holds its results).",
    )
    rp.add_argument("dir", type=Path, metavar="DIR", help="a sweep folder (from carenet run -m)")
    rp.add_argument(
        "--baseline",
        default=None,
        metavar="NAME",
        help="scenario to compare the others against (default: the first scenario)",
    )
    rp.set_defaults(func=_delegated("carenet.commands", "cmd_report"))


def _add_reproduce(sub: Any) -> None:
    """``carenet reproduce RUN_DIR``."""
    rr = sub.add_parser(
        "reproduce",
        help="rerun a saved run and check the numbers match",
        description="Rerun a finished run from its saved configuration and seed, and check "
        "that every number matches exactly.",
    )
    rr.add_argument(
        "dir", type=Path, metavar="RUN_DIR", help="a run folder (holding manifest.json)"
    )
    rr.set_defaults(func=_delegated("carenet.commands", "cmd_reproduce"))


def _add_docs(sub: Any) -> None:
    """``carenet docs [--out DIR] [--check]``."""
    d = sub.add_parser(
        "docs",
        help="write the ODD model description and parameter list",
        description="Write model.md (ODD description) and parameters.md (every parameter "
        "with type, range, unit, default and meaning), generated from the code.",
    )
    d.add_argument(
        "--out", type=Path, default=Path("docs"), metavar="DIR", help="folder to write into"
    )
    d.add_argument("--check", action="store_true", help="fail if the files are out of date")
    d.set_defaults(func=_delegated("carenet.tools.odd", "cmd_docs"))


def _add_bench(sub: Any) -> None:
    """``carenet bench ...``: its own parser reads the options."""
    b = sub.add_parser(
        "bench",
        help="benchmark speed and memory",
        description="Benchmark speed and memory; see carenet bench --help for its options.",
        add_help=False,
    )
    b.add_argument("rest", nargs="*", help="benchmark options (see carenet bench --help)")
    b.set_defaults(func=_delegated("carenet.tools.bench", "cmd_bench"))


def _add_audit(sub: Any) -> None:
    """``carenet audit``: the effect audit (carenet.tools.audit owns its options)."""
    from carenet.tools.audit import add_arguments

    au = sub.add_parser(
        "audit",
        help="find the parameters that change nothing",
        description="Perturb every model parameter one at a time in each reference "
        "arrangement, with common random numbers, and list those that change no summary "
        "metric (see docs/audit.md). Exit code 1 if one is not documented.",
    )
    add_arguments(au)
    au.set_defaults(func=_delegated("carenet.tools.audit", "cmd_audit"))


def _add_experiment(sub: Any) -> None:
    """``carenet experiment``: named experiments, each arm a sweep (carenet.experiments)."""
    from carenet.experiments.command import add_arguments

    e = sub.add_parser(
        "experiment",
        help="list, run or report a named experiment",
        description="Named experiments (e.g. arrangements, patterns): each arm runs as a sweep "
        "into out=DIR/arms/ARM (resumes); then collect, report and the experiment's tables.",
    )
    add_arguments(e)
    e.set_defaults(func=_delegated("carenet.experiments.command", "cmd_experiment"))


def _add_design(sub: Any) -> None:
    """``carenet analyse`` and ``carenet discover``: a design's results."""
    from carenet.design_commands import add_parsers

    add_parsers(sub)


def _add_view(sub: Any) -> None:
    """``carenet view``: the browser view (carenet.viz owns its options), if installed."""
    try:
        from carenet.viz import add_parser
    except ImportError:  # installed without the view
        return
    add_parser(sub).set_defaults(func=_delegated("carenet.viz", "cmd_view"))


def _add_calibrate(sub: Any) -> None:
    """``carenet calibrate``: activity beside published figures; ``--fit`` fits."""
    from carenet.tools.calibrate import add_arguments

    c = sub.add_parser(
        "calibrate",
        help="compare activity with published figures; --fit fits",
        description="Run the default economy for a few seeds and print, for every target "
        "in configs/calibration/targets.yaml, the model's value, the target, the tolerance "
        "and a verdict. With --fit, adjust the declared free parameters (SciPy's bounded "
        "Powell on the seed-averaged sum of squared log-ratios) and write DIR/calibration.json "
        "and DIR/calibrated.yaml. See docs/calibration.md.",
    )
    add_arguments(c)
    c.set_defaults(func=_delegated("carenet.tools.calibrate", "cmd_calibrate"))


COMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_run,
    _add_collect,
    _add_report,
    _add_reproduce,
    _add_docs,
    _add_bench,
    _add_audit,
    _add_experiment,
    _add_design,
    _add_calibrate,
    _add_view,
)
"""The functions that add each command's parser, in the order the help lists them."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``carenet`` console command."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (``carenet experiment list | head``): stop quietly, as Unix
        # tools do, and keep Python from reporting the closed pipe again at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv: list[str] | None) -> int:
    own_process = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        # `carenet bench --quick`: bench parses its own options (argparse would reject
        # them as unknown to the top-level parser, even with nargs=REMAINDER).
        args = argparse.Namespace(command="bench", rest=argv[1:])
        try:
            return _delegate("carenet.tools.bench", "cmd_bench", args)
        except KeyboardInterrupt:
            return fail("interrupted", 130)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "experiment":
        # `carenet experiment run NAME --quick KEY=VALUE`: overrides after an option
        args.overrides = [*args.overrides, *[x for x in extra if "=" in x]]
        extra = [x for x in extra if "=" not in x]
    if extra:
        if getattr(args, "command", None) == "run":
            opt = extra[0].lstrip("-")
            return fail(
                f"carenet run: {extra[0]!r} is not an option; run keys are KEY=VALUE overrides "
                f"(e.g. {opt.split('=', 1)[0] or 'seed'}=VALUE, not --KEY); see carenet run --help"
            )
        sub = getattr(parser, "commands", {}).get(getattr(args, "command", None), parser)
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    args.own_process = own_process  # the console script's process (see _startup_gc)
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
