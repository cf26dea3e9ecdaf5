"""``reproduce`` and ``report``: the paper's comparisons at small scale
(:mod:`atrous.experiments`)."""

from __future__ import annotations

import argparse

from atrous.base.errors import AtrousError
from atrous.cli.common import interrupted


def _reproduce(args: argparse.Namespace) -> int:
    from atrous.experiments.recheck import recheck
    from atrous.experiments.report import write_report
    from atrous.experiments.runner import reproduce

    if args.recheck:
        variant, _, seed = args.recheck.rpartition(":")
        if not variant or not (seed.isascii() and seed.isdigit()):
            raise AtrousError(
                f"--recheck must be VARIANT:SEED (e.g. mg111:0), got {args.recheck!r}"
            )
        same = recheck(args.name, variant, int(seed), args.results, args.budget, args.recipe)
        return 0 if same else 1

    try:
        rows = reproduce(args.name, seeds=args.seeds, budget=args.budget, only=args.only,
                         results=args.results, store=args.store, progress=not args.quiet,
                         recipe=args.recipe, pilot=args.pilot, share=args.share)  # fmt: skip
    except KeyboardInterrupt:
        interrupted("every finished run has its row; the same command continues the rest")
    print(f"{args.name}: {len(rows)} new row(s)")
    if args.budget == "full" and args.results is None:
        print(f"wrote {write_report(recipe=args.recipe)}")
        if args.recipe != "small":  # results/README.md shows both recipes claim by claim
            print(f"wrote {write_report(recipe='small')}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from atrous.experiments.report import write_report

    path = write_report(args.results, args.budget, args.store, args.overwrite, args.recipe)
    print(f"wrote {path}")
    return 0


def _add_reproduce(commands: argparse._SubParsersAction) -> None:
    from atrous.experiments.design import BUDGETS, RECIPES
    from atrous.experiments.followups import FOLLOWUPS
    from atrous.experiments.registry import EXPERIMENTS

    reproduce = commands.add_parser(
        "reproduce", help="re-run one of the paper's comparisons at small scale (resumable)",
        description="Train and evaluate every variant of an experiment "
        "(atrous/experiments/registry.py), "
        "appending one row per (variant, seed) to RESULTS/NAME.csv; rows already there are "
        "skipped, so the same command continues an interrupted experiment.",
    )  # fmt: skip
    reproduce.add_argument("name", choices=[*EXPERIMENTS, *FOLLOWUPS["scaled"]],
                           help="the experiment (or, with --recipe scaled, an exploratory "
                           "follow-up: atrous/experiments/followups.py)")  # fmt: skip
    reproduce.add_argument("--seeds", type=int, default=None,
                           help="seeds of every variant a claim compares (default: 3 at the "
                           "full budget, 1 at quick); the other variants get one")  # fmt: skip
    reproduce.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                           help="full: the committed results; quick: seconds a run, a smoke "
                           "test (its rows go to runs/reproduce-quick/RECIPE)")  # fmt: skip
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
    reproduce.add_argument("--share", action="store_true",
                           help="let other `reproduce --share` processes of the same "
                           "experiment run at once (e.g. one per core): each takes the next "
                           "run nobody holds")  # fmt: skip
    reproduce.add_argument("--pilot", action="store_true", help="the design's pilot runs "
                           "(a recipe with a design: scaled), into RESULTS/pilot/")  # fmt: skip
    reproduce.add_argument("--recipe", choices=sorted(RECIPES), default="small",
                           help="small: 128-pixel scenes from random weights (results/); "
                           "scaled: the paper's ratios and a pre-trained backbone "
                           "(results/scaled/)")  # fmt: skip
    reproduce.set_defaults(func=_reproduce)


def _add_report(commands: argparse._SubParsersAction) -> None:
    from atrous.experiments.design import BUDGETS, RECIPES

    report = commands.add_parser(
        "report", help="write results/README.md and the figures from the results CSVs"
    )
    report.add_argument("--results", default=None,
                        help="folder of the CSVs (default: results/ at the full budget, "
                        "results/scaled/ for --recipe scaled, runs/reproduce-quick/RECIPE at "
                        "quick)")  # fmt: skip
    report.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                        help="which rows count (the others are stale)")  # fmt: skip
    report.add_argument("--store", default=None,
                        help="the trained runs, for the loss curves (default: "
                        "runs/reproduce/BUDGET)")  # fmt: skip
    report.add_argument("--overwrite", action="store_true",
                        help="replace a report that counts more finished runs")  # fmt: skip
    report.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="small",
        help="whose results: small (results/) or scaled (results/scaled/)",
    )
    report.set_defaults(func=_report)


def _pretrain(args: argparse.Namespace) -> int:
    from atrous.experiments.pretraining import pretrain_recipe

    try:
        pretrain_recipe(args.recipe, args.out, args.only, args.iterations, not args.quiet)
    except KeyboardInterrupt:
        interrupted("no backbone was written for the one in progress; run the same command")
    return 0


