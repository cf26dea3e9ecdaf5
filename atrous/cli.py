"""The command line: ``python -m atrous COMMAND`` (train, eval, predict, demo, summary,
example-folder, export, reproduce, report).

Each command is a thin wrapper over a library function (:func:`atrous.train.train`,
:func:`atrous.evaluate.evaluate_split`, :func:`atrous.predict.predict_files`,
:func:`atrous.demo.demo`, :func:`atrous.summary.summary`); ``--help`` on any of them
explains its options. Bad input (a config key, a missing file, an output stride the
network cannot reach: :class:`atrous.errors.AtrousError`) ends the command with one line on
stderr starting ``error:`` and exit code 2, not a traceback; Ctrl-C with one line too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from atrous.errors import AtrousError
from atrous.precision import PRECISIONS
from atrous.train_config import PAPER_SCALES

#: What ends a command with one line and exit code 2: bad input (:mod:`atrous.errors`), a
#: diverged training run, and a file system that refuses (a full disk, no permission).
INPUT_ERRORS = (AtrousError, FloatingPointError, OSError)

_SET_HELP = (
    "override one config field, TOML syntax, repeatable: --set train.base_lr=0.01 "
    "--set model.output_stride=8 --set data.root=/data/VOCdevkit"
)


def _interrupted(hint: str) -> NoReturn:
    print(f"interrupted (Ctrl-C): {hint}", file=sys.stderr)
    raise SystemExit(130)


def _train(args: argparse.Namespace) -> int:
    from atrous.train import train
    from atrous.train_config import load_config

    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    config = load_config(args.config, args.set)
    try:
        result = train(config, run_dir, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        _interrupted(f"{run_dir / 'checkpoint.pt'} holds the last checkpoint; continue with "
                     f"the same command and --resume")  # fmt: skip
    loss = result.history[-1]["loss"] if result.history else float("nan")
    print(f"trained {result.iteration} iterations; final loss {loss:.4f}")
    print(f"wrote checkpoint.pt, metrics.jsonl and curves.png into {run_dir}")
    return 0


def _strategy(args: argparse.Namespace, default):
    """The ``[eval]`` table with what the command line sets (validated)."""
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


def _model_overrides(model, config) -> None:
    """Apply ``--set model.*`` to a trained network where the weights allow it (the output
    stride, Sec. 3.1; BN momentum, unused at evaluation); refuse every other change."""
    from atrous.checkpoint import mismatched_fields

    trained, wanted = model.config, config.network
    refused = mismatched_fields(trained, wanted)
    if refused:
        details = ", ".join(
            f"model.{n} (checkpoint {getattr(trained, n)!r}, asked {getattr(wanted, n)!r})"
            for n in refused
        )
        raise AtrousError(
            f"--set cannot change {details} at evaluation: the checkpoint's weights were "
            f"trained for its value; only model.output_stride can change with the same weights"
        )
    if wanted.output_stride != trained.output_stride:
        model.set_output_stride(wanted.output_stride)


def _eval(args: argparse.Namespace) -> int:
    from atrous.checkpoint import load_model
    from atrous.distributed import select_device
    from atrous.evaluate import eval_filename, evaluate_split
    from atrous.outputs import check_output_file
    from atrous.precision import resolve_precision
    from atrous.train_config import apply_overrides

    device = select_device(args.device, option="--device")
    model, state = load_model(args.checkpoint, map_location=device)
    config = apply_overrides(state["config"], args.set)
    _model_overrides(model, config)
    strategy = _strategy(args, config.eval)
    if strategy.output_stride:
        model.config.check_output_stride(strategy.output_stride, "--output-stride")
    # Decided once, so that the file name says what evaluate_split will run.
    precision = resolve_precision(strategy.precision, device, "--precision")
    strategy = dataclasses.replace(strategy, precision=precision)
    split = args.split or config.data.val_split
    ckpt = Path(args.checkpoint)
    run_dir = ckpt if ckpt.is_dir() else ckpt.parent
    name = eval_filename(split, strategy.output_stride or model.config.output_stride,
                         strategy.scales, strategy.flip, strategy.pad_to, args.limit,
                         precision)  # fmt: skip
    # Checked before the evaluation, which can take long, not after it.
    out = check_output_file(args.out or run_dir / name, "--out", args.overwrite)
    result = evaluate_split(model, config, split, strategy=strategy, limit=args.limit,
                            progress=not args.quiet)  # fmt: skip
    print(result.table())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    print(f"mIOU {100 * result.miou:.2f} ({result.settings}); wrote {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from atrous.predict import predict_files

    scales = args.scales or (PAPER_SCALES if args.multi_scale else (1.0,))
    written = predict_files(args.checkpoint, args.images, args.out,
                            output_stride=args.output_stride, scales=scales, flip=args.flip,
                            device=args.device, overwrite=args.overwrite,
                            precision=args.precision or "auto",
                            backend=args.backend)  # fmt: skip
    for path in written:
        print(f"wrote {path} and {path.with_name(path.stem + '_overlay.jpg')}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from atrous.demo import demo

    try:
        return demo(args.out, args.run_dir, args.set, progress=not args.quiet)
    except KeyboardInterrupt:
        _interrupted(f"{args.run_dir} holds the last checkpoint; the same command resumes it")


def _summary(args: argparse.Namespace) -> int:
    from atrous.presets import get_preset
    from atrous.summary import summary

    config = get_preset(args.preset)
    if args.size < 1:
        raise AtrousError(f"--size must be a side of at least 1 pixel, got {args.size}")
    strides = None
    if args.output_stride is not None:
        strides = (config.check_output_stride(args.output_stride, "--output-stride"),)
    print(summary(config, (args.size, args.size), strides, name=args.preset))
    return 0


def _add_set_and_quiet(parser: argparse.ArgumentParser, quiet: str = "no progress bar") -> None:
    """The options every command that reads a config shares: ``--set`` and ``--quiet``."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP)
    parser.add_argument("--quiet", action="store_true", help=quiet)


