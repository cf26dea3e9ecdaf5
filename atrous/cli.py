"""The command line: ``python -m atrous COMMAND``.

Each command is a thin wrapper over a library function; ``--help`` on any of them
explains its options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from atrous.commands import add_commands, add_demo_options, run_demo


def _summary(args: argparse.Namespace) -> int:
    from atrous.presets import get_preset
    from atrous.summary import summary

    try:
        config = get_preset(args.preset)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    strides = None if args.output_stride is None else (args.output_stride,)
    if strides is not None and args.output_stride not in config.output_strides:
        raise SystemExit(
            f"--output-stride must be one of {config.output_strides} for preset "
            f"{args.preset!r}, got {args.output_stride}"
        )
    print(summary(config, (args.size, args.size), strides, name=args.preset))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m atrous", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(commands)  # train, eval, predict (atrous.commands)

    demo = commands.add_parser("demo", help="the README's first command (see `make demo`)")
    demo.add_argument("--out", default="figures", help="folder for the figures")
    add_demo_options(demo)
    demo.set_defaults(func=run_demo)

    summary = commands.add_parser(
        "summary", help="parameters, FLOPs and per-stage feature maps and rates of a preset"
    )
    summary.add_argument("preset", help="a name from atrous.presets, e.g. tiny or resnet101")
    summary.add_argument(
        "--output-stride", type=int, default=None, help="only this output stride (default: all)"
    )
    summary.add_argument("--size", type=int, default=513, help="input side in pixels")
    summary.set_defaults(func=_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
