"""``reproduce`` and ``report``: the paper's comparisons at small scale
(:mod:`atrous.experiments`)."""

from __future__ import annotations

import argparse

from atrous.base.errors import AtrousError
from atrous.cli.common import interrupted


def _reproduce(args: argparse.Namespace) -> int:
    from atrous.experiments.report import write_report
    from atrous.experiments.runner import recheck, reproduce

    if args.recheck:
        variant, _, seed = args.recheck.rpartition(":")
        if not variant or not (seed.isascii() and seed.isdigit()):
            raise AtrousError(
                f"--recheck must be VARIANT:SEED (e.g. mg111:0), got {args.recheck!r}"
            )
        return 0 if recheck(args.name, variant, int(seed), args.results, args.budget) else 1

    try:
        rows = reproduce(args.name, seeds=args.seeds, budget=args.budget, only=args.only,
                         results=args.results, store=args.store,
                         progress=not args.quiet)  # fmt: skip
    except KeyboardInterrupt:
        interrupted("every finished run has its row; the same command continues the rest")
    print(f"{args.name}: {len(rows)} new row(s)")
    if args.budget == "full" and args.results is None:
        print(f"wrote {write_report()}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from atrous.experiments.report import write_report

    print(f"wrote {write_report(args.results, args.budget, args.store, args.overwrite)}")
    return 0


def _add_reproduce(commands: argparse._SubParsersAction) -> None:
    from atrous.experiments.design import BUDGETS
    from atrous.experiments.registry import EXPERIMENTS

    reproduce = commands.add_parser(
        "reproduce", help="re-run one of the paper's comparisons at small scale (resumable)",
        description="Train and evaluate every variant of an experiment "
        "(atrous/experiments/registry.py), "
        "appending one row per (variant, seed) to RESULTS/NAME.csv; rows already there are "
        "skipped, so the same command continues an interrupted experiment.",
    )  # fmt: skip
    reproduce.add_argument("name", choices=list(EXPERIMENTS), help="the experiment")
    reproduce.add_argument("--seeds", type=int, default=None,
                           help="seeds of every variant a claim compares (default: 3 at the "
                           "full budget, 1 at quick); the other variants get one")  # fmt: skip
    reproduce.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                           help="full: the committed results; quick: seconds a run, a smoke "
                           "test (its rows go to runs/reproduce-quick)")  # fmt: skip
    reproduce.add_argument("--only", action="append", default=[], metavar="VARIANT",
                           help="only this variant (repeatable)")  # fmt: skip
    reproduce.add_argument(
        "--results", default=None, help="folder of the CSVs (default: results/ at the full budget)"
    )
    reproduce.add_argument("--recheck", default=None, metavar="VARIANT:SEED",
                           help="re-run one committed row from scratch and compare its "
                           "weights hash and mIOU (exit 1 if they differ on the same kind of "
                           "machine)")  # fmt: skip
    reproduce.add_argument("--store", default=None,
                           help="folder of the trained networks, shared by all experiments "
                           "(default: runs/reproduce/BUDGET)")  # fmt: skip
    reproduce.add_argument("--quiet", action="store_true", help="no progress bars")
    reproduce.set_defaults(func=_reproduce)

    report = commands.add_parser(
        "report", help="write results/README.md and the figures from the results CSVs"
    )
    report.add_argument("--results", default=None,
                        help="folder of the CSVs (default: results/ at the full budget, "
                        "runs/reproduce-quick at quick)")  # fmt: skip
    report.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                        help="which rows count (the others are stale)")  # fmt: skip
    report.add_argument("--store", default=None,
                        help="the trained runs, for the loss curves (default: "
                        "runs/reproduce/BUDGET)")  # fmt: skip
    report.add_argument("--overwrite", action="store_true",
                        help="replace a report that counts more finished runs")  # fmt: skip
    report.set_defaults(func=_report)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``reproduce`` and ``report``."""
    _add_reproduce(commands)