def _add_inference_options(parser: argparse.ArgumentParser, pad: bool) -> None:
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


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train", help="train a network from a TOML config (Sec. 4.1)",
        description="Train from CONFIG.toml; writes checkpoint.pt, metrics.jsonl, curves.png "
        "and config.json into the run folder. Under torchrun, trains data-parallel.",
    )  # fmt: skip
    train.add_argument("config", help="a TOML file, e.g. configs/demo.toml")
    train.add_argument("--run-dir", default=None, help="output folder (default runs/CONFIG_NAME)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its checkpoint, exactly where it "
                       "stopped")  # fmt: skip
    _add_set_and_quiet(train)
    train.set_defaults(func=_train)


def _add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "eval", help="mIOU and per-class IoU of a checkpoint (Sec. 4.3)",
        description="Evaluate a checkpoint (or a run folder) on the val split of its training "
        "config with its [eval] strategy, changed by the options; prints per-class IoU and "
        "mIOU and writes them as JSON, named by the settings (eval_val_os8_...json).",
    )  # fmt: skip
    evaluate.add_argument("checkpoint", help="a checkpoint.pt or a run folder holding one")
    _add_inference_options(evaluate, pad=True)
    evaluate.add_argument("--split", default=None, help="default: data.val_split")
    evaluate.add_argument("--limit", type=int, default=None,
                          help="only the first N images (a quick check)")  # fmt: skip
    evaluate.add_argument(
        "--out", default=None, help="JSON file (default: RUN_DIR/eval_SETTINGS.json)"
    )
    evaluate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier evaluation's JSON with the same settings",
    )
    _add_set_and_quiet(evaluate)
    evaluate.set_defaults(func=_eval)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict", help="segment image files: label PNGs and colour overlays",
        description="Writes NAME.png (class indices, VOC palette) and NAME_overlay.jpg for "
        "each image into --out.",
    )  # fmt: skip
    predict.add_argument("checkpoint", help="a checkpoint.pt or a run folder holding one")
    predict.add_argument("images", nargs="+", help="image files (any size)")
    predict.add_argument(
        "--out",
        default="predictions",
        help="output folder: STEM.png and STEM_overlay.jpg for each image",
    )
    predict.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs of an earlier run (never an input)",
    )
    predict.add_argument(
        "--backend",
        default="torch",
        choices=["torch", "onnxruntime"],
        help="onnxruntime runs a MODEL.onnx written by `export`",
    )
    _add_inference_options(predict, pad=False)
    predict.set_defaults(func=_predict)


