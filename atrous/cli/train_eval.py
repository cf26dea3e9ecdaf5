"""``train``, ``eval`` and ``predict``: the commands of Sec. 4.1 and 4.3."""

from __future__ import annotations

import argparse
from pathlib import Path

from atrous.base.scales import PAPER_SCALES
from atrous.cli.common import (
    add_inference_options,
    add_set_and_quiet,
    interrupted,
    strategy_from_args,
)


def _train(args: argparse.Namespace) -> int:
    from atrous.recipe.config import load_config
    from atrous.recipe.configs import config_argument
    from atrous.training.loop import train
    from atrous.training.run_folder import checkpoint_path

    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    config = load_config(config_argument(args.config), args.set)
    try:
        result = train(config, run_dir, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        interrupted(f"{checkpoint_path(run_dir)} holds the last checkpoint; continue with "
                    f"the same command and --resume")  # fmt: skip
    loss = result.history[-1]["loss"] if result.history else float("nan")
    print(f"trained {result.iteration} iterations; final loss {loss:.4f}")
    print(f"wrote checkpoint.pt, metrics.jsonl and curves.png into {run_dir}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from atrous.inference.checkpoint_eval import evaluate_checkpoint

    result, out = evaluate_checkpoint(
        args.checkpoint, args.set, lambda default: strategy_from_args(args, default),
        split=args.split, limit=args.limit, out=args.out, overwrite=args.overwrite,
        device=args.device, progress=not args.quiet,
    )  # fmt: skip
    print(result.table())
    print(f"mIOU {100 * result.miou:.2f} ({result.settings}); wrote {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from atrous.inference.predict import predict_files

    scales = args.scales or (PAPER_SCALES if args.multi_scale else (1.0,))
    written = predict_files(args.checkpoint, args.images, args.out,
                            output_stride=args.output_stride, scales=scales, flip=args.flip,
                            device=args.device, overwrite=args.overwrite,
                            precision=args.precision or "auto",
                            backend=args.backend)  # fmt: skip
    for path in written:
        print(f"wrote {path} and {path.with_name(path.stem + '_overlay.jpg')}")
    return 0


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train", help="train a network from a TOML config (Sec. 4.1)",
        description="Train from CONFIG.toml; writes checkpoint.pt, metrics.jsonl, curves.png "
        "and config.json into the run folder. Under torchrun, trains data-parallel.",
    )  # fmt: skip
    train.add_argument(
        "config",
        help="a TOML file, or the name of a shipped recipe (demo, "
        "reproduce, voc_stage1, ...: atrous/configs)",
    )
    train.add_argument("--run-dir", default=None, help="output folder (default runs/CONFIG_NAME)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its checkpoint, exactly where it "
                       "stopped")  # fmt: skip
    add_set_and_quiet(train)
    train.set_defaults(func=_train)


def _add_eval(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "eval", help="mIOU and per-class IoU of a checkpoint (Sec. 4.3)",
        description="Evaluate a checkpoint (or a run folder) on the val split of its training "
        "config with its [eval] strategy, changed by the options; prints per-class IoU and "
        "mIOU and writes them as JSON, named by the settings (eval_val_os8_...json).",
    )  # fmt: skip
    evaluate.add_argument("checkpoint", help="a checkpoint.pt or a run folder holding one")
    add_inference_options(evaluate, pad=True)
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
    add_set_and_quiet(evaluate)
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
        help="onnxruntime runs a MODEL.onnx written by `export`, in fp32 (--precision fp32 "
        "or auto)",
    )
    add_inference_options(predict, pad=False)
    predict.set_defaults(func=_predict)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` and ``predict``."""
    _add_train(commands)
    _add_eval(commands)
    _add_predict(commands)
