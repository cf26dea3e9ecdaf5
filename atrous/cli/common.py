"""What the commands share: the errors that end them in one line, ``--set``, ``--quiet`` and the
inference options of ``eval`` and ``predict``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import NoReturn

from atrous.base.errors import AtrousError
from atrous.base.precision import PRECISIONS
from atrous.base.scales import PAPER_SCALES

#: What ends a command with one line and exit code 2: bad input (:mod:`atrous.base.errors`), a
#: diverged training run, and a file system that refuses (a full disk, no permission).
INPUT_ERRORS = (AtrousError, FloatingPointError, OSError)

SET_HELP = (
    "override one config field, TOML syntax, repeatable: --set train.base_lr=0.01 "
    "--set model.output_stride=8 --set data.root=/data/VOCdevkit"
)


def interrupted(hint: str) -> NoReturn:
    """End a command stopped by Ctrl-C with one line saying what is kept, exit code 130."""
    print(f"interrupted (Ctrl-C): {hint}", file=sys.stderr)
    raise SystemExit(130)


def strategy_from_args(args: argparse.Namespace, default):
    """The ``[eval]`` table ``default`` with what the command line sets (validated)."""
    changes = {}
    if args.output_stride is not None:
        changes["output_stride"] = args.output_stride
    if args.scales or args.multi_scale:
        changes["scales"] = tuple(args.scales or PAPER_SCALES)
    if args.flip:
        changes["flip"] = True
    if getattr(args, "pad_to", None) is not None:
        changes["pad_to"] = args.pad_to
    if args.precision is not None:
        changes["precision"] = args.precision
    return dataclasses.replace(default, **changes)


def add_set_and_quiet(parser: argparse.ArgumentParser, quiet: str = "no progress bar") -> None:
    """The options every command that reads a config shares: ``--set`` and ``--quiet``."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    parser.add_argument("--quiet", action="store_true", help=quiet)


def add_inference_options(parser: argparse.ArgumentParser, pad: bool) -> None:
    """``--output-stride``, ``--scales``, ``--multi-scale``, ``--flip``, ``--precision``,
    ``--device`` (and ``--pad-to`` if ``pad``)."""
    parser.add_argument("--output-stride", type=int, default=None,
                        help="run the network at this output stride (Tab. 4, 10: train at 16, "
                        "evaluate at 8)")  # fmt: skip
    parser.add_argument("--scales", type=float, nargs="+", default=None,
                        help="input scales whose class probabilities are averaged (default: the "
                        "config's [eval] scales for eval, 1.0 for predict)")  # fmt: skip
    parser.add_argument(
        "--multi-scale",
        action="store_true",
        help=f"the paper's scales {', '.join(map(str, PAPER_SCALES))} (Sec. 4.3)",
    )
    parser.add_argument(
        "--flip", action="store_true", help="also average left-right flips (Sec. 4.3)"
    )
    if pad:
        parser.add_argument("--pad-to", type=int, default=None,
                            help="pad each image to N x N with the mean pixel and crop the "
                            "prediction back (the paper's VOC protocol: 513); 0: whole images "
                            "(default: the config's eval.pad_to)")  # fmt: skip
    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help="the network's arithmetic (auto: bf16 on CPUs with native bf16, "
                        "else fp32; fp16 on CUDA); default: the config's eval.precision for "
                        "eval, auto for predict")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