def _add_pretrain(commands: argparse._SubParsersAction) -> None:
    pretrain = commands.add_parser(
        "pretrain", help="pre-train the scaled recipe's backbones (the stand-in for ImageNet)",
        description="Pre-train each backbone of a recipe once on an image-level task of the "
        "scenes (scene type, objects present) and write OUT/RECIPE-{deep,shallow}.safetensors "
        "(never over an existing file). Committed into atrous/pretrained, they are loaded by "
        "name: train.pretrained = 'scaled-deep'.",
    )  # fmt: skip
    pretrain.add_argument("--recipe", default="scaled", help="the recipe (default scaled)")
    pretrain.add_argument("--out", default="atrous/pretrained",
                          help="folder for the backbones (default atrous/pretrained: run from "
                          "the checkout's root)")  # fmt: skip
    pretrain.add_argument("--only", action="append", default=[], metavar="BACKBONE",
                          help="deep or shallow (repeatable; default both)")  # fmt: skip
    pretrain.add_argument("--iterations", type=int, default=None, help="default 2000")
    pretrain.add_argument("--quiet", action="store_true", help="no progress bar")
    pretrain.set_defaults(func=_pretrain)


def _cues(args: argparse.Namespace) -> int:
    from atrous.experiments.cues import check_cues
    from atrous.experiments.design import RECIPES
    from atrous.recipe.config import load_config
    from atrous.recipe.configs import recipe_path

    if args.scenes < 20:
        raise AtrousError(f"--scenes must be at least 20, got {args.scenes}")
    config = load_config(recipe_path(RECIPES[args.recipe]), args.set)
    cues = check_cues(config, args.scenes, args.backbone)
    on = f" (features of {args.backbone})" if args.backbone else ""
    print(f"{args.recipe}{on}: scene type from global statistics {cues.global_accuracy:.3f}, from "
          f"the patch around a triangle {cues.local_accuracy:.3f} (held-out accuracy of a "
          f"linear probe; chance 0.5; {cues.scenes} scenes, "
          f"{cues.triangles} triangles)")  # fmt: skip
    return 0


def _add_cues(commands: argparse._SubParsersAction) -> None:
    from atrous.experiments.design import RECIPES

    cues = commands.add_parser(
        "cues", help="check on the data alone that the scene type is a global cue, not a local one"
    )
    cues.add_argument("--recipe", choices=sorted(RECIPES), default="scaled")
    cues.add_argument("--scenes", type=int, default=400, help="training scenes drawn")
    cues.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the recipe's data, e.g. --set data.synthetic_tint=0.25",
    )
    cues.add_argument("--backbone", default=None, metavar="SAFETENSORS",
                      help="probe this pre-trained backbone's pooled features (atrous "
                      "pretrain) instead of fixed image statistics")  # fmt: skip
    cues.set_defaults(func=_cues)


def _design(args: argparse.Namespace) -> int:
    import json

    from atrous.experiments.allocation import allocate_design, write_seeds
    from atrous.experiments.design_file import current_hashes

    if not (args.allocate or args.write_seeds):
        print(json.dumps(current_hashes(args.recipe), indent=2))
        return 0
    allocations, hours = allocate_design(args.recipe)
    for a in allocations:
        state = "kept" if a.kept else ("untestable" if not a.testable else "dropped")
        print(f"{a.claim:<75} effect {a.effect:5.2f}  pairs {a.pairs:3d}  {state}")
    print(
        f"pilot sd {hours['sd']:.2f} points; spent {hours['spent']:.2f} h; projected "
        f"{hours['projected']:.2f} h of {hours['budget']:.0f} with the "
        f"{sum(a.kept for a in allocations)} claim(s) kept"
    )
    if args.write_seeds:
        write_seeds(args.recipe, allocations)
        print(f"wrote the seeds into the {args.recipe} design")
    return 0


def _add_design(commands: argparse._SubParsersAction) -> None:
    design = commands.add_parser(
        "design", help="the hashes a frozen design.toml records: recipe, scenes, backbones"
    )
    design.add_argument("--recipe", default="scaled", choices=["scaled"])
    design.add_argument("--allocate", action="store_true", help="after the pilot: each "
                        "claim's pairs and the claims the CPU budget keeps")  # fmt: skip
    design.add_argument("--write-seeds", action="store_true", help="--allocate, and record "
                        "the pairs in design.toml (once)")  # fmt: skip
    design.set_defaults(func=_design)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``reproduce``, ``report``, ``pretrain``, ``cues`` and ``design``."""
    _add_reproduce(commands)
    _add_report(commands)
    _add_pretrain(commands)
    _add_cues(commands)
    _add_design(commands)
