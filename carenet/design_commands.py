"""The commands of designs: ``carenet analyse DIR`` and ``carenet discover DIR``.

A design runs as a sweep (``carenet run -m design=FILE.yaml out=DIR``, see
:mod:`carenet.sim.design`); these commands read its folder. Bad input (a folder that
holds no design, an unknown metric or arm, an expression that cannot be read) ends with
one line on stderr and exit code 2; nothing is written then.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from carenet.cli import fail


def add_parsers(sub: Any) -> None:
    """Add ``analyse``, ``discover`` and ``cea`` to the ``carenet`` command's subparsers."""
    a = sub.add_parser(
        "analyse",
        help="Sobol or Morris sensitivity indices of a design",
        description="Global sensitivity analysis of a design's results (SALib): Sobol S1 "
        "and ST (S2 with --second-order) or Morris mu*, mu and sigma, with 95%% bootstrap "
        "intervals, and the share of variance due to seeds. Writes DIR/sensitivity.csv and "
        "DIR/figures/.",
    )
    a.add_argument("dir", type=Path, metavar="DIR", help="a design's folder (run -m design=...)")
    a.add_argument(
        "--metric", action="append", required=True, metavar="M", help="a summary metric (repeat)"
    )
    a.add_argument("--diff", default=None, metavar="A-B", help="paired difference of two arms")
    a.add_argument("--second-order", action="store_true", help="also second-order indices")
    a.add_argument("--resamples", type=int, default=200, help="bootstrap resamples (200)")
    a.set_defaults(func=cmd_analyse)
    d = sub.add_parser(
        "discover",
        help="scenario discovery (PRIM, CART) on a design",
        description="Where in the design's space does a condition hold? PRIM boxes on the "
        "coverage-density trade-off, the chosen box's limits with quasi-p-values and "
        "resampling stability, and a CART tree. Writes DIR/discovery.md, tables, figures.",
    )
    d.add_argument("dir", type=Path, metavar="DIR", help="a design's folder (run -m design=...)")
    d.add_argument(
        "--where",
        required=True,
        metavar="EXPR",
        help='condition per point, e.g. "diff(net_monetary_benefit, network, hierarchy) > 0"',
    )
    d.add_argument("--threshold", type=float, default=0.8, help="density of the chosen box (0.8)")
    d.add_argument("--resamples", type=int, default=30, help="resamples for stability (30)")
    d.set_defaults(func=cmd_discover)
    c = sub.add_parser(
        "cea",
        help="cost-effectiveness results of a psa design",
        description="The PSA of a design with method psa: incremental analysis, CE plane, "
        "CEAC over GBP 0-50,000/QALY, P(cost-effective) at GBP 20,000 and 30,000, ICERs "
        "with intervals, EVPI. Writes DIR/cea.md, cea_draws.csv, ceac.csv and figures/.",
    )
    c.add_argument("dir", type=Path, metavar="DIR", help="a psa design's folder")
    c.add_argument("--comparator", default=None, metavar="ARM", help="ICERs against ARM")
    c.set_defaults(func=cmd_cea)


def _check_folder(folder: Path) -> str | None:
    if not folder.is_dir():
        return f"DIR: {str(folder)!r} is not a folder; give a design's folder"
    return None


def cmd_analyse(args: argparse.Namespace) -> int:
    """``carenet analyse DIR --metric M [--diff A-B] [--second-order]``."""
    from carenet.sim.collect import CollectError
    from carenet.sim.sensitivity import SENSITIVITY_FILE, AnalysisError, analyse

    if (msg := _check_folder(args.dir)) is not None:
        return fail(msg)
    if args.resamples < 10:
        return fail(f"--resamples: {args.resamples} is not allowed; expected a number >= 10")
    try:
        table = analyse(
            args.dir, args.metric, args.diff, args.second_order, resamples=args.resamples
        )
    except (AnalysisError, CollectError) as exc:
        return fail(str(exc))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    flagged = table[table["flag"].astype(str).str.len() > 0]
    if len(flagged):
        print(f"{len(flagged)} rows flagged (ci_includes_zero, small_sample, one_replication)")
    print(f"Results in {args.dir / SENSITIVITY_FILE} and {args.dir / 'figures'}/")
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    """``carenet discover DIR --where "EXPR"``."""
    from carenet.sim.collect import CollectError
    from carenet.sim.discovery import DISCOVERY_FILE, box_lines, discover
    from carenet.sim.sensitivity import AnalysisError

    if (msg := _check_folder(args.dir)) is not None:
        return fail(msg)
    if not 0 < args.threshold <= 1:
        return fail(f"--threshold: {args.threshold} is not allowed; expected a share in (0, 1]")
    if args.resamples < 1:
        return fail(f"--resamples: {args.resamples} is not allowed; expected a number >= 1")
    try:
        res = discover(args.dir, args.where, threshold=args.threshold, resamples=args.resamples)
    except (AnalysisError, CollectError) as exc:
        return fail(str(exc))
    t = res["trajectory"].iloc[res["chosen"]]
    print(f"{res['cases']} of {res['points']} points satisfy {args.where!r}")
    print(f"chosen box: coverage {t['coverage']:.0%}, density {t['density']:.0%}")
    print("\n".join(box_lines(res["box"])))
    print(f"Results in {args.dir / DISCOVERY_FILE}")
    return 0


def cmd_cea(args: argparse.Namespace) -> int:
    """``carenet cea DIR [--comparator ARM]``."""
    from carenet.sim.collect import CollectError
    from carenet.sim.psa import PSAError, cea_report

    if (msg := _check_folder(args.dir)) is not None:
        return fail(msg)
    try:
        path = cea_report(args.dir, args.comparator)
    except (PSAError, CollectError) as exc:
        return fail(str(exc))
    from carenet.tools.checklists import write_checklists

    print(f"Results in {path} and {write_checklists(path)}")
    return 0
