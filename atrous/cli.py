"""The command line: ``python -m atrous COMMAND``.

Each command is a thin wrapper over a library function; ``--help`` on any of them
explains its options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from atrous.figures import plot_valid_weights

    path = plot_valid_weights(args.out)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m atrous", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="the README's first command (see `make demo`)")
    demo.add_argument("--out", default="figures", help="folder for the figures")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
