"""The ``train``, ``eval``, ``predict`` and ``demo`` commands of ``python -m atrous``.

Each is a thin wrapper over a library function (:func:`atrous.train.train`,
:func:`atrous.evaluate.evaluate`, :func:`atrous.predict.predict_files`,
:func:`atrous.demo.demo`); :mod:`atrous.cli` adds them to its parser with
:func:`add_commands`. Errors in the input (a bad config key, a missing file) end the
command with a one-line message instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from atrous.train_config import PAPER_SCALES

_SET_HELP = (
    "override one config field, TOML syntax, repeatable: --set train.base_lr=0.01 "
    "--set model.output_stride=8 --set data.root=/data/VOCdevkit"
)


def _fail(error: Exception) -> SystemExit:
    return SystemExit(f"error: {error}")


def _train(args: argparse.Namespace) -> int:
    from atrous.train import train
    from atrous.train_config import load_config

    run_dir = Path(args.run_dir or Path("runs") / Path(args.config).stem)
    try:
        config = load_config(args.config, args.set)
        result = train(config, run_dir, resume=args.resume, progress=not args.quiet)
    except (ValueError, FileNotFoundError, FileExistsError, FloatingPointError) as error:
        raise _fail(error) from None
    except KeyboardInterrupt:
        raise SystemExit(
            f"interrupted: {run_dir / 'checkpoint.pt'} holds the last checkpoint; continue "
            f"with the same command and --resume"
        ) from None
    last = result.history[-1] if result.history else {}
    loss = last.get("loss", float("nan"))
    print(f"trained {result.iteration} iterations; final loss {loss:.4f}")
    print(f"wrote checkpoint.pt, metrics.jsonl and curves.png into {run_dir}")
    return 0


def eval_settings(args: argparse.Namespace, config) -> dict:
    """Output stride, scales and flip: the command line's, else the config's ``[eval]``."""
    scales = args.scales or (PAPER_SCALES if args.multi_scale else config.eval.scales)
    return {
        "output_stride": args.output_stride or config.eval.output_stride or None,
        "scales": tuple(scales),
        "flip": args.flip or config.eval.flip,
    }


def _eval(args: argparse.Namespace) -> int:
    from torch.utils.data import Subset

    from atrous.checkpoint import load_model
    from atrous.evaluate import evaluate
    from atrous.train import build_dataset, default_eval_transform
    from atrous.train_config import apply_overrides

    try:
        model, state = load_model(args.checkpoint, map_location=args.device)
        config = apply_overrides(state["config"], args.set)
        split = args.split or config.data.val_split
        dataset = build_dataset(config.data, split)
        names = getattr(dataset, "class_names", ())
        if args.limit is not None:
            if args.limit < 1:
                raise ValueError(f"--limit must be >= 1, got {args.limit}")
            dataset = Subset(dataset, range(min(args.limit, len(dataset))))
        settings = eval_settings(args, config)
        if settings["output_stride"] not in (None, *model.config.output_strides):
            raise ValueError(
                f"--output-stride must be one of {model.config.output_strides}, "
                f"got {settings['output_stride']}"
            )
        result = evaluate(
            model,
            dataset,
            default_eval_transform(),
            class_names=names,
            progress=not args.quiet,
            **settings,
        )
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from None
    print(result.table())
    ckpt = Path(args.checkpoint)
    out = Path(args.out) if args.out else (ckpt if ckpt.is_dir() else ckpt.parent) / "eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"split": split, **result.to_dict()}, indent=2) + "\n")
    print(f"mIOU {100 * result.miou:.2f} on {split} ({result.settings}); wrote {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from atrous.predict import predict_files

    scales = args.scales or (PAPER_SCALES if args.multi_scale else (1.0,))
    try:
        written = predict_files(
            args.checkpoint,
            args.images,
            args.out,
            output_stride=args.output_stride,
            scales=scales,
            flip=args.flip,
            device=args.device,
        )
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from None
    for path in written:
        print(f"wrote {path} and {path.with_name(path.stem + '_overlay.jpg')}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from atrous.demo import demo

    try:
        return demo(args.out, args.run_dir, args.set, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from None


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-stride",
        type=int,
        default=None,
        help="run the network at this output stride (Tab. 4, 10: train at 16, evaluate at 8)",
    )
    parser.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=None,
        help="input scales whose class probabilities are averaged (default: the config's "
        "[eval] scales for eval, 1.0 for predict)",
    )
    parser.add_argument(
        "--multi-scale",
        action="store_true",
        help=f"the paper's scales {', '.join(map(str, PAPER_SCALES))} (Sec. 4.3)",
    )
    parser.add_argument(
        "--flip", action="store_true", help="also average left-right flips (Sec. 4.3)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` and ``predict`` to the subcommands of the main parser."""
    train = commands.add_parser(
        "train",
        help="train a network from a TOML config (Sec. 4.1)",
        description="Train from CONFIG.toml; writes checkpoint.pt, metrics.jsonl, curves.png "
        "and config.json into the run folder. Under torchrun, trains data-parallel.",
    )
    train.add_argument("config", help="a TOML file, e.g. configs/demo.toml")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP)
    train.add_argument("--run-dir", default=None, help="output folder (default runs/CONFIG_NAME)")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir from its checkpoint, exactly where it stopped",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "eval",
        help="mIOU and per-class IoU of a checkpoint (Sec. 4.3)",
        description="Evaluate a checkpoint (or a run folder) on whole images of the val "
        "split of its training config; prints per-class IoU and mIOU and writes them as JSON.",
    )
    evaluate.add_argument("checkpoint", help="a checkpoint.pt or a run folder holding one")
    _add_inference_options(evaluate)
    evaluate.add_argument("--split", default=None, help="default: data.val_split")
    evaluate.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP)
    evaluate.add_argument(
        "--limit", type=int, default=None, help="only the first N images (a quick check)"
    )
    evaluate.add_argument("--out", default=None, help="JSON file (default RUN_DIR/eval.json)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(func=_eval)

    predict = commands.add_parser(
        "predict",
        help="segment image files: label PNGs and colour overlays",
        description="Writes NAME.png (class indices, VOC palette) and NAME_overlay.jpg for "
        "each image into --out.",
    )
    predict.add_argument("checkpoint", help="a checkpoint.pt or a run folder holding one")
    predict.add_argument("images", nargs="+", help="image files (any size)")
    predict.add_argument("--out", default="predictions", help="output folder")
    _add_inference_options(predict)
    predict.set_defaults(func=_predict)


def add_demo_options(demo: argparse.ArgumentParser) -> None:
    """The options of ``demo`` beyond ``--out``."""
    demo.add_argument("--run-dir", default="runs/demo", help="folder of the demo's training run")
    demo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=_SET_HELP)
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
