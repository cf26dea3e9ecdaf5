"""The command line: ``python -m atrous COMMAND`` (train, eval, predict, demo, summary,
example-folder, export, browser-network, reproduce, report, pretrain, cues, design).

Each command is a thin wrapper over a library function (:func:`atrous.training.loop.train`,
:func:`atrous.inference.evaluate.evaluate_split`, :func:`atrous.inference.predict.predict_files`,
:func:`atrous.demo.demo`, :func:`atrous.model.summary.summary`); ``--help`` on any of them
explains its options. Bad input (a config key, a missing file, an output stride the
network cannot reach: :class:`atrous.base.errors.AtrousError`) ends the command with one line on
stderr starting ``error:`` and exit code 2, not a traceback; Ctrl-C with one line too.

May import: every layer (the tools sit on top); commands import what they run when they run,
so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from atrous.cli import experiment_commands, tools, train_eval
from atrous.cli.common import INPUT_ERRORS, interrupted

__all__ = ["INPUT_ERRORS", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m atrous`` and its commands."""
    parser = argparse.ArgumentParser(prog="python -m atrous", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train_eval.add_commands(commands)
    tools.add_commands(commands)
    experiment_commands.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input exits with ``error: ...`` on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except INPUT_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        interrupted(f"{args.command} stopped before it finished")