def _example_folder(args: argparse.Namespace) -> int:
    from atrous.data.folder import write_example_folder

    root = write_example_folder(args.folder, args.train, args.val, args.size)
    print(f"wrote {args.train} + {args.val} images, labels, splits/ and classes.toml into {root}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from atrous.export import export_model, parse_size

    size = parse_size(args.size) if args.size else (513, 513)
    out = export_model(args.checkpoint, args.out, args.format, output_stride=args.output_stride,
                       size=size, dynamic=args.dynamic, bf16=args.bf16,
                       overwrite=args.overwrite)  # fmt: skip
    print(f"wrote {out}")
    return 0


def _add_export(commands: argparse._SubParsersAction) -> None:
    from atrous.export import FORMATS, OPSET

    export = commands.add_parser(
        "export", help="write the network as ONNX, torch.export or safetensors",
        description=f"ONNX (opset {OPSET}) and torch.export write the inference network (BN "
        "folded); safetensors the trainable weights with the configs in its metadata.",
    )  # fmt: skip
    export.add_argument("checkpoint", help="a checkpoint.pt or a run folder holding one")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--out", default=None, help="default: the checkpoint's name, new suffix")
    export.add_argument(
        "--output-stride",
        type=int,
        default=None,
        help="export at this output stride (default: the checkpoint's)",
    )
    export.add_argument("--size", default=None, help="input size HxW (default 513x513)")
    export.add_argument("--dynamic", action="store_true", help="any height and width")
    export.add_argument(
        "--bf16", action="store_true", help="bf16 weights (torch-export, safetensors; not onnx)"
    )
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")
    export.set_defaults(func=_export)


def _add_example_folder(commands: argparse._SubParsersAction) -> None:
    example = commands.add_parser(
        "example-folder", help="write a small folder dataset (your own data's layout)",
        description="Write images/, labels/, splits/ and classes.toml: synthetic scenes with "
        "3 merged classes (background, wire, object), the layout of data.dataset = 'folder'.",
    )  # fmt: skip
    example.add_argument("folder", help="a new, empty folder")
    example.add_argument("--train", type=int, default=200, help="training images")
    example.add_argument("--val", type=int, default=50, help="val images")
    example.add_argument("--size", type=int, default=128, help="image side")
    example.set_defaults(func=_example_folder)


def _add_demo_and_summary(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="the README's first command (see `make demo`)")
    demo.add_argument("--out", default="figures", help="folder for the figures")
    demo.add_argument("--run-dir", default="runs/demo", help="folder of the demo's training run")
    _add_set_and_quiet(demo, quiet="no progress bars")
    demo.set_defaults(func=_demo)

    summary = commands.add_parser(
        "summary", help="parameters, FLOPs and per-stage feature maps and rates of a preset"
    )
    summary.add_argument("preset", help="a name from atrous.presets, e.g. tiny or resnet101")
    summary.add_argument("--output-stride", type=int, default=None,
                         help="only this output stride (default: all)")  # fmt: skip
    summary.add_argument("--size", type=int, default=513, help="input side in pixels")
    summary.set_defaults(func=_summary)


def _reproduce(args: argparse.Namespace) -> int:
    from atrous.report import write_report
    from atrous.reproduce import recheck, reproduce

    if args.recheck:
        variant, _, seed = args.recheck.rpartition(":")
        if not variant or not seed.isdigit():
            raise AtrousError(
                f"--recheck must be VARIANT:SEED (e.g. mg111:0), got {args.recheck!r}"
            )
        return 0 if recheck(args.name, variant, int(seed), args.results, args.budget) else 1

    try:
        rows = reproduce(args.name, seeds=args.seeds, budget=args.budget, only=args.only,
                         results=args.results, progress=not args.quiet)  # fmt: skip
    except KeyboardInterrupt:
        _interrupted("every finished run has its row; the same command continues the rest")
    print(f"{args.name}: {len(rows)} new row(s)")
    if args.budget == "full" and args.results is None:
        print(f"wrote {write_report()}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from atrous.report import write_report

    print(f"wrote {write_report(args.results, args.budget, args.store)}")
    return 0


def _add_reproduce(commands: argparse._SubParsersAction) -> None:
    from atrous.experiments import BUDGETS, EXPERIMENTS

    reproduce = commands.add_parser(
        "reproduce", help="re-run one of the paper's comparisons at small scale (resumable)",
        description="Train and evaluate every variant of an experiment (atrous/experiments.py), "
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
    reproduce.add_argument("--quiet", action="store_true", help="no progress bars")
    reproduce.set_defaults(func=_reproduce)

    report = commands.add_parser(
        "report", help="write results/README.md and the figures from the results CSVs"
    )
    report.add_argument("--results", default="results", help="folder of the CSVs")
    report.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                        help="which rows count (the others are stale)")  # fmt: skip
    report.add_argument("--store", default=None,
                        help="the trained runs, for the loss curves (default: "
                        "runs/reproduce/BUDGET)")  # fmt: skip
    report.set_defaults(func=_report)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m atrous`` and its commands."""
    parser = argparse.ArgumentParser(prog="python -m atrous", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(commands)
    _add_eval(commands)
    _add_predict(commands)
    _add_demo_and_summary(commands)
    _add_example_folder(commands)
    _add_export(commands)
    _add_reproduce(commands)
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
        _interrupted(f"{args.command} stopped before it finished")
